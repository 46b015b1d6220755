import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FLAG_DROPPED, SeriesKind } from '../src/batch/layout.js';
import { flagBitFor } from '../src/transform/context.js';
import { compileTransforms } from '../src/transform/registry.js';
import { collectRun, runSpecs, runSplit, type SeriesData } from './oracle/batch.js';
import { refValidate } from './oracle/reference.js';

const RUNS = Number(process.env.PROMFLUX_PROPERTY_RUNS ?? 60);
const NOW = 1_700_100_000_000;

/** Series with NaN, ±Inf, stale markers, negative values, duplicate / out-of-order / future timestamps. */
const dirtySeries = fc
  .array(
    fc.record({
      dt: fc.oneof({ weight: 8, arbitrary: fc.constant(15_000) }, { weight: 1, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -60_000, max: -1 }) }, { weight: 1, arbitrary: fc.constant(1e9) }),
      v: fc.oneof(
        { weight: 8, arbitrary: fc.double({ min: -50, max: 150, noNaN: true }) },
        { weight: 1, arbitrary: fc.constantFrom(NaN, Infinity, -Infinity) },
      ),
      stale: fc.integer({ min: 0, max: 9 }).map((x) => x === 0),
    }),
    { minLength: 1, maxLength: 120 },
  )
  .map((rows) => {
    const ts: number[] = [];
    let t = NOW - 50 * 15_000;
    for (const r of rows) {
      t += r.dt;
      ts.push(t);
    }
    return { ts, v: rows.map((r) => (r.stale ? NaN : r.v)), stale: rows.flatMap((r, i) => (r.stale ? [i] : [])) };
  });

const cutsFor = (n: number): fc.Arbitrary<number[]> =>
  n < 2 ? fc.constant([]) : fc.uniqueArray(fc.integer({ min: 1, max: n - 1 }), { maxLength: 5 }).map((a) => a.sort((x, y) => x - y));

test('validate drops exactly what the reference says, counted by rule name, under any batch split', () => {
  const specs = [{ kind: 'validate', order: { lookback: 3 }, ranges: [{ match: 'cpu_.*_percent', min: 0, max: 100 }] }];
  fc.assert(
    fc.property(dirtySeries.chain((s) => cutsFor(s.ts.length).map((cuts) => ({ s, cuts }))), ({ s, cuts }) => {
      const series: SeriesData = { key: 'cpu_busy_percent{host="a"}', kind: SeriesKind.counter, ts: s.ts, v: s.v, stale: s.stale };
      const want = refValidate(s.ts, s.v, new Set(s.stale), { lookback: 3, nowMs: NOW, min: 0, max: 100, counter: true });
      const wantCounts: Record<string, number> = {};
      for (const r of want) if (r) wantCounts[r] = (wantCounts[r] ?? 0) + 1;
      const got = runSplit(specs, series, cuts, { nowMs: NOW });
      assert.deepEqual(got.dropped, wantCounts);
      const droppedRows = got.rows.flags.map((f) => (f & FLAG_DROPPED) !== 0);
      assert.deepEqual(droppedRows, want.map((r) => r !== null));
    }),
    { numRuns: RUNS },
  );
});

test('validate with default rules (fast path) matches the reference under any batch split', () => {
  fc.assert(
    fc.property(dirtySeries.chain((s) => cutsFor(s.ts.length).map((cuts) => ({ s, cuts }))), ({ s, cuts }) => {
      const want = refValidate(s.ts, s.v, new Set(s.stale), { nowMs: NOW });
      const wantCounts: Record<string, number> = {};
      for (const r of want) if (r) wantCounts[r] = (wantCounts[r] ?? 0) + 1;
      const got = runSplit([{ kind: 'validate' }], { key: 'g', ts: s.ts, v: s.v, stale: s.stale }, cuts, { nowMs: NOW });
      assert.deepEqual(got.dropped, wantCounts);
      assert.deepEqual(got.rows.flags.map((f) => (f & FLAG_DROPPED) !== 0), want.map((r) => r !== null));
    }),
    { numRuns: RUNS },
  );
});

test('validate: stale markers are told from ordinary NaN by bit pattern', () => {
  const ts = [1, 2, 3, 4].map((i) => NOW - 100_000 + i * 1000);
  const { ctx } = runSpecs([{ kind: 'validate' }], [{ key: 'up', ts, v: [1, NaN, NaN, 2], stale: [2], halo: 0 }], { nowMs: NOW });
  assert.deepEqual({ ...ctx.dropped }, { nan: 1, stale: 1 });
  assert.equal(ctx.counters['missing'], 1, 'a stale marker is the end of a series, not a missing value');
});

