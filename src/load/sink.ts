/**
 * Sink contract. Sinks receive what the workers produced for one batch: line-protocol bytes and/or
 * compacted feature columns. They never see individual samples as objects. `write` resolves when
 * the batch is accepted (durably, for network sinks): the dispatcher holds an in-flight slot until
 * then, which is how a slow sink slows the source (backpressure, not buffering).
 */
import type { FeatureColumns } from '../encode/columns.js';
import type { RequestCuts, RequestLimits } from '../encode/request-cuts.js';

export type { FeatureColumns } from '../encode/columns.js';

export interface EncodedBatch {
  batchId: number;
  chunkId: string;
  /** Line-protocol bytes ('\n'-terminated lines), or null when no sink asked for them. */
  lp: Uint8Array | null;
  /** Lines in `lp` (= rows emitted). */
  lines: number;
  /** Feature columns, or null when no sink asked for them. */
  columns: FeatureColumns | null;
  /**
   * Distinct series keys present in the emitted rows (tag-cardinality guard). Empty for a batch
   * whose series set an earlier batch of this run already handed to this sink (the workers then
   * send only its digest, src/pool/known-keys.ts): the guard has seen those keys.
   */
  seriesKeys: string[];
  /**
   * Request boundaries of `lp` under the sink's `needs.requestCuts`, from the worker's encoder;
   * absent when the sink did not ask or the encoder could not tell (the sink then scans `lp`).
   */
  requests?: RequestCuts;
}

export interface SinkWriteResult {
  /** Lines accepted by the destination. */
  written: number;
  /** Lines that could not be written but were preserved (dead-letter file), by reason. */
  deadLettered?: Record<string, number>;
}

/**
 * What a resumable sink saved at a commit, kept in the checkpoint (plain msgpack-able data: the
 * byte offset a file is valid up to, the list of finished part files, ...).
 */
export type SinkResumeState = Record<string, unknown>;

export interface SinkCommit {
  /**
   * How many write() calls had resolved when the commit began: their output, and nothing after
   * it, is what `state` describes and what is now durable (flushed and fsynced).
   */
  writes: number;
  state: SinkResumeState;
}

export interface SinkNeeds {
  lineProtocol: boolean;
  columns: boolean;
  /** Columns with each batch's rows ordered by (series key, timestamp); sorted in the worker (runs by key: per series, not per row). */
  sortedColumns?: boolean;
  /**
   * Limits of one request: the worker's encoder returns each batch's cuts (EncodedBatch.requests),
   * so the main thread slices the line protocol instead of scanning it for '\n'.
   */
  requestCuts?: RequestLimits;
}

export interface Sink {
  readonly kind: string;
  readonly needs: SinkNeeds;
  open(): Promise<void>;
  write(batch: EncodedBatch): Promise<SinkWriteResult>;
  /** Flush and release resources. Safe to call twice. */
  close(): Promise<void>;
  /**
   * A stop's deadline passed (engine.stopTimeoutMs) or a second signal came: abort every write in
   * flight now (HTTP requests, retry waits). Pending and later write() calls reject; what they did
   * not get acknowledged is written again by the resumed run. close() still follows. Optional: a
   * sink without it has its pending writes abandoned (not accounted) by the dispatcher.
   */
  cancel?(): void;
  /**
   * How the sink behaves under a checkpoint (docs/OPERATIONS.md, "Checkpoints and sinks"):
   * - 'idempotent': writing a chunk again gives the same result (InfluxDB: one point per series
   *   and timestamp; null): nothing to restore, at-least-once writes end exact.
   * - 'commit': the sink keeps what earlier attempts wrote itself. The run calls `restore` once
   *   before `open`, calls `commit` from time to time, and records a chunk as done only once a
   *   commit that includes its write was accepted.
   * Absent: the sink cannot resume, and a run with a checkpoint refuses it.
   */
  readonly resume?: 'idempotent' | 'commit';
  /**
   * 'commit' sinks, checkpointed runs only, before open(): put the output back to exactly `state`
   * (cut a torn tail, delete parts no commit listed). undefined: no earlier attempt, start fresh.
   */
  restore?(state: SinkResumeState | undefined): Promise<void>;
  /**
   * 'commit' sinks: make the output of every write() resolved so far durable and describe it.
   * Resolves undefined when the sink prefers not to commit now (the run tries again later).
   * `final`: the last commit of this attempt (no write follows); `complete`: the whole plan is done.
   */
  commit?(opts: { final: boolean; complete: boolean }): Promise<SinkCommit | undefined>;
  /** Sink-specific figures for the run summary (bytes written, requests, retries…). */
  stats?(): Record<string, unknown>;
}
