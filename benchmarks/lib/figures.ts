/** Timing and figure helpers shared by the scenario files. */
import { Bench } from 'tinybench';
import { median, type Figure } from './scenario.js';

/**
 * Time `fn` `runs` times with tinybench (after `warmup` untimed calls); `beforeEach` runs untimed
 * before every call (e.g. to reset columns a kernel rewrites). Returns the duration of each run in ms.
 */
export function timeRuns(fn: () => unknown, opts: { runs: number; warmup?: number; beforeEach?: () => void }): number[] {
  const bench = new Bench({
    iterations: opts.runs,
    time: 0,
    warmup: (opts.warmup ?? 1) > 0,
    warmupIterations: opts.warmup ?? 1,
    warmupTime: 0,
    retainSamples: true,
    throws: true,
  });
  const before = opts.beforeEach;
  bench.add('run', fn, before ? { beforeEach: () => before() } : {});
  const [task] = bench.runSync();
  const r = task!.result;
  if (r.state !== 'completed') {
    throw new Error(`benchmark run did not complete (state ${r.state})`, { cause: 'error' in r ? r.error : undefined });
  }
  const samples = r.latency.samples;
  if (!samples || samples.length === 0) throw new Error('tinybench kept no samples');
  return [...samples];
}

/** Per-run throughput (units per second) from per-run milliseconds. */
export function perSecond(count: number, ms: readonly number[]): number[] {
  return ms.map((m) => (count * 1000) / m);
}

/** A baseline figure: the median of its runs. */
export function baselineFigure(label: string, samples: readonly number[], unit: string, note?: string): Figure {
  return { label, value: median(samples), unit, samples: [...samples], ...(note ? { note } : {}) };
}

/**
 * A figure compared with a baseline measured in the same run. `ratio` = value / baseline (or
 * baseline-relative growth for lower-is-better figures like RSS); `pass` when a target is given.
 */
export function comparedFigure(
  label: string,
  samples: readonly number[],
  unit: string,
  baseline: Figure,
  opts: { target?: number; lowerIsBetter?: boolean; note?: string } = {},
): Figure {
  const value = median(samples);
  const ratio = baseline.value !== 0 ? value / baseline.value : NaN;
  const f: Figure = { label, value, unit, baseline: baseline.label, ratio, samples: [...samples] };
  if (opts.lowerIsBetter) f.lowerIsBetter = true;
  if (opts.target !== undefined) {
    f.target = opts.target;
    f.pass = Number.isFinite(ratio) && (opts.lowerIsBetter ? ratio <= opts.target : ratio >= opts.target);
  }
  if (opts.note) f.note = opts.note;
  return f;
}

/** Human formatting: 12.3M, 456k, 1.23 … with the unit. */
export function formatValue(v: number, unit: string): string {
  if (!Number.isFinite(v)) return String(v);
  if (unit === 'bytes' || unit === 'B') return formatBytes(v);
  const a = Math.abs(v);
  const s =
    a >= 1e9 ? (v / 1e9).toPrecision(3) + 'G'
    : a >= 1e6 ? (v / 1e6).toPrecision(3) + 'M'
    : a >= 1e4 ? (v / 1e3).toPrecision(3) + 'k'
    : a >= 100 ? v.toFixed(0)
    : v.toPrecision(3);
  return unit ? `${s} ${unit}` : s;
}

export function formatBytes(b: number): string {
  if (b >= 2 ** 30) return (b / 2 ** 30).toFixed(2) + ' GiB';
  if (b >= 2 ** 20) return (b / 2 ** 20).toFixed(1) + ' MiB';
  if (b >= 2 ** 10) return (b / 2 ** 10).toFixed(1) + ' KiB';
  return b.toFixed(0) + ' B';
}

export function formatRatio(f: Figure): string {
  if (f.ratio === undefined) return '';
  return Number.isFinite(f.ratio) ? f.ratio.toFixed(2) + '×' : 'n/a';
}

export function formatTarget(f: Figure): string {
  if (f.target === undefined) return '';
  return (f.lowerIsBetter ? '≤ ' : '≥ ') + f.target + '×';
}

export function formatPass(f: Figure): string {
  if (f.pass === undefined) return '';
  return f.pass ? 'PASS' : 'MISS';
}
