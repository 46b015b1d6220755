/**
 * A worker pool started before anything else of the process (issue #18, start-up): the CLI entry
 * (src/cli/main.ts) starts it for `promflux run` before it loads the program (config schema,
 * sources, sinks, ~1 s of module loading under load), so the workers boot and load their kernel
 * and encoder modules while the main thread loads its own. The run's pipeline then takes it
 * (src/pipeline/run.ts) if it has the size the plan resolved, and owns it from then on (closes it
 * at the end of the run). A pool of the wrong size, or one nobody took, is closed.
 */
import { WorkerPool } from './pool.js';

let early: WorkerPool | undefined;

/** Start the early pool (once per process). */
export function prestartPool(workers: number): WorkerPool {
  early ??= new WorkerPool({ workers, warm: true });
  return early;
}

/** The early pool if it has `workers` threads (the caller now owns it); otherwise close it and return undefined. */
export function takePrestartedPool(workers: number): WorkerPool | undefined {
  const p = early;
  early = undefined;
  if (!p) return undefined;
  if (p.size === workers) return p;
  void p.close().catch(() => undefined);
  return undefined;
}

/** Close the early pool if no run took it (a config error, `--help`, a run that ended before its start). */
export async function discardPrestartedPool(): Promise<void> {
  const p = early;
  early = undefined;
  await p?.close().catch(() => undefined);
}
