/**
 * Planner, config, selector and retry/rate-limit unit tests. The planner is property-tested:
 * for any window, step, series count, halo and limits, chunks tile the window exactly on the step
 * grid and stay under the point and sample limits; completed intervals and shards partition it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { prometheusSourceSchema, resolveQueries } from '../src/extract/prometheus/config.js';
import { chunkId, completedIntervals, planNext, type PlanLimits, type PlannedChunk, type QueryState } from '../src/extract/prometheus/planner.js';
import { extractSelectors, metricNamesOf, parseSelector } from '../src/extract/prometheus/selector.js';
import { formatSeconds, parseTime } from '../src/extract/prometheus/time.js';
import { TokenBucket } from '../src/extract/ratelimit.js';
import { buildReadRequest } from '../src/extract/prometheus/remote-read.js';
import { PbReader } from '../src/extract/prometheus/decode/protobuf.js';
import snappy from 'snappyjs';

const limits = (o: Partial<PlanLimits> = {}): PlanLimits => ({
  extraction: 'range',
  stepMs: 15_000,
  maxPointsPerSeries: 11_000,
  maxSamplesPerQuery: 50_000_000,
  haloPoints: 0,
  lookbackMs: 0,
  haloSamples: 0,
  sampleIntervalMs: 15_000,
  maxChunkMs: undefined,
  shard: undefined,
  ...o,
});

function planAll(q: QueryState, L: PlanLimits, target: number | (() => number)): PlannedChunk[] {
  const out: PlannedChunk[] = [];
  for (let c = planNext(q, typeof target === 'number' ? target : target(), L); c; c = planNext(q, typeof target === 'number' ? target : target(), L)) {
    out.push(c);
    if (out.length > 100_000) throw new Error('runaway plan');
  }
  return out;
}

const query = (start: number, end: number, series = 1, done: Array<[number, number]> = []): QueryState => ({ name: 'q', expr: 'x', series, cursor: start, end, done });

describe('planner', () => {
  it('tiles [start, end) exactly on the step grid within the limits, whatever the adaptive target', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(1000, 15_000, 60_000, 300_000),
        fc.integer({ min: 0, max: 5000 }),
        fc.integer({ min: 1, max: 20_000 }),
        fc.integer({ min: 1, max: 5000 }),
        fc.integer({ min: 0, max: 50 }),
        fc.integer({ min: 2, max: 11_000 }),
        fc.array(fc.integer({ min: 1, max: 1_000_000 }), { minLength: 1, maxLength: 8 }),
        fc.constantFrom('range', 'remote-read', 'range-vector'),
        (step, startSteps, lenSteps, series, halo, maxPoints, targets, extraction) => {
          const start = 1_700_000_000_000 - (1_700_000_000_000 % step) + startSteps * step;
          const end = start + lenSteps * step;
          const maxSamples = series * (halo + 1) * (2 + (targets[0]! % 50));
          const L = limits({
            extraction,
            stepMs: step,
            maxPointsPerSeries: Math.max(maxPoints, halo + 1),
            maxSamplesPerQuery: extraction === 'range' ? maxSamples : series * (halo + 20) * 4,
            haloPoints: extraction === 'range' ? halo : 0,
            haloSamples: halo,
            lookbackMs: extraction === 'range' ? 0 : halo * step,
            sampleIntervalMs: step,
          });
          let i = 0;
          const chunks = planAll(query(start, end, series), L, () => targets[i++ % targets.length]!);
          assert.equal(chunks[0]!.startMs, start);
          assert.equal(chunks[chunks.length - 1]!.endMs, end);
          for (let k = 0; k < chunks.length; k++) {
            const c = chunks[k]!;
            if (k > 0) assert.equal(c.startMs, chunks[k - 1]!.endMs);
            assert.equal(c.startMs % step, 0);
            assert.equal(c.endMs % step, 0);
            assert.equal(c.id, chunkId('q', c.startMs, c.endMs));
            if (extraction === 'range') {
              const points = (c.fetchEndMs - c.fetchStartMs) / step + 1;
              assert.equal(points, (c.endMs - c.startMs) / step + halo);
              assert.ok(points <= L.maxPointsPerSeries, `${points} points`);
              assert.ok(series * points <= L.maxSamplesPerQuery, `${series * points} samples`);
            } else {
              assert.equal(c.fetchStartMs, c.startMs - L.lookbackMs);
              assert.equal(c.fetchEndMs, c.endMs - 1);
              assert.ok(series * (c.endMs - c.startMs + L.lookbackMs) / step <= L.maxSamplesPerQuery);
            }
          }
        },
      ),
      { numRuns: 400 },
    );
  });

  it('sizes chunks so rows ≈ targetRows when the limits allow', () => {
    const L = limits({ haloPoints: 4 });
    const [c] = planAll(query(0, 15_000 * 100_000, 10), L, 10_000).slice(0, 1);
    assert.equal(c!.estRows, 10_000);
    assert.equal((c!.endMs - c!.startMs) / 15_000, 996);
  });

  it('skips completed intervals (ids of any earlier plan) and covers the rest exactly', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 400 }), fc.integer({ min: 1, max: 50 })), { maxLength: 10 }), fc.integer({ min: 1, max: 60 }), (ivs, target) => {
        const step = 1000;
        const ids = ivs.map(([s, n]) => chunkId('q', s * step, (s + n) * step));
        const done = completedIntervals([...ids, 'other:0-5', 'garbage']).get('q') ?? [];
        const chunks = planAll(query(0, 300 * step, 1, done), limits({ stepMs: step }), target);
        const covered = new Uint8Array(300);
        for (const [s, e] of done) for (let t = s / step; t < Math.min(e / step, 300); t++) covered[t] = 2;
        for (const c of chunks) {
          for (let t = c.startMs / step; t < c.endMs / step; t++) {
            assert.equal(covered[t], 0, `t=${t} planned twice or despite completion`);
            covered[t] = 1;
          }
        }
        assert.ok(covered.every((x) => x !== 0), 'no gap');
      }),
    );
  });

  it('shards partition the plan deterministically', () => {
    const step = 15_000;
    const L = (index: number) => limits({ shard: { index, count: 3, blockMs: 3_600_000 } });
    const all = new Map<number, number>();
    for (let i = 0; i < 3; i++) {
      for (const c of planAll(query(0, 48 * 3_600_000, 5), L(i), 2000)) {
        assert.equal(Math.floor(c.startMs / 3_600_000), Math.floor((c.endMs - 1) / 3_600_000), 'no chunk crosses a block');
        for (let t = c.startMs; t < c.endMs; t += step) {
          assert.ok(!all.has(t));
          all.set(t, i);
        }
      }
    }
    assert.equal(all.size, (48 * 3_600_000) / step);
    assert.deepEqual(new Set(all.values()), new Set([0, 1, 2]));
  });
});

describe('config', () => {
  const base = { kind: 'prometheus', url: 'http://127.0.0.1:9090', start: 'now-6h', queries: [{ name: 'up', expr: 'up' }] };

  it('fills defaults and is strict about unknown keys', () => {
    const c = prometheusSourceSchema.parse(base);
    assert.equal(c.step, '15s');
    assert.equal(c.maxPointsPerSeries, 11_000);
    assert.equal(c.maxSamplesPerQuery, 50_000_000);
    assert.deepEqual(c.retry, { attempts: 5, baseMs: 200, maxMs: 10_000 });
    assert.equal(c.remoteRead.responseType, 'streamed');
    const bad = prometheusSourceSchema.safeParse({ ...base, concurency: 2 });
    assert.ok(!bad.success && /concurency/.test(JSON.stringify(bad.error.issues)));
    assert.ok(!prometheusSourceSchema.safeParse({ ...base, retry: { attempts: 2, delay: 5 } }).success);
    assert.ok(!prometheusSourceSchema.safeParse({ ...base, step: '15 seconds' }).success);
    assert.ok(!prometheusSourceSchema.safeParse({ ...base, start: 'yesterday' }).success);
    assert.ok(!prometheusSourceSchema.safeParse({ ...base, start: undefined }).success, 'backfill needs start');
    assert.ok(prometheusSourceSchema.safeParse({ ...base, start: undefined, mode: 'stream' }).success);
    assert.ok(!prometheusSourceSchema.safeParse({ ...base, queries: [{ name: 'a b', expr: 'up' }] }).success);
  });

  it('expands built-in families and user templates with variables', () => {
    const c = prometheusSourceSchema.parse({
      ...base,
      queries: [
        { family: 'application', vars: { selector: 'env="prod"' } },
        { family: 'system' },
        { name: 'rps', template: 'application.request_rate', vars: { by: 'service' } },
        { name: 'mine', template: 'err_ratio', vars: { svc: 'api' } },
      ],
      templates: { err_ratio: { expr: 'sum(rate(errors_total{service="${svc}"}[${w}]))', defaults: { w: '5m' } } },
    });
    assert.deepEqual(resolveQueries(c), [
      { name: 'application.requests', expr: 'application_requests_total{env="prod"}' },
      { name: 'application.response_time', expr: 'application_response_time_seconds{env="prod"}' },
      { name: 'system.cpu', expr: 'node_cpu_seconds_total{}' },
      { name: 'system.memory_total', expr: 'node_memory_MemTotal_bytes{}' },
      { name: 'rps', expr: 'sum by (service) (rate(application_requests_total{}[5m]))' },
      { name: 'mine', expr: 'sum(rate(errors_total{service="api"}[5m]))' },
    ]);
    const missing = prometheusSourceSchema.safeParse({ ...base, queries: [{ name: 'm', template: 'x' }], templates: { x: 'foo{a="${a}"}' } });
    assert.ok(!missing.success && /needs variable\(s\) "a"/.test(missing.error.issues[0]!.message));
    const unknown = prometheusSourceSchema.safeParse({ ...base, queries: [{ family: 'nope' }] });
    assert.ok(!unknown.success && /unknown family "nope"/.test(unknown.error.issues[0]!.message));
    const dup = prometheusSourceSchema.safeParse({ ...base, queries: [{ name: 'a', expr: 'up' }, { name: 'a', expr: 'up' }] });
    assert.ok(!dup.success && /duplicate query name/.test(dup.error.issues[0]!.message));
    const raw = prometheusSourceSchema.safeParse({ ...base, extraction: 'range-vector', queries: [{ name: 'r', template: 'application.request_rate' }] });
    assert.ok(!raw.success && /plain selector/.test(raw.error.issues[0]!.message));
  });

  it('parses instants (durations: test/util.test.ts)', () => {
    const now = 1_700_000_000_000;
    assert.equal(parseTime('now-6h', now), now - 21_600_000);
    assert.equal(parseTime('2023-11-14T22:13:20Z', now), now);
    assert.equal(parseTime('1700000000.5', now), now + 500);
    assert.equal(parseTime(1_700_000_000, now), now);
    assert.throws(() => parseTime('2023-11-14 22:13', now), /RFC3339/);
    assert.equal(formatSeconds(1_700_000_000_005), '1700000000.005');
    assert.equal(formatSeconds(15_000), '15');
  });
});

describe('selectors', () => {
  it('parses plain selectors into matchers', () => {
    const s = parseSelector('http_requests_total{job="api", code=~"5..", path!=\'/x\', env!~`dev|test`}');
    assert.equal(s.name, 'http_requests_total');
    assert.deepEqual(s.matchers, [
      { type: '=', name: '__name__', value: 'http_requests_total' },
      { type: '=', name: 'job', value: 'api' },
      { type: '=~', name: 'code', value: '5..' },
      { type: '!=', name: 'path', value: '/x' },
      { type: '!~', name: 'env', value: 'dev|test' },
    ]);
    assert.equal(parseSelector('{__name__="up"}').name, 'up');
    assert.equal(parseSelector('up{}').text, 'up{}');
    for (const bad of ['rate(up[5m])', 'up + 1', 'sum(up)', '{a=~".*"}', 'up[5m]']) assert.throws(() => parseSelector(bad), bad);
  });

  it('finds the selectors inside PromQL expressions', () => {
    const t = (e: string) => extractSelectors(e).map((s) => s.text);
    assert.deepEqual(t('sum by (job, instance) (rate(http_requests_total{code="500"}[5m])) / on(job) group_left up'), ['http_requests_total{code="500"}', 'up{}']);
    assert.deepEqual(t('histogram_quantile(0.9, sum without (pod) (rate(lat_bucket[1m] offset 5m)))'), ['lat_bucket{}']);
    assert.deepEqual(t('vector(1) + time()'), []);
    assert.deepEqual(t('max_over_time(({job="x"} > bool 0)[1h:5m])'), ['{job="x"}']);
    assert.deepEqual(metricNamesOf('a_total / ignoring(x) b{c="d"} and count(c)'), ['a_total', 'b', 'c']);
  });

  it('builds a snappy ReadRequest with the matchers and accepted response types', () => {
    const body = snappy.uncompress(buildReadRequest(parseSelector('m{a!="b"}').matchers, 1000, 1999, 'streamed'));
    const r = new PbReader(body);
    assert.equal(r.uvarint(), 10);
    const qEnd = r.len() + r.pos;
    assert.equal(r.uvarint(), 8);
    assert.equal(r.uvarint(), 1000);
    assert.equal(r.uvarint(), 16);
    assert.equal(r.uvarint(), 1999);
    const matchers: string[] = [];
    while (r.pos < qEnd) {
      assert.equal(r.uvarint(), 26);
      const e = r.len() + r.pos;
      let type = 0;
      let name = '';
      let value = '';
      while (r.pos < e) {
        const tag = r.uvarint();
        if (tag === 8) type = r.uvarint();
        else if (tag === 18) name = r.string();
        else value = r.string();
      }
      matchers.push(`${type}:${name}=${value}`);
    }
    assert.deepEqual(matchers, ['0:__name__=m', '1:a=b']);
    assert.deepEqual([r.uvarint(), r.uvarint(), r.uvarint(), r.uvarint()], [16, 1, 16, 0]);
  });
});

describe('rate limiting (retry timing and the semaphore: test/util.test.ts)', () => {
  it('token bucket paces acquisitions', async () => {
    const tb = new TokenBucket(50, 1);
    const t0 = performance.now();
    await Promise.all(Array.from({ length: 6 }, () => tb.acquire()));
    assert.ok(performance.now() - t0 >= 90, `${performance.now() - t0} ms`);
  });
});
