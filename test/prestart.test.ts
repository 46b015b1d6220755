/**
 * Issue #18, start-up: the CLI starts the worker pool before it loads the program
 * (src/cli/main.ts → src/pool/prestart.ts); the run takes that pool when its size matches and
 * writes exactly what a run on its own pool writes.
 */
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { test } from 'node:test';
import { createPipeline } from '../src/index.js';
import { CollectSink } from './oracle/collect-sink.js';
import { discardPrestartedPool, prestartPool, takePrestartedPool } from '../src/pool/prestart.js';
import { workersFromArgv } from '../src/cli/main.js';

const cfg = {
  name: 'prestart',
  source: { kind: 'synthetic' as const, series: 12, samplesPerSeries: 3000, seed: 7, nanRate: 0.01 },
  transform: [{ kind: 'validate' }, { kind: 'rolling', windows: [5, 30], stats: ['mean', 'std'] }],
};

test('workersFromArgv reads --workers / -w / --workers=N, and defaults to all cores', () => {
  const base = ['node', 'main.js', 'run', '--config', 'c.yaml'];
  assert.equal(workersFromArgv([...base, '--workers', '3']), 3);
  assert.equal(workersFromArgv([...base, '-w', '1']), 1);
  assert.equal(workersFromArgv([...base, '--workers=4']), 4);
  assert.equal(workersFromArgv([...base, '-w2']), 2);
  assert.equal(workersFromArgv(base), availableParallelism());
  assert.equal(workersFromArgv([...base, '--workers', 'zero']), null);
});

test('a prestarted pool of the wrong size is closed, not taken', async () => {
  const p = prestartPool(1);
  assert.equal(takePrestartedPool(2), undefined);
  // Taken once: nothing is left to take or discard.
  assert.equal(takePrestartedPool(1), undefined);
  await p.close();
});

test('a run takes the prestarted pool of its size and writes what a run on its own pool writes', async () => {
  const own = new CollectSink();
  const a = await createPipeline(cfg, { sink: own, workers: 2, batchSize: 2500 }).run();
  assert.equal(a.status, 'ok', a.error?.message);

  const pool = prestartPool(2);
  const early = new CollectSink();
  const b = await createPipeline(cfg, { sink: early, workers: 2, batchSize: 2500 }).run();
  assert.equal(b.status, 'ok', b.error?.message);
  // The run took the early pool (nothing is left to take) and closed it at its end.
  assert.equal(takePrestartedPool(2), undefined);
  await assert.rejects(pool.run({} as never));

  assert.equal(b.samplesIn, a.samplesIn);
  assert.equal(b.linesOut, a.linesOut);
  assert.deepEqual(b.dropped, a.dropped);
  assert.ok(a.dropped.nan! > 0, 'the config drops NaN samples, so the accounting is exercised');
  assert.deepEqual(early.sorted(), own.sorted());
  await discardPrestartedPool();
});
