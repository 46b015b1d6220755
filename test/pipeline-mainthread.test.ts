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
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keysDigest } from '../src/encode/keys-digest.js';
import { CancelRace } from '../src/pipeline/cancel-race.js';
import { SeriesClaims } from '../src/pipeline/collisions.js';
import { createPipeline, type RunSummary } from '../src/pipeline/run.js';
import type { BatchEvent } from '../src/pipeline/dispatcher.js';
import type { Source, SourceChunk, SourceOpenOptions } from '../src/extract/source.js';
import { KnownKeysTable, isKnown } from '../src/pool/known-keys.js';

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

describe('known series sets: workers send the digest, not the keys', () => {
  it('a published digest is known to the table, an unpublished or cleared one is not', () => {
    const t = new KnownKeysTable();
    const a = keysDigest(['up{job="a"}'], ['up,job=a']);
    const b = keysDigest(['up{job="b"}'], ['up,job=b']);
    assert.equal(isKnown(t.buffer, a), false);
    t.publish(a);
    assert.equal(isKnown(t.buffer, a), true);
    assert.equal(isKnown(t.buffer, b), false);
    assert.equal(isKnown(t.buffer, 'not a digest'), false);
    t.clear();
    assert.equal(isKnown(t.buffer, a), false);
  });

  it('the dispatcher knows a set only once a batch of it was accepted, and a stale hint is not trusted', () => {
    const claims = new SeriesClaims();
    const b = batch([['up{job="a"}', 'up,job=a']]);
    const d = keysDigest(b.keys, b.targets);
    assert.deepEqual(claims.check(b.keys, b.targets, d), []);
    assert.equal(claims.known(d), false, 'collision-free but not yet accepted by the sink');
    assert.equal(isKnown(claims.table.buffer, d), false);
    claims.delivered(d);
    assert.equal(claims.known(d), true);
    assert.equal(isKnown(claims.table.buffer, d), true);
    // Another dispatcher's table (or a cleared one) tells its workers nothing about this set.
    const other = new SeriesClaims();
    assert.equal(other.known(d), false);
    assert.equal(other.known(undefined), false);
  });
});

/**
 * Chunks of fixed series (one Prometheus query_range JSON body each, decoded by the real
 * prom-matrix filler in the workers), each at its own time range.
 */
class ChunkedSource implements Source {
  readonly kind = 'fixed';
  private i = 0;
  constructor(private readonly chunks: { labels: Record<string, string>; values: number[] }[][]) {}
  async open(_o: SourceOpenOptions): Promise<void> {}
  async next(): Promise<SourceChunk | null> {
    const series = this.chunks[this.i];
    if (!series) return null;
    const id = `fixed-${this.i}`;
    const t0 = 1700000000 + this.i * 1000;
    this.i++;
    const json = JSON.stringify({
      status: 'success',
      data: { resultType: 'matrix', result: series.map((s) => ({ metric: s.labels, values: s.values.map((v, t) => [t0 + t, String(v)]) })) },
    });
    const bytes = Buffer.from(json, 'utf8');
    const body = new Uint8Array(new SharedArrayBuffer(bytes.length));
    body.set(bytes);
    const n = series.reduce((a, s) => a + s.values.length, 0);
    const startMs = t0 * 1000;
    return {
      id,
      fill: { kind: 'prom-matrix', body, query: 'fixed', chunkId: id, startMs, endMs: startMs + 1_000_000, haloAll: false, haloSamples: 0, haloMs: 0, kinds: {} },
      estRows: n,
      estRuns: series.length,
      startMs,
      endMs: startMs + 1_000_000,
      estSamples: n,
    };
  }
  progress() {
    return { doneSamples: 0, totalSamples: null };
  }
  async close(): Promise<void> {}
}

describe('series collisions when repeated series sets travel as digests (through the pipeline)', () => {
  const a = { labels: { __name__: 'up', job: 'a', pod: 'p1' }, values: [1, 2, 3] };
  const b = { labels: { __name__: 'up', job: 'a', pod: 'p2' }, values: [4, 5] };
  // pod is denied: a and b both become `up,job=a`. The set {a} repeats before b arrives.
  const chunks = [[a], [a], [a], [a, b]];

  async function run(onCollision: 'fail' | 'drop'): Promise<{ s: RunSummary; events: BatchEvent[]; lines: string[] }> {
    const dir = mkdtempSync(join(tmpdir(), 'promflux-known-keys-'));
    try {
      const path = join(dir, 'out.lp');
      const events: BatchEvent[] = [];
      const s = await createPipeline(
        { name: 'known', source: { kind: 'synthetic', series: 1, samplesPerSeries: 1 }, transform: [], sink: { kind: 'file', path, onCollision } as never, schema: { tags: { deny: ['pod'] } }, engine: { maxInFlight: 1 } } as never,
        { workers: 1, source: new ChunkedSource(chunks) },
      ).run({ onBatch: (e) => events.push(e) });
      return { s, events, lines: readFileSync(path, 'utf8').split('\n').filter(Boolean) };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it('the repeated set comes back without keys, and the collision of a later batch still fails the run', async () => {
    const { s, events, lines } = await run('fail');
    assert.equal(s.status, 'failed');
    assert.equal(s.error?.code, 'PROMFLUX_SERIES_COLLISION');
    const msg = s.error?.message ?? '';
    assert.ok(msg.includes('up{job="a",pod="p1"}') && msg.includes('up{job="a",pod="p2"}'), msg);
    assert.deepEqual(events.map((e) => e.result.keysOmitted === true), [false, true, true], 'the first batch of the set sends its keys, the repeats only the digest');
    assert.deepEqual(events.map((e) => e.result.seriesKeys.length), [1, 0, 0]);
    assert.equal(lines.length, 9, 'the three batches before the collision are written, the colliding one is not');
  });

  it('onCollision drop: the later series is dropped and counted, the rest written as with full keys', async () => {
    const { s, events, lines } = await run('drop');
    assert.equal(s.status, 'ok', JSON.stringify(s.error));
    assert.equal(s.samplesIn, 14);
    assert.deepEqual(s.dropped, { series_collision: 2 });
    assert.equal(s.linesOut, 12);
    assert.deepEqual(lines.map((l) => Number(l.split(' ')[1]!.split('=')[1])), [1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3]);
    assert.equal(events.length, 4);
    assert.equal(events[3]!.result.keysOmitted, true, 're-encoded without the loser, the batch is the known set again');
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
