/**
 * The worker-side KernelContext implementation: typed views over one batch, SAB-backed feature
 * columns, drop counters and reusable scratch buffers (kept per worker across batches, so kernels
 * allocate nothing per sample and almost nothing per batch).
 */
import { FLAG_DROPPED, FLAG_HALO, RUN_STRIDE, viewBatch, type BatchColumns, type BatchSeriesTable, type BatchView } from '../batch/layout.js';
import type { KernelContext } from './kernel.js';

const RESERVED_BITS = 8;

/** Per-worker registry of named flag bits (stable across batches within a process). */
const flagBits = new Map<string, number>();
/** Well-known flag names get fixed bits so outputs are comparable across workers and runs. */
const WELL_KNOWN = ['nan', 'inf', 'stale', 'range', 'business', 'duplicate', 'out_of_order', 'future', 'gap', 'outlier', 'imputed', 'type'];
WELL_KNOWN.forEach((n, i) => flagBits.set(n, 1 << (RESERVED_BITS + i)));

export function flagBitFor(name: string): number {
  let b = flagBits.get(name);
  if (b === undefined) {
    const used = RESERVED_BITS + flagBits.size;
    if (used >= 32) throw new Error(`too many flag names (max ${32 - RESERVED_BITS}); cannot register "${name}"`);
    b = 1 << used;
    flagBits.set(name, b);
  }
  return b;
}

/** Name → bit for every registered flag (documented in the Arrow output's schema metadata). */
export function flagNames(): Record<string, number> {
  return Object.fromEntries(flagBits);
}

const scratchF: Float64Array[] = [];
/**
 * Feature columns are reused across batches (slot = creation order within a batch): they live only
 * for the duration of one task (the encoder and the compaction copy out of them), and recycling
 * them keeps SharedArrayBuffer churn — and so RSS — flat over long runs.
 */
const featureSlots: SharedArrayBuffer[] = [];
const scratchI: Int32Array[] = [];

/** At most this many distinct series are recorded per drop reason per batch (for the warn log). */
export const DROP_SERIES_PER_REASON = 8;

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
/**
 * The columns and series table are the batch's (src/batch/layout.ts), copied in by the constructor
 * and again by `compactDropped()`, which shrinks the batch between kernels (kernels see them readonly).
 */
export interface BatchContext extends Mutable<BatchColumns>, BatchSeriesTable {}

export class BatchContext implements KernelContext {
  batch: BatchView;
  /** Feature columns in creation order. */
  readonly features = new Map<string, Float64Array>();
  /** Drop reason → count (non-halo rows only). */
  readonly dropped: Record<string, number> = Object.create(null) as Record<string, number>;
  /** Named counters (flags raised, imputed values, …), non-halo rows only. */
  readonly counters: Record<string, number> = Object.create(null) as Record<string, number>;

  /** Per-batch reports for the main thread (see KernelContext.report). */
  readonly reports: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  /**
   * Drop reason → series indices that had a non-halo row dropped for it in this batch, at most
   * DROP_SERIES_PER_REASON per reason (per series, never per sample: the main thread logs them).
   */
  readonly dropSeries = new Map<string, number[]>();
  /** Reasons for which more series had drops than `dropSeries` holds. */
  readonly dropSeriesCapped = new Set<string>();
  /** Rows (halo included) that got FLAG_DROPPED since the last compaction. */
  droppedSinceCompact = 0;

  constructor(
    batch: BatchView,
    readonly state: ReadonlyMap<string, unknown> = new Map(),
    readonly nowMs: number = Date.now(),
    /** Recycle feature buffers across contexts (the worker: one context alive at a time). */
    private readonly reuseFeatureBuffers = false,
  ) {
    this.batch = batch;
    const { desc, ...columns } = batch;
    Object.assign(this, columns, { seriesKeys: desc.seriesKeys, seriesKinds: desc.seriesKinds });
  }

  feature(name: string): Float64Array {
    let col = this.features.get(name);
    if (!col) {
      const slot = this.features.size;
      let buf = this.reuseFeatureBuffers ? featureSlots[slot] : undefined;
      if (!buf || buf.byteLength < this.length * 8) {
        buf = new SharedArrayBuffer(Math.max(1024, Math.ceil(this.length * 1.25)) * 8);
        if (this.reuseFeatureBuffers) featureSlots[slot] = buf;
      }
      col = new Float64Array(buf, 0, this.length);
      col.fill(NaN);
      this.features.set(name, col);
    }
    return col;
  }

