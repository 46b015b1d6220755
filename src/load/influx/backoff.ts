/**
 * Retry timing: exponential backoff with jitter and a cap, and the server's Retry-After.
 */

/**
 * Delay before retry number `attempt` (0-based): base·2^attempt capped at `maxMs`, then "equal
 * jitter" (half fixed, half random) so concurrent clients spread out yet each still backs off.
 */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, rand: () => number = Math.random): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(exp / 2 + rand() * (exp / 2));
}

/** Retry-After (delta seconds or an HTTP date) → ms from `nowMs`, or null when absent/invalid. */
export function parseRetryAfter(header: string | string[] | undefined, nowMs = Date.now()): number | null {
  const v = Array.isArray(header) ? header[0] : header;
  if (v === undefined || v === '') return null;
  const t = v.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Math.round(Number(t) * 1000);
  const d = Date.parse(t);
  if (Number.isNaN(d)) return null;
  return Math.max(0, d - nowMs);
}

/** setTimeout as a promise that an AbortSignal can cut short (resolves, never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0 || signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(t);
      resolve();
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
