/**
 * Arrow IPC file sink: the emitted rows with their features, one RecordBatch per engine batch,
 * readable by pyarrow, polars and apache-arrow. Columns:
 *   series: Utf8 (canonical key `name{label="v",...}`), timestamp: Timestamp(ms, UTC),
 *   value: Float64, flags: Uint32, then one Float64 column per feature (NaN = no value).
 * The worker already laid the buffers out the Arrow way, so this only wraps them (no per-row work).
 */
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { dirname } from 'node:path';
import { pipeline } from 'node:stream/promises';
import {
  Field,
  Float64,
  RecordBatch,
  RecordBatchFileWriter,
  Schema,
  Struct,
  TimeUnit,
  Timestamp,
  Uint32,
  Utf8,
  makeData,
  type Data,
} from 'apache-arrow';
import { SinkError } from '../errors.js';
import type { EncodedBatch, Sink, SinkWriteResult } from './sink.js';

export class ArrowSink implements Sink {
  readonly kind = 'arrow';
  readonly needs = { lineProtocol: false, columns: true };
  private readonly schema: Schema;
  private writer: RecordBatchFileWriter | undefined;
  private out: WriteStream | undefined;
  private done: Promise<void> | undefined;
  private rows = 0;
  private closed = false;

  constructor(
    readonly path: string,
    private readonly featureNames: readonly string[],
    metadata: Record<string, string> = {},
  ) {
    const fields = [
      new Field('series', new Utf8(), false),
      new Field('timestamp', new Timestamp(TimeUnit.MILLISECOND, 'UTC'), false),
      new Field('value', new Float64(), false),
      new Field('flags', new Uint32(), false),
      ...featureNames.map((f) => new Field(f, new Float64(), false)),
    ];
    this.schema = new Schema(fields, new Map(Object.entries({ 'promflux.version': '1', ...metadata })));
  }

  async open(): Promise<void> {
    mkdirSync(dirname(this.path), { recursive: true });
    this.writer = new RecordBatchFileWriter();
    this.writer.reset(undefined, this.schema);
    this.out = createWriteStream(this.path);
    await once(this.out, 'open');
    this.done = pipeline(this.writer.toNodeStream(), this.out);
  }

  async write(batch: EncodedBatch): Promise<SinkWriteResult> {
    const c = batch.columns;
    if (!this.writer) throw new SinkError('PROMFLUX_SINK_NOT_OPEN', `arrow sink ${this.path}: write before open`);
    if (!c) throw new SinkError('PROMFLUX_SINK_NO_COLUMNS', `arrow sink ${this.path}: batch ${batch.batchId} has no feature columns`);
    if (c.rows === 0) return { written: 0 };
    const n = c.rows;
    const children: Data[] = [
      makeData({ type: new Utf8(), length: n, nullCount: 0, valueOffsets: new Int32Array(c.seriesOffsets, 0, n + 1), data: new Uint8Array(c.seriesData) }),
      makeData({ type: new Timestamp(TimeUnit.MILLISECOND, 'UTC'), length: n, nullCount: 0, data: new Int32Array(c.ts64, 0, n * 2) }),
      makeData({ type: new Float64(), length: n, nullCount: 0, data: new Float64Array(c.value, 0, n) }),
      makeData({ type: new Uint32(), length: n, nullCount: 0, data: new Uint32Array(c.flags, 0, n) }),
    ];
    for (const name of this.featureNames) {
      const idx = c.featureNames.indexOf(name);
      const data = idx >= 0 ? new Float64Array(c.features[idx]!, 0, n) : new Float64Array(n).fill(NaN);
      children.push(makeData({ type: new Float64(), length: n, nullCount: 0, data }));
    }
    const struct = makeData({ type: new Struct(this.schema.fields), length: n, nullCount: 0, children });
    this.writer.write(new RecordBatch(this.schema, struct));
    this.rows += n;
    return { written: n };
  }

  async close(): Promise<void> {
    if (this.closed || !this.writer) return;
    this.closed = true;
    this.writer.finish();
    this.writer.close();
    await this.done;
  }

  stats(): Record<string, unknown> {
    return { path: this.path, rows: this.rows };
  }
}
