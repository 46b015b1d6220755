/**
 * The kernel interface. A kernel is one step of a pipeline's ordered `transform` list. It runs in a
 * worker over the typed-array columns of one batch (halo rows included) and may:
 *  - rewrite `value` in place (clip, impute, scale),
 *  - set flag bits and drop rows (`ctx.drop(row, reason)` — counted only for non-halo rows),
 *  - write feature columns obtained from `ctx.feature(name)` (Float64, NaN = "no value").
 *
 * Rules every kernel follows (see docs/ARCHITECTURE.md and docs/TRANSFORMS.md):
 *  - no allocation per sample: loop over indices, reuse `ctx.scratch*` buffers;
 *  - no state kept between batches: whatever context is needed comes from the halo rows, so a
 *    kernel declares how much halo it needs (`haloSamples` / `haloMs`) and the source provides it;
 *  - treat rows with FLAG_DROPPED as absent. Rows dropped by *earlier* kernels are gone: the worker
 *    compacts the batch between kernels, so windows over row positions are over surviving rows.
 *    Rows this kernel drops stay in place (flagged) until it returns.
 */
import { FLAG_DROPPED, FLAG_HALO, RUN_STRIDE, type BatchColumns, type BatchSeriesTable, type BatchView } from '../batch/layout.js';

/** One `transform` entry of a pipeline: its `kind` and the kernel's options. */
export interface TransformSpec {
  kind: string;
  [option: string]: unknown;
}

/** What a kernel sees: the batch's columns and series table (src/batch/layout.ts), plus services. */
export interface KernelContext extends BatchColumns, BatchSeriesTable {
  readonly batch: BatchView;
  /** Get (creating on first call) a Float64 output column for a feature, NaN-filled, SAB-backed. */
  feature(name: string): Float64Array;
  /** Drop a row: sets FLAG_DROPPED and counts `reason` unless the row is halo. Idempotent per row. */
  drop(row: number, reason: string): void;
  /** Count something by name without dropping (e.g. "flagged:range"). Non-halo rows only. */
  count(row: number, name: string, n?: number): void;
  /** Reusable scratch buffer of at least n Float64 (contents undefined). */
  scratchF64(n: number, slot?: number): Float64Array;
  /** Reusable scratch buffer of at least n Int32 (contents undefined). */
  scratchI32(n: number, slot?: number): Int32Array;
  /** Allocate a named flag bit (stable per worker+name); kernels use it for 'flag' actions. */
  flagBit(name: string): number;
  /** Per-series parameters loaded from the state file (scaling etc.), keyed by series key. */
  readonly state: ReadonlyMap<string, unknown>;
  /** Wall-clock now (ms) as seen by the dispatcher when the batch was cut (timeliness, future rule). */
  readonly nowMs: number;
  /**
   * Send a small per-batch result to the main thread (e.g. mergeable per-series fit statistics).
   * Per series or per batch, never per sample. Merged on the main thread by src/transform/reports.ts.
   */
  report(name: string, value: unknown): void;
  /** Names of the feature columns created so far, in creation order. */
  featureNames(): string[];
}

export interface Kernel {
  /** Name used in errors, drop reasons and metrics, e.g. "validate", "rolling". */
  readonly name: string;
  /** Feature columns this kernel writes (so the encoder knows the field order up front). */
  readonly outputs: readonly string[];
  /** Raw samples of context each series needs before the batch's first row. */
  readonly haloSamples: number;
  /** Milliseconds of context each series needs (time-based windows). */
  readonly haloMs: number;
  /**
   * Milliseconds of context each series needs *after* the batch (e.g. linear interpolation or
   * back-fill towards the next valid value). Sources append such rows at the end of a run, flagged
   * FLAG_HALO; they are never counted or emitted.
   */
  readonly lookaheadMs?: number;
  /**
   * Metric-name patterns whose series this kernel joins across runs of one batch, one list per
   * join (e.g. correlate's [x, y]; one per business rule). The source is asked to put the series
   * each list names into the same batches.
   */
  readonly crossSeries?: readonly (readonly RegExp[])[];
  /** This kernel reads feature columns written by earlier kernels (completeness), on halo rows too. */
  readonly readsFeatures?: boolean;
  /**
   * Kernels that may leave their feature columns unwritten on halo rows (rolling) do so only while
   * this is false; compileTransforms sets it when a later kernel reads features.
   */
  haloOutputs?: boolean;
  run(ctx: KernelContext): void;
}

/** A kernel factory takes the YAML options of one `transform` entry (validated by the factory). */
export type KernelFactory = (options: Record<string, unknown>) => Kernel;

export const isDropped = (flags: Uint32Array, row: number): boolean => (flags[row]! & FLAG_DROPPED) !== 0;
export const isHalo = (flags: Uint32Array, row: number): boolean => (flags[row]! & FLAG_HALO) !== 0;

/** Iterate runs: calls fn(seriesIdx, start, halo, len) for each run (no allocation). */
export function forEachRun(
  ctx: { runCount: number; runs: Uint32Array },
  fn: (seriesIdx: number, start: number, halo: number, len: number, run: number) => void,
): void {
  const runs = ctx.runs;
  for (let r = 0; r < ctx.runCount; r++) {
    const o = r * RUN_STRIDE;
    fn(runs[o]!, runs[o + 1]!, runs[o + 2]!, runs[o + 3]!, r);
  }
}
