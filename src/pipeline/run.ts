/**
 * Running one pipeline: wire source → dispatcher → pool → sink, then summarise. This is what the CLI
 * and the library's `createPipeline` call.
 */
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { validatePipeline } from '../config/load.js';
import type { PipelineConfig, PipelineInput } from '../config/schema.js';
import { ConfigError, PromfluxError, SinkError } from '../errors.js';
import { createEngineMetrics, noteNewestSample, type EngineMetrics } from '../observe/metrics.js';
import { StallWatch, type StallState } from '../observe/stall.js';
import { initKnownLabels } from '../observe/known-labels.js';
import { isStopRequest, StopDeadline, StopRequested, type StopEnding } from './stop.js';
import { silentLogger } from '../observe/logger.js';
import { redactConfig } from '../observe/redact.js';
import { HealthMonitor, type HealthStatus } from '../observe/health.js';
import { WorkerPool } from '../pool/pool.js';
import { takePrestartedPool } from '../pool/prestart.js';
import { MainThreadMeter, WorkerThreadStats, type MainThreadSummary, type WorkerThreadSummary } from '../pool/thread-cpu.js';
import { compileTransforms, outputsOf } from '../transform/registry.js';
import type { TransformSpec } from '../transform/kernel.js';
import { resolveRun, type ResolvedRun } from './resolve.js';

export { resolveVerify } from './resolve.js';
import { haloMargin } from '../transform/halo-check.js';
import { BatchSizer } from './adaptive.js';
import { CheckpointStore, OutputCommits } from './checkpoint.js';
import { finalizeReports, mergeReports, type ReportAccumulator } from '../transform/reports.js';
import { saveScalingState } from '../transform/scaling-state.js';
import { qualityFromCounts, qualityFields, type QualityMetrics } from '../transform/quality.js';
import { encodeFieldKey, encodeSeriesKey, LineWriter } from '../encode/lineprotocol.js';
import { createSink, createSource } from './components.js';
import { dispatch, newTotals, type BatchEvent, type DispatchTotals, type Unacknowledged } from './dispatcher.js';
import type { Source } from '../extract/source.js';
import type { Sink } from '../load/sink.js';
import { RunVerifyState, verifyError, verifyRun, type PersistedVerify, type VerifiedSummary } from '../load/influx/run-verify.js';
import type { InfluxSinkConfig } from '../load/influx/config.js';
import type { CountPlanQuery } from '../extract/prometheus/counts.js';
import type { PrometheusSourceConfig } from '../extract/prometheus/config.js';
import { noteInfluxWrites } from '../access/generation.js';

export interface RunSummary {
  pipeline: string;
  /** `stopped`: a graceful stop (signal, serve shutdown), resumable; `aborted`: any other abort (caller's signal, timeout). */
  status: 'ok' | 'failed' | 'aborted' | 'stopped';
  error?: { code: string; message: string };
  samplesIn: number;
  linesOut: number;
  dropped: Record<string, number>;
  batches: number;
  failedBatches: number;
  retries: number;
  batchSize: { min: number; median: number; max: number };
  /** (elapsed ms, rows) each time the adaptive size changed. */
  batchSizeHistory: Array<[number, number]>;
  adaptive: boolean;
  wallMs: number;
  samplesPerSec: number;
  workers: number;
  peakRssBytes: number;
  /** Named counters from kernels (flags raised, imputed values, …). */
  counters: Record<string, number>;
  /** Worker milliseconds per kernel. */
  kernelMs: Record<string, number>;
  /** Lines emitted per measurement (for `promflux verify`); dead-lettered lines are in `dropped`. */
  linesByMeasurement: Record<string, number>;
  newestSampleMs: number | null;
  oldestSampleMs: number | null;
  sink: Record<string, unknown>;
  features: string[];
  checkpoint?: { path: string; done: boolean };
  shard?: string;
  /** Data-quality metrics of the run (docs/TRANSFORMS.md#quality). */
  quality: QualityMetrics;
  /** `promflux_quality` points written (quality.write). */
  qualityLines?: number;
  /** Scaling state files written by `scale` steps in fit mode. */
  statesWritten: string[];
  /** Summary of the fit pass when a `scale` step runs in fit-apply mode. */
  fitPass?: { samplesIn: number; wallMs: number; status: string };
  /** `run --verify`: what was read back from InfluxDB and the source (docs/LOAD.md#run---verify). */
  verified?: VerifiedSummary;
  /** CPU and event-loop cost of the thread that ran the pipeline (the main thread under the CLI), docs/SCALING.md. */
  mainThread: MainThreadSummary;
  /** The same per worker thread that ran a task of this run. */
  workerThreads: WorkerThreadSummary[];
  /** Start-up and fixed costs of the run, docs/SCALING.md#start-up. */
  startup: StartupSummary;
  /** A stopped or aborted run: how the stop went and what it left unacknowledged (docs/OPERATIONS.md#stopping). */
  stop?: StopSummary;
}

/** Where the fixed cost of a run goes (ms). */
export interface StartupSummary {
  /** Process start (performance.timeOrigin) → this run's start: module loading, config. */
  processToRunMs: number;
  /** Process start → the first batch accepted by the sink (null: no batch). */
  processToFirstBatchMs: number | null;
  /** Run start → first batch accepted (workers booting, source and sink opening, first batch's work). */
  runToFirstBatchMs: number | null;
  /** Last batch accepted → summary (drain, sink and pool close, verify). */
  lastBatchToEndMs: number | null;
}

