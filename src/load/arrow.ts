/**
 * Arrow IPC file sink: the emitted rows with their features, one RecordBatch per engine batch,
 * readable by pyarrow, polars and apache-arrow. Columns:
 *   series: Dictionary<Int32, Utf8> (canonical key `name{label="v",...}`; one dictionary per file,
 *   written after the record batches: see LateDictionaryWriter), timestamp: Timestamp(ms, UTC),
 *   value: Float64, flags: Uint32, then one Float64 column per feature (NaN = no value).
 * polars reads them as Categorical, Datetime(ms, UTC), Float64, UInt32, Float64. The worker already
 * laid the buffers out the Arrow way, so this wraps them; the only per-row pass is the series
 * indices' remap to the file's dictionary (one Int32 each). `write()` waits for the disk.
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
import type { Data, Dictionary, Int32, RecordBatchFileWriter, Schema, Utf8, Vector } from 'apache-arrow';
import { lazyRequire } from '../util/lazy.js';
import { PromfluxError, SinkError } from '../errors.js';
import { syncDir } from './file.js';
import type { EncodedBatch, Sink, SinkCommit, SinkNeeds, SinkResumeState, SinkWriteResult } from './sink.js';

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

/** apache-arrow loads on the first Arrow sink, not with the config module (issue #18: start-up). */
const arrow = lazyRequire<typeof import('apache-arrow')>('apache-arrow');

/** Dictionary id of the `series` column (the only dictionary-encoded column the sink writes). */
const SERIES_DICT_ID = 0;
const seriesType = (): Dictionary<Utf8, Int32> => new (arrow().Dictionary)(new (arrow().Utf8)(), new (arrow().Int32)(), SERIES_DICT_ID, false);
const textEncoder = new TextEncoder();

/** Bytes a file may hold unwritten before write() waits for the disk (backpressure). */
export const ARROW_HIGH_WATER_BYTES = 4 * 1024 * 1024;

/**
 * The IPC file writer with the `series` dictionary written once, complete, after the record
 * batches (just before the footer). Why: the file format forbids replacing a dictionary, and
 * nodejs-polars (0.26) refuses delta dictionaries ("delta dictionary batches not supported",
 * tried here), so one growing dictionary cannot be written batch by batch; the format allows the
 * dictionary anywhere before the footer ("In the file format, there is no requirement that
 * dictionary keys should be defined in a DictionaryBatch before they are used in a RecordBatch, as
 * long as the keys are defined somewhere in the file", Arrow columnar format, IPC file format).
 * Readers of the file format (apache-arrow, polars, pyarrow) read dictionaries from the footer.
 */
interface LateDictionaryWriter extends RecordBatchFileWriter {
  /** Bytes handed to the sink's pump so far. */
  readonly position: number;
  writeSeriesDictionary(keys: readonly string[]): void;
}

/** The class is made on first use, so apache-arrow loads only with the first Arrow sink (issue #18: start-up). */
let lateDictionaryWriterClass: (new () => LateDictionaryWriter) | undefined;
function newLateDictionaryWriter(): LateDictionaryWriter {
  lateDictionaryWriterClass ??= class extends arrow().RecordBatchFileWriter {
    protected override _writeDictionaries(): this {
      return this;
    }

    get position(): number {
      return this._position;
    }

    writeSeriesDictionary(keys: readonly string[]): void {
      this._writeDictionaryBatch(utf8Data(keys), SERIES_DICT_ID, false);
    }
  } as unknown as new () => LateDictionaryWriter;
  return new lateDictionaryWriterClass();
}

/** Arrow Utf8 data of `keys` (per series, not per row). */
function utf8Data(keys: readonly string[]): Data<Utf8> {
  const parts = keys.map((k) => textEncoder.encode(k));
  const offsets = new Int32Array(keys.length + 1);
  let bytes = 0;
  for (let i = 0; i < parts.length; i++) {
    offsets[i] = bytes;
    bytes += parts[i]!.length;
  }
  offsets[keys.length] = bytes;
  const data = new Uint8Array(bytes);
  for (let i = 0; i < parts.length; i++) data.set(parts[i]!, offsets[i]!);
  return arrow().makeData({ type: new (arrow().Utf8)(), length: keys.length, nullCount: 0, valueOffsets: offsets, data });
}

