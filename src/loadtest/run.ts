/**
 * `promflux loadtest`: one open-loop step, or `findMax` — step the rate up until the SLO breaks,
 * confirm by stepping down, and report the highest sustained rate with its latency profile.
 * Each step reads its points back (verifyInflux over the step's own timestamp range; steps never
 * overlap) unless `verify` is off.
 */
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { PipelineConfig } from '../config/schema.js';
import { PromfluxError, isErrorCode } from '../errors.js';
import type { InfluxSinkConfig } from '../load/influx/config.js';
import { verifyInflux } from '../load/influx/verify.js';
import { createEngineMetrics, type EngineMetrics } from '../observe/metrics.js';
import { createEngine, type Engine } from '../pipeline/engine.js';
import { runLinesStep } from './direct.js';
import { runPipelineStep } from './pipeline.js';
import { createLoadtestMetrics } from './recorder.js';
import { buildStepReport, type StepReport, type VerifiedPoints } from './report.js';
import { checkShape, formatRate, type LoadShape, type SloTerm } from './spec.js';

export interface LoadtestOptions {
  /** `direct` (default): line protocol straight to the sink; `pipeline`: the synthetic source through `pipeline`. */
  mode?: 'direct' | 'pipeline';
  /** Pipeline mode: the pipeline driven (its source is replaced by the paced synthetic source; its sink is `sink`). */
  pipeline?: PipelineConfig;
  /** Pipeline mode: worker threads (default: all cores). */
  workers?: number;
  sink: InfluxSinkConfig;
  rate: number;
  durationMs: number;
  rampMs: number;
  fromRate: number;
  shape: LoadShape;
  slo: SloTerm[];
  /** Points per request (default: about 20 ms of the target rate, 100..5000). */
  batchLines?: number;
  maxInFlight?: number;
  verify: boolean;
  /** How long to keep re-reading a count that is still short (InfluxDB makes writes visible soon, not at once). */
  settleMs?: number;
  findMax?: { factor: number; maxSteps: number };
  logger: Logger;
  registry?: Registry;
  signal?: AbortSignal;
  /** Called after each step (progress on stderr). */
  onStep?: (r: StepReport, index: number) => void;
}

export interface FindMaxReport {
  steps: StepReport[];
  /** Highest rate met, confirmed by a second step at or below it; null when even the first step missed. */
  maxSustainedRate: number | null;
  confirmed: boolean;
  /** The confirming step's report (its latency profile at that rate). */
  atMax: StepReport | null;
  verdict: 'met' | 'missed';
}

export function defaultBatchLines(rate: number): number {
  return Math.max(100, Math.min(5000, Math.round(rate * 0.02)));
}

/** What a pipeline-mode run shares between its steps: one worker pool, one set of engine metrics. */
interface PipelineRuntime {
  engine: Engine;
  engineMetrics: EngineMetrics;
}

/** Default rows per batch in pipeline mode: about 50 ms of the rate (a batch is what the schedule paces), 700..50 000. */
export function defaultBatchRows(rate: number): number {
  return Math.max(700, Math.min(50_000, Math.round(rate * 0.05)));
}

