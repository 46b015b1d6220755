import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_QUALITY_WEIGHTS, qualityFields, qualityFromCounts } from '../src/transform/quality.js';
import { runSpecs } from './oracle/batch.js';

const NOW = 1_700_100_000_000;

test('quality metrics from the counts the kernels produce', () => {
  const ts = Array.from({ length: 20 }, (_, i) => NOW - 20 * 15_000 + i * 15_000);
  ts[5] = ts[4]!; // duplicate
  const v = ts.map((_, i) => 50 + (i % 2));
  v[2] = NaN; // missing
  v[8] = 500; // out of range
  v[12] = Infinity;
  const { ctx } = runSpecs(
    [{ kind: 'validate', ranges: [{ match: 'cpu', min: 0, max: 100, action: 'flag' }] }, { kind: 'outliers', method: 'iqr', window: 6, minPeriods: 4 }],
    [{ key: 'cpu', ts, v, halo: 0 }],
    { nowMs: NOW },
  );
  const q = qualityFromCounts({ samplesIn: 20, dropped: ctx.dropped, counters: ctx.counters, newestMs: ts[19]!, nowMs: NOW });
  assert.equal(q.completeness, 19 / 20);
  assert.equal(q.duplicateRatio, 1 / 20);
  assert.equal(q.validity, 1 - 2 / 20, 'one range failure (flagged) and one +Inf');
  assert.equal(q.consistency, 1 - 1 / 20);
  assert.ok(q.outlierRatio >= 1 / 20, 'the out-of-range spike is also an outlier');
  assert.equal(q.lagMs, 15_000);
  assert.equal(q.timeliness, 1);
  const w = DEFAULT_QUALITY_WEIGHTS;
  const want = w.completeness * q.completeness + w.accuracy * q.accuracy + w.consistency * q.consistency + w.validity * q.validity + w.timeliness * q.timeliness;
  assert.ok(Math.abs(q.score - want) < 1e-15);
  assert.equal(qualityFields(q)['completeness_pct'], 95);
});

test('quality: timeliness decays linearly between target and max lag; weights are normalised', () => {
  const base = { samplesIn: 10, dropped: {}, counters: {}, nowMs: 10_000_000 };
  assert.equal(qualityFromCounts({ ...base, newestMs: 10_000_000 - 60_000 }).timeliness, 1);
  assert.equal(qualityFromCounts({ ...base, newestMs: 10_000_000 - 3_600_000 }).timeliness, 0);
  const mid = qualityFromCounts({ ...base, newestMs: 10_000_000 - (60_000 + 3_600_000) / 2 }).timeliness;
  assert.ok(Math.abs(mid - 0.5) < 1e-12);
  const q = qualityFromCounts({ ...base, newestMs: NaN, weights: { completeness: 1, accuracy: 0, consistency: 0, validity: 0, timeliness: 0 }, counters: { missing: 5 } });
  assert.equal(q.score, 0.5);
  assert.ok(Number.isNaN(q.lagMs));
  const empty = qualityFromCounts({ samplesIn: 0, dropped: {}, counters: {}, newestMs: NaN, nowMs: 0 });
  assert.equal(empty.completeness, 1);
});
