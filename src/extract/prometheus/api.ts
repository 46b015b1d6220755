/**
 * Typed wrappers for the small Prometheus API calls: series, labels, label values, metadata and
 * instant queries. Their responses are per-series or per-metric (not per-sample), so JSON.parse on
 * the main thread is fine here; sample data goes through the worker decoders instead.
 */
import type { PromClient, HttpResult } from './client.js';
import { formatSeconds } from './time.js';
import type { SeriesKindName } from '../../batch/layout.js';

export interface MetricMetadata {
  type: string;
  help: string;
  unit: string;
}

export interface InstantResult {
  resultType: 'vector' | 'matrix' | 'scalar' | 'string';
  result: unknown;
}

const range = (startMs?: number, endMs?: number): Array<[string, string]> => {
  const p: Array<[string, string]> = [];
  if (startMs !== undefined) p.push(['start', formatSeconds(startMs)]);
  if (endMs !== undefined) p.push(['end', formatSeconds(endMs)]);
  return p;
};

export class PrometheusApi {
  constructor(readonly client: PromClient) {}

  /** /api/v1/series: label sets of the series matching any selector within [start, end]. */
  series(match: readonly string[], startMs?: number, endMs?: number, signal?: AbortSignal): Promise<Array<Record<string, string>>> {
    return this.client.json('/api/v1/series', [...match.map((m) => ['match[]', m] as [string, string]), ...range(startMs, endMs)], {
      what: `series lookup ${match.join(', ')}`,
      signal,
    });
  }

  /** /api/v1/labels: label names (optionally restricted to series matching `match`). */
  labels(match: readonly string[] = [], startMs?: number, endMs?: number, signal?: AbortSignal): Promise<string[]> {
    return this.client.json('/api/v1/labels', [...match.map((m) => ['match[]', m] as [string, string]), ...range(startMs, endMs)], {
      what: 'label names',
      signal,
    });
  }

  /** /api/v1/label/<name>/values. */
  labelValues(name: string, match: readonly string[] = [], signal?: AbortSignal): Promise<string[]> {
    return this.client.json(`/api/v1/label/${encodeURIComponent(name)}/values`, match.map((m) => ['match[]', m] as [string, string]), {
      what: `values of label ${name}`,
      signal,
      endpoint: 'label_values',
    });
  }

  /** /api/v1/metadata: type, help and unit per metric name (from currently scraped targets). */
  metadata(metric?: string, signal?: AbortSignal): Promise<Record<string, MetricMetadata[]>> {
    return this.client.json('/api/v1/metadata', metric ? [['metric', metric]] : [], { what: `metadata${metric ? ` of ${metric}` : ''}`, signal });
  }

  /** Instant query, parsed (small results: vectors of current values, counts). */
  query(expr: string, timeMs?: number, signal?: AbortSignal): Promise<InstantResult> {
    const p: Array<[string, string]> = [['query', expr]];
    if (timeMs !== undefined) p.push(['time', formatSeconds(timeMs)]);
    return this.client.json('/api/v1/query', p, { what: `instant query ${expr}`, signal });
  }

  /** Instant query, raw bytes for a worker decoder (large results, e.g. range-vector selectors). */
  queryBytes(expr: string, timeMs: number, what: string, signal?: AbortSignal): Promise<HttpResult> {
    return this.client.api('/api/v1/query', [['query', expr], ['time', formatSeconds(timeMs)]], { what, signal });
  }

  /** query_range, raw bytes. `endMs` is the last evaluation time (inclusive). */
  queryRangeBytes(expr: string, startMs: number, endMs: number, stepMs: number, what: string, signal?: AbortSignal): Promise<HttpResult> {
    return this.client.api(
      '/api/v1/query_range',
      [['query', expr], ['start', formatSeconds(startMs)], ['end', formatSeconds(endMs)], ['step', formatSeconds(stepMs)]],
      { what, signal },
    );
  }
}

/** Prometheus/OpenMetrics metadata type → batch SeriesKind name. */
export function kindFromMetadataType(type: string): SeriesKindName {
  switch (type) {
    case 'counter':
      return 'counter';
    case 'gauge':
    case 'info':
    case 'stateset':
      return 'gauge';
    case 'histogram':
    case 'gaugehistogram':
      return 'histogram';
    case 'summary':
      return 'summary';
    default:
      return 'unknown';
  }
}
