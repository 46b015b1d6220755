/**
 * Retries that lose nothing: faults injected by a proxy in front of a real influxd. Every case
 * ends with the exact line count in the database and asserts the retry behaviour it provoked.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { createInfluxSink, parseInfluxSinkConfig, type InfluxSinkConfig } from '../src/load/influx/index.js';
import type { EncodedBatch } from '../src/load/sink.js';
import { startFaultProxy, type FaultProxy } from './harness/faultproxy.js';
import { lpLine, startInfluxd, type Influxd } from './harness/influxdb.js';

const logger = pino({ level: 'silent' });
const enc = new TextEncoder();
const T0 = Date.now() - 3_600_000;

function batch(measurement: string, n: number, id = 1, offset = 0): EncodedBatch {
  let s = '';
  for (let i = 0; i < n; i++) s += lpLine(measurement, { series: `s${i % 5}` }, { value: offset + i }, T0 + offset + i) + '\n';
  return { batchId: id, chunkId: `c${id}`, lp: enc.encode(s), lines: n, columns: null, seriesKeys: [] };
}

interface Stats {
  requests: Record<string, number>;
  retries: Record<string, number>;
  linesWritten: number;
  breakerOpens: number;
  inFlightRequests: number;
}

describe('influx sink under injected faults', () => {
  let influxd: Influxd;
  let proxy: FaultProxy;
  let dir: string;
  const cfg = (over: Record<string, unknown> = {}): InfluxSinkConfig =>
    parseInfluxSinkConfig({
      kind: 'influx',
      url: proxy.url,
      version: 1,
      db: 'faults',
      deadLetter: join(dir, 'dl.lp'),
      retry: { baseMs: 20, maxMs: 200, maxOutageMs: 60_000 },
      circuitBreaker: { failures: 50, cooldownMs: 200 },
      ...over,
    });
  const count = async (m: string): Promise<number> =>
    Number((await influxd.rows(`SELECT COUNT(value) AS n FROM "${m}"`, 'faults'))[0]?.n ?? 0);

  before(async () => {
    influxd = await startInfluxd();
    await influxd.query('CREATE DATABASE faults');
    proxy = await startFaultProxy(influxd.url);
    dir = await mkdtemp(join(tmpdir(), 'promflux-faults-'));
  });
  after(async () => {
    await proxy?.close();
    await influxd?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('503 with Retry-After is retried no sooner than the server asked', async () => {
    const start = proxy.log.length;
    proxy.script({ kind: 'status', status: 503, retryAfter: '1' });
    const sink = createInfluxSink(cfg(), { logger });
    const res = await sink.write(batch('f503', 100));
    const st = sink.stats() as unknown as Stats;
    await sink.close();
    assert.deepEqual(res, { written: 100 });
    const log = proxy.log.slice(start);
    assert.deepEqual(log.map((l) => l.status), [503, 204]);
    assert.ok(log[1]!.at - log[0]!.at >= 950, `retried after ${log[1]!.at - log[0]!.at} ms`);
    assert.deepEqual(st.retries, { http_503: 1 });
    assert.equal(await count('f503'), 100);
  });

  test('429 and 500 are retried with backoff', async () => {
    const start = proxy.log.length;
    proxy.script({ kind: 'status', status: 429 }, { kind: 'status', status: 429 }, { kind: 'status', status: 500 });
    const sink = createInfluxSink(cfg(), { logger });
    const res = await sink.write(batch('f429', 250));
    const st = sink.stats() as unknown as Stats;
    await sink.close();
    assert.deepEqual(res, { written: 250 });
    assert.deepEqual(proxy.log.slice(start).map((l) => l.status), [429, 429, 500, 204]);
    assert.deepEqual(st.retries, { http_429: 2, http_5xx: 1 });
    assert.deepEqual(st.requests, { '429': 2, '500': 1, '204': 1 });
    assert.equal(await count('f429'), 250);
  });

  test('413 splits the request in halves until the server takes them', async () => {
    const start = proxy.log.length;
    proxy.rule = (r) => (r.lines > 250 ? { kind: 'status', status: 413, body: '{"error":"Request Entity Too Large"}' } : null);
    try {
      const sink = createInfluxSink(cfg({ batchLines: 1000 }), { logger });
      const res = await sink.write(batch('f413', 1000));
      const st = sink.stats() as unknown as Stats;
      await sink.close();
      assert.deepEqual(res, { written: 1000 });
      assert.deepEqual(
        proxy.log.slice(start).map((l) => [l.lines, l.status]),
        [[1000, 413], [500, 413], [250, 204], [250, 204], [500, 413], [250, 204], [250, 204]],
      );
      assert.deepEqual(st.retries, { split_413: 3 });
    } finally {
      proxy.rule = null;
    }
    assert.equal(await count('f413'), 1000);
  });

  test('connection reset is retried as a network error', async () => {
    const start = proxy.log.length;
    proxy.script({ kind: 'reset' }, { kind: 'reset' });
    const sink = createInfluxSink(cfg(), { logger });
    const res = await sink.write(batch('freset', 300));
    const st = sink.stats() as unknown as Stats;
    await sink.close();
    assert.deepEqual(res, { written: 300 });
    assert.deepEqual(proxy.log.slice(start).map((l) => l.fault), ['reset', 'reset', 'pass']);
    assert.deepEqual(st.retries, { network: 2 });
    assert.equal(await count('freset'), 300);
  });

  test('a slow server past the timeout is retried; the late duplicate write is harmless', async () => {
    const start = proxy.log.length;
    proxy.script({ kind: 'delay', ms: 2500 });
    const sink = createInfluxSink(cfg({ timeoutMs: 1000 }), { logger });
    const res = await sink.write(batch('fslow', 200));
    const st = sink.stats() as unknown as Stats;
    await sink.close();
    assert.deepEqual(res, { written: 200 });
    assert.deepEqual(st.retries, { timeout: 1 });
    assert.equal(proxy.log.length - start, 2);
    await new Promise((r) => setTimeout(r, 1800)); // let the slow copy land too
    assert.equal(await count('fslow'), 200); // same points rewritten: an overwrite, not a duplicate
  });

  test('the circuit breaker opens after N failures, probes after the cooldown, closes on success', async () => {
    const start = proxy.log.length;
    proxy.script(...Array.from({ length: 4 }, () => ({ kind: 'status', status: 502 }) as const));
    const sink = createInfluxSink(cfg({ circuitBreaker: { failures: 3, cooldownMs: 600 } }), { logger });
    const res = await sink.write(batch('fbreak', 100));
    const st = sink.stats() as unknown as Stats;
    await sink.close();
    assert.deepEqual(res, { written: 100 });
    const log = proxy.log.slice(start);
    assert.deepEqual(log.map((l) => l.status), [502, 502, 502, 502, 204]);
    // opened at the 3rd failure: the 4th request (the probe) waited the cooldown; it failed and
    // reopened the breaker, so the 5th waited another cooldown
    assert.ok(log[3]!.at - log[2]!.at >= 590, `probe after ${log[3]!.at - log[2]!.at} ms`);
    assert.ok(log[4]!.at - log[3]!.at >= 590, `second probe after ${log[4]!.at - log[3]!.at} ms`);
    assert.equal(st.breakerOpens, 2);
    assert.equal(await count('fbreak'), 100);
  });

  test('a 400 about the request itself fails fast instead of dead-lettering every line', async () => {
    proxy.script({ kind: 'status', status: 400, body: '{"error":"database is required"}' });
    const sink = createInfluxSink(cfg(), { logger });
    await assert.rejects(sink.write(batch('freq', 100)), { code: 'PROMFLUX_SINK_HTTP', message: /rejected the write request itself/ });
    const st = sink.stats() as unknown as Stats & { deadLettered: Record<string, number> };
    await sink.close();
    assert.deepEqual(st.deadLettered, {});
    assert.deepEqual(st.requests, { '400': 1 });
  });

  test('an outage longer than maxOutageMs fails the write with a clear error, losing nothing', async () => {
    const sink = createInfluxSink(cfg({ retry: { baseMs: 20, maxMs: 100, maxOutageMs: 800 } }), { logger });
    const outage = proxy.outage(2500);
    const t0 = Date.now();
    await assert.rejects(sink.write(batch('fgiveup', 100)), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'PROMFLUX_SINK_OUTAGE');
      assert.match(err.message, /maxOutageMs/);
      assert.match(err.message, /No line was lost/);
      return true;
    });
    const took = Date.now() - t0;
    assert.ok(took >= 750 && took < 2400, `gave up after ${took} ms`);
    // later writes fail fast with the same error: the run is over
    await assert.rejects(sink.write(batch('fgiveup', 10)), { code: 'PROMFLUX_SINK_OUTAGE' });
    await sink.close();
    await outage;
    assert.equal(await count('fgiveup'), 0);
  });

  test('a 20 s outage: writes wait (bounded in flight), then everything lands', { timeout: 90_000 }, async () => {
    const concurrency = 3;
    const sink = createInfluxSink(
      cfg({ concurrency, batchLines: 500, retry: { baseMs: 100, maxMs: 2000, maxOutageMs: 60_000 }, circuitBreaker: { failures: 5, cooldownMs: 1000 } }),
      { logger },
    );
    const outage = proxy.outage(20_000);
    const t0 = Date.now();
    let maxInFlight = 0;
    let settled = 0;
    const probe = setInterval(() => {
      maxInFlight = Math.max(maxInFlight, (sink.stats() as unknown as Stats).inFlightRequests);
    }, 50);
    // 6 batches × 2 000 lines = 24 requests of 500 lines, far more than the 3 allowed in flight
    const writes = Array.from({ length: 6 }, (_, b) => sink.write(batch('foutage', 2000, b + 1, b * 2000)).finally(() => settled++));
    await new Promise((r) => setTimeout(r, 10_000));
    assert.equal(settled, 0, 'no write resolves while the server is down (the dispatcher is held)');
    const results = await Promise.all(writes);
    clearInterval(probe);
    const took = Date.now() - t0;
    await outage;
    const st = sink.stats() as unknown as Stats;
    await sink.close();
    assert.ok(took >= 19_500, `finished after ${took} ms`);
    assert.deepEqual(results, Array.from({ length: 6 }, () => ({ written: 2000 })));
    assert.ok(maxInFlight <= concurrency, `in flight ${maxInFlight}`);
    assert.ok((st.retries.network ?? 0) >= 1);
    assert.ok(st.breakerOpens >= 1);
    assert.equal(st.linesWritten, 12_000);
    assert.equal(await count('foutage'), 12_000);
  });
});
