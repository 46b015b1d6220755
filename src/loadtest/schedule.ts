/**
 * The open-loop schedule: how many points are due at each moment of a run. The rate climbs
 * linearly from `fromRate` to `rate` over `rampMs`, then holds until `durationMs`. Requests are cut
 * from this schedule; a request's *intended* time is the moment its last point became due, and
 * latency is measured from there, whatever the sender or the server did in between (no
 * coordinated omission).
 */
export interface ScheduleSpec {
  rate: number;
  durationMs: number;
  rampMs: number;
  fromRate: number;
}

export class Schedule {
  readonly total: number;
  private readonly rampPoints: number;

  constructor(readonly spec: ScheduleSpec) {
    const ramp = Math.min(spec.rampMs, spec.durationMs);
    this.rampPoints = ((spec.fromRate + spec.rate) / 2) * (ramp / 1000);
    this.total = Math.floor(this.due(spec.durationMs));
  }

  /** Target rate (points/s) at `t` ms into the run. */
  rateAt(t: number): number {
    const { rampMs, fromRate, rate } = this.spec;
    if (t >= rampMs || rampMs <= 0) return rate;
    return fromRate + ((rate - fromRate) * Math.max(0, t)) / rampMs;
  }

  /** Points due by `t` ms into the run (fractional). */
  due(t: number): number {
    const { rampMs, fromRate, rate, durationMs } = this.spec;
    const tt = Math.min(Math.max(0, t), durationMs);
    if (rampMs > 0 && tt < rampMs) {
      const s = tt / 1000;
      return fromRate * s + ((rate - fromRate) * s * s) / (2 * (rampMs / 1000));
    }
    return this.rampPoints + (rate * (tt - Math.min(rampMs, durationMs))) / 1000;
  }

  /** The moment (ms into the run) by which `n` points are due: the inverse of due(). */
  timeOf(n: number): number {
    const { rampMs, fromRate, rate } = this.spec;
    if (n <= 0) return 0;
    if (rampMs > 0 && n < this.rampPoints) {
      const a = (rate - fromRate) / (2 * (rampMs / 1000));
      if (a === 0) return (n / fromRate) * 1000;
      // a·s² + fromRate·s − n = 0
      const s = (-fromRate + Math.sqrt(fromRate * fromRate + 4 * a * n)) / (2 * a);
      return s * 1000;
    }
    return Math.min(rampMs, this.spec.durationMs) + ((n - this.rampPoints) / rate) * 1000;
  }
}
