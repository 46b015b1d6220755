/**
 * Batch → Arrow-ready columns: the emitted rows of a batch (non-halo, not dropped, series kept by
 * the schema, with at least one field) copied into fresh SharedArrayBuffer columns laid out the way
 * Arrow wants them, so a columnar sink (src/load/arrow.ts) only wraps them with makeData.
 */
import { FLAG_DROPPED, FLAG_HALO, RUN_STRIDE, type BatchView } from '../batch/layout.js';
import type { SeriesEncoder } from './series.js';

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

/**
 * Copy emitted rows (non-halo, not dropped, series kept by the schema) into fresh SAB columns laid
 * out the way Arrow wants them (Utf8 series keys, Int64 timestamps), so the Arrow sink only wraps them.
 */
export function compactColumns(
  view: BatchView,
  featureCols: Float64Array[],
  featureNames: string[],
  encoder: SeriesEncoder,
  rows: number,
  exclude?: ReadonlySet<string>,
  sorted = false,
): FeatureColumns {
  const keeps = (k: string): boolean => encoder.keeps(k) && !exclude?.has(k);
  const sab = (bytes: number) => new SharedArrayBuffer(Math.max(8, bytes));
  const series = new Uint32Array(sab(rows * 4));
  const ts = new Float64Array(sab(rows * 8));
  const ts64 = new Int32Array(sab(rows * 8));
  const value = new Float64Array(sab(rows * 8));
  const flags = new Uint32Array(sab(rows * 4));
  const feats = featureCols.map(() => new Float64Array(sab(rows * 8)));
  const seriesKeys = view.desc.seriesKeys;
  const utf8 = seriesKeys.map((k) => textEncoder.encode(k));
  let dataBytes = 0;
  const runs = view.runs;
  const order = runOrder(view, sorted);
  // First pass: size the Utf8 data buffer.
  for (let q = 0; q < order.length; q++) {
    const o = order[q]! * RUN_STRIDE;
    const s = runs[o]!;
    if (!keeps(seriesKeys[s]!)) continue;
    const start = runs[o + 1]! + runs[o + 2]!;
    const end = runs[o + 1]! + runs[o + 3]!;
    for (let i = start; i < end; i++) {
      if (view.flags[i]! & (FLAG_DROPPED | FLAG_HALO)) continue;
      if (!encoder.rowHasFields(view.value, featureCols, i)) continue;
      dataBytes += utf8[s]!.length;
    }
  }
  const offsets = new Int32Array(sab((rows + 1) * 4));
  const data = new Uint8Array(sab(dataBytes));
  const remap = new Int32Array(seriesKeys.length).fill(-1);
  const outKeys: string[] = [];
  let j = 0;
  let pos = 0;
  for (let q = 0; q < order.length; q++) {
    const o = order[q]! * RUN_STRIDE;
    const s = runs[o]!;
    if (!keeps(seriesKeys[s]!)) continue;
    const start = runs[o + 1]! + runs[o + 2]!;
    const end = runs[o + 1]! + runs[o + 3]!;
    const kb = utf8[s]!;
    for (let i = start; i < end; i++) {
      if (view.flags[i]! & (FLAG_DROPPED | FLAG_HALO)) continue;
      if (!encoder.rowHasFields(view.value, featureCols, i)) continue;
      let m = remap[s]!;
      if (m < 0) {
        m = outKeys.length;
        remap[s] = m;
        outKeys.push(seriesKeys[s]!);
      }
      series[j] = m;
      offsets[j] = pos;
      data.set(kb, pos);
      pos += kb.length;
      const t = view.ts[i]!;
      ts[j] = t;
      // Int64 without BigInt: low and high 32-bit halves (two's complement for negative times).
      const hi = Math.floor(t / 4294967296);
      ts64[2 * j] = (t - hi * 4294967296) | 0;
      ts64[2 * j + 1] = hi | 0;
      value[j] = view.value[i]!;
      flags[j] = view.flags[i]!;
      for (let f = 0; f < feats.length; f++) feats[f]![j] = featureCols[f]![i]!;
      j++;
    }
  }
  offsets[j] = pos;
  return {
    rows: j,
    series: series.buffer as SharedArrayBuffer,
    seriesKeys: outKeys,
    seriesOffsets: offsets.buffer as SharedArrayBuffer,
    seriesData: data.buffer as SharedArrayBuffer,
    ts: ts.buffer as SharedArrayBuffer,
    ts64: ts64.buffer as SharedArrayBuffer,
    value: value.buffer as SharedArrayBuffer,
    flags: flags.buffer as SharedArrayBuffer,
    featureNames,
    features: feats.map((f) => f.buffer as SharedArrayBuffer),
  };
}

const textEncoder = new TextEncoder();

/**
 * The order runs are emitted in: batch order, or (`sorted`) by series key, then by the run's first
 * timestamp. Rows within a run are in time order already (the batch layout's invariant), so
 * ordering the runs orders the rows by (series, timestamp): a sort of runs, not of rows.
 */
function runOrder(view: BatchView, sorted: boolean): Int32Array {
  const order = new Int32Array(view.runCount);
  for (let r = 0; r < order.length; r++) order[r] = r;
  if (!sorted) return order;
  const keys = view.desc.seriesKeys;
  const runs = view.runs;
  const firstTs = (r: number): number => view.ts[runs[r * RUN_STRIDE + 1]!] ?? 0;
  return order.sort((a, b) => {
    const ka = keys[runs[a * RUN_STRIDE]!]!;
    const kb = keys[runs[b * RUN_STRIDE]!]!;
    return ka < kb ? -1 : ka > kb ? 1 : firstTs(a) - firstTs(b);
  });
}
