/**
 * Arrow IPC file sink: the emitted rows with their features, one RecordBatch per engine batch,
 * readable by pyarrow, polars and apache-arrow. Columns:
 *   series: Utf8 (canonical key `name{label="v",...}`), timestamp: Timestamp(ms, UTC),
 *   value: Float64, flags: Uint32, then one Float64 column per feature (NaN = no value).
 * The worker already laid the buffers out the Arrow way, so this only wraps them (no per-row work).
 *
 * Under a checkpoint (`restore` called before `open`) the rows go to part files instead,
 * `<path>.parts/part-NNNNNN.arrow`, each a complete Arrow IPC file. An Arrow file is readable only
 * once its footer is written, so a file cut by a crash mid-record-batch (or before its footer) is
 * lost as a whole; appending to one is not possible either. So each commit finishes the current
 * part (footer, fsync, directory fsync) and lists it in the checkpoint; the next rows go to a new
 * part. A resumed run deletes every part no commit listed (the killed attempt's unfinished part,
 * whose chunks it writes again) and carries on numbering after the listed ones. When the whole plan
 * is done and a commit has listed every part, the parts are folded, batch by batch (bounded memory:
 * one record batch at a time), into `<path>` (after the rows `<path>` already held, if the
 * checkpoint calls it the base; temp file, fsync, rename), the checkpoint records that, and the
 * parts are removed: a completed checkpointed run leaves the same single file as an uninterrupted
 * one, and a later run of an incremental pipeline adds parts after that base. Until then, the
 * committed output is the base file (if any) and the parts the checkpoint lists (docs/LOAD.md,
 * "Resuming file and Arrow sinks").
 */
import { mkdirSync, readdirSync, rmSync, renameSync, existsSync, statSync } from 'node:fs';
import { open as openFile, type FileHandle } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Data, RecordBatch, RecordBatchFileWriter, Schema } from 'apache-arrow';
import { lazyRequire } from '../util/lazy.js';
import { PromfluxError, SinkError } from '../errors.js';
import { syncDir } from './file.js';
import type { EncodedBatch, Sink, SinkCommit, SinkResumeState, SinkWriteResult } from './sink.js';

/** apache-arrow loads on the first Arrow sink, not with the config module (issue #18: start-up). */
const arrow = lazyRequire<typeof import('apache-arrow')>('apache-arrow');

interface ArrowResumeState extends SinkResumeState {
  kind: 'arrow';
  path: string;
  /** Finished part files (names inside `<path>.parts/`), in order. */
  parts: string[];
  /** Rows per listed part. */
  partRows: number[];
  /** Number of the next part (numbers are never reused for a listed part). */
  nextPart: number;
  /** `path` holds committed rows that come before the parts (an earlier fold). */
  base: boolean;
  /** Size of `path` when it became the base (a different size means a fold the checkpoint did not record). */
  baseBytes: number;
}

/**
 * One Arrow IPC file being written: the writer's byte chunks are appended to a file handle, in
 * order, by one pump loop (not the writer's node-stream adapter, whose destroy-on-error rejects a
 * promise nobody handles: an unhandled rejection in the host). The first I/O error (ENOSPC, EPIPE,
 * EIO, …) is kept in `error`: the next write or finish throws it, coded.
 */
class ArrowFileOut {
  readonly writer: RecordBatchFileWriter;
  error: Error | undefined;
  rows = 0;
  private fh: FileHandle | undefined;
  private pump: Promise<void> = Promise.resolve();

  constructor(readonly path: string, schema: Schema) {
    this.writer = new (arrow().RecordBatchFileWriter)();
    this.writer.reset(undefined, schema);
  }

  /** Open (create or truncate) the file; rejects PROMFLUX_SINK_OPEN (EISDIR, EACCES, EROFS, …). */
  async open(): Promise<void> {
    try {
      this.fh = await openFile(this.path, 'w');
    } catch (err) {
      throw new SinkError('PROMFLUX_SINK_OPEN', `arrow sink ${this.path}: cannot open the output: ${(err as Error).message}; check that the path is a writable file (not a directory) in a writable directory`, { cause: err });
    }
    this.pump = this.drain(this.fh);
    // Errors surface in check() and finish(); keep an early one from being an unhandled rejection.
    this.pump.catch(() => undefined);
  }

  private async drain(fh: FileHandle): Promise<void> {
    try {
      for await (const chunk of this.writer as AsyncIterable<Uint8Array>) {
        let off = 0;
        while (off < chunk.byteLength) off += (await fh.write(chunk, off, chunk.byteLength - off)).bytesWritten;
      }
    } catch (err) {
      this.error ??= err instanceof Error ? err : new Error(String(err));
      throw this.error;
    }
  }

