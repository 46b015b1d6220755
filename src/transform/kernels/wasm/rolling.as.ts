/**
 * AssemblyScript (compiled to WebAssembly by `npm run build`): the rolling kernel's hot loops —
 * split-window moments / slope / EWMA (O(1) amortised per row, see the block comment at
 * splitWindow), sorted-window percentiles, and the per-run tables they read. Orchestration,
 * window edges of time windows, valid counts and the other statistics stay in TypeScript
 * (rolling.ts); this file only holds the loops where V8's JIT for typed arrays (bounds checks,
 * tagged indices, spilled accumulators) costs about 2× against native code, while its
 * WebAssembly tier compiles the same loop to what a C compiler emits. Semantics:
 * docs/TRANSFORMS.md#rolling.
 *
 * Memory: every argument named `*P` is a byte offset into the linear memory the caller (JS) owns
 * and fills: f64 columns of `len` rows, i32 columns, and i32 tables of column offsets (0 = no
 * column). Nothing is allocated here (runtime stub; the only static data are a few scalar
 * globals holding one window's part sums).
 */

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
  // std and z-score columns hold the variance and the z numerator until finishStd
  emit(outsP, o, i, K + s / nf, variance, variance, K * nf + s, xiValid && n >= 2 ? -(s / nf) : NaN);
}

/**
 * The square roots and z-scores of rows [start, end), in a loop of their own after the window
 * loop (which left the variance in the std column and x[i] − mean in the z column): a square
 * root on each row's critical path stalled the window loop (perf annotate: a fifth of its time).
 */
function finishStd(xP: usize, sdP: usize, zP: usize, start: i32, end: i32): void {
  if (!zP) {
    // two square roots per instruction (f64x2.sqrt is correctly rounded, as f64.sqrt)
    let i = start;
    for (; i + 1 < end; i += 2) {
      const p = sdP + (<usize>i << 3);
      v128.store(p, f64x2.sqrt(v128.load(p)));
    }
    if (i < end) stf(sdP, i, Math.sqrt(ldf(sdP, i)));
    return;
  }
  for (let i = start; i < end; i++) {
    const sd = Math.sqrt(ldf(sdP, i));
    stf(sdP, i, sd);
    if (zP) {
      const x = ldf(xP, i);
      stf(zP, i, x == x ? (sd == 0 ? 0 : ldf(zP, i) / sd) : NaN);
    }
  }
}

/**
 * Percentiles of one sample window for rows [start, end) with a sorted array of at most `cap`
 * values at bufP (binary search, then a shift of the slots between the leaving and the entering
 * value); linear interpolation between closest ranks (Polars' `linear`). qsP: f64[nq] quantiles,
 * qOutsP: i32[nq] output column offsets. x holds NaN for dropped rows and +0 for −0.
 */
