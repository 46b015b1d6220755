/**
 * Independent oracle: nodejs-polars computes the same rolling statistics and scalings on the same
 * data; we agree within 1e-9 relative. Polars' null = our "no value" (NaN / dropped row).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { collectRun, firstMismatch, runSpecs } from './oracle/batch.js';

const require = createRequire(import.meta.url);
// eslint-disable-next-line @typescript-eslint/no-require-imports
const pl = require('nodejs-polars') as typeof import('nodejs-polars');

/** Seeded LCG + Box-Muller: realistic metric-like series (level + noise + spikes + gaps). */
function makeSeries(seed: number, n: number): { ts: number[]; v: number[] } {
  let s = seed >>> 0;
  const rnd = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 4294967296;
  };
  const level = [0.5, 42, 1e4, 3e6][seed % 4]!;
  const ts: number[] = [];
  const v: number[] = [];
  let t = 1_700_000_000_000;
  for (let i = 0; i < n; i++) {
    t += rnd() < 0.05 ? 15_000 + Math.floor(rnd() * 600_000) : 15_000;
    ts.push(t);
    const g = Math.sqrt(-2 * Math.log(rnd())) * Math.cos(2 * Math.PI * rnd());
    let x = level * (1 + 0.05 * g) + (rnd() < 0.01 ? level * 5 : 0);
    if (rnd() < 0.005) x = NaN;
    if (i > 100 && i < 130 && seed % 3 === 0) x = level; // a constant run
    v.push(x);
  }
  return { ts, v };
}

const toNullable = (a: readonly number[]): (number | null)[] => a.map((x) => (Number.isNaN(x) ? null : x));
const fromNullable = (a: readonly (number | null)[]): number[] => a.map((x) => (x === null || x === undefined ? NaN : x));

test('rolling mean/std/min/max/quantiles over sample windows agree with Polars (1e-9 relative)', () => {
  const windows = [5, 15, 60];
  for (let seed = 0; seed < 8; seed++) {
    const { ts, v } = makeSeries(seed, 1500);
    const stats = ['mean', 'std', 'min', 'max', 'p25', 'p50', 'p95', 'p99'];
    const { ctx } = runSpecs([{ kind: 'rolling', windows, stats }], [{ key: 'm', ts, v, halo: 0 }]);
    const names = windows.flatMap((w) => stats.map((s) => `${s}_${w}`));
    const got = collectRun(ctx, 0, names).features;
    const s = pl.Series('v', toNullable(v), pl.Float64);
    for (const w of windows) {
      const want: Record<string, number[]> = {
        mean: fromNullable(s.rollingMean({ windowSize: w }).toArray() as (number | null)[]),
        std: fromNullable(s.rollingStd({ windowSize: w }).toArray() as (number | null)[]),
        min: fromNullable(s.rollingMin({ windowSize: w }).toArray() as (number | null)[]),
        max: fromNullable(s.rollingMax({ windowSize: w }).toArray() as (number | null)[]),
      };
      for (const q of [25, 50, 95, 99]) {
        want[`p${q}`] = fromNullable(s.rollingQuantile({ quantile: q / 100, interpolation: 'linear', windowSize: w }).toArray() as (number | null)[]);
      }
      for (const st of stats) {
        const bad = firstMismatch(got[`${st}_${w}`]!, want[st]!, 1e-9, 0);
        assert.equal(bad, null, `seed ${seed} ${st}_${w}: ${bad}`);
      }
    }
  }
});

test('rolling with minPeriods 1 agrees with Polars min_periods=1 (windows reaching before the series start)', () => {
  const { ts, v } = makeSeries(5, 400);
  const { ctx } = runSpecs([{ kind: 'rolling', windows: [15], stats: ['mean', 'std', 'p95'], minPeriods: 1 }], [{ key: 'm', ts, v, halo: 0 }]);
  const got = collectRun(ctx, 0, ['mean_15', 'std_15', 'p95_15']).features;
  const s = pl.Series('v', toNullable(v), pl.Float64);
  assert.equal(firstMismatch(got['mean_15']!, fromNullable(s.rollingMean({ windowSize: 15, minPeriods: 1 }).toArray() as number[]), 1e-9, 0), null);
  assert.equal(firstMismatch(got['std_15']!, fromNullable(s.rollingStd({ windowSize: 15, minPeriods: 1 }).toArray() as number[]), 1e-9, 0), null);
  assert.equal(
    firstMismatch(got['p95_15']!, fromNullable(s.rollingQuantile({ quantile: 0.95, interpolation: 'linear', windowSize: 15, minPeriods: 1 }).toArray() as number[]), 1e-9, 0),
    null,
  );
});

test('rolling time windows (5m, 1h) agree with Polars rolling group-by on the timestamp (closed right)', () => {
  for (let seed = 0; seed < 4; seed++) {
    const { ts, v } = makeSeries(seed + 10, 1200);
    // Polars' group aggregations skip nulls; NaN would propagate, so missing values are dropped
    // rows on our side and nulls on Polars' side.
    const stats = ['mean', 'std', 'min', 'max', 'p50', 'p95', 'count'];
    const windows = ['5m', '1h'];
    const { ctx } = runSpecs([{ kind: 'rolling', windows, stats }], [{ key: 'm', ts, v, halo: 0 }]);
    const got = collectRun(ctx, 0, windows.flatMap((w) => stats.map((s) => `${s}_${w}`))).features;
    const df = pl.DataFrame({ t: pl.Series('t', ts.map((x) => new Date(x)), pl.Datetime('ms')), v: pl.Series('v', toNullable(v), pl.Float64) });
    for (const w of windows) {
      const out = df
        .groupByRolling({ indexColumn: 't', period: w, closed: 'right' })
        .agg(
          pl.col('v').mean().alias('mean'),
          pl.col('v').std().alias('std'),
          pl.col('v').min().alias('min'),
          pl.col('v').max().alias('max'),
          pl.col('v').quantile(0.5, 'linear').alias('p50'),
          pl.col('v').quantile(0.95, 'linear').alias('p95'),
          pl.col('v').count().alias('count'),
        );
      for (const st of stats) {
        const want = fromNullable(out.getColumn(st).toArray() as (number | null)[]).map(Number);
        const bad = firstMismatch(got[`${st}_${w}`]!, want, 1e-9, 0);
        assert.equal(bad, null, `seed ${seed} ${st}_${w}: ${bad}`);
      }
    }
  }
});