  /** Append a record batch; throws PROMFLUX_SINK_WRITE if the file failed (nothing may go after it). */
  write(batch: RecordBatch, batchId: number): void {
    if (this.error) throw new SinkError('PROMFLUX_SINK_WRITE', `arrow sink ${this.path}: the output failed before batch ${batchId}: ${this.error.message}`, { cause: this.error });
    this.writer.write(batch);
  }

  /** Write the footer and wait until every byte is in the file; `sync`: fsync it too. */
  async finish(sync: boolean): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    try {
      if (!this.error) {
        this.writer.finish();
        this.writer.close();
      }
      await this.pump;
      if (sync && fh) await fh.sync();
      await fh?.close();
    } catch (err) {
      await fh?.close().catch(() => undefined);
      throw new SinkError('PROMFLUX_SINK_CLOSE', `arrow sink ${this.path}: cannot finish the file (footer, flush): ${(err as Error).message}; the file is not a readable Arrow file`, { cause: err });
    }
  }
}

export class ArrowSink implements Sink {
  readonly kind = 'arrow';
  readonly needs = { lineProtocol: false, columns: true };
  readonly resume = 'commit' as const;
  private readonly schema: Schema;
  /** The single output file (no checkpoint). */
  private file: ArrowFileOut | undefined;
  private rows = 0;
  private closed = false;
  private opened = false;
  /** Checkpointed run: parts state (undefined = no checkpoint, one file as always). */
  private parts: ArrowResumeState | undefined;
  private current: ArrowFileOut | undefined;
  private currentName = '';
  private writes = 0;
  private removedParts = 0;
  private folded = false;
  private readonly partsDir: string;

  constructor(
    readonly path: string,
    private readonly featureNames: readonly string[],
    metadata: Record<string, string> = {},
  ) {
    const { Field, Float64, Schema, TimeUnit, Timestamp, Uint32, Utf8 } = arrow();
    const fields = [
      new Field('series', new Utf8(), false),
      new Field('timestamp', new Timestamp(TimeUnit.MILLISECOND, 'UTC'), false),
      new Field('value', new Float64(), false),
      new Field('flags', new Uint32(), false),
      ...featureNames.map((f) => new Field(f, new Float64(), false)),
    ];
    this.schema = new Schema(fields, new Map(Object.entries({ 'promflux.version': '1', ...metadata })));
    this.partsDir = `${path}.parts`;
  }

