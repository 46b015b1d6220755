/**
 * A shared engine: one worker pool for several pipelines in one process (a front end running many
 * pipelines at once). `createEngine({ workers })` starts the pool; every pipeline made with
 * `engine.createPipeline(...)` sends its batches to that pool, so together they use `workers`
 * threads instead of each starting a pool sized to all cores. Piscina's one FIFO queue serves the
 * pipelines' batches in arrival order, and each pipeline keeps at most its `maxInFlight` batches
 * queued, so none starves the others. Pipelines made with the plain `createPipeline` own their
 * pool (started and closed by each run): both forms are safe to run concurrently.
 */
import { availableParallelism } from 'node:os';
import type { PipelineConfig, PipelineInput } from '../config/schema.js';
import type { Sink } from '../load/sink.js';
import { WorkerPool } from '../pool/pool.js';
import { Pipeline, validateWithSink, type PipelineOptions } from './run.js';

export interface EngineOptions {
  /** Worker threads shared by every pipeline of the engine (default: all cores). */
  workers?: number;
}

/** Options of a pipeline on a shared engine: as createPipeline's, without `workers` (the engine's). */
export type EnginePipelineOptions = Omit<PipelineOptions, 'workers' | 'pool'>;

export class Engine {
  readonly workers: number;
  private readonly pool: WorkerPool;
  private closed = false;

  constructor(opts: EngineOptions = {}) {
    this.workers = Math.max(1, opts.workers ?? availableParallelism());
    this.pool = new WorkerPool({ workers: this.workers, warm: true });
  }

  /** A pipeline that runs on this engine's pool (validated like createPipeline's). */
  createPipeline(config: PipelineInput | PipelineConfig, opts?: EnginePipelineOptions): Pipeline;
  createPipeline(config: Omit<PipelineInput, 'sink'>, opts: EnginePipelineOptions & { sink: Sink }): Pipeline;
  createPipeline(config: PipelineInput | PipelineConfig | Omit<PipelineInput, 'sink'>, opts: EnginePipelineOptions = {}): Pipeline {
    if (this.closed) throw new Error('engine.createPipeline after engine.close(): create a new engine');
    return new Pipeline(validateWithSink(config as PipelineInput, opts.sink), { ...opts, pool: this.pool });
  }

  /** Stop the worker threads (after the engine's runs have settled). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.close();
  }
}

export function createEngine(opts: EngineOptions = {}): Engine {
  return new Engine(opts);
}
