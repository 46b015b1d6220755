/**
 * The one counting semaphore of promflux, FIFO, with direct hand-over (a released permit goes to
 * the next waiter without being returned first, so nobody can overtake the queue).
 *
 * Used to bound Prometheus requests in flight (src/extract/prometheus/client.ts) and InfluxDB
 * requests in flight (src/load/influx/sink.ts), where a request holds its permit through gzip,
 * retries and splits: the memory in flight is at most `limit × (request bytes + its gzip)` however
 * slow the server is, and waiting batches keep the dispatcher's slots (backpressure, not buffering).
 */
export class Semaphore {
  private active = 0;
  private readonly queue: Array<() => void> = [];

  constructor(readonly limit: number) {}

  /** Permits held now. */
  get inFlight(): number {
    return this.active;
  }

  /** Callers waiting for a permit. */
  get waiting(): number {
    return this.queue.length;
  }

  /** Wait for a permit; resolves to its release function (idempotent). Rejects with the signal's reason on abort. */
  async acquire(signal?: AbortSignal): Promise<() => void> {
    if (this.active < this.limit) {
      this.active++;
      return this.releaser();
    }
    if (signal?.aborted) throw signal.reason;
    await new Promise<void>((resolve, reject) => {
      const go = (): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = (): void => {
        const i = this.queue.indexOf(go);
        if (i >= 0) this.queue.splice(i, 1);
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(go);
    });
    // the releaser handed its permit over to us (active was not decremented)
    return this.releaser();
  }

  /** Run `fn` holding a permit. */
  async run<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const release = await this.acquire(signal);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  private releaser(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.queue.shift();
      if (next) next();
      else this.active--;
    };
  }
}