  async restore(state: SinkResumeState | undefined): Promise<void> {
    rmSync(this.foldTmp, { force: true });
    if (!state) {
      // A fresh checkpointed run: nothing of an earlier run (parts or a folded file) is ours.
      rmSync(this.partsDir, { recursive: true, force: true });
      rmSync(this.path, { force: true });
      this.parts = { kind: 'arrow', path: this.path, parts: [], partRows: [], nextPart: 1, base: false, baseBytes: 0 };
      return;
    }
    const s = state as ArrowResumeState;
    if (s.kind !== 'arrow' || resolve(String(s.path)) !== resolve(this.path) || !Array.isArray(s.parts) || typeof s.base !== 'boolean') {
      throw new PromfluxError(
        'PROMFLUX_CHECKPOINT_SINK_MISMATCH',
        `the checkpoint was written by a run whose sink was ${String(s.kind)}:${String(s.path)}, this run writes arrow:${this.path}; resume with the same sink, or move the checkpoint away to start over`,
      );
    }
    this.parts = { ...s, parts: [...s.parts], partRows: [...s.partRows] };
    const size = existsSync(this.path) ? statSync(this.path).size : -1;
    if (s.base && size < 0) throw missing(this.path, 'the file does not exist');
    if (size >= 0 && size !== (s.base ? s.baseBytes : -1) && s.parts.length > 0) {
      // A fold of exactly the listed parts finished (renamed) but was not recorded: adopt it.
      this.parts = { ...this.parts, parts: [], partRows: [], base: true, baseBytes: size };
      rmSync(this.partsDir, { recursive: true, force: true });
      return;
    }
    if (!s.base) rmSync(this.path, { force: true });
    const listed = new Set(s.parts);
    let present: string[] = [];
    try {
      present = readdirSync(this.partsDir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    for (const name of s.parts) if (!present.includes(name)) throw missing(join(this.partsDir, name), 'it does not exist');
    for (const name of present) {
      if (listed.has(name)) continue;
      // The killed attempt's unfinished (or unrecorded) part: its chunks are written again.
      rmSync(join(this.partsDir, name), { force: true });
      this.removedParts++;
    }
  }

  async open(): Promise<void> {
    if (this.closed) {
      throw new SinkError('PROMFLUX_SINK_REUSED', `arrow sink ${this.path}: open() after close(): an ArrowSink is single-use (a second run would append a second file to the first); create a new one for each run`);
    }
    try {
      mkdirSync(dirname(this.path), { recursive: true });
    } catch (err) {
      throw new SinkError('PROMFLUX_SINK_OPEN', `arrow sink ${this.path}: cannot create the output directory: ${(err as Error).message}`, { cause: err });
    }
    this.opened = true;
    if (this.parts) {
      mkdirSync(this.partsDir, { recursive: true });
      return;
    }
    const file = new ArrowFileOut(this.path, this.schema);
    await file.open();
    this.file = file;
  }

  async write(batch: EncodedBatch): Promise<SinkWriteResult> {
    const c = batch.columns;
    if (!this.opened || this.closed) throw new SinkError('PROMFLUX_SINK_NOT_OPEN', `arrow sink ${this.path}: write before open or after close`);
    if (!c) throw new SinkError('PROMFLUX_SINK_NO_COLUMNS', `arrow sink ${this.path}: batch ${batch.batchId} has no feature columns`);
    if (c.rows === 0) {
      this.writes++;
      return { written: 0 };
    }
    const n = c.rows;
    const { Float64, RecordBatch, Struct, TimeUnit, Timestamp, Uint32, Utf8, makeData } = arrow();
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
    const out = await this.target();
    out.write(new RecordBatch(this.schema, struct), batch.batchId);
    out.rows += n;
    this.rows += n;
    this.writes++;
    return { written: n };
  }

  /** Where rows go now: the single file, or the current part (a new one after each commit). */
  private async target(): Promise<ArrowFileOut> {
    if (this.file) return this.file;
    const p = this.parts;
    if (!p) throw new SinkError('PROMFLUX_SINK_NOT_OPEN', `arrow sink ${this.path}: write before open`);
    if (!this.current) {
      this.currentName = `part-${String(p.nextPart).padStart(6, '0')}.arrow`;
      p.nextPart++;
      const part = new ArrowFileOut(join(this.partsDir, this.currentName), this.schema);
      await part.open();
      this.current = part;
    }
    return this.current;
  }

  async commit(opts: { final: boolean; complete: boolean }): Promise<SinkCommit | undefined> {
    const p = this.parts;
    if (!p) return undefined;
    // Everything written so far is in the current part: finish it (writes after this go to a new one).
    const writes = this.writes;
    const part = this.current;
    const name = this.currentName;
    this.current = undefined;
    if (part) {
      await part.finish(true);
      syncDir(this.partsDir);
      p.parts.push(name);
      p.partRows.push(part.rows);
      // Parts are folded only once a recorded commit lists them all: the run commits again.
      return { writes, state: snapshot(p) };
    }
    // (No rows at all: the fold writes a file with the schema only, as an uninterrupted run does.)
    if (opts.complete && (p.parts.length > 0 || !p.base)) {
      await this.fold(p);
      p.parts = [];
      p.partRows = [];
      p.base = true;
      p.baseBytes = statSync(this.path).size;
      this.folded = true;
    }
    return { writes, state: snapshot(p) };
  }

  private get foldTmp(): string {
    return `${this.path}.folding`;
  }

  /** Base (if any) + parts, batch by batch, into `path` (temp file, fsync, rename, directory fsync). */
  private async fold(p: ArrowResumeState): Promise<void> {
    const { RecordBatch, RecordBatchReader } = arrow();
    const out = new ArrowFileOut(this.foldTmp, this.schema);
    await out.open();
    const inputs = [...(p.base ? [this.path] : []), ...p.parts.map((n) => join(this.partsDir, n))];
    for (const file of inputs) {
      const fh = await openFile(file, 'r');
      try {
        const reader = await RecordBatchReader.from(fh);
        for await (const b of reader) out.write(new RecordBatch(this.schema, b.data), -1);
      } finally {
        await fh.close().catch(() => undefined);
      }
    }
    await out.finish(true);
    renameSync(this.foldTmp, this.path);
    syncDir(dirname(this.path));
  }

  /**
   * Writes the footer and waits for the bytes. Rejects (PROMFLUX_SINK_CLOSE) when the file cannot
   * be finished: the run fails on it. Single-use: open() after close() throws PROMFLUX_SINK_REUSED.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (!this.opened) return;
    // An unfinished part (an attempt that ends without a final commit) stays for restore() to remove.
    if (this.current) await this.current.finish(false).catch(() => undefined);
    if (this.file) await this.file.finish(false);
    if (this.folded) rmSync(this.partsDir, { recursive: true, force: true });
  }

  stats(): Record<string, unknown> {
    const p = this.parts;
    return {
      path: this.path,
      rows: this.rows,
      ...(p ? { parts: p.parts.length, partsRemovedOnResume: this.removedParts } : {}),
    };
  }
}

function snapshot(p: ArrowResumeState): ArrowResumeState {
  return { ...p, parts: [...p.parts], partRows: [...p.partRows] };
}

function missing(path: string, what: string): PromfluxError {
  return new PromfluxError('PROMFLUX_RESUME_OUTPUT_MISSING', `cannot resume: the checkpoint lists ${path} as committed output, but ${what}; restore it, or move the checkpoint away to start over`);
}
