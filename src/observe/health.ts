/**
 * Health thresholds: error rate, throughput floor and memory, evaluated every `interval` over a
 * sliding `window` of the run's cumulative counters (never per sample). Crossing a threshold logs
 * one warning; coming back logs one info line, so a sustained problem is not a log flood. The
 * current verdict per check is exported as `promflux_health_ok{pipeline,check}` (1 ok, 0 breached)
 * and counted in `promflux_health_warnings_total{pipeline,check}`.
 */
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import { z } from 'zod';
import { parseDuration } from '../util/duration.js';
import { durationSchema } from '../util/duration-schema.js';

export const healthSchema = z
  .object({
    /** Warn when failed batch attempts / all attempts over the window exceed this (0..1). */
    maxErrorRate: z.number().min(0).max(1).default(0.1),
    /** Attempts the window must hold before the error rate is judged. */
    minAttempts: z.number().int().min(1).default(10),
    /** Warn when samples/s over the window fall below this (0 = off). */
    minSamplesPerSec: z.number().min(0).default(0),
    /** Warn when RSS exceeds this many MiB (default: engine.memoryBudgetMb). */
    maxRssMb: z.number().positive().optional(),
    window: durationSchema('health.window').default('60s'),
    interval: durationSchema('health.interval').default('5s'),
  })
  .strict();

export type HealthConfig = z.output<typeof healthSchema>;
export type HealthCheck = 'error_rate' | 'throughput' | 'memory';

/** Cumulative counters of a run, read at each tick. */
export interface HealthCounters {
  samplesIn: number;
  /** Batch attempts that succeeded. */
  batches: number;
  /** Batch attempts that failed (retried or skipped or fatal). */
  errors: number;
}

export interface Breach {
  check: HealthCheck;
  value: number;
  threshold: number;
}

export interface HealthStatus {
  ok: boolean;
  breaches: Breach[];
}

interface Snapshot extends HealthCounters {
  t: number;
}

export interface HealthMonitorOptions {
  pipeline: string;
  logger: Logger;
  read: () => HealthCounters;
  registry?: Registry;
  /** Default for maxRssMb. */
  memoryBudgetMb?: number;
  now?: () => number;
  rss?: () => number;
}

export class HealthMonitor {
  private readonly cfg: HealthConfig;
  private readonly windowMs: number;
  private readonly intervalMs: number;
  private readonly maxRssBytes: number | undefined;
  private readonly now: () => number;
  private readonly rss: () => number;
  private readonly snaps: Snapshot[] = [];
  private readonly startedAt: number;
  private readonly breached = new Map<HealthCheck, Breach>();
  private timer: NodeJS.Timeout | undefined;
  private readonly okGauge: Gauge<'pipeline' | 'check'> | undefined;
  private readonly warnings: Counter<'pipeline' | 'check'> | undefined;

  constructor(cfg: Partial<HealthConfig> | undefined, private readonly o: HealthMonitorOptions) {
    this.cfg = healthSchema.parse(cfg ?? {});
    this.windowMs = parseDuration(this.cfg.window, 'health.window');
    this.intervalMs = parseDuration(this.cfg.interval, 'health.interval');
    const rssMb = this.cfg.maxRssMb ?? o.memoryBudgetMb;
    this.maxRssBytes = rssMb !== undefined ? rssMb * 1024 * 1024 : undefined;
    this.now = o.now ?? Date.now;
    this.rss = o.rss ?? (() => process.memoryUsage.rss());
    this.startedAt = this.now();
    this.snaps.push({ t: this.startedAt, ...o.read() });
    if (o.registry) {
      // serve shares one registry between pipelines and runs: reuse the metric once registered.
      const reg = o.registry;
      this.okGauge =
        (reg.getSingleMetric('promflux_health_ok') as Gauge<'pipeline' | 'check'> | undefined) ??
        new Gauge({ name: 'promflux_health_ok', help: 'Health checks (1 ok, 0 threshold breached)', labelNames: ['pipeline', 'check'], registers: [reg] });
      this.warnings =
        (reg.getSingleMetric('promflux_health_warnings_total') as Counter<'pipeline' | 'check'> | undefined) ??
        new Counter({ name: 'promflux_health_warnings_total', help: 'Health threshold breaches (warnings logged)', labelNames: ['pipeline', 'check'], registers: [reg] });
    }
  }

