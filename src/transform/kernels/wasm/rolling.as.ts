/**
 * AssemblyScript (compiled to WebAssembly by `npm run build`): the rolling kernel's three hot
 * loops — nested moment sums, slope sums, sorted-window percentiles. Orchestration, window edges,
 * valid counts and every other statistic stay in TypeScript (rolling.ts); this file only holds
 * the loops where V8's JIT for typed arrays (bounds checks, tagged indices, spilled accumulators)
 * costs about 2× against native code, while its WebAssembly tier compiles the same loop to what a
 * C compiler emits. Semantics: docs/TRANSFORMS.md#rolling; the arithmetic, in order, is the one the
 * C++ reference (native-bench/src/kernels.cpp) performs.
 *
 * Memory: every argument named `*P` is a byte offset into the linear memory the caller (JS) owns
 * and fills: f64 columns of `len` rows, i32 columns, and i32 tables of column offsets. Nothing is
 * allocated here (runtime stub, no static data is used).
 *
 * Layout of the tables:
 *  - membersP: i32[G] plan index k of each group member, shortest window first; member g's left
 *    edges are loP + (k · len) · 4.
 *  - minPP: i32[G] min_periods per member.
 *  - outsP: i32[G · 5] byte offsets of the [mean, std, var, sum, zscore] columns of each member,
 *    0 where that output was not asked for.
 *  - slopesP: i32[G] byte offsets of each member's slope column, 0 where not asked for.
 */

const CANCELLATION_LIMIT: f64 = 1e3;

// @ts-ignore: decorator
@inline function ldf(p: usize, i: i32): f64 {
  return load<f64>(p + (<usize>i << 3));
}
// @ts-ignore: decorator
@inline function stf(p: usize, i: i32, v: f64): void {
  store<f64>(p + (<usize>i << 3), v);
}
// @ts-ignore: decorator
@inline function ldi(p: usize, i: i32): i32 {
  return load<i32>(p + (<usize>i << 2));
}

/** Exact centred sum of squares (rare path: large offset relative to the spread). */
function centredM2(xP: usize, l: i32, i: i32, m: f64): f64 {
  let m2: f64 = 0;
  for (let j = i; j >= l; j--) {
    const v = ldf(xP, j);
    if (v == v) m2 += (v - m) * (v - m);
  }
  return m2;
}

// @ts-ignore: decorator
@inline function emit(outsP: usize, o: i32, i: i32, mean: f64, sd: f64, variance: f64, sum: f64, z: f64): void {
  let p = <usize>ldi(outsP, o);
  if (p) stf(p, i, mean);
  p = <usize>ldi(outsP, o + 1);
  if (p) stf(p, i, sd);
  p = <usize>ldi(outsP, o + 2);
  if (p) stf(p, i, variance);
  p = <usize>ldi(outsP, o + 3);
  if (p) stf(p, i, sum);
  p = <usize>ldi(outsP, o + 4);
  if (p) stf(p, i, z);
}

/**
 * One window's moment features from its shifted sums (Σd = s over n valid rows, centred sum of
 * squares m2): mean K + s/n, sample variance and std (ddof 1), sum, and the z-score of row i
 * (when x[i] is valid K == x[i], so x[i] − mean == −(s/n) as summed).
 */
// @ts-ignore: decorator
@inline function finish(outsP: usize, o: i32, i: i32, K: f64, n: i32, s: f64, m2: f64, xiValid: bool): void {
  const nf = <f64>n;
  if (m2 < 0) m2 = 0;
  const variance = n >= 2 ? m2 / (nf - 1) : NaN;
  const sd = Math.sqrt(variance);
  emit(outsP, o, i, K + s / nf, sd, variance, K * nf + s, xiValid && n >= 2 ? (sd == 0 ? 0 : -(s / nf) / sd) : NaN);
}

/**
 * Moments (mean, std, var, sum, z-score) of nested windows for rows [start, end): per row one
 * backward scan from the newest row, values shifted by K = the newest valid value, one
 * accumulator, snapshotting at each member's left edge. A result is a pure function of its window.
 */
export function moments(
  xP: usize, kvP: usize, pcP: usize, loP: usize, len: i32,
  membersP: usize, G: i32, minPP: usize, outsP: usize, start: i32, end: i32,
): void {
  for (let i = start; i < end; i++) {
    const K = ldf(kvP, i);
    const xi = ldf(xP, i);
    const xiValid = xi == xi;
    let s: f64 = 0;
    let q: f64 = 0;
    let j = i;
    for (let g = 0; g < G; g++) {
      const l = ldi(loP, ldi(membersP, g) * len + i);
      for (; j >= l; j--) {
        const v = ldf(xP, j);
        if (v == v) {
          const d = v - K;
          s += d;
          q += d * d;
        }
      }
      const n = ldi(pcP, i + 1) - ldi(pcP, l);
      const o = g * 5;
      if (n < ldi(minPP, g) || n == 0) {
        emit(outsP, o, i, NaN, NaN, NaN, NaN, NaN);
        continue;
      }
      const nf = <f64>n;
      let m2 = q - (s * s) / nf;
      if (m2 * CANCELLATION_LIMIT < q) m2 = centredM2(xP, l, i, K + s / nf);
      finish(outsP, o, i, K, n, s, m2, xiValid);
    }
  }
}

