/**
 * Per-series facts kernels need (metric name, counter-ness, label signatures). Computed per run —
 * per series per batch — never per sample.
 */
import { FLAG_HALO, parseSeriesKey, RUN_STRIDE, SeriesKind } from '../../batch/layout.js';
import type { KernelContext } from '../kernel.js';

/** Metric name of a canonical series key (`name{...}`), without parsing the labels. */
export function metricName(key: string): string {
  const b = key.indexOf('{');
  return b < 0 ? key : key.slice(0, b);
}

/**
 * Whether a series is cumulative (reset-aware rate/increase apply, values must be >= 0).
 * Prometheus metadata is per metric family: a histogram's `_bucket`/`_count`/`_sum` series and a
 * summary's `_count`/`_sum` series are counters; a summary's quantile series are gauges.
 */
export function isCounterLike(kind: number, key: string): boolean {
  if (kind === SeriesKind.counter) return true;
  if (kind === SeriesKind.histogram) return true;
  if (kind === SeriesKind.summary) {
    const n = metricName(key);
    return n.endsWith('_count') || n.endsWith('_sum');
  }
  return false;
}

/**
 * Label signature used to pair series in cross-series rules: the sorted `label=value` pairs that
 * take part (all labels except `__name__`, `ignoring`, or only `on`), joined unambiguously.
 */
export function labelSignature(labels: Readonly<Record<string, string>>, on?: readonly string[], ignoring?: readonly string[]): string {
  const names = on ? [...on].sort() : Object.keys(labels).filter((k) => k !== '__name__' && !(ignoring?.includes(k) ?? false)).sort();
  let s = '';
  for (const n of names) s += JSON.stringify(n) + '=' + JSON.stringify(labels[n] ?? '') + ',';
  return s;
}

export { parseSeriesKey };

/**
 * Count the non-halo rows of run r as `unpaired:<kernel>`: its partner series is not in the batch
 * (e.g. it came from a query the planner could not co-schedule), so its pair features are NaN.
 */
export function countUnpaired(ctx: KernelContext, r: number, kernel: string): void {
  const start = ctx.runs[r * RUN_STRIDE + 1]!;
  const end = start + ctx.runs[r * RUN_STRIDE + 3]!;
  let n = 0;
  let first = -1;
  for (let i = start; i < end; i++) {
    if (ctx.flags[i]! & FLAG_HALO) continue;
    if (first < 0) first = i;
    n++;
  }
  if (n > 0) ctx.count(first, `unpaired:${kernel}`, n);
}