export interface StopSummary {
  /** The signal (SIGTERM, SIGINT, serve's reason), `timeout`, or `abort` (a caller's signal). */
  requestedBy: string;
  /** engine.stopTimeoutMs of the run. */
  stopTimeoutMs: number;
  /** `drained`: every batch handed out was acknowledged; `deadline`: stopTimeoutMs passed and the rest was cancelled; `immediate`: a second signal cancelled it. */
  ending: StopEnding;
  /** From the stop request to the end of the dispatch (ms). */
  stopMs: number;
  /** What the sink never acknowledged (all 0 when drained): not in samplesIn, linesOut or dropped, not in the checkpoint. */
  unacknowledged: Unacknowledged;
  /** Work is left for a resume: the plan was not read to its end (not a stream), or batches are unacknowledged. Exit code 3 when true. */
  remaining: boolean;
}

/**
 * The total a progress bar should show: samples processed so far plus the source's estimate of
 * what is left. A source's estimate can be low (remote read knows sample counts only after
 * decoding), and "processed + left" keeps the percentage at or below 100 and lands on exactly
 * 100 when the source is done, where the raw estimate would overshoot. null = open-ended.
 */
export function progressTotal(sp: { doneSamples: number; totalSamples: number | null }, samplesIn: number): number | null {
  if (sp.totalSamples === null) return null;
  return Math.max(sp.totalSamples, samplesIn + Math.max(0, sp.totalSamples - sp.doneSamples));
}

export interface ProgressEvent {
  samplesIn: number;
  linesOut: number;
  batches: number;
  doneSamples: number;
  totalSamples: number | null;
  batchSize: number;
  elapsedMs: number;
  samplesPerSec: number;
}

export interface RunOptions {
  signal?: AbortSignal;
  /** Progress callback (also emitted as the 'progress' event). */
  onProgress?: (p: ProgressEvent) => void;
  /** Per-batch callback (also the 'batch' event). */
  onBatch?: (e: BatchEvent) => void;
}

export interface PipelineOptions {
  logger?: Logger;
  /** prom-client metrics (a fresh registry by default). */
  metrics?: EngineMetrics;
  /** Override engine.workers. */
  workers?: number;
  /** Override engine.batchSize (a number = fixed). */
  batchSize?: number | 'auto';
  /** Inject a source or sink instance (library use, tests). */
  source?: Source;
  sink?: Sink;
  /** Test builds: batch id → injected fault. */
  faults?: Map<number, 'throw' | 'exit'>;
  /** Deterministic shard of the plan: this process takes part `index` of `count`. */
  shard?: { index: number; count: number };
  /** Checkpoint directory (overrides the config's `checkpoint`). */
  checkpointDir?: string;
  /** `run --verify` / `--no-verify` (overrides the config's `verify`). */
  verify?: boolean;
  /** A worker pool shared with other pipelines (createEngine, src/pipeline/engine.ts); not closed by run(). */
  pool?: WorkerPool;
  /**
   * Workers also return the newest written row per series of each batch (`BatchEvent.result.latest`):
   * `promflux serve` keeps them for GET /v1/features/latest (src/access/latest.ts).
   */
  latestRows?: boolean;
  /** Benchmarks only (dispatcher-ceiling): workers skip fill, kernels and encode (src/pool/task.ts `noop`); `seriesKeys`: results still carry per-series keys. */
  noopWorkers?: boolean | { lineBytes?: number; seriesKeys?: boolean };
}

export interface PipelineEvents {
  progress: [ProgressEvent];
  batch: [BatchEvent];
}

/** A configured pipeline. `run()` may be called more than once (each run is independent). */
export class Pipeline extends EventEmitter<PipelineEvents> {
  readonly config: PipelineConfig;
  readonly features: string[];
  readonly metrics: EngineMetrics;
  private readonly logger: Logger;
  private readonly transforms: TransformSpec[];
  private healthMonitor: HealthMonitor | undefined;
  private stallWatch: StallWatch | undefined;
  private stopDeadline: StopDeadline | undefined;
  private stopPass: AbortController | undefined;

  constructor(config: PipelineConfig, private readonly opts: PipelineOptions = {}) {
    super();
    this.config = config;
    this.logger = opts.logger ?? silentLogger;
    this.metrics = opts.metrics ?? createEngineMetrics();
    this.transforms = config.transform as TransformSpec[];
    try {
      this.features = outputsOf(compileTransforms(this.transforms));
    } catch (err) {
      throw new ConfigError((err as Error).message, { key: `pipelines.${config.name}.transform` });
    }
  }

  /** Health thresholds of the current (or last) run: breached checks (src/observe/health.ts). */
  get health(): HealthStatus {
    return this.healthMonitor?.status ?? { ok: true, breaches: [] };
  }

  /** Whether the current run is stalled, and on what (src/observe/stall.ts). */
  get stall(): StallState {
    return this.stallWatch?.state() ?? { stalled: false, seconds: 0, waitingOn: null, reason: 'not running' };
  }

  /**
   * Cancel the current run's in-flight work at once instead of waiting for engine.stopTimeoutMs
   * (a second signal). Stops the run first if nothing did yet. The checkpoint is still written.
   */
  stopNow(why = 'stop now'): void {
    if (this.stopPass && !this.stopPass.signal.aborted) this.stopPass.abort(new StopRequested(why));
    this.stopDeadline?.now(why);
  }

