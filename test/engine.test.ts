import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPipeline, droppedTotal, type RunSummary } from '../src/index.js';
import { allocBatch, FLAG_DROPPED, FLAG_HALO, viewBatch } from '../src/batch/layout.js';
import { BatchBuilder } from '../src/batch/builder.js';
import { WorkerPool } from '../src/pool/pool.js';
import type { ProcessResult } from '../src/pool/task.js';
import type { EncodedBatch, Sink, SinkWriteResult } from '../src/load/sink.js';
import type { Source, SourceChunk, SourceOpenOptions } from '../src/extract/source.js';
import { SyntheticSource, syntheticSourceSchema } from '../src/extract/synthetic.js';

const tmp = mkdtempSync(join(tmpdir(), 'promflux-engine-'));

const FEATURES = [{ kind: 'validate' }, { kind: 'rolling', windows: [5, 15, 60], stats: ['mean', 'std'] }];

function synthetic(extra: Record<string, unknown> = {}) {
  return { kind: 'synthetic' as const, series: 70, samplesPerSeries: 2000, stepMs: 15_000, seed: 7, nanRate: 0.002, gapRate: 0.002, outlierRate: 0.001, infRate: 0.001, ...extra };
}

function sortedLines(path: string): string[] {
  return readFileSync(path, 'utf8').split('\n').filter(Boolean).sort();
}

function assertAccounted(s: RunSummary): void {
  assert.equal(s.status, 'ok', s.error?.message);
  assert.equal(s.samplesIn, s.linesOut + droppedTotal(s), `samplesIn ${s.samplesIn} != linesOut ${s.linesOut} + dropped ${droppedTotal(s)}`);
}

describe('zero-copy hand-off', () => {
  test('the worker reads and writes the very SharedArrayBuffers the main thread allocated', async () => {
    const pool = new WorkerPool({ workers: 1 });
    try {
      const desc = allocBatch(1, 'manual', 8, 1);
      const b = new BatchBuilder(desc);
      b.beginRun(b.seriesIndexOf('m{a="1"}', 1));
      const vals = [1, NaN, 3, 4, Infinity, 6, 7, 8];
      vals.forEach((v, i) => b.push(1000 * i, v));
      const filled = b.finish();
      assert.equal(filled.value, desc.value, 'builder kept the main-thread buffer');
      const view = viewBatch(filled);
      const result: ProcessResult = await pool.run({
        batch: filled,
        fill: null,
        pipeline: { key: 'zc', transforms: [{ kind: 'validate' }, { kind: 'rolling', windows: [2], stats: ['mean'] }], encode: { precision: 'ms', floatDigits: 0, valueField: 'value', flagsField: false } },
        nowMs: Date.now(),
        want: { lp: true, columns: false },
      });
      assert.equal(result.error, undefined);
      // The worker's writes are visible in our own typed-array views over the same memory: it
      // dropped the NaN and Inf rows and, because a kernel follows, compacted the batch in place
      // (surviving rows moved down, the run rewritten), so rolling saw only surviving rows.
      assert.equal(result.batch.length, 6, 'the descriptor follows the compaction');
      assert.deepEqual([...new Float64Array(desc.value, 0, 6)], [1, 3, 4, 6, 7, 8], 'surviving rows moved down in our buffer');
      assert.deepEqual([...new Float64Array(desc.ts, 0, 6)], [0, 2000, 3000, 5000, 6000, 7000]);
      assert.deepEqual([...new Uint32Array(desc.runs, 0, 4)], [0, 0, 0, 6], 'run [series, start, halo, len] rewritten');
      for (let i = 0; i < 6; i++) assert.equal(view.flags[i]! & FLAG_DROPPED, 0);
      // And it read our values: 6 lines; mean_2 at 2000 averages 1 and 3 (the NaN row is gone), at 3000 3 and 4
      assert.equal(result.rowsOut, 6);
      assert.deepEqual(result.dropped, { inf: 1, nan: 1 });
      const text = new TextDecoder().decode(result.lp!);
      assert.match(text, /^m,a=1 value=3,mean_2=2 2000$/m);
      assert.match(text, /^m,a=1 value=4,mean_2=3\.5 3000$/m);
      assert.match(text, /^m,a=1 value=6,mean_2=5 5000$/m);
      // The result's batch descriptor still refers to the same SharedArrayBuffer.
      assert.ok(result.batch.flags instanceof SharedArrayBuffer);
      view.flags[0] = 0xabc;
      assert.equal(new Uint32Array(result.batch.flags)[0], 0xabc, 'result buffer aliases ours');
    } finally {
      await pool.close();
    }
  });
});

