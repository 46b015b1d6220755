/**
 * The default feature set (validate + rolling mean/std/p50/p95 over 5/15/60 + slope/z-score over
 * 60) through the promflux kernels in-process on one core, vs nodejs-polars computing the same
 * features (group by series + rolling expressions) with POLARS_MAX_THREADS=1. Target >= 2x.
 * Extra rows (issue #14), each where Polars has an equivalent: lags (shift / diff / pct_change),
 * calendar fields (dt accessors after convert_time_zone), rolling correlation/covariance (Polars has
 * no rolling corr expression: join on timestamps, then rolling means of x, y, xy, x², y²) and group
 * deviation (mean/std over(job, t)). Plus the spectral kernel's FFT (fft.js) against a plain
 * radix-2 JS FFT (benchmarks/lib/radix2.ts) on the same windows.
 *
 * Fairness: both read the same seeded data file (benchmarks/lib/data.ts). Polars runs in a child
 * process because POLARS_MAX_THREADS must be set before its thread pool starts. Only the feature
 * computation is timed on both sides: our batch columns are reset untimed before each run, the
 * Polars DataFrame is built untimed once. Polars gets the same cleaning as `validate` (NaN, ±Inf
 * and stale markers become null = skipped inside windows, like our dropped rows; the data has no
 * duplicate or future timestamps) and computes slope from rolling means of t·v, t, v, t² (it has
 * no rolling regression), which is cheaper than our exact per-window scan.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import FFT from 'fft.js';
import { BatchContext } from '../src/transform/context.js';
import type { TransformSpec } from '../src/transform/kernel.js';
import { defaultFeatureSet } from '../src/transform/kernels/index.js';
import { compileTransforms } from '../src/transform/registry.js';
import { dataFile, fromSeries, readData, resetBatch, toBatch, viewBatch, type BenchData } from './lib/data.js';
import { baselineFigure, comparedFigure, perSecond, timeRuns } from './lib/figures.js';
import { dataDir } from './lib/paths.js';
import { Radix2Fft } from './lib/radix2.js';
import type { Scenario, ScenarioResult } from './lib/scenario.js';

const CHILD_FLAG = '--polars-child';
/** Rounds of (Polars runs, our runs) for the correlate row; its figures are the medians over all rounds. */
const INTERLEAVED_ROUNDS = 3;

type DF = import('nodejs-polars').DataFrame;
type Workload = 'default' | 'lags' | 'calendar' | 'correlate' | 'group';

/** Our chains per workload. `correlate` runs on the paired copy of the data (pairOf). */
const CHAINS: Record<Workload, TransformSpec[]> = {
  default: defaultFeatureSet(),
  lags: [{ kind: 'validate' }, { kind: 'lags', lags: [1, 5, 60], diffs: [1, 60], pctChanges: [1] }],
  calendar: [{ kind: 'calendar', timezone: 'Europe/Berlin', fields: ['hour', 'minute_of_day', 'day_of_week', 'day_of_month', 'month', 'iso_week', 'weekend'] }],
  correlate: [{ kind: 'validate', nan: 'flag', inf: 'flag' }, { kind: 'correlate', x: 'x_metric', y: 'y_metric', on: ['pair'], windows: [60], stats: ['corr', 'cov'] }],
  group: [{ kind: 'validate', nan: 'flag', inf: 'flag' }, { kind: 'group', by: ['job'], stats: ['deviation', 'zscore', 'size'] }],
};

/** Series 2k and 2k+1 of the data become x_metric / y_metric with label pair="k" (same timestamps). */
function pairOf(d: BenchData): BenchData {
  const list = [];
  for (let k = 0; k < d.seriesCount; k++) {
    const a = d.offsets[k]!;
    const b = d.offsets[k + 1]!;
    list.push({ key: `${k % 2 ? 'y' : 'x'}_metric{pair="${k >> 1}"}`, ts: d.ts.subarray(a, b), value: d.value.subarray(a, b) });
  }
  return fromSeries(list, d.spec.seed);
}

function ourRuns(d: BenchData, specs: TransformSpec[], runs: number): number[] {
  const kernels = compileTransforms(specs);
  const desc = toBatch(d);
  const view = viewBatch(desc);
  let ctx = new BatchContext(view);
  return timeRuns(
    () => {
      for (const k of kernels) k.run(ctx);
    },
    {
      runs,
      warmup: 1,
      beforeEach: () => {
        resetBatch(desc, d);
        ctx = new BatchContext(view);
        for (const k of kernels) for (const o of k.outputs) ctx.feature(o);
      },
    },
  );
}

