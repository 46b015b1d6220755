/**
 * What a load-test step measures, per request (never per point): its intended time, when it was
 * answered, its points, how it ended. Latency goes into an HDR histogram (hdr-histogram-js, µs,
 * 3 significant digits) and, live, into prom-client metrics on /metrics.
 */
import { build, type Histogram as HdrHistogram } from 'hdr-histogram-js';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface LoadtestMetrics {
  targetRate: Gauge;
  pointsDue: Counter;
  pointsSent: Counter;
  pointsWritten: Counter;
  pointsFailed: Counter;
  backlog: Gauge;
  latency: Histogram;
  step: Gauge;
}

function getOrCreate<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

/** The load test's own series (docs: README "Benchmark your InfluxDB"), next to the sink's promflux_load_*. */
export function createLoadtestMetrics(registry: Registry): LoadtestMetrics {
  const registers = [registry];
  return {
    targetRate: getOrCreate(registry, 'promflux_loadtest_target_rate', () =>
      new Gauge({ name: 'promflux_loadtest_target_rate', help: 'Target rate of the running load-test step, points per second', registers })),
    pointsDue: getOrCreate(registry, 'promflux_loadtest_points_due_total', () =>
      new Counter({ name: 'promflux_loadtest_points_due_total', help: 'Points the open-loop schedule has made due', registers })),
    pointsSent: getOrCreate(registry, 'promflux_loadtest_points_sent_total', () =>
      new Counter({ name: 'promflux_loadtest_points_sent_total', help: 'Points handed to the sink (sent)', registers })),
    pointsWritten: getOrCreate(registry, 'promflux_loadtest_points_written_total', () =>
      new Counter({ name: 'promflux_loadtest_points_written_total', help: 'Points the target acknowledged', registers })),
    pointsFailed: getOrCreate(registry, 'promflux_loadtest_points_failed_total', () =>
      new Counter({ name: 'promflux_loadtest_points_failed_total', help: 'Points of writes that failed for good (dead-lettered or errored)', registers })),
    backlog: getOrCreate(registry, 'promflux_loadtest_backlog_points', () =>
      new Gauge({ name: 'promflux_loadtest_backlog_points', help: 'Points due but not yet sent (the sender is behind its schedule)', registers })),
    latency: getOrCreate(registry, 'promflux_loadtest_write_latency_seconds', () =>
      new Histogram({
        name: 'promflux_loadtest_write_latency_seconds',
        help: 'Write latency measured from the intended send time (open loop, no coordinated omission), seconds',
        buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
        registers,
      })),
    step: getOrCreate(registry, 'promflux_loadtest_step', () =>
      new Gauge({ name: 'promflux_loadtest_step', help: 'Index of the running step (find-max), 0 for a single run', registers })),
  };
}

export interface TimelineBucket {
  /** Start of the bucket, seconds into the step. */
  t: number;
  targetRate: number;
  /** Points acknowledged in the bucket ÷ its width. */
  achievedRate: number;
  /** p99 / max latency of the requests answered in the bucket, ms (null when none). */
  p99Ms: number | null;
  maxMs: number | null;
}