export function quantiles(
  xP: usize, loP: usize, start: i32, h0: i32, end: i32, minP: i32, bufP: usize, qsP: usize, nq: i32, qOutsP: usize,
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
    if (i < h0) continue; // halo row: the sorted window is all it needs
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

/** Per-run valid counts for rows [start, end): pc[i + 1] = valid rows in [start, i] (pc[start] = 0). */
export function prepare(xP: usize, pcP: usize, start: i32, end: i32): void {
  let c = 0;
  store<i32>(pcP + (<usize>start << 2), 0);
  for (let i = start; i < end; i++) {
    const v = ldf(xP, i);
    if (v == v) c++;
    store<i32>(pcP + (<usize>(i + 1) << 2), c);
  }
}

/** inv[k] = 1 / k for k in [1, n] (inv[0] = +Inf, never read): splitRun's reciprocals of counts. */
export function inverses(invP: usize, n: i32): void {
  for (let k = 0; k <= n; k++) stf(invP, k, 1 / <f64>k);
}

/** Left edges of a sample window of w rows: lo[i] = max(i − w + 1, start). */
export function sampleEdges(loP: usize, start: i32, end: i32, w: i32): void {
  for (let i = start; i < end; i++) {
    const l = i - w + 1;
    store<i32>(loP + (<usize>i << 2), l > start ? l : start);
  }
}

// ---------------------------------------------------------------------------------------------
// O(1) split windows (docs/TRANSFORMS.md#rolling, "How it is computed").
//
// Every window [l, i] of a series is cut at one boundary chosen by the data alone: the most
// aligned timestamp multiple inside the window's time span — with a = its oldest valid row and
// z = its newest, the highest bit k where floor(ts[a]) and floor(ts[z]) differ gives the cut
// mid = floor(ts[z]) with bits below k cleared, the unique multiple of 2^k in (ts[a], ts[z]].
// The window is then part A (its valid rows before mid) and part B (from mid on). Part B is a
// forward fold from its first row b, part A a backward fold from the last valid row before b:
// both are fixed sequences of operations on rows of the window, started at a data-determined
// row, so the result is a pure function of the window's contents — never of where a batch was
// cut. As windows slide, mid only moves forward; when it changes, part B is refolded and the
// suffix folds of part A are recomputed for every row between the window's start and the new
// cut. Cuts are multiples of 2^k with 2^k ≥ half the window's span, so that happens about once
// every half window: O(1) amortised per row, whatever the window length.
//
// Both parts are shifted by one anchor, the cut row's value K = x[b] and time T = ts[b] (d = v − K,
// e = (t − T) · 0.001): Σd, Σd², Σe, Σe², Σe·d, and the EWMA numerator and denominator (weights by
// row position). With a shared shift the window's sums are the parts' sums added — two adds per
// sum and a table lookup for 1/n, no Chan merge and no division on the row's path; the large
// common offset is subtracted once per value (v − K, exact when v is near K), never between two
// nearly equal means. When the centred sums lose more than PART_CANCELLATION_LIMIT to
// cancellation (K far from the window's mean: a spike at the cut row), the window is recomputed
// exactly in two passes (exactPart).
// Windows the cut cannot serve (non-ascending timestamps, or all valid rows within one
// millisecond) are summed directly from their newest row (rescanRow), as every window was before.
// ---------------------------------------------------------------------------------------------

/** A window's shifted sums lose more than this factor to cancellation → exact two-pass for that window. */
const PART_CANCELLATION_LIMIT: f64 = 64;

/** 1.5 · 2^52: for |u| < 2^51 an integral u + KEY_MAGIC is exact and its low bits hold u (two's complement). */
const KEY_MAGIC: f64 = 6755399441055744.0;
const KEY_LIMIT: f64 = 2251799813685247.0; // 2^51 − 1

/**
 * The cut key of a timestamp: floor(t) as an integer, clamped to ±(2^51 − 1) ms (±71,000 years),
 * by the magic-number trick — an add and a move, where `<i64>Math.floor(t)` costs a saturating
 * conversion V8 checks for overflow on every call (perf annotate put about a quarter of the
 * mean/std loop's samples on the per-row conversions). Any non-decreasing function of t serves as a key:
 * the cuts stay pure functions of the window; timestamps beyond the clamp share a key, and windows
 * whose valid rows all share one are summed directly (rescanRow), exactly as before.
 */
// @ts-ignore: decorator
@inline function tsKey(t: f64): i64 {
  const u = Math.min(Math.max(Math.floor(t), -KEY_LIMIT), KEY_LIMIT);
  return reinterpret<i64>(u + KEY_MAGIC) - reinterpret<i64>(KEY_MAGIC);
}

// exact centred results of the last `exactPart` call (one window is processed at a time per thread)
let cM2: f64 = 0, cSxx: f64 = 0, cSxy: f64 = 0;

/**
 * Exact centred sums of the valid rows in [from, to] given their shifted sums: deviations are
 * taken in the shifted domain ((v − K) − Σd/n), so a large offset costs nothing.
 */
function exactPart(xP: usize, tsP: usize, from: i32, to: i32, K: f64, T: f64, n: f64, S: f64, St: f64, withSlope: bool): void {
  const md = S / n;
  const mt = St / n;
  let m2: f64 = 0, sxx: f64 = 0, sxy: f64 = 0, c: f64 = 0, ct: f64 = 0;
  for (let j = from; j <= to; j++) {
    const v = ldf(xP, j);
    if (v != v) continue;
    const dv = (v - K) - md;
    m2 += dv * dv;
    c += dv;
    if (withSlope) {
      const dt = (ldf(tsP, j) - T) * 0.001 - mt;
      sxx += dt * dt;
      sxy += dt * dv;
      ct += dt;
    }
  }
  // corrected two-pass (the residual sums are rounding-level)
  cM2 = m2 - (c * c) / n;
  cSxx = sxx - (ct * ct) / n;
  cSxy = sxy - (ct * c) / n;
}

/**
 * One window's features by a direct scan from row i back to l (short sample windows, and the
 * fallback: windows whose valid timestamps are not ascending, or span under 1 ms). Shift K = the
 * newest valid value. Inlined into each splitBody copy, so a copy scans for what it outputs only
 * (moments-only: no EWMA weights; EWMA-only: no moment sums; measured on w = 5).
 */
// @ts-ignore: decorator
@inline function rescanRow(
  xP: usize, tsP: usize, K: f64, l: i32, i: i32, n: i32, outsP: usize, slopeP: usize, ewmaP: usize, decay: f64, xiValid: bool, o: i32,
  withMoments: bool,
): void {
  const withSlope = slopeP != 0;
  const withEwma = ewmaP != 0;
  if (!withMoments) {
    // EWMA alone: weights by row position from row i back
    let wt: f64 = 1, num: f64 = 0, den: f64 = 0;
    for (let j = i; j >= l; j--) {
      const v = ldf(xP, j);
      if (v == v) {
        num += wt * v;
        den += wt;
      }
      wt *= decay;
    }
    if (withEwma) stf(ewmaP, o, num / den);
    return;
  }
  const ti = ldf(tsP, i);
  let s: f64 = 0, q: f64 = 0, t: f64 = 0, tt: f64 = 0, td: f64 = 0, wt: f64 = 1, num: f64 = 0, den: f64 = 0;
  for (let j = i; j >= l; j--) {
    const v = ldf(xP, j);
    if (v == v) {
      const d = v - K;
      s += d;
      q += d * d;
      if (withSlope) {
        const e = (ldf(tsP, j) - ti) * 0.001;
        t += e;
        tt += e * e;
        td += e * d;
      }
      if (withEwma) {
        num += wt * v;
        den += wt;
      }
    }
    if (withEwma) wt *= decay;
  }
  const nf = <f64>n;
  let m2 = q - (s * s) / nf;
  let sxx = tt - (t * t) / nf;
  let sxy = td - (t * s) / nf;
  if (m2 * PART_CANCELLATION_LIMIT < q || (withSlope && sxx * PART_CANCELLATION_LIMIT < tt)) {
    exactPart(xP, tsP, l, i, K, ti, nf, s, t, withSlope);
    m2 = cM2;
    sxx = cSxx;
    sxy = cSxy;
  }
  finish(outsP, 0, o, K, n, s, m2, xiValid);
  if (withSlope) stf(slopeP, o, n >= 2 && sxx > 0 ? sxy / sxx : NaN);
  if (withEwma) stf(ewmaP, o, num / den);
}

/**
 * Part A's suffix folds, one row of slots per run row: moments-only and EWMA-only loops keep two
 * f64 per row (16 bytes), the general loop seven in a 64-byte line.
 */
const SUF_S = 0, SUF_Q = 1, SUF_T = 2, SUF_TT = 3, SUF_TD = 4, SUF_EN = 5, SUF_ED = 6;
// @ts-ignore: decorator
@inline function sufAt(sufP: usize, j: i32, c: i32, sh: usize): usize {
  return sufP + (<usize>j << sh) + (<usize>c << 3);
}

/**
 * Moments (mean, std, var, sum, z-score), slope and EWMA of one window for rows [start, end) of
 * one run, O(1) amortised per row (see the block comment above), in one pass: the window's edge
 * (w > 0: the last w rows; else the rows with ts in (t − wms, t]), its valid count n, its first
 * and last valid rows a and z, and whether its valid timestamps ascend are kept as integer
 * running state (exact, so they are pure functions of the window like everything else), not read
 * from per-run tables. outsP: i32[5] column offsets [mean, std, var, sum, zscore] (0 = not asked
 * for); slopeP, ewmaP: column offsets or 0. sufP: scratch, 64 bytes per row of the run (part A's
 * suffix folds, indexed from start). direct: sum every window from its newest row (rescanRow) —
 * the caller sets it for short sample windows, where a scan of a few rows costs less than the cut
 * bookkeeping (a property of the window spec only). h0: the first row whose outputs are wanted
 * (rows [start, h0) are the run's halo: their windows only build the running state, nothing is
 * merged or written there; the rows from h0 on get exactly the values they get with h0 = start).
 */
export function splitRun(
  xP: usize, tsP: usize, start: i32, h0: i32, end: i32, w: i32, wms: f64, minP: i32, outsP: usize, slopeP: usize, ewmaP: usize,
  decay: f64, sufP: usize, invP: usize, direct: bool, excl: bool,
): void {
  // Reference windows of the rows strictly before each row (outliers: mean and std of [lo, i)).
  if (excl) {
    splitBody(xP, tsP, start, h0, end, w, wms, minP, outsP, 0, 0, decay, sufP, invP, direct, false, false, true, true, false);
    return;
  }
  // Moments alone (the common mean/std) get their own copy of the loop, compiled without the
  // slope and EWMA state: fewer live values, no spilled accumulators (measured: perf annotate
  // showed the general loop's sums of squares reloaded from the stack on every row).
  // EWMA alone likewise gets a copy without the moment sums.
  const moments = ldi(outsP, 0) != 0 || ldi(outsP, 1) != 0 || ldi(outsP, 2) != 0 || ldi(outsP, 3) != 0 || ldi(outsP, 4) != 0;
  // mean and std alone (the common request) get a copy with the other moment outputs compiled out
  const meanStd = ldi(outsP, 0) != 0 && ldi(outsP, 1) != 0 && ldi(outsP, 2) == 0 && ldi(outsP, 3) == 0 && ldi(outsP, 4) == 0;
  // mean and std alone, or EWMA alone, over a run with ascending timestamps: fastBody (bit-identical
  // to the splitBody copies below, which serve every other run)
  if (slopeP == 0 && direct && w > 0) {
    if (ewmaP == 0 && meanStd) {
      directBody(xP, tsP, start, h0, end, w, minP, outsP, 0, decay, false);
      return;
    }
    if (ewmaP != 0 && !moments) {
      directBody(xP, tsP, start, h0, end, w, minP, outsP, ewmaP, decay, true);
      return;
    }
  }
  if (slopeP == 0 && !direct) {
    if (ewmaP == 0 && meanStd) {
      if (w > 0 ? fastBody(xP, tsP, start, h0, end, w, wms, minP, outsP, 0, decay, sufP, invP, false, false)
        : fastBody(xP, tsP, start, h0, end, w, wms, minP, outsP, 0, decay, sufP, invP, false, true)) return;
    } else if (ewmaP != 0 && !moments) {
      if (w > 0 ? fastBody(xP, tsP, start, h0, end, w, wms, minP, outsP, ewmaP, decay, sufP, invP, true, false)
        : fastBody(xP, tsP, start, h0, end, w, wms, minP, outsP, ewmaP, decay, sufP, invP, true, true)) return;
    }
  }
  if (slopeP == 0 && ewmaP == 0 && meanStd) splitBody(xP, tsP, start, h0, end, w, wms, minP, outsP, 0, 0, decay, sufP, invP, direct, false, false, true, false, true);
  else if (slopeP == 0 && ewmaP == 0) splitBody(xP, tsP, start, h0, end, w, wms, minP, outsP, 0, 0, decay, sufP, invP, direct, false, false, true, false, false);
  else if (slopeP == 0 && !moments) splitBody(xP, tsP, start, h0, end, w, wms, minP, outsP, 0, ewmaP, decay, sufP, invP, direct, false, true, false, false, false);
  else splitBody(xP, tsP, start, h0, end, w, wms, minP, outsP, slopeP, ewmaP, decay, sufP, invP, direct, slopeP != 0, ewmaP != 0, true, false, false);
}

/**
 * Mean and std alone, or EWMA alone, over a short sample window (w ≤ DIRECT_WINDOW_MAX, the
 * caller's `direct`) for rows [start, end) of one run: every window is summed from its newest
 * row by rescanRow, as in splitBody's copies, but the loop keeps only what that needs — the
 * window's edge, its valid count n and its newest valid row z (with n = 1 the only valid row is
 * z) — instead of the cut state a direct window never reads (measured on w = 5). Same bits.
 */
// @ts-ignore: decorator
@inline function directBody(
  xP: usize, tsP: usize, start: i32, h0: i32, end: i32, w: i32, minP: i32, outsP: usize, ewmaP: usize, decay: f64, EWMA: bool,
): void {
  const meanP: usize = EWMA ? 0 : <usize>ldi(outsP, 0), sdP: usize = EWMA ? 0 : <usize>ldi(outsP, 1);
  const outP: usize = EWMA ? ewmaP : meanP;
  const lowN = minP > 2 ? minP : 2;
  let l = start, n = 0, z = start - 1;
  for (let i = start; i < end; i++) {
    if (i - w >= l) {
      if (ldf(xP, l) == ldf(xP, l)) n--;
      l++;
    }
    const xi = ldf(xP, i);
    if (xi == xi) {
      n++;
      z = i;
    }
    if (i < h0) continue;
    if (n < lowN) {
      // fewer than min_periods, or one valid row: z
      stf(outP, i, n >= minP && n == 1 ? ldf(xP, z) : NaN);
      if (!EWMA) stf(sdP, i, NaN);
      continue;
    }
    rescanRow(xP, tsP, ldf(xP, z), l, i, n, outsP, 0, ewmaP, decay, xi == xi, i, !EWMA);
  }
  if (!EWMA) finishStd(xP, sdP, 0, h0, end);
}

/**
 * Mean and std alone, or EWMA alone, over a window that splitBody would fold by a cut (sample
 * windows of more than DIRECT_WINDOW_MAX rows, and time windows) for rows [start, end) of one run:
 * splitBody's MEAN_STD and EWMA-only copies with what a run of ascending timestamps does not need
 * taken out, and the same operations in the same order on the same rows, so the same bits. First
 * a pass computes every row's cut key (into the scratch after part A's suffix slots: sufP holds
 * 56 bytes per run row here, with the deferred rows) and checks that the run's valid timestamps strictly ascend; if they
 * do not, it returns false and the caller runs splitBody. Then every window's valid timestamps
 * ascend, so the loop keeps no descent count, the first valid row a moves only over rows that
 * left, and the cut keys are loads. outsP: as splitRun's (EWMA: unused but by rescanRow).
 */
// @ts-ignore: decorator
@inline function fastBody(
  xP: usize, tsP: usize, start: i32, h0: i32, end: i32, w: i32, wms: f64, minP: i32, outsP: usize, ewmaP: usize, decay: f64,
  sufP: usize, invP: usize, EWMA: bool, TIME: bool,
): bool {
  const key = sufP + (<usize>(end - start) << 4) - (<usize>start << 3); // row j's key at key + 8j
  // keys by the magic-number trick without tsKey's clamp: valid timestamps that ascend from above
  // −2^51 to below 2^51 are all in its range (only valid rows' keys are read)
  let prevT: f64 = -KEY_LIMIT;
  let asc = true;
  for (let i = start; i < end; i++) {
    const t = ldf(tsP, i);
    store<i64>(key + (<usize>i << 3), reinterpret<i64>(Math.floor(t) + KEY_MAGIC) - reinterpret<i64>(KEY_MAGIC));
    const v = ldf(xP, i);
    if (v == v) {
      asc = asc & (t > prevT);
      prevT = t;
    }
  }
  if (!asc || !(prevT < KEY_LIMIT)) return false;
  const meanP: usize = EWMA ? 0 : <usize>ldi(outsP, 0), sdP: usize = EWMA ? 0 : <usize>ldi(outsP, 1);
  const outP: usize = EWMA ? ewmaP : meanP; // the column of a one-row window's value
  const suf = sufP - (<usize>start << 4); // row j: Σd (EWMA: numerator) at suf + 16j, Σd² (denominator) at + 8
  let curMid: i64 = i64.MIN_VALUE;
  let b: i32 = -1, fEnd: i32 = -1;
  let K: f64 = 0, fS: f64 = 0, fQ: f64 = 0, ePow: f64 = 1;
  let l = start, n = 0, a = start, z = start - 1;
  const lowN = minP > 2 ? minP : 2;
  // deferred rows, 32 bytes each after the keys (56 of sufP's 64 bytes per row in all)
  const fx = sufP + <usize>(end - start) * 24;
  let nfx = 0;
  for (let i = start; i < end; i++) {
    // the rows leaving the window (sample windows: at most one per row), and the first valid row
    // past them
    if (TIME) {
      const edge = ldf(tsP, i) - wms;
      if (l < i && ldf(tsP, l) <= edge) {
        do {
          if (ldf(xP, l) == ldf(xP, l)) n--;
          l++;
        } while (l < i && ldf(tsP, l) <= edge);
        if (n != 0 && a < l) {
          a = l;
          while (ldf(xP, a) != ldf(xP, a)) a++;
        }
      }
    } else if (i - w >= l) {
      if (ldf(xP, l) == ldf(xP, l)) n--;
      l++;
      if (n != 0 && a < l) {
        a++;
        while (ldf(xP, a) != ldf(xP, a)) a++;
      }
    }
    const xi = ldf(xP, i);
    if (xi == xi) {
      if (n == 0) a = i;
      n++;
      z = i;
    }
    if (i < h0) continue;
    if (n < lowN) {
      // fewer than min_periods, or one valid row (lowN = max(minP, 2))
      stf(outP, i, n >= minP && n == 1 ? ldf(xP, a) : NaN);
      if (!EWMA) stf(sdP, i, NaN);
      continue;
    }
    const ua = load<i64>(key + (<usize>a << 3));
    const uz = load<i64>(key + (<usize>z << 3));
    if (ua >= uz) {
      // all valid rows within one millisecond: summed directly, after the loop
      const e = fx + (<usize>nfx << 5);
      store<i32>(e, i);
      store<i32>(e, l, 4);
      store<i32>(e, n, 8);
      store<i32>(e, z, 12);
      store<f64>(e, NaN, 16); // marks a direct row
      nfx++;
      continue;
    }
    const k = 63 - <i32>clz<i64>(ua ^ uz);
    const mid = (uz >> k) << k;
    if (mid != curMid || a >= b) {
      // new cut: part B = valid rows from the first with key ≥ mid; part A's suffixes refolded
      curMid = mid;
      b = z;
      for (let p = z - 1; p >= a; p--) {
        if (ldf(xP, p) != ldf(xP, p)) continue;
        if (load<i64>(key + (<usize>p << 3)) < mid) break;
        b = p;
      }
      K = ldf(xP, b);
      fS = 0;
      fQ = 0;
      ePow = 1;
      fEnd = b - 1;
      let s2: f64 = 0, q2: f64 = 0, pw: f64 = 1;
      for (let j = b - 1; j >= a; j--) {
        const v = ldf(xP, j);
        if (EWMA) {
          if (v == v) {
            s2 += pw * v;
            q2 += pw;
          }
          store<f64>(suf + (<usize>j << 4), s2);
          store<f64>(suf + (<usize>j << 4) + 8, q2);
          pw *= decay;
        } else if (v == v) {
          const d = v - K;
          s2 += d;
          q2 += d * d;
          store<f64>(suf + (<usize>j << 4), s2);
          store<f64>(suf + (<usize>j << 4) + 8, q2);
        }
      }
    }
    // extend part B to row i: rows skipped since the last extension (after a refold, or rows
    // that wrote no sums) first, then row i
    for (let r = fEnd + 1; r < i; r++) {
      const v = ldf(xP, r);
      if (EWMA) {
        fS = fS * decay + (v == v ? v : 0);
        fQ = fQ * decay + (v == v ? 1 : 0);
        ePow *= decay;
      } else if (v == v) {
        const d = v - K;
        fS += d;
        fQ += d * d;
      }
    }
    fEnd = i;
    if (EWMA) {
      fS = fS * decay + (xi == xi ? xi : 0);
      fQ = fQ * decay + (xi == xi ? 1 : 0);
      ePow *= decay;
      stf(ewmaP, i, (fS + ePow * load<f64>(suf + (<usize>a << 4))) / (fQ + ePow * load<f64>(suf + (<usize>a << 4) + 8)));
      continue;
    }
    if (xi == xi) {
      const d = xi - K;
      fS += d;
      fQ += d * d;
    }
    const S = load<f64>(suf + (<usize>a << 4)) + fS;
    const Q = load<f64>(suf + (<usize>a << 4) + 8) + fQ;
    const md = S * ldf(invP, n);
    stf(meanP, i, K + md);
    let m2 = Q - S * md;
    if (m2 * PART_CANCELLATION_LIMIT < Q) {
      // cancellation: the exact two-pass sums, after the loop
      const e = fx + (<usize>nfx << 5);
      store<i32>(e, i);
      store<i32>(e, a, 4);
      store<i32>(e, n, 8);
      store<i32>(e, z, 12);
      store<f64>(e, K, 16);
      store<f64>(e, S, 24);
      nfx++;
    }
    if (m2 < 0) m2 = 0;
    stf(sdP, i, m2 * ldf(invP, n - 1)); // the variance: finishStd takes the square root
  }
  // The rows deferred above, each a function of its window alone. The loop makes no call (V8
  // spilled the part sums around the calls these need: perf annotate).
  for (let f = 0; f < nfx; f++) {
    const e = fx + (<usize>f << 5);
    const i = load<i32>(e), lo = load<i32>(e, 4), nn = load<i32>(e, 8), zz = load<i32>(e, 12);
    const Ke = load<f64>(e, 16);
    if (Ke != Ke) {
      const xi = ldf(xP, i);
      rescanRow(xP, tsP, ldf(xP, zz), lo, i, nn, outsP, 0, ewmaP, decay, xi == xi, i, !EWMA);
    } else if (!EWMA) {
      exactPart(xP, tsP, lo, zz, Ke, 0, <f64>nn, load<f64>(e, 24), 0, false);
      let m2 = cM2;
      if (m2 < 0) m2 = 0;
      stf(sdP, i, m2 * ldf(invP, nn - 1));
    }
  }
  if (!EWMA) finishStd(xP, sdP, 0, h0, end);
  return true;
}

// @ts-ignore: decorator
@inline function splitBody(
  xP: usize, tsP: usize, start: i32, h0: i32, end: i32, w: i32, wms: f64, minP: i32, outsP: usize, slopeP: usize, ewmaP: usize,
  decay: f64, sufP: usize, invP: usize, direct: bool, withSlope: bool, withEwma: bool, MOMENTS: bool, EXCL: bool, MEAN_STD: bool,
): void {
  // which moment outputs are wanted: skip the arithmetic nobody reads (MEAN_STD: exactly mean and std)
  const meanP = <usize>ldi(outsP, 0), sdP = <usize>ldi(outsP, 1);
  const varP: usize = MEAN_STD ? 0 : <usize>ldi(outsP, 2);
  const sumP: usize = MEAN_STD ? 0 : <usize>ldi(outsP, 3), zP: usize = MEAN_STD ? 0 : <usize>ldi(outsP, 4);
  const withMoments = MOMENTS && (MEAN_STD || withSlope || meanP != 0 || sdP != 0 || varP != 0 || sumP != 0 || zP != 0);
  const needM2 = MEAN_STD || sdP != 0 || varP != 0 || zP != 0;
  // suffix slots: 2 f64 per row when only moments or only EWMA are kept, else 8 (a 64-byte line)
  const sh: usize = withSlope || (withEwma && withMoments) ? 6 : 4;
  const cS = withMoments ? SUF_S : 0, cQ = withMoments ? SUF_Q : 0;
  const cEN = withMoments ? SUF_EN : 0, cED = withMoments ? SUF_ED : 1;
  const suf = sufP - (<usize>start << sh); // row j's suffix slots at suf + (j << sh)
  let curMid: i64 = i64.MIN_VALUE;
  let b: i32 = -1; // part B's first row
  let fEnd: i32 = -1; // last row folded into part B
  // K, T: the window's anchor — value and time of the cut row b — shared by both parts
  let K: f64 = 0, T: f64 = 0;
  let nB: i32 = 0, fS: f64 = 0, fQ: f64 = 0, fT: f64 = 0, fTT: f64 = 0, fTD: f64 = 0;
  let eNum: f64 = 0, eDen: f64 = 0, ePow: f64 = 1;
  // window state: rows [l, i], n valid rows, first valid a, last valid z (z < l: none),
  // desc = valid rows in (a, z] whose timestamp does not exceed the previous valid row's
  let l = start, n = 0, a = start, z = start - 1, desc = 0;
  let ua: i64 = 0, uz: i64 = 0;
  for (let i = start; i < end; i++) {
    // EXCL: row i's window is [l, i − 1]; row i − 1 joins it before the rows that left go
    const iw = EXCL ? i - 1 : i;
    if (EXCL && iw >= start) {
      const xr = ldf(xP, iw);
      if (xr == xr) {
        const tr = ldf(tsP, iw);
        if (n == 0) {
          a = iw;
          ua = tsKey(tr);
        } else if (!(tr > ldf(tsP, z))) desc++;
        n++;
        z = iw;
        uz = tsKey(tr);
      }
    }
    // the window's left edge, and the rows that left it
    let nl = l;
    if (w > 0) {
      nl = EXCL ? i - w : i - w + 1;
      if (nl < start) nl = start;
    } else {
      const edge = ldf(tsP, i) - wms;
      while (nl < i && ldf(tsP, nl) <= edge) nl++;
    }
    for (; l < nl; l++) if (ldf(xP, l) == ldf(xP, l)) n--;
    if (n == 0) desc = 0;
    else if (a < l) {
      // advance a over the valid rows that left, unwinding their descents
      let t = ldf(tsP, a);
      while (a < l) {
        let nx = a + 1;
        while (ldf(xP, nx) != ldf(xP, nx)) nx++;
        const tn = ldf(tsP, nx);
        if (!(tn > t)) desc--;
        a = nx;
        t = tn;
      }
      ua = tsKey(t);
    }
    const xi = ldf(xP, i);
    const xiValid = xi == xi;
    if (xiValid && !EXCL) {
      const ti = ldf(tsP, i);
      if (n == 0) {
        a = i;
        ua = tsKey(ti);
      } else if (!(ti > ldf(tsP, z))) desc++;
      n++;
      z = i;
      uz = tsKey(ti);
    }
    // halo rows: the running state above is all they need (the parts are folded lazily below)
    if (i < h0) continue;
    if (n < minP || n == 0) {
      emit(outsP, 0, i, NaN, NaN, NaN, NaN, NaN);
      if (withSlope) stf(slopeP, i, NaN);
      if (withEwma) stf(ewmaP, i, NaN);
      continue;
    }
    if (n == 1) {
      const v = ldf(xP, a);
      emit(outsP, 0, i, v, NaN, NaN, v, NaN);
      if (withSlope) stf(slopeP, i, NaN);
      if (withEwma) stf(ewmaP, i, v);
      continue;
    }
    if (direct || desc != 0 || ua >= uz) {
      rescanRow(xP, tsP, ldf(xP, z), l, iw, n, outsP, slopeP, ewmaP, decay, xiValid, i, withMoments);
      continue;
    }
    const k = 63 - <i32>clz<i64>(ua ^ uz);
    const mid = (uz >> k) << k;
    // The cached cut serves this window only while its part B starts inside it (a < b): with
    // non-ascending timestamps between two ascending windows, the window may have moved past it.
    if (mid != curMid || a >= b) {
      // new cut: part B = valid rows from the first with ts ≥ mid; refold it and part A's suffixes
      curMid = mid;
      b = z;
      for (let p = z - 1; p >= a; p--) {
        const v = ldf(xP, p);
        if (v != v) continue;
        if (tsKey(ldf(tsP, p)) < mid) break;
        b = p;
      }
      K = ldf(xP, b);
      T = ldf(tsP, b);
      nB = 0; fS = 0; fQ = 0; fT = 0; fTT = 0; fTD = 0;
      eNum = 0; eDen = 0; ePow = 1;
      fEnd = b - 1;
      let s2: f64 = 0, q2: f64 = 0, t2: f64 = 0, tt2: f64 = 0, td2: f64 = 0, en: f64 = 0, ed: f64 = 0, pw: f64 = 1;
      for (let j = b - 1; j >= a; j--) {
        const v = ldf(xP, j);
        if (v == v && withMoments) {
          const d = v - K;
          s2 += d;
          q2 += d * d;
          store<f64>(sufAt(suf, j, cS, sh), s2);
          store<f64>(sufAt(suf, j, cQ, sh), q2);
          if (withSlope) {
            const e = (ldf(tsP, j) - T) * 0.001;
            t2 += e;
            tt2 += e * e;
            td2 += e * d;
            store<f64>(sufAt(suf, j, SUF_T, sh), t2);
            store<f64>(sufAt(suf, j, SUF_TT, sh), tt2);
            store<f64>(sufAt(suf, j, SUF_TD, sh), td2);
          }
        }
        if (withEwma) {
          if (v == v) {
            en += pw * v;
            ed += pw;
          }
          store<f64>(sufAt(suf, j, cEN, sh), en);
          store<f64>(sufAt(suf, j, cED, sh), ed);
          pw *= decay;
        }
      }
    }
    // extend part B to row i (moments: valid rows; EWMA: every row ages the weights)
    for (let r = fEnd + 1; r <= iw; r++) {
      const v = ldf(xP, r);
      if (v == v && withMoments) {
        const d = v - K;
        nB++;
        fS += d;
        fQ += d * d;
        if (withSlope) {
          const e = (ldf(tsP, r) - T) * 0.001;
          fT += e;
          fTT += e * e;
          fTD += e * d;
        }
      }
      if (withEwma) {
        eNum = eNum * decay + (v == v ? v : 0);
        eDen = eDen * decay + (v == v ? 1 : 0);
        ePow *= decay;
      }
    }
    fEnd = iw;
    if (withEwma) stf(ewmaP, i, (eNum + ePow * load<f64>(sufAt(suf, a, cEN, sh))) / (eDen + ePow * load<f64>(sufAt(suf, a, cED, sh))));
    if (!withMoments) continue;
    // Both parts are shifted by the same anchor K (and T), so the window's sums are the parts'
    // sums added: no per-part means, no Chan merge on the row's path. 1/n and 1/(n − 1) come from
    // a table (n is an integer): no division either (measured: the divisions and the square root
    // were a third of the loop's time).
    const S = load<f64>(sufAt(suf, a, cS, sh)) + fS;
    const Q = load<f64>(sufAt(suf, a, cQ, sh)) + fQ;
    const md = S * ldf(invP, n); // mean − K
    if (MEAN_STD || meanP) stf(meanP, i, K + md);
    if (sumP) stf(sumP, i, K * <f64>n + S);
    if (!needM2 && !withSlope) continue;
    let m2 = Q - S * md;
    // K is a value of the window, but one far from its mean (a spike) leaves Q ≫ M2: then the
    // centred sums are recomputed exactly in two passes (a pure function of the window too)
    let cancel = m2 * PART_CANCELLATION_LIMIT < Q;
    let sxx: f64 = 0, sxy: f64 = 0, St: f64 = 0;
    if (withSlope) {
      St = load<f64>(sufAt(suf, a, SUF_T, sh)) + fT;
      const Stt = load<f64>(sufAt(suf, a, SUF_TT, sh)) + fTT;
      const mt = St * ldf(invP, n);
      sxx = Stt - St * mt;
      sxy = load<f64>(sufAt(suf, a, SUF_TD, sh)) + fTD - St * md;
      if (sxx * PART_CANCELLATION_LIMIT < Stt) cancel = true;
    }
    if (cancel) {
      exactPart(xP, tsP, a, z, K, T, <f64>n, S, St, withSlope);
      m2 = cM2;
      sxx = cSxx;
      sxy = cSxy;
    }
    if (needM2) {
      if (m2 < 0) m2 = 0;
      const variance = m2 * ldf(invP, n - 1);
      if (varP) stf(varP, i, variance);
      if (MEAN_STD || sdP) stf(sdP, i, variance); // finishStd takes the square root
      if (zP) stf(zP, i, xiValid ? (xi - K) - md : NaN);
    }
    if (withSlope) stf(slopeP, i, sxx > 0 ? sxy / sxx : NaN);
  }
  if (sdP) finishStd(xP, sdP, zP, h0, end);
}

// ---------------------------------------------------------------------------------------------
// Order statistics of large sample windows and of time windows, O(1) amortised per row.
//
// rankRun gives every valid row of a run the rank slot of its value among the run's values (a
// radix sort: O(n), no comparisons); equal values share the slot of the first of them.
// quantilesRank then keeps, per slot, how many of the window's rows hold that value (cnt), a
// two-level occupancy bitmap, and per quantile a cursor: a slot s and `below`, the number of
// window values in slots before s. An insert or removal moves `below` by at most one, the
// wanted index floor(q·(n − 1)) moves by at most one per row changed, so each cursor walks a
// step or two per row; the bitmap finds the next occupied slot with ctz/clz over 64 slots (and
// 4096 per summary word), so sparse windows cost no more than dense ones. The value read is the
// k-th smallest of the window's multiset, a pure function of the window's contents, whatever
// slots the run (and so the batch cut) assigned.
// ---------------------------------------------------------------------------------------------

/** Radix digits of the 64-bit order key: 6 × 11 bits (the top digit has 9). */
const DIGITS = 6;
const DIGIT_BITS: u64 = 11;
const BUCKETS = 2048;

// @ts-ignore: decorator
@inline function orderKey(v: f64): u64 {
  const b = reinterpret<u64>(v);
  // negative: flip every bit; positive: flip the sign bit → unsigned order = numeric order
  return b ^ (<u64>(<i64>b >> 63) | 0x8000000000000000);
}

/**
 * Rank the valid values of x[start, end): ranks[i] = slot (−1 for NaN), sorted[slot] = value,
 * slots 0 … m − 1 (a run of equal values uses its first slot). keyP/key2P: u64[m] scratch, idxP/
 * idx2P: i32[m], histP: i32[6 · 2048]. Returns m, the number of valid values. LSD radix sort,
 * stable, digits where every key falls in one bucket skipped.
 */
export function rankRun(xP: usize, start: i32, end: i32, ranksP: usize, sortedP: usize, keyP: usize, idxP: usize, key2P: usize, idx2P: usize, histP: usize): i32 {
  memory.fill(histP, 0, <usize>(DIGITS * BUCKETS) << 2);
  let m = 0;
  for (let i = start; i < end; i++) {
    const v = ldf(xP, i);
    if (v != v) {
      store<i32>(ranksP + (<usize>i << 2), -1);
      continue;
    }
    const k = orderKey(v);
    store<u64>(keyP + (<usize>m << 3), k);
    store<i32>(idxP + (<usize>m << 2), i);
    m++;
    for (let d = 0; d < DIGITS; d++) {
      const h = histP + (<usize>(d * BUCKETS + <i32>((k >> (<u64>d * DIGIT_BITS)) & 2047)) << 2);
      store<i32>(h, load<i32>(h) + 1);
    }
  }
  if (m == 0) return 0;
  let src = keyP, srcI = idxP, dst = key2P, dstI = idx2P;
  for (let d = 0; d < DIGITS; d++) {
    const shift = <u64>d * DIGIT_BITS;
    const hp = histP + (<usize>(d * BUCKETS) << 2);
    const first = <i32>((load<u64>(src) >> shift) & 2047);
    if (ldi(hp, first) == m) continue; // one bucket: this digit orders nothing
    let acc = 0;
    for (let b = 0; b < BUCKETS; b++) {
      const c = ldi(hp, b);
      store<i32>(hp + (<usize>b << 2), acc);
      acc += c;
    }
    for (let j = 0; j < m; j++) {
      const k = load<u64>(src + (<usize>j << 3));
      const h = hp + (<usize>(<i32>((k >> shift) & 2047)) << 2);
      const pos = load<i32>(h);
      store<i32>(h, pos + 1);
      store<u64>(dst + (<usize>pos << 3), k);
      store<i32>(dstI + (<usize>pos << 2), ldi(srcI, j));
    }
    const t = src; src = dst; dst = t;
    const tI = srcI; srcI = dstI; dstI = tI;
  }
  let slot = 0;
  let prev: u64 = 0;
  for (let j = 0; j < m; j++) {
    const k = load<u64>(src + (<usize>j << 3));
    const row = ldi(srcI, j);
    if (j == 0 || k != prev) {
      slot = j;
      prev = k;
      stf(sortedP, j, ldf(xP, row));
    }
    store<i32>(ranksP + (<usize>row << 2), slot);
  }
  return m;
}

// @ts-ignore: decorator
@inline function ld64(p: usize, i: i32): u64 {
  return load<u64>(p + (<usize>i << 3));
}

/** First occupied slot after s (one exists). b0: a bit per slot, b1: a bit per non-empty b0 word. */
function nextOcc(b0P: usize, b1P: usize, s: i32): i32 {
  const w = s >> 6;
  const word = ld64(b0P, w) & (<u64>-2 << <u64>(s & 63));
  if (word) return (w << 6) + <i32>ctz(word);
  const j = w + 1;
  let u = j >> 6;
  let sum = ld64(b1P, u) & (<u64>-1 << <u64>(j & 63));
  while (!sum) sum = ld64(b1P, ++u);
  const jw = (u << 6) + <i32>ctz(sum);
  return (jw << 6) + <i32>ctz(ld64(b0P, jw));
}

/** Last occupied slot before s (one exists). */
function prevOcc(b0P: usize, b1P: usize, s: i32): i32 {
  const w = s >> 6;
  const word = ld64(b0P, w) & ((<u64>1 << <u64>(s & 63)) - 1);
  if (word) return (w << 6) + 63 - <i32>clz(word);
  const j = w - 1;
  let u = j >> 6;
  let sum = ld64(b1P, u) & (<u64>-1 >>> <u64>(63 - (j & 63)));
  while (!sum) sum = ld64(b1P, --u);
  const jw = (u << 6) + 63 - <i32>clz(sum);
  return (jw << 6) + 63 - <i32>clz(ld64(b0P, jw));
}

/** One more (dir 1) or one less (dir −1) window value in slot r; cursors before r see it. */
// @ts-ignore: decorator
@inline function moveSlot(cntP: usize, b0P: usize, b1P: usize, stP: usize, nq: i32, r: i32, dir: i32): void {
  const cp = cntP + (<usize>r << 2);
  const c = load<i32>(cp);
  store<i32>(cp, c + dir);
  if (c + dir == 0 || c == 0) {
    // the slot turns empty or occupied: flip its bit, and its word's summary bit when that changes
    const wp = b0P + (<usize>(r >> 6) << 3);
    const old = load<u64>(wp);
    const now = old ^ (<u64>1 << <u64>(r & 63));
    store<u64>(wp, now);
    if (!old || !now) {
      const sp = b1P + (<usize>(r >> 12) << 3);
      store<u64>(sp, load<u64>(sp) ^ (<u64>1 << <u64>((r >> 6) & 63)));
    }
  }
  for (let q = 0; q < nq; q++) {
    const bp = stP + (<usize>(2 * q + 1) << 2);
    if (r < ldi(stP, 2 * q)) store<i32>(bp, load<i32>(bp) + dir);
  }
}

/**
 * Percentiles of large sample windows and of time windows for rows [start, end) of one run ranked
 * by rankRun (m valid values). cntP: i32[m], b0P: u64[⌈m/64⌉], b1P: u64[⌈m/4096⌉] (all zeroed
 * here), stP: i32[2 · nq] cursors. h0: first row with outputs (rows before it are halo). excl: row i's window is [lo[i], i) — the rows strictly before
 * it (outlier reference windows; lo[i] ≤ i) — instead of [lo[i], i]. Linear interpolation between closest ranks (Polars' `linear`),
 * the same arithmetic as the sorted-window `quantiles`.
 */
export function quantilesRank(
  ranksP: usize, sortedP: usize, loP: usize, start: i32, h0: i32, end: i32, m: i32, minP: i32, cntP: usize, b0P: usize, b1P: usize,
  stP: usize, qsP: usize, nq: i32, qOutsP: usize, excl: bool,
): void {
  const nb0 = (m + 63) >> 6;
  memory.fill(cntP, 0, <usize>m << 2);
  memory.fill(b0P, 0, <usize>nb0 << 3);
  memory.fill(b1P, 0, <usize>((nb0 + 63) >> 6) << 3);
  memory.fill(stP, 0, <usize>(2 * nq) << 2);
  let size = 0;
  let l = start;
  for (let i = start; i < end; i++) {
    const nl = ldi(loP, i);
    for (; l < nl; l++) {
      const r = ldi(ranksP, l);
      if (r >= 0) {
        moveSlot(cntP, b0P, b1P, stP, nq, r, -1);
        size--;
      }
    }
    const ri = ldi(ranksP, i);
    if (ri >= 0 && !excl) {
      moveSlot(cntP, b0P, b1P, stP, nq, ri, 1);
      size++;
    }
    // halo rows (i < h0) only move the counts; the cursors walk to the first wanted row once
    const ok = size >= minP && size > 0;
    for (let q = 0; q < nq && i >= h0; q++) {
      let res: f64 = NaN;
      if (ok) {
        const idx = ldf(qsP, q) * <f64>(size - 1);
        const a = <i32>Math.floor(idx);
        const f = idx - <f64>a;
        let s = ldi(stP, 2 * q);
        let below = ldi(stP, 2 * q + 1);
        // walk the cursor to the slot holding the a-th smallest: below ≤ a < below + cnt[s]
        while (true) {
          if (a < below) {
            s = prevOcc(b0P, b1P, s);
            below -= ldi(cntP, s);
          } else if (a >= below + ldi(cntP, s)) {
            below += ldi(cntP, s);
            s = nextOcc(b0P, b1P, s);
          } else break;
        }
        store<i32>(stP + (<usize>(2 * q) << 2), s);
        store<i32>(stP + (<usize>(2 * q + 1) << 2), below);
        const va = ldf(sortedP, s);
        if (f == 0) res = va;
        else {
          const vb = a + 1 < below + ldi(cntP, s) ? va : ldf(sortedP, nextOcc(b0P, b1P, s));
          res = va + f * (vb - va);
        }
      }
      stf(<usize>ldi(qOutsP, q), i, res);
    }
    if (ri >= 0 && excl) {
      moveSlot(cntP, b0P, b1P, stP, nq, ri, 1);
      size++;
    }
  }
}

/**
 * Rolling min and max of one window for rows [start, end) of one run, O(1) amortised per row with
 * no deque: van Herk / Gil-Werman prefix and suffix extremes around a moving cut c. Part B is the
 * rows [c, i], its running min and max updated as rows arrive; part A is [l, c), whose suffix
 * extremes were stored (sufP: 2 f64 per row) when the cut was placed. A window is min(A, B) and
 * max(A, B): two compares per row to extend B, two to merge, and no data-dependent branch. When the
 * window's left edge passes the cut, the cut moves to row i and part A's suffixes are refolded
 * backwards from i − 1 to the edge; refolds never overlap, so each row is refolded at most once.
 * The cut may sit anywhere: min and max are exact, so the result is the window's extremes whatever
 * rows the run (and so the batch) starts with. The window's edge (w > 0: the last w rows; else ts in
 * (t − wms, t]) and valid count are running state, as in splitRun. Rows before h0 (halo) only
 * build the state. minOutP / maxOutP: column offsets or 0. x holds NaN for dropped rows (compares
 * with NaN are false, so they never win) and +0 for −0.
 */
export function extremes(
  xP: usize, tsP: usize, start: i32, h0: i32, end: i32, w: i32, wms: f64, minP: i32, minOutP: usize, maxOutP: usize, sufP: usize,
): void {
  const suf = sufP - (<usize>start << 4); // row j: suffix min at suf + 16j, max at + 8
  let l = start, n = 0, c = start;
  let bMin: f64 = Infinity, bMax: f64 = -Infinity;
  store<f64>(suf + (<usize>c << 4), Infinity);
  store<f64>(suf + (<usize>c << 4) + 8, -Infinity);
  for (let i = start; i < end; i++) {
    let nl = l;
    if (w > 0) {
      nl = i - w + 1;
      if (nl < start) nl = start;
    } else {
      const edge = ldf(tsP, i) - wms;
      while (nl < i && ldf(tsP, nl) <= edge) nl++;
    }
    for (; l < nl; l++) if (ldf(xP, l) == ldf(xP, l)) n--;
    const v = ldf(xP, i);
    if (v == v) n++;
    if (l > c) {
      // the edge passed the cut: new cut at i, part A = [l, i) refolded backwards
      let sMin: f64 = Infinity, sMax: f64 = -Infinity;
      store<f64>(suf + (<usize>i << 4), sMin);
      store<f64>(suf + (<usize>i << 4) + 8, sMax);
      for (let j = i - 1; j >= l; j--) {
        const u = ldf(xP, j);
        sMin = u < sMin ? u : sMin;
        sMax = u > sMax ? u : sMax;
        store<f64>(suf + (<usize>j << 4), sMin);
        store<f64>(suf + (<usize>j << 4) + 8, sMax);
      }
      c = i;
      bMin = Infinity;
      bMax = -Infinity;
    }
    bMin = v < bMin ? v : bMin;
    bMax = v > bMax ? v : bMax;
    if (i < h0) continue;
    const ok = n >= minP && n > 0;
    if (minOutP) {
      const aMin = load<f64>(suf + (<usize>l << 4));
      stf(minOutP, i, ok ? (aMin < bMin ? aMin : bMin) : NaN);
    }
    if (maxOutP) {
      const aMax = load<f64>(suf + (<usize>l << 4) + 8);
      stf(maxOutP, i, ok ? (aMax > bMax ? aMax : bMax) : NaN);
    }
  }
}

/**
 * The values the windows see, in place: x[i] (a copy of the batch's values) becomes NaN where
 * flags[i] has `dropped` set, and −0 becomes +0 (equal values must be interchangeable in the order
 * statistics, or a percentile could return −0 or 0 depending on which rows came before the
 * window). One pass in wasm instead of a JS loop over two SharedArrayBuffer-backed arrays
 * (measured: 3.7 ns/row there, the largest single overhead of a mean/std kernel).
 */
export function maskValues(xP: usize, flagsP: usize, len: i32, dropped: u32): void {
  for (let i = 0; i < len; i++) {
    const v = ldf(xP, i) + 0;
    stf(xP, i, load<u32>(flagsP + (<usize>i << 2)) & dropped ? NaN : v);
  }
}
