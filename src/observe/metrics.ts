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
  quality: Gauge<'pipeline' | 'metric'>;
}

export function createEngineMetrics(registry = new Registry(), withDefaults = false): EngineMetrics {
  if (withDefaults) collectDefaultMetrics({ register: registry, prefix: 'promflux_' });
  const registers = [registry];
  const checkpointLagSources = new Map<string, () => number>();
  return {
    checkpointLagSources,
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
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
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
    freshness: new Gauge({ name: 'promflux_data_freshness_seconds', help: 'Age of the newest loaded sample', labelNames: ['pipeline'], registers }),
    quality: new Gauge({ name: 'promflux_quality_ratio', help: 'Data-quality metrics of the run (0..1)', labelNames: ['pipeline', 'metric'], registers }),
  };
}