  async run(runOpts: RunOptions = {}): Promise<RunSummary> {
    const specs = this.transforms;
    if (!specs.some((t) => t.kind === 'scale' && t.mode === 'fit-apply')) return this.runPass(specs, runOpts);
    // fit-apply: a first pass over the same source fits the scaling parameters and saves them; the
    // second pass applies them. Both passes see exactly the same data.
    const withMode = (mode: string) => specs.map((t) => (t.kind === 'scale' && t.mode === 'fit-apply' ? { ...t, mode } : t));
    const fitCfg: PipelineConfig = { ...this.config, transform: withMode('fit'), sink: { kind: 'null' } };
    delete (fitCfg as { checkpoint?: unknown }).checkpoint;
    const fit = await new Pipeline(fitCfg, { ...this.opts, sink: undefined, source: undefined, checkpointDir: undefined, verify: false, latestRows: false }).run({ ...(runOpts.signal ? { signal: runOpts.signal } : {}) });
    if (fit.status !== 'ok') return { ...fit, fitPass: { samplesIn: fit.samplesIn, wallMs: fit.wallMs, status: fit.status } };
    const s = await this.runPass(withMode('apply'), runOpts);
    return { ...s, fitPass: { samplesIn: fit.samplesIn, wallMs: fit.wallMs, status: fit.status } };
  }

  /** One pass: resolve → open → dispatch → close → verify → summarise. */
  private async runPass(transforms: TransformSpec[], runOpts: RunOptions): Promise<RunSummary> {
    const t0 = performance.now();
    const plan = resolveRun(this.config, this.opts, transforms, Date.now());
    const pass = this.openPass(plan, transforms, t0, runOpts.signal);
    const { cfg, log } = pass;
    initKnownLabels(this.metrics, cfg.name, transforms, cfg.sink.kind, cfg.engine.onError);
    log.info({ workers: plan.workers, batchSize: plan.batchSize, maxInFlight: plan.maxInFlight, halo: plan.halo, features: this.features.length, source: pass.source.kind, sink: pass.sink.kind }, 'run starting');
    log.debug({ config: redactConfig(cfg) }, 'effective pipeline config');
    try {
      await this.startPass(pass);
      await this.dispatchPass(pass, runOpts).finally(() => pass.meter.markDispatchEnd(pass.totals.batches, pass.totals.samplesIn));
      if (cfg.quality?.write && pass.sink.needs.lineProtocol && !pass.signal.aborted) await writeQualityPoint(pass);
    } catch (err) {
      pass.error = err instanceof Error ? err : new Error(String(err));
      log.error({ err: pass.error.message, code: (pass.error as PromfluxError).code }, 'run failed');
    } finally {
      await this.closePass(pass);
    }
    await verifyPass(pass);
    this.finishCheckpoint(pass);
    await saveScalingStates(pass);
    const summary = buildSummary(pass, this.metrics);
    // Query-cache invalidation (docs/ACCESS.md): a new write generation per measurement written.
    const genErr = cfg.sink.kind === 'influx' ? noteInfluxWrites(cfg.sink as InfluxSinkConfig, summary.linesByMeasurement) : undefined;
    if (genErr) log.warn({ err: genErr }, 'could not record write generations for the query cache: cached exports of these measurements stay until their TTL');
    this.metrics.runs.inc({ pipeline: cfg.name, status: summary.status });
    const final = progressOf(pass);
    this.emit('progress', final);
    runOpts.onProgress?.(final);
    if (summary.stop) logStop(log, summary.stop);
    log.info({ samplesIn: summary.samplesIn, linesOut: summary.linesOut, wallMs: summary.wallMs, status: summary.status }, 'run finished');
    return summary;
  }

