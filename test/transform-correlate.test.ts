/**
 * `correlate`'s O(1) split-window co-moments (src/transform/kernels/correlation.ts pairMoments)
 * on adversarial data: large offsets (1e9, 1e12) with small noise, constant runs (corr undefined
 * → NaN, cov exactly 0), 1e12 spikes, NaN and missing rows. Checked against an exact oracle
 * (integer arithmetic on the doubles' exact values, BigInt) and bit-for-bit under random batch
 * splits, for split windows (60, 37 rows), directly summed short windows (8 rows), lags and
 * duration windows. Plain-reference and Polars comparisons: transform-features / transform-polars-features.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RUN_STRIDE } from '../src/batch/layout.js';
import { compileTransforms } from '../src/transform/registry.js';
import { collectRun, firstDifference, runSpecs } from './oracle/batch.js';
import { exactCorrCov } from './oracle/features.js';

const RUNS = Number(process.env.PROMFLUX_PROPERTY_RUNS ?? 40);
const T0 = 1_700_000_000_000;
const STEP = 15_000;

interface Member { key: string; ts: number[]; v: number[] }

/** The pairs of x's row i (docs/TRANSFORMS.md#correlate): sample window w or duration wms, at lag. */
function pairsAt(x: Member, y: Member, i: number, w: number, wms: number, lag: number): { a: number[]; b: number[] } | undefined {
  const a: number[] = [];
  const b: number[] = [];
  if (w > 0 && i - w + 1 < 0) return undefined;
  const t = x.ts[i]!;
  const from = w > 0 ? i - w + 1 : 0;
  for (let j = from; j <= i; j++) {
    if (w === 0 && !(x.ts[j]! > t - wms)) continue;
    const pj = y.ts.indexOf(x.ts[j]!);
    if (pj < 0) continue;
    const xi = lag >= 0 ? j : j + lag;
    const yi = lag >= 0 ? pj - lag : pj;
    if (xi < 0 || yi < 0) continue;
    if (w === 0 && (!(x.ts[xi]! > t - wms) || !(y.ts[yi]! > t - wms))) continue;
    if (Number.isNaN(x.v[xi]!) || Number.isNaN(y.v[yi]!)) continue;
    a.push(x.v[xi]!);
    b.push(y.v[yi]!);
  }
  return { a, b };
}

// ---- adversarial pairs ----

/**
 * An x and a y series on one 15 s grid: each a sequence of segments (a level of 0, 1e9, −3e6 or
 * 1e12 plus noise of scale 1, 1e-3 or 0 — a constant run), y sometimes a linear function of x
 * (|corr| near 1), 1e12 spikes, NaN, and (unless dense) rows missing on either side.
 */
const pairArb = (dense: boolean) => fc
  .tuple(fc.integer({ min: 40, max: 360 }), fc.integer({ min: 0, max: 2 ** 31 - 1 }))
  .map(([n, seed]) => {
    let st = seed >>> 0;
    const rnd = (): number => ((st = (Math.imul(st, 1664525) + 1013904223) >>> 0) + 0.5) / 4294967296;
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    const series = (partner?: number[]): number[] => {
      const out: number[] = [];
      while (out.length < n) {
        const len = 5 + Math.floor(rnd() * 90);
        const level = pick([0, 1e9, -3e6, 1e12]);
        const scale = pick([1, 1e-3, 0]);
        const slope = pick([0, 0, 2, -0.5]);
        for (let k = 0; k < len && out.length < n; k++) {
          const i = out.length;
          const r = rnd();
          if (r < 0.03) out.push(NaN);
          else if (r < 0.04) out.push(1e12);
          else if (partner && slope !== 0 && Number.isFinite(partner[i]!)) out.push(level + slope * partner[i]! + scale * rnd());
          else out.push(level + scale * rnd());
        }
      }
      return out;
    };
    const xv = series();
    const yv = series(xv);
    const keep = (): boolean[] => Array.from({ length: n }, () => dense || rnd() >= 0.06);
    const kx = keep();
    const ky = keep();
    const grid = Array.from({ length: n }, (_, i) => T0 + i * STEP);
    const x: Member = { key: 'x_total{job="a"}', ts: grid.filter((_, i) => kx[i]), v: xv.filter((_, i) => kx[i]) };
    const y: Member = { key: 'y_total{job="a"}', ts: grid.filter((_, i) => ky[i]), v: yv.filter((_, i) => ky[i]) };
    return [x, y] as const;
  });

