import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { pack } from 'msgpackr';
import { loadStateForWorker } from '../src/pool/state.js';
import { finalizeReports, mergeReports } from '../src/transform/reports.js';
import {
  inverseTransform,
  loadScalingState,
  saveScalingState,
  scalingStateMap,
  ScalingStateError,
  transform,
  SCALING_STATE_VERSION,
} from '../src/transform/scaling-state.js';
import { EXACT_DISTINCT_MAX } from '../src/transform/kernels/scale-fit.js';
import { collectRun, firstMismatch, runSplit, runSpecs } from './oracle/batch.js';
import { quantileLinear } from './oracle/reference.js';
import { seriesWithCuts } from './oracle/arbitraries.js';

const require = createRequire(import.meta.url);
const pl = require('nodejs-polars') as typeof import('nodejs-polars');
const RUNS = Number(process.env.PROMFLUX_PROPERTY_RUNS ?? 60);

let dir = '';
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Fit over pieces cut at `cuts`, merging the per-batch reports like the lead's main thread does. */
function fitSplit(method: string, s: { ts: number[]; v: number[] }, cuts: number[], extra: Record<string, unknown> = {}) {
  const bounds = [0, ...cuts, s.ts.length];
  let acc;
  for (let p = 0; p + 1 < bounds.length; p++) {
    const a = bounds[p]!;
    const b = bounds[p + 1]!;
    const h = Math.max(0, a - 3); // some halo rows: they must not be fitted twice
    const { ctx } = runSpecs([{ kind: 'scale', method, mode: 'fit', state: 's.msgpack', ...extra }], [{ key: 'm', ts: s.ts.slice(h, b), v: s.v.slice(h, b), halo: a - h }]);
    acc = mergeReports(acc, ctx.reports);
  }
  return finalizeReports(acc, new Date(0)).scaling[0]?.state;
}

test('scale fit: parameters match a direct computation and do not depend on the batch split', () => {
  fc.assert(
    fc.property(seriesWithCuts, ({ s, cuts }) => {
      const vals = s.v.filter((x) => !Number.isNaN(x));
      if (vals.length === 0) return;
      const sorted = [...vals].sort((a, b) => a - b);
      const mean = vals.reduce((a, b) => a + b, 0) / vals.length;
      const std = vals.length >= 2 ? Math.sqrt(vals.reduce((a, b) => a + (b - mean) ** 2, 0) / (vals.length - 1)) : 0;
      const z = fitSplit('zscore', s, cuts)!.series['m']!;
      const zWhole = fitSplit('zscore', s, [])!.series['m']!;
      // absolute floor relative to the level: a std that is 1e-9 of the level is rounding-dominated
      const floor = 1e-12 * Math.max(...vals.map(Math.abs), 1);
      assert.ok(firstMismatch([z.center, z.scale], [mean, std], 1e-9, floor) === null, `${z.center},${z.scale} vs ${mean},${std}`);
      // Chan's merge vs one pass: equal up to rounding that grows with mean/std (≈1e-10 relative
      // for a series whose noise is 1e-6 of its level); min/max and quantiles are exact (below).
      assert.ok(firstMismatch([z.center, z.scale], [zWhole.center, zWhole.scale], 1e-9, floor) === null);
      const mm = fitSplit('minmax', s, cuts, { featureRange: [-1, 1] })!.series['m']!;
      assert.deepEqual([mm.stats['min'], mm.stats['max'], mm.offset], [sorted[0], sorted[sorted.length - 1], -1]);
      const rb = fitSplit('robust', s, cuts)!.series['m']!;
      const med = quantileLinear(sorted, 0.5);
      const iqr = quantileLinear(sorted, 0.75) - quantileLinear(sorted, 0.25);
      assert.ok(firstMismatch([rb.center, rb.scale], [med, iqr], 1e-12, 1e-9) === null, `${rb.center},${rb.scale} vs ${med},${iqr}`);
      assert.deepEqual(rb, fitSplit('robust', s, [])!.series['m']);
    }),
    { numRuns: RUNS },
  );
});

