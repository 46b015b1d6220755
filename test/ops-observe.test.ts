/**
 * Observability details an operator relies on: labelled counters exported at 0 before their first
 * increment, run outcomes counted by status (`stopped` for a graceful stop, `aborted` for any other
 * abort), freshness read at scrape time, and the stall watch (heartbeat line, seconds, reason)
 * over a real pipeline whose sink stops answering.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import pino from 'pino';
import { createEngineMetrics } from '../src/observe/metrics.js';
import { knownDropReasons } from '../src/observe/known-labels.js';
import { StallWatch } from '../src/observe/stall.js';
import { createPipeline } from '../src/pipeline/run.js';
import { StopRequested } from '../src/pipeline/stop.js';
import { startMetricsServer } from '../src/observe/server.js';
import type { EncodedBatch, Sink, SinkWriteResult } from '../src/load/sink.js';

const synthetic = { kind: 'synthetic' as const, series: 7, samplesPerSeries: 2000, nanRate: 0.01 };

function captureLogger(): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

/** A real Sink whose writes wait until released (an InfluxDB that stopped answering). */
function stallingSink(): Sink & { release(): void; writes: number } {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const s = {
    kind: 'stalling',
    needs: { lineProtocol: true, columns: false },
    writes: 0,
    release: () => release(),
    async open() {},
    async write(b: EncodedBatch): Promise<SinkWriteResult> {
      s.writes++;
      await gate;
      return { written: b.lines };
    },
    async close() {},
    stats: () => ({ inFlightRequests: 1, retries: { http_503: 3 }, breaker: 'open' }),
  };
  return s;
}

describe('labelled counters start at 0', () => {
  test('known drop reasons, error codes and run statuses are exported at 0 before any increment', async () => {
    const metrics = createEngineMetrics();
    const s = await createPipeline({ name: 'zero', source: { ...synthetic, nanRate: 0 }, transform: [{ kind: 'validate' }], sink: { kind: 'null' }, engine: { workers: 1 } }, { metrics }).run();
    assert.equal(s.status, 'ok');
    const text = await metrics.registry.metrics();
    for (const reason of ['nan', 'inf', 'stale', 'out_of_order']) assert.match(text, new RegExp(`^promflux_dropped_total\\{pipeline="zero",reason="${reason}"\\} 0$`, 'm'));
    assert.match(text, /^promflux_errors_total\{pipeline="zero",stage="worker",code="PROMFLUX_WORKER_FAILED"\} 0$/m);
    assert.match(text, /^promflux_runs_total\{pipeline="zero",status="failed"\} 0$/m);
    assert.match(text, /^promflux_runs_total\{pipeline="zero",status="ok"\} 1$/m);
  });

  test('the known reasons follow the kernels and the sink', () => {
    assert.deepEqual(knownDropReasons([{ kind: 'impute' }], 'file', 'retry'), ['missing']);
    const r = knownDropReasons([{ kind: 'validate' }, { kind: 'outliers' }], 'influx', 'skip');
    for (const x of ['nan', 'outlier', 'dead_letter:field_type_conflict', 'batch_failed:validate', 'batch_failed:outliers']) assert.ok(r.includes(x), x);
  });
});

describe('run status and freshness', () => {
  test('a graceful stop ends "stopped"; any other abort "aborted"; both counted in promflux_runs_total', async () => {
    const metrics = createEngineMetrics();
    const cfg = { name: 'stop', source: { ...synthetic, samplesPerSeries: 200_000 }, transform: [{ kind: 'validate' }], sink: { kind: 'null' as const }, engine: { workers: 1, batchSize: 5000 } };
    const ac1 = new AbortController();
    const p1 = createPipeline(cfg, { metrics });
    p1.once('batch', () => ac1.abort(new StopRequested('SIGTERM')));
    const s1 = await p1.run({ signal: ac1.signal });
    assert.equal(s1.status, 'stopped');
    const ac2 = new AbortController();
    const p2 = createPipeline(cfg, { metrics });
    p2.once('batch', () => ac2.abort());
    const s2 = await p2.run({ signal: ac2.signal });
    assert.equal(s2.status, 'aborted');
    const text = await metrics.registry.metrics();
    assert.match(text, /^promflux_runs_total\{pipeline="stop",status="stopped"\} 1$/m);
    assert.match(text, /^promflux_runs_total\{pipeline="stop",status="aborted"\} 1$/m);
  });

  test('data freshness is computed at scrape time and keeps growing after the run', async () => {
    const metrics = createEngineMetrics();
    const s = await createPipeline({ name: 'fresh', source: synthetic, transform: [{ kind: 'validate' }], sink: { kind: 'null' }, engine: { workers: 1 } }, { metrics }).run();
    const read = async () => Number(/^promflux_data_freshness_seconds\{pipeline="fresh"\} (\S+)$/m.exec(await metrics.registry.metrics())![1]);
    const a = await read();
    const expected = (Date.now() - s.newestSampleMs!) / 1000;
    assert.ok(Math.abs(a - expected) < 5, `${a} ≈ ${expected}`);
    await new Promise((r) => setTimeout(r, 1100));
    assert.ok((await read()) >= a + 1, 'grows while nothing new lands');
  });
});

