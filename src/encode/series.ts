/**
 * Encodes the emitted rows of a batch as line protocol. Series keys (measurement + sorted, escaped
 * tags) are built once per series and cached per worker; the per-row loop only copies bytes and
 * formats numbers into the LineWriter's buffer.
 */
import { FLAG_DROPPED, FLAG_HALO, RUN_STRIDE, parseSeriesKey, type BatchView } from '../batch/layout.js';
import { encodeFieldKey, encodeMappedKey, EncodeError, mapSeriesKey, seriesKeyText, type LineWriter } from './lineprotocol.js';
import { wasmLines, type WasmField } from './wasm-lines.js';
import { compileMapping, SCHEMA_EXCLUDED_REASON, SERIES_COLLISION_REASON, type SchemaMappingConfig } from './schema-map.js';

/** At most this many series per series-level drop reason per batch are named (the warn log). */
const SERIES_DROPS_PER_REASON = 8;

/** Rows never emitted: dropped, or context (leading halo and trailing look-ahead). */
const NOT_EMITTED = FLAG_DROPPED | FLAG_HALO;

/** How a worker encodes a pipeline's rows (part of the task's pipeline spec: plain data). */
export interface EncodeSpec {
  /** Timestamp precision of the line protocol. */
  precision: 's' | 'ms' | 'us' | 'ns';
  /** 0 = shortest round-trip floats; N = N significant digits. */
  floatDigits: number;
  /** Field name of the sample value. */
  valueField: string;
  /** Write the flags bitmask as an integer field `flags` when non-zero. */
  flagsField: boolean;
  /**
   * Schema mapping, validated on the main thread (`schemaMappingSchema`, src/load/schema.ts);
   * undefined = metric name → measurement, labels → tags.
   */
  schema?: SchemaMappingConfig;
  /** Key policy for what line protocol cannot carry (sink.tagValues; default 'escape'). */
  tagValues?: 'escape' | 'replace' | 'drop';
  /** Replacement character of the 'replace' policy (sink.tagReplacement; default '_'). */
  tagReplacement?: string;
}

export interface SeriesMapping {
  mapSeries(name: string, labels: Record<string, string>): { measurement: string; tags: Record<string, string> } | null;
  mapField(column: string): { name: string; type: 'float' | 'int' } | null;
}

export interface SeriesEncoder {
  /**
   * Encode emitted rows into w; counts rows that cannot be emitted into `dropped`; marks emitted
   * series. Series in `exclude` (source series keys) are not written: their rows count as
   * `series_collision` (the dispatcher found another series with the same target key).
   */
  encode(w: LineWriter, view: BatchView, features: Float64Array[], dropped: Record<string, number>, emitted: Uint8Array, perMeasurement?: Record<string, number>, exclude?: ReadonlySet<string>): number;
  /** Same accounting as encode, without producing bytes (columns-only sinks). */
  countEmittable(view: BatchView, features: Float64Array[], dropped: Record<string, number>, emitted: Uint8Array, perMeasurement?: Record<string, number>, exclude?: ReadonlySet<string>): number;
  keeps(seriesKey: string): boolean;
  /**
   * Drop reason → series whose rows the last encode/countEmittable dropped for a series-level
   * reason (schema_excluded, unencodable_*, series_collision, no_fields); at most a few per reason,
   * for the once-per-series warn log (src/observe/drop-log.ts). Per series, never per sample.
   */
  lastSeriesDrops(): Record<string, string[]>;
  /** Line-protocol text of the series key a source series is written under (after schema and key policy). */
  targetKey(seriesKey: string): string | undefined;
  rowHasFields(value: Float64Array, features: Float64Array[], row: number): boolean;
  /** Run verification (src/load/influx/run-verify.ts): the measurement and encoded line-protocol key a series is written under, or null. */
  target(seriesKey: string): { measurement: string; key: Uint8Array } | null;
  /** Field keys as written (after schema mapping; null = not written): the value column, then each feature. */
  readonly fieldNames: { value: string | null; valueInt: boolean; features: Array<string | null>; featuresInt: boolean[] };
}

const MAX_CACHED_KEYS = 200_000;

const defaultMapping: SeriesMapping = {
  mapSeries: (name, labels) => ({ measurement: name, tags: labels }),
  mapField: (column) => ({ name: column, type: 'float' }),
};

