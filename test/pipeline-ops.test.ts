import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BatchSizer, MAX_HALO_SHARE } from '../src/pipeline/adaptive.js';
import { CheckpointStore, mergeInterval, subtractCovered } from '../src/pipeline/checkpoint.js';
import { createPipeline, droppedTotal } from '../src/index.js';

const tmp = mkdtempSync(join(tmpdir(), 'promflux-ops-'));
const MB = 1024 * 1024;

describe('adaptive batch sizing (control law)', () => {
  test('grows while batches are fast and memory is low', () => {
    const s = new BatchSizer({ initial: 1000, latencyTargetMs: 200, memoryBudgetBytes: 4096 * MB, maxInFlight: 4 });
    for (let i = 0; i < 40; i++) {
      const rows = s.next();
      s.observe({ rows, latencyMs: rows / 10_000, bytes: rows * 100, rssBytes: 200 * MB }); // 0.1 µs/row: fast
    }
    assert.ok(s.current > 100_000, `grew to ${s.current}`);
  });

  test('converges toward the latency target', () => {
    const s = new BatchSizer({ initial: 1000, latencyTargetMs: 100, memoryBudgetBytes: 8192 * MB, maxInFlight: 2 });
    for (let i = 0; i < 200; i++) {
      const rows = s.next();
      s.observe({ rows, latencyMs: rows * 0.001, bytes: rows * 50, rssBytes: 100 * MB }); // 1 µs/row → 100k rows = 100 ms
    }
    assert.ok(s.current >= 60_000 && s.current <= 130_000, `size ${s.current} near 100k rows`);
  });

  test('cuts in half under memory pressure, and caps by the budget', () => {
    const s = new BatchSizer({ initial: 500_000, latencyTargetMs: 1000, memoryBudgetBytes: 8192 * MB, maxInFlight: 4, max: 1_000_000 });
    s.next();
    s.observe({ rows: 500_000, latencyMs: 10, bytes: 500_000 * 100, rssBytes: 7800 * MB });
    assert.equal(s.current, 250_000);
    // RSS stays high but stops growing: hold, do not spiral down to the minimum
    for (let i = 0; i < 20; i++) s.observe({ rows: s.next(), latencyMs: 10, bytes: s.current * 100, rssBytes: 7800 * MB });
    assert.equal(s.current, 250_000);
    // still growing: cut again
    for (let i = 0; i < 5; i++) s.observe({ rows: s.next(), latencyMs: 10, bytes: s.current * 100, rssBytes: 8300 * MB });
    assert.equal(s.current, 125_000);
    // memory cap: 0.5 × budget / (bytesPerRow × (4 in flight + 1 idle) × 2 for power-of-two buffers)
    const t = new BatchSizer({ initial: 900_000, latencyTargetMs: 10_000, memoryBudgetBytes: 256 * MB, maxInFlight: 4 });
    for (let i = 0; i < 10; i++) t.observe({ rows: t.next(), latencyMs: 1, bytes: t.current * 1000, rssBytes: 10 * MB });
    assert.ok(t.current * 1000 * 5 * 2 <= 0.5 * 256 * MB * 1.05, `capped at ${t.current}`);
  });

  test('halo overhead: halo rows stay at most 10% of a batch, even when batches are slower than the target or the size passes max; the memory cap still caps', () => {
    // 50 series with a 1 d window at 15 s: 5760 halo rows each, whatever the batch size.
    const series = 50;
    const haloPerSeries = 5760;
    const batch = (rows: number) => ({ rows: rows + series * haloPerSeries, haloRows: series * haloPerSeries });
    const s = new BatchSizer({ initial: 20_000, latencyTargetMs: 200, memoryBudgetBytes: 8192 * MB, maxInFlight: 4, max: 10_000_000 });
    for (let i = 0; i < 30; i++) {
      const { rows, haloRows } = batch(s.next());
      // 1 µs/row: far above the latency target at this size, so latency alone would shrink it
      s.observe({ rows, haloRows, latencyMs: rows * 0.001, bytes: rows * 100, rssBytes: 500 * MB });
    }
    const { rows, haloRows } = batch(s.current);
    assert.ok(haloRows / rows <= MAX_HALO_SHARE + 1e-9, `halo share ${(haloRows / rows).toFixed(3)} at size ${s.current}`);
    // own rows per series at least 9× the halo rows per series
    assert.ok(s.current / series >= 9 * haloPerSeries);
    // without halo the same latencies shrink the batch (the floor is what held it)
    const plain = new BatchSizer({ initial: 20_000, latencyTargetMs: 200, memoryBudgetBytes: 8192 * MB, maxInFlight: 4, max: 10_000_000 });
    for (let i = 0; i < 30; i++) {
      const rows = plain.next();
      plain.observe({ rows, latencyMs: rows * 0.001, bytes: rows * 100, rssBytes: 500 * MB });
    }
    assert.ok(plain.current < 300_000, `no halo: latency sizes it (${plain.current})`);
    // the floor goes past max (max bounds latency-driven growth) ...
    const capped = new BatchSizer({ initial: 20_000, latencyTargetMs: 200, memoryBudgetBytes: 65_536 * MB, maxInFlight: 4, max: 1_000_000 });
    capped.observe({ ...batch(capped.next()), latencyMs: 1, bytes: 1e6, rssBytes: 500 * MB });
    assert.equal(capped.current, 10 * series * haloPerSeries);
    // ... but not the memory cap
    const mem = new BatchSizer({ initial: 20_000, latencyTargetMs: 200, memoryBudgetBytes: 256 * MB, maxInFlight: 4, max: 10_000_000 });
    const b = batch(mem.next());
    mem.observe({ ...b, latencyMs: 1, bytes: b.rows * 1000, rssBytes: 10 * MB });
    // 1000 bytes per row, smoothed from 400: 0.5 × 256 MiB / (580 B × 5 × 2) rows, far under the halo floor
    assert.equal(mem.current, Math.floor((0.5 * 256 * MB) / (580 * 10)), `memory caps the floor (${mem.current})`);
  });

  test('a fixed size never changes and reports itself', () => {
    const s = new BatchSizer({ fixed: 12345 });
    for (let i = 0; i < 10; i++) s.observe({ rows: s.next(), latencyMs: 5000, bytes: 1e9, rssBytes: 1e12 });
    assert.equal(s.current, 12345);
    assert.deepEqual(s.stats(), { min: 12345, median: 12345, max: 12345 });
    assert.equal(s.adaptive, false);
  });

  test('an adaptive run reports its size history and min/median/max', async () => {
    const s = await createPipeline({
      name: 'adapt',
      source: { kind: 'synthetic', series: 70, samplesPerSeries: 4000 },
      transform: [{ kind: 'validate' }, { kind: 'rolling', windows: [5], stats: ['mean'] }],
      sink: { kind: 'null' },
      engine: { batchSize: 'auto', latencyTargetMs: 50 },
    }).run();
    assert.equal(s.status, 'ok');
    assert.equal(s.adaptive, true);
    assert.ok(s.batchSizeHistory.length > 1, 'size changed during the run');
    assert.ok(s.batchSize.min <= s.batchSize.median && s.batchSize.median <= s.batchSize.max);
  });
});

