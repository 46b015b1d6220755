/**
 * Stable error codes of the Prometheus source. Every error is a SourceError (src/errors.ts) whose
 * message names the query, the chunk or endpoint, what Prometheus said, and what to do.
 */
import { SourceError, type ErrorCode } from '../../errors.js';

export const PromErrorCode = {
  /** Prometheus rejected the query (400 bad_data / 422 execution): fix the PromQL or the limits. */
  badQuery: 'PROMFLUX_PROM_BAD_QUERY',
  /** Network errors, 5xx or 429 persisted through every retry. */
  unavailable: 'PROMFLUX_PROM_UNAVAILABLE',
  /** Every attempt timed out. */
  timeout: 'PROMFLUX_PROM_TIMEOUT',
  /** A non-retryable HTTP status (401, 403, 404, ...). */
  http: 'PROMFLUX_PROM_HTTP',
  /** The body is not what Prometheus sends: HTML from a proxy, truncated JSON, bad protobuf/CRC. */
  badResponse: 'PROMFLUX_PROM_BAD_RESPONSE',
  /** The body decoded fine but says status "error". */
  queryError: 'PROMFLUX_PROM_QUERY_ERROR',
  /** No chunk size satisfies the limits (too many series for maxSamplesPerQuery). */
  limits: 'PROMFLUX_PROM_LIMITS',
} as const satisfies Record<string, ErrorCode>;

export function promError(code: ErrorCode, message: string, cause?: unknown): SourceError {
  return new SourceError(code, message, cause === undefined ? undefined : { cause });
}

/** A retryable HTTP status (5xx, 429) with the server's Retry-After, if any. */
export class HttpStatusError extends Error {
  readonly code = 'PROMFLUX_PROM_HTTP_STATUS';
  constructor(
    readonly status: number,
    readonly retryAfterMs: number | undefined,
    readonly bodyText: string,
  ) {
    super(`HTTP ${status}${bodyText ? `: ${bodyText}` : ''}`);
    this.name = 'HttpStatusError';
  }
}

/** The per-attempt timeout fired. */
export class AttemptTimeoutError extends Error {
  readonly code = 'PROMFLUX_PROM_ATTEMPT_TIMEOUT';
  constructor(readonly timeoutMs: number) {
    super(`no complete response within ${timeoutMs} ms`);
    this.name = 'AttemptTimeoutError';
  }
}

/** First bytes of a body, printable, for error messages ("<!DOCTYPE html><html>..."). */
export function preview(bytes: Uint8Array, max = 120): string {
  const n = Math.min(bytes.length, max);
  let s = '';
  for (let i = 0; i < n; i++) {
    const c = bytes[i]!;
    s += c >= 32 && c < 127 ? String.fromCharCode(c) : c === 10 || c === 13 || c === 9 ? ' ' : '·';
  }
  return bytes.length > max ? s + '…' : s;
}
