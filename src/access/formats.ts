/**
 * Writing a training set: Arrow IPC (file or stream) and Parquet (parquet-wasm, the Rust arrow/parquet
 * writer compiled to WebAssembly; snappy or zstd), plus a schema description beside it.
 *
 * Types: `timestamp` Timestamp(ms, UTC); entity labels and `split` Dictionary<Int32, Utf8>;
 * features and target Float64 with NaN as null (a kept NaN is a null slot). Columns are wrapped
 * from the matrix's typed arrays with makeData (no per-row work but the null bitmaps).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import {
  Dictionary,
  Field,
  Float64,
  Int32,
  RecordBatch,
  Schema,
  Struct,
  Table,
  TimeUnit,
  Timestamp,
  Utf8,
  makeData,
  tableToIPC,
  vectorFromArray,
  type Data,
} from 'apache-arrow';
import { PromfluxError } from '../errors.js';
import { SPLITS, type TrainingSet, type TrainingSpec } from './training.js';

export type ExportFormat = 'parquet' | 'arrow' | 'arrow-stream';

/** Validity bitmap for a Float64 column: NaN → null. Undefined when there is none. */
function nullBitmap(a: Float64Array): { bitmap?: Uint8Array; nulls: number } {
  let nulls = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== a[i]) nulls++;
  if (nulls === 0) return { nulls };
  const bm = new Uint8Array((a.length + 7) >> 3);
  for (let i = 0; i < a.length; i++) if (a[i] === a[i]) bm[i >> 3]! |= 1 << (i & 7);
  return { bitmap: bm, nulls };
}

function floatData(a: Float64Array): Data<Float64> {
  const { bitmap, nulls } = nullBitmap(a);
  return makeData({ type: new Float64(), length: a.length, nullCount: nulls, data: a, ...(bitmap ? { nullBitmap: bitmap } : {}) });
}

function dictData(codes: Int32Array, dict: readonly string[], id: number): Data<Dictionary<Utf8, Int32>> {
  const type = new Dictionary(new Utf8(), new Int32(), id);
  return makeData({ type, length: codes.length, nullCount: 0, data: codes, dictionary: vectorFromArray([...dict], new Utf8()) });
}

/** The matrix as an Arrow table (one record batch). */
export function toArrowTable(set: TrainingSet): Table {
  const n = set.rows;
  const ts64 = new BigInt64Array(n);
  for (let i = 0; i < n; i++) ts64[i] = BigInt(set.ts[i]!);
  const fields: Field[] = [new Field('timestamp', new Timestamp(TimeUnit.MILLISECOND, 'UTC'), false)];
  const children: Data[] = [makeData({ type: new Timestamp(TimeUnit.MILLISECOND, 'UTC'), length: n, nullCount: 0, data: new Int32Array(ts64.buffer, 0, n * 2) })];
  let id = 0;
  for (const e of set.entity) {
    const d = dictData(e.codes, e.dict, id++);
    fields.push(new Field(e.name, d.type, false));
    children.push(d);
  }
  for (const f of set.features) {
    fields.push(new Field(f.name, new Float64(), true));
    children.push(floatData(f.values));
  }
  if (set.target) {
    fields.push(new Field(set.target.name, new Float64(), true));
    children.push(floatData(set.target.values));
  }
  const splitCodes = Int32Array.from(set.split);
  const sd = dictData(splitCodes, SPLITS, id++);
  fields.push(new Field('split', sd.type, false));
  children.push(sd);
  const schema = new Schema(fields, new Map([['promflux.version', '1'], ['promflux.kind', 'training-set']]));
  const struct = makeData({ type: new Struct(schema.fields), length: n, nullCount: 0, children });
  return new Table([new RecordBatch(schema, struct)]);
}

let parquet: typeof import('parquet-wasm/node') | undefined;
function parquetWasm(): typeof import('parquet-wasm/node') {
  // parquet-wasm's node build is CommonJS that instantiates its WebAssembly synchronously.
  parquet ??= createRequire(import.meta.url)('parquet-wasm/node') as typeof import('parquet-wasm/node');
  return parquet;
}

export function encodeTrainingSet(set: TrainingSet, format: ExportFormat, compression: 'snappy' | 'zstd' = 'zstd'): Uint8Array {
  const table = toArrowTable(set);
  if (format === 'arrow') return tableToIPC(table, 'file');
  if (format === 'arrow-stream') return tableToIPC(table, 'stream');
  const pq = parquetWasm();
  const wt = pq.Table.fromIPCStream(tableToIPC(table, 'stream'));
  const props = new pq.WriterPropertiesBuilder().setCompression(compression === 'snappy' ? pq.Compression.SNAPPY : pq.Compression.ZSTD).setCreatedBy('promflux').build();
  return pq.writeParquet(wt, props);
}

