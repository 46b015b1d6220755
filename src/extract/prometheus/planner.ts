/**
 * Chunk planner. Splits each query's window [start, end) into chunks whose edges sit on the step
 * grid (multiples of `step` since the epoch, so every run and every mode shares one grid) and
 * whose size obeys Prometheus' limits:
 *   range mode:  points per series (chunk + halo) <= maxPointsPerSeries (11 000 in Prometheus),
 *                series × points <= maxSamplesPerQuery (--query.max-samples);
 *   raw modes:   series × (chunk + lookback) / sampleInterval <= maxSamplesPerQuery.
 * Within those limits a chunk is sized so series × points ≈ targetRows (the engine's adaptive
 * batch size). Chunks tile the window exactly: chunk i ends where chunk i+1 starts.
 *
 * Ids are `<query>:<startMs>-<endMs>`. Because the adaptive size may differ between runs, resuming
 * does not look ids up one by one: completed ids are parsed back into intervals and the planner
 * skips any time already covered (a chunk never straddles a completed interval).
 */
import { alignDown } from './time.js';
import { formatDuration } from '../../util/duration.js';
import { promError, PromErrorCode } from './errors.js';

export interface PlanLimits {
  extraction: 'range' | 'remote-read' | 'range-vector';
  stepMs: number;
  maxPointsPerSeries: number;
  maxSamplesPerQuery: number;
  /** Range mode: evaluation points before each chunk for halo. */
  haloPoints: number;
  /** Raw modes: how far before the chunk to read. */
  lookbackMs: number;
  /** Raw modes: halo rows kept per series (estimate for sizing). */
  haloSamples: number;
  /** Raw modes: halo time kept per series (rows within it are halo too; estimate for sizing). */
  haloMs?: number;
  /**
   * Adaptive batching (the engine's size is not fixed): chunks' runs are at least 9× the halo
   * per series where HALO_FLOOR_MAX_ROWS allows (haloFloorRows), from the first chunk on.
   */
  haloFloor?: boolean;
  sampleIntervalMs: number;
  /** Trailing context after each chunk (kernels' look-ahead), ms; 0 when none is needed. */
  lookaheadMs?: number;
  maxChunkMs: number | undefined;
  shard: { index: number; count: number; blockMs: number } | undefined;
}

export interface QueryState {
  name: string;
  expr: string;
  /** Estimated series count (from /api/v1/series), >= 1. */
  series: number;
  /** Next chunk starts here (step-aligned). */
  cursor: number;
  /** Planned window end (exclusive, step-aligned); grows in stream mode. */
  end: number;
  /** Completed intervals (sorted, merged) to skip. */
  done: Array<[number, number]>;
  /** Series slice (slices.ts): the configured query this state is a slice of (metrics, messages use it). */
  parent?: string;
}

export interface PlannedChunk {
  id: string;
  query: QueryState;
  /** Non-halo range [startMs, endMs). */
  startMs: number;
  endMs: number;
  /** What to ask Prometheus for (range: first and last evaluation times; raw: inclusive ms range). */
  fetchStartMs: number;
  fetchEndMs: number;
  estRows: number;
  estSamples: number;
}

export function chunkId(query: string, startMs: number, endMs: number): string {
  return `${query}:${startMs}-${endMs}`;
}

const ID_RE = /^(.+):(-?\d+)-(-?\d+)$/;

/** Completed ids → per-query merged intervals. Unparseable ids are ignored (other sources' ids). */
export function completedIntervals(ids: Iterable<string>): Map<string, Array<[number, number]>> {
  const by = new Map<string, Array<[number, number]>>();
  for (const id of ids) {
    const m = ID_RE.exec(id);
    if (!m) continue;
    const s = Number(m[2]);
    const e = Number(m[3]);
    if (!(e > s)) continue;
    let arr = by.get(m[1]!);
    if (!arr) by.set(m[1]!, (arr = []));
    arr.push([s, e]);
  }
  for (const [k, arr] of by) {
    arr.sort((a, b) => a[0] - b[0]);
    const merged: Array<[number, number]> = [];
    for (const iv of arr) {
      const last = merged[merged.length - 1];
      if (last && iv[0] <= last[1]) last[1] = Math.max(last[1], iv[1]);
      else merged.push([iv[0], iv[1]]);
    }
    by.set(k, merged);
  }
  return by;
}

