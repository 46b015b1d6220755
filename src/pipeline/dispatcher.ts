/**
 * The dispatcher: pulls chunks from the source, hands them to the worker pool, and ships results to
 * the sink, with at most `maxInFlight` batches alive at once (in a worker or in the sink). A slot is
 * released only when the sink has accepted the batch, so a slow sink slows the source and memory
 * stays bounded by maxInFlight × batch size, however long the backfill.
 *
 * The main thread only plans, allocates buffers and moves references: it never loops over samples.
 */
import { setMaxListeners } from 'node:events';
import type { Logger } from 'pino';
import { batchBytes } from '../batch/layout.js';
import { BatchBufferPool, ByteBufferPool } from '../batch/pool.js';
import { BatchFailedError } from '../errors.js';
import type { Source, SourceChunk } from '../extract/source.js';
import type { Sink, SinkWriteResult } from '../load/sink.js';
import type { EngineMetrics } from '../observe/metrics.js';
import type { WorkerPool } from '../pool/pool.js';
import type { ProcessResult, ProcessTask, WorkerPipelineSpec } from '../pool/task.js';
import type { WorkerThreadStats } from '../pool/thread-cpu.js';
import type { BatchSizer } from './adaptive.js';
import { DropLog } from '../observe/drop-log.js';
import { CancelRace } from './cancel-race.js';
import { SeriesClaims } from './collisions.js';
import { RetryPolicy } from './retry-policy.js';
import { addTotal, addTotals } from './totals.js';

/**
 * Re-runs of one batch with a wider halo (×4 each) before its shortness is counted (`halo_short`):
 * at most 6, so a halo grows at most 4096-fold and one batch costs a bounded number of fills.
 */
const MAX_HALO_WIDENINGS = 6;

/** A hand-off chunk found its halo tail unpublished (src/extract/prometheus/tail.ts): refetch, not a failure. */
const HALO_UNAVAILABLE = 'PROMFLUX_PROM_HALO_UNAVAILABLE';

/** The halo a chunk's fill provides, when its fill spec says (synthetic, Prometheus raw and range). */
function haloOfChunk(chunk: SourceChunk): { samples: number; ms: number; startMs: number } | undefined {
  const f = chunk.fill as { haloSamples?: unknown; haloMs?: unknown };
  if (typeof f.haloSamples !== 'number' || typeof f.haloMs !== 'number') return undefined;
  return { samples: f.haloSamples, ms: f.haloMs, startMs: chunk.startMs };
}

export interface DispatchTotals {
  samplesIn: number;
  linesOut: number;
  dropped: Record<string, number>;
  counters: Record<string, number>;
  batches: number;
  failedBatches: number;
  retries: number;
  newestMs: number;
  oldestMs: number;
  kernelMs: Record<string, number>;
  workerMs: number;
  /** Lines emitted per measurement (dead-lettered lines included; see dropped for those). */
  perMeasurement: Record<string, number>;
  /** The source said it has nothing more (before any stop): the plan was read to its end. */
  sourceDone?: boolean;
  /** Set when a stop cancelled in-flight work: the batches handed out that the sink never acknowledged. */
  unacknowledged?: Unacknowledged;
}

/**
 * Batches a cancelled stop left behind: counted in neither samplesIn, linesOut nor dropped (their
 * chunks stay out of the checkpoint, and the resumed run reads and writes them again). A batch is
 * acknowledged as a whole: some requests of a batch in the sink may have landed (InfluxDB
 * overwrites them identically on the resume).
 */
export interface Unacknowledged {
  batches: number;
  /** Of those, batches whose lines were with the sink (encoded), and their lines and samples. */
  inSink: { batches: number; lines: number; samples: number };
  /** Batches still in a worker (not yet encoded: their line counts are unknown). */
  inWorkers: number;
  /** Their chunk ids. */
  chunks: string[];
}

export interface BatchEvent {
  batchId: number;
  chunkId: string;
  rows: number;
  samplesIn: number;
  linesOut: number;
  latencyMs: number;
  batchSize: number;
  chunk: SourceChunk;
  result: ProcessResult;
}

