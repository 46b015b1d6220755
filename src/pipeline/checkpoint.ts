/**
 * Crash-safe checkpoints. Per pipeline, a versioned msgpackr file records which parts of the plan
 * are fully loaded, as time intervals per coverage key (a query, or a block of series). Intervals
 * rather than chunk ids, because adaptive batch sizing cuts chunks differently from run to run: a
 * resumed run subtracts what is covered and plans only the rest.
 *
 * Durability: write to a temp file, fsync it, rename over the old file, fsync the directory. A crash
 * at any point leaves either the old or the new checkpoint, never a torn one. Writes are at-least-once
 * (a chunk loaded just before a crash may be loaded again) and InfluxDB writes are idempotent
 * (same measurement + tags + timestamp overwrites), so the data ends exact.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pack, unpack } from 'msgpackr';
import { PromfluxError } from '../errors.js';

export const CHECKPOINT_VERSION = 1;

export type Interval = [number, number];

interface CheckpointDoc {
  version: number;
  pipeline: string;
  /** Hash of the plan-relevant config: a changed plan must not reuse an old checkpoint. */
  planHash: string;
  updatedAt: number;
  /** coverage key → sorted, merged, half-open [start, end) intervals. */
  covered: Record<string, Interval[]>;
  /** Run totals so far (for the summary of a resumed run). */
  totals: { samplesIn: number; linesOut: number; dropped: Record<string, number> };
  done: boolean;
  /** `run --verify` counts of every attempt so far (src/load/influx/run-verify.ts), written with the coverage. */
  verify?: unknown;
}

export class CheckpointStore {
  readonly path: string;
  private doc: CheckpointDoc;
  private dirty = false;
  private lastWrite = 0;

  private constructor(path: string, doc: CheckpointDoc) {
    this.path = path;
    this.doc = doc;
  }

  /** Open (or start) the checkpoint of a pipeline in `dir`. A plan change starts fresh. */
  static open(dir: string, pipeline: string, planHash: string): CheckpointStore {
    const path = join(dir, `${pipeline}.ckpt`);
    let doc: CheckpointDoc | undefined;
    try {
      const raw = unpack(readFileSync(path)) as CheckpointDoc;
      if (raw.version !== CHECKPOINT_VERSION) {
        throw new PromfluxError('PROMFLUX_CHECKPOINT_VERSION', `checkpoint ${path} has version ${raw.version}, this promflux reads ${CHECKPOINT_VERSION}; move it away to start over`);
      }
      if (raw.planHash === planHash) doc = raw;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' && err instanceof PromfluxError) throw err;
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' && !(err instanceof PromfluxError)) {
        throw new PromfluxError('PROMFLUX_CHECKPOINT_CORRUPT', `cannot read checkpoint ${path}: ${(err as Error).message}; move it away to start over`, { cause: err });
      }
    }
    doc ??= { version: CHECKPOINT_VERSION, pipeline, planHash, updatedAt: 0, covered: {}, totals: { samplesIn: 0, linesOut: 0, dropped: {} }, done: false };
    return new CheckpointStore(path, doc);
  }

  get done(): boolean {
    return this.doc.done;
  }

  get totals(): CheckpointDoc['totals'] {
    return this.doc.totals;
  }

  covered(): ReadonlyMap<string, readonly Interval[]> {
    return new Map(Object.entries(this.doc.covered));
  }

  /** Record [start, end) of `key` as loaded. */
  add(key: string, start: number, end: number, totals?: CheckpointDoc['totals']): void {
    this.doc.covered[key] = mergeInterval(this.doc.covered[key] ?? [], [start, end]);
    if (totals) this.doc.totals = { samplesIn: totals.samplesIn, linesOut: totals.linesOut, dropped: { ...totals.dropped } };
    this.dirty = true;
  }

  /** The verify counts recorded with the coverage (undefined if none were). */
  get verify(): unknown {
    return this.doc.verify;
  }

  /** Record verify counts; persisted by the next flush together with the coverage added with them. */
  setVerify(v: unknown): void {
    this.doc.verify = v;
    this.dirty = true;
  }

  markDone(): void {
    this.doc.done = true;
    this.dirty = true;
  }

  /** Persist if changed and at least `minIntervalMs` passed since the last write (0 = now). */
  flush(minIntervalMs = 0): boolean {
    if (!this.dirty) return false;
    const now = Date.now();
    if (minIntervalMs > 0 && now - this.lastWrite < minIntervalMs) return false;
    this.doc.updatedAt = now;
    writeDurably(this.path, pack(this.doc));
    this.dirty = false;
    this.lastWrite = now;
    return true;
  }

  /** Milliseconds since the last durable write (checkpoint lag). */
  lagMs(): number {
    return this.lastWrite ? Date.now() - this.lastWrite : 0;
  }
}

/** Insert an interval into a sorted, merged list (adjacent intervals merge). */
export function mergeInterval(list: readonly Interval[], iv: Interval): Interval[] {
  const out: Interval[] = [];
  let [s, e] = iv;
  let placed = false;
  for (const [a, b] of list) {
    if (b < s) out.push([a, b]);
    else if (a > e) {
      if (!placed) {
        out.push([s, e]);
        placed = true;
      }
      out.push([a, b]);
    } else {
      s = Math.min(s, a);
      e = Math.max(e, b);
    }
  }
  if (!placed) out.push([s, e]);
  return out;
}

/** Parts of [start, end) not covered by `covered` (sorted, merged). */
export function subtractCovered(start: number, end: number, covered: readonly Interval[] | undefined): Interval[] {
  if (!covered || covered.length === 0) return start < end ? [[start, end]] : [];
  const out: Interval[] = [];
  let cur = start;
  for (const [a, b] of covered) {
    if (b <= cur) continue;
    if (a >= end) break;
    if (a > cur) out.push([cur, Math.min(a, end)]);
    cur = Math.max(cur, b);
    if (cur >= end) break;
  }
  if (cur < end) out.push([cur, end]);
  return out;
}

/** temp file + fsync + rename + directory fsync. */
export function writeDurably(path: string, data: Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    let off = 0;
    while (off < data.byteLength) off += writeSync(fd, data, off, data.byteLength - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  try {
    const dfd = openSync(dirname(path), 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    // Some filesystems refuse fsync on directories; the rename is still atomic.
  }
}
