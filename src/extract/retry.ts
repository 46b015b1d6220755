/**
 * Exponential backoff with full jitter, as a wrapper around any async attempt (undici's habit:
 * retry is a layer around the request, not a flag inside it). The caller classifies errors:
 * `retry` (with an optional server-given delay, e.g. Retry-After) or `fail` (at once).
 */

export interface RetryPolicy {
  /** Total attempts, first one included. */
  attempts: number;
  baseMs: number;
  maxMs: number;
}

export type RetryDecision = { retry: false } | { retry: true; afterMs?: number };

export interface RetryHooks {
  classify(err: unknown): RetryDecision;
  /** Called before sleeping; `attempt` is the 1-based attempt that failed. */
  onRetry?(err: unknown, attempt: number, delayMs: number): void;
  signal?: AbortSignal;
  /** Injectable randomness (tests). */
  random?: () => number;
}

/** Upper bound on a server-requested delay, so a bogus Retry-After cannot stall a run for hours. */
export const MAX_SERVER_DELAY_MS = 5 * 60_000;

/** Delay before attempt `attempt + 1`: full jitter in [0, min(max, base·2^(attempt-1))], at least the server's ask. */
export function backoffDelay(policy: RetryPolicy, attempt: number, afterMs: number | undefined, random: () => number = Math.random): number {
  const cap = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(30, attempt - 1));
  const jittered = Math.round(random() * cap);
  if (afterMs !== undefined && afterMs >= 0) return Math.max(Math.min(afterMs, MAX_SERVER_DELAY_MS), jittered);
  return jittered;
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const t = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }
    function onAbort() {
      clearTimeout(t);
      reject(signal!.reason);
    }
    signal?.addEventListener('abort', onAbort, { once: true });
  });
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
      const delay = backoffDelay(policy, n, d.afterMs, hooks.random);
      hooks.onRetry?.(err, n, delay);
      await sleep(delay, hooks.signal);
    }
  }
}

/**
 * Parse Retry-After: delta-seconds (the common case) or an HTTP date. Returns ms, or undefined when
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
