/**
 * One open-loop step through the whole pipeline: the synthetic source, the dispatcher, the worker
 * pool (fill, kernels, encoder) and the pipeline's sink, held at the target rate.
 *
 * The source is paced (PacedSource): chunk i is handed out no earlier than the moment the schedule
 * makes its last sample due, and that moment is its *intended* time. The pipeline pulls chunks as
 * fast as its backpressure allows; when it falls behind, chunks are pulled late but keep their
 * intended time, so latency = acknowledgement − intended includes every queue in between (no
 * coordinated omission). Chunks the pipeline has not pulled when the step's duration is over are
 * not sent: they enter the histogram with their latency so far (a lower bound) and count as unsent.
 * Work is per chunk (a few per 100 ms), never per sample.
 */
import { cpus, loadavg } from 'node:os';
import type { Logger } from 'pino';
import type { PipelineConfig } from '../config/schema.js';
import { ConfigError } from '../errors.js';
import { GROUP_SIZE, SyntheticSource, syntheticSourceSchema } from '../extract/synthetic.js';
import type { Source, SourceChunk, SourceOpenOptions, SourceProgress } from '../extract/source.js';
import type { Engine } from '../pipeline/engine.js';
import type { EngineMetrics } from '../observe/metrics.js';
import type { StepRaw } from './direct.js';
import { Recorder, type LoadtestMetrics } from './recorder.js';
import { Schedule, type ScheduleSpec } from './schedule.js';

export interface PipelineStepOptions {
  schedule: ScheduleSpec;
  /** The pipeline to drive (its transforms, engine, encode and sink); its source is replaced. */
  pipeline: PipelineConfig;
  series: number;
  /** Time span the step's timestamps cover, ms. */
  spreadMs: number;
  /** Rows per batch (fixed: a batch is the unit the schedule paces). */
  batchRows: number;
  /** First timestamp (epoch ms); find-max steps chain them so their ranges never overlap. */
  timestampStartMs: number;
  verify: boolean;
  engine: Engine;
  engineMetrics: EngineMetrics;
  logger: Logger;
  metrics?: LoadtestMetrics;
  signal?: AbortSignal;
}

type Intended = { atMs: number; samples: number };

/**
 * A source that hands out the synthetic source's chunks on the open-loop schedule. Per chunk it
 * keeps the intended time; the step records the latency when the batch is acknowledged.
 */
export class PacedSource implements Source {
  readonly kind = 'synthetic';
  /** Chunk id → intended time and samples, until acknowledged (or counted unsent/failed at the end). */
  readonly awaiting = new Map<string, Intended>();
  /** [intended ms, samples] of every chunk cut (sent or not). */
  readonly intended: Array<[number, number]> = [];
  readonly unsent: Intended[] = [];
  emitted = 0;
  private t0 = -1;
  private stopped = false;
  private signal: AbortSignal | undefined;

  constructor(
    private readonly inner: SyntheticSource,
    readonly schedule: Schedule,
    private readonly maxRows: number,
    private readonly metrics: LoadtestMetrics | undefined,
  ) {}

  /** ms into the step (the clock starts at the pipeline's first pull: workers and sink are up). */
  now(): number {
    return this.t0 < 0 ? 0 : performance.now() - this.t0;
  }

  async open(opts: SourceOpenOptions): Promise<void> {
    this.signal = opts.signal;
    await this.inner.open(opts);
  }

  async next(targetRows: number): Promise<SourceChunk | null> {
    if (this.t0 < 0) this.t0 = performance.now();
    if (this.stopped) return null;
    const chunk = await this.inner.next(Math.min(targetRows, this.maxRows));
    if (!chunk) return null;
    const atMs = this.schedule.timeOf(this.emitted + chunk.estSamples);
    if (this.now() >= this.schedule.spec.durationMs) {
      // The duration is over and the pipeline has not pulled this chunk yet: it and every later
      // one stay unsent (planning them is cheap: no samples are generated on this thread).
      this.stopped = true;
      this.cutUnsent(chunk, atMs);
      return null;
    }
    const wait = atMs - this.now();
    if (wait > 0) await abortableSleep(wait, this.signal);
    if (this.signal?.aborted) return null;
    this.emitted += chunk.estSamples;
    this.intended.push([atMs, chunk.estSamples]);
    this.awaiting.set(chunk.id, { atMs, samples: chunk.estSamples });
    this.metrics?.pointsSent.inc(chunk.estSamples);
    return chunk;
  }

  private cutUnsent(first: SourceChunk, atMs: number): void {
    let emitted = this.emitted;
    const take = (c: SourceChunk, t: number): void => {
      emitted += c.estSamples;
      this.intended.push([t, c.estSamples]);
      this.unsent.push({ atMs: t, samples: c.estSamples });
    };
    take(first, atMs);
    this.draining = (async () => {
      for (let c = await this.inner.next(this.maxRows); c; c = await this.inner.next(this.maxRows)) take(c, this.schedule.timeOf(emitted + c.estSamples));
    })();
  }

  /** Resolves once the unsent chunks are all listed. */
  draining: Promise<void> = Promise.resolve();

  widenHalo(chunk: SourceChunk, extraSamples: number): SourceChunk {
    return this.inner.widenHalo(chunk, extraSamples);
  }