/**
 * A row dropped by a kernel is gone for every later kernel's windows (Polars: filter, then rolling);
 * a NaN kept by `validate` (`nan: flag`) is a null slot (Polars: nulls in place).
 */
test('rows dropped by validate (NaN, a range rule) leave the windows, as Polars filter then rolling', () => {
  const windows = [5, 15, 60];
  const stats = ['mean', 'std', 'min', 'max', 'p50', 'p95'];
  const names = windows.flatMap((w) => stats.map((s) => `${s}_${w}`));
  for (let seed = 0; seed < 8; seed++) {
    const { ts, v } = makeSeries(seed, 1500);
    const level = [0.5, 42, 1e4, 3e6][seed % 4]!;
    const max = level * 3; // the spikes (level × 6) violate it
    const specs = [{ kind: 'validate', ranges: [{ match: 'm', max, name: 'spike' }] }, { kind: 'rolling', windows, stats }];
    const { ctx } = runSpecs(specs, [{ key: 'm', ts, v, halo: 0 }]);
    const got = collectRun(ctx, 0, names);
    const df = pl.DataFrame({ t: pl.Series('t', ts, pl.Float64), v: pl.Series('v', toNullable(v), pl.Float64) });
    const kept = df.filter(pl.col('v').isNotNull().and(pl.col('v').ltEq(max)));
    const nDropped = Object.values(ctx.dropped).reduce((a, b) => a + b, 0);
    assert.ok(nDropped > 0 && ctx.dropped['spike']! > 0 && ctx.dropped['nan']! > 0, `seed ${seed}: the data has both kinds of drops`);
    assert.deepEqual(got.ts, kept.getColumn('t').toArray(), `seed ${seed}: surviving rows`);
    const s = kept.getColumn('v');
    for (const w of windows) {
      const want: Record<string, number[]> = {
        mean: fromNullable(s.rollingMean({ windowSize: w }).toArray() as (number | null)[]),
        std: fromNullable(s.rollingStd({ windowSize: w }).toArray() as (number | null)[]),
        min: fromNullable(s.rollingMin({ windowSize: w }).toArray() as (number | null)[]),
        max: fromNullable(s.rollingMax({ windowSize: w }).toArray() as (number | null)[]),
        p50: fromNullable(s.rollingQuantile({ quantile: 0.5, interpolation: 'linear', windowSize: w }).toArray() as (number | null)[]),
        p95: fromNullable(s.rollingQuantile({ quantile: 0.95, interpolation: 'linear', windowSize: w }).toArray() as (number | null)[]),
      };
      for (const st of stats) {
        const bad = firstMismatch(got.features[`${st}_${w}`]!, want[st]!, 1e-9, 0);
        assert.equal(bad, null, `seed ${seed} ${st}_${w}: ${bad}`);
      }
      // Dropping must not poison: full windows exist right after a drop.
      const full = got.features[`mean_${w}`]!.filter((x, i) => i >= w - 1 && Number.isNaN(x)).length;
      assert.equal(full, 0, `seed ${seed} mean_${w}: every full window has a value`);
    }
  }
});

test('a NaN kept by validate (nan: flag) is a null slot in the windows, as Polars nulls in place', () => {
  const windows = [5, 15, 60];
  const stats = ['mean', 'std', 'min', 'max', 'p50'];
  const names = windows.flatMap((w) => stats.map((s) => `${s}_${w}`));
  for (let seed = 0; seed < 4; seed++) {
    const { ts, v } = makeSeries(seed + 20, 1500);
    const { ctx } = runSpecs([{ kind: 'validate', nan: 'flag' }, { kind: 'rolling', windows, stats, minPeriods: 1 }], [{ key: 'm', ts, v, halo: 0 }]);
    const got = collectRun(ctx, 0, names);
    assert.equal(got.ts.length, ts.length, 'no row dropped');
    assert.ok((ctx.counters['flagged:nan'] ?? 0) > 0, `seed ${seed}: the data has NaN`);
    const s = pl.Series('v', toNullable(v), pl.Float64);
    for (const w of windows) {
      const o = { windowSize: w, minPeriods: 1 };
      const want: Record<string, number[]> = {
        mean: fromNullable(s.rollingMean(o).toArray() as (number | null)[]),
        std: fromNullable(s.rollingStd(o).toArray() as (number | null)[]),
        min: fromNullable(s.rollingMin(o).toArray() as (number | null)[]),
        max: fromNullable(s.rollingMax(o).toArray() as (number | null)[]),
        p50: fromNullable(s.rollingQuantile({ quantile: 0.5, interpolation: 'linear', ...o }).toArray() as (number | null)[]),
      };
      for (const st of stats) {
        const bad = firstMismatch(got.features[`${st}_${w}`]!, want[st]!, 1e-9, 0);
        assert.equal(bad, null, `seed ${seed} ${st}_${w}: ${bad}`);
      }
    }
  }
});
