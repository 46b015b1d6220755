/**
 * Test harness: a throwaway InfluxDB 1.x (Debian's `influxd`, 1.6) on free loopback ports, with its
 * meta/data/WAL dirs in a temp dir. Installs the package when missing (CI runs on a fresh machine as
 * root). Each test file starts its own server and stops it in `after()`.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile, readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Make sure a Debian package providing `bin` is installed (apt-get, root). */
export function ensureDebianPackage(bin: string, pkg: string): string {
  const found = which(bin);
  if (found) return found;
  const apt = (args: string[]) =>
    execFileSync('apt-get', args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  try {
    apt(['install', '-y', '-o', 'DPkg::Lock::Timeout=600', pkg]);
  } catch {
    apt(['update']);
    apt(['install', '-y', '-o', 'DPkg::Lock::Timeout=600', pkg]);
  }
  const after = which(bin);
  if (!after) throw new Error(`installed Debian package ${pkg} but "${bin}" is still not on PATH`);
  return after;
}

function which(bin: string): string | null {
  try {
    return execFileSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

/** A free TCP port on 127.0.0.1 (bind to 0, read, release). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string, proc?: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc && proc.exitCode !== null) throw new Error(`${what}: process exited with code ${proc.exitCode}`);
    try {
      if (await check()) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what}: not ready after ${timeoutMs} ms`);
}

export interface InfluxdOptions {
  /** [http] max-body-size in bytes (after gunzip). Default 25 MB like influxd. */
  maxBodySize?: number;
  /** influxd log level (default warn); the log is influxd.log in `dir`. */
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
}

export interface Influxd {
  /** http://127.0.0.1:<port> */
  url: string;
  port: number;
  dir: string;
  /** InfluxQL via POST /query; returns the parsed JSON body (throws on HTTP or statement error). */
  query(q: string, db?: string): Promise<InfluxQueryResult>;
  /** Rows of the first series of the first statement, as objects keyed by column. */
  rows(q: string, db?: string): Promise<Record<string, unknown>[]>;
  stop(): Promise<void>;
  /** Stop the process (SIGTERM, SIGKILL after 5 s) but keep its data dir: an outage. */
  halt(): Promise<void>;
  /** Start again after halt(): same port, config and data. */
  start(): Promise<void>;
}

export interface InfluxQueryResult {
  results: Array<{
    statement_id?: number;
    error?: string;
    series?: Array<{ name: string; tags?: Record<string, string>; columns: string[]; values: unknown[][] }>;
  }>;
}

export async function startInfluxd(opts: InfluxdOptions = {}): Promise<Influxd> {
  const bin = ensureDebianPackage('influxd', 'influxdb');
  const dir = await mkdtemp(join(tmpdir(), 'promflux-influxd-'));
  const port = await freePort();
  const rpcPort = await freePort();
  const conf = `
reporting-disabled = true
bind-address = "127.0.0.1:${rpcPort}"
[meta]
  dir = "${join(dir, 'meta')}"
  logging-enabled = false
[data]
  dir = "${join(dir, 'data')}"
  wal-dir = "${join(dir, 'wal')}"
  query-log-enabled = false
  trace-logging-enabled = false
[monitor]
  store-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:${port}"
  auth-enabled = false
  log-enabled = false
  max-body-size = ${opts.maxBodySize ?? 25_000_000}
[ifql]
  enabled = false
[logging]
  level = "${opts.logLevel ?? 'warn'}"
[continuous_queries]
  enabled = false
[subscriber]
  enabled = false
`;
  const confPath = join(dir, 'influxdb.conf');
  await writeFile(confPath, conf);
  const logPath = join(dir, 'influxd.log');
  const { openSync, closeSync } = await import('node:fs');
  const logFd = openSync(logPath, 'a');
  let proc = spawn(bin, ['-config', confPath], { stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  // never leave a server behind if the test process exits without stop()
  const onExit = (): void => void proc.kill('SIGKILL');
  process.once('exit', onExit);
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor(async () => (await fetch(`${url}/ping`)).status === 204, 30_000, `influxd on ${url}`, proc);
  } catch (err) {
    proc.kill('SIGKILL');
    process.removeListener('exit', onExit);
    const log = await readFile(logPath, 'utf8').catch(() => '');
    await rm(dir, { recursive: true, force: true });
    throw new Error(`${(err as Error).message}\n--- influxd log ---\n${log.slice(-4000)}`);
  }

  const halt = async (): Promise<void> => {
    const p = proc;
    if (p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill('SIGTERM');
    const t = setTimeout(() => p.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  };

  const query = async (q: string, db?: string): Promise<InfluxQueryResult> => {
    const body = new URLSearchParams({ q, epoch: 'ms' });
    if (db) body.set('db', db);
    const res = await fetch(`${url}/query`, { method: 'POST', body });
    const text = await res.text();
    if (!res.ok) throw new Error(`influxd /query ${res.status}: ${text}`);
    const json = JSON.parse(text) as InfluxQueryResult;
    for (const r of json.results ?? []) if (r.error) throw new Error(`influxd query "${q}": ${r.error}`);
    return json;
  };

  return {
    url,
    port,
    dir,
    query,
    async rows(q, db) {
      const res = await query(q, db);
      const s = res.results[0]?.series?.[0];
      if (!s) return [];
      return s.values.map((v) => Object.fromEntries(s.columns.map((c, i) => [c, v[i]])));
    },
    async stop() {
      process.removeListener('exit', onExit);
      await halt();
      await rm(dir, { recursive: true, force: true });
    },
    halt,
    async start() {
      if (proc.exitCode === null && proc.signalCode === null) return;
      const fd = openSync(logPath, 'a');
      proc = spawn(bin, ['-config', confPath], { stdio: ['ignore', fd, fd] });
      closeSync(fd);
      await waitFor(async () => (await fetch(`${url}/ping`)).status === 204, 30_000, `influxd restart on ${url}`, proc);
    },
  };
}

/**
 * Reference line-protocol writer for tests (independent of src/encode): escapes per the spec —
 * measurement: comma, space; tag keys/values and field keys: comma, equals, space.
 */
export function lpLine(
  measurement: string,
  tags: Record<string, string>,
  fields: Record<string, number | { int: number }>,
  ts: number,
): string {
  const esc = (s: string, chars: RegExp) => s.replace(chars, '\\$&');
  let s = esc(measurement, /[, ]/g);
  for (const k of Object.keys(tags).sort()) s += ',' + esc(k, /[,= ]/g) + '=' + esc(tags[k]!, /[,= ]/g);
  s += ' ';
  s += Object.entries(fields)
    .map(([k, v]) => esc(k, /[,= ]/g) + '=' + (typeof v === 'number' ? String(v) : `${v.int}i`))
    .join(',');
  return `${s} ${ts}`;
}