export interface DispatcherOptions {
  pipelineName: string;
  source: Source;
  sink: Sink;
  pool: WorkerPool;
  spec: WorkerPipelineSpec;
  sizer: BatchSizer;
  maxInFlight: number;
  onError: 'fail' | 'skip' | 'retry';
  retries: number;
  /**
   * Two source series with one target series key (line-protocol sinks): fail the run, or drop the
   * series that did not hold the key first (its samples counted as `series_collision`). Default fail.
   */
  onCollision?: 'fail' | 'drop';
  logger: Logger;
  metrics?: EngineMetrics;
  signal?: AbortSignal;
  /** Called after each batch is fully accounted for (sink accepted it). */
  onBatch?: (e: BatchEvent) => void | Promise<void>;
  /** Test builds: which batch ids get an injected fault, and how. */
  faults?: Map<number, 'throw' | 'exit'>;
  /** Fail when more than `ratio` of the last `window` batch attempts failed. */
  maxErrorRate?: { ratio: number; window: number };
  /** Running totals (pass one in to read it live). */
  totals?: DispatchTotals;
  /**
   * Do not call `source.ack` after the sink write: the caller acks each chunk once the sink has
   * committed its output (file and Arrow sinks under a checkpoint), so watermarks never run ahead
   * of what a crash keeps.
   */
  deferAck?: boolean;
  /** Checked after each batch; return an error to fail the run (thresholds). */
  check?: (t: DispatchTotals) => Error | undefined;
  /** Collects each result's worker-thread CPU and event-loop figures (summary `workerThreads`). */
  threads?: WorkerThreadStats;
  /**
   * Benchmarks only (dispatcher-ceiling): workers skip all per-sample work (ProcessTask.noop);
   * `seriesKeys`: their results still carry one key per series of the chunk, as real ones do.
   */
  noopWorkers?: boolean | { lineBytes?: number; seriesKeys?: boolean };
  /** Ask the workers for the newest written row per series of each batch (`result.latest`; online feature serving). */
  latestRows?: boolean;
  /**
   * Aborted when a stop's deadline passed or a second signal came (src/pipeline/stop.ts): stop
   * waiting for the batches handed out; those the sink has not acknowledged are left in
   * `totals.unacknowledged`, never accounted, never failing the run.
   */
  cancel?: AbortSignal;
}

export function newTotals(): DispatchTotals {
  return {
    samplesIn: 0,
    linesOut: 0,
    dropped: {},
    counters: {},
    batches: 0,
    failedBatches: 0,
    retries: 0,
    newestMs: -Infinity,
    oldestMs: Infinity,
    kernelMs: {},
    workerMs: 0,
    perMeasurement: {},
  };
}

/** Run the source through the pool into the sink; resolves with the totals, or throws the first failure (with `.totals`). */
export async function dispatch(o: DispatcherOptions): Promise<DispatchTotals> {
  return new Dispatcher(o).run();
}

/** One batch being worked on: its chunk (refetched or widened along the way) and its attempt counts. */
interface BatchAttempt {
  id: number;
  chunk: SourceChunk;
  /** Retries made after failures. */
  retries: number;
  /** Re-encodings without colliding series. */
  reruns: number;
  /** Re-runs with a wider halo. */
  widenings: number;
  /** A worker omitted the keys of a series set the dispatcher no longer holds: ask for them. */
  needKeys?: boolean;
}

/**
 * The dispatch loop and the named steps of one batch: run a task (retry/skip/fail by the policy),
 * widen the halo, settle series collisions, ship to the sink, account, size, record metrics,
 * recycle buffers.
 */
class Dispatcher {
  private readonly totals: DispatchTotals;
  private readonly inflight = new Set<Promise<void>>();
  /** Batches handed out and not yet accepted or skipped: what a cancelled stop leaves unacknowledged. */
  private readonly open = new Map<number, { chunkId: string; lines: number | null; samples: number }>();
  private failure: Error | undefined;
  private nextId = 0;
  private readonly want: ProcessTask['want'];
  // Recycled batch and output buffers (grow-only slots, see src/batch/pool.ts): about one in-flight set.
  private readonly buffers = new BatchBufferPool();
  private readonly outBuffers = new ByteBufferPool();
  /** Line-protocol bytes per input row, measured (smoothed) to size output buffers. */
  private lpBytesPerRow = 256;
  private readonly policy: RetryPolicy;
  private readonly pipe: string;
  private readonly dropLog: DropLog;
  // Series-key collisions (src/pipeline/collisions.ts); `losers` are the series dropped for them.
  private readonly claims = new SeriesClaims();
  private readonly losers = new Set<string>();
  private readonly onCollision: 'fail' | 'drop';
  private readonly cancelRace: CancelRace;