describe('checkpoints', () => {
  test('intervals merge and subtract exactly', () => {
    let l = mergeInterval([], [10, 20]);
    l = mergeInterval(l, [30, 40]);
    l = mergeInterval(l, [20, 30]);
    assert.deepEqual(l, [[10, 40]]);
    l = mergeInterval(l, [50, 60]);
    assert.deepEqual(subtractCovered(0, 100, l), [[0, 10], [40, 50], [60, 100]]);
    assert.deepEqual(subtractCovered(10, 40, l), []);
    assert.deepEqual(subtractCovered(0, 5, undefined), [[0, 5]]);
  });

  test('durable, versioned, and a changed plan starts fresh', () => {
    const dir = join(tmp, 'ck1');
    const a = CheckpointStore.open(dir, 'p', 'hash1');
    a.add('q', 0, 100);
    a.flush();
    const b = CheckpointStore.open(dir, 'p', 'hash1');
    assert.deepEqual([...b.covered()], [['q', [[0, 100]]]]);
    const c = CheckpointStore.open(dir, 'p', 'hash2');
    assert.equal(c.covered().size, 0);
    writeFileSync(join(dir, 'p.ckpt'), 'garbage');
    assert.throws(() => CheckpointStore.open(dir, 'p', 'hash1'), /PROMFLUX|checkpoint/);
  });

  test('an interrupted run resumes where it stopped: the union of both runs is the whole data set', async () => {
    const dir = join(tmp, 'ck2');
    const base = {
      name: 'resume',
      source: { kind: 'synthetic' as const, series: 28, samplesPerSeries: 3000, seed: 3 },
      transform: [{ kind: 'validate' }, { kind: 'rolling', windows: [5, 15], stats: ['mean'] }],
      engine: { batchSize: 2000, maxInFlight: 2 },
      checkpoint: dir,
    };
    const ac = new AbortController();
    const p1 = createPipeline({ ...base, sink: { kind: 'file', path: join(tmp, 'r1.lp') } }, { workers: 2 });
    let batches = 0;
    p1.on('batch', () => {
      if (++batches === 10) ac.abort();
    });
    const s1 = await p1.run({ signal: ac.signal });
    assert.equal(s1.status, 'aborted');
    assert.ok(s1.samplesIn > 0 && s1.samplesIn < 84_000);
    // The same command again: it appends the rest to the same file (which keeps the first run's lines).
    const s2 = await createPipeline({ ...base, sink: { kind: 'file', path: join(tmp, 'r1.lp') } }, { workers: 2 }).run();
    assert.equal(s2.status, 'ok');
    assert.equal(s2.checkpoint?.done, true);
    const ref = await createPipeline({ ...base, checkpoint: undefined, sink: { kind: 'file', path: join(tmp, 'ref.lp') } }, { workers: 2 }).run();
    const lines = (p: string) => readFileSync(p, 'utf8').split('\n').filter(Boolean).sort();
    const resumed = lines(join(tmp, 'r1.lp'));
    assert.equal(resumed.length, ref.linesOut, 'every line once: none lost, none repeated');
    assert.deepEqual(resumed, lines(join(tmp, 'ref.lp')));
    // A drained stop leaves the checkpoint exact: the two runs read the data set once between them.
    assert.equal(s1.samplesIn + s2.samplesIn, ref.samplesIn);
    // A third run of the same command finds the checkpoint done, does nothing and leaves the file as it is.
    const s3 = await createPipeline({ ...base, sink: { kind: 'file', path: join(tmp, 'r1.lp') } }).run();
    assert.equal(s3.status, 'ok');
    assert.equal(s3.samplesIn, 0);
    assert.equal(droppedTotal(s3), 0);
    assert.deepEqual(lines(join(tmp, 'r1.lp')), resumed);
  });
});

