/**
 * Test harness: a small fault-injecting HTTP proxy (node:http) in front of a real server. Write
 * requests (/write, /api/v2/write) take the next fault from a script (default: pass through);
 * everything else passes. `faultable` chooses other requests instead (e.g. Prometheus' planning
 * calls /api/v1/series, /api/v1/metadata). Each write request is logged with its line count (gunzipped here, test
 * side only) and what the proxy did, so tests can assert the client's retry behaviour.
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { gunzipSync } from 'node:zlib';

export type Fault =
  | { kind: 'pass' }
  /** Answer with this status without forwarding. */
  | { kind: 'status'; status: number; retryAfter?: string; body?: string; contentType?: string }
  /** Forward, then send only the first `keep` bytes of the server's body (negative: all but the last -keep), with a matching Content-Length (a proxy that cuts bodies). */
  | { kind: 'truncate'; keep: number }
  /** Read the request, then destroy the socket (ECONNRESET / "other side closed" on the client). */
  | { kind: 'reset' }
  /** Forward after `ms` (a slow server; past the client's timeout it becomes a timeout). */
  | { kind: 'delay'; ms: number }
  /** Answer 204 (accepted) without forwarding: the write is lost silently, as behind a broken proxy. */
  | { kind: 'ack-drop' }
  /** Read the request and never answer nor forward (a blackhole); the client's timeout or abort ends it, close() destroys it. */
  | { kind: 'hang' }
  /** Forward the body (gunzipped) as `fn` rewrites it: a proxy that corrupts data. */
  | { kind: 'rewrite'; fn: (lineProtocol: string) => string };

export interface LoggedRequest {
  path: string;
  lines: number;
  bytes: number;
  fault: Fault['kind'];
  /** Status returned to the client (0 for reset / client gone). */
  status: number;
  at: number;
}

export interface FaultProxy {
  url: string;
  port: number;
  log: LoggedRequest[];
  /** Queue faults for the next write requests, in order. */
  script(...faults: Fault[]): void;
  /** Persistent rule checked when the script is empty (e.g. 413 above N lines); null = pass. */
  rule: ((req: { lines: number; bytes: number }) => Fault | null) | null;
  /** Refuse connections (listener closed, sockets destroyed) for `ms`, then listen again on the same port. */
  outage(ms: number): Promise<void>;
  close(): Promise<void>;
}

function isWrite(path: string): boolean {
  return path.startsWith('/write') || path.startsWith('/api/v2/write');
}

function countLines(body: Buffer, gz: boolean): number {
  const raw = gz ? gunzipSync(body) : body;
  let n = 0;
  let start = 0;
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === 10) {
      if (i > start && raw[start] !== 0x23) n++; // skip empty and '#' comment lines
      start = i + 1;
    }
  }
  if (start < raw.length && raw[start] !== 0x23) n++;
  return n;
}

export interface FaultProxyOptions {
  /** Which requests take faults (default: InfluxDB writes). */
  faultable?: (path: string) => boolean;
}

export async function startFaultProxy(target: string, options: FaultProxyOptions = {}): Promise<FaultProxy> {
  const faultable = options.faultable ?? isWrite;
  const t = new URL(target);
  const queue: Fault[] = [];
  const sockets = new Set<Socket>();
  const log: LoggedRequest[] = [];
  let server: Server;
  let port = 0;

  const forward = (req: IncomingMessage, body: Buffer, res: ServerResponse, entry: LoggedRequest, keep?: number): void => {
    const up = httpRequest(
      { host: t.hostname, port: t.port, method: req.method, path: req.url, headers: { ...req.headers, host: t.host } },
      (ur) => {
        entry.status = ur.statusCode ?? 0;
        if (res.destroyed) {
          // the client gave up (timeout); the server still got the write, as with a real slow server
          entry.status = 0;
          ur.resume();
          return;
        }
        if (keep !== undefined) {
          const parts: Buffer[] = [];
          ur.on('data', (c: Buffer) => parts.push(c));
          ur.on('end', () => {
            const cut = Buffer.concat(parts).subarray(0, keep);
            const headers = { ...ur.headers, 'content-length': String(cut.length) };
            delete headers['transfer-encoding'];
            delete headers['content-encoding'];
            res.writeHead(ur.statusCode ?? 502, headers);
            res.end(cut);
          });
          return;
        }
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
      },
    );
    up.on('error', (err) => {
      if (res.destroyed) return;
      if (!res.headersSent) {
        res.writeHead(502);
        res.end(String(err));
      } else res.destroy();
    });
    up.end(body);
  };

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const path = req.url ?? '/';
      if (!faultable(path)) {
        forward(req, body, res, { path, lines: 0, bytes: 0, fault: 'pass', status: 0, at: Date.now() });
        return;
      }
      const lines = countLines(body, req.headers['content-encoding'] === 'gzip');
      const fault: Fault = queue.shift() ?? proxy.rule?.({ lines, bytes: body.length }) ?? { kind: 'pass' };
      const entry: LoggedRequest = { path, lines, bytes: body.length, fault: fault.kind, status: 0, at: Date.now() };
      log.push(entry);
      switch (fault.kind) {
        case 'pass':
          forward(req, body, res, entry);
          break;
        case 'status': {
          entry.status = fault.status;
          const headers: Record<string, string> = { 'content-type': fault.contentType ?? 'application/json' };
          if (fault.retryAfter !== undefined) headers['retry-after'] = fault.retryAfter;
          res.writeHead(fault.status, headers);
          res.end(fault.body ?? JSON.stringify({ error: `injected ${fault.status}` }));
          break;
        }
        case 'reset':
          req.socket.destroy();
          break;
        case 'truncate':
          // ask for an uncompressed body, so the cut is in the bytes the client parses
          delete req.headers['accept-encoding'];
          forward(req, body, res, entry, fault.keep);
          break;
        case 'delay':
          setTimeout(() => forward(req, body, res, entry), fault.ms);
          break;
        case 'rewrite': {
          const raw = req.headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body;
          const out = Buffer.from(fault.fn(raw.toString('utf8')), 'utf8');
          delete req.headers['content-encoding'];
          req.headers['content-length'] = String(out.length);
          forward(req, out, res, entry);
          break;
        }
        case 'hang':
          break;
        case 'ack-drop':
          entry.status = 204;
          res.writeHead(204);
          res.end();
          break;
      }
    });
  };

  const listen = (p: number): Promise<void> =>
    new Promise((resolve, reject) => {
      server = createServer(handler);
      server.keepAliveTimeout = 30_000;
      server.on('connection', (s: Socket) => {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
      });
      server.once('error', reject);
      server.listen(p, '127.0.0.1', () => {
        const a = server.address();
        port = typeof a === 'object' && a ? a.port : p;
        resolve();
      });
    });

  const shut = (): Promise<void> =>
    new Promise((resolve) => {
      server.close(() => resolve());
      for (const s of sockets) s.destroy();
      sockets.clear();
    });

  await listen(0);
  const proxy: FaultProxy = {
    get url() {
      return `http://127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    log,
    script: (...f) => void queue.push(...f),
    rule: null,
    async outage(ms) {
      await shut();
      await new Promise((r) => setTimeout(r, ms));
      // the port was just ours; retry briefly in case the kernel holds it
      for (let i = 0; ; i++) {
        try {
          await listen(port);
          return;
        } catch (err) {
          if (i > 50) throw err;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    },
    close: shut,
  };
  return proxy;
}