  constructor(private readonly o: DispatcherOptions) {
    this.totals = o.totals ?? newTotals();
    const needs = o.sink.needs;
    this.want = { lp: needs.lineProtocol, columns: needs.columns, ...(needs.sortedColumns ? { sorted: true } : {}), latest: o.latestRows === true, ...(needs.requestCuts ? { cuts: needs.requestCuts } : {}) };
    this.policy = new RetryPolicy({ onError: o.onError, retries: o.retries, ...(o.maxErrorRate ? { maxErrorRate: o.maxErrorRate } : {}) });
    this.pipe = o.pipelineName;
    this.dropLog = new DropLog(o.logger);
    this.onCollision = o.onCollision ?? 'fail';
    this.cancelRace = new CancelRace(o.cancel);
    // Piscina adds one abort listener per task it holds (at most maxInFlight), plus ours: a bound, not a leak.
    if (o.cancel) setMaxListeners(Math.max(10, o.maxInFlight + 4), o.cancel);
  }

  async run(): Promise<DispatchTotals> {
    const o = this.o;
    try {
      while (!this.failure && !o.signal?.aborted) {
        while (this.inflight.size >= o.maxInFlight && !this.failure) await Promise.race(this.inflight);
        if (this.failure || o.signal?.aborted) break;
        const size = o.sizer.next();
        const chunk = await this.cancelRace.race(o.source.next(size));
        if (!chunk) {
          this.totals.sourceDone = chunk === null && !o.signal?.aborted;
          break;
        }
        const p: Promise<void> = this.processChunk(chunk, size)
          .catch((err: unknown) => {
            // After a cancel, a batch that did not make it is unacknowledged, not a failure.
            if (o.cancel?.aborted) return;
            this.failure ??= err instanceof Error ? err : new Error(String(err));
          })
          .finally(() => {
            this.inflight.delete(p);
            o.metrics?.inFlight.set({ pipeline: this.pipe }, this.inflight.size);
          });
        this.inflight.add(p);
        o.metrics?.inFlight.set({ pipeline: this.pipe }, this.inflight.size);
      }
    } catch (err) {
      this.failure ??= err instanceof Error ? err : new Error(String(err));
    }
    // Drain: let every batch already handed out finish (graceful stop keeps their data), unless
    // the stop's deadline cancels them first.
    await this.cancelRace.race(Promise.allSettled([...this.inflight]));
    if (o.cancel?.aborted && this.open.size > 0) this.totals.unacknowledged = this.unacknowledged();
    this.dropLog.finish();
    if (this.failure) {
      (this.failure as Error & { totals?: DispatchTotals }).totals = this.totals;
      throw this.failure;
    }
    return this.totals;
  }

  /** What the batches still open at a cancel amount to. */
  private unacknowledged(): Unacknowledged {
    const u: Unacknowledged = { batches: this.open.size, inSink: { batches: 0, lines: 0, samples: 0 }, inWorkers: 0, chunks: [] };
    for (const b of this.open.values()) {
      u.chunks.push(b.chunkId);
      if (b.lines === null) u.inWorkers++;
      else {
        u.inSink.batches++;
        u.inSink.lines += b.lines;
        u.inSink.samples += b.samples;
      }
    }
    return u;
  }

  /** One batch: attempt it until it is written, skipped, or fails the run (or a stop cancels it: left open). */
  private async processChunk(chunk: SourceChunk, size: number): Promise<void> {
    const a: BatchAttempt = { id: this.nextId++, chunk, retries: 0, reruns: 0, widenings: 0 };
    this.open.set(a.id, { chunkId: chunk.id, lines: null, samples: 0 });
    for (;;) {
      if (this.o.cancel?.aborted) return;
      const t0 = performance.now();
      const result = await this.attempt(a);
      if (result === 'cancelled') return;
      if (result === 'again') continue;
      if (result === 'skipped') {
        this.open.delete(a.id);
        return;
      }
      const latencyMs = performance.now() - t0;
      if (result.haloShort && this.widenHalo(a, result)) continue;
      this.dropLog.observe(result.dropSeries, a.chunk.id, result.dropSeriesCapped);
      if (this.settleCollisions(a, result)) continue;
      await this.deliver(a, result, size, latencyMs);
      return;
    }
  }

