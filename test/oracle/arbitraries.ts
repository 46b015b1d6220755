/** fast-check generators for series with NaN gaps, constant runs, single samples and odd spacing. */
import fc from 'fast-check';

export interface GenSeries {
  ts: number[];
  v: number[];
}

// Magnitudes below 1e-100 are flushed to 0: squares of such values underflow to denormals, where
// both kernel and reference only compute rounding noise (and no metric lives there).
const finite = fc.double({ min: -1000, max: 1000, noNaN: true }).map((v) => (Math.abs(v) < 1e-100 ? 0 : v));

const segment = fc.oneof(
  { weight: 5, arbitrary: fc.array(finite, { minLength: 1, maxLength: 30 }) },
  // constant runs (std 0, ties in quantiles)
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom(0, 1, -3.5, 1e6 + 0.25), fc.integer({ min: 1, max: 40 })).map(([v, n]) => new Array<number>(n).fill(v)) },
  // NaN gaps
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 20 }).map((n) => new Array<number>(n).fill(NaN)) },
  // a realistic level with small noise (large offset relative to the spread)
  { weight: 2, arbitrary: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 30 }).map((a) => a.map((d) => 5e4 + d)) },
);

const step = fc.oneof(
  { weight: 8, arbitrary: fc.constant(15_000) },
  { weight: 2, arbitrary: fc.integer({ min: 1, max: 60_000 }) },
  { weight: 1, arbitrary: fc.integer({ min: 60_001, max: 7_200_000 }) },
);

export const seriesArb: fc.Arbitrary<GenSeries> = fc
  .tuple(fc.array(segment, { minLength: 1, maxLength: 8 }), fc.array(step, { minLength: 400, maxLength: 400 }))
  .map(([segs, steps]) => {
    const v = segs.flat().slice(0, 300);
    const ts: number[] = [];
    let t = 1_700_000_000_000;
    for (let i = 0; i < v.length; i++) {
      ts.push(t);
      t += steps[i % steps.length]!;
    }
    return { ts, v };
  });

/** Sorted, distinct cut points strictly inside [1, n). */
export function cutsArb(n: number): fc.Arbitrary<number[]> {
  if (n < 2) return fc.constant([]);
  return fc.uniqueArray(fc.integer({ min: 1, max: n - 1 }), { maxLength: 6 }).map((a) => a.sort((x, y) => x - y));
}

export const seriesWithCuts: fc.Arbitrary<{ s: GenSeries; cuts: number[] }> = seriesArb.chain((s) => cutsArb(s.ts.length).map((cuts) => ({ s, cuts })));
