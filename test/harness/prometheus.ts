/**
 * Test harness for a real Prometheus: installs Debian's package when missing, writes deterministic
 * historical data with `promtool tsdb create-blocks-from openmetrics`, starts `prometheus` on a
 * free 127.0.0.1 port with that TSDB and a 100y retention, and stops it. Used by test/extract*.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

async function has(cmd: string): Promise<boolean> {
  try {
    await run('sh', ['-c', `command -v ${cmd}`]);
    return true;
  } catch {
    return false;
  }
}

/** Install the Debian `prometheus` package (prometheus + promtool) if either binary is missing. */
export async function ensurePrometheus(): Promise<void> {
  if ((await has('prometheus')) && (await has('promtool'))) return;
  const apt = (args: string[]) => run('apt-get', args, { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, maxBuffer: 64 << 20 });
  try {
    await apt(['install', '-y', '-o', 'DPkg::Lock::Timeout=600', 'prometheus']);
  } catch {
    await apt(['update']);
    await apt(['install', '-y', '-o', 'DPkg::Lock::Timeout=600', 'prometheus']);
  }
  // the package enables a systemd service on real machines; tests run their own instance
}

import { freePort } from './influxdb.js';

export { freePort };

// ---------------------------------------------------------------------------------------------
// Deterministic data set (fixed historical range so blocks are immutable and older than 2h).

/** 2023-11-14T21:00:00Z, aligned to the hour. */
export const T0 = 1_699_995_600_000;
export const HOURS = 6;
export const T_END = T0 + HOURS * 3_600_000;
export const SCRAPE_MS = 15_000;
export const IRREGULAR_MS = 10_000;

export interface SeriesData {
  name: string;
  labels: Record<string, string>;
  type: 'gauge' | 'counter';
  ts: number[];
  values: number[];
}

/** Every stored sample of the data set, in time order per series. */
export function dataset(): SeriesData[] {
  const out: SeriesData[] = [];
  const n = (T_END - T0) / SCRAPE_MS;
  ['a', 'b', 'c'].forEach((inst, s) => {
    const ts: number[] = [];
    const values: number[] = [];
    for (let i = 0; i < n; i++) {
      ts.push(T0 + i * SCRAPE_MS);
      values.push(((i * 7 + s * 13) % 1000) / 10);
    }
    out.push({ name: 'test_gauge', labels: { instance: inst, job: 'node' }, type: 'gauge', ts, values });
  });
  ['a', 'b'].forEach((inst, s) => {
    const ts: number[] = [];
    const values: number[] = [];
    let c = 0;
    for (let i = 0; i < n; i++) {
      c += (i % 5) + s + 1;
      ts.push(T0 + i * SCRAPE_MS);
      values.push(c);
    }
    out.push({ name: 'test_requests_total', labels: { instance: inst, job: 'app' }, type: 'counter', ts, values });
  });
  {
    // irregular ms timestamps, values needing the slow float path, NaN and ±Inf
    const ts: number[] = [];
    const values: number[] = [];
    const m = (T_END - T0) / IRREGULAR_MS;
    for (let k = 0; k < m; k++) {
      ts.push(T0 + k * IRREGULAR_MS + (k % 3) * 123);
      const r = k % 100;
      values.push(r === 50 ? NaN : r === 75 ? Infinity : r === 99 ? -Infinity : k / 7 + (k % 11) * 1e-9);
    }
    out.push({ name: 'test_irregular', labels: { instance: 'x' }, type: 'gauge', ts, values });
  }
  return out;
}

function omValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function omTs(ms: number): string {
  const s = Math.floor(ms / 1000);
  const f = ms % 1000;
  return f === 0 ? String(s) : `${s}.${String(f).padStart(3, '0')}`;
}

export function toOpenMetrics(data: readonly SeriesData[]): string {
  const lines: string[] = [];
  const families = new Map<string, SeriesData[]>();
  for (const s of data) {
    const fam = s.type === 'counter' ? s.name.replace(/_total$/, '') : s.name;
    if (!families.has(fam)) families.set(fam, []);
    families.get(fam)!.push(s);
  }
  for (const [fam, list] of families) {
    lines.push(`# TYPE ${fam} ${list[0]!.type}`);
    for (const s of list) {
      const lbl = Object.entries(s.labels)
        .map(([k, v]) => `${k}="${v}"`)
        .join(',');
      for (let i = 0; i < s.ts.length; i++) lines.push(`${s.name}{${lbl}} ${omValue(s.values[i]!)} ${omTs(s.ts[i]!)}`);
    }
  }
  lines.push('# EOF');
  return lines.join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------

export interface PromServer {
  url: string;
  port: number;
  dir: string;
  /** Stop the process (SIGTERM, then SIGKILL after 10 s). The data stays. */
  stop(): Promise<void>;
  /** Start again on the same port and TSDB (after stop). */
  start(): Promise<void>;
  /** Stop and delete the temp dir. */
  dispose(): Promise<void>;
}

/**
 * Create a temp dir, write the data set as OpenMetrics, convert it into TSDB blocks, and start
 * Prometheus on it. `withData: false` starts on an empty TSDB.
 */
export async function startPrometheus(opts: { withData?: boolean; adminApi?: boolean; selfScrape?: string; blocks?: string } = {}): Promise<PromServer> {
  await ensurePrometheus();
  const dir = mkdtempSync(join(tmpdir(), 'promflux-prom-'));
  const tsdb = join(dir, 'tsdb');
  // blocks: a TSDB directory made elsewhere (benchmarks), copied so the original stays untouched
  if (opts.blocks) cpSync(opts.blocks, tsdb, { recursive: true });
  else if (opts.withData !== false) {
    const om = join(dir, 'data.om');
    writeFileSync(om, toOpenMetrics(dataset()));
    await run('promtool', ['tsdb', 'create-blocks-from', 'openmetrics', om, tsdb], { maxBuffer: 64 << 20 });
  }
  const cfgFile = join(dir, 'prometheus.yml');
  const port = await freePort();
  // selfScrape: Prometheus scrapes its own /metrics (live samples in the head block)
  writeFileSync(
    cfgFile,
    opts.selfScrape
      ? `global:\n  scrape_interval: ${opts.selfScrape}\nscrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['127.0.0.1:${port}']\n`
      : 'global:\n  scrape_interval: 1h\nscrape_configs: []\n',
  );
  let child: ChildProcess | undefined;
  let stderr = '';

  const start = async () => {
    stderr = '';
    child = spawn(
      'prometheus',
      [
        `--config.file=${cfgFile}`,
        `--storage.tsdb.path=${tsdb}`,
        '--storage.tsdb.retention.time=100y',
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
        ...(opts.adminApi ? ['--web.enable-admin-api'] : []),
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    child.stderr!.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    const c = child;
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (c.exitCode !== null) throw new Error(`prometheus exited with ${c.exitCode}: ${stderr}`);
      try {
        const res = await fetch(`http://127.0.0.1:${port}/-/ready`);
        if (res.status === 200) return;
      } catch {
        /* not listening yet */
      }
      if (Date.now() > deadline) throw new Error(`prometheus not ready after 60 s: ${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  const stop = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(t);
  };

  await start();
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    dir,
    stop,
    start,
    dispose: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
