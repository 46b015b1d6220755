/**
 * Circuit breaker shared by all requests of one sink. Closed: requests flow. After `failures`
 * consecutive failed requests it opens: nobody sends for `cooldownMs` (a down server is not
 * hammered by every in-flight retry). Then half-open: exactly one probe goes through; its success
 * closes the breaker, its failure reopens it for another cooldown.
 */
export type BreakerState = 'closed' | 'open' | 'half-open';

export class CircuitBreaker {
  state: BreakerState = 'closed';
  /** Times the breaker opened (run summary). */
  opens = 0;
  private consecutive = 0;
  private openedAt = 0;
  private waiters: Array<() => void> = [];

  constructor(
    private readonly failures: number,
    private readonly cooldownMs: number,
    private readonly now: () => number = Date.now,
    private readonly onChange?: (state: BreakerState) => void,
  ) {}

  /**
   * Wait until this caller may send. Resolves true when admitted, false when `deadlineMs` (epoch
   * ms) passes first or `signal` aborts.
   */
  async admit(deadlineMs: number, signal?: AbortSignal): Promise<boolean> {
    for (;;) {
      if (signal?.aborted) return false;
      if (this.state === 'closed') return true;
      const now = this.now();
      let changed: boolean;
      if (this.state === 'open') {
        const wait = this.openedAt + this.cooldownMs - now;
        if (wait <= 0) {
          this.set('half-open'); // this caller is the probe
          return true;
        }
        if (now + wait <= deadlineMs) {
          await this.changeOrTimeout(wait, signal);
          continue;
        }
        // the cooldown outlasts our deadline: wait for a state change until the deadline only
        if (deadlineMs <= now) return false;
        changed = await this.changeOrTimeout(deadlineMs - now, signal);
      } else {
        // half-open: a probe is out; wait for its verdict (or our deadline)
        if (deadlineMs <= now) return false;
        changed = await this.changeOrTimeout(deadlineMs - now, signal);
      }
      if (!changed) return false;
    }
  }

  success(): void {
    this.consecutive = 0;
    if (this.state !== 'closed') this.set('closed');
  }

  failure(): void {
    this.consecutive++;
    if (this.state === 'half-open' || (this.state === 'closed' && this.consecutive >= this.failures)) {
      this.openedAt = this.now();
      this.opens++;
      this.set('open');
    }
  }

  private set(s: BreakerState): void {
    this.state = s;
    this.onChange?.(s);
    const w = this.waiters;
    this.waiters = [];
    for (const fn of w) fn();
  }

  /** Resolves true on a state change, false on timeout or abort. */
  private changeOrTimeout(ms: number, signal?: AbortSignal): Promise<boolean> {
    return new Promise((resolve) => {
      const finish = (changed: boolean): void => {
        clearTimeout(t);
        signal?.removeEventListener('abort', onAbort);
        resolve(changed);
      };
      const onAbort = (): void => finish(false);
      // setTimeout caps at 2^31-1 ms (Infinity would fire at once): a capped wait just loops again
      const capped = Math.min(Math.max(1, ms), 2_000_000_000);
      const t = setTimeout(() => finish(capped < ms), capped);
      this.waiters.push(() => finish(true));
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
