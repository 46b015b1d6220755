/**
 * Series slices (docs/ARCHITECTURE.md#series-slices): a raw-mode query whose windows need a long
 * halo is planned as several *slices*, each a subset of its series with its own chain of chunks.
 *
 * Why: the halo a batch carries is per series (`H` rows each), so what keeps it a small share is
 * rows per **series** per batch, not rows per batch. Cutting a query only in time makes every
 * batch carry the halo of every series: with 8 series, a 1 d window at 15 s (5760 halo rows per
 * series) and a 5 d window, a batch large enough for a 10 % halo share is the whole window, i.e.
 * one or two batches for the run (no parallelism, no overlap of extraction and compute). Fewer
 * series per batch, each with a long run, keeps the halo share and gives every worker batches.
 *
 * How a slice selects its series: one extra matcher on one label (the one with the most distinct
 * values among the query's series at open): slice k takes `label=~"v1|v2|…"`, a contiguous bucket
 * of the sorted values; the last slice takes `label!~"<every value of the other slices>"`, so the
 * slices partition the series exactly whatever series appear later (a series without the label
 * has value "" and lands in the bucket holding "", or in the last slice). Results do not depend on
 * it: a series' rows and halo are the same in whatever batch it lands (the engine's invariance),
 * and each slice's chunks hand off their tails along the slice's own chain.
 */
import type { LabelMatcher } from './selector.js';

/** Batches per worker to aim for when the whole plan is known up front (backfill). */
export const BATCHES_PER_WORKER = 3;
/** Most slices per query (each is one request per chunk). */
export const MAX_SLICES = 64;

/** RE2 (Prometheus' regex engine) literal: every metacharacter escaped. */
export function reLiteral(s: string): string {
  return s.replace(/[\\.+*?()|[\]{}^$]/g, '\\$&');
}

/**
 * Up to `want` matchers partitioning `series` (label sets from /api/v1/series) into buckets of
 * about equal series counts, or null when no label has two distinct values. Deterministic: the
 * same series give the same matchers.
 */
export function sliceMatchers(series: readonly Record<string, string>[], want: number): { matchers: LabelMatcher[]; counts: number[] } | null {
  if (want < 2 || series.length < 2) return null;
  const names = [...new Set(series.flatMap((s) => Object.keys(s)))].sort();
  let best: { name: string; values: Map<string, number> } | undefined;
  for (const name of names) {
    const values = new Map<string, number>();
    for (const s of series) {
      const v = s[name] ?? '';
      values.set(v, (values.get(v) ?? 0) + 1);
    }
    if (values.size > 1 && (!best || values.size > best.values.size)) best = { name, values };
  }
  if (!best) return null;
  const sorted = [...best.values.keys()].sort();
  const k = Math.min(want, sorted.length);
  // contiguous buckets of sorted values, cut where the running series count passes i/k of the total
  const buckets: string[][] = [];
  let acc = 0;
  let cur: string[] = [];
  for (const v of sorted) {
    cur.push(v);
    acc += best.values.get(v)!;
    if (buckets.length < k - 1 && acc >= ((buckets.length + 1) * series.length) / k) {
      buckets.push(cur);
      cur = [];
    }
  }
  if (cur.length > 0) buckets.push(cur);
  if (buckets.length < 2) return null;
  const alt = (vs: readonly string[]) => vs.map(reLiteral).join('|');
  const head = buckets.slice(0, -1);
  const matchers: LabelMatcher[] = head.map((vs) => ({ type: '=~', name: best.name, value: alt(vs) }));
  matchers.push({ type: '!~', name: best.name, value: alt(head.flat()) });
  const counts = buckets.map((vs) => vs.reduce((n, v) => n + best.values.get(v)!, 0));
  return { matchers, counts };
}

/** Fewest rows (halo included) a slice should bring per batch: smaller jobs are not worth more requests. */
export const MIN_SLICE_ROWS = 8192;

/**
 * How many slices a query of `series` series wants (1 = none). Only a query with a halo is sliced,
 * and only when cutting it in time alone gives fewer than BATCHES_PER_WORKER batches per worker
 * (`chunksFor(seriesPerSlice)`: the time chunks one slice of that many series is cut into; the
 * planner already makes each chunk's runs ≥ 9× the halo where it can). Then slices are added until
 * every worker gets that many batches, while each slice keeps at least MIN_SLICE_ROWS rows
 * (`totalRows`: the query's rows, halo included).
 */
export function sliceCount(series: number, haloRows: number, totalRows: number, workers: number, chunksFor: (seriesPerSlice: number) => number): number {
  if (series < 2 || haloRows <= 0) return 1;
  const want = BATCHES_PER_WORKER * Math.max(1, workers);
  const most = Math.min(series, MAX_SLICES, Math.floor(totalRows / MIN_SLICE_ROWS));
  let g = 1;
  while (g < most && g * chunksFor(Math.ceil(series / g)) < want) g++;
  return g;
}
