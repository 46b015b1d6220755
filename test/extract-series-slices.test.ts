/**
 * Series slices (src/extract/prometheus/slices.ts, docs/ARCHITECTURE.md#series-slices): a backfill
 * whose windows need a long halo is planned as subsets of its series, each with its own chain of
 * chunks. Checked: the slices' matchers partition any set of series exactly (unseen label values
 * and missing labels included), when slicing applies and how far, the planner's halo floor, and on
 * a real Prometheus that a sliced run reads every stored sample once and writes the lines of a
 * single-batch run, line for line, with its batches' own rows those of an unsliced plan.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { createPipeline, droppedTotal } from '../src/index.js';
import { createEngineMetrics } from '../src/observe/metrics.js';
import { BATCHES_PER_WORKER, MIN_SLICE_ROWS, reLiteral, sliceCount, sliceMatchers } from '../src/extract/prometheus/slices.js';
import { chunkDuration, haloFloorRows, HALO_FLOOR_MAX_ROWS, type PlanLimits } from '../src/extract/prometheus/planner.js';
import type { LabelMatcher } from '../src/extract/prometheus/selector.js';
import { bySeries, drain, makeSource, openOpts } from './harness/extract.js';
import { startPrometheus, type PromServer } from './harness/prometheus.js';

/** What Prometheus does with a matcher (regexes fully anchored; a missing label is ""). */
function matches(m: LabelMatcher, labels: Record<string, string>): boolean {
  const v = labels[m.name] ?? '';
  switch (m.type) {
    case '=':
      return v === m.value;
    case '!=':
      return v !== m.value;
    case '=~':
      return new RegExp(`^(?:${m.value})$`).test(v);
    case '!~':
      return !new RegExp(`^(?:${m.value})$`).test(v);
  }
}