  progress(): SourceProgress {
    return this.inner.progress();
  }

  async close(): Promise<void> {
    await this.inner.close();
  }
}

function abortableSleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Label cardinalities of the synthetic series (src/extract/synthetic-data.ts): service, instance. */
export function syntheticCardinalities(series: number): number[] {
  const groups = Math.ceil(series / GROUP_SIZE);
  return [Math.min(50, groups), groups];
}

export interface PipelineStepRaw extends StepRaw {
  dropped: Record<string, number>;
  features: number;
  workers: number;
  batches: number;
  verifiedSummary?: { ok: boolean; found: number; expected: number };
  runStatus: string;
}

export async function runPipelineStep(o: PipelineStepOptions): Promise<PipelineStepRaw> {
  const schedule0 = new Schedule(o.schedule);
  const perSeries = Math.floor(schedule0.total / o.series);
  if (perSeries < 1) {
    throw new ConfigError(`pipeline mode needs at least one sample per series: rate × duration is ${schedule0.total} points for ${o.series} series; raise --rate or --duration, or lower --series`, { key: '--series' });
  }
  const total = perSeries * o.series;
  const stepMs = Math.max(1, Math.floor(o.spreadMs / Math.max(1, perSeries)));
  const startMs = Math.ceil(o.timestampStartMs);
  const sourceCfg = syntheticSourceSchema.parse({ kind: 'synthetic', series: o.series, samplesPerSeries: perSeries, start: startMs, stepMs });
  const inner = new SyntheticSource(sourceCfg);
  const paced = new PacedSource(inner, schedule0, o.batchRows, o.metrics);
  const rec = new Recorder(o.metrics);
  const m = o.metrics;
  m?.targetRate.set(o.schedule.rate);
  let written = 0;
  let dueCounted = 0;
  const ticker = setInterval(() => {
    const due = Math.min(total, Math.floor(schedule0.due(paced.now())));
    if (due > dueCounted) m?.pointsDue.inc(due - dueCounted);
    dueCounted = Math.max(dueCounted, due);
    m?.backlog.set(Math.max(0, due - paced.emitted));
  }, 100);
  ticker.unref();
  // The config's own source (Prometheus, a stream, …) is not what runs: the run plan sees the synthetic one.
  const pipeline = o.engine.createPipeline({ ...o.pipeline, source: sourceCfg }, {
    source: paced, logger: o.logger, metrics: o.engineMetrics, batchSize: o.batchRows, verify: o.verify,
  });
  const cpu0 = process.cpuUsage();
  let summary;
  try {
    summary = await pipeline.run({
      ...(o.signal ? { signal: o.signal } : {}),
      onBatch: (e) => {
        const it = paced.awaiting.get(e.chunkId);
        if (!it) return;
        paced.awaiting.delete(e.chunkId);
        rec.record(it.atMs, paced.now(), e.samplesIn, true);
        written += e.linesOut;
        m?.pointsWritten.inc(e.linesOut);
      },
    });
  } finally {
    clearInterval(ticker);
  }
  await paced.draining;
  const end = paced.now();
  const cpu = process.cpuUsage(cpu0);
  for (const u of paced.unsent) rec.recordUnsent(u.atMs, end);
  // Chunks sent but never acknowledged (the run failed or was aborted): failed, with the time so far.
  let failedSamples = 0;
  for (const it of paced.awaiting.values()) {
    failedSamples += it.samples;
    rec.record(it.atMs, end, 0, false);
  }
  if (failedSamples) m?.pointsFailed.inc(failedSamples);
  m?.backlog.set(0);
  const sinkStats = summary.sink;
  const deadLettered: Record<string, number> = {};
  const dropped: Record<string, number> = {};
  for (const [k, v] of Object.entries(summary.dropped)) {
    if (k.startsWith('dead_letter:')) deadLettered[k.slice('dead_letter:'.length)] = v;
    // a skipped batch (engine.onError: skip) is never acknowledged: it is in `failed` below
    else if (!k.startsWith('batch_failed:')) dropped[k] = v;
  }
  const errorsByCode: Record<string, number> = summary.error ? { [summary.error.code]: 1 } : {};
  const v = summary.verified;
  return {
    schedule: schedule0,
    recorder: rec,
    intended: paced.intended,
    points: { target: total, sent: paced.emitted, written, deadLettered, failed: failedSamples, unsent: total - paced.emitted },
    errorsByCode,
    ...(summary.error ? { firstError: summary.error.message } : {}),
    sinkStats,
    elapsedMs: end,
    cpu: { userMs: cpu.user / 1000, systemMs: cpu.system / 1000 },
    machine: { cpus: cpus().length, loadavg1: loadavg()[0]! },
    range: { startMs, endMs: startMs + stepMs * Math.max(0, perSeries - 1) + 1 },
    spreadMs: stepMs * perSeries,
    cardinalities: syntheticCardinalities(o.series),
    dropped,
    features: pipeline.features.length,
    workers: summary.workers,
    batches: summary.batches,
    runStatus: summary.status,
    ...(v ? { verifiedSummary: { ok: v.ok, found: v.points, expected: v.expectedPoints } } : {}),
  };
}