/** FNV-1a 32-bit: stable across processes and Node versions (unlike any built-in hash). */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Shard owning the block that starts at blockStart for a query. */
export function shardOf(query: string, blockStart: number, count: number): number {
  return fnv1a(`${query}@${blockStart}`) % count;
}

/** Largest chunk (rows, halo included) the halo floor alone may ask for. */
export const HALO_FLOOR_MAX_ROWS = 262_144;

/** Halo rows per series a chunk carries (estimate: range points, or raw rows kept). */
export function haloRowsPerSeries(L: PlanLimits): number {
  return L.extraction === 'range' ? L.haloPoints : L.haloSamples + Math.ceil((L.haloMs ?? 0) / L.sampleIntervalMs);
}

/**
 * Own rows per series below which a chunk's halo would be more than 10 % of its rows (9 × halo),
 * bounded so the chunk stays within HALO_FLOOR_MAX_ROWS; 0 when the floor is off or there is no
 * halo. The adaptive sizer applies the same floor once it has seen a batch
 * (src/pipeline/adaptive.ts); this one holds from the first chunk, when the halo is known.
 */
export function haloFloorRows(series: number, L: PlanLimits): number {
  const h = haloRowsPerSeries(L);
  if (!L.haloFloor || h <= 0) return 0;
  return Math.max(0, Math.min(9 * h, Math.floor(HALO_FLOOR_MAX_ROWS / Math.max(1, series)) - h));
}

/** Non-halo chunk duration (ms, a positive multiple of step) for a query under the limits. */
export function chunkDuration(q: QueryState, targetRows: number, L: PlanLimits): number {
  const step = L.stepMs;
  const S = Math.max(1, q.series);
  let ms: number;
  if (L.extraction === 'range') {
    const pointsCap = L.maxPointsPerSeries - L.haloPoints - Math.ceil((L.lookaheadMs ?? 0) / L.stepMs);
    if (pointsCap < 1) {
      throw promError(
        PromErrorCode.limits,
        `query "${q.name}": the halo needs ${L.haloPoints} points per series, leaving none of the ${L.maxPointsPerSeries}-point limit for data; use a larger step or a smaller halo`,
      );
    }
    const budget = Math.floor(L.maxSamplesPerQuery / S) - L.haloPoints;
    if (budget < 1) {
      throw promError(
        PromErrorCode.limits,
        `query "${q.name}": ~${S} series × ${L.haloPoints + 1} points exceeds maxSamplesPerQuery (${L.maxSamplesPerQuery}); narrow the selector or split the query (e.g. by a label)`,
      );
    }
    const target = Math.max(1, Math.floor(targetRows / S) - L.haloPoints, haloFloorRows(S, L));
    ms = Math.min(pointsCap, budget, target) * step;
  } else {
    const iv = L.sampleIntervalMs;
    const budgetMs = (L.maxSamplesPerQuery / S) * iv - L.lookbackMs;
    if (budgetMs < step) {
      throw promError(
        PromErrorCode.limits,
        `query "${q.name}": ~${S} series over ${formatDuration(step + L.lookbackMs)} (one step plus lookback) at one sample per ${formatDuration(iv)} exceeds maxSamplesPerQuery (${L.maxSamplesPerQuery}); narrow the selector`,
      );
    }
    const targetMs = Math.max(step, (targetRows / S - L.haloSamples) * iv, haloFloorRows(S, L) * iv);
    ms = Math.min(budgetMs, targetMs);
  }
  if (L.maxChunkMs !== undefined) ms = Math.min(ms, L.maxChunkMs);
  return Math.max(step, alignDown(ms, step));
}

