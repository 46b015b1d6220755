import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FLAG_DROPPED } from '../src/batch/layout.js';
import { flagBitFor } from '../src/transform/context.js';
import { close, collectRun, firstDifference, runSpecs, runSplit } from './oracle/batch.js';
import { refImpute } from './oracle/reference.js';
import { seriesWithCuts } from './oracle/arbitraries.js';

const RUNS = Number(process.env.PROMFLUX_PROPERTY_RUNS ?? 60);
const imputedBit = flagBitFor('imputed');

for (const method of ['linear', 'ffill', 'bfill', 'mean', 'median'] as const) {
  test(`impute ${method}: values, flags and drops match the reference under any split (with look-ahead)`, () => {
    fc.assert(
      fc.property(seriesWithCuts, fc.option(fc.integer({ min: 1, max: 5 }), { nil: undefined }), ({ s, cuts }, limit) => {
        const spec = { kind: 'impute', method, maxGap: '30m', window: 7, ...(limit !== undefined ? { limit } : {}) };
        const want = refImpute(s.ts, s.v, { method, maxGapMs: 1_800_000, window: 7, ...(limit !== undefined ? { limit } : {}) });
        const series = { key: 'm', ts: s.ts, v: s.v };
        const lookahead = s.ts.length; // trailing context rows: the whole rest of the series
        const got = runSplit([spec], series, cuts, { lookahead });
        const whole = runSplit([spec], series, [], { lookahead });
        assert.equal(firstDifference(got.rows.value, whole.rows.value), null);
        for (let i = 0; i < s.v.length; i++) {
          const missing = Number.isNaN(s.v[i]!);
          const filled = !Number.isNaN(want[i]!);
          const f = got.rows.flags[i]!;
          if (!missing) assert.equal(got.rows.value[i], s.v[i]);
          else if (filled) {
            assert.ok(close(got.rows.value[i]!, want[i]!, 1e-12, 1e-9), `row ${i}: ${got.rows.value[i]} vs ${want[i]}`);
            assert.equal(f & imputedBit, imputedBit);
          } else assert.equal(f & FLAG_DROPPED, FLAG_DROPPED, `row ${i} unfillable → dropped`);
        }
        const nMissing = s.v.filter(Number.isNaN).length;
        const nFilled = want.filter((x) => !Number.isNaN(x)).length;
        assert.equal(got.counters['missing'] ?? 0, nMissing);
        assert.equal(got.counters['imputed'] ?? 0, nFilled);
        assert.equal(got.dropped['missing'] ?? 0, nMissing - nFilled);
      }),
      { numRuns: RUNS },
    );
  });
}

test('impute: max gap, stale markers and ordering with validate', () => {
  const ts = [0, 60, 120, 180, 7380, 7440].map((s) => 1_700_000_000_000 + s * 1000);
  const v = [1, NaN, 3, NaN, 5, NaN];
  // row 3 sits in a 2h gap (beyond maxGap 60m): not imputed; row 5 is a stale marker: left to validate
  const { ctx } = runSpecs([{ kind: 'validate', nan: 'flag' }, { kind: 'impute', method: 'linear' }, { kind: 'validate' }], [{ key: 'm', ts, v, stale: [5], halo: 0 }]);
  const got = collectRun(ctx, 0, []);
  assert.equal(got.value[1], 2);
  assert.deepEqual({ ...ctx.dropped }, { missing: 1, stale: 1 });
  assert.equal(ctx.counters['missing'], 2, 'counted once although two kernels saw the NaN');
  assert.equal(ctx.counters['imputed'], 1);
});

test('completeness drops rows whose feature vector is too sparse', () => {
  const ts = Array.from({ length: 10 }, (_, i) => i * 1000);
  const v = ts.map((_, i) => i);
  const { ctx } = runSpecs(
    [{ kind: 'rolling', windows: [2, 5, 8, 9], stats: ['mean'] }, { kind: 'completeness', threshold: 0.8 }],
    [{ key: 'm', ts, v, halo: 0 }],
  );
  // row i has value + mean_w for every w <= i+1: present/5 >= 0.8 needs 4 of 5 → i >= 7
  const dropped = collectRun(ctx, 0, []).flags.map((f) => (f & FLAG_DROPPED ? 1 : 0));
  assert.deepEqual(dropped, [1, 1, 1, 1, 1, 1, 1, 0, 0, 0]);
  assert.equal(ctx.dropped['incomplete'], 7);
});
