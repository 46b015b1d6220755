/**
 * Runs the engine end to end in a child process (`promflux run … --summary-json`), one process per
 * measured run, so peak RSS is that run's alone and no JIT or heap state leaks between runs.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { cliPath, repoRoot } from './paths.js';

export interface EngineRunSpec {
  series: number;
  samplesPerSeries: number;
  seed?: number;
  nanRate?: number;
  workers: number;
  batchSize: number | 'auto';
  memoryBudgetMb?: number;
  /** Transform list (default: validate + rolling mean/std over 5/15/60). */
  transform?: Record<string, unknown>[];
  /** Synthetic source: interval between samples (default 15 s). */
  stepMs?: number;
  /** Another source instead of the synthetic one (series/samplesPerSeries/seed/nanRate then unused). */
  source?: Record<string, unknown>;
  timeoutMs?: number;
  /** Run this config file instead of the generated synthetic one (series/samplesPerSeries/transform then unused). */
  configFile?: string;
  /** `--sink` value (default `null`). */
  sink?: string;
}

/** The `--summary-json` document the CLI writes (keys per the engine's contract). */
export interface EngineSummary {
  samplesIn: number;
  linesOut: number;
  dropped: number | Record<string, number>;
  batches: number;
  batchSize: { min: number; median: number; max: number };
  wallMs: number;
  samplesPerSec: number;
  workers: number;
  peakRssBytes: number;
  /** Issue #18 cost figures (src/pool/thread-cpu.ts); absent from older engines. */
  mainThread?: { cpuMs: number; perBatchUs: number | null; perSampleNs: number | null; fixedCpuMs: number; elu: number };
  workerThreads?: Array<{ threadId: number; tasks: number; taskCpuMs: number; threadCpuMs: number; busy: number }>;
  startup?: { processToRunMs: number; processToFirstBatchMs: number | null; runToFirstBatchMs: number | null; lastBatchToEndMs: number | null };
}

export interface EngineRun extends EngineSummary {
  /** Peak RSS seen from outside: the child's VmHWM, polled every 20 ms (0 when not on Linux). */
  polledPeakRssBytes: number;
  /**
   * The peak RSS the scenarios report: VmHWM when available, else the summary's peakRssBytes.
   * Not the summary first: Linux carries ru_maxrss across exec, so a child spawned by a large
   * parent (this harness, after a data-heavy scenario) reports the parent's RSS as its own peak.
   * VmHWM belongs to the new address space and is not inherited.
   */
  rssBytes: number;
}

export const DEFAULT_TRANSFORM: Record<string, unknown>[] = [
  { kind: 'validate' },
  { kind: 'rolling', windows: [5, 15, 60], stats: ['mean', 'std'] },
];

export class EngineUnavailableError extends Error {
  readonly code = 'PROMFLUX_BENCH_NO_ENGINE';
}

export function assertEngineBuilt(): void {
  if (!existsSync(cliPath())) {
    throw new EngineUnavailableError(`engine CLI not built: ${cliPath()} is missing; run \`npm run build\` first`);
  }
}

export function engineConfig(spec: EngineRunSpec): string {
  return stringify({
    pipelines: [
      {
        name: 'bench',
        source: spec.source ?? {
          kind: 'synthetic',
          series: spec.series,
          samplesPerSeries: spec.samplesPerSeries,
          stepMs: spec.stepMs ?? 15000,
          seed: spec.seed ?? 42,
          nanRate: spec.nanRate ?? 0.001,
        },
        transform: spec.transform ?? DEFAULT_TRANSFORM,
        sink: { kind: 'null' },
        engine: {
          workers: spec.workers,
          batchSize: spec.batchSize,
          ...(spec.memoryBudgetMb !== undefined ? { memoryBudgetMb: spec.memoryBudgetMb } : {}),
        },
      },
    ],
  });
}

function vmHwmBytes(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0; // exited between polls, or not Linux
  }
}

/** One engine run in a fresh process. Rejects with the CLI's stderr tail when it fails. */
export async function runEngine(spec: EngineRunSpec): Promise<EngineRun> {
  assertEngineBuilt();
  const dir = mkdtempSync(join(tmpdir(), 'promflux-bench-'));
  try {
    const config = join(dir, 'bench.yaml');
    const summaryFile = join(dir, 'summary.json');
    writeFileSync(config, engineConfig(spec));
    const args = [
      cliPath(), 'run', '--config', spec.configFile ?? config,
      '--workers', String(spec.workers),
      '--batch-size', String(spec.batchSize),
      '--sink', spec.sink ?? 'null',
      '--summary-json', summaryFile,
    ];
    const child = spawn(process.execPath, args, { cwd: repoRoot(), stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => {
      stderr = (stderr + s).slice(-4000);
    });
    let polled = 0;
    const pid = child.pid;
    // VmHWM is the kernel's own high-water mark, so polling only has to catch the last value
    const timer = setInterval(() => {
      if (pid !== undefined) polled = Math.max(polled, vmHwmBytes(pid));
    }, 20);
    const timeoutMs = spec.timeoutMs ?? 600_000;
    const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const code = await new Promise<number | null>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (c, sig) => resolve(sig ? -1 : c));
    }).finally(() => {
      clearInterval(timer);
      clearTimeout(killer);
    });
    if (code !== 0) {
      throw new Error(`engine run failed (exit ${code}) for ${JSON.stringify({ ...spec, transform: undefined })}: ${stderr.trim().split('\n').slice(-6).join(' | ')}`);
    }
    const summary = JSON.parse(await readFile(summaryFile, 'utf8')) as EngineSummary;
    const rss = polled > 0 ? polled : summary.peakRssBytes;
    return { ...summary, polledPeakRssBytes: polled, rssBytes: rss };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One line describing a finished run, for progress logs. */
export function describeRun(what: string, r: EngineRun): string {
  return `${what}: ${(r.samplesPerSec / 1e3).toFixed(0)}k samples/s, peak RSS ${(r.rssBytes / 2 ** 20).toFixed(0)} MiB, batch median ${r.batchSize.median}, ${r.wallMs} ms`;
}

/** runEngine + one progress line. */
export async function runLogged(what: string, spec: EngineRunSpec, log?: (line: string) => void): Promise<EngineRun> {
  const r = await runEngine(spec);
  log?.(describeRun(what, r));
  return r;
}
