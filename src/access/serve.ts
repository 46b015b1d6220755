/**
 * Feature serving for `promflux serve` (docs/ACCESS.md "Online serving"), mounted on the metrics
 * server (same listen address, loopback default, same auth/TLS):
 *   GET /v1/features/latest[?measurement=M][&match=<selector>][&tag.K=V…][&pipeline=P][&fields=a,b][&entity=k1,k2]
 *       → the newest feature vector of every matching series, from memory: what the running
 *         pipelines' workers handed back with each batch (src/access/latest.ts), bounded by
 *         serving.maxSeries. `entity=` merges the series of each entity into one vector.
 *       `source=influx&measurement=M[&lookback=1h]` reads the newest rows back from InfluxDB instead.
 *   GET /v1/features?measurement=M&start=T&end=T[&pipeline=P][&fields=…][&tag.K=V…][&every=1m&fn=mean][&format=json|arrow]
 *       → the read-back export uses, as JSON or an Arrow IPC stream (one record batch per chunk).
 * Tag values in answers are decoded (decodeTagValue); filters take the original label values.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Field, Float64, RecordBatch, RecordBatchStreamWriter, Schema, Struct, TimeUnit, Timestamp, Utf8, makeData, vectorFromArray, type Data } from 'apache-arrow';
import { seriesKey } from '../batch/layout.js';
import { applyKeyPolicy, decodeTagValue } from '../encode/escape.js';
import { PromfluxError } from '../errors.js';
import { parseTime } from '../extract/prometheus/time.js';
import { parseDuration } from '../util/duration.js';
import type { PipelineConfig } from '../config/schema.js';
import type { SeriesBlock } from './decode.js';
import type { LatestEntry, LatestStore } from './latest.js';
import { parseSelector, type LabelMatcher } from '../extract/prometheus/selector.js';
import { queryInflux, quoteIdent, quoteString, readInflux, type InfluxReadConfig, type ReadSpec } from './query.js';

export type RouteHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

function readConfigOf(p: PipelineConfig): InfluxReadConfig | undefined {
  const s = p.sink as { kind: string; url?: string; version?: 1 | 2; db?: string; bucket?: string; rp?: string; token?: string; username?: string; password?: string; tls?: InfluxReadConfig['tls'] };
  if (s.kind !== 'influx' || !s.url) return undefined;
  const db = s.version === 2 ? s.bucket : s.db;
  if (!db) return undefined;
  return { url: s.url, version: s.version ?? 1, db, ...(s.rp ? { rp: s.rp } : {}), ...(s.token ? { token: s.token } : {}), ...(s.username !== undefined ? { username: s.username, password: s.password ?? '' } : {}), ...(s.tls ? { tls: s.tls } : {}) };
}

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** Tag filters from `tag.K=V` parameters (original label values; the query escapes them like the sink). */
function filtersOf(q: URLSearchParams): Record<string, string[]> {
  const where: Record<string, string[]> = {};
  for (const [k, v] of q) {
    if (!k.startsWith('tag.')) continue;
    const name = k.slice(4);
    (where[name] ??= []).push(v);
  }
  return where;
}

function decodeTags(tags: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(tags)) out[decodeTagValue(k)] = decodeTagValue(v);
  return out;
}

/** JSON number: finite values as numbers, NaN (no value) as null. */
const num = (v: number): number | null => (Number.isNaN(v) ? null : v);

/** `match=<selector>`: Prometheus selector over the source series (`name{label="v", l=~"re"}`). */
function matchersOf(q: URLSearchParams): { matchers?: LabelMatcher[] } {
  const text = q.get('match');
  if (!text) return {};
  let sel;
  try {
    sel = parseSelector(text);
    for (const m of sel.matchers) if (m.type === '=~' || m.type === '!~') new RegExp(m.value);
  } catch (err) {
    throw new HttpError(400, `match=: ${(err as Error).message}`);
  }
  const name = sel.name !== undefined && !sel.matchers.some((m) => m.name === '__name__') ? [{ type: '=' as const, name: '__name__', value: sel.name }] : [];
  return { matchers: [...name, ...sel.matchers] };
}

