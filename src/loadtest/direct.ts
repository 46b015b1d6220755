/**
 * One open-loop step of line protocol straight to the InfluxDB sink's delivery layer
 * (src/load/influx/: retries, 413 splits, dead letters, circuit breaker — the same code a pipeline
 * writes through).
 *
 * The sender wakes on the schedule, cuts every request that is due and hands it to the sink without
 * waiting for earlier answers (open loop). Only memory bounds it: at most `maxInFlight` requests are
 * outstanding; when that many are, due requests wait, keep their intended time, and are sent as
 * soon as a slot frees — their latency includes the wait. Requests still unsent when the step ends
 * are recorded with their latency so far (a lower bound) and their points counted as unsent.
 */
import { cpus, loadavg } from 'node:os';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { PromfluxError } from '../errors.js';
import type { InfluxSinkConfig } from '../load/influx/config.js';
import { createInfluxSink } from '../load/influx/sink.js';
import { LineGenerator } from './generator.js';
import { Recorder, type LoadtestMetrics } from './recorder.js';
import { Schedule, type ScheduleSpec } from './schedule.js';
import type { LoadShape } from './spec.js';

export interface StepOptions {
  schedule: ScheduleSpec;
  shape: LoadShape;
  sink: InfluxSinkConfig;
  /** Points per write request. */
  batchLines: number;
  /** Requests outstanding at most (the memory bound). */
  maxInFlight: number;
  /** First timestamp of the generated points (epoch ms); find-max steps chain them so their ranges never overlap. */
  timestampStartMs: number;
  logger: Logger;
  registry?: Registry;
  metrics?: LoadtestMetrics;
  signal?: AbortSignal;
}

export interface StepRaw {
  schedule: Schedule;
  recorder: Recorder;
  /** [intended ms, points] of every request cut from the schedule (sent or not). */
  intended: Array<[number, number]>;
  points: { target: number; sent: number; written: number; deadLettered: Record<string, number>; failed: number; unsent: number };
  errorsByCode: Record<string, number>;
  firstError?: string;
  sinkStats: Record<string, unknown>;
  /** Wall time of the step: schedule start to the last answer, ms. */
  elapsedMs: number;
  cpu: { userMs: number; systemMs: number };
  machine: { cpus: number; loadavg1: number };
  range: { startMs: number; endMs: number };
  spreadMs: number;
  cardinalities: number[];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function runLinesStep(o: StepOptions): Promise<StepRaw> {
  const schedule = new Schedule(o.schedule);
  const total = schedule.total;
  const gen = new LineGenerator(o.shape, total, o.timestampStartMs, o.sink.precision);
  // One request = one write: the sink must not split it further.
  const sinkCfg: InfluxSinkConfig = { ...o.sink, batchLines: Math.max(o.sink.batchLines, o.batchLines), batchBytes: Math.max(o.sink.batchBytes, gen.maxBytes(o.batchLines)) };
  const sink = createInfluxSink(sinkCfg, { logger: o.logger, ...(o.registry ? { metrics: o.registry } : {}) });
  await sink.open();
  const rec = new Recorder(o.metrics);
  const m = o.metrics;
  m?.targetRate.set(o.schedule.rate);
  const intended: Array<[number, number]> = [];
  const points = { target: total, sent: 0, written: 0, deadLettered: {} as Record<string, number>, failed: 0, unsent: 0 };
  const errorsByCode: Record<string, number> = {};
  let firstError: string | undefined;
  let fatal = false;
  let outstanding = 0;
  let wake: (() => void) | null = null;
  const inflight = new Set<Promise<void>>();
  let batchId = 0;
  let dueCounted = 0;

  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const now = (): number => performance.now() - t0;

  const send = (from: number, to: number, at: number): void => {
    const buf = new Uint8Array(gen.maxBytes(to - from));
    const len = gen.write(from, to, buf);
    const lines = to - from;
    points.sent += lines;
    m?.pointsSent.inc(lines);
    outstanding++;
    const id = batchId++;
    const p = sink
      .write({ batchId: id, chunkId: `loadtest:${from}-${to}`, lp: buf.subarray(0, len), lines, columns: null, seriesKeys: [] })
      .then(
        (r) => {
          const dead = r.deadLettered ? Object.values(r.deadLettered).reduce((a, b) => a + b, 0) : 0;
          points.written += r.written;
          for (const [k, v] of Object.entries(r.deadLettered ?? {})) points.deadLettered[k] = (points.deadLettered[k] ?? 0) + v;
          m?.pointsWritten.inc(r.written);
          if (dead) m?.pointsFailed.inc(dead);
          rec.record(at, now(), r.written, dead === 0);
        },
        (err: unknown) => {
          const code = err instanceof PromfluxError ? err.code : 'PROMFLUX_RUN_FAILED';
          errorsByCode[code] = (errorsByCode[code] ?? 0) + 1;
          firstError ??= (err as Error).message;
          points.failed += lines;
          m?.pointsFailed.inc(lines);
          rec.record(at, now(), 0, false);
          // auth, 404, outage past the budget: every later write would fail the same way
          fatal = true;
        },
      )
      .finally(() => {
        outstanding--;
        inflight.delete(p);
        wake?.();
      });
    inflight.add(p);
  };

  let issued = 0;
  const B = Math.max(1, o.batchLines);
  const D = o.schedule.durationMs;
  for (;;) {
    if (o.signal?.aborted || fatal) break;
    const t = now();
    const due = t >= D ? total : Math.floor(schedule.due(t));
    if (due > dueCounted) {
      m?.pointsDue.inc(due - dueCounted);
      dueCounted = due;
    }
    while (outstanding < o.maxInFlight && issued < total) {
      const end = Math.min(issued + B, total);
      if (end > due) break;
      const at = schedule.timeOf(end);
      intended.push([at, end - issued]);
      send(issued, end, at);
      issued = end;
    }
    m?.backlog.set(Math.max(0, due - issued));
    if (issued >= total || t >= D) break;
    const nextAt = schedule.timeOf(Math.min(issued + B, total));
    const waitMs = outstanding >= o.maxInFlight ? 50 : Math.max(0, Math.min(50, nextAt - now()));
    await Promise.race([sleep(waitMs), new Promise<void>((r) => (wake = r))]);
    wake = null;
  }
  // Due but never sent: lower-bound latencies, counted as unsent.
  await Promise.allSettled([...inflight]);
  const end = now();
  while (issued < total && !fatal && !o.signal?.aborted) {
    const stop = Math.min(issued + B, total);
    const at = schedule.timeOf(stop);
    if (at > end) break;
    intended.push([at, stop - issued]);
    rec.recordUnsent(at, end);
    issued = stop;
  }
  points.unsent = total - points.sent;
  m?.backlog.set(0);
  const cpu = process.cpuUsage(cpu0);
  const sinkStats = sink.stats();
  await sink.close();
  return {
    schedule,
    recorder: rec,
    intended,
    points,
    errorsByCode,
    ...(firstError ? { firstError } : {}),
    sinkStats,
    elapsedMs: end,
    cpu: { userMs: cpu.user / 1000, systemMs: cpu.system / 1000 },
    machine: { cpus: cpus().length, loadavg1: loadavg()[0]! },
    range: { startMs: gen.plan.startMs, endMs: gen.plan.endMs },
    spreadMs: gen.plan.spreadMs,
    cardinalities: gen.cardinalities,
  };
}
