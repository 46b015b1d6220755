/**
 * Writing a training set window by window (bounded memory, docs/ACCESS.md "Bounded memory"): each
 * window becomes one Arrow record batch, written as it comes —
 *  - Arrow IPC file / stream: apache-arrow's RecordBatchFileWriter / RecordBatchStreamWriter. The
 *    entity dictionaries only grow, and each window adds its new values as a *delta* dictionary
 *    batch (the dictionary vector keeps its earlier chunks, which the writer recognises), so the
 *    file format (no replacement dictionaries) holds them.
 *  - Parquet: parquet-wasm's transformParquetStream (the Rust ArrowWriter) fed record batches
 *    through a web stream with backpressure; row groups of up to 128 Ki rows.
 * Same column types as formats.ts (timestamp[ms, UTC], dictionary<int32, utf8>, float64 with nulls).
 */
import { createWriteStream, mkdirSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import {
  Dictionary,
  Field,
  Float64,
  Int32,
  RecordBatch,
  RecordBatchFileWriter,
  RecordBatchStreamWriter,
  Schema,
  Struct,
  Table,
  TimeUnit,
  Timestamp,
  Utf8,
  Vector,
  makeData,
  tableToIPC,
  vectorFromArray,
  type Data,
} from 'apache-arrow';
import { PromfluxError } from '../errors.js';
import type { ExportFormat } from './formats.js';
import { SPLITS, type TrainingSet } from './training.js';

/** Validity bitmap for a Float64 column: NaN → null. */
function floatData(a: Float64Array): Data<Float64> {
  let nulls = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== a[i]) nulls++;
  if (nulls === 0) return makeData({ type: new Float64(), length: a.length, nullCount: 0, data: a });
  const bm = new Uint8Array((a.length + 7) >> 3);
  for (let i = 0; i < a.length; i++) if (a[i] === a[i]) bm[i >> 3]! |= 1 << (i & 7);
  return makeData({ type: new Float64(), length: a.length, nullCount: nulls, data: a, nullBitmap: bm });
}

/** A growing dictionary as chunks: earlier chunks stay the same objects, so writers emit deltas. */
class GrowingDictionary {
  private readonly chunks: Data<Utf8>[] = [];
  private covered = 0;
  vector(dict: readonly string[]): Vector<Utf8> {
    if (dict.length > this.covered || this.chunks.length === 0) {
      this.chunks.push(vectorFromArray(dict.slice(this.covered), new Utf8()).data[0]!);
      this.covered = dict.length;
    }
    return new Vector(this.chunks);
  }
}

const splitDictionary = vectorFromArray([...SPLITS], new Utf8());

/** Turns window sets into record batches of one schema. */
export class BatchMaker {
  private schema: Schema | undefined;
  private readonly dicts: GrowingDictionary[] = [];

  batch(set: TrainingSet): RecordBatch {
    const n = set.rows;
    const tsType = new Timestamp(TimeUnit.MILLISECOND, 'UTC');
    const ts64 = new Int32Array(n * 2);
    for (let i = 0; i < n; i++) {
      // Int64 without BigInt: low and high 32-bit halves.
      const t = set.ts[i]!;
      const hi = Math.floor(t / 4294967296);
      ts64[2 * i] = (t - hi * 4294967296) | 0;
      ts64[2 * i + 1] = hi | 0;
    }
    const fields: Field[] = [new Field('timestamp', tsType, false)];
    const children: Data[] = [makeData({ type: tsType, length: n, nullCount: 0, data: ts64 })];
    set.entity.forEach((e, id) => {
      const type = new Dictionary(new Utf8(), new Int32(), id);
      const d = (this.dicts[id] ??= new GrowingDictionary());
      fields.push(new Field(e.name, type, false));
      children.push(makeData({ type, length: n, nullCount: 0, data: e.codes, dictionary: d.vector(e.dict) }));
    });
    for (const f of set.features) {
      fields.push(new Field(f.name, new Float64(), true));
      children.push(floatData(f.values));
    }
    if (set.target) {
      fields.push(new Field(set.target.name, new Float64(), true));
      children.push(floatData(set.target.values));
    }
    const splitType = new Dictionary(new Utf8(), new Int32(), set.entity.length);
    fields.push(new Field('split', splitType, false));
    children.push(makeData({ type: splitType, length: n, nullCount: 0, data: Int32Array.from(set.split), dictionary: splitDictionary }));
    this.schema ??= new Schema(fields, new Map([['promflux.version', '1'], ['promflux.kind', 'training-set']]));
    return new RecordBatch(this.schema, makeData({ type: new Struct(this.schema.fields), length: n, nullCount: 0, children }));
  }
}