function rand(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

describe('series slice matchers', () => {
  test('partition any series exactly, unseen values and missing labels included; counts and determinism', () => {
    const r = rand(7);
    for (let trial = 0; trial < 40; trial++) {
      const series: Array<Record<string, string>> = [];
      const n = 2 + Math.floor(r() * 60);
      for (let i = 0; i < n; i++) {
        const s: Record<string, string> = { __name__: 'm' };
        if (r() < 0.9) s['instance'] = `host-${Math.floor(r() * 9)}.example:9100`;
        if (r() < 0.8) s['cpu'] = String(Math.floor(r() * 4));
        if (r() < 0.3) s['mode'] = ['idle', 'user', 'a|b', 'x.*'][Math.floor(r() * 4)]!;
        series.push(s);
      }
      const want = 2 + Math.floor(r() * 10);
      const plan = sliceMatchers(series, want);
      if (!plan) {
        // only when no label tells two series apart
        assert.ok(['instance', 'cpu', 'mode'].every((l) => new Set(series.map((s) => s[l] ?? '')).size < 2), 'null only without a distinguishing label');
        continue;
      }
      assert.ok(plan.matchers.length >= 2);
      assert.deepEqual(sliceMatchers(series, want), plan, 'same series, same slices');
      const unseen: Array<Record<string, string>> = [{ __name__: 'm', instance: 'new-host', cpu: '9' }, { __name__: 'm' }, { __name__: 'm', mode: 'zz' }];
      const counts = plan.matchers.map(() => 0);
      for (const s of [...series, ...unseen]) {
        const hit: number[] = plan.matchers.flatMap((ms, k) => (ms.every((m) => matches(m, s)) ? [k] : []));
        assert.equal(hit.length, 1, `${JSON.stringify(s)} is in exactly one slice (in ${hit.join(',')})`);
        if (series.includes(s)) counts[hit[0]!]!++;
      }
      assert.deepEqual(counts, plan.counts, 'counts are the known series per slice');
    }
  });

  test('a label with few values is cut again by the next: instance × cpu gives one slice per series', () => {
    const series = [0, 1].flatMap((h) => [0, 1, 2, 3].map((c) => ({ __name__: 'g', job: 'node', instance: `host-${h}:9100`, cpu: String(c) })));
    const plan = sliceMatchers(series, 6)!;
    assert.equal(plan.matchers.length, 8);
    assert.deepEqual(plan.counts, [1, 1, 1, 1, 1, 1, 1, 1]);
    assert.equal(reLiteral('a.b|c*'), 'a\\.b\\|c\\*');
    // skewed counts: the first value holds most series, yet every part gets a value of its own
    const skew = sliceMatchers([{ a: '1', b: '' }, { a: '1', b: '' }, { a: '1', b: '' }, { a: '1', b: '3' }, { a: '2' }], 4)!;
    assert.deepEqual(skew.counts, [3, 1, 1]);
    assert.deepEqual(skew.matchers[0], [{ type: '=~', name: 'a', value: '1' }, { type: '=~', name: 'b', value: '' }]);
  });
});

describe('when a query is sliced', () => {
  test('only with a halo, only when time chunks give too few batches, never below MIN_SLICE_ROWS per slice', () => {
    const one = () => 1;
    assert.equal(sliceCount(8, 0, 1e6, 2, one), 1, 'no halo: no slices');
    assert.equal(sliceCount(8, 5760, 276_480, 2, () => 12), 1, 'enough time chunks already');
    assert.equal(sliceCount(8, 5760, 276_480, 2, one), BATCHES_PER_WORKER * 2, 'one chunk per slice: 3 batches per worker');
    assert.equal(sliceCount(8, 5760, 276_480, 4, one), 8, 'at most one slice per series');
    assert.equal(sliceCount(8, 480, 2 * MIN_SLICE_ROWS + 1, 2, one), 2, 'each slice keeps MIN_SLICE_ROWS');
    assert.equal(sliceCount(1, 5760, 1e6, 2, one), 1);
  });

  test('the planner floor: runs of 9× the halo from the first chunk when the size adapts, bounded; none for a fixed size', () => {
    const L: PlanLimits = {
      extraction: 'remote-read', stepMs: 15_000, maxPointsPerSeries: 11_000, maxSamplesPerQuery: 50_000_000, haloPoints: 0,
      lookbackMs: 86_400_000, haloSamples: 4, haloMs: 86_400_000, sampleIntervalMs: 15_000, maxChunkMs: undefined, shard: undefined, haloFloor: true,
    };
    const q = { name: 'g', expr: 'g', series: 2, cursor: 0, end: 1e12, done: [] };
    assert.equal(haloFloorRows(2, L), 9 * 5764);
    assert.equal(chunkDuration(q, 20_000, L), 9 * 5764 * 15_000, 'first chunk: 9× the halo, not 20000 rows');
    assert.equal(haloFloorRows(20, L), Math.floor(HALO_FLOOR_MAX_ROWS / 20) - 5764, 'bounded by HALO_FLOOR_MAX_ROWS');
    assert.equal(haloFloorRows(100, L), 0, 'no floor when even one row per series would pass the bound');
    assert.equal(haloFloorRows(2, { ...L, haloFloor: false }), 0);
    assert.equal(chunkDuration(q, 20_000, { ...L, haloFloor: false }), (10_000 - 4) * 15_000, 'fixed size: as before');
  });
});

const T0 = 1_699_995_600_000;
const DAY = 86_400_000;
let prom: PromServer;
let stored = 0;

before(async () => {
  // 8 gauges (instance × cpu, one instance with a regex metacharacter) and 1 without `cpu`, 2 days at 15 s
  const dir = mkdtempSync(join(tmpdir(), 'promflux-slices-'));
  const om = join(dir, 'data.om');
  const lines = ['# TYPE slice_gauge gauge'];
  const labels = [0, 1].flatMap((h) => [0, 1, 2, 3].map((c) => `instance="h${h}.x:9100",cpu="${c}"`));
  labels.push('instance="solo"');
  labels.forEach((l, s) => {
    let v = s * 10;
    for (let t = T0; t < T0 + 2 * DAY; t += 15_000) {
      v = Math.round((v + (((t / 15_000) * 7 + s) % 13) / 13 - 0.5) * 1000) / 1000;
      lines.push(`slice_gauge{${l}} ${v} ${t / 1000}`);
      if (t >= T0 + DAY / 2) stored++;
    }
  });
  lines.push('# EOF');
  writeFileSync(om, lines.join('\n') + '\n');
  const blocks = join(dir, 'blocks');
  execFileSync('promtool', ['tsdb', 'create-blocks-from', 'openmetrics', om, blocks], { stdio: 'ignore' });
  prom = await startPrometheus({ blocks });
});
after(async () => {
  await prom?.dispose();
});

describe('series slices on a real Prometheus', () => {
  const window = { start: new Date(T0 + DAY / 2).toISOString(), end: new Date(T0 + 2 * DAY).toISOString(), step: '15s' };
  const HALO = { haloMs: 6 * 3_600_000, haloSamples: 4 };

  for (const extraction of ['remote-read', 'range-vector'] as const) {
    test(`${extraction}: slice chunks hold every series once, with the own rows of an unsliced plan; metrics name the query`, async () => {
      const reg = new Registry();
      const cfg = { url: prom.url, ...window, extraction, queries: [{ name: 'g', expr: 'slice_gauge' }] };
      const sliced = makeSource(cfg, { metrics: reg });
      await sliced.open(openOpts({ ...HALO, batching: { workers: 2, adaptive: true } }));
      const chunks = await drain(sliced, 20_000);
      await sliced.close();
      const ids = new Set(chunks.map((c) => c.id.slice(0, c.id.lastIndexOf(':'))));
      assert.ok(ids.size >= BATCHES_PER_WORKER * 2, `slices: ${[...ids].join(', ')}`);
      for (const id of ids) assert.match(id, /^g#\d+\/\d+$/);
      const plain = makeSource(cfg);
      await plain.open(openOpts(HALO));
      const want = bySeries(await drain(plain, 20_000));
      await plain.close();
      const got = bySeries(chunks);
      assert.equal(got.size, 9);
      assert.deepEqual(got, want, 'per series, the same own rows in the same order');
      const chunkMetric = (await reg.getMetricsAsJSON()).find((m) => m.name === 'promflux_extract_chunks_total');
      assert.deepEqual([...new Set((chunkMetric?.values ?? []).map((v) => String(v.labels['query'])))], ['g']);
    });
  }

  test('a resumed sliced plan skips the chunks each slice completed and reads the rest once', async () => {
    const cfg = { url: prom.url, ...window, extraction: 'remote-read' as const, maxChunk: '12h', queries: [{ name: 'g', expr: 'slice_gauge' }] };
    const opts = { ...HALO, batching: { workers: 2, adaptive: true } };
    const full = makeSource(cfg);
    await full.open(openOpts(opts));
    const all = await drain(full, 20_000);
    await full.close();
    assert.ok(all.length >= 6 && all.every((c) => c.id.includes('#')), all.map((c) => c.id).join(' '));
    const done = new Set(all.filter((_, i) => i % 3 === 0).map((c) => c.id));
    const resumed = makeSource(cfg);
    await resumed.open(openOpts({ ...opts, completed: done }));
    const rest = await drain(resumed, 20_000);
    await resumed.close();
    assert.deepEqual(rest.map((c) => c.id).sort(), all.filter((c) => !done.has(c.id)).map((c) => c.id).sort());
  });

  test('a sliced 2-worker run writes the lines of a single-batch run, line for line', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'promflux-slices-run-'));
    const run = async (tag: string, engine: { workers: number; batchSize: number | 'auto' }, extra: Record<string, unknown> = {}) => {
      const path = join(tmp, `${tag}.lp`);
      const metrics = createEngineMetrics();
      const s = await createPipeline(
        {
          name: tag,
          source: { kind: 'prometheus', url: prom.url, ...window, extraction: 'remote-read', queries: [{ name: 'g', expr: 'slice_gauge' }], ...extra },
          transform: [{ kind: 'validate' }, { kind: 'rolling', windows: ['6h', 30], stats: ['mean', 'std', 'min', 'max'] }],
          sink: { kind: 'file', path },
        } as never,
        { ...engine, metrics },
      ).run();
      assert.equal(s.status, 'ok', s.error?.message);
      assert.equal(s.samplesIn, stored, `${tag}: every stored sample read once`);
      assert.equal(s.samplesIn, s.linesOut + droppedTotal(s));
      assert.equal(s.counters['halo_short'] ?? 0, 0);
      const m = (await metrics.registry.getMetricsAsJSON()).find((x) => x.name === 'promflux_extract_halo_handoffs_total');
      const handed = (m?.values ?? []).filter((v) => v.labels['outcome'] === 'handed').reduce((a, v) => a + v.value, 0);
      return { lines: readFileSync(path, 'utf8').split('\n').filter(Boolean).sort(), s, handed };
    };
    const sliced = await run('sliced', { workers: 2, batchSize: 'auto' });
    const slicedChained = await run('sliced-chained', { workers: 2, batchSize: 'auto' }, { maxChunk: '12h' });
    const single = await run('single', { workers: 1, batchSize: 10_000_000 });
    assert.ok(sliced.s.batches >= BATCHES_PER_WORKER * 2, `${sliced.s.batches} batches`);
    assert.ok(slicedChained.s.batches >= BATCHES_PER_WORKER * 2, `${slicedChained.s.batches} batches`);
    assert.ok(slicedChained.handed > 0, 'slices of several chunks each hand their tails on');
    assert.equal(single.s.batches, 1);
    assert.deepEqual(sliced.lines, single.lines);
    assert.deepEqual(slicedChained.lines, single.lines);
  });
});