describe('zero-copy hand-off without a later kernel', () => {
  test('the last kernel\'s drops stay in place as flag bits the main thread sees in its own buffer', async () => {
    const pool = new WorkerPool({ workers: 1 });
    try {
      const desc = allocBatch(1, 'manual', 8, 1);
      const b = new BatchBuilder(desc);
      b.beginRun(b.seriesIndexOf('m{a="1"}', 1));
      [1, NaN, 3, Infinity].forEach((v, i) => b.push(1000 * i, v));
      const filled = b.finish();
      const view = viewBatch(filled);
      const result: ProcessResult = await pool.run({
        batch: filled,
        fill: null,
        pipeline: { key: 'zc-validate', transforms: [{ kind: 'validate' }], encode: { precision: 'ms', floatDigits: 0, valueField: 'value', flagsField: false } },
        nowMs: Date.now(),
        want: { lp: true, columns: false },
      });
      assert.equal(result.error, undefined);
      assert.equal(result.batch.length, 4);
      assert.ok(view.flags[1]! & FLAG_DROPPED, 'NaN row flagged dropped by the worker, in our buffer');
      assert.ok(view.flags[3]! & FLAG_DROPPED, 'Inf row flagged dropped by the worker, in our buffer');
      assert.equal(view.flags[0]! & FLAG_DROPPED, 0);
      assert.equal(result.rowsOut, 2);
    } finally {
      await pool.close();
    }
  });
});

describe('odd label values', () => {
  test('escaped exactly; a trailing backslash is written reversibly (sink.tagValues: escape)', async () => {
    const pool = new WorkerPool({ workers: 1 });
    try {
      const desc = allocBatch(2, 'odd', 8, 4);
      const b = new BatchBuilder(desc);
      b.beginRun(b.seriesIndexOf('m{path="C:\\\\"}', 1)); // label value ends in a backslash
      b.push(1000, 1);
      b.push(2000, 2);
      b.beginRun(b.seriesIndexOf('m{a="x y,z=1 \\"q\\" ü"}', 1));
      b.push(1000, 3);
      const filled = b.finish();
      const result: ProcessResult = await pool.run({
        batch: filled,
        fill: null,
        pipeline: { key: 'odd', transforms: [], encode: { precision: 'ms', floatDigits: 0, valueField: 'value', flagsField: false } },
        nowMs: Date.now(),
        want: { lp: true, columns: false },
      });
      assert.equal(result.error, undefined);
      assert.equal(result.samplesIn, 3);
      assert.equal(result.rowsOut, 3);
      assert.deepEqual(result.dropped, {});
      assert.equal(new TextDecoder().decode(result.lp!), 'm,path=C:\\u{5c} value=1 1000\nm,path=C:\\u{5c} value=2 2000\nm,a=x\\ y\\,z\\=1\\ "q"\\ ü value=3 1000\n');
      assert.deepEqual(result.targetKeys, ['m,path=C:\\u{5c}', 'm,a=x\\ y\\,z\\=1\\ "q"\\ ü']);
    } finally {
      await pool.close();
    }
  });
});

describe('invariance', () => {
  const outputs = new Map<string, string[]>();
  const summaries = new Map<string, RunSummary>();
  before(async () => {
    for (const workers of [1, 2]) {
      for (const batchSize of [1_000, 10_000, 100_000]) {
        const path = join(tmp, `inv-${workers}-${batchSize}.lp`);
        const p = createPipeline({ name: 'inv', source: synthetic(), transform: FEATURES, sink: { kind: 'file', path } }, { workers, batchSize });
        const s = await p.run();
        summaries.set(`${workers}/${batchSize}`, s);
        outputs.set(`${workers}/${batchSize}`, sortedLines(path));
      }
    }
  });

  test('byte-identical line protocol with 1 and 2 workers and batch sizes 1k, 10k, 100k', () => {
    const ref = outputs.get('1/100000')!;
    assert.ok(ref.length > 100_000, `expected many lines, got ${ref.length}`);
    for (const [k, lines] of outputs) {
      assert.equal(lines.length, ref.length, `${k}: line count`);
      for (let i = 0; i < ref.length; i++) {
        if (lines[i] !== ref[i]) assert.fail(`${k}: line ${i} differs:\n  ${lines[i]}\n  ${ref[i]}`);
      }
    }
  });

  test('every run accounts for every sample, with the same drops', () => {
    const ref = summaries.get('1/100000')!;
    for (const [k, s] of summaries) {
      assertAccounted(s);
      assert.equal(s.samplesIn, ref.samplesIn, k);
      assert.deepEqual(s.dropped, ref.dropped, k);
      assert.equal(s.batchSize.min, Number(k.split('/')[1]), `${k}: fixed size reported`);
      assert.equal(s.adaptive, false);
    }
    assert.ok(ref.dropped.nan! > 0 && ref.dropped.inf! > 0, 'NaN and Inf were injected and counted');
    // 70 series x 2000 samples minus ~0.2% gaps
    assert.ok(ref.samplesIn > 139_000 && ref.samplesIn < 140_000, String(ref.samplesIn));
  });

  test('more batches with smaller sizes (the runs really were split)', () => {
    assert.ok(summaries.get('2/1000')!.batches > summaries.get('2/100000')!.batches * 10);
  });
});