  /** Run the batch's task in a worker; a failure is retried, skipped or thrown as the policy says. */
  private async attempt(a: BatchAttempt): Promise<ProcessResult | 'again' | 'skipped' | 'cancelled'> {
    const { chunk, id } = a;
    const batch = this.buffers.acquire(id, chunk.id, Math.ceil(chunk.estRows * 1.02) + 16, chunk.estRuns + 1);
    const halo = haloOfChunk(chunk);
    let result: ProcessResult | undefined;
    try {
      // A cancel aborts the task (Piscina ends its worker) and stops waiting for it; the batch's
      // buffers are then not recycled (a worker may still be writing them), only dropped.
      const cancel = this.o.cancel;
      result = await this.cancelRace.race(this.o.pool.run({
        batch,
        fill: chunk.fill,
        pipeline: this.o.spec,
        nowMs: Date.now(),
        want: this.want,
        ...(halo ? { halo } : {}),
        ...(this.want.lp ? { out: this.outBuffers.acquire(Math.ceil(chunk.estRows * this.lpBytesPerRow * 1.1) + 4096) } : {}),
        ...(this.o.faults?.has(id) && a.retries === 0 && a.reruns === 0 ? { fault: this.o.faults.get(id)! } : {}),
        ...(this.losers.size > 0 ? { exclude: [...this.losers] } : {}),
        ...(this.want.lp && !a.needKeys ? { knownKeys: this.claims.table.buffer } : {}),
        ...(this.o.noopWorkers ? { noop: this.noopSpec(chunk) } : {}),
      }, cancel));
    } catch (err) {
      this.o.source.afterAttempt?.(chunk);
      if (this.o.cancel?.aborted) return 'cancelled';
      return this.workerFailed(a, err as Error);
    }
    this.o.source.afterAttempt?.(chunk);
    if (!result) return 'cancelled';
    this.o.threads?.observe(result.thread, result.timings.totalMs);
    if (result.error?.code === HALO_UNAVAILABLE) return this.haloUnavailable(a, result);
    return result.error ? this.taskFailed(a, result) : result;
  }

  /** The no-op task of a chunk (dispatcher-ceiling): its samples and, with `seriesKeys`, its series (numbered from the chunk's first). */
  private noopSpec(chunk: SourceChunk): NonNullable<ProcessTask['noop']> {
    const opts = typeof this.o.noopWorkers === 'object' ? this.o.noopWorkers : {};
    const s0 = (chunk.fill as { s0?: unknown }).s0;
    return {
      samples: chunk.estSamples,
      ...(opts.lineBytes !== undefined ? { lineBytes: opts.lineBytes } : {}),
      ...(opts.seriesKeys ? { series: chunk.estRuns, firstSeries: typeof s0 === 'number' ? s0 : 0 } : {}),
    };
  }

  /**
   * Halo hand-off: the previous chunk's tail (this chunk's halo) was not published. Not a failure
   * of the batch: the source fetches the chunk again with its history (counter halo_refetch).
   */
  private async haloUnavailable(a: BatchAttempt, result: ProcessResult): Promise<'again'> {
    if (!this.o.source.refetch || a.widenings > MAX_HALO_WIDENINGS) {
      const err = result.error!;
      throw new BatchFailedError(a.id, a.chunk.id, err.stage, undefined, err.message, err.code);
    }
    a.widenings++;
    addTotal(this.totals.counters, 'halo_refetch', 1);
    this.recycle(result, false);
    a.chunk = await this.o.source.refetch(a.chunk);
    return 'again';
  }