export interface SchemaDescription {
  kind: 'promflux-training-set';
  version: 1;
  format: ExportFormat;
  compression?: string;
  rows: number;
  candidates: number;
  dropped: Record<string, number>;
  pointsRead: number;
  range: { start: string; end: string };
  columns: Array<{ name: string; type: string; role: 'timestamp' | 'entity' | 'feature' | 'target' | 'split'; definition?: string }>;
  entity: string[];
  spine: TrainingSpec['spine'];
  target?: TrainingSpec['target'];
  split?: TrainingSpec['split'] & { boundaries?: { validation: string; test: string; gapMs: number } };
  sample?: TrainingSpec['sample'];
  /** sha256 of the pipeline config that made the data (when given). */
  configHash?: string;
  /** The scaling state the pipeline applied: path, sha256 and its content summary. */
  scaling?: Array<{ path: string; sha256: string; method?: string; series?: number }>;
  source: string;
}

export function fileSha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

export function describeTrainingSet(
  set: TrainingSet,
  spec: TrainingSpec,
  opts: { format: ExportFormat; compression?: string; configHash?: string; scaling?: SchemaDescription['scaling']; source: string },
): SchemaDescription {
  const iso = (t: number): string => new Date(t).toISOString();
  return {
    kind: 'promflux-training-set',
    version: 1,
    format: opts.format,
    ...(opts.format === 'parquet' ? { compression: opts.compression ?? 'zstd' } : {}),
    rows: set.rows,
    candidates: set.candidates,
    dropped: set.dropped,
    pointsRead: set.pointsRead,
    range: { start: iso(spec.start), end: iso(spec.end) },
    columns: [
      { name: 'timestamp', type: 'timestamp[ms, UTC]', role: 'timestamp' },
      ...set.entity.map((e) => ({ name: e.name, type: 'dictionary<int32, utf8>', role: 'entity' as const, definition: `label ${e.name}, decoded with decodeTagValue` })),
      ...spec.features.map((f) => ({
        name: f.name,
        type: 'float64',
        role: 'feature' as const,
        definition:
          f.definition ??
          `${f.groupBy ? `${f.groupBy.fn}(${f.field ?? 'value'}) over ${f.groupBy.every} of ` : ''}${f.measurement}.${f.field ?? 'value'}${f.where ? ` where ${JSON.stringify(f.where)}` : ''}, as of t (newest sample at or before t, at most ${String(f.tolerance ?? '5m')} old)`,
      })),
      ...(set.target ? [{ name: set.target.name, type: 'float64', role: 'target' as const, definition: JSON.stringify(spec.target) }] : []),
      { name: 'split', type: 'dictionary<int32, utf8>', role: 'split', definition: 'train | validation | test, by time' },
    ],
    entity: spec.entity,
    spine: spec.spine ?? { every: 60_000 },
    ...(spec.target ? { target: spec.target } : {}),
    ...(spec.split ? { split: { ...spec.split, ...(set.boundaries ? { boundaries: { validation: iso(set.boundaries.validation), test: iso(set.boundaries.test), gapMs: set.boundaries.gap } } : {}) } } : {}),
    ...(spec.sample ? { sample: spec.sample } : {}),
    ...(opts.configHash ? { configHash: opts.configHash } : {}),
    ...(opts.scaling ? { scaling: opts.scaling } : {}),
    source: opts.source,
  };
}

/** Write `<path>.schema.json` (via a temp file and rename); returns its path. */
export function writeSchemaFile(path: string, description: SchemaDescription): string {
  const schemaPath = `${path}.schema.json`;
  try {
    writeFileSync(`${schemaPath}.tmp`, JSON.stringify(description, null, 2) + '\n');
    renameSync(`${schemaPath}.tmp`, schemaPath);
  } catch (err) {
    throw new PromfluxError('PROMFLUX_ACCESS_WRITE', `cannot write the schema file ${schemaPath}: ${(err as Error).message}`, { cause: err });
  }
  return schemaPath;
}

/** Write the data file and `<path>.schema.json` (each via a temp file and rename). */
export function writeTrainingSet(path: string, data: Uint8Array, description: SchemaDescription): { path: string; schemaPath: string; bytes: number } {
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(`${path}.tmp`, data);
    renameSync(`${path}.tmp`, path);
    const schemaPath = `${path}.schema.json`;
    writeFileSync(`${schemaPath}.tmp`, JSON.stringify(description, null, 2) + '\n');
    renameSync(`${schemaPath}.tmp`, schemaPath);
    return { path, schemaPath, bytes: data.length };
  } catch (err) {
    throw new PromfluxError('PROMFLUX_ACCESS_WRITE', `cannot write the training set to ${path}: ${(err as Error).message}`, { cause: err });
  }
}

