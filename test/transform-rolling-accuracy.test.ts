/**
 * Accuracy and batch invariance of the rolling kernel on long windows (issue #13): mean, std and
 * slope within 1e-12 relative of an exact rational reference (test/oracle/exact.ts) on adversarial
 * data — a large offset with tiny variance, 1e12 spikes entering and leaving the window, constant
 * runs (std exactly 0), NaN gaps, irregular spacing — over windows up to a day; and bit-identical
 * outputs under random batch splits for windows of thousands of rows.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { featureName } from '../src/transform/kernels/rolling.js';
import { collectRun, firstDifference, runSpecs, runSplit } from './oracle/batch.js';
import { exactWindows } from './oracle/exact.js';
import { mulberry32 } from '../src/util/random.js';

const KEY = 'm{job="a"}';
const RUNS = Number(process.env.PROMFLUX_PROPERTY_RUNS ?? 60);
const T0 = 1_700_000_000_000;

const prng = mulberry32;

interface Data {
  name: string;
  ts: number[];
  v: number[];
}

function evenTs(n: number, step = 15_000): number[] {
  return Array.from({ length: n }, (_, i) => T0 + i * step);
}

const N = 7000;
const DATA: Data[] = (() => {
  const r = prng(7);
  const offset = { name: 'offset 1e9, spread 1e-3, slight trend', ts: evenTs(N), v: Array.from({ length: N }, (_, i) => 1e9 + 1e-6 * i + r() * 1e-3) };
  const spikes = {
    name: '1e12 spikes entering and leaving',
    ts: evenTs(N),
    v: Array.from({ length: N }, (_, i) => (i % 911 === 17 || i % 1409 === 3 ? 1e12 : 100 + 0.01 * i + r())),
  };
  const constant = {
    name: 'constant runs between noise',
    ts: evenTs(N),
    v: Array.from({ length: N }, (_, i) => (i < 3000 ? 42.125 : i < 3500 ? 40 + r() : i < 6500 ? 7 : 7 + r())),
  };
  let t = T0;
  const gaps = {
    name: 'NaN gaps, irregular steps, level 5e4',
    ts: Array.from({ length: N }, () => (t += 1000 + Math.floor(r() * 30_000))),
    v: Array.from({ length: N }, (_, i) => (i % 500 < 40 || r() < 0.02 ? NaN : 5e4 + Math.sin(i / 300) * 10 + r())),
  };
  return [offset, spikes, constant, gaps];
})();

const WINDOWS: (number | string)[] = [60, 1440, 5760, '1h', '1d'];

function windowLo(ts: readonly number[], w: number | string): (i: number) => number {
  if (typeof w === 'number') return (i) => Math.max(0, i - w + 1);
  const ms = w === '1h' ? 3_600_000 : 86_400_000;
  let l = 0;
  const lo: number[] = [];
  for (let i = 0; i < ts.length; i++) {
    while (ts[l]! <= ts[i]! - ms) l++;
    lo.push(l);
  }
  return (i) => lo[i]!;
}

function relErr(got: number, want: number): number {
  if (Number.isNaN(want)) return Number.isNaN(got) ? 0 : Infinity;
  if (got === want) return 0;
  return Math.abs(got - want) / Math.abs(want);
}

/** Slope error relative to the window's slope scale (see exactWindows), or relative when larger. */
function slopeErr(got: number, want: number, scale: number): number {
  if (Number.isNaN(want)) return Number.isNaN(got) ? 0 : Infinity;
  if (scale === 0) return got === 0 ? 0 : Infinity; // constant values: slope exactly 0
  return Math.abs(got - want) / Math.max(Math.abs(want), scale);
}

