/**
 * The worker pool: Piscina running src/pool/worker. Pool size defaults to the available cores.
 * A task that fails (kernel error, crash of its worker) fails only its own promise; Piscina
 * replaces a dead worker and keeps serving.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { PromfluxError } from '../errors.js';
import type { ProcessResult, ProcessTask } from './task.js';

// Under tsx this file is pool.ts and the worker worker.ts; in the bundle, scripts/bundle.mjs points
// the URL at the bundled worker entry (dist/bundle/worker-boot.cjs, which loads worker.cjs through V8's code cache).
const workerFile = import.meta.url.endsWith('.ts') ? fileURLToPath(import.meta.url).replace(/pool\.ts$/, 'worker.ts') : fileURLToPath(new URL('./worker.js', import.meta.url));

export interface PoolOptions {
  /** Worker threads; default = available cores. */
  workers?: number;
  /**
   * Send each worker a warm-up task at once (src/pool/worker.ts `warmup`: instantiate the
   * WebAssembly modules) so the first batch pays neither worker boot nor wasm compile.
   */
  warm?: boolean;
}

export class WorkerPool {
  readonly size: number;
  private readonly piscina: Piscina;
  /** Worker wall ms inside tasks (ProcessResult.timings.totalMs), for `utilization`. */
  private busyMs = 0;
  private readonly startedAt = performance.now();

  constructor(opts: PoolOptions = {}) {
    this.size = Math.max(1, opts.workers ?? availableParallelism());
    // Piscina would fail each worker with a bare module-not-found, after the pool was handed out.
    if (!existsSync(workerFile)) throw new PromfluxError('PROMFLUX_WORKER_MISSING', `the worker entry ${workerFile} is missing: run \`npm run build\` (tsc, then scripts/bundle.mjs)`);
    this.piscina = new Piscina({
      filename: workerFile,
      minThreads: this.size,
      maxThreads: this.size,
      // The dispatcher bounds in-flight work itself; one queued task per worker keeps them busy.
      concurrentTasksPerWorker: 1,
      idleTimeout: 60_000,
      env: process.env,
      // Piscina's run/wait-time histograms cost the main thread per task, and reading
      // `piscina.utilization` builds a 15-percentile summary: ~0.5–2 ms per call, measured per
      // batch on the dispatcher (issue #18, dispatcher-ceiling). We keep our own busy time instead.
      recordTiming: false,
      // Piscina loads the task file with require() first and falls back to import(). On Node
      // ≥ 20.19 require() of an ES module is on by default, and a require() that meets the same
      // module while an import() of it is still linking aborts the whole process (V8 fatal
      // "v8::Module::IsGraphAsync must be used on an instantiated module"; nodejs/node#58061,
      // #58067): seen in our test runs under load. With require(esm) off in the workers, require()
      // throws ERR_REQUIRE_ESM at once and every load goes through import(), which is race-free.
      execArgv: [...process.execArgv, '--no-experimental-require-module'],
    });
    if (opts.warm) this.warmUp();
  }

  /** One warm-up task per worker (Piscina gives each idle worker one task: concurrentTasksPerWorker 1). */
  private warmUp(): void {
    for (let i = 0; i < this.size; i++) this.piscina.run(null, { name: 'warmup' }).catch(() => undefined);
  }

  async run(task: ProcessTask, signal?: AbortSignal): Promise<ProcessResult> {
    const r = (await this.piscina.run(task, signal ? { signal } : {})) as ProcessResult;
    this.busyMs += r.timings?.totalMs ?? 0;
    return r;
  }

  /** Fraction of the workers' time spent running tasks since the pool started (0..1). */
  get utilization(): number {
    const capacity = (performance.now() - this.startedAt) * this.size;
    return capacity > 0 ? Math.min(1, this.busyMs / capacity) : 0;
  }

  get queueSize(): number {
    return this.piscina.queueSize;
  }

  async close(): Promise<void> {
    await this.piscina.destroy();
  }
}
