/**
 * Issue #18, start-up: the batch plan of a run whose total is known up front
 * (src/pipeline/adaptive.ts `planFor`). A small run gets several batches per worker and a tapered
 * end, so no worker waits while another runs the last big batch; the lines written do not depend
 * on it (bit-identical to one worker).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createPipeline } from '../src/index.js';
import { CollectSink } from './oracle/collect-sink.js';
import { BatchSizer, MIN_BATCHES_PER_WORKER } from '../src/pipeline/adaptive.js';

const MB = 1024 * 1024;

/** Hand out batches of what the sizer says from `total` samples, the sizer seeing fast batches. */
function plan(s: BatchSizer, total: number): number[] {
  let left = total;
  s.planFor(() => left, 2);
  const sizes: number[] = [];
  while (left > 0) {
    const n = Math.min(s.next(), left);
    sizes.push(n);
    left -= n;
    s.observe({ rows: n, latencyMs: n / 10_000, bytes: n * 100, rssBytes: 100 * MB });
  }
  return sizes;
}

describe('batch plan of a run with a known total', () => {
  test(`a small run gets at least ${MIN_BATCHES_PER_WORKER} batches per worker, whatever the size the control law would pick`, () => {
    const total = 200_000;
    const sizes = plan(new BatchSizer({ initial: 500_000, max: 1_000_000, latencyTargetMs: 200, memoryBudgetBytes: 4096 * MB }), total);
    assert.ok(sizes.length >= MIN_BATCHES_PER_WORKER * 2, `${sizes.length} batches: ${sizes.join(' ')}`);
    assert.ok(Math.max(...sizes) <= Math.ceil(total / (MIN_BATCHES_PER_WORKER * 2)), `largest ${Math.max(...sizes)}`);
  });

  test('the last batches shrink (at most half of what is left, for 2 workers), down to a quarter of the current size', () => {
    const s = new BatchSizer({ initial: 100_000, min: 1_000, max: 100_000, latencyTargetMs: 200, memoryBudgetBytes: 4096 * MB });
    const sizes = plan(s, 2_000_000);
    // The body runs at the full size; the tail tapers.
    assert.equal(sizes[0], 100_000);
    const tail = sizes.slice(sizes.findIndex((n) => n < 100_000));
    assert.ok(tail.length >= 2, `tail ${tail.join(' ')}`);
    for (let i = 1; i < tail.length; i++) assert.ok(tail[i]! <= tail[i - 1]!, `tail grows: ${tail.join(' ')}`);
    assert.ok(tail[tail.length - 1]! >= 25_000 || tail.reduce((a, b) => a + b, 0) === 2_000_000, `tail ${tail.join(' ')}`);
    assert.equal(sizes.reduce((a, b) => a + b, 0), 2_000_000);
  });

  test('a long-window run keeps its halo rows at most half of a tapered batch (issue #13: halo rows stay a small share)', () => {
    const s = new BatchSizer({ initial: 400_000, max: 400_000, latencyTargetMs: 200, memoryBudgetBytes: 4096 * MB });
    let left = 518_400;
    s.planFor(() => left, 2);
    const first = s.next(); // before any observation: capped by the total only
    assert.equal(first, Math.ceil(518_400 / (MIN_BATCHES_PER_WORKER * 2)));
    left -= first;
    s.observe({ rows: first + 172_800, haloRows: 172_800, latencyMs: 50, bytes: (first + 172_800) * 100, rssBytes: 100 * MB });
    const second = s.next();
    assert.ok(second >= 2 * 172_800, `second batch ${second} rows for 172800 halo rows`);
  });

  test('a large run is unchanged until its last workers × size samples; a fixed size and an unknown total are not touched', () => {
    const a = plan(new BatchSizer({ initial: 50_000, max: 50_000 }), 10_000_000);
    assert.ok(a.slice(0, 190).every((n) => n === 50_000), 'body at the full size');
    const fixed = new BatchSizer({ fixed: 123_456 });
    fixed.planFor(() => 1_000, 2);
    assert.equal(fixed.next(), 123_456);
    const open = new BatchSizer({ initial: 40_000 });
    open.planFor(() => null, 2);
    assert.equal(open.next(), 40_000);
  });

  test('a small default-shaped run on 2 workers: both workers run batches, and the lines equal a 1-worker run', async () => {
    const cfg = {
      name: 'batch-plan',
      source: { kind: 'synthetic' as const, series: 70, samplesPerSeries: 1440, seed: 42, nanRate: 0.001, gapRate: 0.001, outlierRate: 0.0005 },
      transform: [{ kind: 'validate' }, { kind: 'rolling', windows: [5, 15, 60], stats: ['mean', 'std'] }],
    };
    const one = new CollectSink();
    const a = await createPipeline(cfg, { sink: one, workers: 1 }).run();
    assert.equal(a.status, 'ok', a.error?.message);
    const two = new CollectSink();
    const b = await createPipeline(cfg, { sink: two, workers: 2 }).run();
    assert.equal(b.status, 'ok', b.error?.message);
    assert.ok(b.batches >= MIN_BATCHES_PER_WORKER * 2, `${b.batches} batches for 2 workers`);
    assert.equal(b.workerThreads.length, 2, JSON.stringify(b.workerThreads));
    for (const w of b.workerThreads) assert.ok(w.tasks >= 1, `worker ${w.threadId} ran no batch`);
    assert.equal(b.samplesIn, a.samplesIn);
    assert.equal(b.linesOut, a.linesOut);
    assert.deepEqual(b.dropped, a.dropped);
    assert.deepEqual(two.sorted(), one.sorted());
  });
});
