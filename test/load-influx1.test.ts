/**
 * The InfluxDB sink against a real InfluxDB 1.x (Debian's influxd 1.6): setup, exact point counts
 * and values after a load (label values with spaces, commas, =, quotes, backslashes, unicode),
 * rejected lines isolated into the dead-letter file, a real 413, verify, metrics.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { Registry } from 'prom-client';
import { createInfluxSink, parseInfluxSinkConfig, setupInflux, verifyInflux, type InfluxSinkConfig } from '../src/load/influx/index.js';
import type { EncodedBatch } from '../src/load/sink.js';
import { lpLine, startInfluxd, type Influxd } from './harness/influxdb.js';

const logger = pino({ level: 'silent' });
const enc = new TextEncoder();
const DAY = 86_400_000;
const T0 = Math.floor(Date.now() / DAY) * DAY - 2 * DAY; // inside the 30d "hot" policy

function batchOf(lines: string[], id = 1, shared = false): EncodedBatch {
  const bytes = enc.encode(lines.map((l) => l + '\n').join(''));
  let lp: Uint8Array = bytes;
  if (shared) {
    // engine batches arrive in SharedArrayBuffers
    lp = new Uint8Array(new SharedArrayBuffer(bytes.length));
    lp.set(bytes);
  }
  return { batchId: id, chunkId: `chunk-${id}`, lp, lines: lines.length, columns: null, seriesKeys: [] };
}

const NASTY = [
  'plain',
  'with space',
  'comma,inside',
  'equals=sign',
  'double "quotes"',
  "single 'quote'",
  'back\\slash\\path',
  'ünïcödé ✓ 日本語',
  'emoji 🚀 rocket',
  'mix, of= all "of" \\them',
];

describe('influx sink → InfluxDB 1.6', () => {
  let influxd: Influxd;
  let dir: string;
  const cfgFor = (over: Record<string, unknown> = {}): InfluxSinkConfig =>
    parseInfluxSinkConfig({
      kind: 'influx',
      url: influxd.url,
      version: 1,
      db: 'promflux',
      deadLetter: join(dir, 'dead-letter.lp'),
      setup: {
        retentionPolicies: [
          { name: 'hot', duration: '30d', default: true },
          { name: 'warm', duration: '365d' },
          { name: 'cold', duration: '5y' },
        ],
      },
      ...over,
    });

  before(async () => {
    influxd = await startInfluxd();
    dir = await mkdtemp(join(tmpdir(), 'promflux-load-'));
  });
  after(async () => {
    await influxd?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('setup creates the database and retention policies, idempotently', async () => {
    const first = await setupInflux(cfgFor(), logger);
    assert.deepEqual(first.created, [
      'database "promflux"',
      'retention policy "hot" on "promflux" (30d, default)',
      'retention policy "warm" on "promflux" (365d)',
      'retention policy "cold" on "promflux" (5y)',
    ]);
    const second = await setupInflux(cfgFor(), logger);
    assert.deepEqual(second.created, []);
    assert.deepEqual(second.altered, []);
    assert.equal(second.unchanged.length, 4);
    const rps = await influxd.rows('SHOW RETENTION POLICIES ON promflux');
    const byName = Object.fromEntries(rps.map((r) => [r.name, r]));
    assert.equal(byName.hot!.duration, '720h0m0s');
    assert.equal(byName.hot!.default, true);
    assert.equal(byName.warm!.duration, '8760h0m0s');
    assert.equal(byName.cold!.duration, '43800h0m0s');
    // a changed duration is ALTERed, not recreated
    const changed = cfgFor({ setup: { retentionPolicies: [{ name: 'warm', duration: '400d' }] } });
    const third = await setupInflux(changed, logger);
    assert.deepEqual(third.altered, ['retention policy "warm" on "promflux" (400d)']);
    const warm = (await influxd.rows('SHOW RETENTION POLICIES ON promflux')).find((r) => r.name === 'warm');
    assert.equal(warm!.duration, '9600h0m0s');
  });

  test('exact counts and values after a load, with hostile label values', async () => {
    const series = 40;
    const perSeries = 500; // 20 000 lines
    const lines: string[] = [];
    let sum = 0;
    for (let s = 0; s < series; s++) {
      const tags = { instance: `host-${s}`, label: NASTY[s % NASTY.length]!, 'key with space': `v${s % 3}` };
      for (let i = 0; i < perSeries; i++) {
        const v = s * 1000 + i + 0.25;
        sum += v;
        lines.push(lpLine('node_load', tags, { value: v, mean_5: i / 2, count: { int: i } }, T0 + i * 1000));
      }
    }
    const registry = new Registry();
    const sink = createInfluxSink(cfgFor({ batchLines: 1500, concurrency: 4 }), { logger, metrics: registry });
    await sink.open();
    // two batches, one SAB-backed like the engine's, written concurrently
    const half = lines.length / 2;
    const [a, b] = await Promise.all([
      sink.write(batchOf(lines.slice(0, half), 1, true)),
      sink.write(batchOf(lines.slice(half), 2)),
    ]);
    assert.deepEqual(a, { written: half });
    assert.deepEqual(b, { written: half });
    const stats = sink.stats();
    await sink.close();
    assert.equal(stats.linesWritten, lines.length);
    assert.deepEqual(stats.requests, { '204': 14 }); // ceil(10000/1500) = 7 per batch

    const [count] = await influxd.rows('SELECT COUNT(value) AS n, SUM(value) AS s FROM node_load', 'promflux');
    assert.equal(count!.n, series * perSeries);
    assert.ok(Math.abs(Number(count!.s) - sum) < 1e-6 * sum);

    // every hostile tag value round-trips exactly
    const tagValues = (await influxd.rows('SHOW TAG VALUES FROM node_load WITH KEY = "label"', 'promflux')).map((r) => r.value);
    assert.deepEqual([...tagValues].sort(), [...NASTY].sort());
    const keys = (await influxd.rows('SHOW TAG KEYS FROM node_load', 'promflux')).map((r) => r.tagKey);
    assert.deepEqual(keys, ['instance', 'key with space', 'label']);
    // and points are addressable by them, with exact field values and types
    for (let s = 0; s < NASTY.length; s++) {
      const label = NASTY[s]!.replace(/\\/g, '\\\\').replace(/'/g, "\\'");
      const rows = await influxd.rows(
        `SELECT value, mean_5, "count" FROM node_load WHERE label = '${label}' AND instance = 'host-${s}' ORDER BY time ASC LIMIT 3`,
        'promflux',
      );
      assert.deepEqual(rows, [
        { time: T0, value: s * 1000 + 0.25, mean_5: 0, count: 0 },
        { time: T0 + 1000, value: s * 1000 + 1.25, mean_5: 0.5, count: 1 },
        { time: T0 + 2000, value: s * 1000 + 2.25, mean_5: 1, count: 2 },
      ]);
    }
    const types = await influxd.rows('SHOW FIELD KEYS FROM node_load', 'promflux');
    assert.deepEqual(Object.fromEntries(types.map((r) => [r.fieldKey, r.fieldType])), { count: 'integer', mean_5: 'float', value: 'float' });

    const v = await verifyInflux(cfgFor(), { startMs: T0, endMs: T0 + perSeries * 1000, expected: { node_load: series * perSeries }, values: true });
    assert.equal(v.ok, true);
    assert.equal(v.perMeasurement.node_load!.found, series * perSeries);
    assert.ok(Math.abs(v.perMeasurement.node_load!.sum! - sum) < 1e-6 * sum);
    const off = await verifyInflux(cfgFor(), { startMs: T0, endMs: T0 + 100_000, expected: { node_load: series * perSeries } });
    assert.equal(off.ok, false);
    assert.equal(off.perMeasurement.node_load!.found, series * 100);

    // metrics on the registry
    const metrics = await registry.getMetricsAsJSON();
    const get = (name: string) => metrics.find((m) => m.name === name);
    assert.equal(get('promflux_load_lines_total')!.values[0]!.value, lines.length);
    assert.deepEqual(get('promflux_load_requests_total')!.values.map((x) => [x.labels.status, x.value]), [['204', 14]]);
    assert.ok(get('promflux_load_request_duration_seconds'));
    assert.ok(Number(get('promflux_load_bytes_total')!.values[0]!.value) > 0);
  });

  test('rejected lines are isolated into the dead-letter file; good lines are written', async () => {
    const dl = join(dir, 'rejects.lp');
    // establish "value" as float on m_reject so an integer write is a type conflict
    await fetch(`${influxd.url}/write?db=promflux&precision=ms`, { method: 'POST', body: `m_reject,k=seed value=1 ${T0}\n` });
    const lines: string[] = [];
    const bad = new Map<number, string>();
    for (let i = 0; i < 2000; i++) {
      if (i === 17) (lines.push(`m_reject,k=a value= ${T0 + i}`), bad.set(i, 'invalid_line'));
      else if (i === 900) (lines.push('this is not line protocol'), bad.set(i, 'invalid_line'));
      else if (i === 1234) (lines.push(`m_reject,k=b value=5i ${T0 + i}`), bad.set(i, 'field_type_conflict'));
      else if (i === 1500) (lines.push(`m_reject,k=c value=5 ${T0 - 400 * DAY}`), bad.set(i, 'outside_retention'));
      else lines.push(lpLine('m_reject', { k: `g${i % 7}` }, { value: i }, T0 + i));
    }
    const registry = new Registry();
    const sink = createInfluxSink(cfgFor({ deadLetter: dl, batchLines: 1000 }), { logger, metrics: registry });
    const res = await sink.write(batchOf(lines, 7));
    const stats = sink.stats();
    await sink.close();
    assert.deepEqual(res, { written: 1996, deadLettered: { invalid_line: 2, field_type_conflict: 1, outside_retention: 1 } });
    assert.equal(res.written + Object.values(res.deadLettered!).reduce((x, y) => x + y, 0), lines.length);
    assert.deepEqual(stats.deadLettered, { invalid_line: 2, field_type_conflict: 1, outside_retention: 1 });
    assert.deepEqual(stats.deadLetteredByMeasurement, { m_reject: 3, this: 1 });

    const [c] = await influxd.rows(`SELECT COUNT(value) AS n FROM m_reject WHERE k != 'seed'`, 'promflux');
    assert.equal(c!.n, 1996);

    // the file is replayable line protocol: a '#' header per rejected line, then the line verbatim
    const text = await readFile(dl, 'utf8');
    const fileLines = text.trimEnd().split('\n');
    assert.equal(fileLines.length, 8);
    const rejected = fileLines.filter((l) => !l.startsWith('#'));
    assert.deepEqual([...rejected].sort(), [...bad.keys()].map((i) => lines[i]!).sort());
    for (let k = 0; k < fileLines.length; k += 2) {
      const head = fileLines[k]!;
      const line = fileLines[k + 1]!;
      const i = lines.indexOf(line);
      assert.match(head, new RegExp(`^# promflux-dead-letter time=\\S+ reason=${bad.get(i)} status=400 batch=7 chunk=chunk-7: .+`));
    }
    const dead = (await registry.getMetricsAsJSON()).find((m) => m.name === 'promflux_load_dead_letter_total')!;
    assert.deepEqual(Object.fromEntries(dead.values.map((x) => [x.labels.reason, x.value])), {
      invalid_line: 2,
      field_type_conflict: 1,
      outside_retention: 1,
    });
  });

  test('a whole batch outside retention is dead-lettered without bisecting', async () => {
    const lines = Array.from({ length: 300 }, (_, i) => lpLine('m_old', { k: 'x' }, { value: i }, T0 - 100 * DAY + i));
    const sink = createInfluxSink(cfgFor({ deadLetter: join(dir, 'old.lp') }), { logger });
    const res = await sink.write(batchOf(lines));
    const stats = sink.stats();
    await sink.close();
    assert.deepEqual(res, { written: 0, deadLettered: { outside_retention: 300 } });
    assert.deepEqual(stats.requests, { '400': 1 });
  });

  test('a real 413 from influxd (small max-body-size) splits requests until they fit', async () => {
    const small = await startInfluxd({ maxBodySize: 20_000 });
    try {
      await small.query('CREATE DATABASE promflux');
      const lines = Array.from({ length: 2000 }, (_, i) => lpLine('m_big', { k: `s${i % 10}` }, { value: i }, T0 + i)); // ~70 KB
      // influxd 1.6 applies max-body-size to the wire bytes, so send uncompressed to hit it
      const sink = createInfluxSink(cfgFor({ url: small.url, batchLines: 5000, gzip: false }), { logger });
      const res = await sink.write(batchOf(lines));
      const stats = sink.stats() as { requests: Record<string, number>; retries: Record<string, number> };
      await sink.close();
      assert.deepEqual(res, { written: 2000 });
      assert.ok(stats.requests["413"]! >= 1, JSON.stringify(stats));
      assert.equal(stats.retries.split_413, stats.requests['413']);
      const [c] = await small.rows('SELECT COUNT(value) AS n FROM m_big', 'promflux');
      assert.equal(c!.n, 2000);
    } finally {
      await small.stop();
    }
  });

  test('uncompressed requests straight from a SharedArrayBuffer batch', async () => {
    const lines = Array.from({ length: 3000 }, (_, i) => lpLine('m_plain', { k: NASTY[i % NASTY.length]! }, { value: i }, T0 + i));
    const sink = createInfluxSink(cfgFor({ gzip: false, batchLines: 700, precision: 'ms' }), { logger });
    assert.deepEqual(await sink.write(batchOf(lines, 3, true)), { written: 3000 });
    await sink.close();
    const [c] = await influxd.rows('SELECT COUNT(value) AS n, SUM(value) AS s FROM m_plain', 'promflux');
    assert.deepEqual([c!.n, c!.s], [3000, (2999 * 3000) / 2]);
  });

  test('wrong database fails the write with a clear, coded error', async () => {
    const sink = createInfluxSink(cfgFor({ db: 'nope' }), { logger });
    await assert.rejects(sink.write(batchOf([lpLine('m', {}, { value: 1 }, T0)])), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'PROMFLUX_SINK_NOT_FOUND');
      assert.match(err.message, /promflux setup/);
      return true;
    });
    await sink.close();
  });
});
