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
  /** Halo hand-off: the previous chunk's tail was not published (internal: the chunk is fetched again with its history). */
  haloUnavailable: 'PROMFLUX_PROM_HALO_UNAVAILABLE',
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

/**
 * A 2xx JSON body that ends before the document does (a connection or proxy cut it short, with a
 * Content-Length that matched what was sent): retried like a network error, since the same request
 * usually succeeds again.
 */
export class TruncatedBodyError extends Error {
  readonly code = 'PROMFLUX_PROM_TRUNCATED';
  constructor(
    readonly bytes: number,
    readonly detail: string,
  ) {
    super(`truncated JSON body (ended after ${bytes} bytes: ${detail})`);
    this.name = 'TruncatedBodyError';
  }
}

/**
 * Whether JSON.parse failed because the text ended early (truncation) rather than because it is not
 * JSON: V8 says "Unexpected end of JSON input", or names a position at (or past) the end of the text.
 * Only a text that starts like a JSON document counts.
 */
export function endsEarly(text: string, err: unknown): boolean {
  const t = text.trimEnd();
  if (!/^\s*[{[]/.test(t)) return false;
  const msg = err instanceof Error ? err.message : String(err);
  if (/end of JSON input/i.test(msg)) return true;
  const m = /at position (\d+)/.exec(msg);
  return m !== null && Number(m[1]) >= t.length;
}

/**
 * First bytes of a body, printable, for error messages ("<!DOCTYPE html><html>..."). Decoded as
 * UTF-8 and cut at a character boundary (never inside a multi-byte sequence); invalid bytes show as
 * U+FFFD, control characters as "·" (tab, CR, LF as a space).
 */
export function preview(bytes: Uint8Array, max = 120): string {
  let n = Math.min(bytes.length, Math.max(0, max));
  if (n < bytes.length && (bytes[n]! & 0xc0) === 0x80) {
    // bytes[n] continues a sequence: back up to its lead byte (at most 3 bytes back) and cut there
    let i = n;
    while (i > 0 && n - i < 3 && (bytes[i]! & 0xc0) === 0x80) i--;
    if ((bytes[i]! & 0xc0) === 0xc0) n = i;
  }
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, n)
    .toString('utf8')
    .replace(/[\t\n\r]/g, ' ')
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u001f\u007f-\u009f]/g, '·');
  return n < bytes.length ? text + '…' : text;
}
