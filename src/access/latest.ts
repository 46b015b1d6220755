/**
 * The newest feature vector per series of the pipelines `promflux serve` runs, in bounded memory,
 * for `GET /v1/features/latest` (docs/ACCESS.md "Online serving").
 *
 * Workers hand back one small typed-array summary per batch (src/encode/latest.ts: the newest
 * written row of each series); `add` merges it per series, never per sample. A vector replaces the
 * stored one only when it is not older, so batches finishing out of order (several workers) leave
 * the newest row, whatever the batch size or worker count. At most `maxSeries` vectors are kept: past
 * that, the least recently updated is evicted and counted (`evicted`,
 * `promflux_features_latest_evicted_total`).
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { parseSeriesKey } from '../batch/layout.js';
import { decodeTagValue } from '../encode/escape.js';
import type { LatestRows } from '../encode/latest.js';
import type { LabelMatcher } from '../extract/prometheus/selector.js';

/** One stored vector. `values[i]` belongs to `fields[i]`; NaN = the field was not written on that row. */
export interface LatestEntry {
  pipeline: string;
  /** Source series key (Prometheus name + labels). */
  series: string;
  name: string;
  labels: Record<string, string>;
  /** As written to the sink (after schema mapping), tag values decoded to the original label values. */
  measurement: string;
  tags: Record<string, string>;
  fields: readonly string[];
  timestamp: number;
  values: Float64Array;
}

export interface LatestQuery {
  pipeline?: string;
  measurement?: string;
  /** Prometheus selector matchers over the source series (name as `__name__`). */
  matchers?: readonly LabelMatcher[];
  /** Written tags (original values): any of the values of each key. */
  tags?: Record<string, string[]>;
}

export interface LatestStoreOptions {
  maxSeries: number;
  registry?: Registry;
}

/** Split line-protocol key text at unescaped `sep` (series-key escaping: `\,` `\ ` `\=`). */
function splitUnescaped(s: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\' && (s[i + 1] === ',' || s[i + 1] === ' ' || s[i + 1] === '=')) {
      cur += c + s[i + 1];
      i++;
    } else if (c === sep) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

const unescapeKey = (s: string): string => s.replace(/\\([, =])/g, '$1');

/** `measurement,k=v,…` (line-protocol series key text) → measurement and tags, decoded (once per new series). */
export function parseTargetKey(text: string): { measurement: string; tags: Record<string, string> } {
  const parts = splitUnescaped(text, ',');
  const tags: Record<string, string> = {};
  for (const p of parts.slice(1)) {
    const [k, v] = splitUnescaped(p, '=');
    tags[decodeTagValue(unescapeKey(k!))] = decodeTagValue(unescapeKey(v ?? ''));
  }
  return { measurement: decodeTagValue(unescapeKey(parts[0]!)), tags };
}

function matches(m: LabelMatcher, value: string, re: RegExp | undefined): boolean {
  switch (m.type) {
    case '=':
      return value === m.value;
    case '!=':
      return value !== m.value;
    case '=~':
      return re!.test(value);
    case '!~':
      return !re!.test(value);
  }
}

export class LatestStore {
  readonly maxSeries: number;
  private readonly entries = new Map<string, LatestEntry>();
  /** Field lists by joined text: one array per distinct list, shared by its entries. */
  private readonly fieldLists = new Map<string, readonly string[]>();
  private evictedCount = 0;
  private readonly evictedMetric: Counter | undefined;

  constructor(opts: LatestStoreOptions) {
    if (!(Number.isInteger(opts.maxSeries) && opts.maxSeries > 0)) throw new RangeError(`maxSeries must be a positive integer, got ${opts.maxSeries}`);
    this.maxSeries = opts.maxSeries;
    if (opts.registry) {
      this.evictedMetric = new Counter({ name: 'promflux_features_latest_evicted_total', help: 'Latest feature vectors evicted because serving.maxSeries series were held', registers: [opts.registry] });
      const entries = this.entries;
      new Gauge({
        name: 'promflux_features_latest_series',
        help: 'Series with a latest feature vector held for /v1/features/latest',
        registers: [opts.registry],
        collect() {
          this.set(entries.size);
        },
      });
    }
  }

  get size(): number {
    return this.entries.size;
  }

  /** Vectors evicted so far (the store was full). */
  get evicted(): number {
    return this.evictedCount;
  }

  /** Merge one batch's summary (one step per series of the batch). */
  add(pipeline: string, rows: LatestRows): void {
    const nf = rows.fields.length;
    const fieldsText = rows.fields.join('\n');
    let fields = this.fieldLists.get(fieldsText);
    if (!fields) {
      fields = rows.fields.slice();
      this.fieldLists.set(fieldsText, fields);
    }
    for (let e = 0; e < rows.keys.length; e++) {
      const id = `${pipeline}\u0000${rows.targets[e]}`;
      const t = rows.ts[e]!;
      let entry = this.entries.get(id);
      if (entry && t < entry.timestamp) continue; // an older batch finished later
      if (entry) this.entries.delete(id); // re-insert: Map order = least recently updated first
      else {
        const { name, labels } = parseSeriesKey(rows.keys[e]!);
        const { measurement, tags } = parseTargetKey(rows.targets[e]!);
        entry = { pipeline, series: rows.keys[e]!, name, labels, measurement, tags, fields, timestamp: t, values: new Float64Array(nf) };
      }
      if (entry.values.length !== nf) entry.values = new Float64Array(nf);
      entry.fields = fields;
      entry.timestamp = t;
      entry.values.set(rows.values.subarray(e * nf, (e + 1) * nf));
      this.entries.set(id, entry);
      if (this.entries.size > this.maxSeries) this.evictOldest();
    }
  }

  private evictOldest(): void {
    const first = this.entries.keys().next();
    if (first.done) return;
    this.entries.delete(first.value);
    this.evictedCount++;
    this.evictedMetric?.inc();
  }

  /** Vectors matching the query, sorted by pipeline, measurement, series. */
  select(q: LatestQuery): LatestEntry[] {
    const res = (q.matchers ?? []).map((m) => (m.type === '=~' || m.type === '!~' ? new RegExp(`^(?:${m.value})$`) : undefined));
    const out: LatestEntry[] = [];
    outer: for (const e of this.entries.values()) {
      if (q.pipeline !== undefined && e.pipeline !== q.pipeline) continue;
      if (q.measurement !== undefined && e.measurement !== q.measurement) continue;
      if (q.matchers) {
        for (let i = 0; i < q.matchers.length; i++) {
          const m = q.matchers[i]!;
          const v = m.name === '__name__' ? e.name : (e.labels[m.name] ?? '');
          if (!matches(m, v, res[i])) continue outer;
        }
      }
      if (q.tags) for (const [k, vs] of Object.entries(q.tags)) if (!vs.includes(e.tags[k] ?? '')) continue outer;
      out.push(e);
    }
    return out.sort((a, b) => (a.pipeline < b.pipeline ? -1 : a.pipeline > b.pipeline ? 1 : a.measurement < b.measurement ? -1 : a.measurement > b.measurement ? 1 : a.series < b.series ? -1 : a.series > b.series ? 1 : 0));
  }
}
