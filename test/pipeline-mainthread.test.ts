/**
 * Main-thread steps of the dispatcher made O(1) per batch (issue #18). The cancel race: one abort
 * listener for every wait. The series-collision check (src/pipeline/collisions.ts) with the workers' key
 * digests (src/encode/keys-digest.ts): a batch whose series set was already checked takes the
 * O(1) path, and the outcome of every batch is the same as without digests, for any sequence.
 */
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { keysDigest } from '../src/encode/keys-digest.js';
import { CancelRace } from '../src/pipeline/cancel-race.js';
import { SeriesClaims } from '../src/pipeline/collisions.js';

const batch = (pairs: Array<[string, string]>) => ({ keys: pairs.map((p) => p[0]), targets: pairs.map((p) => p[1]) });

describe('series collisions with key digests', () => {
  it('a repeated series set is recognised by its digest and not checked series by series again', () => {
    const claims = new SeriesClaims();
    const b = batch([['up{job="a"}', 'up,job=a'], ['up{job="b"}', 'up,job=b']]);
    const d = keysDigest(b.keys, b.targets);
    assert.deepEqual(claims.check(b.keys, b.targets, d), []);
    assert.deepEqual(claims.check(b.keys, b.targets, d), []);
    assert.deepEqual(claims.check(b.keys, b.targets, d), []);
    assert.equal(claims.fullChecks, 1, 'only the first batch of the set is checked per series');
  });

  it('a new series set that collides with a claimed key is still found, and its digest is not remembered', () => {
    const claims = new SeriesClaims();
    const first = batch([['up{job="a b"}', 'up,job=a_b']]);
    claims.check(first.keys, first.targets, keysDigest(first.keys, first.targets));
    const second = batch([['up{job="a_b"}', 'up,job=a_b']]);
    const d2 = keysDigest(second.keys, second.targets);
    const expected = [{ source: 'up{job="a_b"}', holder: 'up{job="a b"}', target: 'up,job=a_b' }];
    assert.deepEqual(claims.check(second.keys, second.targets, d2), expected);
    assert.deepEqual(claims.check(second.keys, second.targets, d2), expected, 'a colliding set is checked again, never waved through');
    assert.equal(claims.fullChecks, 3);
  });

  it('digests tell apart pair lists that concatenate to the same text', () => {
    assert.notEqual(keysDigest(['ab', 'c'], ['x', 'y']), keysDigest(['a', 'bc'], ['x', 'y']));
    assert.notEqual(keysDigest(['a'], ['bc']), keysDigest(['ab'], ['c']));
    assert.notEqual(keysDigest(['a', 'b'], ['t', 't']), keysDigest(['b', 'a'], ['t', 't']), 'order is part of the identity');
    assert.equal(keysDigest(['a', 'b'], ['t', 'u']), keysDigest(['a', 'b'], ['t', 'u']));
  });

  it('for any sequence of batches, the digest path gives the same collisions as checking every batch in full', () => {
    // Few source and target names so collisions are common; batches repeat often.
    const pair = fc.tuple(fc.constantFrom('s1', 's2', 's3', 's4', 's5'), fc.constantFrom('t1', 't2', 't3', ''));
    const batches = fc.array(fc.uniqueArray(pair, { selector: (p) => p[0], maxLength: 4 }), { maxLength: 12 });
    fc.assert(
      fc.property(batches, fc.array(fc.nat(11), { maxLength: 20 }), (bs, order) => {
        const withDigest = new SeriesClaims();
        const without = new SeriesClaims();
        const seq = [...bs, ...order.filter((i) => i < bs.length).map((i) => bs[i]!)];
        for (const pairs of seq) {
          const b = batch(pairs);
          assert.deepEqual(withDigest.check(b.keys, b.targets, keysDigest(b.keys, b.targets)), without.check(b.keys, b.targets));
        }
        assert.ok(withDigest.fullChecks <= without.fullChecks);
      }),
      { numRuns: 300 },
    );
  });
});

describe('cancel race', () => {
  it('passes values and rejections through, with one abort listener however many waits there are', async () => {
    const ac = new AbortController();
    const race = new CancelRace(ac.signal);
    const waits = Array.from({ length: 50 }, (_, i) => race.race(Promise.resolve(i)));
    assert.equal(getEventListeners(ac.signal, 'abort').length, 1);
    assert.deepEqual(await Promise.all(waits), Array.from({ length: 50 }, (_, i) => i));
    await assert.rejects(race.race(Promise.reject(new Error('sink down'))), /sink down/);
    assert.equal(race.pending, 0, 'settled waits are forgotten');
    assert.equal(getEventListeners(ac.signal, 'abort').length, 1);
  });

  it('an abort settles every pending wait with undefined, and later waits at once', async () => {
    const ac = new AbortController();
    const race = new CancelRace(ac.signal);
    const never = new Promise<number>(() => undefined);
    const late = Promise.reject(new Error('rejects after the abort'));
    const waits = [race.race(never), race.race(never), race.race(late.then(() => 1))];
    ac.abort();
    assert.deepEqual(await Promise.all(waits), [undefined, undefined, undefined]);
    assert.equal(await race.race(Promise.resolve(7)), undefined, 'after the abort nothing is waited for');
    assert.equal(race.pending, 0);
  });

  it('without a signal it is the promise itself', async () => {
    const race = new CancelRace(undefined);
    const p = Promise.resolve(3);
    assert.equal(race.race(p), p);
  });
});
