/**
 * Source contract. A source plans and fetches *chunks*; it never decodes samples on the main thread.
 * Each chunk carries a FillSpec: plain data (and byte buffers) that a worker turns into a batch with
 * a BatchBuilder (see src/pool/fillers.ts). Generation and decoding are per-sample work, so they run
 * in the workers, in the same task as the transforms and the encoder.
 */
import type { Logger } from 'pino';

/** How a worker materializes a chunk into a batch. `kind` selects the filler in src/pool/fillers.ts. */
export interface FillSpec {
  kind: string;
  [key: string]: unknown;
}

export interface SourceChunk {
  /** Stable id: the same plan yields the same ids (checkpoints record them). */
  id: string;
  fill: FillSpec;
  /** Estimated rows including halo, for buffer allocation (the builder grows if short). */
  estRows: number;
  /** Estimated series runs. */
  estRuns: number;
  /** Time range of the chunk's own (non-halo) rows: [startMs, endMs). */
  startMs: number;
  endMs: number;
  /** Estimated non-halo samples (progress accounting). */
  estSamples: number;
  /**
   * Checkpoint coverage key: the part of the plan this chunk belongs to (a query, a block of
   * series). Once the chunk is loaded, [startMs, endMs) of this key is recorded as covered.
   */
  coverageKey?: string;
}

/**
 * Metric-name patterns one cross-series kernel joins within a batch (e.g. `correlate`'s x and y).
 * A source that can (Prometheus: src/extract/prometheus/coschedule.ts) plans the queries holding
 * them together, so their series land in the same batches.
 */
export interface CrossSeriesNeed {
  kernel: string;
  metrics: readonly RegExp[];
}

export interface SourceOpenOptions {
  /** Raw samples of context each series needs before a chunk's first row. */
  haloSamples: number;
  /** Milliseconds of context each series needs (time-based windows). */
  haloMs: number;
  /** Milliseconds of trailing context each series needs after a chunk (BatchBuilder.pushTrail). */
  lookaheadMs?: number;
  signal: AbortSignal;
  logger: Logger;
  /** Chunk ids already completed (from the checkpoint store): skip them. */
  completed?: ReadonlySet<string>;
  /** Already-loaded time intervals per coverage key (from the checkpoint store): plan only the rest. */
  covered?: ReadonlyMap<string, readonly (readonly [number, number])[]>;
  /** Cross-series kernels of the chain: series they join should share batches. */
  crossSeries?: readonly CrossSeriesNeed[];
  /**
   * The engine's batching: workers, and whether the batch size adapts (not `--batch-size N`). A
   * source that plans the whole window up front may use it to give every worker batches
   * (Prometheus: series slices, src/extract/prometheus/slices.ts). Absent: plan as for a fixed size.
   */
  batching?: { workers: number; adaptive: boolean };
  /** Deterministic shard selection `i/N` (issue: sharding). */
  shard?: { index: number; count: number };
}

export interface SourceProgress {
  /** Estimated samples planned so far / in total (total null when unbounded, e.g. streaming). */
  doneSamples: number;
  totalSamples: number | null;
}

export interface Source {
  readonly kind: string;
  open(opts: SourceOpenOptions): Promise<void>;
  /**
   * The next chunk of about `targetRows` rows (the adaptive batch size), or null when exhausted.
   * Network I/O happens here; the returned bytes are decoded in a worker.
   */
  next(targetRows: number): Promise<SourceChunk | null>;
  /** Called when every row of a chunk is written or accounted for (watermarks, checkpoints). */
  ack?(chunk: SourceChunk): void;
  /** Decoded non-halo rows of a chunk (exact extraction metrics). */
  recordRows?(chunk: SourceChunk, rows: number): void;
  /**
   * The same chunk with `extraSamples` more halo samples per series, when the source can provide
   * them exactly (the dispatcher asks when rows dropped in the halo left too little context; see
   * src/transform/halo-check.ts). Absent or undefined: the shortness is counted as `halo_short`.
   */
  widenHalo?(chunk: SourceChunk, extraSamples: number): SourceChunk | undefined;
  /**
   * Called after every attempt of a chunk's task, whatever its outcome (halo hand-off: a tail the
   * attempt did not publish is marked failed, so the next chunk fetches its history instead).
   */
  afterAttempt?(chunk: SourceChunk): void;
  /** Fetch a chunk again (same id and window) after its body failed to decode (e.g. truncated by a proxy). */
  refetch?(chunk: SourceChunk): Promise<SourceChunk>;
  progress(): SourceProgress;
  close(): Promise<void>;
}
