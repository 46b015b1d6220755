/**
 * Integration tests against a real Prometheus (Debian package) serving deterministic historical
 * blocks made with promtool: exact samples in range, remote-read and range-vector modes, chunk-edge
 * exactness over many chunks, the 11 000-point and max-samples limits, halo, incremental
 * watermarks, resume and sharding, a stream that loses Prometheus and fills the gap, and the
 * errors a run can meet (bad PromQL, Prometheus stopped mid-run).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { seriesKey, SeriesKind } from '../src/batch/layout.js';
import type { SourceChunk } from '../src/extract/source.js';
import { PromErrorCode } from '../src/extract/prometheus/errors.js';
import { FileWatermarkStore, MemoryWatermarkStore } from '../src/extract/prometheus/watermarks.js';
import { dataset, HOURS, SCRAPE_MS, startPrometheus, T0, T_END, type PromServer, type SeriesData } from './harness/prometheus.js';
import { bySeries, decodeChunk, drain, makeSource, openOpts } from './harness/extract.js';

const DATA = dataset();
const keyOf = (s: SeriesData) => seriesKey(s.name, s.labels);
const byName = (name: string) => DATA.filter((s) => s.name === name);

/** Exact equality of decoded rows with stored samples (NaN-aware). */
function assertSeriesEqual(got: Array<{ t: number; v: number }> | undefined, want: SeriesData, what: string): void {
  assert.ok(got, `${what}: series ${keyOf(want)} missing`);
  assert.equal(got.length, want.ts.length, `${what}: ${keyOf(want)} row count`);
  for (let i = 0; i < got.length; i++) {
    if (got[i]!.t !== want.ts[i] || !Object.is(got[i]!.v, want.values[i])) {
      assert.fail(`${what}: ${keyOf(want)} row ${i}: got (${got[i]!.t}, ${got[i]!.v}), want (${want.ts[i]}, ${want.values[i]})`);
    }
  }
}

/** Chunks of one query tile [start, end) exactly, on the step grid. */
function assertTiled(chunks: readonly SourceChunk[], query: string, start: number, end: number, stepMs: number): void {
  const mine = chunks.filter((c) => c.id.startsWith(query + ':'));
  assert.ok(mine.length > 0);
  assert.equal(mine[0]!.startMs, start);
  assert.equal(mine[mine.length - 1]!.endMs, end);
  for (let i = 0; i < mine.length; i++) {
    assert.equal(mine[i]!.id, `${query}:${mine[i]!.startMs}-${mine[i]!.endMs}`);
    assert.equal(mine[i]!.startMs % stepMs, 0);
    assert.ok(mine[i]!.endMs > mine[i]!.startMs);
    if (i > 0) assert.equal(mine[i]!.startMs, mine[i - 1]!.endMs, 'no gap, no overlap');
  }
}

let prom: PromServer;
before(async () => {
  prom = await startPrometheus();
});
after(async () => {
  await prom?.dispose();
});