/** The spectral kernel's inner loop on every 64-row window of the first `series` series: fft.js vs radix-2. */
function fftRuns(d: BenchData, series: number, runs: number): { windows: number; fftjs: number[]; radix2: number[] } {
  const N = 64;
  const input = new Float64Array(N);
  const spec = new Float64Array(2 * N);
  const lib = new FFT(N);
  const plain = new Radix2Fft(N);
  let windows = 0;
  let sink = 0;
  const pass = (transform: (out: Float64Array, x: Float64Array) => void): void => {
    windows = 0;
    for (let k = 0; k < series; k++) {
      const a = d.offsets[k]!;
      const b = d.offsets[k + 1]!;
      for (let i = a + N - 1; i < b; i++) {
        let m = 0;
        for (let j = i - N + 1; j <= i; j++) m += Number.isFinite(d.value[j]!) ? d.value[j]! : 0;
        m /= N;
        for (let j = i - N + 1; j <= i; j++) input[j - i + N - 1] = Number.isFinite(d.value[j]!) ? d.value[j]! - m : 0;
        transform(spec, input);
        let total = 0;
        for (let q = 1; q <= N / 2; q++) total += spec[2 * q]! * spec[2 * q]! + spec[2 * q + 1]! * spec[2 * q + 1]!;
        sink += total;
        windows++;
      }
    }
  };
  const fftjs = timeRuns(() => pass((o, x) => lib.realTransform(o, x)), { runs, warmup: 1 });
  const radix2 = timeRuns(() => pass((o, x) => plain.realTransform(o, x)), { runs, warmup: 1 });
  if (!Number.isFinite(sink)) throw new Error('FFT benchmark produced a non-finite spectrum');
  return { windows, fftjs, radix2 };
}

