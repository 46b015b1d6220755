/**
 * The one retry-timing contract of promflux: exponential backoff with jitter under a cap, the
 * server's Retry-After as a floor, an abortable sleep, and `withRetry` as a layer around any async
 * attempt (undici's habit: retry is a layer around the request, not a flag inside it).
 *
 *   - `retry` counts retries from 1 (the first retry after the first failed attempt);
 *   - the exponential cap is `min(maxMs, baseMs · 2^(retry − 1))`;
 *   - `jitter: 'full'` draws in [0, cap] (Prometheus source: many independent queries, spread them
 *     out); `jitter: 'equal'` draws in [cap/2, cap] (InfluxDB sink: every writer still backs off);
 *   - a server-given delay (Retry-After) is a floor, itself capped at MAX_SERVER_DELAY_MS;
 *   - `sleep` rejects with the signal's reason when aborted, like node:timers/promises.
 */

export interface Backoff {
  baseMs: number;
  maxMs: number;
  jitter: 'full' | 'equal';
}

/** Upper bound on a server-requested delay, so a bogus Retry-After cannot stall a run for hours. */
export const MAX_SERVER_DELAY_MS = 5 * 60_000;

/** Delay before retry number `retry` (1-based), without a server ask. */
export function backoffDelay(b: Backoff, retry: number, random: () => number = Math.random): number {
  const cap = Math.min(b.maxMs, b.baseMs * 2 ** Math.min(30, Math.max(0, retry - 1)));
  return b.jitter === 'full' ? Math.round(random() * cap) : Math.round(cap / 2 + random() * (cap / 2));
}

/** Delay before retry `retry`: the backoff, but at least the server's ask (capped), when there is one. */
export function retryDelay(b: Backoff, retry: number, serverAskMs: number | undefined, random: () => number = Math.random): number {
  const jittered = backoffDelay(b, retry, random);
  if (serverAskMs === undefined || !(serverAskMs >= 0)) return jittered;
  return Math.max(Math.min(serverAskMs, MAX_SERVER_DELAY_MS), jittered);
}

/**
 * Retry-After: delta-seconds (the common case) or an HTTP date → ms from `nowMs`; undefined when
 * absent or unparseable.
 */
export function parseRetryAfter(value: string | string[] | undefined, nowMs = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || v.trim() === '') return undefined;
  const s = v.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Math.round(Number(s) * 1000);
  const at = Date.parse(s);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

/** setTimeout as a promise; rejects with `signal.reason` when the signal aborts (or already has). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const t = setTimeout(done, Math.max(0, ms));
    function done(): void {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }
    function onAbort(): void {
      clearTimeout(t);
      reject(signal!.reason);
    }
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export interface RetryPolicy extends Backoff {
  /** Total attempts, first one included. */
  attempts: number;
}

export type RetryDecision = { retry: false } | { retry: true; afterMs?: number };

export interface RetryHooks {
  classify(err: unknown): RetryDecision;
  /** Called before sleeping; `attempt` is the 1-based attempt that failed (= the retry about to come). */
  onRetry?(err: unknown, attempt: number, delayMs: number): void;
  signal?: AbortSignal;
  /** Injectable randomness (tests). */
  random?: () => number;
}

/** Run `attempt` until it succeeds, a `fail` error, or the policy's attempts are used up (last error thrown). */
export async function withRetry<T>(policy: RetryPolicy, hooks: RetryHooks, attempt: (n: number) => Promise<T>): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt(n);
    } catch (err) {
      if (hooks.signal?.aborted) throw err;
      const d = hooks.classify(err);
      if (!d.retry || n >= policy.attempts) throw err;
      const delay = retryDelay(policy, n, d.afterMs, hooks.random);
      hooks.onRetry?.(err, n, delay);
      await sleep(delay, hooks.signal);
    }
  }
}