describe('error policies', () => {
  test('skip + maxErrorRate: the run fails once too many recent batches failed', async () => {
    process.env.PROMFLUX_FAULTS = '1';
    const s = await createPipeline({
      name: 'rate',
      source: { kind: 'synthetic', series: 70, samplesPerSeries: 200 },
      transform: [{ kind: 'debug_throw', chunk: ':(0|14|28|42)-' }],
      sink: { kind: 'null' },
      engine: { onError: 'skip', batchSize: 700, maxErrorRate: { ratio: 0.3, window: 5 } },
    }).run();
    assert.equal(s.status, 'failed');
    assert.equal(s.error?.code, 'PROMFLUX_ERROR_RATE');
    assert.match(s.error!.message, /of the last 5 batch attempts failed/);
  });

  test('maxInvalidRatio: too many invalid samples fail the run with the reason', async () => {
    const s = await createPipeline({
      name: 'invalid',
      source: { kind: 'synthetic', series: 14, samplesPerSeries: 1000, nanRate: 0.2 },
      transform: [{ kind: 'validate' }],
      sink: { kind: 'null' },
      engine: { maxInvalidRatio: 0.05, batchSize: 2000 },
    }).run();
    assert.equal(s.status, 'failed');
    assert.equal(s.error?.code, 'PROMFLUX_INVALID_RATIO');
    assert.match(s.error!.message, /above engine\.maxInvalidRatio=0\.05/);
  });
});

