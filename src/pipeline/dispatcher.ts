/**
 * The dispatcher: pulls chunks from the source, hands them to the worker pool, and ships results to
 * the sink, with at most `maxInFlight` batches alive at once (in a worker or in the sink). A slot is
 * released only when the sink has accepted the batch, so a slow sink slows the source and memory
 * stays bounded by maxInFlight × batch size, however long the backfill.
 *
 * The main thread only plans, allocates buffers and moves references: it never loops over samples.
 */
import type { Logger } from 'pino';
import { batchBytes } from '../batch/layout.js';
import { BatchBufferPool, ByteBufferPool } from '../batch/pool.js';
import { BatchFailedError, PromfluxError } from '../errors.js';
import type { Source, SourceChunk } from '../extract/source.js';
import type { Sink } from '../load/sink.js';
import type { EngineMetrics } from '../observe/metrics.js';
import type { WorkerPool } from '../pool/pool.js';
import type { ProcessResult, WorkerPipelineSpec } from '../pool/task.js';
import type { BatchSizer } from './adaptive.js';
import { DropLog } from '../observe/drop-log.js';

/**
 * Re-runs of one batch with a wider halo (×4 each) before its shortness is counted (`halo_short`):
 * at most 6, so a halo grows at most 4096-fold and one batch costs a bounded number of fills.
 */
const MAX_HALO_WIDENINGS = 6;

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

