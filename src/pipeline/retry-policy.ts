/**
 * What to do with a failed batch attempt: retry, skip (count its samples as dropped) or fail the
 * run. A policy object, as undici's retry handler, so the dispatcher asks instead of branching
 * inline. It also keeps the error-rate window (`engine.maxErrorRate`).
 */
import { PromfluxError } from '../errors.js';
import type { TaskError } from '../pool/task.js';

/** A failed attempt: the worker itself died or threw (`worker`), or the task reported an error. */
export type AttemptFailure = { kind: 'worker' } | { kind: 'task'; error: TaskError };

export type RetryDecision =
  /** `refetch`: fetch the chunk again first (re-decoding the same bytes fails the same way). */
  | { action: 'retry'; refetch: boolean }
  | { action: 'skip' }
  | { action: 'fail' };

export interface RetryPolicyOptions {
  /** engine.onError. */
  onError: 'fail' | 'skip' | 'retry';
  /** engine.retries: retries per batch after its first attempt. */
  retries: number;
  /** engine.maxErrorRate: fail when more than `ratio` of the last `window` attempts failed. */
  maxErrorRate?: { ratio: number; window: number };
}

export class RetryPolicy {
  /** Outcome of recent attempts (1 = failed), for the error-rate threshold. */
  private readonly recent: number[] = [];

  constructor(private readonly opts: RetryPolicyOptions) {}

  /**
   * `attempt`: retries already made for this batch; `failing`: the run is already failing (no
   * more retries then). A dead worker is retried on a fresh one whatever `onError` says; a task
   * error follows `onError`.
   */
  decide(failure: AttemptFailure, attempt: number, failing: boolean): RetryDecision {
    const canRetry = attempt < this.opts.retries && !failing;
    if (failure.kind === 'worker') return canRetry ? { action: 'retry', refetch: false } : { action: 'fail' };
    if (this.opts.onError === 'retry' && canRetry) return { action: 'retry', refetch: failure.error.stage === 'fill' };
    return this.opts.onError === 'skip' ? { action: 'skip' } : { action: 'fail' };
  }

  /** Record an attempt's outcome; returns the error that fails the run when the error rate is exceeded. */
  outcome(failed: boolean): PromfluxError | undefined {
    const m = this.opts.maxErrorRate;
    if (!m) return undefined;
    this.recent.push(failed ? 1 : 0);
    if (this.recent.length > m.window) this.recent.shift();
    const errors = this.recent.reduce((a, b) => a + b, 0);
    if (this.recent.length < m.window || errors / this.recent.length <= m.ratio) return undefined;
    return new PromfluxError(
      'PROMFLUX_ERROR_RATE',
      `${errors} of the last ${this.recent.length} batch attempts failed (${((100 * errors) / this.recent.length).toFixed(0)}% > engine.maxErrorRate.ratio ${(m.ratio * 100).toFixed(0)}%); see the errors logged above`,
    );
  }
}
