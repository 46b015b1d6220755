/**
 * Per-series facts kernels need (metric name, counter-ness, label signatures). Computed per run —
 * per series per batch — never per sample.
 */
import { parseSeriesKey, SeriesKind } from '../../batch/layout.js';

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