export class Recorder {
  readonly hdr: HdrHistogram = build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });
  /** Per request: intended ms, done ms (into the step), points, ok flag. Per request, not per point. */
  private readonly reqs: Array<[number, number, number, boolean]> = [];
  censored = 0;

  constructor(private readonly metrics: LoadtestMetrics | undefined) {}

  /** A request answered (ok = its points are written). Latency from the intended time. */
  record(intendedMs: number, doneMs: number, points: number, ok: boolean): void {
    const lat = Math.max(0, doneMs - intendedMs);
    this.hdr.recordValue(Math.max(1, Math.round(lat * 1000)));
    this.reqs.push([intendedMs, doneMs, points, ok]);
    this.metrics?.latency.observe(lat / 1000);
  }

  /**
   * A request that was due but never sent before the step ended: its latency is at least
   * `endMs − intended`, and it goes into the histogram with that lower bound (so a sender that fell
   * behind cannot hide it). Its points count as unsent, not as sent.
   */
  recordUnsent(intendedMs: number, endMs: number): void {
    this.censored++;
    this.hdr.recordValue(Math.max(1, Math.round(Math.max(0, endMs - intendedMs) * 1000)));
  }

  get requests(): number {
    return this.reqs.length;
  }

  percentilesMs(): { p50: number; p90: number; p99: number; 'p99.9': number; max: number; mean: number; count: number } {
    const h = this.hdr;
    // percentiles are the highest value equivalent to their bucket: never report one above the max
    const ms = (us: number): number => Math.round(Math.min(us, h.maxValue)) / 1000;
    if (h.totalCount === 0) return { p50: 0, p90: 0, p99: 0, 'p99.9': 0, max: 0, mean: 0, count: 0 };
    return {
      p50: ms(h.getValueAtPercentile(50)),
      p90: ms(h.getValueAtPercentile(90)),
      p99: ms(h.getValueAtPercentile(99)),
      'p99.9': ms(h.getValueAtPercentile(99.9)),
      max: ms(h.maxValue),
      mean: Math.round(h.mean) / 1000,
      count: h.totalCount,
    };
  }

  /**
   * Achieved rate: points acknowledged after the first acknowledgement ÷ the time from the first
   * to the last acknowledgement. A target that keeps up with a steady latency acknowledges on the
   * same spacing as the schedule, so this equals the target rate; one that falls behind stretches
   * the span (and leaves points unsent), so it comes out lower.
   */
  achievedRate(): { rate: number; firstAckMs: number; lastAckMs: number } {
    const ok = this.reqs.filter((r) => r[3]);
    if (ok.length < 2) return { rate: 0, firstAckMs: ok[0]?.[1] ?? 0, lastAckMs: ok[0]?.[1] ?? 0 };
    let first = ok[0]!;
    let last = ok[0]!;
    let pts = 0;
    for (const r of ok) {
      pts += r[2];
      if (r[1] < first[1]) first = r;
      if (r[1] > last[1]) last = r;
    }
    const span = last[1] - first[1];
    return { rate: span > 0 ? ((pts - first[2]) * 1000) / span : 0, firstAckMs: first[1], lastAckMs: last[1] };
  }

  /** Target rate over the same kind of span: points after the first request ÷ first-to-last intended time. */
  static targetOver(intended: Array<[number, number]>): number {
    if (intended.length < 2) return 0;
    const [t0, n0] = intended[0]!;
    const [t1] = intended[intended.length - 1]!;
    let pts = 0;
    for (const [, n] of intended) pts += n;
    return t1 > t0 ? ((pts - n0) * 1000) / (t1 - t0) : 0;
  }

  timeline(bucketMs: number, targetAt: (tMs: number) => number, endMs: number): TimelineBucket[] {
    const n = Math.max(1, Math.ceil(endMs / bucketMs));
    const pts = new Float64Array(n);
    const lats: number[][] = Array.from({ length: n }, () => []);
    for (const [intended, done, p, ok] of this.reqs) {
      const b = Math.min(n - 1, Math.floor(done / bucketMs));
      if (ok) pts[b]! += p;
      lats[b]!.push(done - intended);
    }
    const out: TimelineBucket[] = [];
    for (let b = 0; b < n; b++) {
      const l = lats[b]!.sort((x, y) => x - y);
      out.push({
        t: (b * bucketMs) / 1000,
        targetRate: Math.round(targetAt(b * bucketMs + bucketMs / 2)),
        achievedRate: Math.round((pts[b]! * 1000) / bucketMs),
        p99Ms: l.length ? round3(l[Math.min(l.length - 1, Math.ceil(l.length * 0.99) - 1)]!) : null,
        maxMs: l.length ? round3(l[l.length - 1]!) : null,
      });
    }
    return out;
  }
}

const round3 = (v: number): number => Math.round(v * 1000) / 1000;
