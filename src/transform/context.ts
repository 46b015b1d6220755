/**
 * The worker-side KernelContext implementation: typed views over one batch, SAB-backed feature
 * columns, drop counters and reusable scratch buffers (kept per worker across batches, so kernels
 * allocate nothing per sample and almost nothing per batch).
 */
import { FLAG_DROPPED, FLAG_HALO, type BatchColumns, type BatchSeriesTable, type BatchView } from '../batch/layout.js';
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

/** The columns and series table are the batch's (src/batch/layout.ts), copied in by the constructor. */
export interface BatchContext extends BatchColumns, BatchSeriesTable {}

export class BatchContext implements KernelContext {
  /** Feature columns in creation order. */
  readonly features = new Map<string, Float64Array>();
  /** Drop reason → count (non-halo rows only). */
  readonly dropped: Record<string, number> = Object.create(null) as Record<string, number>;
  /** Named counters (flags raised, imputed values, …), non-halo rows only. */
  readonly counters: Record<string, number> = Object.create(null) as Record<string, number>;

  /** Per-batch reports for the main thread (see KernelContext.report). */
  readonly reports: Record<string, unknown> = Object.create(null) as Record<string, unknown>;

  constructor(
    readonly batch: BatchView,
    readonly state: ReadonlyMap<string, unknown> = new Map(),
    readonly nowMs: number = Date.now(),
    /** Recycle feature buffers across contexts (the worker: one context alive at a time). */
    private readonly reuseFeatureBuffers = false,
  ) {
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
    if (f & FLAG_HALO) return;
    this.dropped[reason] = (this.dropped[reason] ?? 0) + 1;
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
