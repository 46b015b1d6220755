/**
 * Extraction metrics on the engine's prom-client registry. Counted per request or per chunk, never
 * per sample. Reusing a registry (two sources, tests) returns the already-registered metrics.
 */
import { Counter, Gauge, Histogram, Registry, type Metric } from 'prom-client';

export interface ExtractMetrics {
  requests: Counter<'status' | 'endpoint'>;
  errors: Counter<'reason'>;
  bytes: Counter<'endpoint'>;
  samples: Counter<'query'>;
  duration: Histogram<'endpoint'>;
  freshness: Gauge<'query'>;
  gaps: Counter<'query'>;
  chunks: Counter<'query'>;
  haloHandoffs: Counter<'query' | 'outcome'>;
  haloTailBytes: Counter<'query'>;
}

function get<T extends Metric>(reg: Registry, name: string, make: () => T): T {
  return (reg.getSingleMetric(name) as T | undefined) ?? make();
}

export function createExtractMetrics(registry: Registry = new Registry()): ExtractMetrics {
  const registers = [registry];
  return {
    requests: get(registry, 'promflux_extract_requests_total', () =>
      new Counter({ name: 'promflux_extract_requests_total', help: 'HTTP requests to Prometheus by response status (code, "network" or "timeout")', labelNames: ['status', 'endpoint'], registers })),
    errors: get(registry, 'promflux_extract_errors_total', () =>
      new Counter({ name: 'promflux_extract_errors_total', help: 'Failed extraction attempts by reason (retried ones included)', labelNames: ['reason'], registers })),
    bytes: get(registry, 'promflux_extract_bytes_total', () =>
      new Counter({ name: 'promflux_extract_bytes_total', help: 'Response body bytes received from Prometheus', labelNames: ['endpoint'], registers })),
    samples: get(registry, 'promflux_extract_samples_total', () =>
      new Counter({ name: 'promflux_extract_samples_total', help: 'Samples extracted (non-halo rows; estimated until the engine reports decoded rows)', labelNames: ['query'], registers })),
    duration: get(registry, 'promflux_extract_request_duration_seconds', () =>
      new Histogram({
        name: 'promflux_extract_request_duration_seconds',
        help: 'Prometheus request latency, headers to last body byte, per attempt',
        labelNames: ['endpoint'],
        buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
        registers,
      })),
    freshness: get(registry, 'promflux_extract_freshness_seconds', () =>
      new Gauge({ name: 'promflux_extract_freshness_seconds', help: 'Now minus the end of the newest fully loaded data, per query', labelNames: ['query'], registers })),
    gaps: get(registry, 'promflux_extract_gaps_total', () =>
      new Counter({ name: 'promflux_extract_gaps_total', help: 'Stream mode: times extraction fell behind (outage) and back-filled the gap', labelNames: ['query'], registers })),
    chunks: get(registry, 'promflux_extract_chunks_total', () =>
      new Counter({ name: 'promflux_extract_chunks_total', help: 'Chunks fetched and handed to the engine', labelNames: ['query'], registers })),
    haloHandoffs: get(registry, 'promflux_extract_halo_handoffs_total', () =>
      new Counter({
        name: 'promflux_extract_halo_handoffs_total',
        help: 'Chunks fetched without history whose halo came from the previous chunk\'s tail (outcome "handed"), or that had to fetch it after all ("refetched")',
        labelNames: ['query', 'outcome'],
        registers,
      })),
    haloTailBytes: get(registry, 'promflux_extract_halo_tail_bytes_total', () =>
      new Counter({ name: 'promflux_extract_halo_tail_bytes_total', help: 'Bytes of halo tails handed from one chunk to the next (in memory, not fetched)', labelNames: ['query'], registers })),
  };
}
