/**
 * `promflux loadtest`: one open-loop step, or `findMax` — step the rate up until the SLO breaks,
 * confirm by stepping down, and report the highest sustained rate with its latency profile.
 * Each step reads its points back (verifyInflux over the step's own timestamp range; steps never
 * overlap) unless `verify` is off.
 */
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { InfluxSinkConfig } from '../load/influx/config.js';
import { verifyInflux } from '../load/influx/verify.js';
import { runLinesStep } from './direct.js';
import { createLoadtestMetrics } from './recorder.js';
import { buildStepReport, type StepReport, type VerifiedPoints } from './report.js';
import { checkShape, formatRate, type LoadShape, type SloTerm } from './spec.js';

export interface LoadtestOptions {
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

export async function runLoadtestStep(o: LoadtestOptions, rate: number, tsStartMs: number, index = 0): Promise<StepReport> {
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
  if (!o.findMax) {
    const r = await runLoadtestStep(o, o.rate, Date.now());
    o.onStep?.(r, 0);
    return r;
  }
  const { factor, maxSteps } = o.findMax;
  const steps: StepReport[] = [];
  const step = async (rate: number): Promise<StepReport> => {
    const r = await runLoadtestStep(o, rate, nextStart(steps[steps.length - 1]), steps.length);
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