export function createSeriesEncoder(spec: EncodeSpec, featureNames: string[]): SeriesEncoder {
  const mapping: SeriesMapping = spec.schema !== undefined ? compileMapping(spec.schema) : defaultMapping;
  // Per series: encoded key bytes, or the reason its rows cannot be written (counted as drops).
  const keyCache = new Map<string, Uint8Array | string>();
  const measurementCache = new Map<string, string>();
  const targetCache = new Map<string, string>();
  const keyOpts = { policy: spec.tagValues ?? 'escape', ...(spec.tagReplacement !== undefined ? { replacement: spec.tagReplacement } : {}) } as const;
  const keyOrReason = (seriesKey: string): Uint8Array | string => {
    let k = keyCache.get(seriesKey);
    if (k === undefined) {
      const { name, labels } = parseSeriesKey(seriesKey);
      const m = mapping.mapSeries(name, labels);
      if (!m) k = SCHEMA_EXCLUDED_REASON;
      else {
        // The key policy (sink.tagValues) rewrites or refuses what line protocol cannot carry.
        const mk = mapSeriesKey(m.measurement, m.tags, keyOpts);
        if (typeof mk === 'string') k = `unencodable_${mk}`;
        else {
          try {
            k = encodeMappedKey(mk, m.measurement);
          } catch (err) {
            if (!(err instanceof EncodeError)) throw err;
            k = `unencodable_${err.reason}`;
          }
        }
        if (typeof k !== 'string' && typeof mk !== 'string') {
          if (targetCache.size >= MAX_CACHED_KEYS) targetCache.clear();
          targetCache.set(seriesKey, seriesKeyText(mk));
        }
      }
      if (keyCache.size >= MAX_CACHED_KEYS) {
        keyCache.clear();
        measurementCache.clear();
      }
      keyCache.set(seriesKey, k);
      if (m) measurementCache.set(seriesKey, m.measurement);
    }
    return k;
  };
  const keyOf = (seriesKey: string): Uint8Array | null => {
    const k = keyOrReason(seriesKey);
    return typeof k === 'string' ? null : k;
  };

  const valueMap = mapping.mapField(spec.valueField);
  const valueKey = valueMap ? encodeFieldKey(valueMap.name) : null;
  const valueInt = valueMap?.type === 'int';
  const featKeys: (Uint8Array | null)[] = [];
  const featInt: boolean[] = [];
  for (const f of featureNames) {
    const m = mapping.mapField(f);
    featKeys.push(m ? encodeFieldKey(m.name) : null);
    featInt.push(m?.type === 'int');
  }
  const flagsKey = spec.flagsField ? encodeFieldKey('flags') : null;
  const nf = featureNames.length;

  const rowHasFields = (value: Float64Array, features: Float64Array[], i: number): boolean => {
    if (valueKey && Number.isFinite(value[i]!)) return true;
    for (let f = 0; f < nf; f++) if (featKeys[f] && Number.isFinite(features[f]![i]!)) return true;
    return false;
  };

  // The columns the WebAssembly row loop writes, in the JS order: value, features, then flags.
  const wasmFields: WasmField[] = [];
  const wasmCols = (value: Float64Array, features: Float64Array[]): Float64Array[] => {
    const cols: Float64Array[] = [];
    if (valueKey) cols.push(value);
    for (let f = 0; f < nf; f++) if (featKeys[f]) cols.push(features[f]!);
    return cols;
  };
  if (valueKey) wasmFields.push({ key: valueKey, int: valueInt });
  for (let f = 0; f < nf; f++) if (featKeys[f]) wasmFields.push({ key: featKeys[f]!, int: featInt[f]! });

  /** One row through the JS LineWriter: the reference the WebAssembly loop matches byte for byte. */
  const writeRow = (w: LineWriter, key: Uint8Array, value: Float64Array, features: Float64Array[], fl: number, t: number, i: number): void => {
    w.begin(key);
    const v = value[i]!;
    if (valueKey) {
      if (valueInt && Number.isFinite(v)) w.int(valueKey, Math.round(v));
      else w.float(valueKey, v);
    }
    for (let f = 0; f < nf; f++) {
      const fk = featKeys[f];
      if (!fk) continue;
      const x = features[f]![i]!;
      if (featInt[f] && Number.isFinite(x)) w.int(fk, Math.round(x));
      else w.float(fk, x);
    }
    if (flagsKey && fl >>> 8) w.int(flagsKey, fl >>> 8);
    w.end(t);
  };

  let seriesDrops: Record<string, string[]> = {};
  const walk = (
    view: BatchView,
    features: Float64Array[],
    dropped: Record<string, number>,
    emitted: Uint8Array,
    w: LineWriter | null,
    perMeasurement?: Record<string, number>,
    exclude?: ReadonlySet<string>,
  ): number => {
    const { runs, flags, ts, value } = view;
    const keys = view.desc.seriesKeys;
    let out = 0;
    let noFields = 0;
    seriesDrops = {};
    // The WebAssembly row loop for shortest floats (the default); the JS writer otherwise.
    const wasm = w && w.floatDigits === 0 && (valueKey || wasmFields.length > 0 || flagsKey) ? wasmLines() : null;
    if (wasm && w) wasm.beginBatch(view.length, ts, flags, wasmCols(value, features), wasmFields, flagsKey, w.precisionName);
    const counts = { noFields: 0 };
    const noteSeries = (reason: string, seriesKey: string): void => {
      const list = (seriesDrops[reason] ??= []);
      if (list.length < SERIES_DROPS_PER_REASON && list[list.length - 1] !== seriesKey) list.push(seriesKey);
    };
    for (let r = 0; r < view.runCount; r++) {
      const o = r * RUN_STRIDE;
      const s = runs[o]!;
      const start = runs[o + 1]! + runs[o + 2]!;
      const end = runs[o + 1]! + runs[o + 3]!;
      const key = exclude?.has(keys[s]!) ? SERIES_COLLISION_REASON : keyOrReason(keys[s]!);
      if (typeof key === 'string') {
        let n = 0;
        for (let i = start; i < end; i++) if ((flags[i]! & NOT_EMITTED) === 0) n++;
        if (n) {
          dropped[key] = (dropped[key] ?? 0) + n;
          noteSeries(key, keys[s]!);
        }
        continue;
      }
      const noFieldsBefore = noFields;
      const before = out;
      let done = -1;
      if (wasm && w) {
        counts.noFields = 0;
        done = wasm.encodeRun(w, key, start, end, counts, (i) => writeRow(w, key, value, features, flags[i]!, ts[i]!, i));
        if (done >= 0) {
          noFields += counts.noFields;
          out += done;
          if (done > 0) emitted[s] = 1;
        }
      }
      if (done < 0) {
        for (let i = start; i < end; i++) {
          const fl = flags[i]!;
          if (fl & NOT_EMITTED) continue;
          if (!rowHasFields(value, features, i)) {
            noFields++;
            continue;
          }
          if (w) writeRow(w, key, value, features, fl, ts[i]!, i);
          emitted[s] = 1;
          out++;
        }
      }
      if (perMeasurement && out > before) {
        const meas = measurementCache.get(keys[s]!)!;
        perMeasurement[meas] = (perMeasurement[meas] ?? 0) + (out - before);
      }
      if (noFields > noFieldsBefore) noteSeries('no_fields', keys[s]!);
    }
    if (noFields) dropped.no_fields = (dropped.no_fields ?? 0) + noFields;
    return out;
  };

  return {
    lastSeriesDrops: () => seriesDrops,
    encode: (w, view, features, dropped, emitted, perMeasurement, exclude) => walk(view, features, dropped, emitted, w, perMeasurement, exclude),
    countEmittable: (view, features, dropped, emitted, perMeasurement, exclude) => walk(view, features, dropped, emitted, null, perMeasurement, exclude),
    keeps: (seriesKey) => keyOf(seriesKey) !== null,
    targetKey: (seriesKey) => {
      if (!targetCache.has(seriesKey)) {
        keyCache.delete(seriesKey); // recompute (the target cache may have been cleared on its own)
        keyOrReason(seriesKey);
      }
      return targetCache.get(seriesKey);
    },
    rowHasFields,
    target: (seriesKey) => {
      const key = keyOf(seriesKey);
      return key ? { measurement: measurementCache.get(seriesKey)!, key } : null;
    },
    fieldNames: {
      value: valueMap ? valueMap.name : null,
      valueInt,
      features: featureNames.map((f) => mapping.mapField(f)?.name ?? null),
      featuresInt: featInt,
    },
  };
}
