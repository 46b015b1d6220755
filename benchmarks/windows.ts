/**
 * Long windows (issue #13): the rolling kernel's cost per row must not grow with the window.
 * w ∈ {5, 60, 1440, 5760, 1h, 1d} (quick: 60 and 5760) × stat groups (mean/std, min/max,
 * p50/p95, slope+zscore, ewma), promflux on one core vs nodejs-polars on one thread, same data
 * file (100 series × 20,000 samples at 15 s, the shape users run). Targets, ratios from one run:
 *  - promflux ≥ 2× Polars for every group at every window;
 *  - promflux's time per row at w = 5760 and 1d ≤ 1.3× its time per row at w = 60;
 *  - mean/std and min/max ≥ 0.8× the native O(1) sliding algorithms (sliding Welford, monotonic
 *    deques: native-bench `--o1-windows`) at every window — the physical limit of an O(1) loop.
 * Native O(w) rescans (what promflux did before) are timed as a diagnostic in full mode.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { compileTransforms, type TransformSpec } from '../src/transform/registry.js';
import { dataFile, readData, toBatch } from './lib/data.js';
import { baselineFigure, comparedFigure, perSecond, timeRuns } from './lib/figures.js';
import { runNative } from './lib/native.js';
import { dataDir } from './lib/paths.js';
import type { Figure, Scenario, ScenarioResult } from './lib/scenario.js';
import { timeJsGroup } from './kernels-native.js';

const CHILD_FLAG = '--polars-windows-child';
const STEP_MS = 15_000;

export interface WindowCase {
  /** Label as in promflux config: a sample count or a duration. */
  label: string;
  samples: number;
  ms: number;
}

export const ALL_WINDOWS: WindowCase[] = [
  { label: '5', samples: 5, ms: 0 },
  { label: '60', samples: 60, ms: 0 },
  { label: '1440', samples: 1440, ms: 0 },
  { label: '5760', samples: 5760, ms: 0 },
  { label: '1h', samples: 0, ms: 3_600_000 },
  { label: '1d', samples: 0, ms: 86_400_000 },
];
const QUICK_WINDOWS = ['60', '5760'];

export const STAT_GROUPS = [
  { name: 'mean/std', stats: ['mean', 'std'] },
  { name: 'min/max', stats: ['min', 'max'] },
  { name: 'p50/p95', stats: ['p50', 'p95'] },
  { name: 'slope+zscore', stats: ['slope', 'zscore'] },
  { name: 'ewma', stats: ['ewma'] },
] as const;

/** EWMA smoothing for a window: 2 / (w + 1), w in samples (a time window's length in 15 s steps). */
function alphaOf(w: WindowCase): number {
  return 2 / ((w.samples > 0 ? w.samples : w.ms / STEP_MS) + 1);
}

function specFor(w: WindowCase, stats: readonly string[]): TransformSpec[] {
  const win = w.samples > 0 ? w.samples : w.label;
  return [{ kind: 'rolling', windows: [win], stats: [...stats], minPeriods: 1, ...(stats.includes('ewma') ? { alpha: alphaOf(w) } : {}) }];
}

interface Case {
  w: WindowCase;
  group: (typeof STAT_GROUPS)[number];
}

