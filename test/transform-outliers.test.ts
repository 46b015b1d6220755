import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FLAG_DROPPED } from '../src/batch/layout.js';
import { flagBitFor } from '../src/transform/context.js';
import { compileTransforms } from '../src/transform/registry.js';
import { close, collectRun, firstDifference, runSpecs, runSplit } from './oracle/batch.js';
import { refOutliers } from './oracle/reference.js';
import { seriesWithCuts } from './oracle/arbitraries.js';

const RUNS = Number(process.env.PROMFLUX_PROPERTY_RUNS ?? 60);
const outlierBit = flagBitFor('outlier');

for (const method of ['iqr', 'zscore', 'robust'] as const) {
  for (const window of [10, '10m'] as const) {
    test(`outliers ${method} over ${window}: verdicts and clip fences match the reference under any split`, () => {
      const win = typeof window === 'number' ? { samples: window, ms: 0 } : { samples: 0, ms: 600_000 };
      fc.assert(
        fc.property(seriesWithCuts, ({ s, cuts }) => {
          const series = { key: 'm', ts: s.ts, v: s.v };
          const ref = refOutliers(s.ts, s.v, { method, window: win, minPeriods: 3 });
          const flagged = runSplit([{ kind: 'outliers', method, window, minPeriods: 3 }], series, cuts);
          assert.deepEqual(flagged.rows.flags.map((f) => (f & outlierBit ? 1 : 0)), ref.verdict.map((v) => (v !== 0 ? 1 : 0)));
          const nOut = ref.verdict.filter((v) => v !== 0).length;
          assert.equal(flagged.counters['flagged:outlier'] ?? 0, nOut);
          const clipped = runSplit([{ kind: 'outliers', method, window, minPeriods: 3, action: 'clip' }], series, cuts);
          const whole = runSplit([{ kind: 'outliers', method, window, minPeriods: 3, action: 'clip' }], series, []);
          assert.equal(firstDifference(clipped.rows.value, whole.rows.value), null);
          for (let i = 0; i < s.v.length; i++) {
            const want = ref.verdict[i] !== 0 ? ref.fence[i]! : s.v[i]!;
            assert.ok(close(clipped.rows.value[i]!, want, 1e-9, 1e-9), `row ${i}: ${clipped.rows.value[i]} vs ${want}`);
          }
        }),
        { numRuns: Math.ceil(RUNS / 2) },
      );
    });
  }
}

test('outliers: a spike is flagged, dropped or winsorised; zero spread never fires', () => {
  const ts = Array.from({ length: 30 }, (_, i) => i * 15_000);
  const v = ts.map((_, i) => 10 + (i % 3));
  v[20] = 1000;
  const flag = runSpecs([{ kind: 'outliers', method: 'iqr', window: 10 }], [{ key: 'm', ts, v, halo: 0 }]);
  assert.deepEqual(collectRun(flag.ctx, 0, []).flags.map((f, i) => (f & outlierBit ? i : -1)).filter((i) => i >= 0), [20]);
  const drop = runSpecs([{ kind: 'outliers', method: 'robust', window: 10, action: 'drop' }], [{ key: 'm', ts, v, halo: 0 }]);
  assert.equal(drop.ctx.dropped['outlier'], 1);
  assert.equal(collectRun(drop.ctx, 0, []).flags[20]! & FLAG_DROPPED, FLAG_DROPPED);
  const clip = runSpecs([{ kind: 'outliers', method: 'zscore', window: 10, action: 'clip' }], [{ key: 'm', ts, v, halo: 0 }]);
  const clipped = collectRun(clip.ctx, 0, []).value[20]!;
  assert.ok(clipped > 11 && clipped < 20, `winsorised to mean + 3 sd, got ${clipped}`);
  assert.equal(clip.ctx.counters['fail:outlier'], 1);
  const constant = runSpecs([{ kind: 'outliers', method: 'robust', window: 10 }], [{ key: 'm', ts, v: ts.map((_, i) => (i === 25 ? 5 : 1)), halo: 0 }]);
  assert.equal(constant.ctx.counters['fail:outlier'], undefined, 'MAD 0: no verdict');
  assert.equal(compileTransforms([{ kind: 'outliers', window: 60 }])[0]!.haloSamples, 60);
});

test('outliers iqr over windows of hundreds of rows and 6h: verdicts and fences match the reference, bit-identical under splits', () => {
  let seed = 5;
  const r = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const n = 3000;
  let t = 1_700_000_000_000;
  const ts = Array.from({ length: n }, () => (t += 5000 + Math.floor(r() * 40_000)));
  const v = Array.from({ length: n }, (_, i) => (r() < 0.03 ? NaN : i % 97 === 3 ? 1e6 : Math.floor(r() * 50) + (i > 1500 ? 1000 : 0)));
  for (const [window, win] of [[500, { samples: 500, ms: 0 }], ['6h', { samples: 0, ms: 6 * 3_600_000 }]] as const) {
    const ref = refOutliers(ts, v, { method: 'iqr', window: win, minPeriods: 8 });
    const series = { key: 'm', ts, v };
    const whole = runSplit([{ kind: 'outliers', method: 'iqr', window, minPeriods: 8, action: 'clip' }], series, []);
    const split = runSplit([{ kind: 'outliers', method: 'iqr', window, minPeriods: 8, action: 'clip' }], series, [700, 1501, 2222]);
    assert.equal(firstDifference(split.rows.value, whole.rows.value), null, `${window}: split changes the clipped values`);
    assert.ok(ref.verdict.filter((x) => x !== 0).length > 20, 'the data has outliers to find');
    for (let i = 0; i < n; i++) {
      const want = ref.verdict[i] !== 0 ? ref.fence[i]! : v[i]!;
      assert.ok(Object.is(whole.rows.value[i], want) || close(whole.rows.value[i]!, want, 1e-12, 0), `${window} row ${i}: ${whole.rows.value[i]} vs ${want}`);
    }
  }
});