export interface SetWriter {
  write(set: TrainingSet): Promise<void>;
  /** Finish the file (temp file renamed into place); returns its size. */
  close(): Promise<{ path: string; bytes: number }>;
  /** Give up: remove the temp file. */
  abort(): void;
}

let parquet: typeof import('parquet-wasm/node') | undefined;
function parquetWasm(): typeof import('parquet-wasm/node') {
  parquet ??= createRequire(import.meta.url)('parquet-wasm/node') as typeof import('parquet-wasm/node');
  return parquet;
}

function writeError(path: string, err: unknown): PromfluxError {
  return new PromfluxError('PROMFLUX_ACCESS_WRITE', `cannot write the training set to ${path}: ${(err as Error).message}`, { cause: err });
}

/** Open a streaming writer for `path` (written to `<path>.tmp`, renamed on close). */
export function openSetWriter(path: string, format: ExportFormat, compression: 'snappy' | 'zstd' = 'zstd'): SetWriter {
  const tmp = `${path}.tmp`;
  try {
    mkdirSync(dirname(path), { recursive: true });
  } catch (err) {
    throw writeError(path, err);
  }
  const out = createWriteStream(tmp);
  let bytes = 0;
  out.on('error', () => undefined); // surfaced by finished() below
  const maker = new BatchMaker();
  const done = async (): Promise<{ path: string; bytes: number }> => {
    try {
      await finished(out);
      bytes = out.bytesWritten;
      renameSync(tmp, path);
    } catch (err) {
      throw writeError(path, err);
    }
    return { path, bytes };
  };
  if (format === 'parquet') {
    const pq = parquetWasm();
    const props = new pq.WriterPropertiesBuilder()
      .setCompression(compression === 'snappy' ? pq.Compression.SNAPPY : pq.Compression.ZSTD)
      // Row groups of 128 Ki rows: the writer buffers one (in wasm memory, which never shrinks).
      .setMaxRowGroupSize(1 << 17)
      .setCreatedBy('promflux')
      .build();
    const batches = new TransformStream<unknown, unknown>(undefined, { highWaterMark: 1 }, { highWaterMark: 1 });
    const writer = batches.writable.getWriter();
    const piped = pq.transformParquetStream(batches.readable, props).then((bytesStream) => (bytesStream as ReadableStream<Uint8Array>).pipeTo(Writable.toWeb(out) as WritableStream<Uint8Array>));
    piped.catch(() => undefined);
    let empty: TrainingSet | undefined;
    let wrote = false;
    const put = async (set: TrainingSet): Promise<void> => {
      // One window: through IPC into the wasm side (one copy of the window's columns).
      const t = pq.Table.fromIPCStream(tableToIPC(new Table(maker.batch(set)), 'stream'));
      for (const b of t.recordBatches()) {
        await writer.ready;
        await writer.write(b);
      }
      wrote = true;
    };
    return {
      async write(set) {
        if (set.rows === 0) {
          empty ??= set;
          return;
        }
        await put(set);
      },
      async close() {
        if (!wrote && empty) await put(empty); // the schema, with no rows
        await writer.close();
        try {
          await piped;
        } catch (err) {
          throw writeError(path, err);
        }
        return done();
      },
      abort() {
        void writer.abort().catch(() => undefined);
        out.destroy();
        rmSync(tmp, { force: true });
      },
    };
  }
  const w = format === 'arrow' ? new RecordBatchFileWriter() : new RecordBatchStreamWriter();
  w.toNodeStream().pipe(out);
  let wrote = false;
  return {
    async write(set) {
      if (set.rows === 0 && wrote) return;
      w.write(maker.batch(set));
      wrote = true;
      // Backpressure: let the file stream drain before the next window is built.
      if (out.writableNeedDrain) await new Promise<void>((r) => out.once('drain', () => r()));
    },
    async close() {
      w.finish();
      w.close();
      return done();
    },
    abort() {
      w.abort();
      out.destroy();
      rmSync(tmp, { force: true });
    },
  };
}
