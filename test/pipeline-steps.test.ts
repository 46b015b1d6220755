/**
 * The pipeline's small named steps on their own: the retry policy (retry / skip / fail, error-rate
 * window), the totals helper, and resolveRun (pure: same config and nonce, same plan).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { validatePipeline } from '../src/config/load.js';
import { ConfigError, PromfluxError } from '../src/errors.js';
import { RetryPolicy } from '../src/pipeline/retry-policy.js';
import { resolveRun } from '../src/pipeline/resolve.js';
import { addTotal, addTotals } from '../src/pipeline/totals.js';
import type { TransformSpec } from '../src/transform/kernel.js';
import type { TaskError } from '../src/pool/task.js';

const taskError = (stage: TaskError['stage']): { kind: 'task'; error: TaskError } => ({ kind: 'task', error: { code: 'PROMFLUX_KERNEL_FAILED', message: 'x', stage } });

describe('retry policy', () => {
  it('retries a task error while onError is retry and retries remain, refetching only a failed fill', () => {
    const p = new RetryPolicy({ onError: 'retry', retries: 2 });
    assert.deepEqual(p.decide(taskError('fill'), 0, false), { action: 'retry', refetch: true });
    assert.deepEqual(p.decide(taskError('transform'), 1, false), { action: 'retry', refetch: false });
    assert.deepEqual(p.decide(taskError('transform'), 2, false), { action: 'fail' }, 'retries exhausted');
    assert.deepEqual(p.decide(taskError('encode'), 0, true), { action: 'fail' }, 'no retry once the run is failing');
  });

  it('skips or fails a task error at once under onError skip / fail', () => {
    assert.deepEqual(new RetryPolicy({ onError: 'skip', retries: 5 }).decide(taskError('transform'), 0, false), { action: 'skip' });
    assert.deepEqual(new RetryPolicy({ onError: 'fail', retries: 5 }).decide(taskError('transform'), 0, false), { action: 'fail' });
  });

  it('retries a dead worker on a fresh one whatever onError says, until retries run out', () => {
    for (const onError of ['fail', 'skip', 'retry'] as const) {
      const p = new RetryPolicy({ onError, retries: 1 });
      assert.deepEqual(p.decide({ kind: 'worker' }, 0, false), { action: 'retry', refetch: false }, onError);
      assert.deepEqual(p.decide({ kind: 'worker' }, 1, false), { action: 'fail' }, onError);
    }
  });

  it('fails the run once more than maxErrorRate.ratio of the last window attempts failed, not before the window is full', () => {
    const p = new RetryPolicy({ onError: 'retry', retries: 2, maxErrorRate: { ratio: 0.5, window: 4 } });
    assert.equal(p.outcome(true), undefined);
    assert.equal(p.outcome(true), undefined);
    assert.equal(p.outcome(true), undefined, 'window not full yet');
    const err = p.outcome(false);
    assert.ok(err instanceof PromfluxError);
    assert.equal(err.code, 'PROMFLUX_ERROR_RATE');
    assert.match(err.message, /3 of the last 4 batch attempts failed/);
    assert.equal(p.outcome(false), undefined, 'window slides: 2 of 4 is not above one half');
  });

  it('never fails on the error rate without maxErrorRate', () => {
    const p = new RetryPolicy({ onError: 'retry', retries: 2 });
    for (let i = 0; i < 100; i++) assert.equal(p.outcome(true), undefined);
  });
});

describe('addTotals', () => {
  it('adds every entry into the totals, whatever the split of the counts into batches', () => {
    fc.assert(
      fc.property(fc.array(fc.dictionary(fc.constantFrom('a', 'b', 'nan', 'range'), fc.nat(1000))), (batches) => {
        const into: Record<string, number> = {};
        const seen: Array<[string, number]> = [];
        for (const b of batches) addTotals(into, b, (k, n) => seen.push([k, n]));
        const expected: Record<string, number> = {};
        for (const b of batches) for (const [k, v] of Object.entries(b)) expected[k] = (expected[k] ?? 0) + v;
        assert.deepEqual(into, expected);
        assert.equal(seen.length, batches.reduce((n, b) => n + Object.keys(b).length, 0));
      }),
    );
    const t: Record<string, number> = {};
    addTotal(t, 'halo_refill', 1);
    addTotal(t, 'halo_refill', 2);
    assert.deepEqual(t, { halo_refill: 3 });
  });
});

describe('resolveRun', () => {
  const cfg = (extra: Record<string, unknown> = {}) =>
    validatePipeline({ name: 'p', source: { kind: 'synthetic', series: 2, samplesPerSeries: 10 }, transform: [{ kind: 'validate' }], sink: { kind: 'null' }, ...extra });

  it('is pure: the same config, options and nonce give the same plan, another nonce another worker key', () => {
    const c = cfg();
    const t = c.transform as TransformSpec[];
    const a = resolveRun(c, { workers: 2 }, t, 42);
    assert.deepEqual(resolveRun(c, { workers: 2 }, t, 42), a);
    assert.notEqual(resolveRun(c, { workers: 2 }, t, 43).spec.key, a.spec.key);
    assert.equal(a.workers, 2);
    assert.equal(a.maxInFlight, 4, 'maxInFlight defaults to 2 per worker');
    assert.equal(a.onCollision, 'fail', 'a bounded run fails on a collision by default');
  });

  it('resolves the checkpoint directory once: the option wins over the config, and names the key to fix', () => {
    const c = cfg({ checkpoint: { dir: '/tmp/from-config', intervalMs: 50 } });
    const t = c.transform as TransformSpec[];
    assert.deepEqual(
      { dir: resolveRun(c, {}, t, 0).checkpoint?.dir, interval: resolveRun(c, {}, t, 0).checkpoint?.intervalMs, key: resolveRun(c, {}, t, 0).checkpoint?.key },
      { dir: '/tmp/from-config', interval: 50, key: 'pipelines.p.checkpoint' },
    );
    const o = resolveRun(c, { checkpointDir: '/tmp/from-flag', shard: { index: 1, count: 3 } }, t, 0).checkpoint!;
    assert.equal(o.dir, '/tmp/from-flag');
    assert.equal(o.key, '--checkpoint');
    assert.equal(o.name, 'p.shard-1-of-3');
  });

  it('validates the schema mapping on the main thread: the worker gets it with defaults, a bad one is a ConfigError naming the key', () => {
    const ok = cfg({ schema: { tags: { deny: ['pod'] } } });
    const spec = resolveRun(ok, {}, ok.transform as TransformSpec[], 0).spec;
    assert.deepEqual(spec.encode.schema?.tags.deny, ['pod']);
    assert.equal(spec.encode.schema?.measurement.default, '${name}');
    const bad = cfg({ schema: { measurement: { rules: [{ match: '(', measurement: 'x' }] } } });
    assert.throws(() => resolveRun(bad, {}, bad.transform as TransformSpec[], 0), (e: unknown) => e instanceof ConfigError && /pipelines\.p\.schema/.test(e.message) && /invalid regex/.test(e.message));
    const unknownKey = cfg({ schema: { tagz: {} } });
    assert.throws(() => resolveRun(unknownKey, {}, unknownKey.transform as TransformSpec[], 0), (e: unknown) => e instanceof ConfigError && /tagz|unrecognized/i.test(e.message));
  });
});
