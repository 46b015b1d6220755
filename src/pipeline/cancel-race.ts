/**
 * Waiting on a promise unless a stop's cancel signal fires first (src/pipeline/stop.ts). One abort
 * listener for the whole dispatch instead of one per wait: the dispatcher waits three times per
 * batch (source, worker, sink), and adding and removing a listener each time was measurable main-
 * thread work per batch (issue #18), and with many batches in flight tripped Node's
 * MaxListenersExceededWarning on the signal.
 */
export class CancelRace {
  private readonly waiting = new Set<() => void>();

  constructor(private readonly cancel: AbortSignal | undefined) {
    cancel?.addEventListener(
      'abort',
      () => {
        for (const settle of this.waiting) settle();
        this.waiting.clear();
      },
      { once: true },
    );
  }

  /** `p`, or undefined once the signal aborts first; an abandoned `p` may still reject later (ignored). */
  race<T>(p: Promise<T>): Promise<T | undefined> {
    const cancel = this.cancel;
    if (!cancel) return p;
    p.catch(() => undefined);
    if (cancel.aborted) return Promise.resolve(undefined);
    return new Promise<T | undefined>((resolve, reject) => {
      const onAbort = (): void => resolve(undefined);
      this.waiting.add(onAbort);
      p.then(
        (v) => {
          this.waiting.delete(onAbort);
          resolve(v);
        },
        (err: unknown) => {
          this.waiting.delete(onAbort);
          reject(err);
        },
      );
    });
  }

  /** Waits not yet settled (tests). */
  get pending(): number {
    return this.waiting.size;
  }
}