  /** Build the pass's components (source, sink, checkpoint, verify state); throws ConfigError on a sink that cannot resume. */
  private openPass(plan: ResolvedRun, transforms: TransformSpec[], t0: number, runSignal: AbortSignal | undefined): PassState {
    const cfg = this.config;
    const log = this.logger.child({ pipeline: cfg.name });
    const ck = plan.checkpoint;
    const deps = { logger: log, registry: this.metrics.registry, pipeline: cfg.name, ...(ck ? { stateDir: ck.dir } : {}) };
    const beat = cfg.engine.heartbeatMs;
    const stall = new StallWatch({ pipeline: cfg.name, logger: log, streaming: (cfg.source as { mode?: string }).mode === 'stream', intervalMs: beat, thresholdMs: beat });
    this.stallWatch = stall;
    const source = stall.wrapSource(this.opts.source ?? createSource(cfg.source, deps));
    const sink = stall.wrapSink(this.opts.sink ?? createSink(cfg.sink, cfg, this.features, deps));
    const internal = new AbortController();
    const signal = runSignal ? AbortSignal.any([runSignal, internal.signal]) : internal.signal;
    // Any stop or abort gives the batches handed out until stopTimeoutMs, then cancels the sink's writes.
    const deadline = new StopDeadline(signal, cfg.engine.stopTimeoutMs, log, () => sink.cancel?.());
    this.stopDeadline = deadline;
    this.stopPass = internal;
    const store = ck ? CheckpointStore.open(ck.dir, ck.name, ck.planHash) : undefined;
    const vstate = plan.verify ? new RunVerifyState(plan.verify) : undefined;
    // Resumed: the counts of earlier attempts come back from the checkpoint (written with their coverage).
    let verifyUnresumable: string | undefined;
    if (vstate && store) {
      const pv = store.verify as PersistedVerify | undefined;
      if (pv?.v === 1) vstate.restore(pv);
      else if (store.covered().size > 0) verifyUnresumable = `the checkpoint ${store.path} holds no verify counts for the earlier attempts`;
    }
    if (store && !sink.resume) {
      throw new ConfigError(
        `sink "${sink.kind}" cannot resume from a checkpoint (it neither writes idempotently nor keeps what an earlier attempt wrote), so a resumed run would lose or repeat output; run without --checkpoint, or use a sink that resumes: file, arrow, influx, null`,
        { key: ck!.key },
      );
    }
    // 'commit' sinks (file, Arrow): chunks count as covered only once the sink committed their output.
    const commits = store && sink.resume === 'commit' ? new OutputCommits(store, sink, log, (chunk) => source.ack?.(chunk)) : undefined;
    if (store) this.metrics.checkpointLagSources.set(cfg.name, () => (store.lagMs() || performance.now() - t0) / 1000);
    // A finished bounded plan (backfill, synthetic) has nothing left to do.
    const alreadyDone = !plan.unbounded && store?.done === true;
    if (alreadyDone) log.info({ checkpoint: store.path }, 'checkpoint says this run already completed; nothing to do (delete the checkpoint to run again)');
    return {
      cfg, plan, log, t0, transforms, source, sink, stall, internal, signal, alreadyDone, deadline,
      sizer: new BatchSizer(plan.sizer),
      totals: newTotals(),
      meter: new MainThreadMeter(),
      threads: new WorkerThreadStats(),
      firstBatchAt: NaN,
      lastBatchAt: NaN,
      sinkOpened: false,
      qualityLines: 0,
      lastProgress: 0,
      statesWritten: [],
      ...(store ? { store } : {}),
      ...(commits ? { commits } : {}),
      ...(vstate ? { vstate } : {}),
      ...(verifyUnresumable ? { verifyUnresumable } : {}),
    };
  }

  /** Start workers, open the source (with the chain's halo), restore and open the sink, start the monitors. */
  private async startPass(pass: PassState): Promise<void> {
    const { cfg, plan, store, commits, sink, totals, log } = pass;
    // Workers load their modules while the source opens (Prometheus: series and metadata calls);
    // the CLI started them even earlier, before loading the program (src/pool/prestart.ts).
    pass.pool = this.opts.pool ?? takePrestartedPool(plan.workers) ?? new WorkerPool({ workers: plan.workers, warm: true });
    await pass.source.open({
      // A small margin beyond the chain's need: a few rows dropped in the halo then cost no re-run
      // (src/transform/halo-check.ts; the dispatcher widens the halo when even that is not enough).
      haloSamples: plan.halo.haloSamples + haloMargin(plan.halo.haloSamples),
      haloMs: plan.halo.haloMs,
      lookaheadMs: plan.halo.lookaheadMs,
      crossSeries: plan.crossSeries,
      batching: { workers: plan.workers, adaptive: plan.sizer.fixed === undefined },
      signal: pass.alreadyDone ? AbortSignal.abort() : pass.signal,
      logger: log,
      ...(store ? { covered: store.covered() } : {}),
      ...(plan.shard ? { shard: plan.shard } : {}),
    });
    if (pass.alreadyDone) pass.internal.abort();
    // A known total: enough batches for every worker, and a tapered end (src/pipeline/adaptive.ts).
    pass.sizer.planFor(() => {
      const sp = pass.source.progress();
      return sp.totalSamples === null ? null : Math.max(0, sp.totalSamples - sp.doneSamples);
    }, plan.workers);
    if (store) await restoreSink(store, sink, commits);
    await sink.open();
    pass.sinkOpened = true;
    if (commits) {
      pass.commitTimer = setInterval(() => {
        commits.tick(totals).catch((err: unknown) => {
          // A failed commit records nothing; the next one (or the resumed run) starts from the last accepted one.
          log.warn({ err: (err as Error).message, checkpoint: store!.path }, 'sink commit failed');
        });
      }, plan.checkpoint!.intervalMs);
      pass.commitTimer.unref();
    }
    pass.health = new HealthMonitor(cfg.health, {
      pipeline: cfg.name,
      logger: log,
      registry: this.metrics.registry,
      memoryBudgetMb: cfg.engine.memoryBudgetMb,
      read: () => ({ samplesIn: totals.samplesIn, batches: totals.batches, errors: totals.retries + totals.failedBatches }),
    }).start();
    this.healthMonitor = pass.health;
    this.metrics.stalledSources.set(cfg.name, () => pass.stall.seconds());
    pass.stall.start();
  }

