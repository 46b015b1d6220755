/**
 * Line-protocol file sink, optionally gzip-compressed (zlib runs in libuv's thread pool). Appends are
 * serialized in arrival order; `write` resolves when the bytes are handed to the OS, so a slow disk
 * slows the source.
 *
 * gzip: each write is compressed as one gzip member of its own, appended to the file. A file of
 * concatenated members is one valid gzip file (RFC 1952 §2.2; gunzip, zcat, Python's gzip, Go's
 * gzip.Reader and Node's zlib.gunzip read them all as one stream), and every batch boundary is a
 * member boundary: a byte offset recorded between two writes always cuts the file between two
 * complete members. That is what lets a resumed run append to a gzip file (see below). The deflate
 * window is 32 KiB, so compressing batches apart costs about nothing for batches of line protocol.
 *
 * Under a checkpoint (`restore` called before `open`) the sink appends instead of truncating: the
 * checkpoint records the byte offset of the last accepted commit (every write before it durable:
 * appended and fdatasynced), and the resumed run cuts the file back to that offset (the torn or
 * not-yet-recorded tail of the killed attempt, whose chunks the resumed run writes again), then
 * appends. The file ends holding every chunk exactly once. Without a checkpoint the file is
 * truncated at open, as it always was.
 */
import { mkdirSync, openSync, fsyncSync, closeSync } from 'node:fs';
import { lstat, open, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { gzip as gzipCb, type ZlibOptions } from 'node:zlib';
import { promisify } from 'node:util';
import { PromfluxError, SinkError } from '../errors.js';
import type { EncodedBatch, Sink, SinkCommit, SinkResumeState, SinkWriteResult } from './sink.js';

/** Earlier outputs at least this large are set aside at open instead of truncated (setAsideOldOutput). */
const SET_ASIDE_MIN_BYTES = 1 << 20;

const gzipAsync = promisify(gzipCb) as (buf: Uint8Array, opts: ZlibOptions) => Promise<Buffer>;

interface FileResumeState extends SinkResumeState {
  kind: 'file';
  path: string;
  gzip: boolean;
  /** Bytes of the file that hold committed writes (the rest is cut on resume). */
  offset: number;
}

export class FileSink implements Sink {
  readonly kind = 'file';
  readonly needs = { lineProtocol: true, columns: false };
  readonly resume = 'commit' as const;
  private fh: FileHandle | undefined;
  /** Bytes in the file: where the next append goes. */
  private offset = 0;
  /** write() calls whose bytes are in the file (or that had none). */
  private writes = 0;
  /** Appends run one after the other, in call order. */
  private tail: Promise<void> = Promise.resolve();
  private failed: Error | undefined;
  private bytes = 0;
  private closed = false;
  /** Checkpointed run: the offset to resume from (0 = fresh). undefined = no checkpoint. */
  private resumeAt: number | undefined;
  private cutBytes = 0;
  private dirSynced = false;
  /** A regular file (positioned writes, truncate, fsync); false for a fifo, a pipe or a device such as /dev/stdout. */
  private seekable = true;
  /** The earlier output set aside at open: its blocks are being freed (setAsideOldOutput). */
  private releasing: Promise<void> | undefined;
  /** Mode of that earlier output, given to the new file. */
  private oldMode: number | undefined;

  constructor(readonly path: string, private readonly gzip = path.endsWith('.gz')) {}

  async restore(state: SinkResumeState | undefined): Promise<void> {
    if (!state) {
      this.resumeAt = 0;
      return;
    }
    const s = state as FileResumeState;
    if (s.kind !== 'file' || resolve(s.path) !== resolve(this.path) || s.gzip !== this.gzip || typeof s.offset !== 'number') {
      throw new PromfluxError(
        'PROMFLUX_CHECKPOINT_SINK_MISMATCH',
        `the checkpoint was written by a run whose sink was ${describe(s)}, this run writes file:${this.path}${this.gzip ? ' (gzip)' : ''}; resume with the same sink, or move the checkpoint away to start over`,
      );
    }
    this.resumeAt = s.offset;
  }

  async open(): Promise<void> {
    if (this.closed) throw reused(this.path);
    try {
      await this.openFile();
    } catch (err) {
      if (err instanceof PromfluxError) throw err;
      throw new SinkError('PROMFLUX_SINK_OPEN', `file sink ${this.path}: cannot open the output: ${(err as Error).message}; check that the path is a writable file (not a directory) in a writable directory`, { cause: err });
    }
  }

  private async openFile(): Promise<void> {
    mkdirSync(dirname(this.path), { recursive: true });
    if (!this.resumeAt) {
      // No checkpoint, or a checkpointed run with nothing committed yet: start the file afresh.
      await this.setAsideOldOutput();
      this.fh = await open(this.path, 'w');
      if (this.oldMode !== undefined) await this.fh.chmod(this.oldMode);
      this.offset = 0;
      this.seekable = (await this.fh.stat()).isFile();
      if (!this.seekable && this.resumeAt === 0) {
        await this.fh.close();
        this.fh = undefined;
        throw new SinkError('PROMFLUX_SINK_OPEN', `file sink ${this.path}: a checkpointed run needs a regular file to resume into, and this is a pipe or device; run without --checkpoint, or write to a file`);
      }
      return;
    }
    try {
      this.fh = await open(this.path, 'r+');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      throw missing(this.path, this.resumeAt, 'it does not exist');
    }
    const size = (await this.fh.stat()).size;
    if (size < this.resumeAt) {
      await this.fh.close();
      this.fh = undefined;
      throw missing(this.path, this.resumeAt, `it has only ${size} bytes`);
    }
    if (size > this.resumeAt) {
      // The killed attempt's tail: a torn last write and/or writes no commit recorded. Their
      // chunks are not in the checkpoint, so this run writes them again.
      await this.fh.truncate(this.resumeAt);
      await this.fh.datasync();
      this.cutBytes = size - this.resumeAt;
    }
    this.offset = this.resumeAt;
  }

  /**
   * Truncating a large earlier output in open() frees its blocks there and then: 73–930 ms for the
   * 267 MB `npm start` writes (ext4, this machine, under load), before the run's first batch
   * (issue #18, start-up). Instead the old file stays open, its name is unlinked and a new file
   * takes the name; the old blocks are freed when that handle closes, in libuv's thread pool,
   * while the run goes on (close() waits for it). The process dying before that frees them all the
   * same (the kernel closes the handle). Only for what truncation would do exactly the same to: a
   * regular file with one link, owned by this user (its mode is kept); anything else (a symlink, a
   * hard-linked file, a fifo, a small file) is truncated as before.
   */
  private async setAsideOldOutput(): Promise<void> {
    let st;
    try {
      st = await lstat(this.path);
    } catch {
      return; // nothing there (or unreadable: open() reports it)
    }
    const uid = process.getuid?.();
    if (!st.isFile() || st.nlink !== 1 || st.size < SET_ASIDE_MIN_BYTES || (uid !== undefined && st.uid !== uid)) return;
    let old: FileHandle | undefined;
    try {
      old = await open(this.path, 'r');
      await unlink(this.path);
    } catch {
      await old?.close().catch(() => undefined);
      return; // truncated by open() as before
    }
    this.oldMode = st.mode & 0o7777;
    this.releasing = old.close().catch(() => undefined);
  }

  async write(batch: EncodedBatch): Promise<SinkWriteResult> {
    const fh = this.fh;
    if (!fh || this.closed) throw new SinkError('PROMFLUX_SINK_NOT_OPEN', `file sink ${this.path}: write before open or after close`);
    if (!batch.lp || batch.lp.byteLength === 0) {
      this.writes++;
      return { written: batch.lines };
    }
    this.bytes += batch.lp.byteLength;
    // Compress now (in parallel with earlier appends), append in call order.
    // 256 KiB output chunks instead of 16 KiB: fewer round trips through the main thread (see load/influx/deliver.ts).
    const data = this.gzip ? gzipAsync(batch.lp, { level: 6, chunkSize: 1 << 18 }) : Promise.resolve(batch.lp);
    const appended = this.tail.then(async () => {
      if (this.failed) throw this.failed;
      try {
        const buf = await data;
        let off = 0;
        while (off < buf.byteLength) {
          // A pipe or device has no positions (pwrite fails with ESPIPE): plain writes, in order.
          const { bytesWritten } = await fh.write(buf, off, buf.byteLength - off, this.seekable ? this.offset + off : null);
          off += bytesWritten;
        }
        this.offset += buf.byteLength;
        this.writes++;
      } catch (err) {
        // Where the file ends is unknown now: no later append may go after it.
        this.failed = new SinkError('PROMFLUX_SINK_WRITE', `file sink ${this.path}: append of batch ${batch.batchId} failed at byte ${this.offset}: ${(err as Error).message}`, { cause: err });
        throw this.failed;
      }
    });
    this.tail = appended.catch(() => undefined);
    // Resolve only once the bytes are in the file: the dispatcher recycles the buffer afterwards.
    await appended;
    return { written: batch.lines };
  }

  async commit(): Promise<SinkCommit | undefined> {
    const fh = this.fh;
    if (!fh || this.failed) return undefined;
    const writes = this.writes;
    const offset = this.offset;
    // fdatasync covers the size too; appends made while it runs are simply not claimed yet.
    await fh.datasync();
    if (!this.dirSynced) {
      syncDir(dirname(this.path));
      this.dirSynced = true;
    }
    return { writes, state: { kind: 'file', path: this.path, gzip: this.gzip, offset } satisfies FileResumeState };
  }

  /**
   * Waits for every append, then closes the file. Rejects (PROMFLUX_SINK_CLOSE) when the file
   * cannot be closed; a run fails on it. A sink is single-use: open() after close() throws.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.releasing;
    const fh = this.fh;
    if (!fh) return;
    await this.tail;
    try {
      await fh.close();
    } catch (err) {
      throw new SinkError('PROMFLUX_SINK_CLOSE', `file sink ${this.path}: cannot close the output: ${(err as Error).message}; the file may be incomplete`, { cause: err });
    }
  }

  stats(): Record<string, unknown> {
    return {
      path: this.path,
      bytes: this.bytes,
      gzip: this.gzip,
      ...(this.resumeAt ? { resumedAtByte: this.resumeAt, tornTailBytesCut: this.cutBytes } : {}),
    };
  }
}

function reused(path: string): SinkError {
  return new SinkError('PROMFLUX_SINK_REUSED', `sink ${path}: open() after close(): a sink object is single-use; create a new one for each run (or pass the sink in the config and let the pipeline build it)`);
}

function describe(s: Partial<FileResumeState> & { kind?: unknown; path?: unknown }): string {
  return `${String(s.kind)}:${String(s.path)}${s.gzip ? ' (gzip)' : ''}`;
}

function missing(path: string, offset: number, what: string): PromfluxError {
  return new PromfluxError(
    'PROMFLUX_RESUME_OUTPUT_MISSING',
    `cannot resume: the checkpoint says ${path} holds ${offset} committed bytes, but ${what}; restore the file, or move the checkpoint away to start over`,
  );
}

/** fsync a directory so a newly created file's entry survives a crash (some filesystems refuse). */
export function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // not supported here; the data itself is synced
  }
}
