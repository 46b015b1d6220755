/**
 * Running one pipeline: wire source → dispatcher → pool → sink, then summarise. This is what the CLI
 * and the library's `createPipeline` call.
 */
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { validatePipeline } from '../config/load.js';
import type { PipelineConfig, PipelineInput } from '../config/schema.js';
import { ConfigError, PromfluxError } from '../errors.js';
import { createEngineMetrics, noteNewestSample, type EngineMetrics } from '../observe/metrics.js';
import { StallWatch, type StallState } from '../observe/stall.js';
import { initKnownLabels } from '../observe/known-labels.js';
import { isStopRequest } from './stop.js';
import { silentLogger } from '../observe/logger.js';
import { redactConfig } from '../observe/redact.js';
import { HealthMonitor, type HealthStatus } from '../observe/health.js';
import { WorkerPool } from '../pool/pool.js';
import type { WorkerPipelineSpec } from '../pool/task.js';
import { compileTransforms, haloOf, outputsOf, type TransformSpec } from '../transform/registry.js';
import { BatchSizer } from './adaptive.js';
import { CheckpointStore, OutputCommits } from './checkpoint.js';
import { finalizeReports, mergeReports, type ReportAccumulator } from '../transform/reports.js';
import { saveScalingState } from '../transform/scaling-state.js';
import { qualityFromCounts, qualityFields, type QualityMetrics } from '../transform/quality.js';
import { encodeFieldKey, encodeSeriesKey, LineWriter } from '../encode/lineprotocol.js';
import { createSink, createSource } from './components.js';
import { dispatch, newTotals, type BatchEvent, type DispatchTotals } from './dispatcher.js';
import type { Source } from '../extract/source.js';
import type { Sink } from '../load/sink.js';
import { RunVerifyState, verifyError, verifyRun, type PersistedVerify, type VerifiedSummary, type VerifySettings } from '../load/influx/run-verify.js';
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
}

/**
 * Whether and how `run --verify` runs: the CLI flag, else the pipeline's `verify`, else on for
 * `mode: backfill` with an influx sink. Asking for it with another sink is a config error.
 */
