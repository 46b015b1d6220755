/**
 * Test harness: a throwaway VictoriaMetrics (Debian's `victoria-metrics`) on a free loopback port,
 * storage in a temp dir. Used to check the v2 write path (/api/v2/write) through /api/v1/export.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureDebianPackage, freePort, waitFor } from './influxdb.js';

export interface ExportedSeries {
  metric: Record<string, string>;
  values: number[];
  timestamps: number[];
}

export interface Victoria {
  url: string;
  /** Flush in-memory data, then export every series matching `match` (a series selector). */
  export(match?: string): Promise<ExportedSeries[]>;
  stop(): Promise<void>;
}

export async function startVictoria(): Promise<Victoria> {
  const bin = ensureDebianPackage('victoria-metrics', 'victoria-metrics');
  const dir = await mkdtemp(join(tmpdir(), 'promflux-vm-'));
  const port = await freePort();
  const logPath = join(dir, 'vm.log');
  const fd = openSync(logPath, 'a');
  const proc = spawn(
    bin,
    [`-storageDataPath=${join(dir, 'data')}`, `-httpListenAddr=127.0.0.1:${port}`, '-loggerLevel=ERROR', '-retentionPeriod=100y'],
    { stdio: ['ignore', fd, fd] },
  );
  closeSync(fd);
  const onExit = (): void => void proc.kill('SIGKILL');
  process.once('exit', onExit);
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor(async () => (await fetch(`${url}/health`)).ok, 30_000, `victoria-metrics on ${url}`, proc);
  } catch (err) {
    proc.kill('SIGKILL');
    process.removeListener('exit', onExit);
    const log = await readFile(logPath, 'utf8').catch(() => '');
    await rm(dir, { recursive: true, force: true });
    throw new Error(`${(err as Error).message}\n--- victoria-metrics log ---\n${log.slice(-4000)}`);
  }
  return {
    url,
    async export(match = '{__name__!=""}') {
      await fetch(`${url}/internal/force_flush`);
      const res = await fetch(`${url}/api/v1/export?${new URLSearchParams({ 'match[]': match })}`);
      if (!res.ok) throw new Error(`victoria-metrics export ${res.status}: ${await res.text()}`);
      const text = await res.text();
      return text
        .split('\n')
        .filter((l) => l.trim())
        .map((l) => JSON.parse(l) as ExportedSeries);
    },
    async stop() {
      process.removeListener('exit', onExit);
      if (proc.exitCode === null) {
        const exited = new Promise<void>((r) => proc.once('exit', () => r()));
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
