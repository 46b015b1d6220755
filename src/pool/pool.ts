/**
 * The worker pool: Piscina running src/pool/worker. Pool size defaults to the available cores.
 * A task that fails (kernel error, crash of its worker) fails only its own promise; Piscina
 * replaces a dead worker and keeps serving.
 */
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { ProcessResult, ProcessTask } from './task.js';

const here = fileURLToPath(import.meta.url);
const workerFile = here.replace(/pool\.(ts|js)$/, (_m, ext: string) => `worker.${ext}`);

export interface PoolOptions {
  /** Worker threads; default = available cores. */
  workers?: number;
}

export class WorkerPool {
  readonly size: number;
  private readonly piscina: Piscina;

  constructor(opts: PoolOptions = {}) {
    this.size = Math.max(1, opts.workers ?? availableParallelism());
    this.piscina = new Piscina({
      filename: workerFile,
      minThreads: this.size,
      maxThreads: this.size,
      // The dispatcher bounds in-flight work itself; one queued task per worker keeps them busy.
      concurrentTasksPerWorker: 1,
      idleTimeout: 60_000,
      env: process.env,
    });
  }

  run(task: ProcessTask, signal?: AbortSignal): Promise<ProcessResult> {
    return this.piscina.run(task, signal ? { signal } : {}) as Promise<ProcessResult>;
  }

  /** Fraction of time workers spent running tasks since start (0..1). */
  get utilization(): number {
    return this.piscina.utilization;
  }

  get queueSize(): number {
    return this.piscina.queueSize;
  }

  async close(): Promise<void> {
    await this.piscina.destroy();
  }
}