  /** Tick every `interval` until stop() (the timer never keeps the process alive). */
  start(): this {
    this.timer ??= setInterval(() => this.check(), this.intervalMs);
    this.timer.unref();
    return this;
  }

  /** Stop ticking, after a last verdict (a run shorter than `interval` is judged once). */
  stop(): void {
    if (!this.timer) return;
    clearInterval(this.timer);
    this.timer = undefined;
    this.check();
  }

  get status(): HealthStatus {
    return { ok: this.breached.size === 0, breaches: [...this.breached.values()] };
  }

  /** Take a snapshot and judge the window; logs transitions. Called by the timer (or tests). */
  check(): HealthStatus {
    const now = this.now();
    const cur: Snapshot = { t: now, ...this.o.read() };
    this.snaps.push(cur);
    // Keep the newest snapshot at least `window` old as the window's base.
    while (this.snaps.length > 2 && this.snaps[1]!.t <= now - this.windowMs) this.snaps.shift();
    const base = this.snaps[0]!;
    const spanS = (now - base.t) / 1000;
    const windowFull = now - this.startedAt >= this.windowMs;

    const attempts = cur.batches - base.batches + (cur.errors - base.errors);
    const errorRate = attempts > 0 ? (cur.errors - base.errors) / attempts : 0;
    this.judge('error_rate', attempts >= this.cfg.minAttempts ? errorRate > this.cfg.maxErrorRate : undefined, errorRate, this.cfg.maxErrorRate, () =>
      `health: error rate ${(100 * errorRate).toFixed(1)}% of batch attempts over the last ${spanS.toFixed(0)} s is above ${(100 * this.cfg.maxErrorRate).toFixed(1)}%; see promflux_errors_total by stage and code`,
    );
    const rate = spanS > 0 ? (cur.samplesIn - base.samplesIn) / spanS : 0;
    const floor = this.cfg.minSamplesPerSec;
    this.judge('throughput', floor > 0 && windowFull ? rate < floor : floor > 0 ? undefined : false, rate, floor, () =>
      `health: throughput ${Math.round(rate).toLocaleString('en-US')} samples/s over the last ${spanS.toFixed(0)} s is below the floor of ${floor.toLocaleString('en-US')}; the source or the sink may be slow (check promflux_inflight_batches and the sink's retries)`,
    );
    const rss = this.rss();
    const max = this.maxRssBytes;
    this.judge('memory', max !== undefined && rss > max, rss, max ?? 0, () =>
      `health: RSS ${(rss / 1048576).toFixed(0)} MiB is above ${((max ?? 0) / 1048576).toFixed(0)} MiB; lower engine.maxInFlight or engine.memoryBudgetMb`,
    );
    return this.status;
  }

  /** `bad` undefined = not enough data to judge: the previous verdict stands. */
  private judge(check: HealthCheck, bad: boolean | undefined, value: number, threshold: number, message: () => string): void {
    const pipeline = this.o.pipeline;
    const was = this.breached.has(check);
    if (bad === undefined) return;
    if (bad) {
      this.breached.set(check, { check, value, threshold });
      if (!was) {
        this.o.logger.warn({ check, value, threshold }, message());
        this.warnings?.inc({ pipeline, check });
      }
    } else if (was) {
      this.breached.delete(check);
      this.o.logger.info({ check, value, threshold }, `health: ${check.replace('_', ' ')} back within its threshold`);
    }
    this.okGauge?.set({ pipeline, check }, bad ? 0 : 1);
  }
}
