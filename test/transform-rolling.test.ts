import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SeriesKind } from '../src/batch/layout.js';
import { compileTransforms } from '../src/transform/registry.js';
import { featureName } from '../src/transform/kernels/rolling.js';
import { defaultFeatureSet } from '../src/transform/kernels/index.js';
import { collectRun, firstDifference, firstMismatch, runSpecs, runSplit } from './oracle/batch.js';
import { refRolling, type RefWindow } from './oracle/reference.js';
import { cutsArb, seriesArb, seriesWithCuts } from './oracle/arbitraries.js';

const KEY = 'm{job="a"}';
const SAMPLE_STATS = ['mean', 'std', 'var', 'sum', 'count', 'min', 'max', 'p25', 'p50', 'p75', 'p95', 'p99', 'ewma', 'slope', 'zscore', 'momentum', 'rate', 'increase'];
const TIME_STATS = ['mean', 'std', 'min', 'max', 'p50', 'p99', 'slope', 'zscore', 'rate', 'increase', 'count'];
const RUNS = Number(process.env.PROMFLUX_PROPERTY_RUNS ?? 60);

function win(label: string | number): RefWindow {
  if (typeof label === 'number') return { samples: label, ms: 0 };
  return { samples: 0, ms: label === '5m' ? 300_000 : label === '1h' ? 3_600_000 : label === '2m' ? 120_000 : Number.NaN };
}

function checkAgainstReference(windows: (number | string)[], stats: string[], s: { ts: number[]; v: number[] }, extra: Record<string, unknown> = {}, kind = 0): void {
  const { ctx } = runSpecs([{ kind: 'rolling', windows, stats, ...extra }], [{ key: KEY, kind, ts: s.ts, v: s.v, halo: 0 }]);
  const names = windows.flatMap((w) => stats.map((st) => featureName('', st, String(w))));
  const got = collectRun(ctx, 0, names);
  for (const w of windows) {
    for (const st of stats) {
      const want = refRolling(s.ts, s.v, win(w), st, {
        ...(extra['minPeriods'] !== undefined ? { minPeriods: extra['minPeriods'] as number } : {}),
        ...(extra['alpha'] !== undefined ? { alpha: extra['alpha'] as number } : {}),
        counter: kind === SeriesKind.counter,
      });
      const g = got.features[featureName('', st, String(w))]!;
      if (st === 'zscore') {
        // (x - mean) / std is ill-conditioned when std is at rounding level of |x|: both kernel
        // and reference are then noise. Compare only where std >= 1e-8 relative to the values.
        const sd = refRolling(s.ts, s.v, win(w), 'std', { ...(extra['minPeriods'] !== undefined ? { minPeriods: extra['minPeriods'] as number } : {}) });
        const mx = refRolling(s.ts, s.v.map(Math.abs), win(w), 'max', { minPeriods: 1 });
        for (let i = 0; i < want.length; i++) if (sd[i]! > 0 && sd[i]! < 1e-8 * mx[i]!) g[i] = want[i]!;
      }
      // absolute floor: values reach 1e6, so sums of squares carry ~1e-4 absolute noise at worst
      const bad = firstMismatch(g, want, 1e-9, 1e-6);
      assert.equal(bad, null, `${st}_${w}: ${bad}`);
    }
  }
}

test('rolling sample windows match the reference (property: NaN gaps, constant runs, single samples)', () => {
  fc.assert(
    fc.property(seriesArb, (s) => checkAgainstReference([1, 5, 15, 60, 70], SAMPLE_STATS, s, {}, SeriesKind.counter)),
    { numRuns: RUNS },
  );
});

test('rolling time windows match the reference', () => {
  fc.assert(
    fc.property(seriesArb, (s) => checkAgainstReference(['2m', '1h'], TIME_STATS, s, {}, SeriesKind.counter)),
    { numRuns: RUNS },
  );
});

test('rolling honours minPeriods and alpha', () => {
  fc.assert(
    fc.property(seriesArb, fc.integer({ min: 1, max: 10 }), (s, mp) =>
      checkAgainstReference([5, 15, '5m'], ['mean', 'std', 'p50', 'ewma', 'count'], s, { minPeriods: mp, alpha: 0.3 }),
    ),
    { numRuns: RUNS },
  );
});

