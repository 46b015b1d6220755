/**
 * The prometheus-tsdb source against real TSDB files: blocks written by promtool, and a live
 * Prometheus' snapshot taken through the admin API (head block included, a series partly deleted
 * through delete_series first, so the snapshot carries tombstones). Every sample must equal what
 * remote read returns for the same range, bit for bit; corrupt files fail naming file and offset.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { BatchBuilder } from '../src/batch/builder.js';
import { allocBatch, FLAG_HALO, seriesKey } from '../src/batch/layout.js';
import { createPipeline, droppedTotal, type RunSummary } from '../src/index.js';
import { tsdbSourceSchema } from '../src/extract/tsdb/config.js';
import { fillTsdb } from '../src/extract/tsdb/fill.js';
import { createTsdbSource } from '../src/extract/tsdb/source.js';
import { dataset, startPrometheus, toOpenMetrics, T0, T_END, type PromServer, type SeriesData } from './harness/prometheus.js';
import { bySeries, drain, makeSource, openOpts } from './harness/extract.js';
import { cliPath } from './harness/cli.js';

const run = promisify(execFile);
const silent = pino({ level: 'silent' });
const tmp = mkdtempSync(join(tmpdir(), 'promflux-tsdb-'));

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
function bits(v: number): string {
  f64[0] = v;
  return `${u32[1]!.toString(16)}:${u32[0]!.toString(16)}`;
}

interface Decoded {
  series: Map<string, Array<{ t: number; v: number }>>;
  dropped: Record<string, number>;
  samples: number;
  planned: number | null;
}

/** Plan with the source and run the worker filler on this thread (what a worker does). */
async function readTsdb(path: string, opts: { selectors?: string[]; start?: number; end?: number; targetRows?: number; haloSamples?: number } = {}): Promise<Decoded> {
  const cfg = tsdbSourceSchema.parse({
    kind: 'prometheus-tsdb',
    path,
    selectors: opts.selectors ?? [],
    ...(opts.start !== undefined ? { start: new Date(opts.start).toISOString() } : {}),
    ...(opts.end !== undefined ? { end: new Date(opts.end).toISOString() } : {}),
  });
  const src = createTsdbSource(cfg, { logger: silent });
  await src.open(openOpts({ haloSamples: opts.haloSamples ?? 0 }));
  const series = new Map<string, Array<{ t: number; v: number }>>();
  const dropped: Record<string, number> = {};
  let samples = 0;
  let planned: number | null = null;
  for (;;) {
    const c = await src.next(opts.targetRows ?? 5_000);
    if (planned === null) planned = src.progress().totalSamples;
    if (!c) break;
    const b = new BatchBuilder(allocBatch(0, c.id, Math.max(1, c.estRows), c.estRuns));
    fillTsdb(c.fill, b);
    for (const [k, n] of Object.entries(b.sourceDropped)) dropped[k] = (dropped[k] ?? 0) + n;
    const d = b.finish();
    const s = new Uint32Array(d.series, 0, d.length);
    const ts = new Float64Array(d.ts, 0, d.length);
    const v = new Float64Array(d.value, 0, d.length);
    const fl = new Uint32Array(d.flags, 0, d.length);
    for (let i = 0; i < d.length; i++) {
      if (fl[i]! & FLAG_HALO) continue;
      const k = d.seriesKeys[s[i]!]!;
      let l = series.get(k);
      if (!l) series.set(k, (l = []));
      l.push({ t: ts[i]!, v: v[i]! });
      samples++;
    }
  }
  await src.close();
  return { series, dropped, samples, planned };
}

function keyOf(s: SeriesData): string {
  return seriesKey(s.name, s.labels);
}

/** Values compared bit for bit; `anyNaN` accepts any NaN payload for a NaN wanted (JS data sets cannot hold Go's NaN bits). */
function assertSameBits(got: Map<string, Array<{ t: number; v: number }>>, want: Map<string, Array<{ t: number; v: number }>>, what: string, anyNaN = false): void {
  assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort(), `${what}: the same series`);
  for (const [k, w] of want) {
    const g = got.get(k)!;
    assert.equal(g.length, w.length, `${what}: ${k} sample count`);
    for (let i = 0; i < w.length; i++) {
      const same = anyNaN && Number.isNaN(w[i]!.v) ? Number.isNaN(g[i]!.v) : bits(g[i]!.v) === bits(w[i]!.v);
      if (g[i]!.t !== w[i]!.t || !same) {
        assert.fail(`${what}: ${k} sample ${i}: got ${g[i]!.t} ${g[i]!.v} (${bits(g[i]!.v)}), want ${w[i]!.t} ${w[i]!.v} (${bits(w[i]!.v)})`);
      }
    }
  }
}