/** Plan the next chunk of one query, or null when its window is exhausted. Advances the cursor. */
export function planNext(q: QueryState, targetRows: number, L: PlanLimits): PlannedChunk | null {
  const step = L.stepMs;
  for (;;) {
    if (q.cursor >= q.end) return null;
    // skip completed time
    const d = q.done.find(([s, e]) => s <= q.cursor && q.cursor < e);
    if (d) {
      // ids from an earlier run sit on the same grid unless `step` changed; never leave a gap
      q.cursor = d[1];
      continue;
    }
    let limit = q.end;
    const nextDone = q.done.find(([s]) => s > q.cursor);
    if (nextDone) limit = Math.min(limit, nextDone[0]);
    if (L.shard && L.shard.count > 1) {
      const blockStart = alignDown(q.cursor, L.shard.blockMs);
      const blockEnd = blockStart + L.shard.blockMs;
      if (shardOf(q.name, blockStart, L.shard.count) !== L.shard.index) {
        q.cursor = Math.min(q.end, blockEnd);
        continue;
      }
      limit = Math.min(limit, blockEnd);
    }
    const start = q.cursor;
    const end = Math.min(limit, start + chunkDuration(q, targetRows, L));
    q.cursor = end;
    const S = Math.max(1, q.series);
    if (L.extraction === 'range') {
      const points = Math.round((end - start) / step);
      // evaluation at start - halo·step ... end - step: the last point is the one before `end`
      const fetchStartMs = start - L.haloPoints * step;
      // look-ahead: whole steps after the chunk, decoded as trailing context rows
      const fetchEndMs = end - step + Math.ceil((L.lookaheadMs ?? 0) / step) * step;
      return {
        id: chunkId(q.name, start, end),
        query: q,
        startMs: start,
        endMs: end,
        fetchStartMs,
        fetchEndMs: Math.max(fetchStartMs, fetchEndMs),
        estRows: S * (points + L.haloPoints),
        estSamples: S * points,
      };
    }
    const samples = Math.ceil(((end - start) / L.sampleIntervalMs) * S);
    return {
      id: chunkId(q.name, start, end),
      query: q,
      startMs: start,
      endMs: end,
      fetchStartMs: start - L.lookbackMs,
      fetchEndMs: end - 1 + (L.lookaheadMs ?? 0),
      estRows: samples + S * haloRowsPerSeries(L),
      estSamples: samples,
    };
  }
}

/** Estimated non-halo samples left in a query's window (progress). */
export function remainingSamples(q: QueryState, L: PlanLimits): number {
  let ms = Math.max(0, q.end - q.cursor);
  for (const [s, e] of q.done) {
    const a = Math.max(s, q.cursor);
    const b = Math.min(e, q.end);
    if (b > a) ms -= b - a;
  }
  const per = L.extraction === 'range' ? L.stepMs : L.sampleIntervalMs;
  return Math.max(0, Math.ceil(ms / per)) * Math.max(1, q.series);
}

/**
 * Halo hand-off (docs/ARCHITECTURE.md#halo-hand-off): the same chunk fetched for its own range
 * only, its halo coming from the previous chunk's tail. Rows and estimates are unchanged (the halo
 * rows are still in the batch); only the request shrinks.
 */
export function withoutHistory(plan: PlannedChunk): PlannedChunk {
  return { ...plan, fetchStartMs: plan.startMs, fetchEndMs: Math.max(plan.startMs, plan.fetchEndMs) };
}

/** Where the chunk after `plan` would start fetching with its history (the tail it needs starts there). */
export function historyStartAfter(plan: PlannedChunk, L: PlanLimits): number {
  return L.extraction === 'range' ? plan.endMs - L.haloPoints * L.stepMs : plan.endMs - L.lookbackMs;
}