  /** The worker died or threw outside its guard (e.g. out of memory): retry on a fresh worker, or fail. */
  private workerFailed(a: BatchAttempt, e: Error): 'again' {
    this.noteOutcome(true);
    this.o.metrics?.errors.inc({ pipeline: this.pipe, stage: 'worker', code: 'PROMFLUX_WORKER_FAILED' });
    if (this.policy.decide({ kind: 'worker' }, a.retries, this.failure !== undefined).action === 'retry') {
      a.retries++;
      this.totals.retries++;
      this.o.logger.warn({ batch: a.id, chunk: a.chunk.id, attempt: a.retries, err: e.message }, 'worker failed on batch; retrying');
      return 'again';
    }
    throw new BatchFailedError(a.id, a.chunk.id, 'worker', undefined, `batch ${a.id} (chunk ${a.chunk.id}) failed after ${a.retries + 1} attempt(s): worker error: ${e.message}`, 'PROMFLUX_WORKER_FAILED');
  }

  /** The task reported an error (fill, kernel, encode): retry (refetching a fill), skip, or fail. */
  private async taskFailed(a: BatchAttempt, result: ProcessResult): Promise<'again' | 'skipped'> {
    const err = result.error!;
    this.noteOutcome(true);
    this.o.metrics?.errors.inc({ pipeline: this.pipe, stage: err.stage, code: err.code });
    const decision = this.policy.decide({ kind: 'task', error: err }, a.retries, this.failure !== undefined);
    if (decision.action === 'retry') {
      a.retries++;
      this.totals.retries++;
      this.o.logger.warn({ batch: a.id, chunk: a.chunk.id, attempt: a.retries, err: err.message }, 'batch failed; retrying');
      if (decision.refetch && this.o.source.refetch) a.chunk = await this.o.source.refetch(a.chunk);
      return 'again';
    }
    if (decision.action === 'fail') throw new BatchFailedError(a.id, a.chunk.id, err.stage, err.kernel, err.message, err.code);
    this.totals.failedBatches++;
    // Samples of a batch whose fill succeeded are known: account for them as dropped.
    if (result.samplesIn > 0) {
      this.totals.samplesIn += result.samplesIn;
      addTotal(this.totals.dropped, `batch_failed:${err.kernel ?? err.stage}`, result.samplesIn);
    }
    this.o.logger.error({ batch: a.id, chunk: a.chunk.id, stage: err.stage, kernel: err.kernel, err: err.message }, 'batch failed; skipped (engine.onError=skip)');
    this.o.metrics?.batches.inc({ pipeline: this.pipe, outcome: 'skipped' });
    return 'skipped';
  }

  /** Error-rate threshold: the first attempt outcome that exceeds it fails the run. */
  private noteOutcome(failed: boolean): void {
    const tooMany = this.policy.outcome(failed);
    if (tooMany) this.failure ??= tooMany;
  }

  /**
   * Rows dropped in the halo left some series' first rows short of context: true when the batch is
   * to run again with a wider halo (exact for any split); else the shortness is counted and logged.
   */
  private widenHalo(a: BatchAttempt, result: ProcessResult): boolean {
    const short = result.haloShort!;
    const { id, chunk } = a;
    const wider = a.widenings < MAX_HALO_WIDENINGS ? this.o.source.widenHalo?.(chunk, Math.max(8, 2 * short.rows, 3 * (haloOfChunk(chunk)?.samples ?? 0))) : undefined;
    if (wider) {
      a.widenings++;
      addTotal(this.totals.counters, 'halo_refill', 1);
      this.o.logger.debug({ batch: id, chunk: chunk.id, short, haloSamples: wider.fill['haloSamples'] }, 'halo short after drops; re-running the batch with a wider halo');
      this.recycle(result, false);
      a.chunk = wider;
      return true;
    }
    addTotal(this.totals.counters, 'halo_short', short.runs);
    this.o.logger.warn(
      { batch: id, chunk: chunk.id, series: short.runs, rows: short.rows },
      `batch ${id} (chunk ${chunk.id}): dropped halo rows left ${short.runs} series without full window context for up to ${short.rows} rows, and the source cannot provide more; their first feature values may differ from a run with other batch sizes (counter halo_short)`,
    );
    return false;
  }