test('rolling output is bit-identical whatever the batch split (halo carries the context)', () => {
  const specs = [{ kind: 'rolling', windows: [5, 15, 60, 100, '5m', '1h'], stats: ['mean', 'std', 'min', 'max', 'p50', 'p95', 'ewma', 'slope', 'zscore', 'rate', 'increase'], alpha: 0.2 }];
  fc.assert(
    fc.property(seriesWithCuts, ({ s, cuts }) => {
      const series = { key: KEY, kind: SeriesKind.counter, ts: s.ts, v: s.v };
      const whole = runSplit(specs, series, []);
      const split = runSplit(specs, series, cuts);
      for (const [name, col] of Object.entries(whole.rows.features)) {
        const d = firstDifference(split.rows.features[name]!, col);
        assert.equal(d, null, `${name} with cuts ${cuts}: ${d}`);
      }
    }),
    { numRuns: RUNS },
  );
});

// Evenly spaced series (Prometheus range queries return a fixed step) take the slope fast path
// (time offsets as multiples of the step, no timestamp loads): the same reference and the same
// split invariance must hold there, including windows that straddle a change of step.
const evenly = (s: { ts: number[]; v: number[] }, step: number, jumpAt: number): { ts: number[]; v: number[] } => ({
  v: s.v,
  ts: s.v.map((_, i) => 1_700_000_000_000 + i * step + (i >= jumpAt ? 45_000 : 0)),
});
const evenArb = fc.tuple(seriesArb, fc.constantFrom(1, 1000, 15_000, 60_000, 3_600_000), fc.integer({ min: 0, max: 400 }));

test('rolling slope / moments on evenly spaced series (fast path) match the reference', () => {
  fc.assert(
    fc.property(evenArb, ([s, step, jumpAt]) => checkAgainstReference([2, 5, 15, 60, 70], ['mean', 'std', 'slope', 'zscore', 'sum', 'var'], evenly(s, step, jumpAt))),
    { numRuns: RUNS },
  );
});

test('rolling slope on evenly spaced series is bit-identical whatever the batch split', () => {
  const specs = [{ kind: 'rolling', windows: [5, 15, 60], stats: ['mean', 'std', 'slope', 'zscore'] }];
  fc.assert(
    fc.property(evenArb.chain(([s, step, jumpAt]) => cutsArb(s.v.length).map((cuts) => ({ s: evenly(s, step, jumpAt), cuts }))), ({ s, cuts }) => {
      const series = { key: KEY, ts: s.ts, v: s.v };
      const whole = runSplit(specs, series, []);
      const split = runSplit(specs, series, cuts);
      for (const [name, col] of Object.entries(whole.rows.features)) assert.equal(firstDifference(split.rows.features[name]!, col), null, `${name} with cuts ${cuts}`);
    }),
    { numRuns: RUNS },
  );
});

test('rolling: momentum needs k rows of halo and is split-invariant', () => {
  const specs = [{ kind: 'rolling', windows: [5, 15, 60], stats: ['momentum'] }];
  assert.equal(compileTransforms(specs)[0]!.haloSamples, 60);
  fc.assert(
    fc.property(seriesWithCuts, ({ s, cuts }) => {
      const series = { key: KEY, ts: s.ts, v: s.v };
      const whole = runSplit(specs, series, []);
      const split = runSplit(specs, series, cuts);
      for (const [name, col] of Object.entries(whole.rows.features)) assert.equal(firstDifference(split.rows.features[name]!, col), null, name);
    }),
    { numRuns: RUNS },
  );
});

