/**
 * Bounded-memory export (issue #15): the training set built window by window equals the one built
 * in one go — same rows, same order, same values, same drops — whatever the window spans, for every
 * sampling kind; and the files written window by window (Parquet row groups, Arrow record batches
 * with delta dictionaries) read back by nodejs-polars equal to that matrix. Real influxd.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { influxReader } from '../src/access/query.js';
import { concatSets, trainingSet, trainingWindows, type TrainingSet, type TrainingSpec, type WindowTotals } from '../src/access/training.js';
import { runExport } from '../src/access/export.js';
import { startInfluxd, lpLine, type Influxd } from './harness/influxdb.js';

const require = createRequire(import.meta.url);
const pl = require('nodejs-polars') as typeof import('nodejs-polars');

const T = Date.UTC(2024, 0, 1);
const tmp = mkdtempSync(join(tmpdir(), 'promflux-stream-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function sameSet(a: TrainingSet, b: TrainingSet, what: string): void {
  assert.equal(a.rows, b.rows, `${what}: rows`);
  assert.deepEqual(a.dropped, b.dropped, `${what}: drops`);
  assert.equal(a.candidates, b.candidates, `${what}: candidates`);
  for (let i = 0; i < a.rows; i++) {
    assert.equal(a.ts[i], b.ts[i], `${what}: row ${i} ts`);
    for (let l = 0; l < a.entity.length; l++) assert.equal(a.entity[l]!.dict[a.entity[l]!.codes[i]!], b.entity[l]!.dict[b.entity[l]!.codes[i]!], `${what}: row ${i} entity`);
    a.features.forEach((f, k) => assert.ok(Object.is(f.values[i], b.features[k]!.values[i]), `${what}: row ${i} ${f.name}`));
    if (a.target) assert.ok(Object.is(a.target.values[i], b.target!.values[i]), `${what}: row ${i} target`);
    assert.equal(a.split[i], b.split[i], `${what}: row ${i} split`);
  }
}

describe('training sets window by window (real influxd)', () => {
  let influxd: Influxd;
  const hosts = ['h1', 'h,2', 'h 3', 'h4', 'h5'];
  before(async () => {
    influxd = await startInfluxd();
    await influxd.query('CREATE DATABASE win');
    const lines: string[] = [];
    hosts.forEach((h, hi) => {
      for (const [m, step, off] of [['fa', 7000, 0], ['fb', 11000, 3000 + hi * 100], ['lab', 13000, 5000]] as const) {
        for (let t = T + off; t < T + 3_600_000; t += step) {
          if ((t / 1000) % 17 === hi) continue; // holes
          lines.push(lpLine(m, { host: h, dc: hi % 2 ? 'east' : 'west' }, { value: Math.sin(t / 1e5 + hi) * 100 }, t));
        }
      }
    });
    const res = await fetch(`${influxd.url}/write?db=win&precision=ms`, { method: 'POST', body: lines.join('\n') });
    assert.equal(res.status, 204, await res.text());
  });
  after(async () => {
    await influxd?.stop();
  });

  const base: TrainingSpec = {
    start: T + 60_000,
    end: T + 3_500_000,
    entity: ['host', 'dc'],
    features: [
      { name: 'a', measurement: 'fa', tolerance: '9s' },
      { name: 'b', measurement: 'fb', tolerance: '20s' },
    ],
    spine: { every: '4s' },
    target: { kind: 'future', feature: 'a', horizon: '30s', tolerance: '9s' },
    split: { validation: 0.2, test: 0.2, gap: '30s' },
  };
  const variants: Array<[string, TrainingSpec]> = [
    ['no sampling', base],
    ['random', { ...base, sample: { kind: 'random', fraction: 0.3, seed: 4 } }],
    ['every k-th', { ...base, sample: { kind: 'every', k: 3 } }],
    ['stratified', { ...base, sample: { kind: 'stratified', tag: 'dc', fraction: 0.4, seed: 2 } }],
    ['label target, spine of a feature', { ...base, spine: { feature: 'b' }, target: { kind: 'label', measurement: 'lab', tolerance: '20s' }, dropMissingTarget: false }],
  ];

  for (const [name, spec] of variants) {
    test(`${name}: the same rows in the same order whatever the window spans`, async () => {
      const read = influxReader({ url: influxd.url, db: 'win' });
      const whole = await trainingSet(read, spec);
      assert.ok(whole.rows > 500, `${whole.rows} rows`);
      for (const windowMs of [5_000, 61_000, 777_000]) {
        const totals: WindowTotals = { rows: 0, candidates: 0, dropped: {}, pointsRead: 0, windows: 0 };
        const parts: TrainingSet[] = [];
        for await (const w of trainingWindows(read, spec, { windowMs }, totals)) parts.push(w);
        assert.equal(totals.windows, Math.ceil((spec.end - spec.start) / windowMs));
        const got = { ...concatSets(parts), dropped: totals.dropped, candidates: totals.candidates };
        sameSet(got, whole, `${name}, windows of ${windowMs} ms`);
        assert.equal(totals.rows, whole.rows);
        assert.equal(totals.candidates, totals.rows + Object.values(totals.dropped).reduce((x, y) => x + y, 0), 'every candidate row is kept or counted');
      }
      if (spec.sample?.kind === 'stratified') {
        const per = new Map<string, number>();
        const all = await trainingSet(read, { ...spec, sample: undefined });
        for (let i = 0; i < all.rows; i++) if (all.split[i] !== undefined) per.set(all.entity[1]!.dict[all.entity[1]!.codes[i]!]!, (per.get(all.entity[1]!.dict[all.entity[1]!.codes[i]!]!) ?? 0) + 1);
        const got = new Map<string, number>();
        for (let i = 0; i < whole.rows; i++) got.set(whole.entity[1]!.dict[whole.entity[1]!.codes[i]!]!, (got.get(whole.entity[1]!.dict[whole.entity[1]!.codes[i]!]!) ?? 0) + 1);
        for (const [dc, n] of per) assert.equal(got.get(dc), Math.round(n * 0.4), `stratum ${dc}: exactly round(fraction × n) rows`);
      }
    });
  }

  test('promflux export writes window by window (Parquet row groups, Arrow batches with delta dictionaries): polars reads back the in-memory matrix', async () => {
    const read = influxReader({ url: influxd.url, db: 'win' });
    const spec = variants[1]![1];
    const whole = await trainingSet(read, spec);
    for (const [format, ext] of [['parquet', 'parquet'], ['arrow', 'arrow'], ['arrow-stream', 'arrows']] as const) {
      const out = join(tmp, `set.${ext}`);
      const res = await runExport(
        { source: { influx: { url: influxd.url, db: 'win' } }, start: spec.start, end: spec.end, entity: spec.entity, features: spec.features as never, spine: spec.spine as never, target: spec.target as never, split: spec.split as never, sample: spec.sample as never, output: { path: out, format, splitFiles: true }, cache: { enabled: false } },
        { windowMs: 97_000 },
      );
      assert.equal(res.windows, Math.ceil((spec.end - spec.start) / 97_000));
      assert.equal(res.rows, whole.rows);
      const bytes = readFileSync(out);
      const df = format === 'parquet' ? pl.readParquet(bytes) : format === 'arrow' ? pl.readIPC(bytes) : pl.readIPCStream(bytes);
      assert.equal(df.height, whole.rows, format);
      assert.match(String(df.getColumn('host').dtype), /Categorical/, `${format}: entity labels stay dictionary-encoded`);
      assert.match(String(df.getColumn('timestamp').dtype), /Datetime/);
      const hostCol = df.getColumn('host').toArray() as string[];
      const aCol = df.getColumn('a').toArray() as Array<number | null>;
      const tCol = df.getColumn('target').toArray() as Array<number | null>;
      const tsCol = df.getColumn('timestamp').toArray() as unknown as Date[];
      for (let i = 0; i < whole.rows; i++) {
        assert.equal(hostCol[i], whole.entity[0]!.dict[whole.entity[0]!.codes[i]!], `${format} row ${i} host`);
        assert.ok(Object.is(aCol[i] ?? NaN, whole.features[0]!.values[i]), `${format} row ${i} a`);
        assert.ok(Object.is(tCol[i] ?? NaN, whole.target!.values[i]), `${format} row ${i} target`);
        assert.equal(tsCol[i]!.getTime(), whole.ts[i]);
      }
      assert.equal(res.files.slice(1).reduce((a, f) => a + f.rows, 0), res.rows, 'the split files partition the rows');
      const desc = JSON.parse(readFileSync(`${out}.schema.json`, 'utf8')) as { rows: number; candidates: number };
      assert.equal(desc.rows, whole.rows);
      assert.equal(desc.candidates, whole.candidates);
    }
  });
});