describe('range extraction (query_range)', () => {
  it('extracts every evaluated point exactly once over many chunks, with halo and stable ids', async () => {
    const cfg = {
      url: prom.url,
      start: new Date(T0).toISOString(),
      end: new Date(T_END).toISOString(),
      step: '15s',
      concurrency: 3,
      queries: [{ name: 'gauge', expr: 'test_gauge' }, { name: 'reqs', template: 'mine', vars: { job: 'app' } }],
      templates: { mine: 'test_requests_total{job="${job}"}' },
    };
    const src = makeSource(cfg);
    await src.open(openOpts({ haloSamples: 3 }));
    const chunks = await drain(src, 300);
    assert.ok(chunks.length >= 20, `${chunks.length} chunks`);
    assertTiled(chunks, 'gauge', T0, T_END, SCRAPE_MS);
    assertTiled(chunks, 'reqs', T0, T_END, SCRAPE_MS);
    for (const c of chunks) assert.ok(c.estRows <= 300 + 3 * 3, `chunk ${c.id} plans ${c.estRows} rows`);

    const m = bySeries(chunks);
    for (const s of [...byName('test_gauge'), ...byName('test_requests_total')]) assertSeriesEqual(m.get(keyOf(s)), s, 'range');
    assert.equal(m.size, 5);

    // halo: each chunk after the first carries the 3 previous points of every series
    const second = decodeChunk(chunks.find((c) => c.id.startsWith('gauge:') && c.startMs > T0)!);
    const a = second.rows.filter((r) => r.key === 'test_gauge{instance="a",job="node"}');
    assert.deepEqual(a.filter((r) => r.halo).map((r) => r.t), [1, 2, 3].map((k) => a.find((r) => !r.halo)!.t - (4 - k) * SCRAPE_MS));
    // counters are marked for counter-aware features
    const rq = decodeChunk(chunks.find((c) => c.id.startsWith('reqs:'))!);
    assert.ok(rq.kinds.every((k) => k === SeriesKind.counter));

    assert.equal(src.progress().doneSamples, src.progress().totalSamples);
    await src.close();

    // same config, same plan, same ids
    const again = makeSource(cfg);
    await again.open(openOpts({ haloSamples: 3 }));
    assert.deepEqual((await drain(again, 300)).map((c) => c.id), chunks.map((c) => c.id));
    await again.close();
  });

  it('never asks for more than 11 000 points per series (and Prometheus really enforces it)', async () => {
    // Prometheus refuses (end - start) / step > 11 000; we stay at <= 11 000 points including halo
    const direct = await fetch(`${prom.url}/api/v1/query_range?query=up&start=${T0 / 1000}&end=${T0 / 1000 + 11_001}&step=1`);
    assert.equal(direct.status, 400, 'Prometheus enforces the limit');

    const src = makeSource({ url: prom.url, start: T0 / 1000, end: T_END / 1000, step: '1s', queries: [{ name: 'a', expr: 'test_gauge{instance="a"}' }] });
    await src.open(openOpts({ haloSamples: 5 }));
    const chunks = await drain(src, 1e9);
    assert.equal(chunks.length, 2);
    for (const c of chunks) assert.ok((c.endMs - c.startMs) / 1000 + 5 <= 11_000, `${c.id} has ${(c.endMs - c.startMs) / 1000 + 5} points`);
    assertTiled(chunks, 'a', T0, T_END, 1000);
    const rows = bySeries(chunks).get('test_gauge{instance="a",job="node"}')!;
    assert.equal(rows.length, HOURS * 3600);
    const a = DATA[0]!;
    rows.forEach((r, i) => {
      assert.equal(r.t, T0 + i * 1000);
      assert.equal(r.v, a.values[Math.floor(i / 15)], `t=${r.t}`);
    });
    await src.close();
  });

  it('sizes chunks under maxSamplesPerQuery and explains when no size fits', async () => {
    const src = makeSource({ url: prom.url, start: T0 / 1000, end: (T0 + 3_600_000) / 1000, maxSamplesPerQuery: 300, queries: [{ name: 'g', expr: 'test_gauge' }] });
    await src.open(openOpts());
    const chunks = await drain(src, 1e9);
    assert.equal(chunks.length, 3, '240 points × 3 series under a 300-sample budget → 100-point chunks');
    for (const c of chunks) assert.ok(decodeChunk(c).rows.length <= 300);
    await src.close();

    const tight = makeSource({ url: prom.url, start: T0 / 1000, end: T_END / 1000, maxSamplesPerQuery: 2, queries: [{ name: 'g', expr: 'test_gauge' }] });
    await tight.open(openOpts());
    await assert.rejects(tight.next(1000), (e: Error & { code?: string }) => e.code === PromErrorCode.limits && /~3 series/.test(e.message));
    await tight.close();
  });

  it('fails at once on invalid PromQL with Prometheus\' own message and the query', async () => {
    const reg = new Registry();
    const src = makeSource({ url: prom.url, start: T0 / 1000, end: T_END / 1000, concurrency: 1, queries: [{ name: 'broken', expr: 'rate(test_gauge[5m' }] }, { metrics: reg });
    await src.open(openOpts());
    await assert.rejects(src.next(1000), (e: Error & { code?: string }) => {
      assert.equal(e.code, PromErrorCode.badQuery);
      assert.match(e.message, /query "broken" \(rate\(test_gauge\[5m\)/);
      assert.match(e.message, /bad_data: .*parse error/i);
      return true;
    });
    const reqs = (await reg.getSingleMetric('promflux_extract_requests_total')!.get()).values.filter((v) => v.labels.endpoint === 'query_range');
    assert.deepEqual(reqs.map((v) => [v.labels.status, v.value]), [['400', 1]], 'no retry on 400');
    await src.close();
  });
});

describe('API calls', () => {
  it('series, labels, label values, metadata and instant queries', async () => {
    const src = makeSource({ url: prom.url, start: 0, queries: [{ name: 'g', expr: 'test_gauge' }] });
    const api = src.api;
    assert.equal((await api.series(['test_gauge'], T0, T_END)).length, 3);
    assert.ok((await api.labels()).includes('instance'));
    assert.deepEqual(await api.labelValues('instance', ['test_gauge']), ['a', 'b', 'c']);
    assert.equal(typeof (await api.metadata()), 'object');
    const r = await api.query('count(test_gauge)', T0 + 3_600_000);
    assert.equal(r.resultType, 'vector');
    assert.deepEqual(r.result, [{ metric: {}, value: [(T0 + 3_600_000) / 1000, '3'] }]);
    await assert.rejects(api.query('sum(', T0), (e: Error & { code?: string }) => e.code === PromErrorCode.badQuery && /parse error/.test(e.message));
    await src.close();
  });
});

describe('raw extraction', () => {
  for (const [extraction, responseType] of [['remote-read', 'streamed'], ['remote-read', 'samples'], ['range-vector', undefined]] as const) {
    it(`${extraction}${responseType ? ` (${responseType})` : ''}: every stored sample exactly once, ms timestamps, NaN and ±Inf`, async () => {
      const src = makeSource({
        url: prom.url,
        start: T0 / 1000,
        end: T_END / 1000,
        extraction,
        remoteRead: responseType ? { responseType } : undefined,
        sampleInterval: '10s',
        queries: [{ name: 'irr', expr: 'test_irregular' }, { name: 'g', expr: '{__name__="test_gauge", instance=~"a|b"}' }],
      });
      await src.open(openOpts({ haloSamples: 2 }));
      const chunks = await drain(src, 400);
      assert.ok(chunks.length >= 15, `${chunks.length} chunks`);
      assert.ok(chunks.every((c) => c.fill.kind === (extraction === 'remote-read' ? 'prom-remote-read' : 'prom-matrix')));
      if (responseType) assert.ok(chunks.every((c) => (c.fill as { format?: string }).format === responseType));
      assertTiled(chunks, 'irr', T0, T_END, 15_000);
      const m = bySeries(chunks);
      assert.equal(m.size, 3);
      assertSeriesEqual(m.get('test_irregular{instance="x"}'), byName('test_irregular')[0]!, extraction);
      for (const s of byName('test_gauge').slice(0, 2)) assertSeriesEqual(m.get(keyOf(s)), s, extraction);

      // halo: the two stored samples right before each chunk
      const irr = byName('test_irregular')[0]!;
      for (const c of chunks.filter((x) => x.id.startsWith('irr:') && x.startMs > T0)) {
        const halo = decodeChunk(c).rows.filter((r) => r.halo).map((r) => r.t);
        const before = irr.ts.filter((t) => t < c.startMs).slice(-2);
        assert.deepEqual(halo, before, c.id);
      }
      await src.close();
    });
  }

  it('rejects non-selector expressions for raw modes at config time', () => {
    assert.throws(
      () => makeSource({ url: prom.url, start: 0, extraction: 'remote-read', queries: [{ name: 'r', expr: 'rate(x[5m])' }] }),
      /plain selector/,
    );
  });
});

describe('incremental, resume and sharding', () => {
  it('incremental runs continue from the watermark of the last loaded chunk (acks out of order)', async () => {
    const store = new MemoryWatermarkStore();
    const mid = T0 + 3 * 3_600_000;
    const cfg = { url: prom.url, mode: 'incremental' as const, start: T0 / 1000, safetyLag: '1m', queries: [{ name: 'g', expr: 'test_gauge' }] };
    const first = makeSource(cfg, { watermarks: store, now: () => mid + 60_000 + 7_000 });
    await first.open(openOpts());
    const c1 = await drain(first, 500);
    assertTiled(c1, 'g', T0, mid, SCRAPE_MS);
    assert.ok(c1.length >= 3);
    first.ack(c1[c1.length - 1]!);
    first.ack(c1[1]!);
    assert.equal(store.get('g'), undefined, 'no ack of the first chunk yet');
    first.ack(c1[0]!);
    assert.equal(store.get('g'), c1[1]!.endMs, 'contiguous prefix only');
    for (const c of c1) first.ack(c);
    assert.equal(store.get('g'), mid);
    await first.close();

    const second = makeSource(cfg, { watermarks: store, now: () => T_END + 60_000 });
    await second.open(openOpts());
    const c2 = await drain(second, 500);
    assertTiled(c2, 'g', mid, T_END, SCRAPE_MS);
    const m = bySeries([...c1, ...c2]);
    for (const s of byName('test_gauge')) assertSeriesEqual(m.get(keyOf(s)), s, 'incremental');
    await second.close();
  });

  it('file watermarks survive a restart (msgpack, atomic rename)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'promflux-wm-'));
    try {
      const file = join(dir, 'wm.msgpack');
      const src = makeSource({ url: prom.url, mode: 'incremental', start: T0 / 1000, watermarkFile: file, queries: [{ name: 'g', expr: 'test_gauge' }] }, { now: () => T0 + 3_600_000 + 60_000 });
      await src.open(openOpts());
      for (const c of await drain(src, 1e6)) src.ack(c);
      await src.close();
      assert.equal(new FileWatermarkStore(file).get('g'), T0 + 3_600_000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('skips completed chunks and splits the plan into disjoint shards', async () => {
    const cfg = { url: prom.url, start: T0 / 1000, end: T_END / 1000, shardBlock: '1h', queries: [{ name: 'g', expr: 'test_gauge' }, { name: 'r', expr: 'test_requests_total' }] };
    const full = makeSource(cfg);
    await full.open(openOpts());
    const all = await drain(full, 400);
    await full.close();

    const done = new Set(all.filter((_, i) => i % 3 === 0).map((c) => c.id));
    const resumed = makeSource(cfg);
    await resumed.open(openOpts({ completed: done }));
    const rest = await drain(resumed, 400);
    await resumed.close();
    assert.ok(rest.every((c) => !done.has(c.id)));
    const m = bySeries([...all.filter((c) => done.has(c.id)), ...rest]);
    for (const s of [...byName('test_gauge'), ...byName('test_requests_total')]) assertSeriesEqual(m.get(keyOf(s))!.sort((x, y) => x.t - y.t), s, 'resume');

    const shards: SourceChunk[][] = [];
    for (let index = 0; index < 3; index++) {
      const s = makeSource(cfg);
      await s.open(openOpts({ shard: { index, count: 3 } }));
      shards.push(await drain(s, 400));
      await s.close();
    }
    assert.ok(shards.every((s) => s.length > 0), 'every shard gets work');
    const ids = shards.flat().map((c) => c.id);
    assert.equal(new Set(ids).size, ids.length, 'disjoint');
    const ms = bySeries(shards.flat());
    for (const s of [...byName('test_gauge'), ...byName('test_requests_total')]) assertSeriesEqual(ms.get(keyOf(s))!.sort((x, y) => x.t - y.t), s, 'shards');
  });
});

describe('stream mode and outages', () => {
  it('keeps polling through a Prometheus outage and back-fills the gap exactly', async () => {
    const reg = new Registry();
    const src = makeSource(
      {
        url: prom.url,
        mode: 'stream',
        start: 'now-5s',
        step: '1s',
        pollInterval: '300ms',
        safetyLag: '1s',
        timeoutMs: 2000,
        retry: { attempts: 2, baseMs: 50, maxMs: 100 },
        queries: [{ name: 'clock', expr: 'vector(time())' }],
      },
      { metrics: reg },
    );
    await src.open(openOpts());
    const chunks: SourceChunk[] = [];
    let stop = false;
    const loop = (async () => {
      while (!stop) {
        const c = await src.next(1000);
        if (!c) break;
        chunks.push(c);
        src.ack(c);
      }
    })();
    const waitFor = async (cond: () => boolean, ms: number, what: string) => {
      const deadline = Date.now() + ms;
      while (!cond()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const last = () => chunks[chunks.length - 1]?.endMs ?? 0;
    await waitFor(() => last() >= Date.now() - 3000, 15_000, 'stream to catch up');
    const down = Date.now();
    await prom.stop();
    await new Promise((r) => setTimeout(r, 4000));
    await prom.start();
    const up = Date.now();
    await waitFor(() => last() >= up, 20_000, 'stream to fill the gap');
    stop = true;
    await src.close();
    await loop;

    const rows = bySeries(chunks).get('clock')!;
    assert.ok(rows.length >= 8, `${rows.length} rows`);
    rows.forEach((r, i) => {
      assert.equal(r.t, rows[0]!.t + i * 1000, `contiguous at ${i}`);
      assert.equal(r.v, r.t / 1000);
    });
    assert.ok(rows[0]!.t <= down - 2000, `starts before the outage (${rows[0]!.t} vs ${down})`);
    assert.ok(rows[rows.length - 1]!.t >= up - 1000, `reaches past the restart (${rows[rows.length - 1]!.t} vs ${up})`);
    const gaps = (await reg.getSingleMetric('promflux_extract_gaps_total')!.get()).values;
    assert.ok(gaps.some((v) => v.value >= 1), 'gap detected and counted');
    const errs = (await reg.getSingleMetric('promflux_extract_errors_total')!.get()).values;
    assert.ok(errs.some((v) => v.labels.reason === 'network' && v.value > 0));
    assert.equal(src.watermark('clock'), chunks[chunks.length - 1]!.endMs);
  });

  it('backfill: Prometheus stopped mid-run → retries, then a clear failure', async () => {
    const src = makeSource({
      url: prom.url,
      start: T0 / 1000,
      end: T_END / 1000,
      concurrency: 1,
      retry: { attempts: 3, baseMs: 20, maxMs: 50 },
      queries: [{ name: 'g', expr: 'test_gauge' }],
    });
    await src.open(openOpts());
    assert.ok(await src.next(300));
    await prom.stop();
    const t0 = Date.now();
    await assert.rejects(src.next(300), (e: Error & { code?: string }) => {
      assert.equal(e.code, PromErrorCode.unavailable);
      assert.match(e.message, /query "g" .* chunk g:\d+-\d+: Prometheus at http:\/\/127\.0\.0\.1:\d+ unavailable after 3 attempts/);
      assert.match(e.message, /ECONNREFUSED|socket|closed/i);
      return true;
    });
    assert.ok(Date.now() - t0 < 5000);
    await prom.start();
    await assert.rejects(src.next(300), (e: Error & { code?: string }) => e.code === PromErrorCode.unavailable, 'a failed source stays failed');
    await src.close();
  });
});