describe('invariance of the whole catalogue', () => {
  test('impute (look-ahead) + outliers + default feature set: identical output for 1k and 50k rows, 1 and 2 workers', async () => {
    const { defaultFeatureSet } = await import('../src/transform/kernels/index.js');
    const transform = [
      { kind: 'impute', method: 'linear', maxGap: '5m' },
      { kind: 'outliers', method: 'robust', window: 30, action: 'clip' },
      ...defaultFeatureSet(),
    ];
    const outs: string[][] = [];
    for (const [workers, batchSize] of [[1, 50_000], [2, 1_000]] as const) {
      const path = join(tmp, `cat-${workers}-${batchSize}.lp`);
      const s = await createPipeline({ name: 'cat', source: synthetic({ series: 14, samplesPerSeries: 3000, nanRate: 0.01 }), transform, sink: { kind: 'file', path } }, { workers, batchSize }).run();
      assertAccounted(s);
      assert.ok((s.counters.imputed ?? 0) > 0, 'some values were imputed');
      outs.push(sortedLines(path));
    }
    assert.equal(outs[0]!.length, outs[1]!.length);
    assert.deepEqual(outs[1], outs[0]);
  });
});

describe('defined edge cases', () => {
  test('all-NaN series: every sample dropped as nan, no lines', async () => {
    const path = join(tmp, 'allnan.lp');
    const s = await createPipeline({ name: 'nan', source: synthetic({ series: 7, samplesPerSeries: 100, nanRate: 1, gapRate: 0, infRate: 0 }), transform: FEATURES, sink: { kind: 'file', path } }).run();
    assertAccounted(s);
    assert.equal(s.samplesIn, 700);
    assert.equal(s.linesOut, 0);
    assert.deepEqual(s.dropped, { nan: 700 });
    assert.equal(readFileSync(path, 'utf8'), '');
  });

  test('single-sample series: one line each with the value only (windows need min_periods samples)', async () => {
    const path = join(tmp, 'single.lp');
    const s = await createPipeline({ name: 'one', source: synthetic({ series: 7, samplesPerSeries: 1, nanRate: 0, gapRate: 0, infRate: 0, outlierRate: 0 }), transform: FEATURES, sink: { kind: 'file', path } }).run();
    assertAccounted(s);
    assert.equal(s.linesOut, 7);
    const lines = sortedLines(path);
    assert.equal(lines.length, 7);
    for (const l of lines) {
      assert.match(l, / value=[0-9.e+-]+ 1704067200000$/);
      assert.doesNotMatch(l, /mean_5=|std_5=/, 'a window of 5 needs 5 samples (Polars min_periods default); absent features are omitted');
    }
  });

  test('empty source: zero samples, zero batches, status ok', async () => {
    const s = await createPipeline({ name: 'empty', source: synthetic({ series: 0 }), transform: FEATURES, sink: { kind: 'null' } }).run();
    assertAccounted(s);
    assert.equal(s.samplesIn, 0);
    assert.equal(s.batches, 0);
  });
});