test('mean, std and slope stay within 1e-12 relative of an exact rational reference on adversarial long-window data (slope: relative to its scale)', () => {
  for (const d of DATA) {
    const stats = ['mean', 'std', 'slope', 'zscore'];
    const { ctx } = runSpecs([{ kind: 'rolling', windows: WINDOWS, stats, minPeriods: 2 }], [{ key: KEY, ts: d.ts, v: d.v, halo: 0 }]);
    const got = collectRun(ctx, 0, WINDOWS.flatMap((w) => stats.map((s) => featureName('', s, String(w))))).features;
    for (const w of WINDOWS) {
      const ex = exactWindows(d.ts, d.v, windowLo(d.ts, w));
      const mean = got[`mean_${w}`]!;
      const std = got[`std_${w}`]!;
      const slope = got[`slope_${w}`]!;
      const z = got[`zscore_${w}`]!;
      let worst = { mean: 0, std: 0, slope: 0 };
      for (let i = 0; i < d.v.length; i++) {
        if (Number.isNaN(ex.mean[i]!)) continue; // < 2 valid values: covered by the reference tests
        worst = {
          mean: Math.max(worst.mean, relErr(mean[i]!, ex.mean[i]!)),
          std: Math.max(worst.std, ex.zeroVar[i] ? (Object.is(std[i], 0) ? 0 : Infinity) : relErr(std[i]!, Math.sqrt(ex.variance[i]!))),
          slope: Math.max(worst.slope, slopeErr(slope[i]!, ex.slope[i]!, ex.slopeScale[i]!)),
        };
        if (ex.zeroVar[i] && !Number.isNaN(d.v[i]!)) assert.ok(Object.is(z[i], 0), `${d.name} w=${w} row ${i}: constant window z-score ${z[i]}, want exactly 0`);
      }
      const msg = `${d.name}, w=${w}: worst relative error mean ${worst.mean.toExponential(2)} std ${worst.std.toExponential(2)} slope ${worst.slope.toExponential(2)}`;
      if (process.env.PROMFLUX_SHOW_ERRORS) console.log(msg);
      assert.ok(worst.mean <= 1e-12 && worst.std <= 1e-12 && worst.slope <= 1e-12, msg);
    }
  }
});

test('a constant run gives std exactly 0 and z-score exactly 0 at every window length', () => {
  const d = DATA[2]!;
  const { ctx } = runSpecs([{ kind: 'rolling', windows: [60, 1440, '1h'], stats: ['std', 'zscore', 'var'] }], [{ key: KEY, ts: d.ts, v: d.v, halo: 0 }]);
  const got = collectRun(ctx, 0, ['std_60', 'std_1440', 'std_1h', 'zscore_1440', 'var_1440']).features;
  for (const i of [1439, 2000, 2999, 4939, 6499]) {
    assert.ok(Object.is(got['std_1440']![i], 0), `std_1440 row ${i}: ${got['std_1440']![i]}`);
    assert.ok(Object.is(got['var_1440']![i], 0), `var_1440 row ${i}`);
    assert.ok(Object.is(got['zscore_1440']![i], 0), `zscore_1440 row ${i}`);
    assert.ok(Object.is(got['std_60']![i], 0) && Object.is(got['std_1h']![i], 0), `std_60/std_1h row ${i}`);
  }
  assert.ok(got['std_1440']![3100]! > 0, 'noise inside the window gives a positive std');
});

// Big windows under random splits: every statistic, sample and time windows up to a day, cuts at
// random rows (each piece carrying its halo); outputs compared bit for bit with the unsplit run.
const bigSeries = fc
  .record({
    seed: fc.integer({ min: 1, max: 2 ** 30 }),
    n: fc.integer({ min: 1500, max: 4000 }),
    kind: fc.constantFrom('offset', 'spikes', 'gaps', 'constant'),
    step: fc.constantFrom(15_000, 1000, 0),
  })
  .chain((p) => fc.uniqueArray(fc.integer({ min: 1, max: p.n - 1 }), { minLength: 1, maxLength: 5 }).map((cuts) => ({ ...p, cuts: cuts.sort((a, b) => a - b) })));

