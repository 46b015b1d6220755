/**
 * Self-metrics (prom-client). Counters are `*_total`, durations `*_seconds` (Vector's naming habit).
 * Updated per batch, never per sample.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface EngineMetrics {
  registry: Registry;
  samplesIn: Counter<'pipeline'>;
  linesOut: Counter<'pipeline'>;
  batches: Counter<'pipeline' | 'outcome'>;
  dropped: Counter<'pipeline' | 'reason'>;
  errors: Counter<'pipeline' | 'stage' | 'code'>;
  batchSeconds: Histogram<'pipeline'>;
  batchSize: Gauge<'pipeline'>;
  inFlight: Gauge<'pipeline'>;
  queueDepth: Gauge<'pipeline'>;
  workerUtilization: Gauge<'pipeline'>;
  rss: Gauge;
  heap: Gauge;
  checkpointLag: Gauge<'pipeline'>;
  /** Pipeline → seconds since its checkpoint was last written durably, read at scrape time. */
  checkpointLagSources: Map<string, () => number>;
  freshness: Gauge<'pipeline'>;
  /** Pipeline → timestamp (ms) of the newest sample it loaded; freshness is computed from it at scrape time. */
  newestSampleMs: Map<string, number>;
  quality: Gauge<'pipeline' | 'metric'>;
  /** Runs by final status (ok, failed, aborted, stopped). */
  runs: Counter<'pipeline' | 'status'>;
  stalled: Gauge<'pipeline'>;
  /** Pipeline → seconds it has made no progress while work is waiting (0 when progressing), read at scrape time. */
  stalledSources: Map<string, () => number>;
}

/** Record the newest loaded sample of a pipeline (never moves backwards; serve keeps it across runs). */
export function noteNewestSample(m: EngineMetrics, pipeline: string, newestMs: number): void {
  if (!Number.isFinite(newestMs)) return;
  const prev = m.newestSampleMs.get(pipeline);
  if (prev === undefined || newestMs > prev) m.newestSampleMs.set(pipeline, newestMs);
}

export function createEngineMetrics(registry = new Registry(), withDefaults = false): EngineMetrics {
  if (withDefaults) collectDefaultMetrics({ register: registry, prefix: 'promflux_' });
  const registers = [registry];
  const checkpointLagSources = new Map<string, () => number>();
  const newestSampleMs = new Map<string, number>();
  const stalledSources = new Map<string, () => number>();
  return {
    checkpointLagSources,
    newestSampleMs,
    stalledSources,
    registry,
    samplesIn: new Counter({ name: 'promflux_samples_in_total', help: 'Samples read from the source (halo excluded)', labelNames: ['pipeline'], registers }),
    linesOut: new Counter({ name: 'promflux_lines_out_total', help: 'Lines/rows accepted by the sink', labelNames: ['pipeline'], registers }),
    batches: new Counter({ name: 'promflux_batches_total', help: 'Batches processed by outcome', labelNames: ['pipeline', 'outcome'], registers }),
    dropped: new Counter({ name: 'promflux_dropped_total', help: 'Samples dropped, by reason', labelNames: ['pipeline', 'reason'], registers }),
    errors: new Counter({ name: 'promflux_errors_total', help: 'Errors by stage and code', labelNames: ['pipeline', 'stage', 'code'], registers }),
    batchSeconds: new Histogram({
      name: 'promflux_batch_duration_seconds',
      help: 'Worker time per batch (fill + transform + encode)',
      labelNames: ['pipeline'],
      // Up to 5 min so the "processing latency > 60 s" alert (deploy/prometheus) can see past 60 s.
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
      registers,
    }),
    batchSize: new Gauge({ name: 'promflux_batch_size_rows', help: 'Current (adaptive) batch size in rows', labelNames: ['pipeline'], registers }),
    inFlight: new Gauge({ name: 'promflux_inflight_batches', help: 'Batches in flight (worker or sink)', labelNames: ['pipeline'], registers }),
    queueDepth: new Gauge({ name: 'promflux_queue_depth', help: 'Tasks waiting for a worker', labelNames: ['pipeline'], registers }),
    workerUtilization: new Gauge({ name: 'promflux_worker_utilization_ratio', help: 'Worker pool utilization (0..1)', labelNames: ['pipeline'], registers }),
    // Memory and checkpoint lag are read when scraped, so they stay true while no batch completes.
    rss: new Gauge({
      name: 'promflux_rss_bytes',
      help: 'Resident set size',
      registers,
      collect() {
        this.set(process.memoryUsage.rss());
      },
    }),
    heap: new Gauge({
      name: 'promflux_heap_used_bytes',
      help: 'V8 heap used',
      registers,
      collect() {
        this.set(process.memoryUsage().heapUsed);
      },
    }),
    checkpointLag: new Gauge({
      name: 'promflux_checkpoint_lag_seconds',
      help: 'Seconds since the last checkpoint write of a running pipeline (0 between runs)',
      labelNames: ['pipeline'],
      registers,
      collect() {
        for (const [pipeline, lag] of checkpointLagSources) this.set({ pipeline }, lag());
      },
    }),
    // Read at scrape time, so it keeps growing while nothing new lands (between cron runs, during a stall).
    freshness: new Gauge({
      name: 'promflux_data_freshness_seconds',
      help: 'Age of the newest loaded sample (now minus its timestamp), read at scrape time',
      labelNames: ['pipeline'],
      registers,
      collect() {
        const now = Date.now();
        for (const [pipeline, ms] of newestSampleMs) this.set({ pipeline }, Math.max(0, (now - ms) / 1000));
      },
    }),
    quality: new Gauge({ name: 'promflux_quality_ratio', help: 'Data-quality metrics of the last run: score in 0..1, *_pct in percent', labelNames: ['pipeline', 'metric'], registers }),
    runs: new Counter({ name: 'promflux_runs_total', help: 'Pipeline runs by final status (ok, failed, aborted, stopped)', labelNames: ['pipeline', 'status'], registers }),
    stalled: new Gauge({
      name: 'promflux_stalled_seconds',
      help: 'Seconds a running pipeline has made no progress while work is waiting (0 while progressing or idle)',
      labelNames: ['pipeline'],
      registers,
      collect() {
        for (const [pipeline, s] of stalledSources) this.set({ pipeline }, s());
      },
    }),
  };
}
