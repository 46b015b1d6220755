/**
 * Where and how to talk to the server: the write path for 1.x or the v2 API, auth headers, and
 * the undici Pool (keep-alive connections, one per in-flight request).
 */
import { readFileSync, existsSync } from 'node:fs';
import type { Pool } from 'undici';
import { lazyRequire } from '../../util/lazy.js';

const undici = lazyRequire<typeof import('undici')>('undici');
import type { InfluxSinkConfig } from './config.js';

/** 1.x reads `precision` as n/u/ms/s (anything else silently means ns); v2 wants ns/us/ms/s. */
const V1_PRECISION = { ns: 'n', us: 'u', ms: 'ms', s: 's' } as const;

export interface Endpoint {
  origin: string;
  /** Path prefix of the configured URL (e.g. behind a reverse proxy), no trailing slash. */
  prefix: string;
  writePath: string;
  headers: Record<string, string>;
}

export function endpointOf(cfg: InfluxSinkConfig): Endpoint {
  const u = new URL(cfg.url);
  const prefix = u.pathname.replace(/\/+$/, '');
  const q = new URLSearchParams();
  let path: string;
  if (cfg.version === 1) {
    q.set('db', cfg.db!);
    if (cfg.rp) q.set('rp', cfg.rp);
    q.set('precision', V1_PRECISION[cfg.precision]);
    path = `${prefix}/write?${q}`;
  } else {
    if (cfg.org) q.set('org', cfg.org);
    q.set('bucket', cfg.bucket!);
    q.set('precision', cfg.precision);
    path = `${prefix}/api/v2/write?${q}`;
  }
  return { origin: u.origin, prefix, writePath: path, headers: authHeaders(cfg) };
}

export function authHeaders(cfg: InfluxSinkConfig): Record<string, string> {
  const h: Record<string, string> = { ...(cfg.headers ?? {}) };
  if (cfg.token) h.authorization = `Token ${cfg.token}`;
  else if (cfg.username !== undefined) {
    h.authorization = `Basic ${Buffer.from(`${cfg.username}:${cfg.password ?? ''}`).toString('base64')}`;
  }
  return h;
}

export function createPool(cfg: InfluxSinkConfig, connections = cfg.concurrency): Pool {
  const u = new URL(cfg.url);
  let ca: string | undefined;
  if (cfg.tls?.ca) ca = cfg.tls.ca.includes('-----BEGIN') || !existsSync(cfg.tls.ca) ? cfg.tls.ca : readFileSync(cfg.tls.ca, 'utf8');
  return new (undici().Pool)(u.origin, {
    connections,
    pipelining: 1,
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 600_000,
    headersTimeout: cfg.timeoutMs,
    bodyTimeout: cfg.timeoutMs,
    connect: u.protocol === 'https:' ? { rejectUnauthorized: cfg.tls?.rejectUnauthorized ?? true, ca } : undefined,
  });
}
