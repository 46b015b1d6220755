/**
 * src/util: the one duration grammar, the one retry-timing contract (backoff, Retry-After, sleep,
 * withRetry), the one semaphore and the digit grouping of human output.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { DurationSyntaxError, formatDuration, isDuration, parseDuration } from '../src/util/duration.js';
import { durationSchema } from '../src/util/duration-schema.js';
import { backoffDelay, MAX_SERVER_DELAY_MS, parseRetryAfter, retryDelay, sleep, withRetry } from '../src/util/retry.js';
import { Semaphore } from '../src/util/semaphore.js';
import { groupDigits } from '../src/util/format.js';

describe('durations', () => {
  it('unit parts add up, decimals allowed, every unit from ns to y', () => {
    assert.equal(parseDuration('1h30m'), 5_400_000);
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('1.5h'), 5_400_000);
    assert.equal(parseDuration('7d'), 604_800_000);
    assert.equal(parseDuration('2w'), 1_209_600_000);
    assert.equal(parseDuration('1y'), 365 * 86_400_000);
    assert.equal(parseDuration('1500us'), 2); // whole ms, rounded
    assert.equal(parseDuration('1500µs'), 2);
    assert.equal(parseDuration('2000000ns'), 2);
    assert.equal(parseDuration(' 15s '), 15_000);
  });

  it('a number without a unit is seconds, as a YAML number or a string', () => {
    assert.equal(parseDuration('15'), 15_000);
    assert.equal(parseDuration('0.5'), 500);
    assert.equal(parseDuration(300), 300_000);
    assert.equal(parseDuration(0), 0);
  });

  it('anything else is an error that names the key and shows the grammar', () => {
    for (const bad of ['5 minutes', '', 'm', '1h 30m', '-5s', '5x', '1.5.2s', 'INF', '1e3s', '999999999999y', -1, Number.NaN, Infinity, 1e300, null, {}, true]) {
      assert.equal(isDuration(bad), false, JSON.stringify(bad));
      assert.throws(() => parseDuration(bad, 'engine.timeout'), (e: unknown) => {
        assert.ok(e instanceof DurationSyntaxError);
        assert.match(e.message, /^engine\.timeout: invalid duration .* use a duration like "15s", "5m", "1h30m", "500ms", or a number of seconds$/);
        return true;
      });
    }
  });

  it('formatDuration is the inverse of parseDuration on whole milliseconds', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10 * 365 * 86_400_000 }), (ms) => {
        assert.equal(parseDuration(formatDuration(ms)), ms);
      }),
    );
    assert.equal(formatDuration(90_000), '1m30s');
  });

  it('the config schema accepts exactly what parseDuration accepts', () => {
    const schema = durationSchema('health.window');
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.stringMatching(/^(\d{1,3}(\.\d)?(ms|s|m|h|d|w|y|ns|us))+$/), fc.double()), (v) => {
        const ok = schema.safeParse(v).success;
        assert.equal(ok, isDuration(v));
        if (ok) assert.ok(Number.isInteger(parseDuration(v)));
      }),
    );
    const bad = schema.safeParse('5 minutes');
    assert.ok(!bad.success && /^health\.window: invalid duration/.test(bad.error.issues[0]!.message));
  });
});

describe('retry timing', () => {
  it('full jitter draws in [0, min(max, base·2^(retry−1))]', () => {
    const b = { baseMs: 100, maxMs: 1000, jitter: 'full' as const };
    assert.equal(backoffDelay(b, 1, () => 1), 100);
    assert.equal(backoffDelay(b, 3, () => 1), 400);
    assert.equal(backoffDelay(b, 10, () => 1), 1000);
    assert.equal(backoffDelay(b, 3, () => 0), 0);
  });

  it('equal jitter draws in [cap/2, cap] with the same cap', () => {
    const b = { baseMs: 100, maxMs: 10_000, jitter: 'equal' as const };
    assert.equal(backoffDelay(b, 1, () => 0), 50);
    assert.equal(backoffDelay(b, 1, () => 1), 100);
    assert.equal(backoffDelay(b, 4, () => 1), 800);
    assert.equal(backoffDelay(b, 21, () => 1), 10_000);
    assert.equal(backoffDelay(b, 21, () => 0), 5_000);
  });

  it('every delay lies within its jitter band, for any retry number', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 100_000 }), fc.integer({ min: 1, max: 100 }), fc.double({ min: 0, max: 1, noNaN: true }), fc.boolean(), (base, max, retry, r, full) => {
        const cap = Math.min(max, base * 2 ** Math.min(30, retry - 1));
        const d = backoffDelay({ baseMs: base, maxMs: max, jitter: full ? 'full' : 'equal' }, retry, () => r);
        assert.ok(d >= (full ? 0 : Math.floor(cap / 2)) && d <= Math.ceil(cap), `${d} vs cap ${cap}`);
      }),
    );
  });

  it("the server's Retry-After is a floor, capped so a bogus one cannot stall a run", () => {
    const b = { baseMs: 100, maxMs: 1000, jitter: 'full' as const };
    assert.equal(retryDelay(b, 1, 3000, () => 0.5), 3000);
    assert.equal(retryDelay(b, 10, 10, () => 1), 1000);
    assert.equal(retryDelay(b, 1, undefined, () => 1), 100);
    assert.equal(retryDelay(b, 1, 24 * 3_600_000, () => 0), MAX_SERVER_DELAY_MS);
  });

  it('Retry-After in seconds or as an HTTP date; undefined when absent or unparseable', () => {
    assert.equal(parseRetryAfter('3'), 3000);
    assert.equal(parseRetryAfter('0.5'), 500);
    assert.equal(parseRetryAfter(['2', '9']), 2000);
    const now = Date.parse('2024-01-01T00:00:00Z');
    assert.equal(parseRetryAfter('Mon, 01 Jan 2024 00:00:10 GMT', now), 10_000);
    assert.equal(parseRetryAfter('Mon, 01 Jan 2023 00:00:10 GMT', now), 0);
    assert.equal(parseRetryAfter('soon'), undefined);
    assert.equal(parseRetryAfter(''), undefined);
    assert.equal(parseRetryAfter(undefined), undefined);
  });

  it('sleep resolves after the delay and rejects with the reason when aborted', async () => {
    const t0 = performance.now();
    await sleep(20);
    assert.ok(performance.now() - t0 >= 15);
    const ac = new AbortController();
    const p = sleep(60_000, ac.signal);
    ac.abort(new Error('stop'));
    await assert.rejects(p, /stop/);
    await assert.rejects(sleep(1, ac.signal), /stop/);
  });

  it('withRetry stops on a non-retryable error and after the last attempt', async () => {
    const policy = { attempts: 4, baseMs: 1, maxMs: 1, jitter: 'full' as const };
    let n = 0;
    const delays: number[] = [];
    await assert.rejects(
      withRetry(policy, { classify: () => ({ retry: true }), onRetry: (_e, _n, d) => delays.push(d) }, async () => {
        n++;
        throw new Error('x');
      }),
      /x/,
    );
    assert.equal(n, 4);
    assert.equal(delays.length, 3);
    n = 0;
    await assert.rejects(
      withRetry(policy, { classify: () => ({ retry: false }) }, async () => {
        n++;
        throw new Error('x');
      }),
    );
    assert.equal(n, 1);
    assert.equal(await withRetry(policy, { classify: () => ({ retry: true }) }, async (k) => (k < 3 ? Promise.reject(new Error('again')) : k)), 3);
  });
});

describe('semaphore', () => {
  it('caps concurrency, serves waiters in FIFO order and returns every permit', async () => {
    const sem = new Semaphore(2);
    let active = 0;
    let peak = 0;
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        sem.run(async () => {
          order.push(i);
          active++;
          peak = Math.max(peak, active);
          await new Promise((r) => setTimeout(r, 5));
          active--;
        }),
      ),
    );
    assert.equal(peak, 2);
    assert.deepEqual(order, [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.equal(sem.inFlight, 0);
    assert.equal(sem.waiting, 0);
  });

  it('an aborted waiter leaves the queue; a release called twice frees one permit', async () => {
    const sem = new Semaphore(1);
    const release = await sem.acquire();
    const ac = new AbortController();
    const waiting = sem.acquire(ac.signal);
    assert.equal(sem.waiting, 1);
    ac.abort(new Error('gone'));
    await assert.rejects(waiting, /gone/);
    assert.equal(sem.waiting, 0);
    release();
    release();
    assert.equal(sem.inFlight, 0);
    const again = await sem.acquire();
    assert.equal(sem.inFlight, 1);
    again();
  });

  it('run releases its permit when the task throws', async () => {
    const sem = new Semaphore(1);
    await assert.rejects(sem.run(async () => Promise.reject(new Error('boom'))), /boom/);
    assert.equal(sem.inFlight, 0);
  });
});

describe('groupDigits', () => {
  it('writes the same text as toLocaleString("en-US") for every number', () => {
    const edge = [0, -0, 1, -1, 999, 1000, -1000, 999_999, 1_000_000, 1_007_048, -12_345_678, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 2 ** 53, 1e21, 0.5, 1234.5678, -0.0004, NaN, Infinity, -Infinity];
    for (const n of edge) assert.equal(groupDigits(n), n.toLocaleString('en-US'), String(n));
    fc.assert(fc.property(fc.oneof(fc.integer({ min: -1e15, max: 1e15 }), fc.maxSafeInteger(), fc.double()), (n) => groupDigits(n) === n.toLocaleString('en-US')));
  });
});