/**
 * The same scan with least-squares slope sums (time in seconds relative to row i). Rows whose
 * largest window is dense and evenly spaced (`streakP`: how many equal steps end at row i) take
 * the fast path: offsets are −k·step (k = i − j), Σt and Σt² are closed forms in n and the scan
 * accumulates Σk·d instead of reading timestamps. Either path's choice depends only on the window.
 */
export function momentsSlope(
  xP: usize, tsP: usize, kvP: usize, pcP: usize, loP: usize, streakP: usize, len: i32,
  membersP: usize, G: i32, minPP: usize, outsP: usize, slopesP: usize, start: i32, end: i32,
): void {
  const lastK = ldi(membersP, G - 1) * len;
  for (let i = start; i < end; i++) {
    const K = ldf(kvP, i);
    const ti = ldf(tsP, i);
    const xi = ldf(xP, i);
    const xiValid = xi == xi;
    const lAll = ldi(loP, lastK + i);
    const dense = ldi(pcP, i + 1) - ldi(pcP, lAll) == i - lAll + 1;
    if (dense && i - lAll <= ldi(streakP, i) && i > lAll) {
      regularRow(xP, tsP, loP, len, membersP, G, minPP, outsP, slopesP, i, K, xiValid);
      continue;
    }
    let s: f64 = 0, q: f64 = 0, t: f64 = 0, tt: f64 = 0, td: f64 = 0;
    let j = i;
    for (let g = 0; g < G; g++) {
      const l = ldi(loP, ldi(membersP, g) * len + i);
      for (; j >= l; j--) {
        const v = ldf(xP, j);
        if (v == v) {
          const d = v - K;
          const e = (ldf(tsP, j) - ti) * 0.001;
          s += d;
          q += d * d;
          t += e;
          tt += e * e;
          td += e * d;
        }
      }
      const o = g * 5;
      const sp = <usize>ldi(slopesP, g);
      const n = ldi(pcP, i + 1) - ldi(pcP, l);
      if (n < ldi(minPP, g) || n == 0) {
        emit(outsP, o, i, NaN, NaN, NaN, NaN, NaN);
        if (sp) stf(sp, i, NaN);
        continue;
      }
      const nf = <f64>n;
      const m = K + s / nf;
      let m2 = q - (s * s) / nf;
      let sxx = tt - (t * t) / nf;
      let sxy = td - (t * s) / nf;
      const cancelled = m2 * CANCELLATION_LIMIT < q;
      if (cancelled) m2 = centredM2(xP, l, i, m);
      if (cancelled || sxx * CANCELLATION_LIMIT < tt) {
        // exact centred sums for this window (rare: large offset relative to the spread)
        const tm = t / nf;
        sxx = 0;
        sxy = 0;
        for (let jj = i; jj >= l; jj--) {
          const v = ldf(xP, jj);
          if (v == v) {
            const dt = (ldf(tsP, jj) - ti) * 0.001 - tm;
            sxx += dt * dt;
            sxy += dt * (v - m);
          }
        }
      }
      finish(outsP, o, i, K, n, s, m2, xiValid);
      if (sp) stf(sp, i, n >= 2 && sxx > 0 ? sxy / sxx : NaN);
    }
  }
}

/** Slope fast path for one dense, evenly spaced row (see momentsSlope). */
function regularRow(
  xP: usize, tsP: usize, loP: usize, len: i32, membersP: usize, G: i32, minPP: usize, outsP: usize, slopesP: usize,
  i: i32, K: f64, xiValid: bool,
): void {
  const step = (ldf(tsP, i) - ldf(tsP, i - 1)) * 0.001;
  let s: f64 = 0, q: f64 = 0, kd: f64 = 0, k: f64 = 0;
  let j = i;
  for (let g = 0; g < G; g++) {
    const l = ldi(loP, ldi(membersP, g) * len + i);
    for (; j >= l; j--) {
      const d = ldf(xP, j) - K;
      s += d;
      q += d * d;
      kd += k * d;
      k += 1;
    }
    const o = g * 5;
    const sp = <usize>ldi(slopesP, g);
    const n = i - l + 1;
    if (n < ldi(minPP, g)) {
      emit(outsP, o, i, NaN, NaN, NaN, NaN, NaN);
      if (sp) stf(sp, i, NaN);
      continue;
    }
    const nf = <f64>n;
    const m = K + s / nf;
    let m2 = q - (s * s) / nf;
    // Σ(t − t̄)(d − d̄) = step·((n−1)/2·Σd − Σk·d); Σ(t − t̄)² = step²·n(n² − 1)/12
    let sxy = step * (((nf - 1) / 2) * s - kd); // (a − b)·step: +0, not −0, when flat
    const sxx = step * step * ((nf * (nf * nf - 1)) / 12);
    if (m2 * CANCELLATION_LIMIT < q) {
      m2 = centredM2(xP, l, i, m);
      // exact centred cross sum (rare: large offset relative to the spread)
      const tm = -step * ((nf - 1) / 2);
      sxy = 0;
      for (let jj = i; jj >= l; jj--) sxy += (-step * <f64>(i - jj) - tm) * (ldf(xP, jj) - m);
    }
    finish(outsP, o, i, K, n, s, m2, xiValid);
    if (sp) stf(sp, i, n >= 2 && sxx > 0 ? sxy / sxx : NaN);
  }
}