test('rolling edge cases: all-NaN, one sample, constant, window longer than the series', () => {
  const stats = ['mean', 'std', 'min', 'max', 'p50', 'slope', 'zscore', 'count'];
  const run = (v: number[], windows: (number | string)[] = [3]) => {
    const ts = v.map((_, i) => 1_000_000 + i * 15_000);
    const { ctx } = runSpecs([{ kind: 'rolling', windows, stats, minPeriods: 1 }], [{ key: KEY, ts, v, halo: 0 }]);
    return collectRun(ctx, 0, windows.flatMap((w) => stats.map((s) => featureName('', s, String(w))))).features;
  };
  // all-NaN: no value anywhere, count 0
  const allNan = run([NaN, NaN, NaN]);
  for (const s of stats.filter((x) => x !== 'count')) assert.ok(allNan[`${s}_3`]!.every(Number.isNaN), s);
  assert.deepEqual(allNan['count_3'], [0, 0, 0]);
  // one sample: mean/min/max/p50 = the sample; std/slope/zscore need two samples
  const one = run([7]);
  assert.deepEqual([one['mean_3']![0], one['min_3']![0], one['max_3']![0], one['p50_3']![0]], [7, 7, 7, 7]);
  assert.ok(Number.isNaN(one['std_3']![0]!) && Number.isNaN(one['slope_3']![0]!) && Number.isNaN(one['zscore_3']![0]!));
  // constant: std exactly 0, z-score defined as 0, slope 0
  const c = run([4.2, 4.2, 4.2, 4.2]);
  assert.deepEqual(c['std_3']!.slice(1), [0, 0, 0]);
  assert.deepEqual(c['zscore_3']!.slice(1), [0, 0, 0]);
  assert.deepEqual(c['slope_3']!.slice(1), [0, 0, 0]);
  // window longer than the series with default minPeriods (= window): nothing
  const ts = [0, 1, 2].map((i) => i * 1000);
  const { ctx } = runSpecs([{ kind: 'rolling', windows: [60], stats: ['mean'] }], [{ key: KEY, ts, v: [1, 2, 3], halo: 0 }]);
  assert.ok(collectRun(ctx, 0, ['mean_60']).features['mean_60']!.every(Number.isNaN));
});

test('rolling: rate/increase are counter-aware and handle resets like PromQL', () => {
  const ts = [0, 15, 30, 45, 60, 75].map((s) => 1_700_000_000_000 + s * 1000);
  const v = [100, 115, 130, 10, 25, 40];
  const specs = [{ kind: 'rolling', windows: [6, '1m'], stats: ['rate', 'increase'] }];
  const counter = collectRun(runSpecs(specs, [{ key: 'c_total', kind: SeriesKind.counter, ts, v, halo: 0 }]).ctx, 0, ['increase_6', 'rate_6', 'increase_1m']);
  // 100→130 (+30), reset to 10 (+10), →40 (+30): 70 over 75 s
  assert.equal(counter.features['increase_6']![5], 70);
  assert.ok(Math.abs(counter.features['rate_6']![5]! - 70 / 75) < 1e-12);
  assert.ok(Number.isFinite(counter.features['increase_1m']![5]!));
  const gauge = collectRun(runSpecs(specs, [{ key: 'g', kind: SeriesKind.gauge, ts, v, halo: 0 }]).ctx, 0, ['increase_6']);
  assert.ok(gauge.features['increase_6']!.every(Number.isNaN), 'no rate on gauges when counterAware');
});

test('rolling: a row dropped by an earlier kernel is gone from the windows (dropna, then rolling)', () => {
  const ts = [0, 1, 2, 3].map((i) => i * 1000);
  const { ctx } = runSpecs(
    [{ kind: 'validate' }, { kind: 'rolling', windows: [3], stats: ['mean', 'count'] }],
    [{ key: KEY, ts, v: [1, Infinity, 3, 5], halo: 0 }],
  );
  const got = collectRun(ctx, 0, ['mean_3', 'count_3']);
  assert.deepEqual(got.ts, [0, 2000, 3000]);
  // the window of the row at 3000 is the three surviving rows 1, 3, 5: full, so minPeriods 3 is met
  assert.deepEqual(got.features['mean_3'], [NaN, NaN, 3]);
  assert.deepEqual(got.features['count_3'], [1, 2, 3]);
  assert.equal(ctx.dropped['inf'], 1);
});

test('rolling: a NaN kept by validate (nan: flag) stays a null slot in the windows', () => {
  const ts = [0, 1, 2, 3].map((i) => i * 1000);
  const { ctx } = runSpecs(
    [{ kind: 'validate', nan: 'flag' }, { kind: 'rolling', windows: [3], stats: ['mean', 'count'], minPeriods: 1 }],
    [{ key: KEY, ts, v: [1, NaN, 3, 5], halo: 0 }],
  );
  const got = collectRun(ctx, 0, ['mean_3', 'count_3']);
  assert.deepEqual(got.ts, [0, 1000, 2000, 3000]);
  assert.deepEqual(got.features['mean_3'], [1, 1, 2, 4]);
  assert.deepEqual(got.features['count_3'], [1, 1, 2, 2]);
});

