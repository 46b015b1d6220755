/**
 * Mergeable per-series fit statistics for the `scale` kernel. A worker computes one FitStats per
 * series per batch (never per sample) and reports it; the main thread merges them in any order
 * (src/transform/reports.ts). Every merge is exact or a deterministic function of the multiset of
 * values, so the fitted parameters do not depend on batch size or worker count:
 *  - count / mean / M2 merge with Chan et al.'s parallel formula (mean/std; order-independent up
 *    to rounding, relative error ≈ ε · mean / std);
 *  - min / max exactly;
 *  - quantiles (robust scaling) from an exact value → count table while a series has at most
 *    EXACT_DISTINCT_MAX distinct values, beyond that from a log-bucket sketch with
 *    SKETCH_ALPHA relative value accuracy (each value's bucket depends only on the value).
 */

export const EXACT_DISTINCT_MAX = 4096;
export const SKETCH_ALPHA = 1e-4;
const GAMMA = (1 + SKETCH_ALPHA) / (1 - SKETCH_ALPHA);
const LOG_GAMMA = Math.log(GAMMA);

/** Structured-clone friendly (plain arrays), sent worker → main thread. */
export interface FitStats {
  n: number;
  mean: number;
  m2: number;
  min: number;
  max: number;
  /** Exact table: values and counts (parallel arrays), or null once it became a sketch. */
  values: number[] | null;
  counts: number[] | null;
  /** Sketch: bucket index → count for positive / negative magnitudes, and exact zeros. */
  pos: Record<string, number> | null;
  neg: Record<string, number> | null;
  zeros: number;
}

export function emptyFit(withQuantiles: boolean): FitStats {
  return { n: 0, mean: 0, m2: 0, min: Infinity, max: -Infinity, values: withQuantiles ? [] : null, counts: withQuantiles ? [] : null, pos: null, neg: null, zeros: 0 };
}

/** Fit one run's values x[start..end); NaN / ±Inf entries are skipped (callers NaN out halo rows). */
export function fitValues(x: Float64Array, start: number, end: number, withQuantiles: boolean, scratch: Float64Array): FitStats {
  const f = emptyFit(withQuantiles);
  let n = 0;
  let mean = 0;
  let m2 = 0;
  let mn = Infinity;
  let mx = -Infinity;
  let m = 0;
  for (let i = start; i < end; i++) {
    const v = x[i]!;
    if (v !== v || v === Infinity || v === -Infinity) continue;
    n++;
    const d = v - mean;
    mean += d / n;
    m2 += d * (v - mean);
    if (v < mn) mn = v;
    if (v > mx) mx = v;
    if (withQuantiles) scratch[m++] = v + 0;
  }
  f.n = n;
  f.mean = n ? mean : 0;
  f.m2 = m2;
  f.min = mn;
  f.max = mx;
  if (withQuantiles && m > 0) {
    const s = scratch.subarray(0, m).sort();
    const values: number[] = [];
    const counts: number[] = [];
    for (let k = 0; k < m; k++) {
      if (values.length && values[values.length - 1] === s[k]) counts[counts.length - 1]!++;
      else {
        values.push(s[k]!);
        counts.push(1);
      }
    }
    f.values = values;
    f.counts = counts;
    if (values.length > EXACT_DISTINCT_MAX) toSketch(f);
  }
  return f;
}

function bucketOf(absV: number): number {
  return Math.ceil(Math.log(absV) / LOG_GAMMA);
}

function addToSketch(f: FitStats, v: number, c: number): void {
  if (v === 0) {
    f.zeros += c;
    return;
  }
  const store = v > 0 ? (f.pos ??= {}) : (f.neg ??= {});
  const k = String(bucketOf(Math.abs(v)));
  store[k] = (store[k] ?? 0) + c;
}