export async function runLoadtestStep(o: LoadtestOptions, rate: number, tsStartMs: number, index = 0, runtime?: PipelineRuntime): Promise<StepReport> {
  if (o.mode === 'pipeline') return runPipelineModeStep(o, rate, tsStartMs, index, runtime);
  checkShape(o.shape);
  const batchLines = o.batchLines ?? defaultBatchLines(rate);
  const maxInFlight = o.maxInFlight ?? Math.max(8, 4 * o.sink.concurrency);
  const metrics = o.registry ? createLoadtestMetrics(o.registry) : undefined;
  metrics?.step.set(index);
  o.logger.info({ rate, durationMs: o.durationMs, batchLines, maxInFlight }, `loadtest step ${index}: ${formatRate(rate)} for ${o.durationMs / 1000} s`);
  const raw = await runLinesStep({
    schedule: { rate, durationMs: o.durationMs, rampMs: o.rampMs, fromRate: Math.min(o.fromRate, rate) },
    shape: o.shape,
    sink: o.sink,
    batchLines,
    maxInFlight,
    timestampStartMs: tsStartMs,
    logger: o.logger,
    ...(o.registry ? { registry: o.registry } : {}),
    ...(metrics ? { metrics } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
  });
  const verified = o.verify ? await readBack(o, raw.range, raw.points.written) : { found: 0, expected: raw.points.written, ok: true, skipped: '--no-verify' };
  return buildStepReport(raw, o.shape, { batchLines, maxInFlight, slo: o.slo }, verified);
}

async function runPipelineModeStep(o: LoadtestOptions, rate: number, tsStartMs: number, index: number, runtime: PipelineRuntime | undefined): Promise<StepReport> {
  if (!o.pipeline) throw new Error('loadtest pipeline mode needs the pipeline config (LoadtestOptions.pipeline)');
  const own = runtime ? undefined : newRuntime(o);
  const rt = runtime ?? own!;
  const batchRows = o.batchLines ?? defaultBatchRows(rate);
  const metrics = o.registry ? createLoadtestMetrics(o.registry) : undefined;
  metrics?.step.set(index);
  o.logger.info({ rate, durationMs: o.durationMs, batchRows }, `loadtest step ${index} (pipeline): ${formatRate(rate)} for ${o.durationMs / 1000} s`);
  try {
    const raw = await runPipelineStep({
      schedule: { rate, durationMs: o.durationMs, rampMs: o.rampMs, fromRate: Math.min(o.fromRate, rate) },
      pipeline: { ...o.pipeline, sink: o.sink },
      series: o.shape.series,
      spreadMs: o.shape.spreadMs,
      batchRows,
      timestampStartMs: tsStartMs,
      verify: o.verify,
      engine: rt.engine,
      engineMetrics: rt.engineMetrics,
      logger: o.logger,
      ...(metrics ? { metrics } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
    });
    const v = raw.verifiedSummary;
    const verified: VerifiedPoints = !o.verify
      ? { found: 0, expected: raw.points.written, ok: true, skipped: '--no-verify' }
      : v
        ? { found: v.found, expected: v.expected, ok: v.ok && v.found === raw.points.written }
        : // the run failed or was stopped before its read-back: nothing is confirmed landed
          { found: 0, expected: raw.points.written, ok: false };
    const shape = { ...o.shape, measurement: '(synthetic: application_*, node_*)', tags: 2, fields: 1 + raw.features };
    return buildStepReport(raw, shape, { batchLines: batchRows, maxInFlight: o.pipeline.engine.maxInFlight ?? raw.workers * 2, slo: o.slo }, verified);
  } finally {
    await own?.engine.close();
  }
}

function newRuntime(o: LoadtestOptions): PipelineRuntime {
  return { engine: createEngine(o.workers ? { workers: o.workers } : {}), engineMetrics: createEngineMetrics(o.registry) };
}

/**
 * Before the first step's clock starts: one small run of the same transforms into a null sink on
 * the same pool, so every worker has loaded its modules (kernels, wasm) and the first batches of
 * the step do not measure thread start-up (measured here: ~0.9 s of p99 on a 3 s step without it).
 */
async function warmUp(o: LoadtestOptions, rt: PipelineRuntime): Promise<void> {
  const { checkpoint: _c, verify: _v, ...base } = o.pipeline!;
  const p = rt.engine.createPipeline(
    { ...base, name: `${base.name}-warmup`, source: { kind: 'synthetic', series: 7 * rt.engine.workers * 4, samplesPerSeries: 200 }, sink: { kind: 'null' } },
    { logger: o.logger, batchSize: 700, verify: false },
  );
  const s = await p.run(o.signal ? { signal: o.signal } : {});
  if (s.status === 'failed') throw new PromfluxError(isErrorCode(s.error?.code) ? s.error.code : 'PROMFLUX_RUN_FAILED', `loadtest warm-up run of pipeline "${base.name}" (null sink) failed before the load started: ${s.error?.message ?? 'unknown error'}`);
}

async function readBack(o: LoadtestOptions, range: { startMs: number; endMs: number }, written: number): Promise<VerifiedPoints> {
  const deadline = Date.now() + (o.settleMs ?? 10_000);
  for (;;) {
    try {
      const r = await verifyInflux(o.sink, { startMs: range.startMs, endMs: range.endMs, expected: { [o.shape.measurement]: written }, field: 'f0' });
      const found = r.perMeasurement[o.shape.measurement]?.found ?? 0;
      if (found >= written || Date.now() >= deadline) return { found, expected: written, ok: found === written };
    } catch (err) {
      if (Date.now() >= deadline) return { found: 0, expected: written, ok: false, skipped: `read-back failed: ${(err as Error).message}` };
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Timestamp start of the next step: after the previous step's range and not before now. */
function nextStart(prev: StepReport | undefined): number {
  return Math.max(Date.now(), prev ? prev.shape.timestampRange.endMs + 1000 : 0);
}

export async function runLoadtest(o: LoadtestOptions): Promise<StepReport | FindMaxReport> {
  const runtime = o.mode === 'pipeline' ? newRuntime(o) : undefined;
  try {
    if (runtime) await warmUp(o, runtime);
    return await runSteps(o, runtime);
  } finally {
    await runtime?.engine.close();
  }
}

async function runSteps(o: LoadtestOptions, runtime: PipelineRuntime | undefined): Promise<StepReport | FindMaxReport> {
  if (!o.findMax) {
    const r = await runLoadtestStep(o, o.rate, Date.now(), 0, runtime);
    o.onStep?.(r, 0);
    return r;
  }
  const { factor, maxSteps } = o.findMax;
  const steps: StepReport[] = [];
  const step = async (rate: number): Promise<StepReport> => {
    const r = await runLoadtestStep(o, rate, nextStart(steps[steps.length - 1]), steps.length, runtime);
    steps.push(r);
    o.onStep?.(r, steps.length - 1);
    return r;
  };
  // Up: ×factor until a step misses.
  let lastMet: number | null = null;
  let rate = o.rate;
  for (let i = 0; i < maxSteps && !o.signal?.aborted; i++) {
    const r = await step(rate);
    if (r.verdict !== 'met') break;
    lastMet = rate;
    rate = Math.round(rate * factor);
  }
  // Confirm by a step down: the last met rate must hold again; if not, keep stepping down.
  let atMax: StepReport | null = null;
  let candidate = lastMet ?? Math.round(o.rate / factor);
  for (let i = 0; i < 3 && !o.signal?.aborted && candidate >= 1; i++) {
    const r = await step(candidate);
    if (r.verdict === 'met') {
      atMax = r;
      break;
    }
    candidate = Math.round(candidate / factor);
  }
  return {
    steps,
    maxSustainedRate: atMax ? atMax.target.rate : null,
    confirmed: atMax !== null,
    atMax,
    verdict: atMax ? 'met' : 'missed',
  };
}
