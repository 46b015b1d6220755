/**
 * FIFO semaphore bounding requests in flight across all batches of a sink. A request holds its
 * permit through gzip, retries and splits, so the memory in flight is at most
 * `concurrency × (request bytes + its gzip)` however slow the server is: waiting batches keep the
 * dispatcher's slots, which is what slows the source (backpressure, not buffering).
 */
export class Limiter {
  private active = 0;
  private readonly queue: Array<() => void> = [];

  constructor(readonly max: number) {}

  get inFlight(): number {
    return this.active;
  }

  get waiting(): number {
    return this.queue.length;
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) await new Promise<void>((r) => this.queue.push(r));
    else this.active++;
    try {
      return await fn();
    } finally {
      const next = this.queue.shift();
      if (next) next(); // hand the permit over directly
      else this.active--;
    }
  }
}
