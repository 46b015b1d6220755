/**
 * Independent oracle for the ML feature kernels: nodejs-polars computes shift / diff / pct_change,
 * an as-of join with tolerance, dt accessors in a time zone, and Pearson correlation and
 * covariance by a rolling group-by (`group_by_rolling` + `pearson_corr` / `cov`, sample and duration
 * windows) on the joined frame.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { compileTransforms } from '../src/transform/registry.js';
import { collectRun, firstDifference, firstMismatch, runSpecs } from './oracle/batch.js';

const require = createRequire(import.meta.url);
// eslint-disable-next-line @typescript-eslint/no-require-imports
const pl = require('nodejs-polars') as typeof import('nodejs-polars');

function makeSeries(seed: number, n: number, nanRate = 0.005): { ts: number[]; v: number[] } {
  let s = seed >>> 0;
  const rnd = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 4294967296;
  };
  const level = [0.5, 42, 1e4, 3e6][seed % 4]!;
  const ts: number[] = [];
  const v: number[] = [];
  let t = 1_711_800_000_000 + seed * 3_600_000; // around the 2024 European DST change
  for (let i = 0; i < n; i++) {
    t += rnd() < 0.05 ? 15_000 + Math.floor(rnd() * 600_000) : 15_000;
    ts.push(t);
    const g = Math.sqrt(-2 * Math.log(rnd())) * Math.cos(2 * Math.PI * rnd());
    let x = level * (1 + 0.05 * g) + Math.sin(i / 20) * level * 0.1;
    if (rnd() < nanRate) x = NaN;
    v.push(x);
  }
  return { ts, v };
}
const fromNullable = (a: readonly (number | null)[]): number[] => a.map((x) => (x === null || x === undefined ? NaN : Number(x)));

test('lag, diff and pct_change equal Polars shift, diff and pct_change after validate drops NaN (bit for bit)', () => {
  for (let seed = 0; seed < 6; seed++) {
    const { ts, v } = makeSeries(seed, 3000);
    const spec = { kind: 'lags', lags: [1, 5, 60], diffs: [1, 60], pctChanges: [1, 5] };
    const { ctx } = runSpecs([{ kind: 'validate' }, spec], [{ key: 'm', ts, v, halo: 0 }]);
    const got = collectRun(ctx, 0, compileTransforms([spec])[0]!.outputs);
    const s = pl.Series('v', v.filter((x) => !Number.isNaN(x)), pl.Float64);
    for (const k of [1, 5, 60]) assert.equal(firstDifference(got.features[`lag_${k}`]!, fromNullable(s.shift(k).toArray() as (number | null)[])), null, `seed ${seed} lag_${k}`);
    for (const k of [1, 60]) assert.equal(firstDifference(got.features[`diff_${k}`]!, fromNullable(s.diff(k, 'ignore').toArray() as (number | null)[])), null, `seed ${seed} diff_${k}`);
    const df = pl.DataFrame({ v: s });
    for (const k of [1, 5]) {
      const want = fromNullable(df.select(pl.col('v').pctChange(k)).getColumn('v').toArray() as (number | null)[]);
      assert.equal(firstMismatch(got.features[`pct_change_${k}`]!, want, 1e-15, 0), null, `seed ${seed} pct_change_${k}`);
    }
  }
});

test('as-of lags equal a Polars backward join_asof with tolerance', () => {
  for (let seed = 0; seed < 4; seed++) {
    const { ts, v } = makeSeries(seed, 2000, 0);
    const spec = { kind: 'lags', asOf: ['5m', '1h'], tolerance: '1m' };
    const { ctx } = runSpecs([spec], [{ key: 'm', ts, v, halo: 0 }]);
    const got = collectRun(ctx, 0, ['lag_5m', 'lag_1h']).features;
    const right = pl.DataFrame({ t: pl.Series('t', ts, pl.Float64), rv: pl.Series('rv', v, pl.Float64) });
    for (const [label, d] of [['5m', 300_000], ['1h', 3_600_000]] as const) {
      const left = pl.DataFrame({ t: pl.Series('t', ts.map((t) => t - d), pl.Float64) });
      const j = left.joinAsof(right, { on: 't', strategy: 'backward', tolerance: 60_000 });
      const want = fromNullable(j.getColumn('rv').toArray() as (number | null)[]);
      assert.equal(firstDifference(got[`lag_${label}`]!, want), null, `seed ${seed} lag_${label}`);
    }
  }
});

test('calendar fields equal Polars dt accessors after convert_time_zone, across the DST change', () => {
  for (const tz of ['Europe/Berlin', 'America/New_York', 'UTC']) {
    const ts: number[] = [];
    for (let t = Date.UTC(2024, 2, 9); t < Date.UTC(2024, 3, 2); t += 7 * 60_000 + 13_000) ts.push(t);
    for (let t = Date.UTC(2024, 9, 25); t < Date.UTC(2024, 10, 5); t += 7 * 60_000 + 13_000) ts.push(t);
    const { ctx } = runSpecs([{ kind: 'calendar', timezone: tz }], [{ key: 'm', ts, v: ts.map(() => 0), halo: 0 }]);
    const got = collectRun(ctx, 0, ['hour', 'minute_of_day', 'day_of_week', 'day_of_month', 'month', 'iso_week', 'weekend']).features;
    const d = pl.Series('t', ts.map((t) => new Date(t)), pl.Datetime('ms')).dt.replaceTimeZone('UTC').dt.convertTimeZone(tz);
    const col = (s: { toArray(): unknown[] }): number[] => s.toArray().map(Number);
    const hour = col(d.dt.hour());
    const minute = col(d.dt.minute());
    // nodejs-polars' weekday is ISO (Monday = 1) like Polars'; checked by the weekend column below
    const want: Record<string, number[]> = {
      hour,
      minute_of_day: hour.map((h, i) => h * 60 + minute[i]!),
      day_of_week: col(d.dt.weekday()),
      day_of_month: col(d.dt.day()),
      month: col(d.dt.month()),
      iso_week: col(d.dt.week()),
    };
    want['weekend'] = want['day_of_week']!.map((w) => (w >= 6 ? 1 : 0));
    for (const [f, w] of Object.entries(want)) assert.equal(firstDifference(got[f]!, w), null, `${tz} ${f}`);
  }
});

/** x and y on x's timestamps; `sparse`: each loses ~10 % of its rows (different ones). */
function pairSeries(seed: number, n: number, sparse: boolean): { x: { ts: number[]; v: number[] }; y: { ts: number[]; v: number[] } } {
  const a = makeSeries(seed, n, 0);
  const b = makeSeries(seed + 100, n, 0);
  let s = (seed * 7919) >>> 0;
  const rnd = (): number => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 4294967296;
  const x = { ts: [] as number[], v: [] as number[] };
  const y = { ts: [] as number[], v: [] as number[] };
  for (let i = 0; i < n; i++) {
    if (!sparse || rnd() > 0.1) (x.ts.push(a.ts[i]!), x.v.push(a.v[i]!));
    // y follows x with noise, so the correlation is far from 0
    if (!sparse || rnd() > 0.1) (y.ts.push(a.ts[i]!), y.v.push(0.7 * a.v[i]! + b.v[i]! * 0.3));
  }
  return { x, y };
}