export async function dispatch(o: DispatcherOptions): Promise<DispatchTotals> {
  const totals = o.totals ?? newTotals();
  const inflight = new Set<Promise<void>>();
  let failure: Error | undefined;
  let nextId = 0;
  const want = { lp: o.sink.needs.lineProtocol, columns: o.sink.needs.columns };
  // Idle buffers kept for reuse: about one in-flight set.
  // Recycled batch and output buffers (grow-only slots, see src/batch/pool.ts).
  const buffers = new BatchBufferPool();
  const outBuffers = new ByteBufferPool();
  // Line-protocol bytes per input row, measured (smoothed) to size output buffers.
  let lpBytesPerRow = 256;
  // Outcome of recent batch attempts (1 = failed), for the error-rate threshold.
  const recent: number[] = [];
  const outcome = (failed: boolean): void => {
    const m = o.maxErrorRate;
    if (!m) return;
    recent.push(failed ? 1 : 0);
    if (recent.length > m.window) recent.shift();
    const errors = recent.reduce((a, b) => a + b, 0);
    if (recent.length >= m.window && errors / recent.length > m.ratio) {
      failure ??= new PromfluxError(
        'PROMFLUX_ERROR_RATE',
        `${errors} of the last ${recent.length} batch attempts failed (${((100 * errors) / recent.length).toFixed(0)}% > engine.maxErrorRate.ratio ${(m.ratio * 100).toFixed(0)}%); see the errors logged above`,
      );
    }
  };
  const pipe = o.pipelineName;
  const dropLog = new DropLog(o.logger);

  // Series-key collisions, checked per series (never per sample) over the whole run: target series
  // key (line-protocol text of measurement + tags, after schema mapping and key policy) → the source
  // series key that holds it. The first batch to reach the sink with a target key claims it; within
  // one batch the smallest source key (JS string order) wins. `losers` are the series dropped for it.
  const claims = new Map<string, string>();
  const losers = new Set<string>();
  const onCollision = o.onCollision ?? 'fail';
  const collisionsOf = (r: ProcessResult): { source: string; holder: string; target: string }[] => {
    const n = r.seriesKeys.length;
    if (!want.lp || r.targetKeys.length !== n) return [];
    const order = [...r.seriesKeys.keys()].sort((a, b) => (r.seriesKeys[a]! < r.seriesKeys[b]! ? -1 : r.seriesKeys[a]! > r.seriesKeys[b]! ? 1 : 0));
    const local = new Map<string, string>();
    const found: { source: string; holder: string; target: string }[] = [];
    for (const i of order) {
      const source = r.seriesKeys[i]!;
      const target = r.targetKeys[i]!;
      if (!target) continue;
      const holder = claims.get(target) ?? local.get(target);
      if (holder === undefined) local.set(target, source);
      else if (holder !== source) found.push({ source, holder, target });
    }
    if (found.length === 0) for (const [t, s] of local) claims.set(t, s);
    return found;
  };

  const processChunk = async (firstChunk: SourceChunk, size: number): Promise<void> => {
    let chunk = firstChunk;
    const id = nextId++;
    let attempt = 0;
    let reruns = 0;
    let widenings = 0;
    for (;;) {
      const batch = buffers.acquire(id, chunk.id, Math.ceil(chunk.estRows * 1.02) + 16, chunk.estRuns + 1);
      const t0 = performance.now();
      let result: ProcessResult;
      try {
        result = await o.pool.run({
          batch,
          fill: chunk.fill,
          pipeline: o.spec,
          nowMs: Date.now(),
          want,
          ...(haloOfChunk(chunk) ? { halo: haloOfChunk(chunk)! } : {}),
          ...(want.lp ? { out: outBuffers.acquire(Math.ceil(chunk.estRows * lpBytesPerRow * 1.1) + 4096) } : {}),
          ...(o.faults?.has(id) && attempt === 0 && reruns === 0 ? { fault: o.faults.get(id)! } : {}),
          ...(losers.size > 0 ? { exclude: [...losers] } : {}),
        });
      } catch (err) {
        // The worker died or threw outside our guard (e.g. out of memory): retry on a fresh worker.
        const e = err as Error;
        outcome(true);
        o.metrics?.errors.inc({ pipeline: pipe, stage: 'worker', code: 'PROMFLUX_WORKER_FAILED' });
        if (attempt < o.retries && !failure) {
          attempt++;
          totals.retries++;
          o.logger.warn({ batch: id, chunk: chunk.id, attempt, err: e.message }, 'worker failed on batch; retrying');
          continue;
        }
        throw new BatchFailedError(id, chunk.id, 'worker', undefined, `batch ${id} (chunk ${chunk.id}) failed after ${attempt + 1} attempt(s): worker error: ${e.message}`, 'PROMFLUX_WORKER_FAILED');
      }
      const latencyMs = performance.now() - t0;
      if (result.error) {
        const err = result.error;
        outcome(true);
        o.metrics?.errors.inc({ pipeline: pipe, stage: err.stage, code: err.code });
        if (o.onError === 'retry' && attempt < o.retries && !failure) {
          attempt++;
          totals.retries++;
          o.logger.warn({ batch: id, chunk: chunk.id, attempt, err: err.message }, 'batch failed; retrying');
          // Re-decoding the same bytes fails the same way: fetch the chunk again when the source can.
          if (err.stage === 'fill' && o.source.refetch) chunk = await o.source.refetch(chunk);
          continue;
        }
        if (o.onError === 'skip') {
          totals.failedBatches++;
          // Samples of a batch whose fill succeeded are known: account for them as dropped.
          if (result.samplesIn > 0) {
            const reason = `batch_failed:${err.kernel ?? err.stage}`;
            totals.samplesIn += result.samplesIn;
            totals.dropped[reason] = (totals.dropped[reason] ?? 0) + result.samplesIn;
          }
          o.logger.error({ batch: id, chunk: chunk.id, stage: err.stage, kernel: err.kernel, err: err.message }, 'batch failed; skipped (engine.onError=skip)');
          o.metrics?.batches.inc({ pipeline: pipe, outcome: 'skipped' });
          return;
        }
        throw new BatchFailedError(id, chunk.id, err.stage, err.kernel, err.message, err.code);
      }
      if (result.haloShort) {
        // Rows dropped in the halo left some series' first rows short of context: run the batch
        // again with a wider halo (exact for any split), or count it and say so.
        const wider = widenings < MAX_HALO_WIDENINGS ? o.source.widenHalo?.(chunk, Math.max(8, 2 * result.haloShort.rows, 3 * (haloOfChunk(chunk)?.samples ?? 0))) : undefined;
        if (wider) {
          widenings++;
          totals.counters['halo_refill'] = (totals.counters['halo_refill'] ?? 0) + 1;
          o.logger.debug({ batch: id, chunk: chunk.id, short: result.haloShort, haloSamples: wider.fill['haloSamples'] }, 'halo short after drops; re-running the batch with a wider halo');
          buffers.release(result.batch);
          if (result.lp?.buffer instanceof SharedArrayBuffer) outBuffers.release(result.lp.buffer);
          chunk = wider;
          continue;
        }
        totals.counters['halo_short'] = (totals.counters['halo_short'] ?? 0) + result.haloShort.runs;
        o.logger.warn(
          { batch: id, chunk: chunk.id, series: result.haloShort.runs, rows: result.haloShort.rows },
          `batch ${id} (chunk ${chunk.id}): dropped halo rows left ${result.haloShort.runs} series without full window context for up to ${result.haloShort.rows} rows, and the source cannot provide more; their first feature values may differ from a run with other batch sizes (counter halo_short)`,
        );
      }
      dropLog.observe(result.dropSeries, chunk.id, result.dropSeriesCapped);
      const collisions = collisionsOf(result);
      if (collisions.length > 0) {
        const c = collisions[0]!;
        if (onCollision === 'fail') {
          o.metrics?.errors.inc({ pipeline: pipe, stage: 'load', code: 'PROMFLUX_SERIES_COLLISION' });
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
        // drop: the main thread never edits line-protocol bytes; the batch is encoded again in a
        // worker without the losing series (fill and kernels rerun: collisions are rare).
        for (const x of collisions) {
          if (losers.has(x.source)) continue;
          losers.add(x.source);
          o.logger.warn(
            { batch: id, chunk: chunk.id, kept: x.holder, dropped: x.source, target: x.target },
            'series collision: two source series map to one target series; dropping the later one (sink.onCollision=drop, counted as series_collision)',
          );
        }
        buffers.release(result.batch);
        if (result.lp?.buffer instanceof SharedArrayBuffer) outBuffers.release(result.lp.buffer);
        reruns++;
        if (reruns > 100) throw new BatchFailedError(id, chunk.id, 'load', undefined, `batch ${id} (chunk ${chunk.id}): series collisions did not settle after 100 re-encodings`, 'PROMFLUX_SERIES_COLLISION');
        continue;
      }
      // Ship to the sink; the slot stays taken until it is accepted (backpressure).
      const wr = await o.sink.write({
        batchId: id,
        chunkId: chunk.id,
        lp: result.lp,
        lines: result.rowsOut,
        columns: result.columns,
        seriesKeys: result.seriesKeys,
      });
      let deadLettered = 0;
      if (wr.deadLettered) {
        for (const [reason, n] of Object.entries(wr.deadLettered)) {
          if (!n) continue;
          deadLettered += n;
          const key = `dead_letter:${reason}`;
          totals.dropped[key] = (totals.dropped[key] ?? 0) + n;
          o.metrics?.dropped.inc({ pipeline: pipe, reason: key }, n);
        }
      }
      if (wr.written + deadLettered !== result.rowsOut) {
        throw new BatchFailedError(id, chunk.id, 'load', undefined, `sink ${o.sink.kind} accounted for ${wr.written + deadLettered} of ${result.rowsOut} lines of batch ${id}`, 'PROMFLUX_SINK_ACCOUNTING');
      }
      outcome(false);
      o.logger.debug({ batch: id, chunk: chunk.id, samplesIn: result.samplesIn, rowsOut: result.rowsOut, written: wr.written, deadLettered }, 'batch written');
      totals.samplesIn += result.samplesIn;
      totals.linesOut += wr.written;
      totals.batches++;
      totals.workerMs += result.timings.totalMs;
      for (const [k, v] of Object.entries(result.dropped)) {
        totals.dropped[k] = (totals.dropped[k] ?? 0) + v;
        o.metrics?.dropped.inc({ pipeline: pipe, reason: k }, v);
      }
      for (const [k, v] of Object.entries(result.counters)) totals.counters[k] = (totals.counters[k] ?? 0) + v;
      for (const [k, v] of Object.entries(result.perMeasurement)) totals.perMeasurement[k] = (totals.perMeasurement[k] ?? 0) + v;
      for (const [k, v] of Object.entries(result.timings.kernelMs)) totals.kernelMs[k] = (totals.kernelMs[k] ?? 0) + v;
      totals.kernelMs['(fill)'] = (totals.kernelMs['(fill)'] ?? 0) + result.timings.fillMs;
      totals.kernelMs['(encode)'] = (totals.kernelMs['(encode)'] ?? 0) + result.timings.encodeMs;
      if (result.newestMs > totals.newestMs) totals.newestMs = result.newestMs;
      if (result.oldestMs < totals.oldestMs) totals.oldestMs = result.oldestMs;
      o.source.recordRows?.(chunk, result.samplesIn);
      if (!o.deferAck) o.source.ack?.(chunk);
      const rows = result.batch.length;
      const rss = process.memoryUsage.rss();
      o.sizer.observe({
        rows,
        latencyMs: result.timings.totalMs,
        bytes: batchBytes(result.batch) + (result.lp?.byteLength ?? 0) + rows * 8 * Math.max(1, result.columns?.featureNames.length ?? o.spec.transforms.length),
        rssBytes: rss,
      });
      if (o.metrics) {
        const m = o.metrics;
        m.samplesIn.inc({ pipeline: pipe }, result.samplesIn);
        m.linesOut.inc({ pipeline: pipe }, wr.written);
        m.batches.inc({ pipeline: pipe, outcome: 'ok' });
        m.batchSeconds.observe({ pipeline: pipe }, result.timings.totalMs / 1000);
        m.batchSize.set({ pipeline: pipe }, o.sizer.current);
        m.rss.set(rss);
        m.workerUtilization.set({ pipeline: pipe }, o.pool.utilization);
        m.queueDepth.set({ pipeline: pipe }, o.pool.queueSize);
        if (Number.isFinite(totals.newestMs)) m.freshness.set({ pipeline: pipe }, Math.max(0, (Date.now() - totals.newestMs) / 1000));
      }
      const bad = o.check?.(totals);
      if (bad) throw bad;
      await o.onBatch?.({ batchId: id, chunkId: chunk.id, rows, samplesIn: result.samplesIn, linesOut: wr.written, latencyMs, batchSize: size, chunk, result });
      // The batch's buffers are reused for a later batch from here on.
      buffers.release(result.batch);
      if (result.lp) {
        if (rows > 0) lpBytesPerRow = lpBytesPerRow * 0.7 + (result.lp.byteLength / rows) * 0.3;
        if (result.lp.buffer instanceof SharedArrayBuffer) outBuffers.release(result.lp.buffer);
      }
      return;
    }
  };

  try {
    while (!failure && !o.signal?.aborted) {
      while (inflight.size >= o.maxInFlight && !failure) await Promise.race(inflight);
      if (failure || o.signal?.aborted) break;
      const size = o.sizer.next();
      const chunk = await o.source.next(size);
      if (!chunk) break;
      const p: Promise<void> = processChunk(chunk, size)
        .catch((err: unknown) => {
          failure ??= err instanceof Error ? err : new Error(String(err));
        })
        .finally(() => {
          inflight.delete(p);
          o.metrics?.inFlight.set({ pipeline: pipe }, inflight.size);
        });
      inflight.add(p);
      o.metrics?.inFlight.set({ pipeline: pipe }, inflight.size);
    }
  } catch (err) {
    failure ??= err instanceof Error ? err : new Error(String(err));
  }
  // Drain: let every batch already handed out finish (graceful stop keeps their data).
  await Promise.allSettled([...inflight]);
  dropLog.finish();
  if (failure) {
    (failure as Error & { totals?: DispatchTotals }).totals = totals;
    throw failure;
  }
  return totals;
}
