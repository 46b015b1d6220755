/**
 * Batch → the newest written row of each series (for `GET /v1/features/latest`, docs/ACCESS.md
 * "Online serving"). Computed in the worker next to the encoder, so the main thread only merges one
 * small typed-array summary per batch (one entry per series, never per sample).
 *
 * Values are the ones the line protocol carries: a field the encoder does not write (mapped away,
 * NaN, ±Infinity) is NaN, int-mapped fields are rounded, `floatDigits` rounds like the writer. So an
 * online vector equals, bit for bit, what a read-back of the same rows from InfluxDB returns.
 */
import { FLAG_DROPPED, FLAG_HALO, RUN_STRIDE, type BatchView } from '../batch/layout.js';
import type { SeriesEncoder } from './series.js';

/** The newest written row per series of one batch (plain data + typed arrays; cloned with the result). */
export interface LatestRows {
  /** Source series keys (Prometheus name + labels), one per entry. */
  keys: string[];
  /** Target series key as line-protocol text (measurement + tag set after schema mapping and key policy). */
  targets: string[];
  /** Field keys as written, in column order. */
  fields: string[];
  /** Per entry: timestamp (epoch ms). */
  ts: Float64Array;
  /** Entry-major: entry i's fields at [i × fields.length, (i + 1) × fields.length); NaN = not written. */
  values: Float64Array;
}

const NOT_EMITTED = FLAG_DROPPED | FLAG_HALO;

/** The value as a reader of the line protocol gets it back (see the module comment). */
function asWritten(x: number, int: boolean, digits: number): number {
  if (!Number.isFinite(x)) return NaN;
  if (int) {
    const r = Math.round(x);
    return r > -9223372036854776e3 && r < 9223372036854776e3 ? r : NaN; // LineWriter.int omits outside int64
  }
  return digits > 0 ? Number(x.toPrecision(digits)) : x;
}

export function latestRows(view: BatchView, features: Float64Array[], encoder: SeriesEncoder, floatDigits: number, exclude?: ReadonlySet<string>): LatestRows {
  const names = encoder.fieldNames;
  // Written columns: -1 = the sample value, f = feature f.
  const cols: number[] = [];
  const fields: string[] = [];
  const ints: boolean[] = [];
  if (names.value !== null) {
    cols.push(-1);
    fields.push(names.value);
    ints.push(names.valueInt);
  }
  names.features.forEach((name, f) => {
    if (name === null) return;
    cols.push(f);
    fields.push(name);
    ints.push(names.featuresInt[f]!);
  });
  const nf = cols.length;
  const seriesKeys = view.desc.seriesKeys;
  // The newest emitted row of each series index (a series may span several runs).
  const newest = new Int32Array(seriesKeys.length).fill(-1);
  const runs = view.runs;
  for (let r = 0; r < view.runCount; r++) {
    const o = r * RUN_STRIDE;
    const s = runs[o]!;
    const start = runs[o + 1]! + runs[o + 2]!;
    const end = runs[o + 1]! + runs[o + 3]!;
    for (let i = start; i < end; i++) {
      if (view.flags[i]! & NOT_EMITTED) continue;
      if (!encoder.rowHasFields(view.value, features, i)) continue;
      const j = newest[s]!;
      if (j < 0 || view.ts[i]! >= view.ts[j]!) newest[s] = i;
    }
  }
  const keys: string[] = [];
  const targets: string[] = [];
  const rows: number[] = [];
  for (let s = 0; s < seriesKeys.length; s++) {
    const i = newest[s]!;
    if (i < 0) continue;
    const key = seriesKeys[s]!;
    if (exclude?.has(key)) continue;
    const target = encoder.targetKey(key);
    if (target === undefined || !encoder.keeps(key)) continue;
    keys.push(key);
    targets.push(target);
    rows.push(i);
  }
  const ts = new Float64Array(rows.length);
  const values = new Float64Array(rows.length * nf);
  for (let e = 0; e < rows.length; e++) {
    const i = rows[e]!;
    ts[e] = view.ts[i]!;
    for (let c = 0; c < nf; c++) {
      const col = cols[c]!;
      values[e * nf + c] = asWritten(col < 0 ? view.value[i]! : features[col]![i]!, ints[c]!, floatDigits);
    }
  }
  return { keys, targets, fields, ts, values };
}