test('rolling correlation and covariance equal Polars rolling group-by pearson_corr / cov on the joined frame (sample and duration windows)', () => {
  const spec = { kind: 'correlate', x: 'x_total', y: 'y_total', windows: [30, '10m'], stats: ['corr', 'cov'], minPeriods: 2 };
  for (let seed = 0; seed < 4; seed++) {
    for (const sparse of [false, true]) {
      const { x, y } = pairSeries(seed, 1500, sparse);
      const { ctx } = runSpecs([spec], [{ key: 'x_total{job="a"}', ts: x.ts, v: x.v, halo: 0 }, { key: 'y_total{job="a"}', ts: y.ts, v: y.v, halo: 0 }]);
      const got = collectRun(ctx, 0, compileTransforms([spec])[0]!.outputs).features;
      // inner join on equal timestamps, as the kernel pairs rows
      const yAt = new Map(y.ts.map((t, i) => [t, y.v[i]!]));
      const rows = x.ts.flatMap((t, i) => (yAt.has(t) ? [i] : []));
      const joined = pl.DataFrame({
        i: pl.Series('i', rows, pl.Int32),
        t: pl.Series('t', rows.map((i) => new Date(x.ts[i]!)), pl.Datetime('ms')),
        x: pl.Series('x', rows.map((i) => x.v[i]!), pl.Float64),
        y: pl.Series('y', rows.map((i) => yAt.get(x.ts[i]!)!), pl.Float64),
      });
      const corrE = pl.pearsonCorr('x', 'y').alias('corr');
      const covE = pl.cov('x', 'y', 1).alias('cov');
      const nE = pl.col('x').count().alias('n');
      // Polars answers a one-pair window (0 or NaN); the kernel's rule is NaN below 2 pairs
      const masked = (frame: import('nodejs-polars').DataFrame, st: string): number[] => {
        const n = frame.getColumn('n').toArray() as number[];
        return fromNullable(frame.getColumn(st).toArray() as (number | null)[]).map((v, r) => (Number(n[r]) >= 2 ? v : NaN));
      };
      const byTime = joined.groupByRolling({ indexColumn: 't', period: '10m', closed: 'right' }).agg(corrE, covE, nE);
      let checked = 0;
      for (const [label, frame] of [['10m', byTime]] as const) {
        for (const st of ['corr', 'cov'] as const) {
          const want = masked(frame, st);
          const mine = rows.map((i) => got[`xy_${st}_${label}`]![i]!);
          const bad = firstMismatch(mine, want, 1e-9, 1e-12);
          assert.equal(bad, null, `seed ${seed} sparse ${sparse} ${st}_${label}: ${bad}`);
          checked += want.filter((v) => !Number.isNaN(v)).length;
        }
      }
      if (!sparse) {
        // sample window of 30 x rows = 30 joined rows when every x row has a partner
        const byRow = joined.groupByRolling({ indexColumn: 'i', period: '30i', closed: 'right' }).agg(corrE, covE, nE);
        for (const st of ['corr', 'cov'] as const) {
          const want = masked(byRow, st).map((v, r) => (r >= 29 ? v : NaN));
          const bad = firstMismatch(got[`xy_${st}_30`]!, want, 1e-9, 1e-12);
          assert.equal(bad, null, `seed ${seed} ${st}_30: ${bad}`);
          checked += want.filter((v) => !Number.isNaN(v)).length;
        }
      }
      assert.ok(checked > 2000, `values compared: ${checked}`);
    }
  }
});