  /** Run the dispatcher over the pass; per batch: metrics, reports, verify counts, checkpoint, events. */
  private async dispatchPass(pass: PassState, runOpts: RunOptions): Promise<void> {
    const { cfg, plan } = pass;
    const eng = cfg.engine;
    const check = invalidRatioCheck(eng.maxInvalidRatio);
    await dispatch({
      totals: pass.totals,
      pipelineName: cfg.name,
      source: pass.source,
      sink: pass.sink,
      pool: pass.pool!,
      spec: plan.spec,
      sizer: pass.sizer,
      maxInFlight: plan.maxInFlight,
      onError: eng.onError,
      retries: eng.retries,
      onCollision: plan.onCollision,
      ...(eng.maxErrorRate ? { maxErrorRate: eng.maxErrorRate } : {}),
      logger: pass.log,
      metrics: this.metrics,
      signal: pass.signal,
      ...(this.opts.faults ? { faults: this.opts.faults } : {}),
      ...(pass.commits ? { deferAck: true } : {}),
      ...(check ? { check } : {}),
      cancel: pass.deadline.cancel,
      ...(this.opts.latestRows ? { latestRows: true } : {}),
      threads: pass.threads,
      ...(this.opts.noopWorkers ? { noopWorkers: this.opts.noopWorkers } : {}),
      onBatch: (e) => this.onBatch(pass, e, runOpts),
    });
  }

  private onBatch(pass: PassState, e: BatchEvent, runOpts: RunOptions): void {
    const { cfg, store, vstate, commits, totals } = pass;
    noteBatchTime(pass);
    noteNewestSample(this.metrics, cfg.name, totals.newestMs);
    if (Object.keys(e.result.reports).length > 0) pass.reports = mergeReports(pass.reports, e.result.reports);
    if (vstate) {
      vstate.add(e.result.verify, e.result.perMeasurement, e.result.oldestMs, e.result.newestMs);
      vstate.setDeadLettered(pass.sink.stats?.().deadLetteredByMeasurement as Record<string, number> | undefined);
      if (store && e.chunk.coverageKey !== undefined) store.setVerify(vstate.persisted());
    }
    if (commits) commits.ack(e.chunk);
    else if (store && e.chunk.coverageKey !== undefined) {
      store.add(e.chunk.coverageKey, e.chunk.startMs, e.chunk.endMs, totals);
      store.flush(pass.plan.checkpoint!.intervalMs);
    }
    this.emit('batch', e);
    runOpts.onBatch?.(e);
    const now = performance.now();
    if (now - pass.lastProgress > 250) {
      pass.lastProgress = now;
      const p = progressOf(pass);
      this.emit('progress', p);
      runOpts.onProgress?.(p);
    }
  }

  /** Stop the monitors, record the last sink commit, close pool, sink and source. */
  private async closePass(pass: PassState): Promise<void> {
    const { cfg, commits, sink, store, log } = pass;
    pass.stopMs = pass.deadline.elapsedMs();
    pass.deadline.dispose();
    pass.health?.stop();
    pass.stall.stop();
    this.metrics.stalledSources.delete(cfg.name);
    this.metrics.stalled.set({ pipeline: cfg.name }, 0);
    clearInterval(pass.commitTimer);
    if (commits && pass.sinkOpened) {
      // Before close: the last commit (and, for a complete plan, Arrow's merge) is recorded first.
      try {
        const complete = !pass.error && !pass.signal.aborted;
        const recorded = await commits.final(pass.totals, complete);
        if (complete && !recorded) {
          throw new PromfluxError('PROMFLUX_CHECKPOINT_COMMIT', `the ${sink.kind} sink's last commit could not be recorded in checkpoint ${store!.path} (see the warning above); run the same command again to finish from the last recorded commit`);
        }
      } catch (err) {
        log.error({ err: (err as Error).message, checkpoint: store!.path }, 'last sink commit failed; the resumed run starts from the previous one');
        pass.error ??= err instanceof Error ? err : new Error(String(err));
      }
    }
    pass.error = closeFailure(await Promise.allSettled([this.opts.pool ? undefined : pass.pool?.close(), sink.close(), pass.source.close()]), pass.error, sink.kind, log);
  }

  /** Graceful stop or success: persist what is covered. Only a complete, successful run is "done". */
  private finishCheckpoint(pass: PassState): void {
    const { store, cfg } = pass;
    if (!store) return;
    // ('commit' sinks: their last accepted commit marked it, together with the output it describes.)
    if (!pass.error && !pass.signal.aborted && !pass.commits) store.markDone();
    try {
      store.flush(0);
    } catch (err) {
      pass.log.error({ err: (err as Error).message, checkpoint: store.path }, 'could not write checkpoint');
    }
    this.metrics.checkpointLagSources.delete(cfg.name);
    this.metrics.checkpointLag.set({ pipeline: cfg.name }, 0);
  }
}

/** One pass in progress: what it opened and what it counted (the steps share it). */
interface PassState {
  cfg: PipelineConfig;
  plan: ResolvedRun;
  log: Logger;
  t0: number;
  transforms: TransformSpec[];
  source: Source;
  sink: Sink;
  stall: StallWatch;
  internal: AbortController;
  signal: AbortSignal;
  deadline: StopDeadline;
  /** From the stop request to the end of dispatch (set when the pass closes). */
  stopMs?: number;
  store?: CheckpointStore;
  commits?: OutputCommits;
  vstate?: RunVerifyState;
  verifyUnresumable?: string;
  alreadyDone: boolean;
  sizer: BatchSizer;
  totals: DispatchTotals;
  reports?: ReportAccumulator;
  pool?: WorkerPool;
  health?: HealthMonitor;
  commitTimer?: NodeJS.Timeout;
  sinkOpened: boolean;
  qualityLines: number;
  lastProgress: number;
  statesWritten: string[];
  verified?: VerifiedSummary;
  error?: Error;
  /** This thread's CPU and event loop since the pass started; the workers' per-task figures. */
  meter: MainThreadMeter;
  threads: WorkerThreadStats;
  /** performance.now() when the first / latest batch was accepted (NaN: none yet). */
  firstBatchAt: number;
  lastBatchAt: number;
}

