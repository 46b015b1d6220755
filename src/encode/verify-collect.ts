/**
 * Worker side of `promflux run --verify` (the main thread never sees a sample): per batch, count
 *  - the source samples per metric name (non-context rows, Prometheus staleness markers excluded, the
 *    way PromQL's count_over_time counts), read before any kernel runs;
 *  - per measurement and field, the points written that carry that field (what InfluxDB's COUNT
 *    of the field reads back);
 *  - for a seeded-hash sample of series, the (timestamp, value) pairs written, so the main thread
 *    can compare them with what InfluxDB returns.
 *
 * No zod, no per-sample objects: index loops over the batch's typed arrays; sampled series get one
 * Float64Array pair each, sized by a first counting pass.
 */
import { FLAG_DROPPED, FLAG_HALO, RUN_STRIDE, type BatchView } from '../batch/layout.js';
import { STALE_NAN_HI, STALE_NAN_LO } from '../transform/kernels/validate.js';

/** What collectWritten needs of the worker's series encoder (structural, so encode/ does not import pool/). */
export interface WrittenFields {
  target(seriesKey: string): { measurement: string; key: Uint8Array } | null;
  readonly fieldNames: { value: string | null; valueInt: boolean; features: Array<string | null>; featuresInt: boolean[] };
  rowHasFields(value: Float64Array, features: Float64Array[], row: number): boolean;
}

/** What the worker needs (travels inside the pipeline spec). */
export interface VerifyTaskSpec {
  seed: number;
  /** Fraction of series (by hash) whose values are reported. */
  sampleRate: number;
  /** Count source samples per metric name (raw extractions). */
  sourceCounts: boolean;
}

export interface SampledSeries {
  /** Source series key, `name{a="x",…}`. */
  series: string;
  /** Measurement written. */
  measurement: string;
  /** Line-protocol series key as written (escaped), e.g. `m,a=x`. */
  key: string;
  /** Seeded hash in [0, 1): the main thread keeps the series with the smallest ones. */
  hash: number;
  /** Value field as written; `int` when the schema writes it as an integer. */
  field: string;
  int: boolean;
  ts: Float64Array;
  values: Float64Array;
}

export interface BatchVerify {
  /** measurement → field → points written that carry the field. */
  fields: Record<string, Record<string, number>>;
  /** metric name → source samples (non-context, staleness markers excluded). */
  sourceByMetric: Record<string, number>;
  samples: SampledSeries[];
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const NOT_EMITTED = FLAG_DROPPED | FLAG_HALO;
const INT64_MAX = 9223372036854776e3;

/** Seeded FNV-1a over the UTF-16 code units of `s`, as a fraction in [0, 1). Same on every thread. */
export function seriesHash(seed: number, s: string): number {
  let h = (0x811c9dc5 ^ Math.imul(seed | 0, 0x9e3779b1)) >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  // final avalanche (murmur3 fmix32) so similar keys spread
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return (h >>> 0) / 4294967296;
}

function metricName(seriesKey: string): string {
  const b = seriesKey.indexOf('{');
  return b < 0 ? seriesKey : seriesKey.slice(0, b);
}

/**
 * Source samples per metric, before kernels (kernels may rewrite values, so a staleness marker is
 * recognised only here, by its bit pattern). `unplaced` samples (decoded but not placed in the batch:
 * duplicate timestamps, out of order) are added by the caller under "(unplaced)".
 */
export function countSourceSamples(view: BatchView, out: Record<string, number>): void {
  const { runs, flags, value } = view;
  const keys = view.desc.seriesKeys;
  const bits = new Uint32Array(value.buffer, value.byteOffset, value.length * 2);
  const hi = LITTLE_ENDIAN ? 1 : 0;
  const lo = LITTLE_ENDIAN ? 0 : 1;
  for (let r = 0; r < view.runCount; r++) {
    const o = r * RUN_STRIDE;
    const first = runs[o + 1]!;
    const end = first + runs[o + 3]!;
    let n = 0;
    for (let i = first; i < end; i++) {
      if (flags[i]! & FLAG_HALO) continue;
      if (bits[2 * i + hi] === STALE_NAN_HI && bits[2 * i + lo] === STALE_NAN_LO) continue;
      n++;
    }
    if (n) {
      const m = metricName(keys[runs[o]!]!);
      out[m] = (out[m] ?? 0) + n;
    }
  }
}

const decoder = new TextDecoder();

/** Field counts of the emitted rows, and the values of sampled series (after every kernel). */
export function collectWritten(view: BatchView, features: Float64Array[], encoder: WrittenFields, spec: VerifyTaskSpec, out: BatchVerify, exclude?: ReadonlySet<string>): void {
  const { runs, flags, ts, value } = view;
  const keys = view.desc.seriesKeys;
  const names = encoder.fieldNames;
  const nf = features.length;
  const counts = new Float64Array(nf + 1);
  const present = (v: number, int: boolean): boolean => (int ? v > -INT64_MAX && v < INT64_MAX : v - v === 0);
  for (let r = 0; r < view.runCount; r++) {
    const o = r * RUN_STRIDE;
    const s = runs[o]!;
    if (exclude?.has(keys[s]!)) continue; // not written: the dispatcher excluded it (series collision)
    const target = encoder.target(keys[s]!);
    if (!target) continue;
    const start = runs[o + 1]! + runs[o + 2]!;
    const end = runs[o + 1]! + runs[o + 3]!;
    counts.fill(0);
    for (let i = start; i < end; i++) {
      if (flags[i]! & NOT_EMITTED) continue;
      if (!encoder.rowHasFields(value, features, i)) continue;
      if (names.value !== null && present(value[i]!, names.valueInt)) counts[0]!++;
      for (let f = 0; f < nf; f++) if (names.features[f] !== null && present(features[f]![i]!, names.featuresInt[f]!)) counts[f + 1]!++;
    }
    const byField = (out.fields[target.measurement] ??= {});
    if (names.value !== null && counts[0]! > 0) byField[names.value] = (byField[names.value] ?? 0) + counts[0]!;
    for (let f = 0; f < nf; f++) {
      const fname = names.features[f];
      if (fname !== null && fname !== undefined && counts[f + 1]! > 0) byField[fname] = (byField[fname] ?? 0) + counts[f + 1]!;
    }
    if (names.value === null || counts[0] === 0 || spec.sampleRate <= 0) continue;
    const h = seriesHash(spec.seed, keys[s]!);
    if (h >= spec.sampleRate) continue;
    const sts = new Float64Array(counts[0]!);
    const sv = new Float64Array(counts[0]!);
    let j = 0;
    for (let i = start; i < end; i++) {
      if (flags[i]! & NOT_EMITTED) continue;
      if (!encoder.rowHasFields(value, features, i)) continue;
      const v = value[i]!;
      if (!present(v, names.valueInt)) continue;
      sts[j] = ts[i]!;
      sv[j] = names.valueInt ? Math.floor(Math.round(v)) : v;
      j++;
    }
    out.samples.push({ series: keys[s]!, measurement: target.measurement, key: decoder.decode(target.key), hash: h, field: names.value, int: names.valueInt, ts: sts, values: sv });
  }
}
