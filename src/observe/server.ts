/**
 * Self-observability endpoint: /metrics (Prometheus text format), /healthz, /readyz.
 * Bound to 127.0.0.1 by default; exposing it elsewhere is an explicit choice (`metrics.listen`).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

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
): Promise<MetricsServer> {
  const { host, port } = parseListen(listen);
  let ready = false;
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
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
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  return {
    url: `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`,
    setReady: (r) => {
      ready = r;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
