/**
 * The source's own sample counts, for `promflux run --verify` (docs/LOAD.md#run---verify): for each
 * raw query of a run, `sum(count_over_time({__name__="m", <matchers>}[w]))` per metric name over
 * [startMs, endMs), in time windows small enough that one query touches at most ~2 M samples
 * (Prometheus' query.max-samples defaults to 50 M). Counts are per metric (summed in Prometheus),
 * so the answer's size is metrics × windows, never per sample or per series.
 *
 * Range-selector bounds: Prometheus 2.x selects [t − w, t], 3.x (t − w, t]; both are turned into
 * exactly [a, b) for millisecond timestamps by evaluating at t = b − 1 ms.
 */
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import { PromClient } from './client.js';
import { PrometheusApi } from './api.js';
import { createExtractMetrics } from './metrics.js';
import type { PrometheusSourceConfig } from './config.js';
import type { Selector } from './selector.js';
import { parseDuration } from '../../util/duration.js';

export interface CountPlanQuery {
  name: string;
  selector: Selector;
  startMs: number;
  endMs: number;
  /** Series matched at planning (sizes the windows). */
  series: number;
}

/** Samples one count query may touch (a window's size is chosen from it). */
const SAMPLES_PER_QUERY = 2_000_000;

export interface SourceCountResult {
  /** metric name → stored samples in the run's windows, summed over the run's queries. */
  byMetric: Record<string, number>;
  queries: number;
  /** Prometheus version (decides the range-selector bounds). */
  version: string;
}

function renderSelector(name: string, sel: Selector): string {
  const parts = [`__name__=${JSON.stringify(name)}`];
  for (const m of sel.matchers) if (m.name !== '__name__') parts.push(`${m.name}${m.type}${JSON.stringify(m.value)}`);
  return `{${parts.join(',')}}`;
}

export async function countStoredSamples(
  cfg: PrometheusSourceConfig,
  queries: readonly CountPlanQuery[],
  logger: Logger,
  signal?: AbortSignal,
): Promise<SourceCountResult> {
  const client = new PromClient(cfg, logger, createExtractMetrics(new Registry()));
  const api = new PrometheusApi(client);
  try {
    let version = 'unknown';
    try {
      const info = await client.json<{ version?: string }>('/api/v1/status/buildinfo', [], { what: 'build info', signal });
      version = String(info?.version ?? 'unknown');
    } catch {
      // older servers and some proxies have no buildinfo: assume 2.x semantics
    }
    const major = Number(/^(\d+)/.exec(version)?.[1] ?? 2);
    const leftOpen = major >= 3;
    const sampleMs = Math.max(1, parseDuration(cfg.sampleInterval));
    const byMetric: Record<string, number> = {};
    let n = 0;
    for (const q of queries) {
      if (!(q.endMs > q.startMs)) continue;
      const names = q.selector.name !== undefined ? [q.selector.name] : (await api.labelValues('__name__', [q.selector.text], signal)).sort();
      const windowMs = Math.max(60_000, Math.floor((SAMPLES_PER_QUERY / Math.max(1, q.series)) * sampleMs));
      const jobs: Array<Promise<void>> = [];
      for (const name of names) {
        const sel = renderSelector(name, q.selector);
        for (let a = q.startMs, b = 0; a < q.endMs; a = b) {
          b = Math.min(q.endMs, a + windowMs);
          if (q.endMs - b < 1000) b = q.endMs; // no sliver windows: every window is ≥ 1 s, so w ≥ 1 ms below
          const w = leftOpen ? b - a : b - a - 1;
          const expr = `sum(count_over_time(${sel}[${w}ms]))`;
          n++;
          jobs.push(
            api.query(expr, b - 1, signal).then((r) => {
              const vec = Array.isArray(r.result) ? (r.result as Array<{ value: [number, string] }>) : [];
              byMetric[name] = (byMetric[name] ?? 0) + (vec.length ? Number(vec[0]!.value[1]) : 0);
            }),
          );
        }
      }
      // The client limits its own concurrency; a query's windows run together.
      await Promise.all(jobs);
    }
    return { byMetric, queries: n, version };
  } finally {
    await client.close();
  }
}