async function promtoolBlocks(name: string, data: readonly SeriesData[], into?: string): Promise<string> {
  const dir = into ?? join(tmp, name);
  const om = join(tmp, `${name}-${Math.random().toString(36).slice(2)}.om`);
  writeFileSync(om, toOpenMetrics(data));
  await run('promtool', ['tsdb', 'create-blocks-from', 'openmetrics', om, dir], { maxBuffer: 64 << 20 });
  return dir;
}

function accounted(s: RunSummary): void {
  assert.equal(s.status, 'ok', s.error?.message);
  assert.equal(s.samplesIn, s.linesOut + droppedTotal(s));
}

let prom: PromServer;
let snapshot = '';
let liveEnd = 0;
const DEL_START = T0 + 3_600_000;
const DEL_END = T0 + 2 * 3_600_000;

before(async () => {
  await promtoolBlocks('plain', dataset());
  prom = await startPrometheus({ adminApi: true, selfScrape: '1s' });
  // a few self-scrapes land in the head block (target discovery takes ~5 s)
  const deadline = Date.now() + 30_000;
  for (;;) {
    const r = (await (await fetch(`${prom.url}/api/v1/query?query=${encodeURIComponent('count_over_time(up[1m])')}`)).json()) as { data: { result: Array<{ value: [number, string] }> } };
    if (Number(r.data.result[0]?.value[1] ?? 0) >= 6) break;
    if (Date.now() > deadline) throw new Error('prometheus did not scrape itself within 30 s');
    await new Promise((res) => setTimeout(res, 250));
  }
  const del = await fetch(
    `${prom.url}/api/v1/admin/tsdb/delete_series?${new URLSearchParams({ 'match[]': 'test_gauge{instance="b"}', start: String(DEL_START / 1000), end: String(DEL_END / 1000) })}`,
    { method: 'POST' },
  );
  assert.equal(del.status, 204, await del.text());
  liveEnd = Math.floor((Date.now() - 2_000) / 1000) * 1000;
  const res = await fetch(`${prom.url}/api/v1/admin/tsdb/snapshot`, { method: 'POST' });
  assert.equal(res.status, 200);
  const body = (await res.json()) as { data: { name: string } };
  snapshot = join(prom.dir, 'tsdb', 'snapshots', body.data.name);
});
after(async () => {
  await prom?.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

describe('prometheus-tsdb source', () => {
  test('blocks made by promtool: every stored sample once, bit for bit, exact counts planned up front', async () => {
    const data = dataset();
    const dir = join(tmp, 'plain');
    const got = await readTsdb(dir, { targetRows: 1_000, haloSamples: 5 });
    const want = new Map(data.map((s) => [keyOf(s), s.ts.map((t, i) => ({ t, v: s.values[i]! }))]));
    assertSameBits(got.series, want, 'promtool blocks', true);
    const stored = data.reduce((a, s) => a + s.ts.length, 0);
    assert.equal(got.samples, stored);
    assert.equal(got.planned, stored, 'the plan knows the exact sample count before reading any chunk data');
    assert.deepEqual(got.dropped, {});
  });

  test('a selector is resolved through the postings; time range selects [start, end)', async () => {
    const data = dataset();
    const dir = join(tmp, 'plain');
    const start = T0 + 1_800_000;
    const end = T0 + 4_000_000;
    const got = await readTsdb(dir, { selectors: ['test_gauge{instance!="a"}', '{job="app",instance=~"b|z"}'], start, end });
    const want = new Map(
      data
        .filter((s) => (s.name === 'test_gauge' && s.labels.instance !== 'a') || (s.labels.job === 'app' && s.labels.instance === 'b'))
        .map((s) => [keyOf(s), s.ts.flatMap((t, i) => (t >= start && t < end ? [{ t, v: s.values[i]! }] : []))]),
    );
    assert.equal(want.size, 3);
    assertSameBits(got.series, want, 'selection', true);
  });

  test("a live Prometheus' snapshot (head block, tombstones): equal to remote read for the same range, bit for bit", async () => {
    const blocks = readdirSync(snapshot);
    const metas = blocks.map((b) => JSON.parse(readFileSync(join(snapshot, b, 'meta.json'), 'utf8')) as { minTime: number });
    assert.ok(metas.some((m) => m.minTime > T_END), `the snapshot persisted the head as a block: ${blocks.join(', ')}`);
    assert.ok(blocks.some((b) => statSync(join(snapshot, b, 'tombstones')).size > 9), 'delete_series left tombstones in a block');
    const rr = makeSource({ url: prom.url, extraction: 'remote-read', mode: 'backfill', start: new Date(T0).toISOString(), end: new Date(liveEnd).toISOString(), step: '1s', sampleInterval: '1d', queries: [{ name: 'all', expr: '{__name__=~".+"}' }] });
    await rr.open(openOpts());
    const viaRemoteRead = bySeries(await drain(rr, 20_000));
    await rr.close();
    const got = await readTsdb(snapshot, { start: T0, end: liveEnd, targetRows: 3_000 });
    assertSameBits(got.series, viaRemoteRead, 'snapshot vs remote read');
    const head = [...got.series.entries()].filter(([k]) => k.startsWith('prometheus_') || k.startsWith('up{'));
    assert.ok(head.length > 10 && head.every(([, s]) => s[0]!.t > T_END), `self-scraped series from the head block are in the snapshot: ${head.length} of ${got.series.size}, ${[...got.series.keys()].slice(0, 8).join(' ')}`);
    const b = dataset().find((s) => s.name === 'test_gauge' && s.labels.instance === 'b')!;
    const deleted = b.ts.filter((t) => t >= DEL_START && t <= DEL_END).length;
    assert.ok(deleted > 0);
    assert.equal(got.series.get(keyOf(b))!.length, b.ts.length - deleted, 'deleted range not exported');
    assert.equal(got.dropped.tombstoned, deleted, 'and counted as tombstoned');
  });

  test('overlapping blocks are merged per series: interleaved samples in order, a sample stored twice written once', async () => {
    const base = dataset().filter((s) => s.name === 'test_requests_total');
    const even = base.map((s) => ({ ...s, ts: s.ts.filter((_, i) => i % 2 === 0), values: s.values.filter((_, i) => i % 2 === 0) }));
    const odd = base.map((s) => ({ ...s, ts: s.ts.filter((_, i) => i % 2 === 1 || i % 10 === 0), values: s.values.filter((_, i) => i % 2 === 1 || i % 10 === 0) }));
    const dir = await promtoolBlocks('overlap', even);
    await promtoolBlocks('overlap', odd, dir);
    assert.ok(readdirSync(dir).length >= 6, 'two sets of overlapping blocks');
    const got = await readTsdb(dir, { targetRows: 700 });
    const want = new Map(base.map((s) => [keyOf(s), s.ts.map((t, i) => ({ t, v: s.values[i]! }))]));
    assertSameBits(got.series, want, 'merged', true);
    const twice = base.reduce((a, s) => a + s.ts.filter((_, i) => i % 10 === 0).length, 0);
    assert.equal(got.dropped.duplicate_timestamp, twice, 'the second copy of each doubly stored sample is counted');
  });

  test('resume: covered intervals from a checkpoint are not planned again; the rest is, exactly', async () => {
    const dir = join(tmp, 'plain');
    const cfg = tsdbSourceSchema.parse({ kind: 'prometheus-tsdb', path: dir });
    const first = createTsdbSource(cfg, { logger: silent });
    await first.open(openOpts({ haloSamples: 3 }));
    const all: Array<{ key: string; start: number; end: number; est: number }> = [];
    for (let c = await first.next(800); c; c = await first.next(800)) all.push({ key: c.coverageKey!, start: c.startMs, end: c.endMs, est: c.estSamples });
    assert.ok(all.length > 6);
    // a crashed run loaded every other chunk
    const covered = new Map<string, Array<[number, number]>>();
    const done = all.filter((_, i) => i % 2 === 0);
    for (const d of done) covered.set(d.key, [...(covered.get(d.key) ?? []), [d.start, d.end]]);
    const again = createTsdbSource(cfg, { logger: silent });
    await again.open(openOpts({ haloSamples: 3, covered }));
    const rest: typeof all = [];
    for (let c = await again.next(800); c; c = await again.next(800)) rest.push({ key: c.coverageKey!, start: c.startMs, end: c.endMs, est: c.estSamples });
    const ids = (l: typeof all) => l.map((x) => `${x.key}@${x.start}-${x.end}`).sort();
    assert.deepEqual(ids(rest), ids(all.filter((_, i) => i % 2 === 1)), 'exactly the chunks not covered');
    assert.equal(again.progress().totalSamples, rest.reduce((a, x) => a + x.est, 0), 'progress counts only what is left');
  });

  test('the whole pipeline from YAML and the CLI: exact counts, invariant to batch size, workers and shards', async () => {
    const data = dataset();
    const stored = data.reduce((a, s) => a + s.ts.length, 0);
    const nonFinite = data.reduce((a, s) => a + s.values.filter((v) => !Number.isFinite(v)).length, 0);
    const dir = join(tmp, 'plain');
    const outs: string[] = [];
    for (const [workers, batchSize] of [[1, 100_000], [2, 1_500]] as const) {
      const path = join(tmp, `pipe-${workers}-${batchSize}.lp`);
      const s = await createPipeline(
        { name: 'snap', source: { kind: 'prometheus-tsdb', path: dir }, transform: [{ kind: 'validate' }, { kind: 'rolling', windows: [5, 15], stats: ['mean', 'std'] }], sink: { kind: 'file', path } },
        { workers, batchSize },
      ).run();
      accounted(s);
      assert.equal(s.samplesIn, stored);
      assert.equal(droppedTotal(s), nonFinite);
      outs.push(readFileSync(path, 'utf8').split('\n').filter(Boolean).sort().join('\n'));
    }
    assert.equal(outs[1], outs[0], 'byte-identical lines (halo rows carry the rolling context)');
    const shardLines: string[] = [];
    for (const i of [0, 1]) {
      const path = join(tmp, `shard-${i}.lp`);
      const s = await createPipeline(
        { name: 'snap', source: { kind: 'prometheus-tsdb', path: dir }, transform: [{ kind: 'validate' }, { kind: 'rolling', windows: [5, 15], stats: ['mean', 'std'] }], sink: { kind: 'file', path } },
        { workers: 1, batchSize: 1_500, shard: { index: i, count: 2 } },
      ).run();
      accounted(s);
      assert.ok(s.samplesIn > 0 && s.samplesIn < stored, `shard ${i} has a part`);
      shardLines.push(...readFileSync(path, 'utf8').split('\n').filter(Boolean));
    }
    assert.equal(shardLines.sort().join('\n'), outs[0], 'shards are disjoint and together cover everything');
    const yaml = join(tmp, 'snap.yaml');
    writeFileSync(yaml, `pipelines:\n  - name: snap\n    source:\n      kind: prometheus-tsdb\n      path: ${dir}\n      selectors: ['test_gauge']\n    transform: []\n    sink: { kind: 'null' }\n`);
    const cli = await run(process.execPath, [cliPath(), 'run', '--config', yaml, '--summary-json', join(tmp, 'snap.json')]);
    assert.match(cli.stdout, /OK/);
    const sum = JSON.parse(readFileSync(join(tmp, 'snap.json'), 'utf8')) as { samplesIn: number };
    assert.equal(sum.samplesIn, 3 * data[0]!.ts.length);
  });

  test('corrupt or truncated index and chunk files fail the run naming the file and offset', async () => {
    const src = join(tmp, 'plain');
    const block = readdirSync(src).find((d) => /^[0-9A-Z]{26}$/.test(d))!;
    const cases: Array<[string, (dir: string) => string, RegExp]> = [
      ['flipped chunk byte', (d) => { const f = join(d, block, 'chunks', '000001'); const b = readFileSync(f); b[b.length - 40] ^= 0x55; writeFileSync(f, b); return f; }, /CRC-32C mismatch|XOR chunk/],
      ['truncated chunk file', (d) => { const f = join(d, block, 'chunks', '000001'); truncateSync(f, statSync(f).size - 100); return f; }, /truncated|past the end/],
      ['truncated index', (d) => { const f = join(d, block, 'index'); truncateSync(f, statSync(f).size - 30); return f; }, /CRC-32C mismatch|past the end|truncated|table of contents/],
      ['flipped index byte (series section)', (d) => { const f = join(d, block, 'index'); const b = readFileSync(f); b[5 + 400] ^= 0x01; writeFileSync(f, b); return f; }, /CRC-32C mismatch|runs past|needs \d+ bytes/],
    ];
    for (const [what, damage, re] of cases) {
      const dir = join(tmp, `corrupt-${what.replace(/\W+/g, '-')}`);
      cpSync(src, dir, { recursive: true });
      const file = damage(dir);
      const s = await createPipeline({ name: 'bad', source: { kind: 'prometheus-tsdb', path: dir }, transform: [], sink: { kind: 'null' } }, { workers: 1 }).run();
      assert.equal(s.status, 'failed', `${what}: the run fails`);
      const msg = s.error!.message;
      assert.ok(msg.includes(file), `${what}: names ${file}: ${msg}`);
      assert.match(msg, /byte offset \d+/, `${what}: names the offset`);
      assert.match(msg, re, what);
    }
  });
});
