/**
 * HTTP behaviour against a tiny node:http server on 127.0.0.1 that misbehaves on purpose: HTML
 * and truncated bodies (as a proxy might return), status "error", dropped connections, timeouts,
 * 5xx/429 with Retry-After, 4xx that must not be retried, auth/headers, GET vs POST, concurrency
 * and rate limits.
 */
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Registry } from 'prom-client';
import { PromErrorCode } from '../src/extract/prometheus/errors.js';
import { decodeChunk, drain, makeSource, openOpts } from './harness/extract.js';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

let server: Server;
let base = '';
let seen: Seen[] = [];
let handler: (req: Seen, res: ServerResponse) => void;
let active = 0;
let maxActive = 0;

const OK = (t = 1) => JSON.stringify({ status: 'success', data: { resultType: 'matrix', result: [{ metric: {}, values: [[t, '1']] }] } });
const json = (res: ServerResponse, status: number, body: string, extra: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...extra });
  res.end(body);
};

before(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const s: Seen = { method: req.method!, url: req.url!, headers: req.headers, body };
      seen.push(s);
      active++;
      maxActive = Math.max(maxActive, active);
      res.on('close', () => active--);
      handler(s, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
after(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});
beforeEach(() => {
  seen = [];
  active = 0;
  maxActive = 0;
  handler = (_s, res) => json(res, 200, OK());
});

const cfg = (extra: Record<string, unknown> = {}) => ({
  url: base,
  start: 0,
  end: 60,
  step: '15s',
  concurrency: 1,
  retry: { attempts: 3, baseMs: 10, maxMs: 20 },
  queries: [{ name: 'q', expr: 'vector(1)' }],
  ...extra,
});
const codeIs = (code: string, re?: RegExp) => (e: Error & { code?: string }) => {
  assert.equal(e.code, code, e.message);
  if (re) assert.match(e.message, re);
  return true;
};

async function first(extra: Record<string, unknown> = {}, reg = new Registry()) {
  const src = makeSource(cfg(extra), { metrics: reg });
  await src.open(openOpts());
  return { src, reg, next: () => src.next(1000) };
}

describe('malformed bodies', () => {
  it('HTML from a proxy is refused without retrying, naming query and chunk', async () => {
    handler = (_s, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!DOCTYPE html><html><body>Sign in</body></html>');
    };
    const { src, next } = await first();
    await assert.rejects(next(), codeIs(PromErrorCode.badResponse, /query "q" \(vector\(1\)\) chunk q:0-60000: .*returned HTML.*Sign in/));
    assert.equal(seen.length, 1);
    await src.close();
  });

  it('a truncated or error body reaches the worker, which throws a clear SourceError', async () => {
    const full = OK();
    handler = (_s, res) => json(res, 200, full.slice(0, 40));
    const a = await first();
    const chunk = (await a.next())!;
    assert.throws(() => decodeChunk(chunk), codeIs(PromErrorCode.badResponse, /query "q" chunk q:0-60000: truncated JSON response \(ended after 40 bytes/));
    // the engine can fetch the same chunk again when its body was cut
    handler = (_s, res) => json(res, 200, full);
    const again = await a.src.refetch(chunk);
    assert.equal(again.id, chunk.id);
    assert.equal(decodeChunk(again).rows.length, 1);
    await a.src.close();

    handler = (_s, res) => json(res, 200, JSON.stringify({ status: 'error', errorType: 'execution', error: 'something broke' }));
    const b = await first();
    const bad = (await b.next())!;
    assert.throws(() => decodeChunk(bad), codeIs(PromErrorCode.queryError, /execution: something broke/));
    await b.src.close();
  });

  it('a connection dropped mid-body is retried, then reported', async () => {
    handler = (_s, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
      res.write(OK().slice(0, 30));
      setTimeout(() => res.destroy(), 10);
    };
    const { src, next } = await first();
    await assert.rejects(next(), codeIs(PromErrorCode.unavailable, /unavailable after 3 attempts/));
    assert.equal(seen.length, 3);
    await src.close();
  });
});

describe('retries and failures', () => {
  it('times out each attempt, retries, then fails with a timeout error', async () => {
    handler = () => {
      /* never answer */
    };
    const t0 = Date.now();
    const { src, reg, next } = await first({ timeoutMs: 200, retry: { attempts: 2, baseMs: 10, maxMs: 10 } });
    await assert.rejects(next(), codeIs(PromErrorCode.timeout, /timed out after 2 attempts.*raise timeoutMs/));
    assert.ok(Date.now() - t0 >= 400);
    assert.equal(seen.length, 2);
    const reqs = (await reg.getSingleMetric('promflux_extract_requests_total')!.get()).values;
    assert.deepEqual(reqs.map((v) => [v.labels.status, v.value]), [['timeout', 2]]);
    await src.close();
  });

  it('5xx is retried with backoff and then succeeds; metrics count each status', async () => {
    let n = 0;
    handler = (_s, res) => (++n <= 2 ? json(res, 503, '{"status":"error","errorType":"unavailable","error":"busy"}') : json(res, 200, OK()));
    const { src, reg, next } = await first();
    const c = await next();
    assert.equal(decodeChunk(c!).rows.length, 1);
    const reqs = (await reg.getSingleMetric('promflux_extract_requests_total')!.get()).values;
    assert.deepEqual(reqs.map((v) => [v.labels.status, v.value]).sort(), [['200', 1], ['503', 2]]);
    const errs = (await reg.getSingleMetric('promflux_extract_errors_total')!.get()).values;
    assert.deepEqual(errs.map((v) => [v.labels.reason, v.value]), [['http_5xx', 2]]);
    const bytes = (await reg.getSingleMetric('promflux_extract_bytes_total')!.get()).values;
    assert.ok(bytes[0]!.value > 0);
    const hist = (await reg.getSingleMetric('promflux_extract_request_duration_seconds')!.get()).values;
    assert.ok(hist.some((v) => (v as { metricName?: string }).metricName === 'promflux_extract_request_duration_seconds_count' && v.value === 3));
    await src.close();
  });

  it('429 honours Retry-After (seconds)', async () => {
    let n = 0;
    handler = (_s, res) => (++n === 1 ? json(res, 429, '{}', { 'retry-after': '1' }) : json(res, 200, OK()));
    const { src, next } = await first({ retry: { attempts: 3, baseMs: 1, maxMs: 1 } });
    const t0 = Date.now();
    assert.ok(await next());
    assert.ok(Date.now() - t0 >= 990, `waited ${Date.now() - t0} ms`);
    await src.close();
  });

  it('400/422 fail at once with Prometheus\' error text; 401 explains auth', async () => {
    handler = (_s, res) => json(res, 422, JSON.stringify({ status: 'error', errorType: 'execution', error: 'query processing would load too many samples into memory' }));
    const a = await first();
    await assert.rejects(a.next(), codeIs(PromErrorCode.badQuery, /query "q" \(vector\(1\)\) chunk q:0-60000: Prometheus rejected the request \(422\): execution: query processing would load too many samples/));
    assert.equal(seen.length, 1);
    await a.src.close();

    seen = [];
    handler = (_s, res) => json(res, 401, 'Unauthorized');
    const b = await first();
    await assert.rejects(b.next(), codeIs(PromErrorCode.http, /HTTP 401 .*check auth/));
    assert.equal(seen.length, 1);
    await b.src.close();
  });

  it('remote read answered with something else than protobuf is a clear error', async () => {
    handler = (s, res) => json(res, 200, s.url.startsWith('/api/v1/series') ? '{"status":"success","data":[{"__name__":"up"}]}' : '{"status":"success","data":{}}');
    const { src, next } = await first({ extraction: 'remote-read', queries: [{ name: 'q', expr: 'up' }] });
    await assert.rejects(next(), codeIs(PromErrorCode.badResponse, /not a remote-read protobuf/));
    const read = seen.find((s) => s.url === '/api/v1/read')!;
    assert.equal(read.method, 'POST');
    assert.equal(read.headers['content-encoding'], 'snappy');
    assert.equal(read.headers['x-prometheus-remote-read-version'], '0.1.0');
    await src.close();
  });
});

describe('client options', () => {
  it('sends bearer/basic auth and custom headers; keeps a path prefix', async () => {
    const a = await first({ url: base + '/prom/', auth: { bearer: 's3cret' }, headers: { 'X-Scope-OrgID': 'team-a' } });
    await a.next();
    assert.equal(seen.length, 1, JSON.stringify(seen));
    assert.equal(seen[0]!.headers.authorization, 'Bearer s3cret');
    assert.equal(seen[0]!.headers['x-scope-orgid'], 'team-a');
    assert.match(seen[0]!.url, /^\/prom\/api\/v1\/query_range\?/);
    await a.src.close();
    seen = [];
    const b = await first({ auth: { basic: { username: 'u', password: 'p' } } });
    await b.next();
    assert.equal(seen[0]!.headers.authorization, 'Basic ' + Buffer.from('u:p').toString('base64'));
    await b.src.close();
  });

  it('GET for short queries, form POST for long ones (auto) or always (post)', async () => {
    const long = 'vector(1)' + ' + vector(0)'.repeat(300);
    const a = await first({ queries: [{ name: 'short', expr: 'vector(1)' }, { name: 'long', expr: long }], concurrency: 2 });
    await drain(a.src, 1000);
    const qr = seen.filter((s) => s.url.includes('query_range'));
    assert.deepEqual(qr.map((s) => s.method).sort(), ['GET', 'POST']);
    const post = qr.find((s) => s.method === 'POST')!;
    assert.equal(post.headers['content-type'], 'application/x-www-form-urlencoded');
    assert.equal(new URLSearchParams(post.body).get('query'), long);
    assert.equal(new URLSearchParams(post.body).get('step'), '15');
    await a.src.close();
    seen = [];
    const b = await first({ method: 'post' });
    await b.next();
    assert.equal(seen[0]!.method, 'POST');
    await b.src.close();
  });

  it('keeps at most `concurrency` requests in flight and respects the rate limit', async () => {
    handler = (_s, res) => setTimeout(() => json(res, 200, OK()), 30);
    const a = await first({ end: 3000, concurrency: 2, maxChunk: '30s' });
    const chunks = await drain(a.src, 1e6);
    assert.equal(chunks.length, 100);
    assert.equal(maxActive, 2);
    await a.src.close();

    handler = (_s, res) => json(res, 200, OK());
    const b = await first({ end: 150, maxChunk: '15s', concurrency: 4, rateLimit: 20, rateBurst: 1 });
    const t0 = Date.now();
    assert.equal((await drain(b.src, 1e6)).length, 10);
    assert.ok(Date.now() - t0 >= 400, `10 requests at 20/s took ${Date.now() - t0} ms`);
    await b.src.close();
  });
});