function noteBatchTime(pass: PassState): void {
  const now = performance.now();
  if (Number.isNaN(pass.firstBatchAt)) {
    pass.firstBatchAt = now;
    pass.meter.markFirstBatch(pass.totals.batches, pass.totals.samplesIn);
  }
  pass.lastBatchAt = now;
}

/** Start-up and fixed costs (performance.now() counts from process start in Node). */
function startupOf(pass: PassState, endAt: number): StartupSummary {
  const r = (x: number): number | null => (Number.isNaN(x) ? null : Math.round(x * 10) / 10);
  return {
    processToRunMs: r(pass.t0)!,
    processToFirstBatchMs: r(pass.firstBatchAt),
    runToFirstBatchMs: r(pass.firstBatchAt - pass.t0),
    lastBatchToEndMs: r(endAt - pass.lastBatchAt),
  };
}

/** A checkpointed run's sink: the same kind as recorded, and a 'commit' sink put back to its last commit. */
async function restoreSink(store: CheckpointStore, sink: Sink, commits: OutputCommits | undefined): Promise<void> {
  const saved = store.sink;
  if ((saved && saved.kind !== sink.kind) || (!saved && store.hasCoverage && commits)) {
    throw new PromfluxError(
      'PROMFLUX_CHECKPOINT_SINK_MISMATCH',
      `checkpoint ${store.path} records chunks written to ${saved ? `a ${saved.kind} sink` : 'a sink that kept no resume state (an older promflux, or another sink)'}, this run writes to a ${sink.kind} sink; resume with the same sink, or move the checkpoint away to start over`,
    );
  }
  if (commits) await sink.restore!(saved?.state);
  else if (!saved) store.setSink(sink.kind);
}

/** engine.maxInvalidRatio as the dispatcher's per-batch check. */
function invalidRatioCheck(maxInvalid: number | undefined): ((t: DispatchTotals) => Error | undefined) | undefined {
  if (maxInvalid === undefined) return undefined;
  return (t) => {
    const droppedN = Object.values(t.dropped).reduce((a, b) => a + b, 0);
    if (t.samplesIn < 1000 || droppedN / t.samplesIn <= maxInvalid) return undefined;
    return new PromfluxError(
      'PROMFLUX_INVALID_RATIO',
      `${((100 * droppedN) / t.samplesIn).toFixed(2)}% of samples were dropped, above engine.maxInvalidRatio=${maxInvalid}; see "dropped" in the summary for reasons`,
    );
  };
}

function progressOf(pass: PassState): ProgressEvent {
  const { totals } = pass;
  const sp = pass.source.progress();
  const elapsed = performance.now() - pass.t0;
  return {
    samplesIn: totals.samplesIn,
    linesOut: totals.linesOut,
    batches: totals.batches,
    doneSamples: sp.doneSamples,
    totalSamples: progressTotal(sp, totals.samplesIn),
    batchSize: pass.sizer.current,
    elapsedMs: elapsed,
    samplesPerSec: elapsed > 0 ? (totals.samplesIn * 1000) / elapsed : 0,
  };
}

function computeQuality(pass: PassState): QualityMetrics {
  const { totals } = pass;
  const q = pass.cfg.quality;
  return qualityFromCounts({
    samplesIn: totals.samplesIn,
    dropped: totals.dropped,
    counters: totals.counters,
    newestMs: Number.isFinite(totals.newestMs) ? totals.newestMs : NaN,
    nowMs: Date.now(),
    ...(q?.weights ? { weights: q.weights } : {}),
    ...(q?.timelinessTargetMs ? { timelinessTargetMs: q.timelinessTargetMs } : {}),
    ...(q?.timelinessMaxMs ? { timelinessMaxMs: q.timelinessMaxMs } : {}),
  });
}

/** One `promflux_quality` point per run (not counted in linesOut: it is not a source sample). */
async function writeQualityPoint(pass: PassState): Promise<void> {
  const { cfg } = pass;
  const w = new LineWriter({ precision: cfg.encode.precision });
  w.begin(encodeSeriesKey(cfg.quality!.measurement, { pipeline: cfg.name }));
  for (const [k, v] of Object.entries(qualityFields(computeQuality(pass)))) w.float(encodeFieldKey(k), v);
  w.end(Date.now());
  const written = await pass.sink.write({ batchId: -1, chunkId: 'quality', lp: w.take(), lines: 1, columns: null, seriesKeys: [] });
  pass.qualityLines = written.written;
  pass.commits?.ack();
}