/** Runs in the child: POLARS_MAX_THREADS is already in its environment. Prints JSON ms per run. */
function polarsRuns(path: string, workload: Workload, runs: number): number[] {
  const require = createRequire(import.meta.url);
  const pl = require('nodejs-polars') as typeof import('nodejs-polars');
  const d = readData(path);
  const series = new Uint32Array(d.rows);
  const job = new Uint32Array(d.rows);
  const tsec = new Float64Array(d.rows);
  for (let s = 0; s < d.seriesCount; s++) {
    const a = d.offsets[s]!;
    const b = d.offsets[s + 1]!;
    series.fill(s, a, b);
    job.fill(s % 4, a, b); // the data's job label cycles with the series index (lib/data.ts)
    for (let i = a; i < b; i++) tsec[i] = (d.ts[i]! - d.ts[a]!) / 1000;
  }
  const df = pl.DataFrame({
    series: pl.Series('series', Array.from(series), pl.UInt32),
    t: pl.Series('t', tsec, pl.Float64),
    v: pl.Series('v', d.value, pl.Float64),
  });
  const v = pl.col('v');
  const t = pl.col('t');
  const nullInvalid = (f: DF): DF => f.withColumns(pl.when(v.isFinite()).then(v).otherwise(pl.lit(null)).alias('v'));
  const queries: Record<Workload, () => unknown> = {
    default: () => {
      const clean = nullInvalid(df);
      const exprs = [];
      for (const w of [5, 15, 60]) {
        exprs.push(v.rollingMean({ windowSize: w }).over('series').alias(`mean_${w}`));
        exprs.push(v.rollingStd({ windowSize: w }).over('series').alias(`std_${w}`));
        exprs.push(v.rollingQuantile({ quantile: 0.5, interpolation: 'linear', windowSize: w }).over('series').alias(`p50_${w}`));
        exprs.push(v.rollingQuantile({ quantile: 0.95, interpolation: 'linear', windowSize: w }).over('series').alias(`p95_${w}`));
      }
      const mt = t.rollingMean({ windowSize: 60 });
      const mv = v.rollingMean({ windowSize: 60 });
      exprs.push(t.mul(v).rollingMean({ windowSize: 60 }).minus(mt.mul(mv)).divideBy(t.mul(t).rollingMean({ windowSize: 60 }).minus(mt.mul(mt))).over('series').alias('slope_60'));
      exprs.push(v.minus(mv).divideBy(v.rollingStd({ windowSize: 60 })).over('series').alias('zscore_60'));
      return clean.select(pl.col('series'), t, v, ...exprs);
    },
    // validate drops invalid rows, so lags are over the surviving rows: filter, then shift
    lags: () =>
      df.filter(v.isFinite()).select(
        pl.col('series'), t, v,
        ...[1, 5, 60].map((k) => v.shift(k).over('series').alias(`lag_${k}`)),
        ...[1, 60].map((k) => v.diff(k, 'ignore').over('series').alias(`diff_${k}`)),
        v.pctChange(1).over('series').alias('pct_change_1'),
      ),
    calendar: () => {
      const local = pl.col('dt').dt.replaceTimeZone('UTC').dt.convertTimeZone('Europe/Berlin');
      const wd = local.dt.weekday();
      return calFrame.select(
        v,
        local.dt.hour().alias('hour'),
        local.dt.hour().cast(pl.Int32).mul(60).plus(local.dt.minute().cast(pl.Int32)).alias('minute_of_day'),
        wd.alias('day_of_week'),
        local.dt.day().alias('day_of_month'),
        local.dt.month().alias('month'),
        local.dt.week().alias('iso_week'),
        wd.gtEq(6).alias('weekend'),
      );
    },
    correlate: () => {
      const x = nullInvalid(xFrame);
      const y = nullInvalid(yFrame).rename({ v: 'w' });
      const j = x.join(y, { on: ['pair', 't'], how: 'inner' });
      const w = pl.col('w');
      const r = (e: ReturnType<typeof pl.col>) => e.rollingMean({ windowSize: 60 });
      const cov = r(v.mul(w)).minus(r(v).mul(r(w)));
      const vx = r(v.mul(v)).minus(r(v).mul(r(v)));
      const vy = r(w.mul(w)).minus(r(w).mul(r(w)));
      return j.select(
        pl.col('pair'), t, v,
        cov.divideBy(vx.mul(vy).pow(0.5)).over('pair').alias('xy_corr_60'),
        cov.mul(60 / 59).over('pair').alias('xy_cov_60'),
      );
    },
    group: () => {
      const clean = nullInvalid(groupFrame);
      const m = v.mean().over('job', 't');
      return clean.select(
        pl.col('series'), t, v,
        v.minus(m).alias('group_dev'),
        v.minus(m).divideBy(v.std().over('job', 't')).alias('group_z'),
        v.count().over('job', 't').alias('group_size'),
      );
    },
  };
  // frames each workload needs, built untimed
  const calFrame: DF = workload === 'calendar' ? pl.DataFrame({ v: pl.Series('v', d.value, pl.Float64), dt: pl.Series('dt', Array.from(d.ts, (x) => new Date(x)), pl.Datetime('ms')) }) : df;
  const half = (odd: number): DF => {
    const rows = Array.from({ length: d.rows }, (_, i) => i).filter((i) => series[i]! % 2 === odd);
    return pl.DataFrame({
      pair: pl.Series('pair', rows.map((i) => series[i]! >> 1), pl.UInt32),
      t: pl.Series('t', rows.map((i) => tsec[i]!), pl.Float64),
      v: pl.Series('v', rows.map((i) => d.value[i]!), pl.Float64),
    });
  };
  const xFrame: DF = workload === 'correlate' ? half(0) : df;
  const yFrame: DF = workload === 'correlate' ? half(1) : df;
  const groupFrame: DF = workload === 'group' ? df.withColumns(pl.Series('job', Array.from(job), pl.UInt32)) : df;
  return timeRuns(queries[workload], { runs, warmup: 1 });
}