  drop(row: number, reason: string): void {
    const f = this.flags[row]!;
    if (f & FLAG_DROPPED) return;
    this.flags[row] = f | FLAG_DROPPED;
    this.droppedSinceCompact++;
    if (f & FLAG_HALO) return;
    this.dropped[reason] = (this.dropped[reason] ?? 0) + 1;
    let list = this.dropSeries.get(reason);
    if (!list) {
      list = [];
      this.dropSeries.set(reason, list);
    }
    const s = this.series[row]!;
    if (list[list.length - 1] === s) return; // rows of a series are contiguous: the usual case
    if (list.indexOf(s) >= 0) return;
    if (list.length < DROP_SERIES_PER_REASON) list.push(s);
    else this.dropSeriesCapped.add(reason);
  }

  /**
   * Remove the rows dropped so far, in place: surviving rows move down in every column (series, ts,
   * value, flags and the feature columns created so far), each run's [start, halo, len] is
   * rewritten (runs left empty disappear) and the descriptor's length/runCount follow. After this,
   * windows over row positions are windows over surviving rows: a dropped row is gone for every
   * later kernel, as with `dropna()` before `rolling(w)`. Rows kept as NaN stay (null slots).
   *
   * `frontier` (optional, one entry per run, in row positions within the run) is mapped to the
   * number of surviving rows before it (−1, untracked, stays −1), and re-indexed like the runs
   * (see src/transform/halo-check.ts).
   * Returns the number of rows removed.
   */
  compactDropped(frontier?: Int32Array): number {
    const { series, ts, value, flags, runs } = this;
    const feats = [...this.features.values()];
    const nf = feats.length;
    let w = 0;
    let outRuns = 0;
    for (let r = 0; r < this.runCount; r++) {
      const o = r * RUN_STRIDE;
      const s = runs[o]!;
      const start = runs[o + 1]!;
      const halo = runs[o + 2]!;
      const end = start + runs[o + 3]!;
      const f0 = frontier ? frontier[r]! : -1;
      const fAt = start + f0;
      const newStart = w;
      let newHalo = 0;
      let newFrontier = 0;
      for (let i = start; i < end; i++) {
        if (flags[i]! & FLAG_DROPPED) continue;
        if (i - start < halo) newHalo++;
        if (i < fAt) newFrontier++;
        if (w !== i) {
          series[w] = series[i]!;
          ts[w] = ts[i]!;
          value[w] = value[i]!;
          flags[w] = flags[i]!;
          for (let f = 0; f < nf; f++) feats[f]![w] = feats[f]![i]!;
        }
        w++;
      }
      const len = w - newStart;
      if (len === 0) continue;
      const oo = outRuns * RUN_STRIDE;
      runs[oo] = s;
      runs[oo + 1] = newStart;
      runs[oo + 2] = newHalo;
      runs[oo + 3] = len;
      if (frontier) frontier[outRuns] = f0 < 0 ? -1 : newFrontier; // -1: run not tracked
      outRuns++;
    }
    const removed = this.length - w;
    this.droppedSinceCompact = 0;
    if (removed === 0 && outRuns === this.runCount) return 0;
    const desc = this.batch.desc;
    desc.length = w;
    desc.runCount = outRuns;
    this.batch = viewBatch(desc);
    const { desc: _desc, ...columns } = this.batch;
    Object.assign(this, columns);
    for (const [name, col] of this.features) this.features.set(name, col.subarray(0, w));
    return removed;
  }

  /** Drop reason → series keys recorded by `drop` (bounded, see DROP_SERIES_PER_REASON). */
  dropSeriesKeys(): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const [reason, list] of this.dropSeries) out[reason] = list.map((s) => this.seriesKeys[s]!);
    return out;
  }

  count(row: number, name: string, n = 1): void {
    if (this.flags[row]! & FLAG_HALO) return;
    this.counters[name] = (this.counters[name] ?? 0) + n;
  }

  scratchF64(n: number, slot = 0): Float64Array {
    let s = scratchF[slot];
    if (!s || s.length < n) {
      s = new Float64Array(Math.max(n, 1024));
      scratchF[slot] = s;
    }
    return s;
  }

  scratchI32(n: number, slot = 0): Int32Array {
    let s = scratchI[slot];
    if (!s || s.length < n) {
      s = new Int32Array(Math.max(n, 1024));
      scratchI[slot] = s;
    }
    return s;
  }

  featureNames(): string[] {
    return [...this.features.keys()];
  }

  report(name: string, value: unknown): void {
    this.reports[name] = value;
  }

  flagBit(name: string): number {
    return flagBitFor(name);
  }
}