describe('scaling state across runs', () => {
  test('fit-apply saves the state; inverseTransform of the scaled values gives back the raw values', async () => {
    const { tableFromIPC } = await import('apache-arrow');
    const { loadScalingState, inverseTransform } = await import('../src/index.js');
    const state = join(tmp, 'scaling.msgpack');
    const source = { kind: 'synthetic' as const, series: 14, samplesPerSeries: 500, seed: 5 };
    const raw = join(tmp, 'raw.arrow');
    const scaled = join(tmp, 'scaled.arrow');
    const r = await createPipeline({ name: 'raw', source, transform: [{ kind: 'validate' }], sink: { kind: 'arrow', path: raw } }).run();
    const s = await createPipeline({ name: 'scaled', source, transform: [{ kind: 'validate' }, { kind: 'scale', method: 'zscore', mode: 'fit-apply', state }], sink: { kind: 'arrow', path: scaled } }).run();
    assert.equal(s.status, 'ok', s.error?.message);
    assert.equal(s.fitPass?.status, 'ok');
    assert.equal(s.linesOut, r.linesOut);
    const st = await loadScalingState(state);
    assert.equal(Object.keys(st.series).length, 14);
    const a = tableFromIPC(readFileSync(raw));
    const b = tableFromIPC(readFileSync(scaled));
    const key = String(a.getChild('series')!.get(0));
    // Batches land in the order workers finish them, so pair the two files' rows by timestamp.
    const byTime = (t: typeof a): number[] => {
      const rows: Array<[number, number]> = [];
      for (let i = 0; i < t.numRows; i++) if (String(t.getChild('series')!.get(i)) === key) rows.push([Number(t.getChild('timestamp')!.get(i)), t.getChild('value')!.get(i) as number]);
      return rows.sort((x, y) => x[0] - y[0]).map((r) => r[1]);
    };
    const rawVals = byTime(a);
    const scaledVals = byTime(b);
    assert.equal(scaledVals.length, rawVals.length);
    const mean = scaledVals.reduce((x, y) => x + y, 0) / scaledVals.length;
    assert.ok(Math.abs(mean) < 1e-9, `z-scored values have mean 0 (${mean})`);
    const back = inverseTransform(st, key, Float64Array.from(scaledVals));
    for (let i = 0; i < rawVals.length; i++) assert.ok(Math.abs(back[i]! - rawVals[i]!) <= 1e-9 * Math.max(1, Math.abs(rawVals[i]!)), `row ${i}`);
    // a later run applies the saved state without refitting
    const later = await createPipeline({ name: 'apply', source, transform: [{ kind: 'validate' }, { kind: 'scale', method: 'zscore', mode: 'apply', state }], sink: { kind: 'null' } }).run();
    assert.equal(later.status, 'ok', later.error?.message);
    assert.equal(later.linesOut, r.linesOut);
  });
});

describe('sharding', () => {
  test('N shards are disjoint and their union is the whole plan', async () => {
    const base = {
      name: 'shard',
      source: { kind: 'synthetic' as const, series: 70, samplesPerSeries: 500, seed: 9 },
      transform: [{ kind: 'rolling', windows: [5], stats: ['mean'] }],
      engine: { batchSize: 1000 },
    };
    const read = (p: string) => readFileSync(p, 'utf8').split('\n').filter(Boolean);
    const all = new Set<string>();
    let total = 0;
    for (let i = 0; i < 3; i++) {
      const path = join(tmp, `shard${i}.lp`);
      const s = await createPipeline({ ...base, sink: { kind: 'file', path } }, { shard: { index: i, count: 3 } }).run();
      assert.equal(s.shard, `${i}/3`);
      for (const l of read(path)) {
        assert.ok(!all.has(l), 'shards overlap');
        all.add(l);
      }
      total += s.samplesIn;
    }
    const ref = await createPipeline({ ...base, sink: { kind: 'file', path: join(tmp, 'noshard.lp') } }).run();
    assert.equal(total, ref.samplesIn);
    assert.deepEqual([...all].sort(), read(join(tmp, 'noshard.lp')).sort());
  });
});
