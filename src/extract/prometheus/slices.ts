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
 * How a slice selects its series: extra matchers on labels of the query's series at open. The
 * label with the most distinct values is cut into contiguous buckets of its sorted values: bucket
 * k takes `label=~"v1|v2|…"`, the last one `label!~"<every value of the other buckets>"`, so the
 * buckets partition the series exactly whatever series appear later (a series without the label
 * has value "" and lands in the bucket holding "", or in the last one). When that label has too
 * few values, each bucket is cut the same way by the next label; still an exact partition. Results do not depend on
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

/** Series slices: the extra matchers of each slice and how many of the known series it holds. */
export interface SlicePlan {
  matchers: LabelMatcher[][];
  counts: number[];
}

/**
 * Up to `want` slices partitioning `series` (label sets from /api/v1/series) into parts of about
 * equal series counts, or null when no label has two distinct values. The label with the most
 * distinct values cuts first; when it has fewer values than `want`, each of its parts is cut again
 * by the next label (so `instance` × `cpu` gives 8 slices of 8 series). Deterministic: the same
 * series give the same slices.
 */
export function sliceMatchers(series: readonly Record<string, string>[], want: number): SlicePlan | null {
  const plan = split(series, want, new Set());
  return plan.matchers.length > 1 ? plan : null;
}

function split(series: readonly Record<string, string>[], want: number, used: ReadonlySet<string>): SlicePlan {
  const whole: SlicePlan = { matchers: [[]], counts: [series.length] };
  if (want < 2 || series.length < 2) return whole;
  let best: { name: string; values: Map<string, number> } | undefined;
  for (const name of [...new Set(series.flatMap((s) => Object.keys(s)))].sort()) {
    if (used.has(name)) continue;
    const values = new Map<string, number>();
    for (const s of series) values.set(s[name] ?? '', (values.get(s[name] ?? '') ?? 0) + 1);
    if (values.size > 1 && (!best || values.size > best.values.size)) best = { name, values };
  }
  if (!best) return whole;
  const { name, values } = best;
  const buckets = bucketize([...values.keys()].sort(), values, Math.min(want, values.size), series.length);
  if (buckets.length < 2) return whole; // (bucketize gives k ≥ 2 buckets; kept as a guard: one bucket's `!~ ""` would drop series)
  const alt = (vs: readonly string[]) => vs.map(reLiteral).join('|');
  const head = buckets.slice(0, -1);
  const own: LabelMatcher[] = head.map((vs) => ({ type: '=~', name, value: alt(vs) }));
  own.push({ type: '!~', name, value: alt(head.flat()) });
  const out: SlicePlan = { matchers: [], counts: [] };
  const next = new Set([...used, name]);
  const per = Math.ceil(want / buckets.length);
  buckets.forEach((vs, i) => {
    const inside = new Set(vs);
    const sub = split(series.filter((s) => inside.has(s[name] ?? '')), per, next);
    sub.matchers.forEach((ms, j) => {
      out.matchers.push([own[i]!, ...ms]);
      out.counts.push(sub.counts[j]!);
    });
  });
  return out;
}

/**
 * Exactly k (≤ sorted.length) non-empty contiguous buckets of sorted values, cut where the running
 * series count passes i/k of the total, or earlier when the values left are just enough for the
 * buckets left.
 */
function bucketize(sorted: readonly string[], counts: ReadonlyMap<string, number>, k: number, total: number): string[][] {
  const buckets: string[][] = [];
  let acc = 0;
  let cur: string[] = [];
  for (let i = 0; i < sorted.length; i++) {
    const v = sorted[i]!;
    cur.push(v);
    acc += counts.get(v)!;
    const left = sorted.length - 1 - i;
    if (buckets.length < k - 1 && (acc >= ((buckets.length + 1) * total) / k || left <= k - 1 - buckets.length)) {
      buckets.push(cur);
      cur = [];
    }
  }
  if (cur.length > 0) buckets.push(cur);
  return buckets;
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
