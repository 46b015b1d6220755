/**
 * Stall watch: notices when a running pipeline makes no progress and says why. It wraps the run's
 * source and sink (per call, never per sample) to know what the dispatcher is waiting on:
 *
 * - a sink write pending → "waiting on sink" (with the sink's in-flight requests, retries, breaker,
 *   and its last error: status and message of the last failed attempt);
 * - else a `source.next()` pending → "waiting on source" (Prometheus slow, down, or being retried);
 * - else the dispatcher waits for its in-flight batches → "waiting on workers".
 *
 * Progress is a batch accepted by the sink or a chunk returned by the source. A stream source
 * waiting for its next poll is idle, not stalled. While stalled for at least `thresholdMs`, one
 * line is logged every `intervalMs` (a heartbeat), `seconds()` feeds `promflux_stalled_seconds`,
 * and `reason()` feeds `/readyz`.
 */
import type { Logger } from 'pino';
import type { Source } from '../extract/source.js';
import type { Sink } from '../load/sink.js';

/**
 * `target` with some methods replaced. Every other method runs on the target itself (a Proxy,
 * not a prototype copy: state a method sets stays on the one real object).
 */
function override<T extends object>(target: T, methods: Partial<T>): T {
  return new Proxy(target, {
    get(t, k) {
      if (Object.prototype.hasOwnProperty.call(methods, k)) return (methods as Record<string | symbol, unknown>)[k];
      const v = Reflect.get(t, k, t) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
  });
}

export interface StallWatchOptions {
  pipeline: string;
  logger: Logger;
  /** A stream source waiting in next() is idle (waiting for new data), not stalled. */
  streaming: boolean;
  /** Heartbeat period (default 10 s). */
  intervalMs?: number;
  /** No progress for this long counts as stalled (default 10 s). */
  thresholdMs?: number;
  now?: () => number;
}

export interface StallState {
  stalled: boolean;
  seconds: number;
  waitingOn: 'sink' | 'source' | 'workers' | null;
  reason: string;
}

export class StallWatch {
  private readonly now: () => number;
  private readonly intervalMs: number;
  private readonly thresholdMs: number;
  private lastProgress: number;
  private readonly writes = new Map<number, number>();
  private writeSeq = 0;
  private sourceWaitSince: number | null = null;
  private sink: Sink | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastSinkError: string | undefined;
  private lastSourceError: string | undefined;
  private active = false;

  constructor(private readonly o: StallWatchOptions) {
    this.now = o.now ?? Date.now;
    this.intervalMs = o.intervalMs ?? 10_000;
    this.thresholdMs = o.thresholdMs ?? 10_000;
    this.lastProgress = this.now();
  }

  /** The sink, with its writes timed. */
  wrapSink(sink: Sink): Sink {
    this.sink = sink;
    const write = sink.write.bind(sink);
    return override(sink, {
      write: async (batch: Parameters<Sink['write']>[0]) => {
        const id = this.writeSeq++;
        this.writes.set(id, this.now());
        try {
          const r = await write(batch);
          this.progress();
          return r;
        } catch (err) {
          this.lastSinkError = (err as Error).message;
          throw err;
        } finally {
          this.writes.delete(id);
        }
      },
    });
  }

  /** The source, with its next() timed. */
  wrapSource(source: Source): Source {
    const next = source.next.bind(source);
    return override(source, {
      next: async (rows: number) => {
        this.sourceWaitSince = this.now();
        try {
          const c = await next(rows);
          this.progress();
          return c;
        } catch (err) {
          this.lastSourceError = (err as Error).message;
          throw err;
        } finally {
          this.sourceWaitSince = null;
        }
      },
    });
  }

  /** Something moved: reset the stall clock. */
  progress(): void {
    this.lastProgress = this.now();
  }

  start(): this {
    this.active = true;
    this.lastProgress = this.now();
    this.timer ??= setInterval(() => this.beat(), this.intervalMs);
    this.timer.unref();
    return this;
  }

  stop(): void {
    this.active = false;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Log one heartbeat line if stalled (called by the timer, or tests). */
  beat(): StallState {
    const s = this.state();
    if (s.stalled) this.o.logger.warn({ stalledSeconds: Math.round(s.seconds), waitingOn: s.waitingOn }, `stalled ${Math.round(s.seconds)} s: ${s.reason}`);
    return s;
  }

  seconds(): number {
    return this.state().seconds;
  }

  state(): StallState {
    const now = this.now();
    const idle: StallState = { stalled: false, seconds: 0, waitingOn: null, reason: 'progressing' };
    if (!this.active) return idle;
    const since = now - this.lastProgress;
    let waitingOn: StallState['waitingOn'];
    let reason: string;
    if (this.writes.size > 0) {
      waitingOn = 'sink';
      const oldest = Math.min(...this.writes.values());
      const st = (this.sink?.stats?.() ?? {}) as { inFlightRequests?: number; retries?: Record<string, number>; breaker?: string; lastError?: { at: string; status: number | null; message: string } | null };
      const parts = [`${this.writes.size} batch write(s) pending, oldest ${Math.round((now - oldest) / 1000)} s`];
      if (st.inFlightRequests !== undefined) parts.push(`${st.inFlightRequests} request(s) in flight`);
      if (st.breaker && st.breaker !== 'closed') parts.push(`circuit breaker ${st.breaker}`);
      const retries = Object.entries(st.retries ?? {}).filter(([, n]) => n > 0);
      if (retries.length > 0) parts.push(`retries so far ${retries.map(([k, n]) => `${k}=${n}`).join(', ')}`);
      // The sink's last failed attempt (retried, so no write has failed yet) names what the server said.
      const le = st.lastError;
      if (le) parts.push(`last error ${Math.max(0, Math.round((now - Date.parse(le.at)) / 1000))} s ago: ${le.status !== null ? `HTTP ${le.status}${le.message ? ` ${le.message}` : ''}` : le.message}`);
      else if (this.lastSinkError) parts.push(`last error: ${this.lastSinkError}`);
      reason = `waiting on sink ${this.sink?.kind ?? ''}: ${parts.join(', ')}`.replace('sink :', 'sink:');
    } else if (this.sourceWaitSince !== null) {
      if (this.o.streaming) return idle; // waiting for the next poll's data
      waitingOn = 'source';
      reason = `waiting on source: next chunk requested ${Math.round((now - this.sourceWaitSince) / 1000)} s ago${this.lastSourceError ? `, last error: ${this.lastSourceError}` : ''}`;
    } else {
      waitingOn = 'workers';
      reason = 'waiting on workers: batches handed out have not come back';
    }
    if (since < this.thresholdMs) return { ...idle, waitingOn };
    return { stalled: true, seconds: since / 1000, waitingOn, reason };
  }
}
