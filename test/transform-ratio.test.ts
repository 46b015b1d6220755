import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SeriesKind } from '../src/batch/layout.js';
import { collectRun, firstMismatch, runSpecs } from './oracle/batch.js';
import { refRolling } from './oracle/reference.js';

const RUNS = Number(process.env.PROMFLUX_PROPERTY_RUNS ?? 60);

const counterArb = fc.array(fc.tuple(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 30 })), { minLength: 2, maxLength: 120 }).map((rows) => {
  const ts: number[] = [];
  const err: number[] = [];
  const req: number[] = [];
  let e = 0;
  let r = 0;
  rows.forEach(([de, dr, reset], i) => {
    ts.push(1_700_000_000_000 + i * 15_000);
    r += dr + de;
    e += de;
    if (reset === 0) { e = de; r = dr + de; } // a restart resets both counters
    err.push(e);
    req.push(r);
  });
  return { ts, err, req };
});

test('ratio = rate(errors) / rate(requests) per matching series, PromQL rates with resets', () => {
  fc.assert(
    fc.property(counterArb, fc.constantFrom<string | number>('1m', '5m', 10), ({ ts, err, req }, window) => {
      const { ctx } = runSpecs(
        [{ kind: 'ratio', numerator: 'http_errors_total', denominator: 'http_requests_total', window, output: 'err_ratio' }],
        [
          { key: 'http_requests_total{job="a"}', kind: SeriesKind.counter, ts, v: req, halo: 0 },
          { key: 'http_errors_total{job="a"}', kind: SeriesKind.counter, ts, v: err, halo: 0 },
          { key: 'http_errors_total{job="b"}', kind: SeriesKind.counter, ts, v: err, halo: 0 },
        ],
      );
      const w = typeof window === 'number' ? { samples: window, ms: 0 } : { samples: 0, ms: window === '1m' ? 60_000 : 300_000 };
      const re = refRolling(ts, err, w, 'rate', { counter: true });
      const rr = refRolling(ts, req, w, 'rate', { counter: true });
      const want = re.map((x, i) => (rr[i]! > 0 ? x / rr[i]! : NaN));
      assert.equal(firstMismatch(collectRun(ctx, 1, ['err_ratio']).features['err_ratio']!, want, 1e-12, 1e-15), null);
      assert.ok(collectRun(ctx, 0, ['err_ratio']).features['err_ratio']!.every(Number.isNaN), 'denominator rows carry no ratio');
      assert.ok(collectRun(ctx, 2, ['err_ratio']).features['err_ratio']!.every(Number.isNaN), 'no matching denominator');
    }),
    { numRuns: RUNS },
  );
});