export function resolveVerify(cfg: PipelineConfig, flag: boolean | undefined): VerifySettings | null {
  const v = cfg.verify;
  const obj = typeof v === 'object' ? v : undefined;
  const configured = typeof v === 'boolean' ? v : obj?.enabled;
  const isDefault = (cfg.source as { mode?: string }).mode === 'backfill' && cfg.sink.kind === 'influx';
  const enabled = flag ?? configured ?? isDefault;
  if (!enabled) return null;
  if (cfg.sink.kind !== 'influx') {
    throw new ConfigError(`verify reads points back from InfluxDB, but pipeline "${cfg.name}" writes to a ${cfg.sink.kind} sink; drop --verify / verify: true, or use an influx sink`, { key: `pipelines.${cfg.name}.verify` });
  }
  const settle = /^(\d+)(ms|s)$/.exec(obj?.settle ?? '2s')!;
  return {
    seed: obj?.seed ?? 1,
    sampleRate: obj?.sampleRate ?? 0.05,
    maxSampledSeries: obj?.maxSampledSeries ?? 20,
    sourceCounts: obj?.sourceCounts ?? true,
    settleMs: Number(settle[1]) * (settle[2] === 's' ? 1000 : 1),
  };
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

  async run(runOpts: RunOptions = {}): Promise<RunSummary> {
    const specs = this.transforms;
    if (!specs.some((t) => t.kind === 'scale' && t.mode === 'fit-apply')) return this.runPass(specs, runOpts);
    // fit-apply: a first pass over the same source fits the scaling parameters and saves them; the
    // second pass applies them. Both passes see exactly the same data.
    const withMode = (mode: string) => specs.map((t) => (t.kind === 'scale' && t.mode === 'fit-apply' ? { ...t, mode } : t));
    const fitCfg: PipelineConfig = { ...this.config, transform: withMode('fit'), sink: { kind: 'null' } };
    delete (fitCfg as { checkpoint?: unknown }).checkpoint;
    const fit = await new Pipeline(fitCfg, { ...this.opts, sink: undefined, source: undefined, checkpointDir: undefined, verify: false }).run({ ...(runOpts.signal ? { signal: runOpts.signal } : {}) });
    if (fit.status !== 'ok') return { ...fit, fitPass: { samplesIn: fit.samplesIn, wallMs: fit.wallMs, status: fit.status } };
    const s = await this.runPass(withMode('apply'), runOpts);
    return { ...s, fitPass: { samplesIn: fit.samplesIn, wallMs: fit.wallMs, status: fit.status } };
  }

  private async runPass(transforms: TransformSpec[], runOpts: RunOptions): Promise<RunSummary> {
    const cfg = this.config;
    const eng = cfg.engine;
    const log = this.logger.child({ pipeline: cfg.name });
    const t0 = performance.now();
    const workersCfg = this.opts.workers ?? eng.workers;
    const workers = workersCfg === 'auto' ? availableParallelism() : workersCfg;
    const bs = this.opts.batchSize ?? eng.batchSize;
    const maxInFlight = eng.maxInFlight ?? workers * 2;
    const sizer = new BatchSizer({
      ...(bs === 'auto' ? {} : { fixed: bs }),
      min: eng.minBatchSize,
      max: eng.maxBatchSize,
      latencyTargetMs: eng.latencyTargetMs,
      memoryBudgetBytes: eng.memoryBudgetMb * 1024 * 1024,
      maxInFlight,
    });
    const kernels = compileTransforms(transforms);
    const halo = haloOf(kernels);
    // Scaling parameters for `scale` steps in apply mode travel to workers as ctx.state.
    const applyStates = [...new Set(transforms.filter((t) => t.kind === 'scale' && (t.mode ?? 'apply') === 'apply').map((t) => String(t.state)))];
    if (applyStates.length > 1) throw new ConfigError(`only one scaling state file per pipeline is supported, got ${applyStates.join(', ')}`, { key: `pipelines.${cfg.name}.transform` });
    const stateFile = cfg.state ?? applyStates[0];
    let reports: ReportAccumulator | undefined;
    // Schema mapping runs where keys are encoded (workers): the pipeline's, else the influx sink's.
    const schemaCfg = cfg.schema ?? (cfg.sink as { schema?: unknown }).schema;
    const verifySettings = resolveVerify(cfg, this.opts.verify);
    const rawSource = cfg.source.kind === 'prometheus' && (cfg.source as { extraction?: string }).extraction !== 'range';
    // Series-key policy of the line-protocol sinks (docs/LOAD.md "Series keys"); the sink given
    // to the Pipeline (opts.sink, --sink) takes it from the config's sink entry.
    const keyCfg = cfg.sink as { tagValues?: 'escape' | 'replace' | 'drop'; tagReplacement?: string; onCollision?: 'fail' | 'drop' };
    const bounded = !['incremental', 'stream'].includes((cfg.source as { mode?: string }).mode ?? '');
    const onCollision = keyCfg.onCollision ?? (bounded ? 'fail' : 'drop');
    const spec: WorkerPipelineSpec = {
      key: createHash('sha1').update(JSON.stringify([transforms, cfg.encode, cfg.schema, stateFile, Date.now()])).digest('hex'),
      transforms,
      encode: {
        ...cfg.encode,
        ...(schemaCfg !== undefined ? { schema: schemaCfg } : {}),
        ...(keyCfg.tagValues ? { tagValues: keyCfg.tagValues } : {}),
        ...(keyCfg.tagReplacement !== undefined ? { tagReplacement: keyCfg.tagReplacement } : {}),
      },
      ...(stateFile ? { stateFile } : {}),
      ...(verifySettings
        ? { verify: { seed: verifySettings.seed, sampleRate: verifySettings.maxSampledSeries > 0 ? verifySettings.sampleRate : 0, sourceCounts: rawSource && verifySettings.sourceCounts } }
        : {}),
    };
    const ckDirForDeps = this.opts.checkpointDir ?? (typeof cfg.checkpoint === 'string' ? cfg.checkpoint : cfg.checkpoint?.dir);
    const deps = { logger: log, registry: this.metrics.registry, pipeline: cfg.name, ...(ckDirForDeps ? { stateDir: ckDirForDeps } : {}) };
    const stall = new StallWatch({ pipeline: cfg.name, logger: log, streaming: (cfg.source as { mode?: string }).mode === 'stream' });
    this.stallWatch = stall;
    const source = stall.wrapSource(this.opts.source ?? createSource(cfg.source, deps));
    const sink = stall.wrapSink(this.opts.sink ?? createSink(cfg.sink, cfg, this.features, deps));
    const internal = new AbortController();
    const signal = runOpts.signal ? AbortSignal.any([runOpts.signal, internal.signal]) : internal.signal;
    const ckDir = this.opts.checkpointDir ?? (typeof cfg.checkpoint === 'string' ? cfg.checkpoint : cfg.checkpoint?.dir);
    const shard = this.opts.shard;
    const planHash = createHash('sha1').update(JSON.stringify([cfg.source, cfg.transform, shard ?? null])).digest('hex');
    const ckName = shard ? `${cfg.name}.shard-${shard.index}-of-${shard.count}` : cfg.name;
    const store = ckDir ? CheckpointStore.open(ckDir, ckName, planHash) : undefined;
    const vstate = verifySettings ? new RunVerifyState(verifySettings) : undefined;
    // Resumed: the counts of earlier attempts come back from the checkpoint (written with their coverage).
    let verifyUnresumable: string | undefined;
    if (vstate && store) {
      const pv = store.verify as PersistedVerify | undefined;
      if (pv?.v === 1) vstate.restore(pv);
      else if (store.covered().size > 0) verifyUnresumable = `the checkpoint ${store.path} holds no verify counts for the earlier attempts`;
    }
    const ckIntervalMs = (typeof cfg.checkpoint === 'object' ? cfg.checkpoint.intervalMs : undefined) ?? 1000;
    if (store && !sink.resume) {
      throw new ConfigError(
        `sink "${sink.kind}" cannot resume from a checkpoint (it neither writes idempotently nor keeps what an earlier attempt wrote), so a resumed run would lose or repeat output; run without --checkpoint, or use a sink that resumes: file, arrow, influx, null`,
        { key: this.opts.checkpointDir ? '--checkpoint' : `pipelines.${cfg.name}.checkpoint` },
      );
    }
    // 'commit' sinks (file, Arrow): chunks count as covered only once the sink committed their output.
    const commits = store && sink.resume === 'commit' ? new OutputCommits(store, sink, log, (chunk) => source.ack?.(chunk)) : undefined;
    let commitTimer: NodeJS.Timeout | undefined;
    let sinkOpened = false;
    if (store) this.metrics.checkpointLagSources.set(cfg.name, () => (store.lagMs() || performance.now() - t0) / 1000);
    // A finished bounded plan (backfill, synthetic) has nothing left to do. Incremental and stream
    // sources are never finished: each run continues from the watermarks to a later "now".
    const unbounded = ['incremental', 'stream'].includes((cfg.source as { mode?: string }).mode ?? '');
    const alreadyDone = !unbounded && store?.done === true;
    if (alreadyDone) {
      log.info({ checkpoint: store.path }, 'checkpoint says this run already completed; nothing to do (delete the checkpoint to run again)');
    }
    const q = cfg.quality;
    const computeQuality = (): QualityMetrics =>
      qualityFromCounts({
        samplesIn: totals.samplesIn,
        dropped: totals.dropped,
        counters: totals.counters,
        newestMs: Number.isFinite(totals.newestMs) ? totals.newestMs : NaN,
        nowMs: Date.now(),
        ...(q?.weights ? { weights: q.weights } : {}),
        ...(q?.timelinessTargetMs ? { timelinessTargetMs: q.timelinessTargetMs } : {}),
        ...(q?.timelinessMaxMs ? { timelinessMaxMs: q.timelinessMaxMs } : {}),
      });
    let qualityLines = 0;
    let pool: WorkerPool | undefined;
    let health: HealthMonitor | undefined;
    let totals: DispatchTotals = newTotals();
    let error: Error | undefined;
    let lastProgress = 0;
    const progress = (): ProgressEvent => {
      const sp = source.progress();
      const elapsed = performance.now() - t0;
      return {
        samplesIn: totals.samplesIn,
        linesOut: totals.linesOut,
        batches: totals.batches,
        doneSamples: sp.doneSamples,
        totalSamples: progressTotal(sp, totals.samplesIn),
        batchSize: sizer.current,
        elapsedMs: elapsed,
        samplesPerSec: elapsed > 0 ? (totals.samplesIn * 1000) / elapsed : 0,
      };
    };
    initKnownLabels(this.metrics, cfg.name, transforms, cfg.sink.kind, eng.onError);
    log.info({ workers, batchSize: bs, maxInFlight, halo, features: this.features.length, source: cfg.source.kind, sink: cfg.sink.kind }, 'run starting');
    log.debug({ config: redactConfig(cfg) }, 'effective pipeline config');
    try {
      // Workers load their modules while the source opens (Prometheus: series and metadata calls).
      pool = new WorkerPool({ workers });
      await source.open({
        haloSamples: halo.haloSamples,
        haloMs: halo.haloMs,
        lookaheadMs: halo.lookaheadMs,
        signal: alreadyDone ? AbortSignal.abort() : signal,
        logger: log,
        ...(store ? { covered: store.covered() } : {}),
        ...(shard ? { shard } : {}),
      });
      if (alreadyDone) internal.abort();
      if (store) {
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
      await sink.open();
      sinkOpened = true;
      if (commits) {
        commitTimer = setInterval(() => {
          commits.tick(totals).catch((err: unknown) => {
            // A failed commit records nothing; the next one (or the resumed run) starts from the last accepted one.
            log.warn({ err: (err as Error).message, checkpoint: store!.path }, 'sink commit failed');
          });
        }, ckIntervalMs);
        commitTimer.unref();
      }
      health = new HealthMonitor(cfg.health, {
        pipeline: cfg.name,
        logger: log,
        registry: this.metrics.registry,
        memoryBudgetMb: eng.memoryBudgetMb,
        read: () => ({ samplesIn: totals.samplesIn, batches: totals.batches, errors: totals.retries + totals.failedBatches }),
      }).start();
      this.healthMonitor = health;
      this.metrics.stalledSources.set(cfg.name, () => stall.seconds());
      stall.start();
      const maxInvalid = eng.maxInvalidRatio;
      await dispatch({
        totals,
        pipelineName: cfg.name,
        source,
        sink,
        pool,
        spec,
        sizer,
        maxInFlight,
        onError: eng.onError,
        retries: eng.retries,
        onCollision,
        ...(eng.maxErrorRate ? { maxErrorRate: eng.maxErrorRate } : {}),
        logger: log,
        metrics: this.metrics,
        signal,
        ...(this.opts.faults ? { faults: this.opts.faults } : {}),
        ...(commits ? { deferAck: true } : {}),
        ...(maxInvalid !== undefined
          ? {
              check: (t: DispatchTotals) => {
                const droppedN = Object.values(t.dropped).reduce((a, b) => a + b, 0);
                if (t.samplesIn >= 1000 && droppedN / t.samplesIn > maxInvalid) {
                  return new PromfluxError(
                    'PROMFLUX_INVALID_RATIO',
                    `${((100 * droppedN) / t.samplesIn).toFixed(2)}% of samples were dropped, above engine.maxInvalidRatio=${maxInvalid}; see "dropped" in the summary for reasons`,
                  );
                }
                return undefined;
              },
            }
          : {}),
        onBatch: (e) => {
          noteNewestSample(this.metrics, cfg.name, totals.newestMs);
          if (Object.keys(e.result.reports).length > 0) reports = mergeReports(reports, e.result.reports);
          if (vstate) {
            vstate.add(e.result.verify, e.result.perMeasurement, e.result.oldestMs, e.result.newestMs);
            vstate.setDeadLettered(sink.stats?.().deadLetteredByMeasurement as Record<string, number> | undefined);
            if (store && e.chunk.coverageKey !== undefined) store.setVerify(vstate.persisted());
          }
          if (commits) commits.ack(e.chunk);
          else if (store && e.chunk.coverageKey !== undefined) {
            store.add(e.chunk.coverageKey, e.chunk.startMs, e.chunk.endMs, totals);
            store.flush(ckIntervalMs);
          }
          this.emit('batch', e);
          runOpts.onBatch?.(e);
          const now = performance.now();
          if (now - lastProgress > 250) {
            lastProgress = now;
            const p = progress();
            this.emit('progress', p);
            runOpts.onProgress?.(p);
          }
        },
      });
      if (q?.write && sink.needs.lineProtocol && !signal.aborted) {
        // One `promflux_quality` point per run (not counted in linesOut: it is not a source sample).
        const w = new LineWriter({ precision: cfg.encode.precision });
        w.begin(encodeSeriesKey(q.measurement, { pipeline: cfg.name }));
        for (const [k, v] of Object.entries(qualityFields(computeQuality()))) w.float(encodeFieldKey(k), v);
        w.end(Date.now());
        const wr = await sink.write({ batchId: -1, chunkId: 'quality', lp: w.take(), lines: 1, columns: null, seriesKeys: [] });
        qualityLines = wr.written;
        commits?.ack();
      }
    } catch (err) {
      error = err instanceof Error ? err : new Error(String(err));
      log.error({ err: error.message, code: (error as PromfluxError).code }, 'run failed');
    } finally {
      health?.stop();
      stall.stop();
      this.metrics.stalledSources.delete(cfg.name);
      this.metrics.stalled.set({ pipeline: cfg.name }, 0);
      clearInterval(commitTimer);
      if (commits && sinkOpened) {
        // Before close: the last commit (and, for a complete plan, Arrow's merge) is recorded first.
        try {
          const complete = !error && !signal.aborted;
          const recorded = await commits.final(totals, complete);
          if (complete && !recorded) {
            throw new PromfluxError('PROMFLUX_CHECKPOINT_COMMIT', `the ${sink.kind} sink's last commit could not be recorded in checkpoint ${store!.path} (see the warning above); run the same command again to finish from the last recorded commit`);
          }
        } catch (err) {
          log.error({ err: (err as Error).message, checkpoint: store!.path }, 'last sink commit failed; the resumed run starts from the previous one');
          error ??= err instanceof Error ? err : new Error(String(err));
        }
      }
      await Promise.allSettled([pool?.close(), sink.close(), source.close()]);
    }
    // Points landed, not lines sent: read back what the run wrote (after close: every write acknowledged).
    let verified: VerifiedSummary | undefined;
    if (vstate && !error && !signal.aborted) {
      if (verifyUnresumable) log.warn({ reason: verifyUnresumable }, 'verify skipped: counts of earlier attempts are unknown (delete the checkpoint and rerun to verify)');
      else {
        vstate.setDeadLettered(sink.stats?.().deadLetteredByMeasurement as Record<string, number> | undefined);
        const plan = (source as { countPlan?: () => CountPlanQuery[] | null }).countPlan?.() ?? null;
        const skipped = !rawSource
          ? 'not a raw extraction (extraction: range evaluates PromQL; there are no stored samples to count)'
          : !verifySettings!.sourceCounts
            ? 'verify.sourceCounts is false'
            : shard && shard.count > 1
              ? 'a shard reads part of the plan; verify the union with promflux verify'
              : !plan
                ? 'the source has no fixed window (stream mode)'
                : undefined;
        try {
          verified = await verifyRun(vstate, {
            sink: cfg.sink as InfluxSinkConfig,
            precision: cfg.encode.precision,
            floatDigits: cfg.encode.floatDigits,
            logger: log,
            sourceCounts: plan && !skipped ? async () => (await import('../extract/prometheus/counts.js')).countStoredSamples(cfg.source as PrometheusSourceConfig, plan, log) : undefined,
            ...(skipped ? { sourceCountsSkipped: skipped } : {}),
            // Shards interleave in time: a shard's range holds the other shards' points too.
            ...(shard && shard.count > 1 ? { countsSkipped: 'a shard shares its time range with the other shards; verify the union with promflux verify --summary <every shard>.json' } : {}),
          });
          if (!verified.ok) error = verifyError(verified);
          log.info({ ok: verified.ok, measurements: verified.measurements, points: verified.points, sampledSeries: verified.sampledSeries, sourceCounts: verified.sourceCounts, mismatches: verified.mismatches.length }, 'verify finished');
        } catch (err) {
          error = new PromfluxError('PROMFLUX_VERIFY_FAILED', `verify could not read back what the run wrote: ${(err as Error).message}; the data is written: run promflux verify when the servers answer, or turn verification off (--no-verify, verify: false) for a target that answers neither InfluxQL nor Flux (e.g. VictoriaMetrics)`, { cause: err });
        }
        if (error) log.error({ err: error.message, code: (error as PromfluxError).code }, 'run failed verification');
      }
    }
    if (store) {
      // Graceful stop or success: persist what is covered. Only a complete, successful run is "done".
      // ('commit' sinks: their last accepted commit marked it, together with the output it describes.)
      if (!error && !signal.aborted && !commits) store.markDone();
      try {
        store.flush(0);
      } catch (err) {
        log.error({ err: (err as Error).message, checkpoint: store.path }, 'could not write checkpoint');
      }
      this.metrics.checkpointLagSources.delete(cfg.name);
      this.metrics.checkpointLag.set({ pipeline: cfg.name }, 0);
    }
    const t = totals;
    const statesWritten: string[] = [];
    if (!error && !signal.aborted && reports) {
      for (const { path, state } of finalizeReports(reports).scaling) {
        try {
          await saveScalingState(path, state);
          statesWritten.push(path);
          log.info({ path, series: Object.keys(state.series).length }, 'scaling state saved');
        } catch (err) {
          error = err as Error;
        }
      }
    }
    const quality = computeQuality();
    for (const [k, v] of Object.entries(qualityFields(quality))) if (k.endsWith('_pct') || k === 'score') this.metrics.quality.set({ pipeline: cfg.name, metric: k }, v);
    const wallMs = performance.now() - t0;
    const summary: RunSummary = {
      pipeline: cfg.name,
      status: error ? 'failed' : signal.aborted && !alreadyDone ? (isStopRequest(signal.reason) ? 'stopped' : 'aborted') : 'ok',
      ...(store ? { checkpoint: { path: store.path, done: store.done } } : {}),
      ...(shard ? { shard: `${shard.index}/${shard.count}` } : {}),
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
      workers,
      peakRssBytes: peakRss(),
      counters: sortKeys(t.counters),
      kernelMs: Object.fromEntries(Object.entries(t.kernelMs).map(([k, v]) => [k, Math.round(v)])),
      linesByMeasurement: sortKeys(writtenByMeasurement(t.perMeasurement, sink.stats?.())),
      newestSampleMs: Number.isFinite(t.newestMs) ? t.newestMs : null,
      oldestSampleMs: Number.isFinite(t.oldestMs) ? t.oldestMs : null,
      sink: { kind: sink.kind, ...(sink.stats?.() ?? {}) },
      features: outputsOf(kernels),
      quality,
      statesWritten,
      ...(qualityLines ? { qualityLines } : {}),
      ...(verified ? { verified } : {}),
    };
    // Query-cache invalidation (docs/ACCESS.md): a new write generation per measurement written.
    const genErr = cfg.sink.kind === 'influx' ? noteInfluxWrites(cfg.sink as InfluxSinkConfig, summary.linesByMeasurement) : undefined;
    if (genErr) log.warn({ err: genErr }, 'could not record write generations for the query cache: cached exports of these measurements stay until their TTL');
    this.metrics.runs.inc({ pipeline: cfg.name, status: summary.status });
    const final = progress();
    this.emit('progress', final);
    runOpts.onProgress?.(final);
    log.info({ samplesIn: summary.samplesIn, linesOut: summary.linesOut, wallMs: summary.wallMs, status: summary.status }, 'run finished');
    return summary;
  }
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
export function createPipeline(config: PipelineInput | PipelineConfig, opts: PipelineOptions = {}): Pipeline {
  return new Pipeline(validatePipeline(config), opts);
}

/** Sum of all drop reasons. */
export function droppedTotal(s: Pick<RunSummary, 'dropped'>): number {
  return Object.values(s.dropped).reduce((a, b) => a + b, 0);
}
