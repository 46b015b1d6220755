/**
 * Feature serving for `promflux serve` (docs/ACCESS.md "Online serving"), mounted on the metrics
 * server (same listen address, same loopback default):
 *   GET /v1/features/latest?measurement=M[&pipeline=P][&fields=a,b][&lookback=1h][&tag.K=V…]
 *       → the newest feature vector of every matching series (JSON): one row per series, read with
 *         `ORDER BY time DESC LIMIT 1` from the InfluxDB the pipeline writes into.
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

export function featureRoutes(pipelines: readonly PipelineConfig[]): RouteHandler {
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

  const latest = async (q: URLSearchParams, res: ServerResponse): Promise<void> => {
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
    res.end(JSON.stringify({ measurement: m, series }));
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
