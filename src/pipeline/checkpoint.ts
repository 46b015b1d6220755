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
 *
 * Sinks that are not idempotent (file, Arrow) keep their output across attempts themselves
 * (`Sink.resume === 'commit'`): the checkpoint also holds the sink's state of its last accepted
 * commit (a byte offset, a list of finished parts), and a chunk counts as covered only once a
 * commit that includes its write was accepted (`OutputCommits`). Coverage and output then match
 * exactly: the resumed run restores the output to that state and writes every other chunk once.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { lazyRequire } from '../util/lazy.js';
import type { Logger } from 'pino';
import { PromfluxError } from '../errors.js';
import type { Sink, SinkResumeState } from '../load/sink.js';
import type { SourceChunk } from '../extract/source.js';

// msgpackr (and its probe for the native addon) on first save or load only (issue #18, start-up).
const msgpackr = lazyRequire<typeof import('msgpackr')>('msgpackr');
const pack: typeof import('msgpackr').pack = (value) => msgpackr().pack(value);
const unpack: typeof import('msgpackr').unpack = (bytes) => msgpackr().unpack(bytes);

/** Version written. Version 1 files (no sink state) are still read. */
export const CHECKPOINT_VERSION = 2;
const READABLE_VERSIONS = [1, 2];

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
  /** Since version 2: the sink kind of the run, and the state of its last accepted commit ('commit' sinks). */
  sink?: { kind: string; state?: SinkResumeState };
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
      if (!READABLE_VERSIONS.includes(raw.version)) {
        throw new PromfluxError('PROMFLUX_CHECKPOINT_VERSION', `checkpoint ${path} has version ${raw.version}, this promflux reads ${READABLE_VERSIONS.join(' and ')}; move it away to start over`);
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

  /** The sink recorded with the coverage (undefined: none yet, or a version 1 file). */
  get sink(): CheckpointDoc['sink'] {
    return this.doc.sink;
  }

  /** True when some interval is recorded as loaded. */
  get hasCoverage(): boolean {
    return Object.values(this.doc.covered).some((l) => l.length > 0);
  }

  /** Record the run's sink kind and, for 'commit' sinks, the state of its last accepted commit. */
  setSink(kind: string, state?: SinkResumeState): void {
    this.doc.sink = { kind, ...(state ? { state } : {}) };
    this.doc.version = CHECKPOINT_VERSION;
    this.dirty = true;
  }

  setTotals(totals: CheckpointDoc['totals']): void {
    this.doc.totals = { samplesIn: totals.samplesIn, linesOut: totals.linesOut, dropped: { ...totals.dropped } };
    this.dirty = true;
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

type Totals = CheckpointDoc['totals'];

/**
 * Coverage for a 'commit' sink (file, Arrow). Each accounted sink write is `ack`ed (with the chunk's
 * coverage, if any); coverage stays pending until a sink commit includes the write. `commit` asks
 * the sink to make its output durable; the commit is accepted only when it includes exactly the
 * acked writes (`SinkCommit.writes === acked`), and then the pending coverage, the sink's state and
 * the totals are written to the checkpoint together. A write that resolved but was never accounted
 * (its batch failed a threshold) makes the counts differ: nothing more is recorded, and the resumed
 * run cuts that output away and writes the chunk again.
 *
 * Commits are started from a timer (a macrotask), never from inside a batch's accounting: every
 * write that has resolved by then has been accounted, since the dispatcher accounts a batch in the
 * microtasks that follow its write.
 */
export class OutputCommits {
  private acked = 0;
  private pending: Array<{ n: number; chunk: SourceChunk }> = [];
  private running: Promise<boolean> | undefined;
  private accepted = 0;
  private recordedAcked = -1;
  private refused = 0;

  constructor(
    private readonly store: CheckpointStore,
    private readonly sink: Sink,
    private readonly logger: Logger,
    /** Called for each chunk once a commit includes it (the source's ack: watermarks). */
    private readonly onCommitted: (chunk: SourceChunk) => void = () => undefined,
  ) {}

  /**
   * One write of this run was accounted: a batch (with its chunk), or the quality point. The chunk
   * is kept without its fill (a remote-read body can be large) until a commit includes it.
   */
  ack(chunk?: SourceChunk): void {
    this.acked++;
    if (chunk) this.pending.push({ n: this.acked, chunk: { ...chunk, fill: undefined as unknown as SourceChunk['fill'] } });
  }

  /** A commit unless one is running (periodic). Resolves true when a commit was accepted. */
  tick(totals: Totals): Promise<boolean> {
    if (this.running) return Promise.resolve(false);
    return this.run(totals, { final: false, complete: false });
  }

  /**
   * The attempt's last commit, after any running one. `complete` (the whole plan is done): then a
   * second commit, once the first is recorded, lets the sink finish the output (Arrow folds its
   * parts into the one file), and only that one marks the checkpoint done.
   */
  async final(totals: Totals, complete: boolean): Promise<boolean> {
    while (this.running) await this.running.catch(() => false);
    const recorded = await this.run(totals, { final: true, complete: false });
    if (!complete || !recorded) return recorded;
    return this.run(totals, { final: true, complete: true });
  }

  stats(): { accepted: number; refused: number; pendingChunks: number } {
    return { accepted: this.accepted, refused: this.refused, pendingChunks: this.pending.length };
  }

  private run(totals: Totals, opts: { final: boolean; complete: boolean }): Promise<boolean> {
    const acked = this.acked;
    // Nothing written since the last recorded commit: nothing to commit (until the last one).
    if (acked === this.recordedAcked && !opts.final) return Promise.resolve(false);
    const snapshot: Totals = { samplesIn: totals.samplesIn, linesOut: totals.linesOut, dropped: { ...totals.dropped } };
    const p = (async () => {
      const c = await this.sink.commit!(opts);
      if (!c) return false;
      if (c.writes !== acked) {
        this.refused++;
        this.logger.warn({ sinkWrites: c.writes, accounted: acked, checkpoint: this.store.path }, 'sink commit not recorded: it holds writes the run did not account for; the checkpoint keeps the previous commit');
        return false;
      }
      let i = 0;
      while (i < this.pending.length && this.pending[i]!.n <= acked) {
        const c = this.pending[i]!.chunk;
        if (c.coverageKey !== undefined) this.store.add(c.coverageKey, c.startMs, c.endMs);
        i++;
      }
      const done = this.pending.splice(0, i);
      this.recordedAcked = acked;
      this.store.setTotals(snapshot);
      this.store.setSink(this.sink.kind, c.state);
      if (opts.complete) this.store.markDone();
      this.store.flush(0);
      // Only now may the source move its watermarks past these chunks.
      for (const e of done) this.onCommitted(e.chunk);
      this.accepted++;
      this.logger.debug({ writes: c.writes, chunks: i, checkpoint: this.store.path, final: opts.final }, 'sink commit recorded');
      return true;
    })();
    this.running = p;
    void p.finally(() => {
      if (this.running === p) this.running = undefined;
    }).catch(() => undefined);
    return p;
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