interface Vector {
  pipeline: string;
  series: string;
  measurement: string;
  tags: Record<string, string>;
  timestamp: number;
  values: Record<string, number | null>;
}

function vectorOf(e: LatestEntry, fields: readonly string[]): Vector {
  const values: Record<string, number | null> = {};
  e.fields.forEach((f, i) => {
    if (fields.length === 0 || fields.includes(f)) values[f] = num(e.values[i]!);
  });
  return { pipeline: e.pipeline, series: e.series, measurement: e.measurement, tags: e.tags, timestamp: e.timestamp, values };
}

/**
 * One vector per entity (the values of the `entity` tags): features named `measurement.field`, the
 * newest timestamp of its series. Two series of one measurement in one entity is a 400 naming both.
 */
function byEntity(entries: readonly LatestEntry[], entity: readonly string[], fields: readonly string[]): Array<{ entity: Record<string, string>; timestamp: number; features: Record<string, number | null>; timestamps: Record<string, number> }> {
  const groups = new Map<string, { entity: Record<string, string>; timestamp: number; features: Record<string, number | null>; timestamps: Record<string, number>; holders: Map<string, string> }>();
  for (const e of entries) {
    const values = entity.map((k) => e.tags[k]);
    if (values.some((v) => v === undefined)) continue; // not an entity of this kind
    const id = JSON.stringify(values);
    let g = groups.get(id);
    if (!g) groups.set(id, (g = { entity: Object.fromEntries(entity.map((k, i) => [k, values[i]!])), timestamp: -Infinity, features: {}, timestamps: {}, holders: new Map() }));
    const holder = g.holders.get(e.measurement);
    if (holder !== undefined) throw new HttpError(400, `two series of ${e.measurement} map to entity ${id}: ${holder} and ${e.series}; add a tag to entity= or narrow with tag.K=V / match=`);
    g.holders.set(e.measurement, e.series);
    g.timestamp = Math.max(g.timestamp, e.timestamp);
    g.timestamps[e.measurement] = e.timestamp;
    const v = vectorOf(e, fields).values;
    for (const [f, x] of Object.entries(v)) g.features[`${e.measurement}.${f}`] = x;
  }
  return [...groups.values()].map(({ entity: en, timestamp, features, timestamps }) => ({ entity: en, timestamp, features, timestamps }));
}

export interface FeatureRouteOptions {
  /** The newest vectors of the running pipelines (promflux serve); absent: /latest needs source=influx. */
  latest?: LatestStore;
}