/** Points landed, not lines sent: read back what the run wrote (after close: every write acknowledged). */
async function verifyPass(pass: PassState): Promise<void> {
  const { vstate, cfg, plan, log, source } = pass;
  if (!vstate || pass.error || pass.signal.aborted) return;
  if (pass.verifyUnresumable) {
    log.warn({ reason: pass.verifyUnresumable }, 'verify skipped: counts of earlier attempts are unknown (delete the checkpoint and rerun to verify)');
    return;
  }
  vstate.setDeadLettered(pass.sink.stats?.().deadLetteredByMeasurement as Record<string, number> | undefined);
  const shard = plan.shard;
  const plannedCounts = (source as { countPlan?: () => CountPlanQuery[] | null }).countPlan?.() ?? null;
  const skipped = sourceCountsSkipped(plan, plannedCounts !== null);
  try {
    pass.verified = await verifyRun(vstate, {
      sink: cfg.sink as InfluxSinkConfig,
      precision: cfg.encode.precision,
      floatDigits: cfg.encode.floatDigits,
      logger: log,
      sourceCounts: plannedCounts && !skipped ? async () => (await import('../extract/prometheus/counts.js')).countStoredSamples(cfg.source as PrometheusSourceConfig, plannedCounts, log) : undefined,
      ...(skipped ? { sourceCountsSkipped: skipped } : {}),
      // Shards interleave in time: a shard's range holds the other shards' points too.
      ...(shard && shard.count > 1 ? { countsSkipped: 'a shard shares its time range with the other shards; verify the union with promflux verify --summary <every shard>.json' } : {}),
    });
    if (!pass.verified.ok) pass.error = verifyError(pass.verified);
    const v = pass.verified;
    log.info({ ok: v.ok, measurements: v.measurements, points: v.points, sampledSeries: v.sampledSeries, sourceCounts: v.sourceCounts, mismatches: v.mismatches.length }, 'verify finished');
  } catch (err) {
    pass.error = new PromfluxError('PROMFLUX_VERIFY_FAILED', `verify could not read back what the run wrote: ${(err as Error).message}; the data is written: run promflux verify when the servers answer, or turn verification off (--no-verify, verify: false) for a target that answers neither InfluxQL nor Flux (e.g. VictoriaMetrics)`, { cause: err });
  }
  if (pass.error) log.error({ err: pass.error.message, code: (pass.error as PromfluxError).code }, 'run failed verification');
}

/** Why the source's own sample counts are not compared, or undefined when they are. */
function sourceCountsSkipped(plan: ResolvedRun, hasCountPlan: boolean): string | undefined {
  if (!plan.rawSource) return 'not a raw extraction (extraction: range evaluates PromQL; there are no stored samples to count)';
  if (!plan.verify!.sourceCounts) return 'verify.sourceCounts is false';
  if (plan.shard && plan.shard.count > 1) return 'a shard reads part of the plan; verify the union with promflux verify';
  if (!hasCountPlan) return 'the source has no fixed window (stream mode)';
  return undefined;
}

/** `scale` steps in fit mode: save the fitted parameters of a successful pass. */
async function saveScalingStates(pass: PassState): Promise<void> {
  if (pass.error || pass.signal.aborted || !pass.reports) return;
  for (const { path, state } of finalizeReports(pass.reports).scaling) {
    try {
      await saveScalingState(path, state);
      pass.statesWritten.push(path);
      pass.log.info({ path, series: Object.keys(state.series).length }, 'scaling state saved');
    } catch (err) {
      pass.error = err as Error;
    }
  }
}

function passStatus(pass: PassState): RunSummary['status'] {
  if (pass.error) return 'failed';
  if (pass.signal.aborted && !pass.alreadyDone) return isStopRequest(pass.signal.reason) ? 'stopped' : 'aborted';
  return 'ok';
}

/** The run summary from the pass's totals, sizer and sink; also sets the quality gauges. */
function buildSummary(pass: PassState, metrics: EngineMetrics): RunSummary {
  const { totals: t, sizer, sink, store, plan, error, cfg } = pass;
  const quality = computeQuality(pass);
  for (const [k, v] of Object.entries(qualityFields(quality))) if (k.endsWith('_pct') || k === 'score') metrics.quality.set({ pipeline: cfg.name, metric: k }, v);
  const endAt = performance.now();
  const wallMs = endAt - pass.t0;
  return {
    pipeline: cfg.name,
    status: passStatus(pass),
    ...(store ? { checkpoint: { path: store.path, done: store.done } } : {}),
    ...(plan.shard ? { shard: `${plan.shard.index}/${plan.shard.count}` } : {}),
    ...(error ? { error: { code: (error as PromfluxError).code ?? 'PROMFLUX_RUN_FAILED', message: error.message } } : {}),
    samplesIn: t.samplesIn,
    linesOut: t.linesOut,
    dropped: sortKeys(t.dropped),
    batches: t.batches,
    failedBatches: t.failedBatches,
    retries: t.retries,
    batchSize: sizer.stats(),
    batchSizeHistory: sizer.history,
    adaptive: sizer.adaptive,
    wallMs: Math.round(wallMs),
    samplesPerSec: wallMs > 0 ? Math.round((t.samplesIn * 1000) / wallMs) : 0,
    workers: plan.workers,
    peakRssBytes: peakRss(),
    counters: sortKeys(t.counters),
    kernelMs: Object.fromEntries(Object.entries(t.kernelMs).map(([k, v]) => [k, Math.round(v)])),
    linesByMeasurement: sortKeys(writtenByMeasurement(t.perMeasurement, sink.stats?.())),
    newestSampleMs: Number.isFinite(t.newestMs) ? t.newestMs : null,
    oldestSampleMs: Number.isFinite(t.oldestMs) ? t.oldestMs : null,
    sink: { kind: sink.kind, ...(sink.stats?.() ?? {}) },
    features: plan.features,
    quality,
    statesWritten: pass.statesWritten,
    ...(pass.qualityLines ? { qualityLines: pass.qualityLines } : {}),
    ...(pass.verified ? { verified: pass.verified } : {}),
    mainThread: pass.meter.summary(),
    workerThreads: pass.threads.summary(wallMs),
    startup: startupOf(pass, endAt),
    ...(pass.signal.aborted && !pass.alreadyDone ? { stop: stopSummary(pass) } : {}),
  };
}

