/**
 * CPU time of one thread, read directly (issue #18: the main thread's cost is measured, not
 * inferred from a 2-core speedup). Node 20 has no `process.threadCpuUsage`, and
 * `process.cpuUsage()` sums every thread of the process (workers, GC helpers, libuv pool).
 *
 * Linux: `/proc/thread-self/schedstat` (first field: nanoseconds on CPU, scheduler-exact) for the
 * calling thread; `/proc/self/task/<pid>/schedstat` for the main thread from anywhere (its tid is
 * the pid). Fallback: `…/stat` utime+stime in clock ticks (USER_HZ is 100 on every Linux ABI Node
 * runs on, which is what `getconf CLK_TCK` prints). Elsewhere: process.cpuUsage(), marked
 * `source: 'process'` so a reader knows it includes the other threads.
 *
 * One read is a ~15 µs syscall: workers read twice per task, the main thread twice per run.
 */
import { readFileSync } from 'node:fs';
import type { WorkerThreadSample } from './task.js';

export type CpuSource = 'schedstat' | 'stat' | 'process';

export interface ThreadCpu {
  /** CPU nanoseconds this thread has used since it started. */
  ns: number;
  source: CpuSource;
}

const CLK_TCK = 100;

function fromSchedstat(path: string): number | undefined {
  try {
    const first = readFileSync(path, 'utf8').split(' ', 1)[0];
    const ns = Number(first);
    // Some kernels (no CONFIG_SCHED_INFO) expose the file with zeros: treat that as unavailable.
    return Number.isFinite(ns) && ns > 0 ? ns : undefined;
  } catch {
    return undefined;
  }
}

function fromStat(path: string): number | undefined {
  try {
    const s = readFileSync(path, 'utf8');
    // Field 2 (comm) may contain spaces and parentheses: count fields after the last ')'.
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // rest[0] is field 3 (state); utime and stime are fields 14 and 15.
    const ticks = Number(rest[11]) + Number(rest[12]);
    return Number.isFinite(ticks) ? (ticks * 1e9) / CLK_TCK : undefined;
  } catch {
    return undefined;
  }
}

function read(dir: string): ThreadCpu {
  const ns = fromSchedstat(`${dir}/schedstat`);
  if (ns !== undefined) return { ns, source: 'schedstat' };
  const st = fromStat(`${dir}/stat`);
  if (st !== undefined) return { ns: st, source: 'stat' };
  const u = process.cpuUsage();
  return { ns: (u.user + u.system) * 1000, source: 'process' };
}

/** CPU time of the calling thread (main or worker). */
export function threadCpu(): ThreadCpu {
  return read('/proc/thread-self');
}

/** CPU time of the process's main thread, from any thread. */
export function mainThreadCpu(): ThreadCpu {
  return read(`/proc/self/task/${process.pid}`);
}

/** Event-loop utilisation of the calling thread: cumulative active and idle ms since it started. */
export interface EluSample {
  activeMs: number;
  idleMs: number;
}

export function eluNow(): EluSample {
  const e = performance.eventLoopUtilization();
  return { activeMs: e.active, idleMs: e.idle };
}

/** Utilisation between two samples, in [0, 1] (0 when no time passed). */
export function eluBetween(a: EluSample, b: EluSample): number {
  const active = b.activeMs - a.activeMs;
  const total = active + (b.idleMs - a.idleMs);
  return total > 0 ? Math.min(1, Math.max(0, active / total)) : 0;
}

/** One worker thread's figures over a run (summary JSON `workerThreads[]`). */
export interface WorkerThreadSummary {
  threadId: number;
  /** Tasks (batch attempts) this thread ran for the run. */
  tasks: number;
  /** CPU ms inside those tasks. */
  taskCpuMs: number;
  /** CPU ms the thread used since it started (start-up and idle work included). */
  threadCpuMs: number;
  /** Wall ms inside those tasks. */
  taskWallMs: number;
  /** taskWallMs ÷ the run's wall time: the share of the run this worker was working, in [0, 1]. */
  busy: number;
  /**
   * Node's event-loop utilisation of the thread between its first and last task (since thread
   * start if only one). Under Piscina's default `atomics: 'sync'` an idle worker parks in
   * Atomics.wait inside a callback, which Node counts as busy: read `busy` for idleness.
   */
  elu: number;
  cpuSource: CpuSource;
}