/** The (empty) dictionary a record batch's series column carries in memory; the file gets the real one at finish. */
let noDictionary: Vector<Utf8> | undefined;
const NO_DICTIONARY = (): Vector<Utf8> => (noDictionary ??= arrow().makeVector(utf8Data([])));

/**
 * One Arrow IPC file being written: the writer's byte chunks are appended to a file handle, in
 * order, by one pump loop (not the writer's node-stream adapter, whose destroy-on-error rejects a
 * promise nobody handles: an unhandled rejection in the host). The first I/O error (ENOSPC, EPIPE,
 * EIO, …) is kept in `error`: the next write or finish throws it, coded. The file's series
 * dictionary grows as keys appear (ids in order of first appearance) and is written at finish.
 */
class ArrowFileOut {
  readonly writer: LateDictionaryWriter;
  error: Error | undefined;
  rows = 0;
  private fh: FileHandle | undefined;
  private pump: Promise<void> = Promise.resolve();
  private flushed = 0;
  private waiters: Array<{ upTo: number; resolve: () => void; reject: (e: Error) => void }> = [];
  private readonly keys: string[] = [];
  private readonly ids = new Map<string, number>();

  constructor(readonly path: string, readonly schema: Schema) {
    this.writer = newLateDictionaryWriter();
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
        this.flushed += chunk.byteLength;
        this.wakeWaiters();
      }
    } catch (err) {
      this.error ??= err instanceof Error ? err : new Error(String(err));
      for (const w of this.waiters.splice(0)) w.reject(this.error);
      throw this.error;
    }
  }

  private wakeWaiters(): void {
    if (this.waiters.length === 0) return;
    const keep: typeof this.waiters = [];
    for (const w of this.waiters) (this.flushed >= w.upTo ? w.resolve() : keep.push(w));
    this.waiters = keep;
  }

  /**
   * File ids of a batch's series keys, added to the file's dictionary as they first appear. Per
   * series of the batch, not per row.
   */
  private idsOf(batchKeys: readonly string[]): Int32Array {
    const out = new Int32Array(batchKeys.length);
    for (let i = 0; i < batchKeys.length; i++) {
      const k = batchKeys[i]!;
      let id = this.ids.get(k);
      if (id === undefined) {
        id = this.keys.length;
        this.keys.push(k);
        this.ids.set(k, id);
      }
      out[i] = id;
    }
    return out;
  }

  /**
   * Append a record batch whose series column is given as per-batch indices into `batchKeys`;
   * resolves once at most ARROW_HIGH_WATER_BYTES of the file are not yet on disk (backpressure: a
   * slow disk slows the pipeline instead of filling memory). Throws PROMFLUX_SINK_WRITE if the file
   * failed (nothing may go after it).
   */
  async write(batchKeys: readonly string[], batchIdx: Uint32Array | Int32Array, rest: Data[], n: number, batchId: number): Promise<void> {
    if (this.error) throw this.failed(batchId);
    const remap = this.idsOf(batchKeys);
    // Hand-written typed-array pass (why: the file's dictionary is known only here, on the sink's
    // thread): one Int32 per row, the same order of work as the writer's own copy of the buffers.
    const idx = new Int32Array(n);
    for (let j = 0; j < n; j++) idx[j] = remap[batchIdx[j]!]!;
    const series = arrow().makeData({ type: seriesType(), length: n, nullCount: 0, data: idx, dictionary: NO_DICTIONARY() });
    const struct = arrow().makeData({ type: new (arrow().Struct)(this.schema.fields), length: n, nullCount: 0, children: [series, ...rest] });
    this.writer.write(new (arrow().RecordBatch)(this.schema, struct));
    this.rows += n;
    const upTo = this.writer.position - ARROW_HIGH_WATER_BYTES;
    if (this.flushed >= upTo) return;
    await new Promise<void>((resolve, reject) => this.waiters.push({ upTo, resolve, reject })).catch(() => {
      throw this.failed(batchId);
    });
  }

  private failed(batchId: number): SinkError {
    return new SinkError('PROMFLUX_SINK_WRITE', `arrow sink ${this.path}: the output failed before batch ${batchId}: ${this.error!.message}`, { cause: this.error });
  }

  /** Write the dictionary and the footer and wait until every byte is in the file; `sync`: fsync it too. */
  async finish(sync: boolean): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    try {
      if (!this.error) {
        this.writer.writeSeriesDictionary(this.keys);
        this.writer.finish();
        this.writer.close();
      }
      await this.pump;
      if (sync && fh) await fh.sync();
      await fh?.close();
    } catch (err) {
      await fh?.close().catch(() => undefined);
      throw new SinkError('PROMFLUX_SINK_CLOSE', `arrow sink ${this.path}: cannot finish the file (dictionary, footer, flush): ${(err as Error).message}; the file is not a readable Arrow file`, { cause: err });
    }
  }
}