  /**
   * Series collisions: fail the run (onCollision: fail), or return true to encode the batch again
   * without the losing series. The main thread never edits line-protocol bytes: a worker re-encodes
   * (fill and kernels rerun: collisions are rare).
   */
  private settleCollisions(a: BatchAttempt, result: ProcessResult): boolean {
    if (result.keysOmitted) {
      if (this.claims.known(result.keysDigest)) return false;
      // The worker's hint was stale (the table was cleared or overwritten): run it again with its keys.
      a.needKeys = true;
      a.reruns++;
      this.recycle(result, false);
      return true;
    }
    const collisions = this.want.lp ? this.claims.check(result.seriesKeys, result.targetKeys, result.keysDigest) : [];
    if (collisions.length === 0) return false;
    const { id, chunk } = a;
    const c = collisions[0]!;
    if (this.onCollision === 'fail') {
      this.o.metrics?.errors.inc({ pipeline: this.pipe, stage: 'load', code: 'PROMFLUX_SERIES_COLLISION' });
      throw new BatchFailedError(
        id,
        chunk.id,
        'load',
        undefined,
        `series collision in batch ${id} (chunk ${chunk.id}): source series ${c.holder} and ${c.source} would both be written as the InfluxDB series ${JSON.stringify(c.target)}, merging their points` +
          (collisions.length > 1 ? ` (and ${collisions.length - 1} more pair(s) in this batch)` : '') +
          `. Keep the label that tells them apart (schema.tags allow/deny/rename), use sink.tagValues: escape, or set sink.onCollision: drop to drop the later series (counted as series_collision)`,
        'PROMFLUX_SERIES_COLLISION',
      );
    }
    for (const x of collisions) {
      if (this.losers.has(x.source)) continue;
      this.losers.add(x.source);
      this.o.logger.warn(
        { batch: id, chunk: chunk.id, kept: x.holder, dropped: x.source, target: x.target },
        'series collision: two source series map to one target series; dropping the later one (sink.onCollision=drop, counted as series_collision)',
      );
    }
    this.recycle(result, false);
    a.reruns++;
    if (a.reruns > 100) throw new BatchFailedError(id, chunk.id, 'load', undefined, `batch ${id} (chunk ${chunk.id}): series collisions did not settle after 100 re-encodings`, 'PROMFLUX_SERIES_COLLISION');
    return true;
  }

  /** Ship to the sink (the slot stays taken until it is accepted: backpressure), then account, size, report, recycle. */
  private async deliver(a: BatchAttempt, result: ProcessResult, size: number, latencyMs: number): Promise<void> {
    const o = this.o;
    const { id, chunk } = a;
    this.open.set(id, { chunkId: chunk.id, lines: result.rowsOut, samples: result.samplesIn });
    // After a cancel nothing more is accounted: a write the sink finishes anyway stays unacknowledged
    // (a 'commit' sink then refuses to record its commit, src/pipeline/checkpoint.ts).
    const wr = await this.cancelRace.race(o.sink.write({ batchId: id, chunkId: chunk.id, lp: result.lp, lines: result.rowsOut, columns: result.columns, seriesKeys: result.seriesKeys, ...(result.requests ? { requests: result.requests } : {}) }));
    if (!wr || o.cancel?.aborted) return;
    this.open.delete(id);
    if (result.keysDigest !== undefined && !result.keysOmitted && this.want.lp) this.claims.delivered(result.keysDigest);
    const deadLettered = this.countDeadLetters(wr);
    if (wr.written + deadLettered !== result.rowsOut) {
      throw new BatchFailedError(id, chunk.id, 'load', undefined, `sink ${o.sink.kind} accounted for ${wr.written + deadLettered} of ${result.rowsOut} lines of batch ${id}`, 'PROMFLUX_SINK_ACCOUNTING');
    }
    this.noteOutcome(false);
    o.logger.debug({ batch: id, chunk: chunk.id, samplesIn: result.samplesIn, rowsOut: result.rowsOut, written: wr.written, deadLettered }, 'batch written');
    this.account(result, wr.written);
    o.source.recordRows?.(chunk, result.samplesIn);
    if (!o.deferAck) o.source.ack?.(chunk);
    const rss = this.rssSampled(result);
    this.observeSize(result, rss);
    this.recordMetrics(result, wr.written, rss);
    const bad = o.check?.(this.totals);
    if (bad) throw bad;
    await o.onBatch?.({ batchId: id, chunkId: chunk.id, rows: result.batch.length, samplesIn: result.samplesIn, linesOut: wr.written, latencyMs, batchSize: size, chunk, result });
    // The batch's buffers are reused for a later batch from here on.
    this.recycle(result, true);
  }