function polarsInChild(path: string, workload: Workload, runs: number): number[] {
  const self = fileURLToPath(import.meta.url);
  const r = spawnSync(process.execPath, [...process.execArgv, self, CHILD_FLAG, path, workload, String(runs)], {
    env: { ...process.env, POLARS_MAX_THREADS: '1' },
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  if (r.status !== 0) throw new Error(`polars child failed (exit ${r.status}): ${r.stderr.slice(-2000)}`);
  const line = r.stdout.trim().split('\n').pop()!;
  return JSON.parse(line) as number[];
}

export const scenario: Scenario = {
  name: 'features-polars',
  quick: true,
  async run(options): Promise<ScenarioResult> {
    const { quick, runs } = options;
    const spec = quick ? { series: 300, samplesPerSeries: 2000, seed: 42 } : { series: 1000, samplesPerSeries: 2000, seed: 42 };
    const path = dataFile(dataDir(), spec);
    const d = readData(path);
    const polarsMs = polarsInChild(path, 'default', runs);
    const oursMs = ourRuns(d, CHAINS.default, runs);
    const base = baselineFigure('nodejs-polars (1 thread)', perSecond(d.rows, polarsMs), 'samples/s');
    const ours = comparedFigure('promflux kernels (1 core)', perSecond(d.rows, oursMs), 'samples/s', base, { target: 2 });
    const figures = [base, ours];
    const extra: [Workload, string][] = [
      ['lags', 'lags: lag 1/5/60, diff 1/60, pct_change 1 (after validate)'],
      ['calendar', 'calendar: 7 fields, Europe/Berlin'],
      ['correlate', 'correlate: rolling corr + cov, 60 rows, per pair'],
      ['group', 'group: deviation, z-score, size by job'],
    ];
    for (const [w, what] of extra) {
      options.log?.(`features-polars: ${w}`);
      const data = w === 'correlate' ? pairOf(d) : d;
      // correlate: both sides take ~0.1 s a run, so one burst of load on the shared machine moved
      // whichever side it hit (1.55×–2.7× between runs); rounds interleave the two sides
      const rounds = w === 'correlate' ? INTERLEAVED_ROUNDS : 1;
      const polarsMs: number[] = [];
      const oursMs: number[] = [];
      for (let k = 0; k < rounds; k++) {
        polarsMs.push(...polarsInChild(path, w, runs));
        oursMs.push(...ourRuns(data, CHAINS[w], runs));
      }
      const pb = baselineFigure(`nodejs-polars: ${what}`, perSecond(d.rows, polarsMs), 'samples/s');
      figures.push(pb, comparedFigure(`promflux: ${what}`, perSecond(d.rows, oursMs), 'samples/s', pb, { target: 2 }));
    }
    const fft = fftRuns(d, quick ? 60 : 200, runs);
    const fb = baselineFigure('plain JS radix-2 FFT, 64 points', perSecond(fft.windows, fft.radix2), 'windows/s');
    figures.push(fb, comparedFigure('fft.js (spectral kernel), 64 points', perSecond(fft.windows, fft.fftjs), 'windows/s', fb, { note: 'no target: says whether fft.js beats the plain loop it replaced' }));
    return {
      name: 'features-polars',
      title: 'Feature kernels vs nodejs-polars, one core',
      method:
        `${d.seriesCount} series × ${d.rows / d.seriesCount} samples (seed ${spec.seed}, NaN/±Inf/stale included), same file both sides. ` +
        'Default set — promflux: validate + rolling mean/std/p50/p95 over 5/15/60 + slope/z-score over 60, in-process over one batch; ' +
        'Polars: the same 14 columns via rolling expressions over(series), invalid values nulled first. ' +
        'ML rows — lags: Polars filters invalid rows then shift/diff/pct_change over(series); calendar: dt accessors after replace/convert_time_zone; ' +
        `correlate: series 2k/2k+1 paired (label pair), Polars inner-joins on (pair, t) then rolling means of x, y, xy, x², y² over(pair); the two sides alternate in ${INTERLEAVED_ROUNDS} rounds of runs each (medians over all); ` +
        'group: Polars mean/std/count over(job, t). Polars: POLARS_MAX_THREADS=1, in a child process per workload. Only the computation is timed. ' +
        `FFT: every 64-row window of ${quick ? 60 : 200} series, mean removed, one real FFT and the power sum; fft.js realTransform vs benchmarks/lib/radix2.ts, same loop.`,
      figures,
      notes: [
        'Polars computes slope from rolling means of t·v, t, v and t² (O(1) per row); promflux computes it with an exact per-window scan so results are bit-identical whatever the batch split.',
        'Polars has no rolling correlation expression: its corr/cov come from O(1) rolling means of products (cancellation-prone at large offsets); promflux is O(1) per row too, by split-window co-moments anchored at a data-determined row (corr within 1e-10 of the exact value at 1e12 offsets in tests, split-invariant).',
        'Figures were taken while other helpers ran on the same machine (2 vCPU, 24 GiB, Node 20).',
      ],
    };
  },
};

export default scenario;

if (process.argv[2] === CHILD_FLAG) {
  const ms = polarsRuns(process.argv[3]!, process.argv[4] as Workload, Number(process.argv[5] ?? 5));
  process.stdout.write(JSON.stringify(ms) + '\n');
}
