/**
 * Batch layout: the one data structure that crosses threads.
 *
 * A batch is a set of rows grouped into per-series *runs*. Each run holds the rows of one series in
 * the order the source produced them (normally time-ascending), and starts with `halo` context rows:
 * the raw samples of that series immediately before the batch's time range. Halo rows go through
 * every kernel (so windows see exactly what they would see in one big batch) but are never counted
 * or emitted. That is what makes results independent of batch size and worker count: context travels
 * with the batch as data, and no worker keeps per-series state.
 *
 * Every column lives in a SharedArrayBuffer, allocated on the main thread and handed to a worker by
 * reference (structured clone of a SAB shares memory, it does not copy). See docs/ARCHITECTURE.md.
 */

/** Per-row flag bits (Uint32 column `flags`). Bits 0..7 are engine-reserved; kernels register more. */
export const FLAG_HALO = 1 << 0;
/** Row removed from output; the kernel that set it counted the reason. */
export const FLAG_DROPPED = 1 << 1;

/** What a worker needs to view a batch: plain data + SharedArrayBuffers, structured-cloneable. */
export interface BatchDescriptor {
  /** Sequence number assigned by the dispatcher (unique within a run). */
  id: number;
  /** Stable id of the source chunk this batch came from (used by checkpoints). */
  chunkId: string;
  /** Row capacity of the column buffers. */
  capacity: number;
  /** Rows filled (including halo rows). */
  length: number;
  /** Row capacity of the run index. */
  runCapacity: number;
  /** Runs filled. */
  runCount: number;
  /** Uint32 series index (into `seriesKeys`) per row. */
  series: SharedArrayBuffer;
  /** Float64 epoch milliseconds per row. */
  ts: SharedArrayBuffer;
  /** Float64 sample value per row. */
  value: SharedArrayBuffer;
  /** Uint32 flag bits per row. */
  flags: SharedArrayBuffer;
  /** Uint32 × 4 per run: series index, first row, halo rows, total rows (incl. halo). */
  runs: SharedArrayBuffer;
  /**
   * The batch's own series table: canonical series keys (`name{a="x",b="y"}`, labels sorted), one per
   * series present in the batch. `series` indexes into it. Per-series, never per-sample.
   */
  seriesKeys: string[];
  /** Per series in `seriesKeys`: metric kind (see SeriesKind). */
  seriesKinds: number[];
}

/** Metric type as reported by Prometheus metadata. Counters get counter-aware features. */
export const SeriesKind = {
  unknown: 0,
  gauge: 1,
  counter: 2,
  histogram: 3,
  summary: 4,
} as const;
export type SeriesKindName = keyof typeof SeriesKind;

export const RUN_STRIDE = 4;

/**
 * The batch's row and run columns as typed arrays: the one declaration of the column list (the
 * kernel context, src/transform/kernel.ts and context.ts, derives from it).
 */
export interface BatchColumns {
  /** Rows including halo. */
  readonly length: number;
  readonly series: Uint32Array;
  readonly ts: Float64Array;
  readonly value: Float64Array;
  readonly flags: Uint32Array;
  readonly runCount: number;
  /** Raw run index, RUN_STRIDE Uint32 per run: [seriesIdx, start, halo, len]. */
  readonly runs: Uint32Array;
}

/** The batch's series table (per series, never per sample). */
export type BatchSeriesTable = { readonly [K in 'seriesKeys' | 'seriesKinds']: ReadonlyArray<BatchDescriptor[K][number]> };

/** Typed views over a descriptor's buffers. Cheap: creating views does not copy. */
export interface BatchView extends BatchColumns {
  readonly desc: BatchDescriptor;
}

export function viewBatch(desc: BatchDescriptor): BatchView {
  return {
    desc,
    length: desc.length,
    series: new Uint32Array(desc.series, 0, desc.length),
    ts: new Float64Array(desc.ts, 0, desc.length),
    value: new Float64Array(desc.value, 0, desc.length),
    flags: new Uint32Array(desc.flags, 0, desc.length),
    runCount: desc.runCount,
    runs: new Uint32Array(desc.runs, 0, desc.runCount * RUN_STRIDE),
  };
}

/** Allocate an empty batch with SharedArrayBuffer columns (main thread or worker). */
export function allocBatch(id: number, chunkId: string, capacity: number, runCapacity: number): BatchDescriptor {
  const cap = Math.max(1, capacity | 0);
  const rcap = Math.max(1, runCapacity | 0);
  return {
    id,
    chunkId,
    capacity: cap,
    length: 0,
    runCapacity: rcap,
    runCount: 0,
    series: new SharedArrayBuffer(cap * 4),
    ts: new SharedArrayBuffer(cap * 8),
    value: new SharedArrayBuffer(cap * 8),
    flags: new SharedArrayBuffer(cap * 4),
    runs: new SharedArrayBuffer(rcap * RUN_STRIDE * 4),
    seriesKeys: [],
    seriesKinds: [],
  };
}

/** Bytes held by a batch's buffers (for memory accounting). */
export function batchBytes(desc: BatchDescriptor): number {
  return desc.capacity * (4 + 8 + 8 + 4) + desc.runCapacity * RUN_STRIDE * 4;
}

/** Canonical Prometheus-style series key: `name{a="x",b="y"}` with labels sorted by name. */
export function seriesKey(name: string, labels: Readonly<Record<string, string>>): string {
  const names = Object.keys(labels).filter((k) => k !== '__name__').sort();
  if (names.length === 0) return name;
  let s = name + '{';
  for (let i = 0; i < names.length; i++) {
    const k = names[i]!;
    if (i > 0) s += ',';
    s += k + '=' + JSON.stringify(labels[k]);
  }
  return s + '}';
}

/** Inverse of seriesKey. */
export function parseSeriesKey(key: string): { name: string; labels: Record<string, string> } {
  const brace = key.indexOf('{');
  if (brace < 0) return { name: key, labels: {} };
  const name = key.slice(0, brace);
  const labels: Record<string, string> = {};
  let i = brace + 1;
  while (i < key.length && key[i] !== '}') {
    const eq = key.indexOf('=', i);
    const lname = key.slice(i, eq);
    // value is a JSON string literal: find its closing quote honouring escapes
    let j = eq + 2;
    while (j < key.length) {
      const c = key[j]!;
      if (c === '\\') { j += 2; continue; }
      if (c === '"') break;
      j++;
    }
    labels[lname] = JSON.parse(key.slice(eq + 1, j + 1)) as string;
    i = j + 1;
    if (key[i] === ',') i++;
  }
  return { name, labels };
}
