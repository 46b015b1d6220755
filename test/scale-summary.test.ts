/**
 * Issue #18: the run summary measures the main thread's cost directly (CPU from /proc, event-loop
 * utilisation), per worker thread too, and the start-up times; the dispatcher-ceiling benchmark's
 * no-op workers move exactly the planned samples through a real sink.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createPipeline, droppedTotal } from '../src/index.js';
import type { EncodedBatch, Sink, SinkWriteResult } from '../src/load/sink.js';
import { MainThreadMeter, WorkerThreadStats, threadCpu } from '../src/pool/thread-cpu.js';

const FEATURES = [{ kind: 'validate' }, { kind: 'rolling', windows: [5, 15, 60], stats: ['mean', 'std'] }];
const source = { kind: 'synthetic' as const, series: 140, samplesPerSeries: 3000, stepMs: 15_000, seed: 3, nanRate: 0.001 };

/** Keeps byte and line counts of what it is given (the real null sink keeps nothing to check). */
class CountingSink implements Sink {
  readonly kind = 'counting';
  readonly needs = { lineProtocol: true, columns: false };
  readonly resume = 'idempotent' as const;
  bytes = 0;
  newlines = 0;
  firstLine = '';
  /** Series keys per batch, and all distinct ones. */
  readonly seriesPerBatch: number[] = [];
  readonly series = new Set<string>();
  async open(): Promise<void> {}
  async write(b: EncodedBatch): Promise<SinkWriteResult> {
    this.seriesPerBatch.push(b.seriesKeys.length);
    for (const k of b.seriesKeys) this.series.add(k);
    const lp = b.lp!;
    this.bytes += lp.byteLength;
    for (let i = 0; i < lp.length; i++) if (lp[i] === 10) this.newlines++;
    if (!this.firstLine && lp.length) this.firstLine = Buffer.from(lp.subarray(0, lp.indexOf(10))).toString();
    return { written: b.lines };
  }
  async close(): Promise<void> {}
}

describe('main-thread and worker cost in the summary', () => {
  test('a 2-worker run reports plausible main-thread CPU, ELU, per-batch and per-sample cost, and per-worker figures', async () => {
    const s = await createPipeline({ name: 'cost', source, transform: FEATURES, sink: { kind: 'null' } }, { workers: 2, batchSize: 20_000 }).run();
    assert.equal(s.status, 'ok', s.error?.message);
    assert.equal(s.samplesIn, s.linesOut + droppedTotal(s));
    const m = s.mainThread;
    assert.ok(m.cpuMs > 0, `main cpuMs ${m.cpuMs}`);
    assert.ok(m.elu >= 0 && m.elu <= 1, `main elu ${m.elu}`);
    assert.ok(s.batches >= 2, `batches ${s.batches}`);
    assert.ok(m.perBatchUs !== null && Number.isFinite(m.perBatchUs) && m.perBatchUs > 0, `perBatchUs ${m.perBatchUs}`);
    assert.ok(m.perSampleNs !== null && Number.isFinite(m.perSampleNs) && m.perSampleNs > 0, `perSampleNs ${m.perSampleNs}`);
    assert.ok(m.fixedCpuMs >= 0 && m.fixedCpuMs <= m.cpuMs, `fixed ${m.fixedCpuMs} of ${m.cpuMs}`);
    // The steady-state part cannot exceed the whole: per-batch cost × batches after the first ≤ cpuMs.
    assert.ok((m.perBatchUs! * (s.batches - 1)) / 1000 <= m.cpuMs + 0.01);
    assert.ok(['schedstat', 'stat', 'process'].includes(m.cpuSource));

    assert.ok(s.workerThreads.length >= 1 && s.workerThreads.length <= 2, `${s.workerThreads.length} worker threads`);
    assert.equal(s.workerThreads.reduce((a, w) => a + w.tasks, 0), s.batches + s.retries, 'every task reported by one thread');
    assert.equal(new Set(s.workerThreads.map((w) => w.threadId)).size, s.workerThreads.length);
    for (const w of s.workerThreads) {
      assert.ok(w.taskCpuMs > 0, `worker ${w.threadId} taskCpuMs ${w.taskCpuMs}`);
      assert.ok(w.threadCpuMs >= w.taskCpuMs, `thread CPU ${w.threadCpuMs} includes its tasks' ${w.taskCpuMs}`);
      assert.ok(w.taskWallMs > 0 && w.busy > 0 && w.busy <= 1, `busy ${w.busy}`);
      assert.ok(w.elu >= 0 && w.elu <= 1);
    }
    // Kernels run in the workers: their CPU outweighs the main thread's steady-state share.
    const workerCpu = s.workerThreads.reduce((a, w) => a + w.taskCpuMs, 0);
    assert.ok(workerCpu > (m.perBatchUs! * s.batches) / 1000, `workers ${workerCpu} ms vs main ${m.perBatchUs} µs/batch`);

    const st = s.startup;
    assert.ok(st.processToRunMs > 0);
    assert.ok(st.processToFirstBatchMs !== null && st.processToFirstBatchMs > st.processToRunMs);
    assert.ok(st.runToFirstBatchMs !== null && st.runToFirstBatchMs > 0 && st.runToFirstBatchMs <= s.wallMs + 1);
    assert.ok(st.lastBatchToEndMs !== null && st.lastBatchToEndMs >= 0 && st.lastBatchToEndMs <= s.wallMs + 1);
  });

  test('threadCpu counts this thread\'s own work, and the meter splits steady state from fixed cost', () => {
    const meter = new MainThreadMeter();
    const a = threadCpu();
    let x = 0;
    for (let i = 0; i < 3e7; i++) x += i & 7;
    const b = threadCpu();
    assert.ok(x > 0);
    assert.ok(b.ns > a.ns, `${b.ns} > ${a.ns}`);
    meter.markFirstBatch(1, 100);
    for (let i = 0; i < 3e7; i++) x += i & 3;
    meter.markDispatchEnd(11, 1100);
    const m = meter.summary();
    assert.ok(m.perBatchUs! > 0 && m.perSampleNs! > 0);
    // 10 batches and 1000 samples in the window: one batch costs 100 samples' worth (ns).
    assert.ok(Math.abs(m.perBatchUs! * 1000 - m.perSampleNs! * 100) <= 0.01 * m.perBatchUs! * 1000 + 1, 'per batch = 100 × per sample');
    assert.equal(meter.summary().perBatchUs, m.perBatchUs, 'steady state ends at dispatch end');
  });

  test('worker stats: tasks and CPU summed per thread, busy share of the run', () => {
    const w = new WorkerThreadStats();
    const sample = (threadId: number, taskCpuNs: number, threadCpuNs: number, act: number, idle: number) => ({ threadId, taskCpuNs, threadCpuNs, cpuSource: 'schedstat' as const, eluActiveMs: act, eluIdleMs: idle });
    w.observe(sample(2, 5e6, 50e6, 100, 100), 6);
    w.observe(sample(1, 3e6, 40e6, 10, 10), 4);
    w.observe(sample(2, 7e6, 60e6, 130, 110), 8);
    w.observe(undefined, 1);
    const s = w.summary(100);
    assert.deepEqual(s.map((t) => [t.threadId, t.tasks, t.taskCpuMs, t.threadCpuMs, t.taskWallMs, t.busy]), [
      [1, 1, 3, 40, 4, 0.04],
      [2, 2, 12, 60, 14, 0.14],
    ]);
    assert.equal(s[1]!.elu, 0.75, 'ELU between the first and last task: 30 active of 40');
    assert.equal(s[0]!.elu, 0.5, 'one task: since thread start');
  });
});