function toSketch(f: FitStats): void {
  const values = f.values!;
  const counts = f.counts!;
  f.values = null;
  f.counts = null;
  f.pos ??= {};
  f.neg ??= {};
  for (let k = 0; k < values.length; k++) addToSketch(f, values[k]!, counts[k]!);
}

/** Merge b into a (a is mutated and returned). */
export function mergeFit(a: FitStats, b: FitStats): FitStats {
  if (b.n === 0) return a;
  if (a.n === 0) {
    const copy: FitStats = { ...b, values: b.values && [...b.values], counts: b.counts && [...b.counts], pos: b.pos && { ...b.pos }, neg: b.neg && { ...b.neg } };
    return Object.assign(a, copy);
  }
  const n = a.n + b.n;
  const d = b.mean - a.mean;
  a.mean = a.mean + (d * b.n) / n;
  a.m2 = a.m2 + b.m2 + (d * d * a.n * b.n) / n;
  a.n = n;
  if (b.min < a.min) a.min = b.min;
  if (b.max > a.max) a.max = b.max;
  const aq = a.values !== null || a.pos !== null;
  const bq = b.values !== null || b.pos !== null;
  if (aq && bq) {
    if (a.values && b.values) {
      // merge two sorted exact tables
      const v: number[] = [];
      const c: number[] = [];
      let i = 0;
      let j = 0;
      while (i < a.values.length || j < b.values.length) {
        const av = i < a.values.length ? a.values[i]! : Infinity;
        const bv = j < b.values.length ? b.values[j]! : Infinity;
        if (av === bv) {
          v.push(av);
          c.push(a.counts![i++]! + b.counts![j++]!);
        } else if (av < bv) {
          v.push(av);
          c.push(a.counts![i++]!);
        } else {
          v.push(bv);
          c.push(b.counts![j++]!);
        }
      }
      a.values = v;
      a.counts = c;
      if (v.length > EXACT_DISTINCT_MAX) toSketch(a);
    } else {
      if (a.values) toSketch(a);
      if (b.values) for (let k = 0; k < b.values.length; k++) addToSketch(a, b.values[k]!, b.counts![k]!);
      else {
        a.zeros += b.zeros;
        for (const [k, c] of Object.entries(b.pos ?? {})) (a.pos ??= {})[k] = (a.pos[k] ?? 0) + c;
        for (const [k, c] of Object.entries(b.neg ?? {})) (a.neg ??= {})[k] = (a.neg[k] ?? 0) + c;
      }
    }
  }
  return a;
}

/** Linear-interpolated quantile (Polars 'linear') from the exact table, or the sketch's estimate. */
export function fitQuantile(f: FitStats, q: number): number {
  if (f.n === 0) return NaN;
  if (f.values) {
    const idx = q * (f.n - 1);
    const lo = Math.floor(idx);
    const frac = idx - lo;
    const at = (rank: number): number => {
      let acc = 0;
      for (let k = 0; k < f.values!.length; k++) {
        acc += f.counts![k]!;
        if (rank < acc) return f.values![k]!;
      }
      return f.values![f.values!.length - 1]!;
    };
    const a = at(lo);
    return frac === 0 ? a : a + frac * (at(lo + 1) - a);
  }
  // sketch: walk negative buckets (largest magnitude first), zeros, then positive buckets
  const rank = q * (f.n - 1);
  const neg = Object.entries(f.neg ?? {}).map(([k, c]) => [Number(k), c] as const).sort((x, y) => y[0] - x[0]);
  const pos = Object.entries(f.pos ?? {}).map(([k, c]) => [Number(k), c] as const).sort((x, y) => x[0] - y[0]);
  const rep = (k: number): number => (2 * GAMMA ** k) / (GAMMA + 1);
  let acc = 0;
  for (const [k, c] of neg) {
    acc += c;
    if (rank < acc) return -rep(k);
  }
  acc += f.zeros;
  if (rank < acc) return 0;
  for (const [k, c] of pos) {
    acc += c;
    if (rank < acc) return rep(k);
  }
  return f.max;
}
