/**
 * Test harness: a TLS-terminating reverse proxy (node:https) with a throwaway self-signed
 * certificate for 127.0.0.1, in front of a real plain-HTTP server (Prometheus, InfluxDB). Used to
 * prove TLS verification is on by default and that a configured CA makes it pass. The certificate
 * comes from `openssl` (Debian's package is installed when missing).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureDebianPackage } from './influxdb.js';

export interface TlsProxy {
  /** https://127.0.0.1:<port> */
  url: string;
  /** Path of the self-signed certificate (PEM), usable as a CA. */
  caFile: string;
  /** Requests that reached the proxy (after a successful handshake). */
  requests: number;
  close(): Promise<void>;
}

export async function startTlsProxy(target: string): Promise<TlsProxy> {
  const openssl = ensureDebianPackage('openssl', 'openssl');
  const dir = mkdtempSync(join(tmpdir(), 'promflux-tls-'));
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  execFileSync(openssl, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], {
    stdio: 'ignore',
  });
  const up = new URL(target);
  const state = { requests: 0 };
  const server: Server = createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (req, res) => {
    state.requests++;
    const fwd = httpRequest({ host: up.hostname, port: up.port, method: req.method, path: req.url, headers: { ...req.headers, host: up.host } }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    fwd.on('error', (err) => {
      res.writeHead(502);
      res.end(err.message);
    });
    req.pipe(fwd);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  return {
    url: `https://127.0.0.1:${port}`,
    caFile: cert,
    get requests() {
      return state.requests;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          rmSync(dir, { recursive: true, force: true });
          resolve();
        });
      }),
  };
}