function logStop(log: Logger, st: StopSummary): void {
  const u = st.unacknowledged;
  const what = u.batches === 0 ? 'every batch handed out was acknowledged' : `${u.batches} batch(es) unacknowledged (${u.inSink.batches} with the sink: ${u.inSink.lines} lines; ${u.inWorkers} in workers)`;
  log.warn({ ...st, unacknowledged: { ...u, chunks: u.chunks.slice(0, 20) } }, `stop ${st.ending} after ${(st.stopMs / 1000).toFixed(1)} s: ${what}; the checkpoint holds only acknowledged chunks${st.remaining ? ' — run the same command to resume' : ''}`);
}

/** How a stopped (or aborted) pass ended; logged, and the summary's `stop`. */
function stopSummary(pass: PassState): StopSummary {
  const { totals, deadline, cfg } = pass;
  const reason: unknown = pass.signal.reason;
  const requestedBy = isStopRequest(reason) ? reason.signalName : (reason as Error | undefined)?.name === 'TimeoutError' ? 'timeout' : 'abort';
  const unacknowledged = totals.unacknowledged ?? { batches: 0, inSink: { batches: 0, lines: 0, samples: 0 }, inWorkers: 0, chunks: [] };
  const streaming = (cfg.source as { mode?: string }).mode === 'stream';
  return {
    requestedBy,
    stopTimeoutMs: deadline.timeoutMs,
    ending: deadline.ending,
    stopMs: Math.round(pass.stopMs ?? 0),
    unacknowledged,
    remaining: unacknowledged.batches > 0 || (!totals.sourceDone && !streaming),
  };
}

/**
 * Peak RSS of this process: VmHWM from /proc (ru_maxrss survives exec on Linux, so a child spawned
 * by a large parent would report the parent's peak), else getrusage.
 */
function peakRss(): number {
  try {
    const m = /VmHWM:\s+(\d+)\s+kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS * 1024;
}

/** Emitted lines per measurement minus what the sink dead-lettered (what `verify` should find). */
function writtenByMeasurement(emitted: Record<string, number>, stats: Record<string, unknown> | undefined): Record<string, number> {
  const dl = (stats?.deadLetteredByMeasurement ?? {}) as Record<string, number>;
  const out: Record<string, number> = {};
  for (const [m, n] of Object.entries(emitted)) out[m] = n - (dl[m] ?? 0);
  return out;
}

function sortKeys<T>(o: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * Create a pipeline from a config object (the `pipelines[]` entry shape of the YAML). Validates it;
 * throws ConfigError naming the key on a bad config.
 */
export function createPipeline(config: PipelineInput | PipelineConfig, opts?: PipelineOptions): Pipeline;
/** With a sink object injected (`opts.sink`), the config's `sink:` key may be left out. */
export function createPipeline(config: Omit<PipelineInput, 'sink'> & { sink?: PipelineInput['sink'] }, opts: PipelineOptions & { sink: Sink }): Pipeline;
export function createPipeline(config: PipelineInput | PipelineConfig | Omit<PipelineInput, 'sink'>, opts: PipelineOptions = {}): Pipeline {
  return new Pipeline(validateWithSink(config as PipelineInput, opts.sink), opts);
}

/**
 * With a sink object injected, the config needs no `sink:` key: it is validated with a stand-in
 * and then names the injected sink's kind (logs, metrics labels, summary).
 */
export function validateWithSink(config: PipelineInput | PipelineConfig, sink: Sink | undefined): PipelineConfig {
  if (!sink || (config as { sink?: unknown }).sink !== undefined) return validatePipeline(config);
  const cfg = validatePipeline({ ...config, sink: { kind: 'null' } } as PipelineInput);
  return { ...cfg, sink: { kind: sink.kind } as PipelineConfig['sink'] };
}

/**
 * The error contract of close (README "Errors"): a sink whose close() rejects fails the run (its
 * last bytes or footer are not written), coded PROMFLUX_SINK_CLOSE unless it has a code of its own;
 * pool and source close errors are logged as warnings (nothing of the output depends on them).
 * An earlier error stays the run's error; a close error after it is logged.
 */
function closeFailure(results: PromiseSettledResult<unknown>[], error: Error | undefined, sinkKind: string, log: Logger): Error | undefined {
  const [pool, sink, source] = results;
  for (const [what, r] of [['worker pool', pool], ['source', source]] as const) {
    if (r?.status === 'rejected') log.warn({ err: (r.reason as Error)?.message ?? String(r.reason) }, `${what} close failed`);
  }
  if (sink?.status !== 'rejected') return error;
  const reason = sink.reason instanceof Error ? sink.reason : new Error(String(sink.reason));
  const coded = reason instanceof PromfluxError ? reason : new SinkError('PROMFLUX_SINK_CLOSE', `the ${sinkKind} sink failed to close: ${reason.message}; its output may be incomplete`, { cause: reason });
  log.error({ err: coded.message, code: coded.code }, error ? 'sink close failed too' : 'sink close failed: run failed');
  return error ?? coded;
}

/** Sum of all drop reasons. */
export function droppedTotal(s: Pick<RunSummary, 'dropped'>): number {
  return Object.values(s.dropped).reduce((a, b) => a + b, 0);
}