describe('stall watch', () => {
  test('a sink that stops answering: heartbeat lines say "waiting on sink" with the sink state, and the metric counts seconds', async () => {
    const { logger, lines } = captureLogger();
    let now = 1_000_000;
    const sink = stallingSink();
    const w = new StallWatch({ pipeline: 'p', logger, streaming: false, now: () => now, intervalMs: 3_600_000 });
    const wrapped = w.wrapSink(sink);
    w.start();
    const pending = wrapped.write({ batchId: 0, chunkId: 'c0', lp: new Uint8Array(0), lines: 0, columns: null, seriesKeys: [] });
    now += 5_000;
    assert.equal(w.state().stalled, false, 'below the 10 s threshold');
    assert.equal(w.seconds(), 0);
    now += 16_000;
    const st = w.beat();
    assert.equal(st.stalled, true);
    assert.equal(st.waitingOn, 'sink');
    assert.equal(st.seconds, 21);
    assert.match(st.reason, /^waiting on sink stalling: 1 batch write\(s\) pending, oldest 21 s, 1 request\(s\) in flight, circuit breaker open, retries so far http_503=3$/);
    const hb = lines.find((l) => l.msg === `stalled 21 s: ${st.reason}`);
    assert.ok(hb, JSON.stringify(lines));
    assert.equal(hb.level, 40);
    sink.release();
    await pending;
    assert.equal(w.state().stalled, false, 'progress resets the clock');
    w.stop();
  });

  test('/readyz answers 503 "stalled" with the reason while a pipeline is stalled, 200 once it moves', async () => {
    let now = 0;
    const sink = stallingSink();
    const w = new StallWatch({ pipeline: 'p', logger: pino({ level: 'silent' }), streaming: false, now: () => now, intervalMs: 3_600_000 });
    const wrapped = w.wrapSink(sink);
    w.start();
    const srv = await startMetricsServer(createEngineMetrics().registry, '0', undefined, (): Record<string, string> => {
      const st = w.state();
      return st.stalled ? { p: st.reason } : {};
    });
    try {
      srv.setReady(true);
      const pending = wrapped.write({ batchId: 0, chunkId: 'c0', lp: new Uint8Array(0), lines: 0, columns: null, seriesKeys: [] });
      now += 15_000;
      const r = await fetch(`${srv.url}/readyz`);
      assert.equal(r.status, 503);
      const body = (await r.json()) as { status: string; stalled: Record<string, string> };
      assert.equal(body.status, 'stalled');
      assert.match(body.stalled.p!, /^waiting on sink stalling: 1 batch write\(s\) pending, oldest 15 s/);
      sink.release();
      await pending;
      assert.equal((await fetch(`${srv.url}/readyz`)).status, 200);
    } finally {
      w.stop();
      await srv.close();
    }
  });

  test('a stream source waiting for its next poll is idle, a bounded one is stalled on the source', async () => {
    let now = 0;
    let resolve!: () => void;
    const src = { kind: 's', open: async () => {}, next: () => new Promise<null>((r) => (resolve = () => r(null))), progress: () => ({ doneSamples: 0, totalSamples: null }), close: async () => {} };
    for (const streaming of [true, false]) {
      const w = new StallWatch({ pipeline: 'p', logger: pino({ level: 'silent' }), streaming, now: () => now, intervalMs: 3_600_000 });
      const s = w.wrapSource(src);
      w.start();
      const n = s.next(100);
      now += 30_000;
      const st = w.state();
      if (streaming) assert.equal(st.stalled, false);
      else {
        assert.equal(st.waitingOn, 'source');
        assert.match(st.reason, /^waiting on source: next chunk requested 30 s ago$/);
      }
      resolve();
      await n;
      w.stop();
    }
  });

  test('a real pipeline stalled on its sink exports promflux_stalled_seconds while stalled and 0 after', async () => {
    const metrics = createEngineMetrics();
    const sink = stallingSink();
    const p = createPipeline({ name: 'stall', source: synthetic, transform: [{ kind: 'validate' }], sink: { kind: 'null' }, engine: { workers: 1 } }, { metrics, sink });
    const run = p.run();
    while (sink.writes === 0) await new Promise((r) => setTimeout(r, 20));
    assert.equal(p.stall.waitingOn, 'sink');
    assert.match(await metrics.registry.metrics(), /^promflux_stalled_seconds\{pipeline="stall"\} 0$/m, 'not yet past the threshold');
    sink.release();
    const s = await run;
    assert.equal(s.status, 'ok');
    assert.match(await metrics.registry.metrics(), /^promflux_stalled_seconds\{pipeline="stall"\} 0$/m);
  });
});