describe('no-op workers (dispatcher-ceiling benchmark)', () => {
  test('every planned sample goes through the dispatcher and the sink as one fixed line; kernels never run', async () => {
    const sink = new CountingSink();
    const s = await createPipeline({ name: 'noop', source, transform: FEATURES }, { sink, workers: 2, batchSize: 25_000, noopWorkers: true }).run();
    assert.equal(s.status, 'ok', s.error?.message);
    const planned = source.series * source.samplesPerSeries;
    assert.equal(s.samplesIn, planned);
    assert.equal(s.linesOut, planned);
    assert.equal(droppedTotal(s), 0);
    assert.equal(sink.newlines, planned, 'the sink got one line per sample');
    assert.equal(sink.firstLine, 'promflux_noop,bench=dispatcher_ceiling v=1 1700000000000');
    assert.equal(sink.bytes, planned * (sink.firstLine.length + 1));
    assert.deepEqual(s.linesByMeasurement, { promflux_noop: planned });
    assert.equal(Object.keys(s.kernelMs).filter((k) => !k.startsWith('(')).length, 0, 'no kernel ran');
    assert.equal(sink.series.size, 0, 'plain no-op results carry no series keys');
  });

  test('with seriesKeys, no-op results carry one key per series of the chunk until the set is known, as real results do', async () => {
    const sink = new CountingSink();
    const s = await createPipeline({ name: 'noop-keys', source, transform: FEATURES }, { sink, workers: 2, batchSize: 25_000, noopWorkers: { seriesKeys: true } }).run();
    assert.equal(s.status, 'ok', s.error?.message);
    assert.equal(s.samplesIn, source.series * source.samplesPerSeries);
    assert.equal(sink.series.size, source.series, 'every series of the plan, once');
    const perBatch = s.samplesIn / s.batches;
    const withKeys = sink.seriesPerBatch.filter((n) => n > 0);
    for (const n of withKeys) assert.ok(n <= source.series && n <= perBatch, `series in a batch: ${n}`);
    // A series set the dispatcher already handed to the sink comes back as its digest alone (src/pool/known-keys.ts).
    assert.ok(withKeys.length < sink.seriesPerBatch.length, `some batches repeat a known set: ${sink.seriesPerBatch.join(',')}`);
    // The no-op worker builds a block's keys once and reuses them (src/pool/worker.ts noopSeries): they are still the right keys.
    const expected = new Set(Array.from({ length: source.series }, (_, i) => `promflux_noop_gauge{instance="host-${i}.example.net:9100",job="dispatcher_ceiling",service="svc-${i % 97}"}`));
    assert.deepEqual([...sink.series].sort(), [...expected].sort());
  });
});