test('validate: flag and clip actions', () => {
  const ts = [1, 2, 3, 4, 5].map((i) => NOW - 100_000 + i * 1000);
  const { ctx } = runSpecs(
    [{ kind: 'validate', nan: 'flag', inf: 'clip', ranges: [{ match: 'mem_percent', min: 0, max: 100, action: 'clip', name: 'mem_percent' }] }],
    [{ key: 'mem_percent{host="a"}', ts, v: [50, NaN, Infinity, 120, -5], halo: 0 }],
    { nowMs: NOW },
  );
  const got = collectRun(ctx, 0, []);
  assert.deepEqual(got.value.slice(2), [100, 100, 0], '+Inf clips to the range max; out-of-range values clip to the bounds');
  assert.ok(Number.isNaN(got.value[1]!));
  assert.equal(got.flags[1]! & flagBitFor('nan'), flagBitFor('nan'));
  assert.deepEqual({ ...ctx.counters }, { missing: 1, 'fail:nan': 1, 'flagged:nan': 1, 'fail:inf': 1, 'clipped:inf': 1, 'fail:range': 2, 'clipped:mem_percent': 2 });
  assert.deepEqual({ ...ctx.dropped }, {});
});

test('validate: exclusive bounds (response time > 0) and several rules per metric', () => {
  const ts = [1, 2, 3].map((i) => NOW - 100_000 + i * 1000);
  const { ctx } = runSpecs(
    [{ kind: 'validate', ranges: [{ match: '.*_seconds', min: 0, exclusiveMin: true, name: 'positive_latency' }, { match: 'http_.*', max: 10 }] }],
    [{ key: 'http_latency_seconds', ts, v: [0, 0.2, 11], halo: 0 }],
    { nowMs: NOW },
  );
  assert.deepEqual({ ...ctx.dropped }, { positive_latency: 1, range: 1 });
  assert.throws(() => compileTransforms([{ kind: 'validate', ranges: [{ match: 'x', min: 0, exclusiveMin: true, action: 'clip' }] }]), /exclusive bound/);
});

test('validate: gap rule flags the first sample after a long gap; future rule honours the tolerance', () => {
  const ts = [0, 15, 30, 3630, 3645].map((s) => NOW - 10_000_000 + s * 1000);
  ts.push(NOW + 60_000, NOW + 3_600_000); // within and beyond a 5m tolerance
  const v = ts.map(() => 1);
  const { ctx } = runSpecs([{ kind: 'validate', gap: { max: '10m' } }], [{ key: 'g', ts, v, halo: 0 }], { nowMs: NOW });
  const got = collectRun(ctx, 0, []);
  const gapBit = flagBitFor('gap');
  assert.deepEqual(got.flags.map((f) => (f & gapBit ? 1 : 0)), [0, 0, 0, 1, 0, 1, 0]);
  assert.deepEqual({ ...ctx.dropped }, { future: 1 });
  assert.equal(ctx.counters['flagged:gap'], 2);
  assert.equal(compileTransforms([{ kind: 'validate', gap: { max: '10m' } }])[0]!.haloSamples, 1);
});

test('validate: business rules across series sharing labels', () => {
  const ts = [1, 2, 3].map((i) => NOW - 100_000 + i * 1000);
  const rules = [
    { kind: 'validate', business: [
      { name: 'errors_le_requests', lhs: 'http_errors_total', rhs: 'http_requests_total', action: 'drop' },
      { name: 'quantiles_ordered', ordered: 'latency_seconds', by: 'quantile', action: 'clip' },
    ] },
  ];
  const { ctx } = runSpecs(rules, [
    { key: 'http_errors_total{job="a"}', ts, v: [1, 9, 3], halo: 0 },
    { key: 'http_requests_total{job="a"}', ts, v: [5, 5, 5], halo: 0 },
    { key: 'http_errors_total{job="b"}', ts, v: [100, 100, 100], halo: 0 }, // no partner: unchecked
    { key: 'latency_seconds{job="a",quantile="0.5"}', ts, v: [1, 5, 1], halo: 0 },
    { key: 'latency_seconds{job="a",quantile="0.95"}', ts, v: [2, 3, 2], halo: 0 },
    { key: 'latency_seconds{job="a",quantile="0.99"}', ts, v: [3, 4, 1.5], halo: 0 },
  ], { nowMs: NOW });
  assert.equal(ctx.dropped['errors_le_requests'], 1);
  assert.deepEqual(collectRun(ctx, 0, []).flags.map((f) => f & FLAG_DROPPED), [0, FLAG_DROPPED, 0]);
  // p95 raised to p50 (5) at t2, then p99 raised to the clipped p95 (5); at t3 p99 raised to 2
  assert.deepEqual(collectRun(ctx, 4, []).value, [2, 5, 2]);
  assert.deepEqual(collectRun(ctx, 5, []).value, [3, 5, 2]);
  assert.equal(ctx.counters['clipped:quantiles_ordered'], 3);
});

test('validate rejects unknown options and actions', () => {
  assert.throws(() => compileTransforms([{ kind: 'validate', nan: 'explode' }]), /nan.*must be one of/);
  assert.throws(() => compileTransforms([{ kind: 'validate', rangez: [] }]), /unknown/);
  assert.throws(() => compileTransforms([{ kind: 'validate', gap: { action: 'flag' } }]), /gap.max/);
});