  /** Lines the sink could not write but preserved (dead-letter file), counted as `dead_letter:<reason>` drops. */
  private countDeadLetters(wr: SinkWriteResult): number {
    let deadLettered = 0;
    for (const [reason, n] of Object.entries(wr.deadLettered ?? {})) {
      if (!n) continue;
      deadLettered += n;
      addTotal(this.totals.dropped, `dead_letter:${reason}`, n);
      this.o.metrics?.dropped.inc({ pipeline: this.pipe, reason: `dead_letter:${reason}` }, n);
    }
    return deadLettered;
  }

  /** Add a written batch to the run's totals (drops also to their metric). */
  private account(result: ProcessResult, written: number): void {
    const t = this.totals;
    t.samplesIn += result.samplesIn;
    t.linesOut += written;
    t.batches++;
    t.workerMs += result.timings.totalMs;
    addTotals(t.dropped, result.dropped, (reason, n) => this.o.metrics?.dropped.inc({ pipeline: this.pipe, reason }, n));
    addTotals(t.counters, result.counters);
    addTotals(t.perMeasurement, result.perMeasurement);
    addTotals(t.kernelMs, result.timings.kernelMs);
    addTotal(t.kernelMs, '(fill)', result.timings.fillMs);
    addTotal(t.kernelMs, '(encode)', result.timings.encodeMs);
    if (result.newestMs > t.newestMs) t.newestMs = result.newestMs;
    if (result.oldestMs < t.oldestMs) t.oldestMs = result.oldestMs;
  }

  private rss = 0;
  private rssAt = -Infinity;

  /**
   * RSS: as the workers report it (each reads it at most every 50 ms, WorkerThreadSample.rssBytes),
   * else read here at most every 50 ms. One read is a /proc read of 20–200 µs (measured, issue
   * #18): at a cold batch every 200 ms it was ~10 % of the main thread's per-batch CPU.
   */
  private rssSampled(result: ProcessResult): number {
    const reported = result.thread?.rssBytes;
    const now = performance.now();
    if (reported !== undefined) {
      this.rss = reported;
      this.rssAt = now;
    } else if (now - this.rssAt >= 50) {
      this.rss = process.memoryUsage.rss();
      this.rssAt = now;
    }
    return this.rss;
  }

  /** Feed the adaptive batch sizer: rows, worker latency, memory the batch held. */
  private observeSize(result: ProcessResult, rssBytes: number): void {
    const rows = result.batch.length;
    this.o.sizer.observe({
      rows,
      ...(result.haloRows !== undefined ? { haloRows: result.haloRows } : {}),
      latencyMs: result.timings.totalMs,
      bytes: batchBytes(result.batch) + (result.lp?.byteLength ?? 0) + rows * 8 * Math.max(1, result.columns?.featureNames.length ?? this.o.spec.transforms.length),
      rssBytes,
    });
  }

  private recordMetrics(result: ProcessResult, written: number, rss: number): void {
    const m = this.o.metrics;
    if (!m) return;
    const pipeline = this.pipe;
    m.samplesIn.inc({ pipeline }, result.samplesIn);
    m.linesOut.inc({ pipeline }, written);
    m.batches.inc({ pipeline, outcome: 'ok' });
    m.batchSeconds.observe({ pipeline }, result.timings.totalMs / 1000);
    m.batchSize.set({ pipeline }, this.o.sizer.current);
    m.rss.set(rss);
    m.workerUtilization.set({ pipeline }, this.o.pool.utilization);
    m.queueDepth.set({ pipeline }, this.o.pool.queueSize);
    if (Number.isFinite(this.totals.newestMs)) m.freshness.set({ pipeline }, Math.max(0, (Date.now() - this.totals.newestMs) / 1000));
  }

  /** Return a result's batch and line-protocol buffers to their pools; `measured`: update the bytes-per-row estimate first. */
  private recycle(result: ProcessResult, measured: boolean): void {
    this.buffers.release(result.batch);
    if (!result.lp) return;
    const rows = result.batch.length;
    if (measured && rows > 0) this.lpBytesPerRow = this.lpBytesPerRow * 0.7 + (result.lp.byteLength / rows) * 0.3;
    if (result.lp.buffer instanceof SharedArrayBuffer) this.outBuffers.release(result.lp.buffer);
  }
}
