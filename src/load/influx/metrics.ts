/**
 * Load telemetry. Updated per request (never per line). Kept twice on purpose: plain numbers for
 * the run summary (`stats()`), and prom-client metrics when the engine passes a registry.
 */
import { Counter, Histogram, type Registry } from 'prom-client';

export interface LoadTotals {
  linesWritten: number;
  /** Uncompressed line-protocol bytes of the accepted lines. */
  bytesWritten: number;
  /** Request body bytes put on the wire (after gzip), all attempts. */
  bytesSent: number;
  requests: Record<string, number>;
  retries: Record<string, number>;
  deadLettered: Record<string, number>;
  /** Dead-lettered lines by measurement (so `verify` expectations can subtract them). */
  deadLetteredByMeasurement: Record<string, number>;
  breakerOpens: number;
}

function getOrCreate<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

export class LoadMetrics {
  readonly totals: LoadTotals = {
    linesWritten: 0,
    bytesWritten: 0,
    bytesSent: 0,
    requests: {},
    retries: {},
    deadLettered: {},
    deadLetteredByMeasurement: {},
    breakerOpens: 0,
  };
  private readonly prom: {
    lines: Counter;
    bytes: Counter;
    requests: Counter<'status'>;
    retries: Counter<'cause'>;
    duration: Histogram;
    dead: Counter<'reason'>;
  } | null;

  constructor(registry?: Registry) {
    if (!registry) {
      this.prom = null;
      return;
    }
    const registers = [registry];
    this.prom = {
      lines: getOrCreate(registry, 'promflux_load_lines_total', () =>
        new Counter({ name: 'promflux_load_lines_total', help: 'Line-protocol lines accepted by the sink', registers })),
      bytes: getOrCreate(registry, 'promflux_load_bytes_total', () =>
        new Counter({ name: 'promflux_load_bytes_total', help: 'Uncompressed line-protocol bytes accepted by the sink', registers })),
      requests: getOrCreate(registry, 'promflux_load_requests_total', () =>
        new Counter({
          name: 'promflux_load_requests_total',
          help: 'Write requests by HTTP status (or "network", "timeout")',
          labelNames: ['status'] as const,
          registers,
        })),
      retries: getOrCreate(registry, 'promflux_load_retries_total', () =>
        new Counter({
          name: 'promflux_load_retries_total',
          help: 'Write requests sent again, by cause (network, timeout, http_429, http_503, http_5xx, split_413, isolate_4xx)',
          labelNames: ['cause'] as const,
          registers,
        })),
      duration: getOrCreate(registry, 'promflux_load_request_duration_seconds', () =>
        new Histogram({
          name: 'promflux_load_request_duration_seconds',
          help: 'Write request latency (send to response), seconds',
          buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
          registers,
        })),
      dead: getOrCreate(registry, 'promflux_load_dead_letter_total', () =>
        new Counter({
          name: 'promflux_load_dead_letter_total',
          help: 'Lines written to the dead-letter file, by reason',
          labelNames: ['reason'] as const,
          registers,
        })),
    };
  }

  written(lines: number, bytes: number): void {
    this.totals.linesWritten += lines;
    this.totals.bytesWritten += bytes;
    this.prom?.lines.inc(lines);
    this.prom?.bytes.inc(bytes);
  }

  request(status: string, seconds: number, wireBytes: number): void {
    this.totals.requests[status] = (this.totals.requests[status] ?? 0) + 1;
    this.totals.bytesSent += wireBytes;
    this.prom?.requests.inc({ status });
    this.prom?.duration.observe(seconds);
  }

  retry(cause: string): void {
    this.totals.retries[cause] = (this.totals.retries[cause] ?? 0) + 1;
    this.prom?.retries.inc({ cause });
  }

  deadLettered(reason: string, lines: number, measurement?: string): void {
    this.totals.deadLettered[reason] = (this.totals.deadLettered[reason] ?? 0) + lines;
    if (measurement !== undefined) {
      const m = this.totals.deadLetteredByMeasurement;
      m[measurement] = (m[measurement] ?? 0) + lines;
    }
    this.prom?.dead.inc({ reason }, lines);
  }
}
