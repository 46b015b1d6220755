/**
 * Read-back from InfluxDB over InfluxQL `/query?chunked=true&epoch=ms`, streamed through the
 * typed-array decoder (decode.ts). Works against InfluxDB 1.x and the v1-compatible `/query` of
 * 2.x/3.x (`version: 2`: token auth, `db`/`rp` resolved by the server's DBRP mapping; see
 * docs/ACCESS.md).
 */
import { readFileSync, existsSync } from 'node:fs';
import { Agent, request } from 'undici';
import { applyKeyPolicy } from '../encode/escape.js';
import { PromfluxError } from '../errors.js';
import { decodeChunkedStream, type SeriesBlock } from './decode.js';

export interface InfluxReadConfig {
  url: string;
  /** 1 = InfluxDB 1.x; 2 = the v1-compatible /query of 2.x/3.x (token auth, DBRP mapping). */
  version?: 1 | 2;
  db: string;
  rp?: string;
  token?: string;
  username?: string;
  password?: string;
  /** Rows per chunk InfluxDB sends (default 10000). */
  chunkSize?: number;
  timeoutMs?: number;
  tls?: { rejectUnauthorized?: boolean; ca?: string };
  headers?: Record<string, string>;
}

/** A selection: one measurement, its fields, a time range, tag filters, optional GROUP BY time(). */
export interface ReadSpec {
  measurement: string;
  /** Field names (default: `*`, every field). */
  fields?: string[];
  /** Epoch ms, inclusive. */
  start: number;
  /** Epoch ms, exclusive. */
  end: number;
  /** tag = value (exact) or tag = one of values: the original label values (escaped here as the sink's default key policy writes them). */
  where?: Record<string, string | string[]>;
  /** Aggregation by time: every field becomes `fn(field)` over `every` buckets, per series. */
  groupBy?: { every: string; fn: 'mean' | 'min' | 'max' | 'sum' | 'count' | 'last' | 'first' | 'median' };
}

export function quoteIdent(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

export function quoteString(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** The InfluxQL statement for a spec (deterministic: tags and values sorted; the cache key uses it). */
export function buildInfluxQL(spec: ReadSpec): string {
  if (!(spec.end > spec.start)) throw new PromfluxError('PROMFLUX_ACCESS_RANGE', `read-back of ${spec.measurement}: end (${spec.end}) must be after start (${spec.start})`);
  const fields = spec.fields?.length ? [...spec.fields] : ['*'];
  const sel = fields
    .map((f) => {
      const col = f === '*' ? '*' : quoteIdent(f);
      return spec.groupBy ? `${spec.groupBy.fn}(${col})${f === '*' ? '' : ` AS ${quoteIdent(f)}`}` : col;
    })
    .join(', ');
  const conds = [`time >= ${Math.floor(spec.start)}ms`, `time < ${Math.floor(spec.end)}ms`];
  for (const k of Object.keys(spec.where ?? {}).sort()) {
    const v = spec.where![k]!;
    const vals = (Array.isArray(v) ? [...v] : [v]).sort();
    const key = quoteIdent(applyKeyPolicy(k, 'tagKey', 'escape') ?? k);
    const enc = vals.map((x) => quoteString(applyKeyPolicy(x, 'tagValue', 'escape') ?? x));
    conds.push(enc.length === 1 ? `${key} = ${enc[0]!}` : `(${enc.map((x) => `${key} = ${x}`).join(' OR ')})`);
  }
  const group = spec.groupBy ? `GROUP BY time(${spec.groupBy.every}), *` : 'GROUP BY *';
  return `SELECT ${sel} FROM ${quoteIdent(applyKeyPolicy(spec.measurement, 'measurement', 'escape') ?? spec.measurement)} WHERE ${conds.join(' AND ')} ${group}`;
}

function authHeaders(cfg: InfluxReadConfig): Record<string, string> {
  const h: Record<string, string> = { ...(cfg.headers ?? {}) };
  if (cfg.token) h.authorization = `Token ${cfg.token}`;
  else if (cfg.username !== undefined) h.authorization = `Basic ${Buffer.from(`${cfg.username}:${cfg.password ?? ''}`).toString('base64')}`;
  return h;
}

/**
 * Run one InfluxQL query and yield its decoded blocks chunk by chunk. The HTTP body is consumed
 * as it is decoded, so a slow consumer slows the transfer (backpressure through TCP).
 */
export async function* queryInflux(cfg: InfluxReadConfig, q: string, signal?: AbortSignal): AsyncGenerator<SeriesBlock[]> {
  const u = new URL(cfg.url);
  const prefix = u.pathname.replace(/\/+$/, '');
  const params = new URLSearchParams({ db: cfg.db, q, epoch: 'ms', chunked: 'true', chunk_size: String(cfg.chunkSize ?? 10_000) });
  if (cfg.rp) params.set('rp', cfg.rp);
  let ca: string | undefined;
  if (cfg.tls?.ca) ca = cfg.tls.ca.includes('-----BEGIN') || !existsSync(cfg.tls.ca) ? cfg.tls.ca : readFileSync(cfg.tls.ca, 'utf8');
  const dispatcher = new Agent({
    headersTimeout: cfg.timeoutMs ?? 60_000,
    bodyTimeout: cfg.timeoutMs ?? 60_000,
    ...(u.protocol === 'https:' ? { connect: { rejectUnauthorized: cfg.tls?.rejectUnauthorized ?? true, ...(ca ? { ca } : {}) } } : {}),
  });
  try {
    let res: Awaited<ReturnType<typeof request>>;
    try {
      res = await request(`${u.origin}${prefix}/query`, {
        method: 'POST',
        headers: { ...authHeaders(cfg), 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: params.toString(),
        dispatcher,
        ...(signal ? { signal } : {}),
      });
    } catch (err) {
      throw new PromfluxError('PROMFLUX_ACCESS_UNREACHABLE', `InfluxDB ${u.origin}: ${(err as Error).message}; check that the server is up and the URL is right`, { cause: err });
    }
    if (res.statusCode === 401 || res.statusCode === 403) {
      await res.body.dump();
      throw new PromfluxError('PROMFLUX_ACCESS_AUTH', `InfluxDB ${u.origin} refused the credentials (${res.statusCode}) for /query on db ${cfg.db}; check token or username/password (and, on 2.x, that a DBRP mapping exists for ${cfg.db})`);
    }
    if (res.statusCode >= 300) {
      const text = (await res.body.text()).slice(0, 500);
      throw new PromfluxError('PROMFLUX_ACCESS_QUERY', `InfluxDB /query answered ${res.statusCode}: ${text}`);
    }
    yield* decodeChunkedStream(res.body);
  } finally {
    await dispatcher.close().catch(() => undefined);
  }
}

/** Read a spec: its InfluxQL through queryInflux. */
export function readInflux(cfg: InfluxReadConfig, spec: ReadSpec, signal?: AbortSignal): AsyncGenerator<SeriesBlock[]> {
  return queryInflux(cfg, buildInfluxQL(spec), signal);
}

/** A BlockReader over InfluxDB (for trainingSet). */
export function influxReader(cfg: InfluxReadConfig, signal?: AbortSignal): (spec: ReadSpec) => AsyncIterable<SeriesBlock[]> {
  return (spec) => readInflux(cfg, spec, signal);
}
