/**
 * HTTP client for the Prometheus API on one undici Pool (keep-alive, `connections` sockets).
 * Behaviours are layers around one attempt, outermost first:
 *   retry (backoff + jitter, Retry-After) → concurrency slot → rate-limit token → attempt (timeout).
 * A slot is held only during an attempt, never while backing off. Bodies are read straight into a
 * SharedArrayBuffer so a worker can decode them without a copy.
 */
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { Pool } from 'undici';
import { lazyRequire } from '../../util/lazy.js';

const undici = lazyRequire<typeof import('undici')>('undici');
import type { PrometheusSourceConfig } from './config.js';
import { AttemptTimeoutError, endsEarly, HttpStatusError, preview, promError, PromErrorCode, TruncatedBodyError } from './errors.js';
import type { ExtractMetrics } from './metrics.js';
import { TokenBucket } from '../ratelimit.js';
import { parseRetryAfter, withRetry, type RetryDecision } from '../../util/retry.js';
import { Semaphore } from '../../util/semaphore.js';
import { SourceError } from '../../errors.js';

export interface HttpResult {
  status: number;
  contentType: string;
  /** Body bytes; the view covers a SharedArrayBuffer of exactly this size. */
  body: Uint8Array;
}

export interface CallOptions {
  /** Who is asking, for error messages: e.g. `query "cpu" chunk cpu:1700000000000-1700003600000`. */
  what: string;
  signal?: AbortSignal;
  /** Endpoint label for metrics (defaults to the path's last segment). */
  endpoint?: string;
}

/** Endpoints that accept form-encoded POST (Prometheus HTTP API). */
const POSTABLE = new Set(['/api/v1/query', '/api/v1/query_range', '/api/v1/series', '/api/v1/labels']);
/** Longest query string sent as GET in `auto` mode (proxies commonly cap URLs near 4-8 KiB). */
const AUTO_GET_LIMIT = 2048;

const RETRYABLE_NET = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND',
  'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CLOSED',
]);

function pem(v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  return v.includes('-----BEGIN') ? v : readFileSync(v, 'utf8');
}

function errCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let i = 0; i < 4 && e && typeof e === 'object'; i++) {
    const c = (e as { code?: unknown }).code;
    if (typeof c === 'string' && c !== '') return c;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

export class PromClient {
  readonly base: URL;
  private readonly pool: Pool;
  private readonly headers: Record<string, string>;
  private readonly sem: Semaphore;
  private readonly bucket: TokenBucket;
  private readonly prefix: string;

  constructor(
    private readonly cfg: PrometheusSourceConfig,
    private readonly logger: Logger,
    private readonly metrics: ExtractMetrics,
  ) {
    this.base = new URL(cfg.url);
    this.prefix = this.base.pathname.replace(/\/+$/, '');
    const tls = cfg.tls;
    this.pool = new (undici().Pool)(this.base.origin, {
      connections: cfg.connections,
      keepAliveTimeout: 30_000,
      headersTimeout: cfg.timeoutMs,
      bodyTimeout: cfg.timeoutMs,
      connect: tls
        ? { ca: pem(tls.ca), cert: pem(tls.cert), key: pem(tls.key), rejectUnauthorized: tls.rejectUnauthorized, servername: tls.servername }
        : undefined,
    });
    const h: Record<string, string> = { 'user-agent': 'promflux', accept: 'application/json' };
    if (cfg.auth && 'bearer' in cfg.auth) h.authorization = `Bearer ${cfg.auth.bearer}`;
    if (cfg.auth && 'basic' in cfg.auth) {
      h.authorization = 'Basic ' + Buffer.from(`${cfg.auth.basic.username}:${cfg.auth.basic.password}`).toString('base64');
    }
    for (const [k, v] of Object.entries(cfg.headers)) h[k.toLowerCase()] = v;
    this.headers = h;
    this.sem = new Semaphore(cfg.concurrency);
    this.bucket = new TokenBucket(cfg.rateLimit, cfg.rateBurst ?? Math.max(1, Math.ceil(cfg.rateLimit)));
  }

  /** GET or form POST to an API endpoint (path like "/api/v1/query_range"), with retries. */
  async api(path: string, params: ReadonlyArray<readonly [string, string]>, opts: CallOptions): Promise<HttpResult> {
    return this.apiWith(path, params, opts, (res) => res);
  }

  /**
   * Like `api`, with `finish` run on each attempt's response inside the retry loop: a body that
   * `finish` finds cut short (TruncatedBodyError) is fetched again like a network failure.
   */
  private apiWith<T>(path: string, params: ReadonlyArray<readonly [string, string]>, opts: CallOptions, finish: (res: HttpResult) => T): Promise<T> {
    const qs = new URLSearchParams(params as [string, string][]).toString();
    const post = POSTABLE.has(path) && (this.cfg.method === 'post' || (this.cfg.method === 'auto' && qs.length > AUTO_GET_LIMIT));
    const full = this.prefix + path;
    return this.withPolicy(
      opts,
      path,
      () =>
        post
          ? { method: 'POST', path: full, body: qs, headers: { 'content-type': 'application/x-www-form-urlencoded' } }
          : { method: 'GET', path: qs ? `${full}?${qs}` : full },
      finish,
    );
  }

  /** POST a snappy-compressed ReadRequest to /api/v1/read. */
  async remoteRead(body: Uint8Array, opts: CallOptions): Promise<HttpResult> {
    const path = '/api/v1/read';
    return this.withPolicy(opts, path, () => ({
      method: 'POST',
      path: this.prefix + path,
      body,
      headers: {
        'content-type': 'application/x-protobuf',
        'content-encoding': 'snappy',
        'x-prometheus-remote-read-version': '0.1.0',
        accept: 'application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse, application/x-protobuf',
      },
    }), (res) => res);
  }

  /**
   * Small JSON API calls (planning: series, labels, metadata; instant queries): parsed, `data`
   * returned. Retried like data chunks (src/util/retry.ts, `source.retry`): network errors, 5xx,
   * 429, timeouts, and a body cut short (truncated JSON) are fetched again; a body that is not JSON
   * at all (a login page, a proxy's error text) fails at once.
   */
  async json<T>(path: string, params: ReadonlyArray<readonly [string, string]>, opts: CallOptions): Promise<T> {
    type Doc = { status?: string; data?: T; error?: string; errorType?: string };
    const doc = await this.apiWith(path, params, opts, (res): Doc => {
      const text = Buffer.from(res.body.buffer, res.body.byteOffset, res.body.byteLength).toString('utf8');
      try {
        return JSON.parse(text) as Doc;
      } catch (err) {
        if (endsEarly(text, err)) throw new TruncatedBodyError(res.body.byteLength, `${(err as Error).message}; ends "…${tail(res.body)}"`);
        throw promError(
          PromErrorCode.badResponse,
          `${opts.what}: ${path} returned a body that is not JSON (${res.contentType || 'no content-type'}, starts "${preview(res.body)}"); is ${this.cfg.url} a Prometheus API, not a proxy or login page?`,
          err,
        );
      }
    });
    if (doc === null || typeof doc !== 'object' || doc.status !== 'success') {
      throw promError(PromErrorCode.queryError, `${opts.what}: Prometheus ${path} answered ${doc?.errorType ?? 'error'}: ${doc?.error ?? 'no message'}`);
    }
    return doc.data as T;
  }

  private async withPolicy<T>(
    opts: CallOptions,
    path: string,
    build: () => { method: 'GET' | 'POST'; path: string; body?: string | Uint8Array; headers?: Record<string, string> },
    finish: (res: HttpResult) => T,
  ): Promise<T> {
    const endpoint = opts.endpoint ?? path.slice(path.lastIndexOf('/') + 1);
    const policy = { ...this.cfg.retry, jitter: 'full' as const };
    let attempts = 0;
    try {
      return await withRetry(
        policy,
        {
          signal: opts.signal,
          classify: (err) => this.classify(err),
          onRetry: (err, n, delay) => {
            this.logger.warn({ what: opts.what, endpoint, attempt: n, delayMs: delay, err: (err as Error).message }, 'prometheus request failed; retrying');
          },
        },
        async () => {
          attempts++;
          const release = await this.sem.acquire(opts.signal);
          try {
            await this.bucket.acquire(opts.signal);
            const res = await this.attempt(build(), endpoint, opts);
            try {
              return finish(res);
            } catch (err) {
              if (err instanceof TruncatedBodyError) this.metrics.errors.inc({ reason: 'truncated' });
              throw err;
            }
          } finally {
            release();
          }
        },
      );
    } catch (err) {
      throw this.finalError(err, opts, endpoint, attempts);
    }
  }

  private classify(err: unknown): RetryDecision {
    if (err instanceof SourceError) return { retry: false };
    if (err instanceof HttpStatusError) return { retry: true, afterMs: err.retryAfterMs };
    if (err instanceof AttemptTimeoutError || err instanceof TruncatedBodyError) return { retry: true };
    const code = errCode(err);
    if (code !== undefined && RETRYABLE_NET.has(code)) return { retry: true };
    // undici wraps some socket failures without a code we know; treat other non-HTTP errors as network
    return { retry: !(err instanceof TypeError) };
  }

  private reasonOf(err: unknown): string {
    if (err instanceof HttpStatusError) return err.status === 429 ? 'http_429' : 'http_5xx';
    if (err instanceof AttemptTimeoutError) return 'timeout';
    if (err instanceof SourceError) return err.code === PromErrorCode.badQuery ? 'bad_query' : err.code === PromErrorCode.http ? 'http_4xx' : 'bad_response';
    return 'network';
  }

  private finalError(err: unknown, opts: CallOptions, endpoint: string, attempts: number): unknown {
    if (opts.signal?.aborted) return err;
    if (err instanceof SourceError) return err;
    const tries = `after ${attempts} attempt${attempts === 1 ? '' : 's'}`;
    if (err instanceof TruncatedBodyError) {
      return promError(
        PromErrorCode.badResponse,
        `${opts.what}: ${this.cfg.url} ${endpoint} returned a ${err.message} ${tries}; the connection or a proxy in front of Prometheus cut the response short: check the proxy's buffering, size and timeout limits, or raise retry.attempts`,
        err,
      );
    }
    if (err instanceof AttemptTimeoutError) {
      return promError(
        PromErrorCode.timeout,
        `${opts.what}: ${this.cfg.url} ${endpoint} timed out ${tries} (${err.message}); raise timeoutMs, or reduce the chunk size (maxSamplesPerQuery, maxChunk)`,
        err,
      );
    }
    const detail = err instanceof HttpStatusError ? err.message : `${errCode(err) ?? 'network error'}: ${(err as Error)?.message ?? String(err)}`;
    return promError(
      PromErrorCode.unavailable,
      `${opts.what}: Prometheus at ${this.cfg.url} unavailable ${tries} (${detail}); check that it is up and reachable, or raise retry.attempts`,
      err,
    );
  }

  private async attempt(
    req: { method: 'GET' | 'POST'; path: string; body?: string | Uint8Array; headers?: Record<string, string> },
    endpoint: string,
    opts: CallOptions,
  ): Promise<HttpResult> {
    const timeout = AbortSignal.timeout(this.cfg.timeoutMs);
    const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
    const t0 = performance.now();
    let status = 'network';
    try {
      const res = await this.pool.request({
        method: req.method,
        path: req.path,
        body: req.body,
        headers: { ...this.headers, ...req.headers },
        signal,
      });
      const ct = String(res.headers['content-type'] ?? '');
      const lenHeader = res.headers['content-length'];
      const body = await readIntoShared(res.body, lenHeader !== undefined ? Number(lenHeader) : undefined);
      // counted by status only once the whole body arrived; a body cut short is a network error
      status = String(res.statusCode);
      this.metrics.bytes.inc({ endpoint }, body.byteLength);
      const sc = res.statusCode;
      if (sc >= 200 && sc < 300) {
        if (/text\/html/i.test(ct) || (body.length > 0 && body[0] === 0x3c /* '<' */)) {
          throw promError(
            PromErrorCode.badResponse,
            `${opts.what}: ${endpoint} returned HTML, not the Prometheus API (status ${sc}, starts "${preview(body)}"); check the url (path prefix?) and any proxy/auth in front of Prometheus`,
          );
        }
        return { status: sc, contentType: ct, body };
      }
      const text = bodyText(body);
      if (sc === 429 || sc >= 500) throw new HttpStatusError(sc, parseRetryAfter(res.headers['retry-after']), text);
      if (sc === 400 || sc === 422) {
        throw promError(PromErrorCode.badQuery, `${opts.what}: Prometheus rejected the request (${sc}): ${text}`);
      }
      const hint =
        sc === 401 || sc === 403
          ? 'check auth (bearer/basic) and headers'
          : sc === 404
            ? 'check the url and its path prefix' + (endpoint === 'read' ? ' (remote read needs Prometheus >= 2.x with /api/v1/read)' : '')
            : 'see the response text';
      throw promError(PromErrorCode.http, `${opts.what}: ${endpoint} answered HTTP ${sc} (${text || 'empty body'}); ${hint}`);
    } catch (err) {
      if (opts.signal?.aborted) {
        status = 'aborted'; // shutdown or a discarded prefetch: not a Prometheus failure
        throw err;
      }
      if (timeout.aborted) {
        status = 'timeout';
        err = new AttemptTimeoutError(this.cfg.timeoutMs);
      }
      this.metrics.errors.inc({ reason: this.reasonOf(err) });
      throw err;
    } finally {
      this.metrics.requests.inc({ status, endpoint });
      this.metrics.duration.observe({ endpoint }, (performance.now() - t0) / 1000);
    }
  }

  async close(): Promise<void> {
    this.bucket.close();
    await this.pool.close();
  }
}

/** Last bytes of a body, printable (where a truncated body stops). */
function tail(body: Uint8Array, max = 40): string {
  let from = Math.max(0, body.length - max);
  while (from > 0 && from < body.length && (body[from]! & 0xc0) === 0x80) from++; // start on a character
  return preview(body.subarray(from), max);
}

/** Prometheus' error JSON → "bad_data: parse error ..."; anything else → a short printable preview. */
function bodyText(body: Uint8Array): string {
  const s = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  try {
    const doc = JSON.parse(s) as { errorType?: string; error?: string };
    if (doc && typeof doc.error === 'string') return `${doc.errorType ?? 'error'}: ${doc.error}`;
  } catch {
    /* not JSON */
  }
  return preview(body, 300).trim();
}

/**
 * Read a response body into one SharedArrayBuffer. With a Content-Length the SAB is sized up front
 * and chunks are copied in as they arrive (one copy); otherwise chunks are gathered and copied
 * once at the end. Either way the main thread only moves bytes, it never parses them.
 */
async function readIntoShared(body: AsyncIterable<Uint8Array>, length: number | undefined): Promise<Uint8Array> {
  if (length !== undefined && Number.isFinite(length) && length >= 0) {
    let out = new Uint8Array(new SharedArrayBuffer(Math.max(1, length)), 0, length);
    let n = 0;
    for await (const chunk of body) {
      if (n + chunk.length > out.length) {
        // server sent more than announced: grow (rare, never with a correct Content-Length)
        const bigger = new Uint8Array(new SharedArrayBuffer((n + chunk.length) * 2));
        bigger.set(out.subarray(0, n));
        out = bigger;
      }
      out.set(chunk, n);
      n += chunk.length;
    }
    return n === out.length ? out : out.subarray(0, n);
  }
  const parts: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of body) {
    parts.push(chunk);
    total += chunk.length;
  }
  const out = new Uint8Array(new SharedArrayBuffer(Math.max(1, total)), 0, total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