/** Collects the per-task samples workers attach to their results, per thread. */
export class WorkerThreadStats {
  private readonly byThread = new Map<number, { tasks: number; taskCpuNs: number; taskWallMs: number; first: WorkerThreadSample; last: WorkerThreadSample }>();

  /** One task's sample and its wall time (ProcessResult.timings.totalMs). */
  observe(s: WorkerThreadSample | undefined, taskWallMs: number): void {
    if (!s) return;
    const t = this.byThread.get(s.threadId);
    if (!t) this.byThread.set(s.threadId, { tasks: 1, taskCpuNs: s.taskCpuNs, taskWallMs, first: s, last: s });
    else {
      t.tasks++;
      t.taskCpuNs += s.taskCpuNs;
      t.taskWallMs += taskWallMs;
      t.last = s;
    }
  }

  summary(runWallMs: number): WorkerThreadSummary[] {
    const out: WorkerThreadSummary[] = [];
    for (const [threadId, t] of [...this.byThread].sort((a, b) => a[0] - b[0])) {
      const from = t.tasks > 1 ? { activeMs: t.first.eluActiveMs, idleMs: t.first.eluIdleMs } : { activeMs: 0, idleMs: 0 };
      out.push({
        threadId,
        tasks: t.tasks,
        taskCpuMs: round3(t.taskCpuNs / 1e6),
        threadCpuMs: round3(t.last.threadCpuNs / 1e6),
        taskWallMs: round3(t.taskWallMs),
        busy: runWallMs > 0 ? round3(Math.min(1, t.taskWallMs / runWallMs)) : 0,
        elu: round3(eluBetween(from, { activeMs: t.last.eluActiveMs, idleMs: t.last.eluIdleMs })),
        cpuSource: t.last.cpuSource,
      });
    }
    return out;
  }
}

/** The thread running a pipeline (the main thread under the CLI): its cost over one run. */
export interface MainThreadSummary {
  /** CPU ms the thread used during the whole run (start-up, planning, dispatch, sink I/O, close). */
  cpuMs: number;
  /**
   * CPU µs per batch in steady state: between the first batch accepted and the end of dispatch,
   * over the batches after the first (null: fewer than two batches). Start-up and close are in
   * `fixedCpuMs`, so this is the marginal cost a longer run adds per batch.
   */
  perBatchUs: number | null;
  /** The same per sample, ns. */
  perSampleNs: number | null;
  /** cpuMs minus the steady-state part: start-up (worker spawn, source/sink open, first batch) and close. */
  fixedCpuMs: number;
  /** Event-loop utilisation over the run, in [0, 1]. */
  elu: number;
  cpuSource: CpuSource;
}

export class MainThreadMeter {
  private readonly cpu0 = threadCpu().ns;
  private readonly elu0 = eluNow();
  private first: { ns: number; batches: number; samples: number } | undefined;
  private last: { ns: number; batches: number; samples: number } | undefined;

  /** The first batch was accepted (totals include it). */
  markFirstBatch(batches: number, samples: number): void {
    this.first ??= { ns: threadCpu().ns, batches, samples };
  }

  /** Dispatch finished (every batch accepted or failed). */
  markDispatchEnd(batches: number, samples: number): void {
    this.last = { ns: threadCpu().ns, batches, samples };
  }

  summary(): MainThreadSummary {
    const cpu = threadCpu();
    const ns = Math.max(0, cpu.ns - this.cpu0);
    const f = this.first;
    const l = this.last;
    const steadyNs = f && l ? Math.max(0, l.ns - f.ns) : 0;
    const nb = f && l ? l.batches - f.batches : 0;
    const ns2 = f && l ? l.samples - f.samples : 0;
    return {
      cpuMs: round3(ns / 1e6),
      perBatchUs: nb > 0 ? round3(steadyNs / 1e3 / nb) : null,
      perSampleNs: ns2 > 0 ? round3(steadyNs / ns2) : null,
      fixedCpuMs: round3((ns - steadyNs) / 1e6),
      elu: round3(eluBetween(this.elu0, eluNow())),
      cpuSource: cpu.source,
    };
  }
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