test('rolling rejects bad options with a ConfigError naming the option', () => {
  assert.throws(() => compileTransforms([{ kind: 'rolling', stats: ['mean', 'bogus'] }]), /stats\[1\].*unknown stat "bogus"/);
  assert.throws(() => compileTransforms([{ kind: 'rolling', windows: ['5x'] }]), /not a duration/);
  assert.throws(() => compileTransforms([{ kind: 'rolling', windows: ['5m'], stats: ['momentum'] }]), /momentum/);
  assert.throws(() => compileTransforms([{ kind: 'rolling', windows: ['5m'], stats: ['ewma'] }]), /alpha/);
  try {
    compileTransforms([{ kind: 'rolling', windw: 5 }]);
    assert.fail('expected an error');
  } catch (err) {
    assert.equal(((err as Error).cause as { code?: string }).code, 'PROMFLUX_CONFIG');
  }
});

test('the default feature set (validate + rolling) is bit-identical under any split with the chain halo', () => {
  const specs = defaultFeatureSet();
  // duplicate / out-of-order timestamps and non-finite values, so validate's drops feed the windows
  const dirty = seriesWithCuts.map(({ s, cuts }) => ({
    cuts,
    ts: s.ts.map((t, i) => (i % 37 === 5 ? s.ts[Math.max(0, i - 1)]! : i % 53 === 7 ? t - 40_000 : t)),
    v: s.v.map((v, i) => (i % 29 === 3 ? Infinity : v)),
  }));
  fc.assert(
    fc.property(dirty, ({ ts, v, cuts }) => {
      const series = { key: KEY, ts, v };
      const whole = runSplit(specs, series, [], { nowMs: 4e12 });
      const split = runSplit(specs, series, cuts, { nowMs: 4e12 });
      assert.deepEqual(split.dropped, whole.dropped);
      assert.equal(firstDifference(split.rows.flags, whole.rows.flags), null);
      for (const [name, col] of Object.entries(whole.rows.features)) assert.equal(firstDifference(split.rows.features[name]!, col), null, name);
    }),
    { numRuns: RUNS },
  );
});

test('rolling: many runs in one batch (several arena groups, halos mid-group) give each run exactly what it gets alone', () => {
  const specs = [
    { kind: 'rolling', windows: [5, 60, 300], stats: ['mean', 'std', 'min', 'max', 'p50', 'ewma', 'slope', 'zscore', 'count', 'momentum', 'rate'], alpha: 0.1 },
    { kind: 'rolling', windows: ['1h'], stats: ['mean', 'std', 'min', 'max', 'p95', 'ewma', 'slope', 'count', 'increase'], alpha: 0.1, prefix: 't_' },
  ];
  const names = compileTransforms(specs).flatMap((k) => [...k.outputs]);
  fc.assert(
    fc.property(
      fc.array(fc.record({ len: fc.integer({ min: 1, max: 3000 }), halo: fc.integer({ min: 0, max: 400 }), seed: fc.integer({ min: 1, max: 2 ** 30 }) }), { minLength: 8, maxLength: 30 }),
      (shapes) => {
        const pieces = shapes.map(({ len, halo, seed }, k) => {
          let r = seed;
          const rnd = (): number => ((r = (Math.imul(r, 1103515245) + 12345) >>> 0) / 2 ** 32);
          const ts: number[] = [];
          const v: number[] = [];
          let t = 1_700_000_000_000 + k * 7;
          for (let i = 0; i < len; i++) {
            t += rnd() < 0.05 ? 60_000 : 15_000;
            ts.push(t);
            v.push(rnd() < 0.02 ? NaN : 1e6 + rnd() * 10);
          }
          return { key: `m{i="${k}"}`, kind: SeriesKind.counter, ts, v, halo: Math.min(halo, len - 1) };
        });
        const together = runSpecs(specs, pieces).ctx;
        pieces.forEach((p, k) => {
          const alone = collectRun(runSpecs(specs, [p]).ctx, 0, names);
          const got = collectRun(together, k, names);
          for (const n of names) assert.equal(firstDifference(got.features[n]!, alone.features[n]!), null, `run ${k} (${p.v.length} rows, halo ${p.halo}), ${n}`);
        });
      },
    ),
    { numRuns: Math.max(3, Math.round(RUNS / 10)) },
  );
});
