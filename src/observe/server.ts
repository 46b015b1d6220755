/**
 * Self-observability endpoint: /metrics (Prometheus text format), /healthz, /readyz, and the routes
 * mounted on it (feature serving). Bound to 127.0.0.1 by default; exposing it elsewhere is an
 * explicit choice (`metrics.listen`), with `metrics.tls` (HTTPS) and `metrics.auth` (bearer token or
 * basic auth on everything but the /healthz and /readyz probes).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { ConfigError } from '../errors.js';

/** `metrics.auth` / `metrics.tls` (src/config/schema.ts). */
export interface ServerSecurity {
  auth?: { bearer: string } | { basic: { username: string; password: string } };
  /** PEM text or file paths. */
  tls?: { cert: string; key: string };
}

const pem = (v: string, key: string): string => {
  if (v.includes('-----BEGIN')) return v;
  try {
    return readFileSync(v, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read ${key} ${JSON.stringify(v)}: ${(err as Error).message}; give a PEM file path or the PEM text`, { key });
  }
};

/** Constant-time comparison of the whole Authorization header with the expected one (hashed: equal lengths). */
function authorizer(auth: ServerSecurity['auth']): ((req: IncomingMessage) => boolean) | undefined {
  if (!auth) return undefined;
  const want = 'bearer' in auth ? `Bearer ${auth.bearer}` : `Basic ${Buffer.from(`${auth.basic.username}:${auth.basic.password}`).toString('base64')}`;
  const digest = (s: string) => createHash('sha256').update(s).digest();
  const wanted = digest(want);
  return (req) => timingSafeEqual(digest(req.headers.authorization ?? ''), wanted);
}

export interface MetricsServer {
  readonly url: string;
  /** Mark the service ready (after sources opened) or not (draining). */
  setReady(ready: boolean): void;
  close(): Promise<void>;
}

export function parseListen(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(':');
  if (i < 0) return { host: '127.0.0.1', port: Number(listen) };
  const host = listen.slice(0, i).replace(/^\[|\]$/g, '') || '127.0.0.1';
  return { host, port: Number(listen.slice(i + 1)) };
}

/**
 * `stalls`: pipelines stalled right now (name → reason); any makes /readyz answer 503 with them, so a
 * load balancer or an operator sees a stuck pipeline (src/observe/stall.ts).
 */
export async function startMetricsServer(
  registry: Registry,
  listen = '127.0.0.1:9464',
  health: () => { ok: boolean; detail?: unknown } = () => ({ ok: true }),
  stalls: () => Record<string, string> = () => ({}),
  /** More routes on the same server (feature serving, src/access/serve.ts): true = handled. */
  routes?: (req: IncomingMessage, res: ServerResponse) => boolean,
  security: ServerSecurity = {},
): Promise<MetricsServer> {
  const { host, port } = parseListen(listen);
  let ready = false;
  const authorized = authorizer(security.auth);
  const challenge = security.auth && 'basic' in security.auth ? 'Basic realm="promflux"' : 'Bearer realm="promflux"';
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0];
    // Probes stay open (they reveal only up/ready); everything else needs the credentials.
    if (authorized && path !== '/healthz' && path !== '/readyz' && !authorized(req)) {
      res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': challenge });
      res.end(JSON.stringify({ error: `${path}: missing or wrong credentials (metrics.auth): send "Authorization: ${challenge.split(' ')[0]} …"` }));
      return;
    }
    if (routes?.(req, res)) return;
    if (path === '/metrics') {
      registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': registry.contentType });
          res.end(text);
        },
        (err: Error) => {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(err.message);
        },
      );
      return;
    }
    if (path === '/healthz') {
      const h = health();
      res.writeHead(h.ok ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: h.ok ? 'ok' : 'unhealthy', ...(h.detail !== undefined ? { detail: h.detail } : {}) }));
      return;
    }
    if (path === '/readyz') {
      const stalled = ready ? stalls() : {};
      const ok = ready && Object.keys(stalled).length === 0;
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: ok ? 'ready' : ready ? 'stalled' : 'not ready', ...(ok || !ready ? {} : { stalled }) }));
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found: try /metrics, /healthz, /readyz\n');
  };
  const server: Server | HttpsServer = security.tls ? createHttpsServer({ cert: pem(security.tls.cert, 'metrics.tls.cert'), key: pem(security.tls.key, 'metrics.tls.key') }, handler) : createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  return {
    url: `${security.tls ? 'https' : 'http'}://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`,
    setReady: (r) => {
      ready = r;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
