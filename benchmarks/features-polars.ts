/**
 * The default feature set (validate + rolling mean/std/p50/p95 over 5/15/60 + slope/z-score over
 * 60) through the promflux kernels in-process on one core, vs nodejs-polars computing the same
 * features (group by series + rolling expressions) with POLARS_MAX_THREADS=1. Target >= 2x.
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
import { BatchContext } from '../src/transform/context.js';
import { defaultFeatureSet } from '../src/transform/kernels/index.js';
import { compileTransforms } from '../src/transform/registry.js';
import { dataFile, readData, resetBatch, toBatch, viewBatch, type BenchData } from './lib/data.js';
import { baselineFigure, comparedFigure, perSecond, timeRuns } from './lib/figures.js';
import { dataDir } from './lib/paths.js';
import type { Scenario, ScenarioResult } from './lib/scenario.js';

const CHILD_FLAG = '--polars-child';

function ourRuns(d: BenchData, runs: number): number[] {
  const kernels = compileTransforms(defaultFeatureSet());
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

/** Runs in the child: POLARS_MAX_THREADS is already in its environment. Prints JSON ms per run. */
function polarsRuns(path: string, runs: number): number[] {
  const require = createRequire(import.meta.url);
  const pl = require('nodejs-polars') as typeof import('nodejs-polars');
  const d = readData(path);
  const series = new Uint32Array(d.rows);
  const tsec = new Float64Array(d.rows);
  for (let s = 0; s < d.seriesCount; s++) {
    const a = d.offsets[s]!;
    const b = d.offsets[s + 1]!;
    series.fill(s, a, b);
    for (let i = a; i < b; i++) tsec[i] = (d.ts[i]! - d.ts[a]!) / 1000;
  }
  const df = pl.DataFrame({
    series: pl.Series('series', Array.from(series), pl.UInt32),
    t: pl.Series('t', tsec, pl.Float64),
    v: pl.Series('v', d.value, pl.Float64),
  });
  const v = pl.col('v');
  const t = pl.col('t');
  const query = (): unknown => {
    const clean = df.withColumns(pl.when(v.isFinite()).then(v).otherwise(pl.lit(null)).alias('v'));
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
  };
  return timeRuns(query, { runs, warmup: 1 });
}

function polarsInChild(path: string, runs: number): number[] {
  const self = fileURLToPath(import.meta.url);
  const r = spawnSync(process.execPath, [...process.execArgv, self, CHILD_FLAG, path, String(runs)], {
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
  async run({ quick, runs }): Promise<ScenarioResult> {
    const spec = quick ? { series: 300, samplesPerSeries: 2000, seed: 42 } : { series: 1000, samplesPerSeries: 2000, seed: 42 };
    const path = dataFile(dataDir(), spec);
    const d = readData(path);
    const polarsMs = polarsInChild(path, runs);
    const oursMs = ourRuns(d, runs);
    const base = baselineFigure('nodejs-polars (1 thread)', perSecond(d.rows, polarsMs), 'samples/s');
    const ours = comparedFigure('promflux kernels (1 core)', perSecond(d.rows, oursMs), 'samples/s', base, { target: 2 });
    return {
      name: 'features-polars',
      title: 'Default feature set: promflux kernels vs nodejs-polars, one core',
      method:
        `${d.seriesCount} series × ${d.rows / d.seriesCount} samples (seed ${spec.seed}, NaN/±Inf/stale included), same file both sides. ` +
        'promflux: validate + rolling mean/std/p50/p95 over 5/15/60 + slope/z-score over 60, in-process over one batch. ' +
        'Polars: the same 14 columns via rolling expressions over(series), POLARS_MAX_THREADS=1, in a child process; ' +
        'invalid values nulled first. Only the computation is timed.',
      figures: [base, ours],
      notes: [
        'Polars computes slope from rolling means of t·v, t, v and t² (O(1) per row); promflux computes it with an exact per-window scan so results are bit-identical whatever the batch split.',
      ],
    };
  },
};

export default scenario;

if (process.argv[2] === CHILD_FLAG) {
  const ms = polarsRuns(process.argv[3]!, Number(process.argv[4] ?? 5));
  process.stdout.write(JSON.stringify(ms) + '\n');
}
