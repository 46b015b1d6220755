/**
 * Read-back from promflux's own Arrow files (the arrow sink, src/load/arrow.ts): each record batch
 * holds per-series runs of rows; a run is found by comparing the series column's bytes with the
 * previous row's (no string per row), its key is parsed once per run, and its timestamps, value and
 * feature columns are handed on as typed-array blocks, like the InfluxDB read-back. Measurement =
 * the metric name, tags = the labels (canonical, unescaped: no decoding needed), fields = `value` and
 * every feature column. One record batch in memory at a time.
 */
import { open } from 'node:fs/promises';
import { DataType, RecordBatchReader, type Data, type RecordBatch } from 'apache-arrow';
import { parseSeriesKey } from '../batch/layout.js';
import { PromfluxError } from '../errors.js';
import type { SeriesBlock } from './decode.js';
import type { ReadSpec } from './query.js';
import type { BlockReader } from './training.js';

function matches(labels: Record<string, string>, where: ReadSpec['where']): boolean {
  if (!where) return true;
  for (const [k, v] of Object.entries(where)) {
    const have = labels[k];
    if (have === undefined) return false;
    if (Array.isArray(v) ? !v.includes(have) : v !== have) return false;
  }
  return true;
}

/**
 * Runs of the series column: rows with the same key. Dictionary-encoded (the arrow sink since
 * promflux.version 2): equal indices; plain Utf8 (older files): equal bytes. No string per row:
 * the key is decoded once per run.
 */
function runFinder(series: Data, n: number): (i: number) => { end: number; key: string } {
  if (DataType.isDictionary(series.type)) {
    const idx = series.values as Int32Array;
    const dict = series.dictionary!;
    return (i) => {
      let j = i + 1;
      while (j < n && idx[j] === idx[i]) j++;
      return { end: j, key: String(dict.get(idx[i]!)) };
    };
  }
  const offsets = series.valueOffsets as Int32Array;
  const bytes = series.values as Uint8Array;
  const utf8 = new TextDecoder();
  return (i) => {
    const a0 = offsets[i]!;
    const a1 = offsets[i + 1]!;
    let j = i + 1;
    for (; j < n; j++) {
      const b0 = offsets[j]!;
      const b1 = offsets[j + 1]!;
      if (b1 - b0 !== a1 - a0) break;
      let same = true;
      for (let k = 0; k < a1 - a0; k++) {
        if (bytes[a0 + k] !== bytes[b0 + k]) {
          same = false;
          break;
        }
      }
      if (!same) break;
    }
    return { end: j, key: utf8.decode(bytes.subarray(a0, a1)) };
  };
}

function blocksOf(batch: RecordBatch, spec: ReadSpec, file: string): SeriesBlock[] {
  const n = batch.numRows;
  const col = (name: string) => {
    const c = batch.getChild(name);
    if (!c) throw new PromfluxError('PROMFLUX_ACCESS_ARROW', `${file}: no "${name}" column (not a promflux Arrow file?)`);
    return c.data[0]!;
  };
  const series = col('series');
  const tsData = col('timestamp');
  const runEnd = runFinder(series, n);
  const tsv = tsData.values as BigInt64Array | Int32Array;
  const ts32 = new Int32Array(tsv.buffer, tsv.byteOffset, n * 2);
  const fieldNames = batch.schema.fields.map((f) => f.name).filter((f) => f !== 'series' && f !== 'timestamp' && f !== 'flags');
  const wanted = spec.fields?.length && !spec.fields.includes('*') ? fieldNames.filter((f) => spec.fields!.includes(f)) : fieldNames;
  const cols = wanted.map((f) => col(f).values as Float64Array);
  const out: SeriesBlock[] = [];
  let i = 0;
  while (i < n) {
    const { end: j, key } = runEnd(i);
    const { name, labels } = parseSeriesKey(key);
    if (name === spec.measurement && matches(labels, spec.where)) {
      // rows of the run within [start, end)
      let cnt = 0;
      const ts = new Float64Array(j - i);
      const keep = new Int32Array(j - i);
      for (let r = i; r < j; r++) {
        const t = (ts32[2 * r]! >>> 0) + ts32[2 * r + 1]! * 4294967296;
        if (t >= spec.start && t < spec.end) {
          ts[cnt] = t;
          keep[cnt++] = r;
        }
      }
      if (cnt > 0) {
        out.push({
          name,
          tags: labels,
          columns: wanted,
          ts: ts.subarray(0, cnt),
          values: cols.map((c) => {
            const v = new Float64Array(cnt);
            for (let k = 0; k < cnt; k++) v[k] = c[keep[k]!]!;
            return v;
          }),
          rows: cnt,
          partial: true,
          statement: 0,
        });
      }
    }
    i = j;
  }
  return out;
}

/** Blocks of one spec from Arrow files, in file and batch order. */
export async function* readArrowFile(paths: string | readonly string[], spec: ReadSpec): AsyncGenerator<SeriesBlock[]> {
  if (spec.groupBy) throw new PromfluxError('PROMFLUX_ACCESS_SPEC', 'groupBy is not supported when reading Arrow files: aggregate with InfluxDB, or read raw');
  for (const file of typeof paths === 'string' ? [paths] : paths) {
    const fh = await open(file, 'r').catch((err: Error) => {
      throw new PromfluxError('PROMFLUX_ACCESS_ARROW', `cannot open ${file}: ${err.message}`);
    });
    try {
      const reader = await RecordBatchReader.from(fh);
      for await (const b of reader) {
        const blocks = blocksOf(b, spec, file);
        if (blocks.length) yield blocks;
      }
    } finally {
      await fh.close().catch(() => undefined);
    }
  }
}

/** A BlockReader over Arrow files (for trainingSet). Series rows must be in time order per series. */
export function arrowReader(paths: string | readonly string[]): BlockReader {
  return (spec) => readArrowFile(paths, spec);
}