export function featureRoutes(pipelines: readonly PipelineConfig[], opts: FeatureRouteOptions = {}): RouteHandler {
  const targets = new Map<string, InfluxReadConfig>();
  for (const p of pipelines) {
    const c = readConfigOf(p);
    if (c) targets.set(p.name, c);
  }
  const pick = (q: URLSearchParams): InfluxReadConfig => {
    const name = q.get('pipeline');
    if (name) {
      const c = targets.get(name);
      if (!c) throw new HttpError(404, `no pipeline "${name}" with an influx sink (have: ${[...targets.keys()].join(', ') || 'none'})`);
      return c;
    }
    if (targets.size === 1) return [...targets.values()][0]!;
    throw new HttpError(400, `give pipeline= (one of ${[...targets.keys()].join(', ') || 'none: no pipeline writes to InfluxDB'})`);
  };
  const measurementOf = (q: URLSearchParams): string => {
    const m = q.get('measurement');
    if (!m) throw new HttpError(400, 'measurement= is required');
    return m;
  };

  /** `source=influx`: the newest row per series read back from InfluxDB (`ORDER BY time DESC LIMIT 1`). */
  const latestFromInflux = async (q: URLSearchParams, res: ServerResponse): Promise<void> => {
    const cfg = pick(q);
    const m = measurementOf(q);
    const lookback = parseDuration(q.get('lookback') ?? '1h', 'lookback');
    const fields = (q.get('fields') ?? '').split(',').filter(Boolean);
    const where = filtersOf(q);
    const conds = [`time >= ${Date.now() - lookback}ms`];
    for (const k of Object.keys(where).sort()) conds.push(`(${where[k]!.map((v) => `${quoteIdent(applyKeyPolicy(k, 'tagKey', 'escape') ?? k)} = ${quoteString(applyKeyPolicy(v, 'tagValue', 'escape') ?? v)}`).join(' OR ')})`);
    const sel = fields.length ? fields.map(quoteIdent).join(', ') : '*';
    const stmt = `SELECT ${sel} FROM ${quoteIdent(applyKeyPolicy(m, 'measurement', 'escape') ?? m)} WHERE ${conds.join(' AND ')} GROUP BY * ORDER BY time DESC LIMIT 1`;
    const series: Array<{ series: string; tags: Record<string, string>; timestamp: number; values: Record<string, number | null> }> = [];
    for await (const blocks of queryInflux({ ...cfg, chunkSize: 10_000 }, stmt)) {
      for (const b of blocks) {
        if (b.rows === 0) continue;
        const tags = decodeTags(b.tags);
        const values: Record<string, number | null> = {};
        b.columns.forEach((c, i) => (values[c] = num(b.values[i]![0]!)));
        series.push({ series: seriesKey(decodeTagValue(b.name), tags), tags, timestamp: b.ts[0]!, values });
      }
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ source: 'influx', measurement: m, series }));
  };

  /** Default: the newest vectors the running pipelines' workers handed back (src/access/latest.ts). */
  const latest = async (q: URLSearchParams, res: ServerResponse): Promise<void> => {
    if (q.get('source') === 'influx') return latestFromInflux(q, res);
    if (q.has('source') && q.get('source') !== 'memory') throw new HttpError(400, `source must be memory (default) or influx, got "${q.get('source')}"`);
    if (!opts.latest) throw new HttpError(404, 'no in-memory feature vectors here (only promflux serve keeps them); use source=influx');
    const pipeline = q.get('pipeline') ?? undefined;
    if (pipeline !== undefined && !pipelines.some((p) => p.name === pipeline)) throw new HttpError(404, `no pipeline "${pipeline}" (have: ${pipelines.map((p) => p.name).join(', ')})`);
    const entries = opts.latest.select({ ...(pipeline !== undefined ? { pipeline } : {}), ...(q.get('measurement') ? { measurement: q.get('measurement')! } : {}), ...matchersOf(q), ...(Object.keys(filtersOf(q)).length ? { tags: filtersOf(q) } : {}) });
    const fields = (q.get('fields') ?? '').split(',').filter(Boolean);
    const held = { held: opts.latest.size, maxSeries: opts.latest.maxSeries, evicted: opts.latest.evicted };
    const entity = (q.get('entity') ?? '').split(',').filter(Boolean);
    res.writeHead(200, { 'content-type': 'application/json' });
    if (entity.length) res.end(JSON.stringify({ source: 'memory', entity, entities: byEntity(entries, entity, fields), ...held }));
    else res.end(JSON.stringify({ source: 'memory', series: entries.map((e) => vectorOf(e, fields)), ...held }));
  };

  const range = async (q: URLSearchParams, res: ServerResponse): Promise<void> => {
    const cfg = pick(q);
    const now = Date.now();
    const time = (k: string): number => {
      const v = q.get(k);
      if (!v) throw new HttpError(400, `${k}= is required (RFC 3339, unix seconds or now-6h)`);
      try {
        return parseTime(v, now);
      } catch (err) {
        throw new HttpError(400, (err as Error).message);
      }
    };
    const fields = (q.get('fields') ?? '').split(',').filter(Boolean);
    const where = filtersOf(q);
    const every = q.get('every');
    const spec: ReadSpec = {
      measurement: measurementOf(q),
      start: time('start'),
      end: time('end'),
      ...(fields.length ? { fields } : {}),
      ...(Object.keys(where).length ? { where } : {}),
      ...(every ? { groupBy: { every, fn: (q.get('fn') ?? 'mean') as NonNullable<ReadSpec['groupBy']>['fn'] } } : {}),
    };
    const format = q.get('format') ?? 'json';
    const it = readInflux(cfg, spec);
    if (format === 'arrow') {
      // The first chunk decides the columns (every series of one SELECT has the same).
      let writer: RecordBatchStreamWriter | undefined;
      let schema: Schema | undefined;
      for await (const blocks of it) {
        for (const b of blocks) {
          if (!schema) {
            schema = new Schema([new Field('series', new Utf8(), false), new Field('timestamp', new Timestamp(TimeUnit.MILLISECOND, 'UTC'), false), ...b.columns.map((c) => new Field(c, new Float64(), true))]);
            writer = new RecordBatchStreamWriter();
            writer.reset(undefined, schema);
            res.writeHead(200, { 'content-type': 'application/vnd.apache.arrow.stream' });
            writer.toNodeStream().pipe(res);
          }
          writer!.write(batchOf(schema, b));
        }
      }
      if (!writer) {
        res.writeHead(200, { 'content-type': 'application/vnd.apache.arrow.stream' });
        const w = new RecordBatchStreamWriter();
        w.reset(undefined, new Schema([new Field('series', new Utf8(), false), new Field('timestamp', new Timestamp(TimeUnit.MILLISECOND, 'UTC'), false)]));
        w.toNodeStream().pipe(res);
        w.close();
      } else writer.close();
      return;
    }
    if (format !== 'json') throw new HttpError(400, `format must be json or arrow, got "${format}"`);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write(`{"measurement":${JSON.stringify(spec.measurement)},"blocks":[`);
    let first = true;
    for await (const blocks of it) {
      for (const b of blocks) {
        // One JSON text per block (per series and chunk), written as it comes: bounded memory.
        const rows: Array<Array<number | null>> = [];
        for (let i = 0; i < b.rows; i++) rows.push([b.ts[i]!, ...b.values.map((v) => num(v[i]!))]);
        res.write(`${first ? '' : ','}${JSON.stringify({ series: seriesKey(decodeTagValue(b.name), decodeTags(b.tags)), tags: decodeTags(b.tags), columns: ['time', ...b.columns], values: rows })}`);
        first = false;
      }
    }
    res.end(']}');
  };

  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const route = url.pathname === '/v1/features/latest' ? latest : url.pathname === '/v1/features' ? range : undefined;
    if (!route) return false;
    if (req.method !== 'GET') {
      res.writeHead(405, { 'content-type': 'text/plain', allow: 'GET' });
      res.end('GET only\n');
      return true;
    }
    route(url.searchParams, res).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : err instanceof PromfluxError && err.code === 'PROMFLUX_ACCESS_QUERY' ? 400 : 502;
      const body = JSON.stringify({ error: (err as Error).message, ...(err instanceof PromfluxError ? { code: err.code } : {}) });
      if (!res.headersSent) {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(body);
      } else res.destroy(err as Error);
    });
    return true;
  };
}

function batchOf(schema: Schema, b: SeriesBlock): RecordBatch {
  const n = b.rows;
  const key = seriesKey(decodeTagValue(b.name), decodeTags(b.tags));
  const ts64 = new BigInt64Array(n);
  for (let i = 0; i < n; i++) ts64[i] = BigInt(b.ts[i]!);
  const children: Data[] = [vectorFromArray(new Array<string>(n).fill(key), new Utf8()).data[0]!, makeData({ type: new Timestamp(TimeUnit.MILLISECOND, 'UTC'), length: n, nullCount: 0, data: new Int32Array(ts64.buffer) })];
  for (const v of b.values) {
    let nulls = 0;
    for (let i = 0; i < n; i++) if (v[i] !== v[i]) nulls++;
    let bitmap: Uint8Array | undefined;
    if (nulls > 0) {
      bitmap = new Uint8Array((n + 7) >> 3);
      for (let i = 0; i < n; i++) if (v[i] === v[i]) bitmap[i >> 3]! |= 1 << (i & 7);
    }
    children.push(makeData({ type: new Float64(), length: n, nullCount: nulls, data: v, ...(bitmap ? { nullBitmap: bitmap } : {}) }));
  }
  return new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: n, nullCount: 0, children }));
}