describe('failures', () => {
  before(() => {
    process.env.PROMFLUX_FAULTS = '1';
  });

  test('a throwing kernel fails only its batch; the pool keeps serving (onError=skip)', async () => {
    const s = await createPipeline(
      {
        name: 'skip',
        source: synthetic({ series: 14, samplesPerSeries: 1000, nanRate: 0, infRate: 0, gapRate: 0 }),
        transform: [{ kind: 'validate' }, { kind: 'debug_throw', chunk: ':0-7:' }],
        sink: { kind: 'null' },
        engine: { onError: 'skip', batchSize: 700 },
      },
      { workers: 2 },
    ).run();
    assertAccounted(s);
    assert.ok(s.failedBatches > 0);
    assert.ok(s.dropped['batch_failed:debug_throw']! > 0);
    assert.ok(s.linesOut > 0, 'other batches were written');
    assert.equal(s.samplesIn, 14_000);
  });

  test('onError=fail: the run fails with an error naming the batch and the kernel', async () => {
    const s = await createPipeline(
      {
        name: 'fail',
        source: synthetic({ series: 14, samplesPerSeries: 1000 }),
        transform: [{ kind: 'debug_throw', chunk: ':7-14:' }],
        sink: { kind: 'null' },
        engine: { onError: 'fail', batchSize: 700 },
      },
      { workers: 1 },
    ).run();
    assert.equal(s.status, 'failed');
    assert.equal(s.error?.code, 'PROMFLUX_KERNEL_FAILED');
    assert.match(s.error!.message, /kernel "debug_throw" failed on batch \d+ \(chunk syn:7-14:/);
  });

  test('a worker that dies mid-batch: the batch is retried on a new worker and the run completes', async () => {
    const path = join(tmp, 'crash.lp');
    const ref = join(tmp, 'crash-ref.lp');
    const cfg = { name: 'crash', source: synthetic({ series: 14, samplesPerSeries: 500 }), transform: FEATURES, sink: { kind: 'file' as const, path }, engine: { batchSize: 1000 } };
    const s = await createPipeline(cfg, { workers: 2, faults: new Map([[2, 'exit' as const]]) }).run();
    assertAccounted(s);
    assert.equal(s.retries, 1);
    const r = await createPipeline({ ...cfg, sink: { kind: 'file', path: ref } }, { workers: 2 }).run();
    assert.deepEqual(sortedLines(path), sortedLines(ref));
    assert.equal(r.samplesIn, s.samplesIn);
  });
});

describe('backpressure', () => {
  /** A deliberately slow sink: real code that takes 20 ms per batch and records concurrency. */
  class SlowSink implements Sink {
    readonly kind = 'slow';
    readonly needs = { lineProtocol: true, columns: false };
    active = 0;
    maxActive = 0;
    writes = 0;
    async open(): Promise<void> {}
    async write(b: EncodedBatch): Promise<SinkWriteResult> {
      this.active++;
      this.maxActive = Math.max(this.maxActive, this.active);
      await new Promise((r) => setTimeout(r, 20));
      this.active--;
      this.writes++;
      return { written: b.lines };
    }
    async close(): Promise<void> {}
  }

  /** Wraps the synthetic source and records how far ahead of the sink it was asked to run. */
  class CountingSource implements Source {
    readonly kind = 'counting';
    issued = 0;
    maxAhead = 0;
    constructor(private readonly inner: SyntheticSource, private readonly sink: SlowSink) {}
    open(o: SourceOpenOptions) { return this.inner.open(o); }
    async next(n: number): Promise<SourceChunk | null> {
      const c = await this.inner.next(n);
      if (c) {
        this.issued++;
        this.maxAhead = Math.max(this.maxAhead, this.issued - this.sink.writes);
      }
      return c;
    }
    progress() { return this.inner.progress(); }
    close() { return this.inner.close(); }
  }

  test('a slow sink slows the source: never more than maxInFlight batches ahead', async () => {
    const sink = new SlowSink();
    const source = new CountingSource(new SyntheticSource(syntheticSourceSchema.parse(synthetic({ series: 7, samplesPerSeries: 4000 }))), sink);
    const s = await createPipeline(
      { name: 'bp', source: synthetic(), transform: FEATURES, sink: { kind: 'null' }, engine: { batchSize: 700, maxInFlight: 3 } },
      { workers: 2, source, sink },
    ).run();
    assertAccounted(s);
    assert.ok(source.issued >= 40, `many batches (${source.issued})`);
    assert.ok(source.maxAhead <= 3, `source ran ${source.maxAhead} batches ahead of the sink`);
  });
});

describe('halo flags', () => {
  test('synthetic chunks carry their halo rows, flagged and never counted', async () => {
    const { fillSynthetic, syntheticSourceSchema: schema, SyntheticSource: Src } = await import('../src/extract/synthetic.js');
    const src = new Src(schema.parse(synthetic({ series: 7, samplesPerSeries: 300, gapRate: 0 })));
    await src.open({ haloSamples: 59, haloMs: 0, signal: new AbortController().signal, logger: (await import('../src/observe/logger.js')).silentLogger });
    await src.next(700); // first chunk: 7 series x 100 samples, no halo
    const c2 = (await src.next(700))!;
    const desc = allocBatch(0, c2.id, c2.estRows, c2.estRuns);
    const b = new BatchBuilder(desc);
    fillSynthetic(c2.fill, b);
    const v = viewBatch(b.finish());
    let halo = 0;
    for (let i = 0; i < v.length; i++) if (v.flags[i]! & FLAG_HALO) halo++;
    assert.equal(halo, 7 * 59);
    assert.equal(v.length - halo, 700);
  });
});