/** The Polars side, in the child (POLARS_MAX_THREADS=1 set before the pool starts). */
function polarsRuns(path: string, cases: Case[], runs: number, warmup: number): number[][] {
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
    ts: pl.Series('ts', Array.from(d.ts, (x) => new Date(x)), pl.Datetime('ms')),
    t: pl.Series('t', tsec, pl.Float64),
    v: pl.Series('v', d.value, pl.Float64),
  });
  const v = pl.col('v');
  const t = pl.col('t');
  const query = (c: Case): (() => unknown) => {
    const { w, group } = c;
    const clean = (): ReturnType<typeof df.withColumns> => df.withColumns(pl.when(v.isFinite()).then(v).otherwise(pl.lit(null)).alias('v'));
    if (group.name === 'ewma') {
      // Polars has no finite-window EWMA: its infinite-memory ewm_mean (O(1) recursion) stands in
      return () => clean().select(pl.col('series'), v.ewmMean({ alpha: alphaOf(w), adjust: true }).over('series').alias('ewma'));
    }
    if (w.samples > 0) {
      const ws = { windowSize: w.samples, minPeriods: 1 };
      const exprs =
        group.name === 'mean/std' ? [v.rollingMean(ws), v.rollingStd(ws)]
        : group.name === 'min/max' ? [v.rollingMin(ws), v.rollingMax(ws)]
        : group.name === 'p50/p95' ? [0.5, 0.95].map((q) => v.rollingQuantile({ quantile: q, interpolation: 'linear', ...ws }))
        : (() => {
            const mt = t.rollingMean(ws);
            const mv = v.rollingMean(ws);
            return [t.mul(v).rollingMean(ws).minus(mt.mul(mv)).divideBy(t.mul(t).rollingMean(ws).minus(mt.mul(mt))), v.minus(mv).divideBy(v.rollingStd(ws))];
          })();
      return () => clean().select(pl.col('series'), ...exprs.map((e, k) => e.over('series').alias(`o${k}`)));
    }
    // time windows: Polars' rolling group-by on the timestamp, closed right, per series
    const aggs: ReturnType<typeof v.mean>[] =
      group.name === 'mean/std' ? [v.mean(), v.std()]
      : group.name === 'min/max' ? [v.min(), v.max()]
      : group.name === 'p50/p95' ? [v.quantile(0.5, 'linear'), v.quantile(0.95, 'linear')]
      : [t.mul(v).mean().minus(t.mean().mul(v.mean())).divideBy(t.mul(t).mean().minus(t.mean().mul(t.mean()))), v.last().minus(v.mean()).divideBy(v.std())];
    return () =>
      clean()
        .groupByRolling({ indexColumn: 'ts', by: 'series', period: w.label, closed: 'right' })
        .agg(aggs[0]!.alias('o0'), ...aggs.slice(1).map((e, k) => e.alias(`o${k + 1}`)));
  };
  return cases.map((c) => timeRuns(query(c), { runs, warmup }));
}