function makeBig(p: { seed: number; n: number; kind: string; step: number }): { ts: number[]; v: number[] } {
  const r = prng(p.seed);
  let t = T0 + Math.floor(r() * 1e9);
  const ts = Array.from({ length: p.n }, () => (t += p.step || 1 + Math.floor(r() * 120_000)));
  const v = Array.from({ length: p.n }, (_, i) => {
    if (p.kind === 'offset') return 1e9 + r() * 1e-3;
    if (p.kind === 'spikes') return i % 397 === 5 ? 1e12 : r() * 10;
    if (p.kind === 'constant') return i % 1000 < 700 ? 3.5 : r();
    return r() < 0.1 ? NaN : 100 + r();
  });
  return { ts, v };
}

test('rolling over windows of thousands of rows and up to 1d is bit-identical under random batch splits', () => {
  const specs = [
    {
      kind: 'rolling',
      windows: [1000, 2500, '6h', '1d'],
      stats: ['mean', 'std', 'var', 'sum', 'count', 'min', 'max', 'p50', 'p95', 'ewma', 'slope', 'zscore', 'rate', 'increase'],
      alpha: 0.001,
    },
  ];
  fc.assert(
    fc.property(bigSeries, (p) => {
      const s = makeBig(p);
      const series = { key: KEY, kind: 1, ts: s.ts, v: s.v };
      const whole = runSplit(specs, series, []);
      const split = runSplit(specs, series, p.cuts);
      for (const [name, col] of Object.entries(whole.rows.features)) {
        const diff = firstDifference(split.rows.features[name]!, col);
        assert.equal(diff, null, `${name} (${p.kind}, step ${p.step}, n ${p.n}) with cuts ${p.cuts}: ${diff}`);
      }
    }),
    { numRuns: Math.max(10, Math.round(RUNS / 4)) },
  );
});

test('windows with non-ascending or equal timestamps (no validate) fall back to a direct sum and stay split-invariant and exact', () => {
  const specs = [{ kind: 'rolling', windows: [7, 300], stats: ['mean', 'std', 'var', 'sum', 'slope', 'zscore', 'ewma'], minPeriods: 2 }];
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 2 ** 30 }),
      fc.integer({ min: 400, max: 1200 }),
      fc.uniqueArray(fc.integer({ min: 1, max: 399 }), { minLength: 1, maxLength: 4 }),
      (seed, n, cuts) => {
        const r = prng(seed);
        let t = T0;
        // steps of -20 s .. +40 s, some exactly 0 (duplicates) and some within one millisecond
        const ts = Array.from({ length: n }, () => (t += r() < 0.1 ? 0 : r() < 0.1 ? 0.25 : Math.floor(r() * 60_000) - 20_000));
        const v = Array.from({ length: n }, () => (r() < 0.05 ? NaN : 1e6 + r()));
        const series = { key: KEY, ts, v };
        const sorted = [...cuts].sort((a, b) => a - b);
        const whole = runSplit(specs, series, []);
        const split = runSplit(specs, series, sorted);
        for (const [name, col] of Object.entries(whole.rows.features)) assert.equal(firstDifference(split.rows.features[name]!, col), null, `${name} cuts ${sorted}`);
        const ex = exactWindows(ts, v, (i) => Math.max(0, i - 300 + 1));
        const std = whole.rows.features['std_300']!;
        for (let i = 299; i < n; i++) {
          if (!Number.isNaN(ex.variance[i]!)) assert.ok(relErr(std[i]!, Math.sqrt(ex.variance[i]!)) <= 1e-12, `std_300 row ${i}: ${std[i]} vs ${Math.sqrt(ex.variance[i]!)}`);
        }
      },
    ),
    { numRuns: Math.max(10, Math.round(RUNS / 4)) },
  );
});

/** Percentile of a window by sorting it (the definition: Polars' `linear` interpolation). */
function sortedQuantile(vals: number[], q: number): number {
  if (vals.length === 0) return NaN;
  const s = [...vals].sort((a, b) => a - b);
  const idx = q * (s.length - 1);
  const a = Math.floor(idx);
  const f = idx - a;
  return f === 0 ? s[a]! : s[a]! + f * (s[a + 1]! - s[a]!);
}

