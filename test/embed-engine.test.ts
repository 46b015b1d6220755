/**
 * Issue #20: several pipelines in one process. A shared engine owns one pool that every pipeline
 * made from it uses; plain createPipeline pipelines own theirs. Both run concurrently, exactly.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { pino } from 'pino';
import { createEngine, createPipeline, type EncodedBatch, type Sink, type SinkWriteResult } from '../src/index.js';

class CollectSink implements Sink {
  readonly kind = 'collect';
  readonly needs = { lineProtocol: true, columns: false };
  chunks: string[] = [];
  lines = 0;
  async open(): Promise<void> {}
  async write(b: EncodedBatch): Promise<SinkWriteResult> {
    this.lines += b.lines;
    this.chunks.push(new TextDecoder().decode(b.lp!));
    return { written: b.lines };
  }
  async close(): Promise<void> {}
  /** The output as a sorted list of lines (batches complete in any order). */
  sorted(): string[] {
    return this.chunks.join('').split('\n').filter(Boolean).sort();
  }
}

const cfg = (name: string, seed: number) => ({
  name,
  source: { kind: 'synthetic' as const, series: 10, samplesPerSeries: 4000, seed },
  transform: [{ kind: 'validate' }, { kind: 'rolling', windows: [5, 15], stats: ['mean', 'std'] }],
});

test('pipelines on one shared engine run concurrently on its single pool and write what each writes alone', async () => {
  const alone = await Promise.all([1, 2, 3].map(async (seed) => {
    const sink = new CollectSink();
    const s = await createPipeline(cfg(`alone${seed}`, seed), { sink, workers: 1, batchSize: 3000 }).run();
    assert.equal(s.status, 'ok', s.error?.message);
    return sink.sorted();
  }));
  const engine = createEngine({ workers: 2 });
  try {
    const sinks = [1, 2, 3].map(() => new CollectSink());
    const summaries = await Promise.all([1, 2, 3].map((seed, i) => engine.createPipeline(cfg(`shared${seed}`, seed), { sink: sinks[i]!, batchSize: 3000 }).run()));
    for (const [i, s] of summaries.entries()) {
      assert.equal(s.status, 'ok', s.error?.message);
      assert.equal(s.workers, 2, 'the engine\'s worker count, not one pool per pipeline');
      assert.equal(s.samplesIn, 40_000);
      assert.equal(sinks[i]!.lines, s.linesOut);
      assert.deepEqual(sinks[i]!.sorted(), alone[i], 'same lines as the pipeline run alone');
    }
    // The pool outlives the runs: a later pipeline on the same engine runs on it too.
    const again = await engine.createPipeline(cfg('again', 1), { sink: new CollectSink() }).run();
    assert.equal(again.status, 'ok');
  } finally {
    await engine.close();
  }
  assert.throws(() => engine.createPipeline(cfg('late', 1), { sink: new CollectSink() }), /after engine.close/);
});

test('two default createPipeline pipelines run concurrently, each on its own pool, with exact counts', async () => {
  const sinks = [new CollectSink(), new CollectSink()];
  const [a, b] = await Promise.all(sinks.map((sink, i) => createPipeline(cfg(`p${i}`, 7), { sink, workers: 1, batchSize: 2500 }).run()));
  assert.equal(a!.status, 'ok');
  assert.equal(b!.status, 'ok');
  assert.deepEqual(sinks[0]!.sorted(), sinks[1]!.sorted());
  assert.equal(a!.linesOut, sinks[0]!.lines);
});

test('an injected sink needs no sink: key, and the "run starting" log names the injected sink, not a config one', async () => {
  const logs: Array<Record<string, unknown>> = [];
  const out = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const sink = new CollectSink();
  const s = await createPipeline(cfg('logged', 3), { sink, workers: 1, logger: pino({ level: 'info' }, out) }).run();
  assert.equal(s.status, 'ok');
  assert.equal(s.linesOut, sink.lines);
  const starting = logs.find((l) => l.msg === 'run starting');
  assert.ok(starting, `logs: ${logs.map((l) => l.msg).join(', ')}`);
  assert.equal(starting.sink, 'collect');
  assert.equal(starting.source, 'synthetic');
});