/** The chain's features per series over batches cut at cutTs, each with the halo the sources give. */
function runCut(specs: Record<string, unknown>[], members: readonly Member[], cutTs: readonly number[]): Record<string, Record<string, number[]>> {
  const kernels = compileTransforms(specs as never);
  const halo = kernels.reduce((a, k) => a + k.haloSamples, 0);
  const haloMs = kernels.reduce((a, k) => Math.max(a, k.haloMs), 0);
  const names = kernels.flatMap((k) => [...k.outputs]);
  const bounds = [-Infinity, ...cutTs, Infinity];
  const out: Record<string, Record<string, number[]>> = {};
  for (const m of members) out[m.key] = Object.fromEntries(names.map((n) => [n, [] as number[]]));
  for (let p = 0; p + 1 < bounds.length; p++) {
    const pieces = members.map((m) => {
      const a0 = m.ts.findIndex((t) => t >= bounds[p]!);
      const a = a0 < 0 ? m.ts.length : a0;
      const b0 = m.ts.findIndex((t) => t >= bounds[p + 1]!);
      const b = b0 < 0 ? m.ts.length : b0;
      let e = a;
      while (e > 0 && m.ts[e - 1]! >= bounds[p]! - haloMs) e--;
      const h = Math.max(0, e - halo);
      return { key: m.key, ts: m.ts.slice(h, b), v: m.v.slice(h, b), halo: a - h };
    }).filter((pc) => pc.ts.length > 0);
    const { ctx } = runSpecs(specs as never, pieces);
    for (const pc of pieces) {
      let r = 0;
      while (r < ctx.runCount && ctx.seriesKeys[ctx.runs[r * RUN_STRIDE]!] !== pc.key) r++;
      const got = collectRun(ctx, r, names);
      for (const n of names) out[pc.key]![n]!.push(...got.features[n]!);
    }
  }
  return out;
}

const spec = (windows: (number | string)[], lags: number[], minPeriods?: number): Record<string, unknown> => ({
  kind: 'correlate', x: 'x_total', y: 'y_total', on: ['job'], windows, stats: ['corr', 'cov'], ...(lags.length ? { lags } : {}), ...(minPeriods ? { minPeriods } : {}),
});

/** got vs the exact value of every row: corr within 1e-10, cov within 1e-10 of σx·σy; NaN exactly where undefined. */
function checkExact(x: Member, y: Member, got: Record<string, number[]>, w: number, wms: number, label: string, lags: number[], minP: number): void {
  for (let i = 0; i < x.ts.length; i++) {
    for (const lag of [0, ...lags]) {
      const p = pairsAt(x, y, i, w, wms, lag);
      const ex = p && p.a.length >= minP ? exactCorrCov(p.a, p.b) : { corr: NaN, cov: NaN, sdProduct: NaN };
      const where = `w ${w} row ${i} lag ${lag} (${p?.a.length ?? 0} pairs)`;
      const corr = got[lag === 0 && !lags.includes(0) ? `xy_corr_${label}` : `xy_xcorr_${lag}_${label}`];
      if (corr) {
        const g = corr[i]!;
        if (Number.isNaN(ex.corr)) assert.ok(Number.isNaN(g), `corr ${where}: got ${g}, want NaN`);
        else assert.ok(Math.abs(g - ex.corr) <= 1e-10, `corr ${where}: got ${g}, want ${ex.corr}`);
      }
      if (lag !== 0) continue;
      const g = got[`xy_cov_${label}`]![i]!;
      if (Number.isNaN(ex.cov)) assert.ok(Number.isNaN(g), `cov ${where}: got ${g}, want NaN`);
      else assert.ok(Math.abs(g - ex.cov) <= 1e-10 * ex.sdProduct + 1e-300, `cov ${where}: got ${g}, want ${ex.cov}`);
    }
  }
}

