/**
 * Stopping a run. A graceful stop (SIGTERM/SIGINT, `serve` shutting down) is told apart from any
 * other abort by the abort reason: the run then ends with status `stopped`, and `aborted` stays for
 * a real abort (the library caller's signal, a timeout).
 *
 * Either way the run stops taking chunks and gives the batches already handed out until
 * `engine.stopTimeoutMs` to be acknowledged by the sink (`StopDeadline`). Past it, or at once on
 * `now()` (a second signal), the in-flight work is cancelled: the sink aborts its HTTP requests and
 * retry waits, the dispatcher stops waiting for workers, and what was not acknowledged stays out of
 * the checkpoint, for the resumed run to write (docs/OPERATIONS.md, "Stopping").
 */
import type { Logger } from 'pino';

export class StopRequested extends Error {
  constructor(readonly signalName: string) {
    super(`stop requested (${signalName})`);
    this.name = 'StopRequested';
  }
}

export function isStopRequest(reason: unknown): reason is StopRequested {
  return reason instanceof StopRequested;
}

/** How the in-flight work of a stopped run ended. */
export type StopEnding = 'drained' | 'deadline' | 'immediate';

/**
 * The deadline of one run's stop: armed when the run's signal aborts, it aborts `cancel` after
 * `timeoutMs` (or at once on `now()`), and calls `onCancel` once (the sink's cancel).
 */
export class StopDeadline {
  private readonly ctl = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private requestedAt: number | undefined;
  private how: StopEnding = 'drained';
  private disposed = false;

  constructor(
    private readonly signal: AbortSignal,
    readonly timeoutMs: number,
    private readonly log: Logger,
    private readonly onCancel: () => void,
  ) {
    if (signal.aborted) this.arm();
    else signal.addEventListener('abort', () => this.arm(), { once: true });
  }

  /** Aborted when the in-flight work is to be abandoned. */
  get cancel(): AbortSignal {
    return this.ctl.signal;
  }

  /** `drained` unless the deadline or `now()` cancelled work. */
  get ending(): StopEnding {
    return this.how;
  }

  /** ms since the stop was requested (0 when it was not). */
  elapsedMs(): number {
    return this.requestedAt === undefined ? 0 : performance.now() - this.requestedAt;
  }

  /** Cancel the in-flight work now (a second signal); the checkpoint is still written after. */
  now(why: string): void {
    if (this.disposed || this.ctl.signal.aborted) return;
    this.requestedAt ??= performance.now();
    this.fire('immediate', `${why}: cancelling in-flight batches now; what the sink has not acknowledged stays unwritten in the checkpoint`);
  }

  /** The dispatch is over: no cancel after this. */
  dispose(): void {
    this.disposed = true;
    clearTimeout(this.timer);
  }

  private arm(): void {
    if (this.disposed || this.timer) return;
    this.requestedAt ??= performance.now();
    this.timer = setTimeout(
      () => this.fire('deadline', `stop deadline passed (engine.stopTimeoutMs=${this.timeoutMs} ms): cancelling in-flight batches; what the sink has not acknowledged stays unwritten in the checkpoint`),
      this.timeoutMs,
    );
  }

  private fire(how: StopEnding, msg: string): void {
    if (this.disposed || this.ctl.signal.aborted) return;
    this.how = how;
    clearTimeout(this.timer);
    this.log.warn({ stopTimeoutMs: this.timeoutMs, afterMs: Math.round(this.elapsedMs()) }, msg);
    this.ctl.abort();
    try {
      this.onCancel();
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'sink cancel failed');
    }
  }
}