// The rank path (sample windows over 64 rows, every time window): cursors over value slots of
// the whole run. Dense windows (most of the run), sparse ones (a small window in a long run, so
// the cursor crosses thousands of empty slots), heavy ties, negatives and NaN gaps.
test('percentiles of large sample windows and of time windows equal a sort of each window, on ties, gaps and sparse windows', () => {
  const r = prng(11);
  const n = 9000;
  let t = T0;
  const ts = Array.from({ length: n }, () => (t += 1000 + Math.floor(r() * 20_000)));
  const cases: { name: string; v: number[] }[] = [
    { name: 'noise with NaN gaps', v: Array.from({ length: n }, (_, i) => (i % 700 < 50 || r() < 0.03 ? NaN : r() * 200 - 100)) },
    { name: 'few distinct values (ties)', v: Array.from({ length: n }, () => Math.floor(r() * 5) - 2) },
    { name: 'trend with level shifts', v: Array.from({ length: n }, (_, i) => (i < 4000 ? i * 1e-3 : -1e6 + i) + (r() < 0.01 ? 1e12 : 0)) },
  ];
  const windows: (number | string)[] = [65, 300, 5000, '1h', '1d'];
  const qs = [0, 0.01, 0.25, 0.5, 0.95, 1];
  const stats = ['p0', 'p1', 'p25', 'p50', 'p95', 'p100'];
  for (const c of cases) {
    const { ctx } = runSpecs([{ kind: 'rolling', windows, stats, minPeriods: 1 }], [{ key: KEY, ts, v: c.v, halo: 0 }]);
    const got = collectRun(ctx, 0, windows.flatMap((w) => stats.map((s) => featureName('', s, String(w))))).features;
    for (const w of windows) {
      const lo = windowLo(ts, w);
      for (let i = 0; i < n; i += i < 400 ? 1 : 7) {
        const vals: number[] = [];
        for (let j = lo(i); j <= i; j++) if (!Number.isNaN(c.v[j]!)) vals.push(c.v[j]!);
        qs.forEach((q, k) => {
          const want = sortedQuantile(vals, q);
          const have = got[featureName('', stats[k]!, String(w))]![i]!;
          assert.ok(Object.is(have, want), `${c.name} w=${w} ${stats[k]} row ${i}: ${have}, sort of the window gives ${want}`);
        });
      }
    }
  }
});

test('halo rows only build window state: outputs after the halo are bit-identical to a run without halo, halo rows get none', () => {
  const stats = ['mean', 'std', 'var', 'sum', 'zscore', 'min', 'max', 'p50', 'p95', 'ewma', 'slope'];
  const specs = [{ kind: 'rolling', windows: [5, 60, 900, '1h'], stats, minPeriods: 1, alpha: 0.01 }];
  fc.assert(
    fc.property(bigSeries, fc.double({ min: 0, max: 1, noNaN: true }), (p, hf) => {
      const s = makeBig(p);
      const halo = Math.floor(hf * s.ts.length);
      const base = { key: KEY, kind: 1, ts: s.ts, v: s.v };
      const names = specs.flatMap((sp) => sp.windows.flatMap((w) => stats.map((st) => featureName('', st, String(w)))));
      const plain = runSpecs(specs, [{ ...base, halo: 0 }]);
      const withHalo = runSpecs(specs, [{ ...base, halo }]);
      const all = collectRun(plain.ctx, 0, names);
      const own = collectRun(withHalo.ctx, 0, names);
      for (const n of names) {
        const diff = firstDifference(own.features[n]!, all.features[n]!.slice(halo));
        assert.equal(diff, null, `${n} (${p.kind}, halo ${halo} of ${s.ts.length}): ${diff}`);
      }
      // every stat here is computed by the wasm loops, which write nothing on halo rows
      for (const st of stats) {
        const c = withHalo.ctx.feature(featureName('', st, '900'));
        for (let i = 0; i < halo; i++) assert.ok(Number.isNaN(c[i]!), `${st}_900 row ${i} is halo, yet has ${c[i]}`);
      }
    }),
    { numRuns: Math.max(8, Math.round(RUNS / 6)) },
  );
});