test('correlate at 60 and 37 rows (split windows) and 8 rows (direct sums) equals the exact co-moments on adversarial data (1e12 offsets, constant runs → NaN corr and 0 cov, spikes)', () => {
  fc.assert(
    fc.property(pairArb(false), ([x, y]) => {
      for (const [w, minP] of [[60, 60], [37, 5], [8, 3]] as const) {
        const got = runCut([spec([w], [-3, 2], minP)], [x, y], [])[x.key]!;
        checkExact(x, y, got, w, 0, String(w), [-3, 2], minP);
      }
    }),
    { numRuns: RUNS },
  );
});

test('correlate over a duration window equals the exact co-moments on adversarial data', () => {
  fc.assert(
    fc.property(pairArb(false), ([x, y]) => {
      const got = runCut([spec(['12m'], [], 2)], [x, y], [])[x.key]!;
      checkExact(x, y, got, 0, 12 * 60_000, '12m', [], 2);
    }),
    { numRuns: RUNS },
  );
});

test('a window where either side is constant has corr NaN and cov exactly 0, whatever the offset', () => {
  const n = 200;
  const ts = Array.from({ length: n }, (_, i) => T0 + i * STEP);
  for (const level of [0.1, 1e12 + 0.5, -3e6]) {
    const x: Member = { key: 'x_total{job="a"}', ts, v: ts.map((_, i) => (i < 100 ? level : level + Math.sin(i))) };
    const y: Member = { key: 'y_total{job="a"}', ts, v: ts.map((_, i) => 1e9 + Math.cos(i) * 1e-3) };
    const got = runCut([spec([60, 10], [])], [x, y], [])[x.key]!;
    for (let i = 59; i < 100; i++) {
      assert.ok(Number.isNaN(got['xy_corr_60']![i]!), `level ${level} row ${i}: corr ${got['xy_corr_60']![i]}`);
      assert.equal(got['xy_cov_60']![i], 0, `level ${level} row ${i}`);
    }
    for (let i = 160; i < n; i++) assert.ok(Number.isFinite(got['xy_corr_60']![i]!), `level ${level} row ${i}`);
  }
});

test('correlate is bit-identical under random batch splits (split and direct windows, lags, duration windows, NaN kept)', () => {
  fc.assert(
    fc.property(pairArb(true), pairArb(false), fc.uniqueArray(fc.integer({ min: 1, max: 359 }), { maxLength: 5 }), ([x, y], [x2, y2], cutIdx) => {
      const cutTs = cutIdx.sort((a, b) => a - b).map((i) => T0 + i * STEP);
      const cases: [Record<string, unknown>[], readonly Member[]][] = [
        // sample windows are split-invariant when both series have rows at the same timestamps
        [[{ kind: 'validate', nan: 'flag' }, spec([60, 8], [-2, 3], 4)], [x, y]],
        [[spec([37], [0, 5])], [x, y]],
        // duration windows also with rows missing on either side
        [[{ kind: 'validate', nan: 'flag' }, spec(['10m', '1h'], [], 3)], [x2, y2]],
      ];
      for (const [specs, members] of cases) {
        const whole = runCut(specs, members, []);
        const split = runCut(specs, members, cutTs);
        for (const [n, col] of Object.entries(whole[members[0]!.key]!)) {
          assert.equal(firstDifference(split[members[0]!.key]![n]!, col), null, `${n} cuts ${cutIdx.join(',')}`);
        }
      }
    }),
    { numRuns: RUNS },
  );
});
