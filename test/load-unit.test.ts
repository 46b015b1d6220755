/**
 * Loader building blocks without a server: request planning (property-tested), rejection parsing,
 * the circuit breaker, config and the --sink URL form (retry timing: test/util.test.ts).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { CircuitBreaker } from '../src/load/influx/breaker.js';
import { gzipEnabled, parseInfluxSinkConfig, parseSinkUrl } from '../src/load/influx/config.js';
import { durationSeconds, goDurationSeconds, influxqlDuration } from '../src/load/influx/duration.js';
import { endpointOf } from '../src/load/influx/endpoint.js';
import { lineOffsets, pickLines, planRequests, splitHalves } from '../src/load/influx/lines.js';
import { measurementOf } from '../src/load/influx/deliver.js';
import { parseRejection } from '../src/load/influx/rejections.js';
import { parseCsv } from '../src/load/influx/verify.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

describe('planRequests', () => {
  test('cuts by lines and bytes, zero-copy, covering every byte once', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ minLength: 1, maxLength: 40 }).map((s) => s.replace(/\n/g, ' ')), { maxLength: 300 }),
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 1, max: 400 }),
        fc.boolean(),
        (lines, maxLines, maxBytes, trailingNl) => {
          let text = lines.join('\n');
          if (trailingNl && lines.length) text += '\n';
          const buf = enc.encode(text);
          const plan = planRequests(buf, maxLines, maxBytes);
          assert.equal(plan.totalLines, lines.length);
          let pos = 0;
          const seen: string[] = [];
          for (let i = 0; i < plan.count; i++) {
            assert.equal(plan.starts[i], pos);
            const body = buf.subarray(plan.starts[i], plan.ends[i]);
            const got = dec.decode(body).split('\n').filter((l) => l !== '');
            assert.equal(got.length, plan.lines[i]);
            assert.ok(plan.lines[i]! >= 1 && plan.lines[i]! <= maxLines);
            // over the byte bound only when a single line is itself longer
            if (body.length > maxBytes) assert.equal(plan.lines[i], 1);
            seen.push(...got);
            pos = plan.ends[i]!;
          }
          assert.equal(pos, buf.length);
          assert.deepEqual(seen, lines);
        },
      ),
      { numRuns: 300 },
    );
  });

  test('empty lines are carried but not counted', () => {
    const plan = planRequests(enc.encode('a 1\n\nb 2\n\n'), 10, 1000);
    assert.equal(plan.totalLines, 2);
    assert.deepEqual([plan.starts, plan.ends, plan.lines], [[0], [10], [2]]);
  });

  test('measurementOf unescapes and stops at the first unescaped comma or space', () => {
    assert.equal(measurementOf(enc.encode('cpu,host=a value=1 1')), 'cpu');
    assert.equal(measurementOf(enc.encode('my\\ metric\\,x,t=1 value=1')), 'my metric,x');
    assert.equal(measurementOf(enc.encode('bare')), 'bare');
  });

  test('splitHalves and pickLines', () => {
    const buf = enc.encode('l0\nl1\nl2\nl3\nl4\n');
    const [a, na, b, nb] = splitHalves(buf);
    assert.deepEqual([dec.decode(a), na, dec.decode(b), nb], ['l0\nl1\n', 2, 'l2\nl3\nl4\n', 3]);
    const offs = lineOffsets(buf);
    assert.equal(dec.decode(pickLines(buf, offs, [0, 3, 4])), 'l0\nl3\nl4\n');
  });
});

describe('parseRejection', () => {
  test('InfluxDB 1.x partial write with unparseable lines', () => {
    const body = JSON.stringify({
      error: "partial write: unable to parse 'm,t=b value= 1': missing field value\nunable to parse 'x': y': invalid field format dropped=0",
    });
    const r = parseRejection(400, body);
    assert.equal(r.dropped, 0);
    const texts = r.lines.map((l) => l.text);
    assert.ok(texts.includes('m,t=b value= 1'));
    // a line containing "': " yields several candidate cuts; the right one is among them
    assert.ok(texts.includes("x': y"));
    assert.ok(r.lines.every((l) => l.reason === 'invalid_line'));
  });

  test('reasons from server messages', () => {
    assert.equal(parseRejection(400, '{"error":"partial write: points beyond retention policy dropped=3"}').reason, 'outside_retention');
    assert.equal(parseRejection(400, '{"error":"partial write: points beyond retention policy dropped=3"}').dropped, 3);
    assert.equal(
      parseRejection(400, '{"error":"partial write: field type conflict: input field \\"value\\" on measurement \\"m\\" is type integer, already exists as type float dropped=1"}').reason,
      'field_type_conflict',
    );
    assert.equal(parseRejection(400, '{"error":"partial write: max-values-per-tag limit exceeded (100000/100000) dropped=1"}').reason, 'limit_exceeded');
    assert.equal(parseRejection(422, '{"code":"unprocessable entity","message":"failure writing points to database: partial write: points beyond retention policy dropped=1"}').reason, 'outside_retention');
    assert.equal(parseRejection(400, 'something odd').reason, 'rejected');
  });

  test('InfluxDB 3 data[] and Cloud line numbers', () => {
    const v3 = parseRejection(400, JSON.stringify({
      error: 'partial write of line protocol occurred',
      data: [{ original_line: 'cpu,host=a usage=', line_number: 2, error_message: 'invalid column type' }, { line_number: 5, error_message: 'No fields were provided' }],
    }));
    assert.deepEqual(v3.lines.map((l) => l.text), ['cpu,host=a usage=']);
    assert.deepEqual(v3.lineNumbers.map((l) => l.n), [5]);
    const cloud = parseRejection(400, JSON.stringify({ code: 'invalid', message: 'failed to parse line protocol:\nerror parsing line 3 (1-based): Invalid measurement' }));
    assert.deepEqual(cloud.lineNumbers.map((l) => [l.n, l.reason]), [[3, 'invalid_line']]);
  });
});

describe('CircuitBreaker', () => {
  test('opens after N consecutive failures, one probe after cooldown, closes on success', async () => {
    let now = 0;
    const b = new CircuitBreaker(2, 1000, () => now);
    assert.equal(await b.admit(Infinity), true);
    b.failure();
    b.success(); // resets the streak
    b.failure();
    assert.equal(b.state, 'closed');
    b.failure();
    assert.equal(b.state, 'open');
    // deadline before the cooldown ends: not admitted
    assert.equal(await b.admit(now + 10), false);
    now = 1000;
    assert.equal(await b.admit(Infinity), true); // the probe
    assert.equal(b.state, 'half-open');
    let second = false;
    const waiting = b.admit(Infinity).then((ok) => (second = ok));
    await new Promise((r) => setTimeout(r, 5));
    assert.equal(second, false, 'others wait for the probe');
    b.success();
    await waiting;
    assert.equal(second, true);
    assert.equal(b.state, 'closed');
    assert.equal(b.opens, 1);
  });
  test('a failed probe reopens', async () => {
    let now = 0;
    const b = new CircuitBreaker(1, 100, () => now);
    b.failure();
    now = 100;
    assert.equal(await b.admit(Infinity), true);
    b.failure();
    assert.equal(b.state, 'open');
    assert.equal(b.opens, 2);
  });
});

describe('config', () => {
  test('defaults', () => {
    const c = parseInfluxSinkConfig({ kind: 'influx', url: 'http://127.0.0.1:8086', db: 'x' });
    assert.equal(c.version, 1);
    assert.equal(c.precision, 'ms');
    assert.equal(c.gzip, 'auto');
    assert.equal(c.batchLines, 5000);
    assert.equal(c.batchBytes, 10_000_000);
    assert.equal(c.concurrency, 4);
    assert.deepEqual(c.retry, { baseMs: 250, maxMs: 30_000, maxOutageMs: 300_000 });
    assert.deepEqual(c.circuitBreaker, { failures: 5, cooldownMs: 5000 });
    assert.equal(c.deadLetter, 'out/dead-letter.lp');
    assert.deepEqual(c.cardinality, { limit: 100_000, action: 'warn' });
  });
  test('gzip auto: off for a loopback host, on for any other; explicit true/false win', () => {
    const on = (url: string, gzip?: boolean | 'auto') => gzipEnabled(parseInfluxSinkConfig({ kind: 'influx', url, db: 'x', ...(gzip === undefined ? {} : { gzip }) }));
    for (const url of ['http://127.0.0.1:8086', 'http://127.8.9.10:8428', 'http://localhost:8086', 'http://LocalHost:8086/p', 'http://[::1]:8086', 'http://[::ffff:127.0.0.1]:8086']) assert.equal(on(url), false, url);
    for (const url of ['http://10.0.0.1:8086', 'http://influx.example.com:8086', 'https://128.0.0.1', 'http://[::2]:8086', 'http://127.example.com', 'http://localhost.example.com']) assert.equal(on(url), true, url);
    assert.equal(on('http://127.0.0.1:8086', true), true);
    assert.equal(on('http://influx.example.com', false), false);
    assert.equal(parseSinkUrl('influx:http://127.0.0.1:8086?db=x&gzip=auto').gzip, 'auto');
    assert.equal(parseSinkUrl('influx:http://127.0.0.1:8086?db=x&gzip=true').gzip, true);
  });
  test('errors name the key', () => {
    assert.throws(() => parseInfluxSinkConfig({ kind: 'influx', url: 'http://h:8086' }), /sink\.db.*needs `db`/);
    assert.throws(() => parseInfluxSinkConfig({ kind: 'influx', url: 'http://h:8086', version: 2 }), /sink\.bucket/);
    assert.throws(() => parseInfluxSinkConfig({ kind: 'influx', url: 'http://h:8086', db: 'x', bogus: 1 }), /PROMFLUX|bogus|Unrecognized/i);
    assert.throws(() => parseInfluxSinkConfig({ kind: 'influx', url: 'ftp://h', db: 'x' }), /sink\.url/);
  });
  test('--sink influx:URL', () => {
    const c = parseSinkUrl('influx:http://user:p%40ss@127.0.0.1:8086/prefix?db=metrics&rp=hot&precision=s&gzip=false&concurrency=8&other=kept');
    assert.equal(c.url, 'http://127.0.0.1:8086/prefix?other=kept');
    assert.equal(c.db, 'metrics');
    assert.equal(c.rp, 'hot');
    assert.equal(c.precision, 's');
    assert.equal(c.gzip, false);
    assert.equal(c.concurrency, 8);
    assert.equal(c.username, 'user');
    assert.equal(c.password, 'p@ss');
    assert.throws(() => parseSinkUrl('http://x'), /influx:http/);
  });
  test('endpoint: v1 precision letters, v2 path and token', () => {
    const v1 = endpointOf(parseInfluxSinkConfig({ kind: 'influx', url: 'http://h:8086/base/', db: 'd b', rp: 'hot', precision: 'us', username: 'u', password: 'p' }));
    assert.equal(v1.writePath, '/base/write?db=d+b&rp=hot&precision=u');
    assert.equal(v1.headers.authorization, `Basic ${Buffer.from('u:p').toString('base64')}`);
    const v2 = endpointOf(parseInfluxSinkConfig({ kind: 'influx', url: 'https://h', version: 2, org: 'o', bucket: 'b', token: 't', precision: 'ns' }));
    assert.equal(v2.writePath, '/api/v2/write?org=o&bucket=b&precision=ns');
    assert.equal(v2.headers.authorization, 'Token t');
  });
  test('durations', () => {
    assert.equal(durationSeconds('30d'), 30 * 86400);
    assert.equal(durationSeconds('5y'), 5 * 365 * 86400);
    assert.equal(durationSeconds('INF'), 0);
    assert.equal(durationSeconds('1d12h'), 36 * 3600);
    assert.equal(goDurationSeconds('720h0m0s'), 30 * 86400);
    assert.equal(goDurationSeconds('0s'), 0);
    assert.equal(influxqlDuration(5 * 365 * 86400), '1825d');
    assert.equal(influxqlDuration(0), 'INF');
    assert.equal(influxqlDuration(14 * 86400), '2w');
  });
  test('Flux CSV', () => {
    const rows = parseCsv(',result,table,_measurement,_value\r\n,_result,0,cpu,12\r\n,_result,1,"m,x",3\r\n\r\n');
    assert.deepEqual(rows.map((r) => [r._measurement, r._value]), [['cpu', '12'], ['m,x', '3']]);
  });
});