/**
 * Percentiles of one sample window for rows [start, end) with a sorted array of at most `cap`
 * values at bufP (binary search, then a shift of the slots between the leaving and the entering
 * value); linear interpolation between closest ranks (Polars' `linear`). qsP: f64[nq] quantiles,
 * qOutsP: i32[nq] output column offsets. x holds NaN for dropped rows and +0 for −0.
 */
export function quantiles(
  xP: usize, loP: usize, start: i32, end: i32, minP: i32, bufP: usize, qsP: usize, nq: i32, qOutsP: usize,
): void {
  let n = 0;
  let l = start;
  for (let i = start; i < end; i++) {
    const nl = ldi(loP, i);
    const v = ldf(xP, i);
    const out = ldf(xP, l);
    if (nl == l + 1 && v == v && out == out) {
      // one row leaves, one enters: find `out`, walk towards v's place moving the slots between
      let a = 0;
      let h = n;
      while (a < h) {
        const mid = (a + h) >>> 1;
        if (ldf(bufP, mid) < out) a = mid + 1;
        else h = mid;
      }
      let p = a;
      if (v > out) {
        while (p + 1 < n) {
          const nx = ldf(bufP, p + 1);
          if (!(nx < v)) break;
          stf(bufP, p, nx);
          p++;
        }
      } else {
        while (p > 0) {
          const pv = ldf(bufP, p - 1);
          if (!(pv > v)) break;
          stf(bufP, p, pv);
          p--;
        }
      }
      stf(bufP, p, v);
      l++;
    } else {
      for (; l < nl; l++) {
        const u = ldf(xP, l);
        if (u == u) {
          // remove one occurrence of u (present)
          let a = 0;
          let h = n;
          while (a < h) {
            const mid = (a + h) >>> 1;
            if (ldf(bufP, mid) < u) a = mid + 1;
            else h = mid;
          }
          n--;
          for (let k = a; k < n; k++) stf(bufP, k, ldf(bufP, k + 1));
        }
      }
      if (v == v) {
        // insert after equal values
        let a = 0;
        let h = n;
        while (a < h) {
          const mid = (a + h) >>> 1;
          if (ldf(bufP, mid) <= v) a = mid + 1;
          else h = mid;
        }
        for (let k = n; k > a; k--) stf(bufP, k, ldf(bufP, k - 1));
        stf(bufP, a, v);
        n++;
      }
    }
    const ok = n >= minP && n > 0;
    for (let k = 0; k < nq; k++) {
      let r: f64 = NaN;
      if (ok) {
        const idx = ldf(qsP, k) * <f64>(n - 1);
        const a = <i32>Math.floor(idx);
        const f = idx - <f64>a;
        const va = ldf(bufP, a);
        r = f == 0 ? va : va + f * (ldf(bufP, a + 1) - va);
      }
      stf(<usize>ldi(qOutsP, k), i, r);
    }
  }
}

/**
 * Per-run preparation for rows [start, end): kv[i] = newest valid value at or before row i (the
 * scan shift, NaN before the first), pc[i + 1] = valid rows in [start, i] (pc[start] = 0).
 */
export function prepare(xP: usize, kvP: usize, pcP: usize, start: i32, end: i32): void {
  let last: f64 = NaN;
  let c = 0;
  store<i32>(pcP + (<usize>start << 2), 0);
  for (let i = start; i < end; i++) {
    const v = ldf(xP, i);
    if (v == v) {
      last = v;
      c++;
    }
    stf(kvP, i, last);
    store<i32>(pcP + (<usize>(i + 1) << 2), c);
  }
}

/** Left edges of a sample window of w rows: lo[i] = max(i − w + 1, start). */
export function sampleEdges(loP: usize, start: i32, end: i32, w: i32): void {
  for (let i = start; i < end; i++) {
    const l = i - w + 1;
    store<i32>(loP + (<usize>i << 2), l > start ? l : start);
  }
}

/**
 * streak[i] = how many consecutive steps ending at row i equal ts[i] − ts[i−1] (0 at the run's
 * first row, 0 for a non-increasing step): window [l, i] is evenly spaced when i − l <= streak[i].
 */
export function stepStreaks(tsP: usize, streakP: usize, start: i32, end: i32): void {
  if (end <= start) return;
  store<i32>(streakP + (<usize>start << 2), 0);
  let prev: f64 = NaN;
  for (let i = start + 1; i < end; i++) {
    const d = ldf(tsP, i) - ldf(tsP, i - 1);
    const sp = ldi(streakP, i - 1);
    store<i32>(streakP + (<usize>i << 2), d == prev && d > 0 ? sp + 1 : d > 0 ? 1 : 0);
    prev = d;
  }
}
