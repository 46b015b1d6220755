/**
 * ML data access (issue #15): the chunked /query decoder (property tests), read-back from a real
 * influxd of what promflux wrote (compared with the same run's Arrow output, bit for bit), GROUP BY
 * time(), point-in-time training sets over deliberately misaligned series (checked row by row
 * against a brute-force oracle), and the Arrow / Parquet outputs read back by nodejs-polars.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { createPipeline } from '../src/pipeline/run.js';
import { decodeChunk, decodeChunkedStream, type SeriesBlock } from '../src/access/decode.js';
import { buildInfluxQL, influxReader, readInflux, type InfluxReadConfig } from '../src/access/query.js';
import { arrowReader, readArrowFile } from '../src/access/arrow-read.js';
import { trainingSet, type TrainingSpec } from '../src/access/training.js';
import { encodeTrainingSet } from '../src/access/formats.js';
import { startInfluxd, lpLine, type Influxd } from './harness/influxdb.js';
import { runCli } from './harness/cli.js';
import { startService } from '../src/cli/serve.js';
import { silentLogger } from '../src/observe/logger.js';
import { tableFromIPC } from 'apache-arrow';

const require = createRequire(import.meta.url);
const pl = require('nodejs-polars') as typeof import('nodejs-polars');

const tmp = mkdtempSync(join(tmpdir(), 'promflux-access-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

async function collect(it: AsyncIterable<SeriesBlock[]>): Promise<SeriesBlock[]> {
  const out: SeriesBlock[] = [];
  for await (const bs of it) out.push(...bs);
  return out;
}

describe('the chunked /query decoder', () => {
  const doc = (rows: Array<[number, number | null]>, name = 'm', tags: Record<string, string> = { host: 'a' }): string =>
    JSON.stringify({ results: [{ statement_id: 0, series: [{ name, tags, columns: ['time', 'value'], values: rows }], partial: true }] });

  test('decodes every finite double bit for bit, null as NaN, whatever the byte boundaries of the stream', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 2 ** 42 }), fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constant(null))), { minLength: 1, maxLength: 60 }),
        fc.integer({ min: 1, max: 97 }),
        async (rows, cut) => {
          // InfluxDB (Go) prints shortest round-trip forms, as JSON.stringify does; -0 prints as "-0".
          const text = doc(rows);
          const bytes = new TextEncoder().encode(text + '\n' + doc([[1, 2]], 'n') + '\n');
          async function* parts(): AsyncGenerator<Uint8Array> {
            for (let i = 0; i < bytes.length; i += cut) yield bytes.subarray(i, i + cut);
          }
          const blocks = await collect(decodeChunkedStream(parts()));
          assert.equal(blocks.length, 2);
          const b = blocks[0]!;
          assert.equal(b.rows, rows.length);
          assert.deepEqual(b.tags, { host: 'a' });
          for (let i = 0; i < rows.length; i++) {
            assert.equal(b.ts[i], rows[i]![0]);
            const v = rows[i]![1];
            // JSON.stringify(-0) is "0": the sign of zero is not in this text, so compare values there
            if (v === null) assert.ok(Number.isNaN(b.values[0]![i]));
            else if (v === 0) assert.equal(b.values[0]![i], 0);
            else assert.ok(Object.is(b.values[0]![i], v), `row ${i}: ${b.values[0]![i]} != ${v}`);
          }
          assert.equal(blocks[1]!.name, 'n');
        },
      ),
      { numRuns: 200 },
    );
  });

  test('keeps the sign of -0 and reads exponents and 17-digit forms exactly', () => {
    const text = '{"results":[{"statement_id":0,"series":[{"name":"m","columns":["time","a","b"],"values":[[1,-0,1e-7],[2,0.30000000000000004,-1.7976931348623157e+308],[3,5e-324,123456789012345678]]}]}]}';
    const [b] = decodeChunk(new TextEncoder().encode(text));
    assert.ok(Object.is(b!.values[0]![0], -0));
    assert.equal(b!.values[1]![0], 1e-7);
    assert.equal(b!.values[0]![1], 0.30000000000000004);
    assert.equal(b!.values[1]![1], -1.7976931348623157e308);
    assert.equal(b!.values[0]![2], 5e-324);
    assert.equal(b!.values[1]![2], 123456789012345678);
    assert.deepEqual(b!.tags, {});
  });

  test('a statement error, a string column and a non-JSON body are named errors', () => {
    const enc = (s: string) => new TextEncoder().encode(s);
    assert.throws(() => decodeChunk(enc('{"results":[{"statement_id":0,"error":"database not found: x"}]}')), (e: Error & { code?: string }) => e.code === 'PROMFLUX_ACCESS_QUERY' && /database not found/.test(e.message));
    assert.throws(() => decodeChunk(enc('{"results":[{"statement_id":0,"series":[{"name":"m","columns":["time","s"],"values":[[1,"x"]]}]}]}')), (e: Error & { code?: string }) => e.code === 'PROMFLUX_ACCESS_NON_NUMERIC' && /"s"/.test(e.message));
    assert.throws(() => decodeChunk(enc('<html>login</html>')), (e: Error & { code?: string }) => e.code === 'PROMFLUX_ACCESS_BAD_RESPONSE');
  });

  test('InfluxQL is built deterministically, with identifiers and strings quoted', () => {
    const q = buildInfluxQL({ measurement: 'a"b', fields: ['v'], start: 0, end: 60_000, where: { z: 'x', a: ["it's", 'b'] }, groupBy: { every: '1m', fn: 'mean' } });
    assert.equal(q, `SELECT mean("v") AS "v" FROM "a\\"b" WHERE time >= 0ms AND time < 60000ms AND ("a" = 'b' OR "a" = 'it\\'s') AND "z" = 'x' GROUP BY time(1m), *`);
    assert.throws(() => buildInfluxQL({ measurement: 'm', start: 5, end: 5 }), (e: Error & { code?: string }) => e.code === 'PROMFLUX_ACCESS_RANGE');
  });
});

describe('read-back and training sets against a real influxd', () => {
  let influxd: Influxd;
  let cfg: InfluxReadConfig;
  const arrowPath = join(tmp, 'run.arrow');
  const START = Date.parse('2024-01-01T00:00:00Z');
  const SAMPLES = 240;

  before(async () => {
    influxd = await startInfluxd();
    await influxd.query('CREATE DATABASE metrics');
    await influxd.query('CREATE DATABASE pit');
    cfg = { url: influxd.url, db: 'metrics', chunkSize: 100 };
    // One synthetic backfill, written by promflux twice: into influxd and into an Arrow file.
    const source = { kind: 'synthetic' as const, series: 70, samplesPerSeries: SAMPLES, stepMs: 15_000, start: new Date(START).toISOString(), seed: 7, nanRate: 0.01, gapRate: 0.01, outlierRate: 0 };
    const transform = [{ kind: 'validate' as const }, { kind: 'rolling' as const, windows: [5], stats: ['mean' as const] }];
    for (const sink of [{ kind: 'influx' as const, url: influxd.url, version: 1 as const, db: 'metrics' }, { kind: 'arrow' as const, path: arrowPath }]) {
      const s = await createPipeline({ name: 'w', source, transform, sink, engine: { workers: 1 }, verify: { enabled: false } } as never).run();
      assert.equal(s.status, 'ok', JSON.stringify(s.error ?? s));
    }
  });
  after(async () => {
    await influxd?.stop();
  });

  test('what promflux wrote reads back from /query (chunked) equal, bit for bit, to the same run\'s Arrow output', async () => {
    const spec = { measurement: 'node_cpu_usage_percent', fields: ['value', 'mean_5'], start: START, end: START + SAMPLES * 15_000 };
    const fromInflux = await collect(readInflux(cfg, spec));
    const fromArrow = await collect(readArrowFile(arrowPath, spec));
    const index = (blocks: SeriesBlock[]) => {
      const m = new Map<string, number[]>();
      for (const b of blocks) {
        const key = b.tags.instance!;
        for (let i = 0; i < b.rows; i++) m.set(`${key}@${b.ts[i]}`, [b.values[b.columns.indexOf('value')]![i]!, b.values[b.columns.indexOf('mean_5')]![i]!]);
      }
      return m;
    };
    const a = index(fromInflux);
    const b = index(fromArrow);
    assert.ok(a.size > 10 * 200, `only ${a.size} points read back`);
    assert.ok(fromInflux.some((x) => x.partial), 'chunk_size 100 splits series over chunks');
    assert.equal(a.size, b.size);
    for (const [k, v] of b) {
      const w = a.get(k);
      assert.ok(w, `point ${k} is in the Arrow file but not read back from influxd`);
      assert.ok(Object.is(w[0], v[0]), `${k} value ${w[0]} != ${v[0]}`);
      // NaN features are not written to InfluxDB (field omitted): null there, NaN here
      assert.ok(Object.is(w[1], v[1]) || (Number.isNaN(w[1]!) && Number.isNaN(v[1]!)), `${k} mean_5 ${w[1]} != ${v[1]}`);
    }
  });

  test('GROUP BY time() aggregates per series as InfluxDB computes them (checked against the raw points)', async () => {
    const spec = { measurement: 'node_memory_usage_percent', fields: ['value'], start: START, end: START + SAMPLES * 15_000 };
    const raw = await collect(readInflux(cfg, spec));
    const agg = await collect(readInflux(cfg, { ...spec, groupBy: { every: '5m', fn: 'max' } }));
    const rawMax = new Map<string, number>();
    for (const b of raw) for (let i = 0; i < b.rows; i++) {
      const k = `${b.tags.instance}@${Math.floor(b.ts[i]! / 300_000) * 300_000}`;
      rawMax.set(k, Math.max(rawMax.get(k) ?? -Infinity, b.values[0]![i]!));
    }
    let n = 0;
    for (const b of agg) for (let i = 0; i < b.rows; i++) {
      const k = `${b.tags.instance}@${b.ts[i]}`;
      if (Number.isNaN(b.values[0]![i]!)) assert.ok(!rawMax.has(k));
      else {
        assert.equal(b.values[0]![i], rawMax.get(k), k);
        n++;
      }
    }
    assert.equal(n, rawMax.size);
  });

  test('a training set from InfluxDB equals the one from the Arrow file of the same run', async () => {
    const spec: TrainingSpec = {
      start: START + 600_000,
      end: START + SAMPLES * 15_000,
      entity: ['instance'],
      features: [
        { name: 'cpu', measurement: 'node_cpu_usage_percent', tolerance: '30s' },
        { name: 'mem', measurement: 'node_memory_usage_percent', tolerance: '30s' },
        { name: 'cpu_mean5', measurement: 'node_cpu_usage_percent', field: 'mean_5', tolerance: '30s' },
      ],
      spine: { every: '30s' },
      target: { kind: 'future', feature: 'cpu', horizon: '5m', tolerance: '30s' },
      split: { validation: 0.2, test: 0.2, gap: '5m' },
    };
    const a = await trainingSet(influxReader(cfg), spec);
    const b = await trainingSet(arrowReader(arrowPath), spec);
    assert.ok(a.rows > 500, `${a.rows} rows`);
    assert.equal(a.rows, b.rows);
    assert.deepEqual(a.dropped, b.dropped);
    assert.ok((a.dropped.split_gap ?? 0) > 0);
    assert.equal(a.candidates, a.rows + Object.values(a.dropped).reduce((x, y) => x + y, 0), 'every candidate row is kept or counted');
    for (let i = 0; i < a.rows; i++) {
      assert.equal(a.ts[i], b.ts[i]);
      assert.equal(a.entity[0]!.dict[a.entity[0]!.codes[i]!], b.entity[0]!.dict[b.entity[0]!.codes[i]!]);
      for (let f = 0; f < 3; f++) assert.ok(Object.is(a.features[f]!.values[i], b.features[f]!.values[i]), `row ${i} ${a.features[f]!.name}`);
      assert.ok(Object.is(a.target!.values[i], b.target!.values[i]));
      assert.equal(a.split[i], b.split[i]);
    }
    // the split respects the boundaries and the gap
    const { validation, test: tt, gap } = a.boundaries!;
    for (let i = 0; i < a.rows; i++) {
      const t = a.ts[i]!;
      const want = t >= tt ? 2 : t >= validation ? 1 : 0;
      assert.equal(a.split[i], want);
      assert.ok(!(t < validation && t >= validation - gap) && !(t < tt && t >= tt - gap), `row at ${t} lies in a gap`);
    }
  });

  test('point-in-time: over deliberately misaligned series no row sees data after its timestamp (checked row by row against a brute-force as-of)', async () => {
    // Two hosts; feature a every 7 s, feature b every 11 s offset 3 s, a label every 13 s; values encode their own time.
    const lines: string[] = [];
    const T = START;
    const src: Record<string, Record<string, Array<[number, number]>>> = { fa: {}, fb: {}, lab: {} };
    for (const host of ['h\n1', 'h2']) {
      for (const [m, step, off] of [['fa', 7000, 0], ['fb', 11000, 3000], ['lab', 13000, 5000]] as const) {
        const pts: Array<[number, number]> = [];
        for (let t = T + off; t < T + 600_000; t += step) {
          if ((t / 1000) % 5 === 0) continue; // holes
          const v = (t - T) / 1000 + (host === 'h2' ? 0.5 : 0);
          pts.push([t, v]);
          // promflux's escape policy writes a newline as \u{a}; decodeTagValue restores it
          lines.push(lpLine(m, { host: host.replace('\n', '\\u{a}') }, { value: v }, t));
        }
        (src[m]![host] = pts);
      }
    }
    const res = await fetch(`${influxd.url}/write?db=pit&precision=ms`, { method: 'POST', body: lines.join('\n') });
    assert.equal(res.status, 204, await res.text());
    const pcfg = { url: influxd.url, db: 'pit' };
    const tolA = 9000;
    const tolB = 20000;
    const spec: TrainingSpec = {
      start: T + 30_000,
      end: T + 500_000,
      entity: ['host'],
      features: [
        { name: 'a', measurement: 'fa', tolerance: '9s' },
        { name: 'b', measurement: 'fb', tolerance: '20s' },
      ],
      spine: { every: '4s' },
      target: { kind: 'label', measurement: 'lab', tolerance: '20s' },
      dropMissingTarget: false,
    };
    const set = await trainingSet(influxReader(pcfg), spec);
    const asOf = (pts: Array<[number, number]>, t: number, tol: number): number => {
      let best: [number, number] | undefined;
      for (const p of pts) if (p[0] <= t && (!best || p[0] > best[0])) best = p;
      return best && t - best[0] <= tol ? best[1] : NaN;
    };
    assert.deepEqual(set.entity[0]!.dict.sort(), ['h\n1', 'h2'].sort());
    let checked = 0;
    for (let i = 0; i < set.rows; i++) {
      const t = set.ts[i]!;
      const host = set.entity[0]!.dict[set.entity[0]!.codes[i]!]!;
      const a = set.features[0]!.values[i]!;
      const b = set.features[1]!.values[i]!;
      const y = set.target!.values[i]!;
      assert.ok(Object.is(a, asOf(src.fa![host]!, t, tolA)), `row ${i} (${host}@${t}) a=${a}`);
      assert.ok(Object.is(b, asOf(src.fb![host]!, t, tolB)), `row ${i} b=${b}`);
      assert.ok(Object.is(y, asOf(src.lab![host]!, t, 20_000)), `row ${i} label=${y}`);
      // values encode their sample's time: never after the row
      for (const v of [a, b, y]) if (!Number.isNaN(v)) assert.ok(T + Math.floor(v) * 1000 <= t);
      checked++;
    }
    const first = Math.ceil((T + 30_000) / 4000) * 4000; // the spine is aligned to the epoch
    assert.equal(checked, 2 * Math.ceil((T + 500_000 - first) / 4000));

    // future target: y(t) is the newest sample in (t, t+h] within tolerance
    const fut = await trainingSet(influxReader(pcfg), { ...spec, target: { kind: 'future', feature: 'a', horizon: '21s', tolerance: '9s' }, dropMissingTarget: true });
    for (let i = 0; i < fut.rows; i++) {
      const t = fut.ts[i]!;
      const host = fut.entity[0]!.dict[fut.entity[0]!.codes[i]!]!;
      const pts = src.fa![host]!.filter((p) => p[0] > t && p[0] <= t + 21_000);
      const last = pts[pts.length - 1]!;
      assert.ok(last && t + 21_000 - last[0] <= tolA);
      assert.ok(Object.is(fut.target!.values[i], last[1]));
    }
    assert.equal(fut.candidates, fut.rows + (fut.dropped.missing_target ?? 0));
  });

  test('sampling: seeded random and stratified are reproducible; every k-th keeps one row in k per entity', async () => {
    const base: TrainingSpec = { start: START, end: START + SAMPLES * 15_000, entity: ['instance'], features: [{ name: 'cpu', measurement: 'node_cpu_usage_percent', tolerance: '1m' }], spine: { every: '15s' } };
    const all = await trainingSet(influxReader(cfg), base);
    const r1 = await trainingSet(influxReader(cfg), { ...base, sample: { kind: 'random', fraction: 0.3, seed: 5 } });
    const r2 = await trainingSet(influxReader(cfg), { ...base, sample: { kind: 'random', fraction: 0.3, seed: 5 } });
    assert.deepEqual([...r1.ts], [...r2.ts]);
    assert.ok(Math.abs(r1.rows / all.rows - 0.3) < 0.05);
    assert.equal(r1.rows + r1.dropped.sampled_out!, all.rows);
    const ev = await trainingSet(influxReader(cfg), { ...base, sample: { kind: 'every', k: 4 } });
    assert.equal(ev.rows, all.entity[0]!.dict.length * Math.ceil(SAMPLES / 4));
    const st = await trainingSet(influxReader(cfg), { ...base, sample: { kind: 'stratified', tag: 'instance', fraction: 0.25, seed: 9 } });
    const per = new Map<number, number>();
    for (let i = 0; i < st.rows; i++) per.set(st.entity[0]!.codes[i]!, (per.get(st.entity[0]!.codes[i]!) ?? 0) + 1);
    for (const c of per.values()) assert.equal(c, Math.round(SAMPLES * 0.25));
  });

  test('Parquet (zstd, snappy) and Arrow IPC (file, stream) read back by nodejs-polars with the documented dtypes', async () => {
    const set = await trainingSet(influxReader(cfg), {
      start: START, end: START + SAMPLES * 15_000, entity: ['instance', 'service'],
      features: [{ name: 'cpu', measurement: 'node_cpu_usage_percent', tolerance: '20s' }],
      spine: { every: '15s' }, target: { kind: 'future', feature: 'cpu', horizon: '1m', tolerance: '20s' }, split: { validation: 0.25, test: 0.25 },
    });
    const frames = [
      pl.readParquet(Buffer.from(encodeTrainingSet(set, 'parquet', 'zstd'))),
      pl.readParquet(Buffer.from(encodeTrainingSet(set, 'parquet', 'snappy'))),
      pl.readIPC(Buffer.from(encodeTrainingSet(set, 'arrow'))),
      pl.readIPCStream(Buffer.from(encodeTrainingSet(set, 'arrow-stream'))),
    ];
    for (const df of frames) {
      assert.equal(df.height, set.rows);
      assert.deepEqual(df.columns, ['timestamp', 'instance', 'service', 'cpu', 'target', 'split']);
      const dt = Object.fromEntries(df.columns.map((c) => [c, String(df.getColumn(c).dtype)]));
      assert.match(dt.timestamp!, /Datetime.*ms.*UTC/i, dt.timestamp);
      assert.match(dt.instance!, /Categorical/, dt.instance);
      assert.match(dt.split!, /Categorical/, dt.split);
      assert.match(dt.cpu!, /^(DataType\()?Float64\)?$/);
      assert.match(dt.target!, /^(DataType\()?Float64\)?$/);
      const cpu = df.getColumn('cpu').toArray() as Array<number | null>;
      const inst = df.getColumn('instance').toArray() as string[];
      for (let i = 0; i < set.rows; i += 97) {
        const v = set.features[0]!.values[i]!;
        assert.equal(cpu[i], Number.isNaN(v) ? null : v);
        assert.equal(inst[i], set.entity[0]!.dict[set.entity[0]!.codes[i]!]);
      }
      assert.deepEqual([...new Set(df.getColumn('split').toArray() as string[])].sort(), ['test', 'train', 'validation']);
    }
  });

  test('promflux export: a backfill to train/validation/test Parquet files in one command; a second export is a cache hit; a run writing the measurement invalidates it; --no-cache queries', async () => {
    const dir = mkdtempSync(join(tmp, 'cli-'));
    const env = { PROMFLUX_CACHE_DIR: join(dir, 'cache') };
    await influxd.query('CREATE DATABASE cli');
    const cfgPath = join(dir, 'p.yaml');
    writeFileSync(cfgPath, `pipelines:
  - name: bf
    source: { kind: synthetic, series: 35, samplesPerSeries: 200, stepMs: 15000, start: "2024-01-01T00:00:00Z", seed: 3, nanRate: 0, gapRate: 0, outlierRate: 0 }
    transform: [ { kind: validate } ]
    sink: { kind: influx, url: ${influxd.url}, version: 1, db: cli }
    engine: { workers: 1 }
`);
    const run = await runCli(['run', '--config', cfgPath, '--no-verify', '--log-level', 'silent'], env);
    assert.equal(run.code, 0, run.stderr);
    const specPath = join(dir, 'export.yaml');
    const out = join(dir, 'out', 'cpu.parquet');
    writeFileSync(specPath, `export:
  start: "2024-01-01T00:05:00Z"
  end: "2024-01-01T00:50:00Z"
  entity: [instance]
  features:
    - { name: cpu, measurement: node_cpu_usage_percent, tolerance: 15s, definition: "node CPU %" }
    - { name: mem, measurement: node_memory_usage_percent, tolerance: 15s }
  spine: { every: 15s }
  target: { kind: future, feature: cpu, horizon: 1m, tolerance: 15s }
  split: { validation: 0.2, test: 0.2, gap: 1m }
  output: { path: ${out}, compression: snappy, splitFiles: true }
`);
    const first = await runCli(['export', '--spec', specPath, '--config', cfgPath, '--json'], env);
    assert.equal(first.code, 0, first.stderr);
    const r1 = JSON.parse(first.stdout) as { rows: number; files: Array<{ path: string; rows: number; split?: string }>; cache: { hits: number; misses: number; invalidated: number } };
    assert.deepEqual(r1.cache, { hits: 0, misses: 2, invalidated: 0 });
    assert.equal(r1.files.length, 4);
    assert.equal(r1.files.slice(1).reduce((a, f) => a + f.rows, 0), r1.rows, 'the split files partition the rows');
    const train = pl.readParquet(readFileSync(join(dir, 'out', 'cpu.train.parquet')));
    assert.equal(train.height, r1.files.find((f) => f.split === 'train')!.rows);
    assert.deepEqual([...new Set(train.getColumn('split').toArray() as string[])], ['train']);
    const desc = JSON.parse(readFileSync(`${out}.schema.json`, 'utf8')) as { configHash: string; columns: Array<{ name: string; type: string; definition?: string }>; rows: number };
    assert.match(desc.configHash, /^[0-9a-f]{64}$/);
    assert.equal(desc.rows, r1.rows);
    assert.deepEqual(desc.columns.map((c) => c.name), ['timestamp', 'instance', 'cpu', 'mem', 'target', 'split']);
    assert.equal(desc.columns[2]!.definition, 'node CPU %');
    const bytes1 = readFileSync(out);

    const second = await runCli(['export', '--spec', specPath, '--config', cfgPath, '--json'], env);
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual((JSON.parse(second.stdout) as typeof r1).cache, { hits: 2, misses: 0, invalidated: 0 });
    assert.ok(readFileSync(out).equals(bytes1), 'a cache hit exports the same bytes');

    const again = await runCli(['run', '--config', cfgPath, '--no-verify', '--log-level', 'silent'], env);
    assert.equal(again.code, 0, again.stderr);
    const third = await runCli(['export', '--spec', specPath, '--config', cfgPath, '--json'], env);
    assert.equal(third.code, 0, third.stderr);
    assert.deepEqual((JSON.parse(third.stdout) as typeof r1).cache, { hits: 0, misses: 2, invalidated: 2 }, 'the run wrote both measurements: both entries are stale');

    const nocache = await runCli(['export', '--spec', specPath, '--config', cfgPath, '--json', '--no-cache'], env);
    assert.equal(nocache.code, 0, nocache.stderr);
    assert.deepEqual((JSON.parse(nocache.stdout) as typeof r1).cache, { hits: 0, misses: 0, invalidated: 0 });
    assert.ok(readFileSync(out).equals(bytes1), 'the same data exports the same bytes, cached or not');

    const bad = await runCli(['export', '--spec', specPath, '--json'], env);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /PROMFLUX_ACCESS_SPEC: export: no source/);
  });

  test('promflux serve answers /v1/features/latest?source=influx and /v1/features (JSON and Arrow) with exactly the values the same run wrote to its Arrow file (train/serve parity), and names bad requests', async (t) => {
    const dir = mkdtempSync(join(tmp, 'serve-'));
    const cfgPath = join(dir, 'serve.yaml');
    writeFileSync(cfgPath, `pipelines:
  - name: online
    schedule: manual
    source: { kind: synthetic, series: 70, samplesPerSeries: ${SAMPLES}, stepMs: 15000, start: "2024-01-01T00:00:00Z", seed: 7 }
    sink: { kind: influx, url: ${influxd.url}, version: 1, db: metrics }
`);
    const svc = await startService({ config: cfgPath, metricsListen: '127.0.0.1:0' }, silentLogger);
    try {
      const base = svc.metricsUrl!;
      // the backfill's Arrow rows, by series and timestamp
      const arrowRows = new Map<string, [number, number]>();
      for (const b of await collect(readArrowFile(arrowPath, { measurement: 'node_cpu_usage_percent', fields: ['value', 'mean_5'], start: 0, end: 8.64e15 }))) {
        for (let i = 0; i < b.rows; i++) arrowRows.set(`${b.tags.instance}@${b.ts[i]}`, [b.values[0]![i]!, b.values[1]![i]!]);
      }
      const url = `${base}/v1/features/latest?source=influx&measurement=node_cpu_usage_percent&lookback=100000d&fields=value,mean_5`;
      const res = await fetch(url);
      assert.equal(res.status, 200);
      const body = (await res.json()) as { series: Array<{ series: string; tags: Record<string, string>; timestamp: number; values: Record<string, number | null> }> };
      assert.equal(body.series.length, 10);
      let newest = 0;
      for (const v of arrowRows.keys()) newest = Math.max(newest, Number(v.split('@')[1]));
      for (const s of body.series) {
        const want = arrowRows.get(`${s.tags.instance}@${s.timestamp}`);
        assert.ok(want, `served vector ${s.series}@${s.timestamp} is not a row of the backfill`);
        assert.ok(Object.is(s.values.value, want[0]), `${s.series} value ${s.values.value} != ${want[0]}`);
        assert.ok(Object.is(s.values.mean_5 ?? NaN, want[1]) || (s.values.mean_5 === null && Number.isNaN(want[1])), `${s.series} mean_5`);
        // it is the newest row of that series
        for (const k of arrowRows.keys()) if (k.startsWith(`${s.tags.instance}@`)) assert.ok(Number(k.split('@')[1]) <= s.timestamp);
      }
      // latency over repeated requests (documented in docs/ACCESS.md)
      const lat: number[] = [];
      for (let i = 0; i < 100; i++) {
        const t0 = performance.now();
        const r = await fetch(url);
        await r.arrayBuffer();
        lat.push(performance.now() - t0);
      }
      lat.sort((a, b) => a - b);
      t.diagnostic(`latest?source=influx: p50 ${lat[49]!.toFixed(1)} ms, p99 ${lat[98]!.toFixed(1)} ms (10 series, loopback influxd 1.6)`);

      const q = `measurement=node_cpu_usage_percent&fields=value,mean_5&start=2024-01-01T00:00:00Z&end=2024-01-02T00:00:00Z&tag.instance=10.0.0.3:9100`;
      const asArrow = tableFromIPC(new Uint8Array(await (await fetch(`${base}/v1/features?${q}&format=arrow`)).arrayBuffer()));
      const asJson = (await (await fetch(`${base}/v1/features?${q}`)).json()) as { blocks: Array<{ tags: Record<string, string>; values: Array<Array<number | null>> }> };
      const jsonRows = asJson.blocks.flatMap((b) => b.values);
      assert.ok(asArrow.numRows > 100);
      assert.equal(jsonRows.length, asArrow.numRows);
      const ts = asArrow.getChild('timestamp')!;
      const val = asArrow.getChild('value')!;
      for (let i = 0; i < asArrow.numRows; i++) {
        const tms = Number(ts.get(i));
        const want = arrowRows.get(`10.0.0.3:9100@${tms}`)!;
        assert.ok(Object.is(val.get(i), want[0]), `arrow row ${i}`);
        assert.equal(jsonRows[i]![0], tms);
        assert.ok(Object.is(jsonRows[i]![1], want[0]), `json row ${i}`);
      }
      const bad = await fetch(`${base}/v1/features?measurement=x`);
      assert.equal(bad.status, 400);
      assert.match(((await bad.json()) as { error: string }).error, /start= is required/);
      assert.equal((await fetch(`${base}/v1/features/latest?source=influx`)).status, 400, 'source=influx needs measurement=');
      assert.equal((await fetch(`${base}/metrics`)).status, 200, 'the metrics routes are still there');
    } finally {
      await svc.stop();
    }
  });
});