export class ArrowSink implements Sink {
  readonly kind = 'arrow';
  readonly needs: SinkNeeds;
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

  /**
   * `options.sort: 'batch'`: each record batch's rows ordered by (series, timestamp), sorted in the
   * workers (a sort of a batch's runs; memory: one batch, as without it). The file as a whole is
   * not sorted across batches: that would need a spill-and-merge pass (docs/LOAD.md).
   */
  constructor(
    readonly path: string,
    private readonly featureNames: readonly string[],
    metadata: Record<string, string> = {},
    options: { sort?: 'none' | 'batch' } = {},
  ) {
    this.needs = { lineProtocol: false, columns: true, ...(options.sort === 'batch' ? { sortedColumns: true } : {}) };
    const fields = [
      new (arrow().Field)('series', seriesType(), false),
      new (arrow().Field)('timestamp', new (arrow().Timestamp)(arrow().TimeUnit.MILLISECOND, 'UTC'), false),
      new (arrow().Field)('value', new (arrow().Float64)(), false),
      new (arrow().Field)('flags', new (arrow().Uint32)(), false),
      ...featureNames.map((f) => new (arrow().Field)(f, new (arrow().Float64)(), false)),
    ];
    this.schema = new (arrow().Schema)(fields, new Map(Object.entries({ 'promflux.version': '2', 'promflux.sort': options.sort ?? 'none', ...metadata })));
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
    const rest: Data[] = [
      arrow().makeData({ type: new (arrow().Timestamp)(arrow().TimeUnit.MILLISECOND, 'UTC'), length: n, nullCount: 0, data: new Int32Array(c.ts64, 0, n * 2) }),
      arrow().makeData({ type: new (arrow().Float64)(), length: n, nullCount: 0, data: new Float64Array(c.value, 0, n) }),
      arrow().makeData({ type: new (arrow().Uint32)(), length: n, nullCount: 0, data: new Uint32Array(c.flags, 0, n) }),
    ];
    for (const name of this.featureNames) {
      const idx = c.featureNames.indexOf(name);
      const data = idx >= 0 ? new Float64Array(c.features[idx]!, 0, n) : new Float64Array(n).fill(NaN);
      rest.push(arrow().makeData({ type: new (arrow().Float64)(), length: n, nullCount: 0, data }));
    }
    const out = await this.target();
    await out.write(c.seriesKeys, new Uint32Array(c.series, 0, n), rest, n, batch.batchId);
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
    const out = new ArrowFileOut(this.foldTmp, this.schema);
    await out.open();
    const inputs = [...(p.base ? [this.path] : []), ...p.parts.map((n) => join(this.partsDir, n))];
    for (const file of inputs) {
      const fh = await openFile(file, 'r');
      try {
        const reader = await arrow().RecordBatchReader.from(fh);
        for await (const b of reader) {
          const series = b.data.children[0]!;
          if (!arrow().DataType.isDictionary(series.type) || !series.dictionary) {
            throw new SinkError('PROMFLUX_SINK_WRITE', `arrow sink ${this.path}: ${file} has a plain Utf8 series column (written by an older promflux); move it away (or the checkpoint) to start over`);
          }
          // the input file's dictionary → this file's ids (per series), indices remapped per row
          const keys = series.dictionary.toArray() as string[];
          await out.write(keys, series.values as Int32Array, b.data.children.slice(1), b.numRows, -1);
        }
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