test('scale: fit → save → load → apply → inverseTransform round trip, and the lead loader reads the same file', async () => {
  dir = await mkdtemp(join(tmpdir(), 'promflux-scale-'));
  const path = join(dir, 'sub', 'scaling.msgpack');
  const ts = Array.from({ length: 50 }, (_, i) => i * 15_000);
  const a = ts.map((_, i) => 100 + 10 * Math.sin(i));
  const c = ts.map(() => 7); // constant: std 0 → scaled 0, inverse → center
  const pieces = [
    { key: 'a{x="1"}', ts, v: a, halo: 0 },
    { key: 'c', ts, v: c, halo: 0 },
  ];
  const fit = runSpecs([{ kind: 'scale', method: 'zscore', mode: 'fit', state: path }], pieces);
  const fin = finalizeReports(mergeReports(undefined, fit.ctx.reports));
  assert.equal(fin.scaling.length, 1);
  assert.equal(fin.scaling[0]!.path, path);
  await saveScalingState(path, fin.scaling[0]!.state);
  const state = await loadScalingState(path);
  assert.equal(state.version, SCALING_STATE_VERSION);
  const leadMap = await loadStateForWorker(path);
  assert.deepEqual(leadMap, scalingStateMap(state));

  const applied = runSpecs([{ kind: 'scale', method: 'zscore', mode: 'apply', state: path }], pieces, { state: scalingStateMap(state) });
  const za = Float64Array.from(collectRun(applied.ctx, 0, []).value);
  const zc = Float64Array.from(collectRun(applied.ctx, 1, []).value);
  assert.ok(zc.every((x) => x === 0));
  assert.equal(firstMismatch([...transform(state, 'a{x="1"}', Float64Array.from(a))], [...za], 0, 0), null);
  assert.equal(firstMismatch([...inverseTransform(state, 'a{x="1"}', za)], a, 1e-14, 1e-12), null);
  assert.ok(inverseTransform(state, 'c', zc).every((x) => x === 7));
  assert.throws(() => inverseTransform(state, 'nope', za), (e: unknown) => e instanceof ScalingStateError && e.code === 'PROMFLUX_SCALING_STATE_SERIES');

  // unknown series in apply mode: dropped as 'unscaled' (or kept with missing: keep)
  const other = runSpecs([{ kind: 'scale', method: 'zscore', state: path }], [{ key: 'new', ts, v: a, halo: 0 }], { state: scalingStateMap(state) });
  assert.equal(other.ctx.dropped['unscaled'], ts.length);
  // a method mismatch is an error, not a silent mis-scaling
  assert.throws(() => runSpecs([{ kind: 'scale', method: 'minmax', state: path }], pieces, { state: scalingStateMap(state) }), /holds zscore parameters/);

  await writeFile(path, pack({ format: 'promflux-scaling', version: 99, series: {} }));
  await assert.rejects(loadScalingState(path), (e: unknown) => (e as ScalingStateError).code === 'PROMFLUX_SCALING_STATE_VERSION');
  await writeFile(path, Buffer.from([0xc1, 0xc1]));
  await assert.rejects(loadScalingState(path), (e: unknown) => (e as ScalingStateError).code === 'PROMFLUX_SCALING_STATE_CORRUPT');
  await assert.rejects(loadScalingState(join(dir, 'missing.msgpack')), (e: unknown) => (e as ScalingStateError).code === 'PROMFLUX_SCALING_STATE_READ');
});

test('scale: z-score and min-max scaling agree with Polars (1e-9 relative)', () => {
  let seed = 7;
  const rnd = (): number => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) + 0.5) / 4294967296;
  const ts = Array.from({ length: 3000 }, (_, i) => i * 15_000);
  const v = ts.map(() => 5e4 + 300 * rnd() + (rnd() < 0.01 ? 1e4 : 0));
  const state = fitSplit('zscore', { ts, v }, [700, 1800])!;
  const mmState = fitSplit('minmax', { ts, v }, [1500], { featureRange: [0, 1] })!;
  const df = pl.DataFrame({ v: pl.Series('v', v, pl.Float64) });
  const col = pl.col('v');
  const out = df.select(col.minus(col.mean()).divideBy(col.std()).alias('z'), col.minus(col.min()).divideBy(col.max().minus(col.min())).alias('mm'));
  const wantZ = out.getColumn('z').toArray() as number[];
  const wantMM = out.getColumn('mm').toArray() as number[];
  const z = runSpecs([{ kind: 'scale', method: 'zscore', state: 's.msgpack' }], [{ key: 'm', ts, v, halo: 0 }], { state: scalingStateMap(state) });
  const mm = runSpecs([{ kind: 'scale', method: 'minmax', state: 's.msgpack' }], [{ key: 'm', ts, v, halo: 0 }], { state: scalingStateMap(mmState) });
  assert.equal(firstMismatch(collectRun(z.ctx, 0, []).value, wantZ, 1e-9, 1e-12), null);
  assert.equal(firstMismatch(collectRun(mm.ctx, 0, []).value, wantMM, 1e-9, 1e-12), null);
});

test('scale: robust fit switches from exact to a 1e-4 relative sketch beyond the distinct-value cap', () => {
  const n = EXACT_DISTINCT_MAX * 3;
  const ts = Array.from({ length: n }, (_, i) => i * 1000);
  const v = ts.map((_, i) => 1000 + ((i * 7919) % n) / 10);
  const st = fitSplit('robust', { ts, v }, [n / 3, (2 * n) / 3])!.series['m']!;
  const sorted = [...v].sort((a, b) => a - b);
  const med = quantileLinear(sorted, 0.5);
  assert.equal(st.stats['exact'], 0);
  assert.ok(Math.abs(st.center - med) / med < 2e-4, `${st.center} vs ${med}`);
  assert.deepEqual(st, fitSplit('robust', { ts, v }, [])!.series['m']);
});

test('scale rejects bad options', () => {
  assert.throws(() => runSpecs([{ kind: 'scale', method: 'zscore' }], []), /state.*required/);
  assert.throws(() => runSpecs([{ kind: 'scale', method: 'zz', state: 'x' }], []), /method/);
  assert.throws(() => runSpecs([{ kind: 'scale', state: 'x', featureRange: [1, 0] }], []), /featureRange/);
});

test('scale fit ignores halo rows and honours fitRange', () => {
  const ts = Array.from({ length: 20 }, (_, i) => i * 1000);
  const v = ts.map((_, i) => i);
  const st = fitSplit('minmax', { ts, v }, [5, 12], { fitRange: [3000, 15000] })!.series['m']!;
  assert.deepEqual([st.stats['min'], st.stats['max'], st.n], [3, 14, 12]);
  const all = runSplit([{ kind: 'scale', method: 'minmax', mode: 'fit', state: 'x' }], { key: 'm', ts, v }, [4]);
  assert.equal(all.rows.value.length, 20);
});