function polarsInChild(path: string, cases: Case[], runs: number, warmup: number): number[][] {
  const self = fileURLToPath(import.meta.url);
  const arg = JSON.stringify(cases.map((c) => ({ w: c.w.label, g: c.group.name })));
  const r = spawnSync(process.execPath, [...process.execArgv, self, CHILD_FLAG, path, arg, String(runs), String(warmup)], {
    env: { ...process.env, POLARS_MAX_THREADS: '1' },
    encoding: 'utf8',
    maxBuffer: 1 << 22,
  });
  if (r.status !== 0) throw new Error(`polars child failed (exit ${r.status}): ${r.stderr.slice(-2000)}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as number[][];
}

/** Native window label: sample count, or seconds with an "s". */
const nativeLabel = (w: WindowCase): string => (w.samples > 0 ? String(w.samples) : `${w.ms / 1000}s`);

export const scenario: Scenario = {
  name: 'windows',
  quick: true,
  async run({ quick, runs, log }): Promise<ScenarioResult> {
    const spec = { series: 100, samplesPerSeries: 20_000, seed: 42 };
    const path = dataFile(dataDir(), spec);
    const d = readData(path);
    const windows = quick ? ALL_WINDOWS.filter((w) => QUICK_WINDOWS.includes(w.label)) : ALL_WINDOWS;
    const cases: Case[] = windows.flatMap((w) => STAT_GROUPS.map((group) => ({ w, group })));
    const desc = toBatch(d);
    const pre = compileTransforms([{ kind: 'validate' }]);
    const kernels = cases.map((c) => compileTransforms(specFor(c.w, c.group.stats)));
    const ours = cases.map(() => [] as number[]);
    const polars = cases.map(() => [] as number[]);
    const nativeMs = new Map<string, number[]>();
    const notes: string[] = [];
    // Rounds: native, Polars and promflux each run every case once per round, so background load
    // on a shared machine falls on all three alike.
    for (let r = 0; r < runs; r++) {
      const warmup = r === 0 ? 1 : 0;
      const n = runNative(path, { runs: 1, minPeriods: 1, o1Windows: windows.map(nativeLabel), ow: !quick });
      for (const k of n.kernels) (nativeMs.get(k.name) ?? nativeMs.set(k.name, []).get(k.name)!).push(...k.ms);
      polarsInChild(path, cases, 1, warmup).forEach((ms, k) => polars[k]!.push(...ms));
      cases.forEach((_, k) => ours[k]!.push(...timeJsGroup(d, desc, kernels[k]!, pre, 1, warmup)));
      log?.(`round ${r + 1}/${runs} done`);
    }
    const figures: Figure[] = [];
    const perRow = new Map<string, Figure>(); // group@window → promflux ns per row
    cases.forEach((c, k) => {
      const base = baselineFigure(`nodejs-polars: ${c.group.name} w=${c.w.label}`, perSecond(d.rows, polars[k]!), 'samples/s');
      if (c.group.name === 'ewma') base.note = 'infinite-memory ewm_mean (Polars has no finite-window EWMA)';
      figures.push(base);
      figures.push(comparedFigure(`promflux: ${c.group.name} w=${c.w.label}`, perSecond(d.rows, ours[k]!), 'samples/s', base, { target: 2 }));
      perRow.set(`${c.group.name}@${c.w.label}`, baselineFigure(`promflux ns/row: ${c.group.name} w=${c.w.label}`, ours[k]!.map((ms) => (ms * 1e6) / d.rows), 'ns/row'));
    });
    // growth of the per-row cost with the window
    for (const g of STAT_GROUPS) {
      const at60 = perRow.get(`${g.name}@60`);
      if (!at60) continue;
      for (const wl of ['5760', '1d']) {
        const f = perRow.get(`${g.name}@${wl}`);
        if (!f) continue;
        if (!figures.includes(at60)) figures.push(at60);
        figures.push(comparedFigure(f.label, f.samples!, 'ns/row', at60, { target: 1.3, lowerIsBetter: true, note: 'ratio = ns/row at this window ÷ ns/row at w=60' }));
      }
    }
    // native O(1) physical limits
    for (const w of windows) {
      for (const [g, nat] of [['mean/std', 'o1_mean_std'], ['min/max', 'o1_min_max']] as const) {
        const ms = nativeMs.get(`${nat}_${nativeLabel(w)}`);
        if (!ms) throw new Error(`promflux-native printed no ${nat}_${nativeLabel(w)} timing (rebuild native-bench?)`);
        const base = baselineFigure(`native O(1): ${g} w=${w.label}`, perSecond(d.rows, ms), 'samples/s', g === 'mean/std' ? 'sliding Welford add/remove' : 'monotonic deques');
        figures.push(base);
        const k = cases.findIndex((c) => c.w === w && c.group.name === g);
        figures.push(comparedFigure(`promflux vs native O(1): ${g} w=${w.label}`, perSecond(d.rows, ours[k]!), 'samples/s', base, { target: 0.8 }));
      }
      const ow = nativeMs.get(`ow_mean_std_${nativeLabel(w)}`);
      if (ow) {
        const f = baselineFigure(`native O(w) rescan (diagnostic): mean/std w=${w.label}`, perSecond(d.rows, ow), 'samples/s');
        f.note = "the O(w) per-row rescan promflux used before; no target";
        figures.push(f);
      }
    }
    if (!quick) notes.push('native O(w) rows: sample windows only (the old rescan was never implemented natively for time windows)');
    return {
      name: 'windows',
      title: 'Long windows: per-row cost vs window length, promflux vs nodejs-polars and native O(1), one core each',
      method:
        `${d.seriesCount} series × ${d.rows / d.seriesCount} samples at 15 s (seed ${spec.seed}, NaN/±Inf/stale included), one file for all three. ` +
        'promflux: one `rolling` kernel per (window, stat group), in-process over one batch, validate run untimed first. ' +
        'min_periods 1 on all three sides: with the default (= the window) a 5760-row window holding one of the ~8 invalid ' +
        'samples it sees on average has no value, and a benchmark of NaN outputs would flatter. ' +
        'nodejs-polars: POLARS_MAX_THREADS=1 in a child process, invalid values nulled (timed), sample windows as rolling_* over(series), ' +
        'time windows as group_by_rolling(ts, by=series, period, closed=right) with the same aggregations; slope from rolling means of ' +
        't·v, t, v, t²; EWMA: Polars ewm_mean (infinite memory; promflux computes the finite window). Native: g++ -O3 -march=native, ' +
        'textbook sliding Welford and monotonic deques over the same windows (not batch-invariant). Rounds interleave the three sides. ' +
        `Windows: ${windows.map((w) => w.label).join(', ')}.`,
      figures,
      notes,
    };
  },
};

export default scenario;

if (process.argv[2] === CHILD_FLAG) {
  const list = JSON.parse(process.argv[4]!) as { w: string; g: string }[];
  const cases = list.map(({ w, g }) => ({ w: ALL_WINDOWS.find((x) => x.label === w)!, group: STAT_GROUPS.find((x) => x.name === g)! }));
  const ms = polarsRuns(process.argv[3]!, cases, Number(process.argv[5] ?? 1), Number(process.argv[6] ?? 1));
  process.stdout.write(JSON.stringify(ms) + '\n');
}
