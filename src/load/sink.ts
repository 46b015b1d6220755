/**
 * Sink contract. Sinks receive what the workers produced for one batch: line-protocol bytes and/or
 * compacted feature columns. They never see individual samples as objects. `write` resolves when
 * the batch is accepted (durably, for network sinks): the dispatcher holds an in-flight slot until
 * then, which is how a slow sink slows the source (backpressure, not buffering).
 */

/** Compacted output columns (non-halo, non-dropped rows) for columnar sinks, SAB-backed. */
export interface FeatureColumns {
  rows: number;
  /** Uint32 index into seriesKeys. */
  series: SharedArrayBuffer;
  seriesKeys: string[];
  /** Per-row series key as Arrow Utf8: Int32 offsets (rows + 1) and UTF-8 bytes, built in the worker. */
  seriesOffsets: SharedArrayBuffer;
  seriesData: SharedArrayBuffer;
  /** Float64 epoch ms. */
  ts: SharedArrayBuffer;
  /** Int64 epoch ms (little-endian), ready for an Arrow Timestamp(ms) column. */
  ts64: SharedArrayBuffer;
  /** Float64 sample value (after cleaning/scaling). */
  value: SharedArrayBuffer;
  /** Uint32 flag bits. */
  flags: SharedArrayBuffer;
  /** Feature name → Float64 column, in `featureNames` order. */
  featureNames: string[];
  features: SharedArrayBuffer[];
}

export interface EncodedBatch {
  batchId: number;
  chunkId: string;
  /** Line-protocol bytes ('\n'-terminated lines), or null when no sink asked for them. */
  lp: Uint8Array | null;
  /** Lines in `lp` (= rows emitted). */
  lines: number;
  /** Feature columns, or null when no sink asked for them. */
  columns: FeatureColumns | null;
  /** Distinct series keys present in the emitted rows (tag-cardinality guard). */
  seriesKeys: string[];
}

export interface SinkWriteResult {
  /** Lines accepted by the destination. */
  written: number;
  /** Lines that could not be written but were preserved (dead-letter file), by reason. */
  deadLettered?: Record<string, number>;
}

export interface SinkNeeds {
  lineProtocol: boolean;
  columns: boolean;
}

export interface Sink {
  readonly kind: string;
  readonly needs: SinkNeeds;
  open(): Promise<void>;
  write(batch: EncodedBatch): Promise<SinkWriteResult>;
  /** Flush and release resources. Safe to call twice. */
  close(): Promise<void>;
  /** Sink-specific figures for the run summary (bytes written, requests, retries…). */
  stats?(): Record<string, unknown>;
}
