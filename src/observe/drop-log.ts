/**
 * Per-series drop logging (main thread). Workers report, per batch, the first few series that had
 * rows dropped for each reason (ProcessResult.dropSeries, bounded per batch); this logs each
 * (reason, series) once per run at warn, naming the series, with at most `linesPerReason` lines per
 * reason. Series beyond that are counted (a lower bound when a worker's per-batch list was capped)
 * and summarised once at the end of the run. Per series,
 * never per sample; memory is bounded by `trackPerReason` remembered series per reason.
 */
import type { Logger } from 'pino';

export interface DropLogOptions {
  /** Warn lines per reason per run (default 20). */
  linesPerReason?: number;
  /** Distinct series remembered per reason, for once-per-series and the summary count (default 10 000). */
  trackPerReason?: number;
}

interface ReasonState {
  seen: Set<string>;
  logged: number;
  suppressed: number;
  /** Some series were not reported or not remembered: the summary count is a lower bound. */
  saturated: boolean;
}

export class DropLog {
  private readonly reasons = new Map<string, ReasonState>();
  private readonly lines: number;
  private readonly track: number;

  /** `logger` is the pipeline's (it already names the pipeline). */
  constructor(
    private readonly logger: Logger,
    opts: DropLogOptions = {},
  ) {
    this.lines = opts.linesPerReason ?? 20;
    this.track = opts.trackPerReason ?? 10_000;
  }

  /** Record one batch's (reason → series keys). */
  observe(dropSeries: Readonly<Record<string, readonly string[]>> | undefined, chunkId: string, capped: readonly string[] = []): void {
    if (!dropSeries) return;
    for (const [reason, keys] of Object.entries(dropSeries)) {
      let st = this.reasons.get(reason);
      if (!st) {
        st = { seen: new Set(), logged: 0, suppressed: 0, saturated: false };
        this.reasons.set(reason, st);
      }
      // The worker reported only the first few series of this batch: counts become lower bounds.
      if (capped.includes(reason)) st.saturated = true;
      for (const series of keys) {
        if (st.seen.has(series)) continue;
        if (st.seen.size >= this.track) {
          st.saturated = true;
          continue;
        }
        st.seen.add(series);
        if (st.logged < this.lines) {
          st.logged++;
          this.logger.warn({ reason, series, chunk: chunkId }, `samples dropped (${reason}) in series ${series}`);
          if (st.logged === this.lines) {
            this.logger.warn({ reason, limit: this.lines }, `drop reason ${reason}: ${this.lines} series logged; further series are counted and summarised at the end of the run`);
          }
        } else st.suppressed++;
      }
    }
  }

  /** Distinct series seen per reason (a lower bound once more than trackPerReason were seen). */
  seriesCounts(): Record<string, number> {
    return Object.fromEntries([...this.reasons].map(([r, st]) => [r, st.seen.size]));
  }

  /** One summary line per reason whose series were not all logged. */
  finish(): void {
    for (const [reason, st] of this.reasons) {
      if (st.suppressed === 0 && !st.saturated) continue;
      this.logger.warn(
        { reason, loggedSeries: st.logged, unloggedSeries: st.suppressed, atLeast: st.saturated },
        `drop reason ${reason}: ${st.saturated ? 'at least ' : ''}${st.suppressed} more series had samples dropped (not logged one by one; the summary's dropped.${reason} has the sample count)`,
      );
    }
  }
}
