/**
 * The InfluxDB sink: config → request plan (byte scan) → bounded concurrency → delivery (retries,
 * splits, isolation) → counts. See docs/LOAD.md.
 */
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { SinkError } from '../../errors.js';
import { CardinalityGuard } from '../cardinality.js';
import { compileSchemaMapping } from '../schema.js';
import type { EncodedBatch, Sink, SinkWriteResult } from '../sink.js';
import { CircuitBreaker } from './breaker.js';
import { gzipEnabled, type InfluxSinkConfig } from './config.js';
import { DeadLetterFile } from './deadletter.js';
import { Deliverer, type SharedState, type Tally } from './deliver.js';
import { createPool, endpointOf } from './endpoint.js';
import { Semaphore } from '../../util/semaphore.js';
import { planFromCuts, planRequests, type RequestPlan } from './lines.js';
import { LoadMetrics } from './metrics.js';

export interface InfluxSinkDeps {
  logger: Logger;
  metrics?: Registry;
}

export interface InfluxSink extends Sink {
  stats(): Record<string, unknown>;
}

/**
 * Create the sink. `write(batch)` resolves with `{ written, deadLettered }` once every line of the
 * batch is written or in the dead-letter file (`written + Σ deadLettered === batch.lines`), and
 * rejects with a SinkError when the server stays down past `retry.maxOutageMs`, refuses auth, the
 * target does not exist, or the cardinality guard refuses the batch.
 */
/**
 * The batch's requests: the worker's cuts (EncodedBatch.requests) when they cover exactly `lp`,
 * else a scan of the bytes (line protocol from elsewhere, e.g. the quality point).
 */
function planFor(batch: EncodedBatch, lp: Uint8Array, maxLines: number, maxBytes: number): RequestPlan {
  const r = batch.requests;
  if (r && r.ends.length > 0 && r.ends[r.ends.length - 1] === lp.length) return planFromCuts(r);
  return planRequests(lp, maxLines, maxBytes);
}

export function createInfluxSink(cfg: InfluxSinkConfig, deps: InfluxSinkDeps): InfluxSink {
  const logger = deps.logger.child({ component: 'sink', sink: 'influx' });
  const metrics = new LoadMetrics(deps.metrics);
  const endpoint = endpointOf(cfg);
  const pool = createPool(cfg);
  const abort = new AbortController();
  const breaker = new CircuitBreaker(cfg.circuitBreaker.failures, cfg.circuitBreaker.cooldownMs, Date.now, (s) => {
    if (s === 'open') logger.warn({ cooldownMs: cfg.circuitBreaker.cooldownMs }, `circuit breaker open: pausing writes to ${cfg.url}`);
    else if (s === 'closed') logger.info(`circuit breaker closed: ${cfg.url} is answering again`);
  });
  const deadLetter = new DeadLetterFile(cfg.deadLetter);
  const shared: SharedState = { outageSince: 0, fatal: null };
  const deliverer = new Deliverer({ cfg, pool, endpoint, breaker, metrics, deadLetter, logger, signal: abort.signal, shared });
  const limiter = new Semaphore(cfg.concurrency);
  const guard = new CardinalityGuard(cfg.cardinality, compileSchemaMapping(cfg.schema), logger);
  let closed = false;

  return {
    kind: 'influx',
    needs: { lineProtocol: true, columns: false, requestCuts: { lines: cfg.batchLines, bytes: cfg.batchBytes } },
    // One point per measurement + tag set + timestamp: a chunk written again overwrites itself.
    resume: 'idempotent',

    async open() {
      // A ping only informs: a server that is down now is handled by the writes' outage budget.
      try {
        const res = await pool.request({ method: 'GET', path: `${endpoint.prefix}/ping`, headers: endpoint.headers });
        await res.body.dump();
        logger.info({ status: res.statusCode, version: res.headers['x-influxdb-version'], gzip: gzipEnabled(cfg) }, `InfluxDB sink ready: ${cfg.url}`);
      } catch (err) {
        logger.warn({ err: (err as Error).message }, `InfluxDB at ${cfg.url} did not answer /ping; writes will retry`);
      }
    },

    async write(batch: EncodedBatch): Promise<SinkWriteResult> {
      if (closed) throw new SinkError('PROMFLUX_SINK_CLOSED', `write after close on the InfluxDB sink (${cfg.url})`);
      if (shared.fatal) throw shared.fatal;
      if (shared.cancelled) throw new SinkError('PROMFLUX_SINK_CANCELLED', `write after a stop cancelled the InfluxDB sink's writes (${cfg.url}); the batch is unacknowledged and the resumed run writes it`);
      const lp = batch.lp;
      if (!lp || batch.lines === 0) return { written: 0 };
      if (batch.seriesKeys.length > 0) guard.check(batch.seriesKeys);
      const plan = planFor(batch, lp, cfg.batchLines, cfg.batchBytes);
      if (plan.totalLines !== batch.lines) {
        throw new SinkError(
          'PROMFLUX_SINK_BAD_BATCH',
          `batch ${batch.batchId} (chunk ${batch.chunkId}) says ${batch.lines} lines but its line protocol has ${plan.totalLines}; ` +
            `nothing was written. This is an encoder bug: please report it with the chunk id.`,
        );
      }
      const tally: Tally = { written: 0, deadLettered: {} };
      const ctx = { batchId: batch.batchId, chunkId: batch.chunkId };
      const jobs: Promise<void>[] = [];
      for (let i = 0; i < plan.count; i++) {
        const body = lp.subarray(plan.starts[i], plan.ends[i]);
        const lines = plan.lines[i]!;
        jobs.push(limiter.run(() => deliverer.deliver(body, lines, tally, ctx)));
      }
      // allSettled: when one request fails for good, the others still finish (or fail) before we
      // report, so nothing of this batch is in flight once write() settles.
      const results = await Promise.allSettled(jobs);
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      const dl = Object.keys(tally.deadLettered).length > 0 ? tally.deadLettered : undefined;
      return dl ? { written: tally.written, deadLettered: dl } : { written: tally.written };
    },

    cancel() {
      // Aborts the requests on the wire (undici) and the retry and breaker waits: every pending
      // delivery rejects at once with PROMFLUX_SINK_CANCELLED.
      shared.cancelled = true;
      abort.abort();
    },

    async close() {
      if (closed) return;
      closed = true;
      abort.abort();
      await Promise.allSettled([pool.close(), deadLetter.close()]);
    },

    stats() {
      const t = metrics.totals;
      return {
        url: cfg.url,
        gzip: gzipEnabled(cfg),
        linesWritten: t.linesWritten,
        bytesWritten: t.bytesWritten,
        bytesSent: t.bytesSent,
        requests: { ...t.requests },
        retries: { ...t.retries },
        deadLettered: { ...t.deadLettered },
        deadLetteredByMeasurement: { ...t.deadLetteredByMeasurement },
        deadLetterFile: deadLetter.lines > 0 ? cfg.deadLetter : null,
        breakerOpens: breaker.opens,
        breaker: breaker.state,
        inFlightRequests: limiter.inFlight,
        // The last failed write attempt (retried or not): stall heartbeats quote it.
        lastError: shared.lastError ? { at: new Date(shared.lastError.atMs).toISOString(), status: shared.lastError.status, message: shared.lastError.message } : null,
        queuedRequests: limiter.waiting,
        cardinality: guard.stats(),
      };
    },
  };
}
