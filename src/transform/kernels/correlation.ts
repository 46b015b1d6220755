/**
 * Window correlation features (docs/TRANSFORMS.md#autocorr and #correlate):
 *  - `autocorr`: per series, the Pearson correlation of (x[j], x[j − k]) over the rows j of a
 *    sample window, at configured lags k;
 *  - `correlate`: between two series joined on equal timestamps (as `ratio`): rolling Pearson
 *    correlation, sample covariance, and lead/lag cross-correlation at configured lags.
 *
 * Every value is a pure function of its own window's pairs, so it is bit-identical under any
 * batch split, and accurate for large offsets. Sample windows (and every lag-0 window): O(1)
 * amortised per row by split-window co-moments (pairMoments: a data-determined cut, suffix and
 * forward sums shifted by the cut row's pair — `rolling`'s method for moments). Duration windows
 * with a lag: a shifted row counts only inside the window, so pairs are gathered per window and
 * summed directly (pairStat), O(w). Hand-written index loops over typed arrays, no objects per sample.
 * (A sliding add/remove co-moment would carry rounding from rows before the window and differ
 * between batch splits.)
 */
import { FLAG_DROPPED, RUN_STRIDE } from '../../batch/layout.js';
import type { Kernel, KernelContext, KernelFactory } from '../kernel.js';
import { checkKnown, optInt, optRegex, optString, optStringList, parseWindow, TransformOptionError, type WindowSpec } from './options.js';
import { countUnpaired, labelSignature, metricName, parseSeriesKey } from './series-info.js';

/**
 * `windows`: sample counts (>= 2) or durations ("1h"). A duration window at row i holds the rows
 * with ts in (ts_i − W, ts_i], as `rolling`'s time windows.
 */
function windowList(v: unknown, kernel: string, def: number[]): WindowSpec[] {
  if (v === undefined) return def.map((w) => parseWindow(w, kernel, 'windows'));
  if (!Array.isArray(v) || v.length === 0) {
    throw new TransformOptionError(kernel, 'windows', `must be a non-empty list of sample counts >= 2 or durations (e.g. [60, 1h]), got ${JSON.stringify(v)}`);
  }
  const out = v.map((x, i) => parseWindow(x, kernel, `windows[${i}]`));
  out.forEach((w, i) => {
    if (w.samples > 0 && (w.samples < 2 || w.samples > 100_000)) throw new TransformOptionError(kernel, 'windows', `[${i}] must be a sample count in [2, 100000] or a duration, got ${w.samples}`);
  });
  if (new Set(out.map((w) => `${w.samples}/${w.ms}`)).size !== out.length) throw new TransformOptionError(kernel, 'windows', 'lists a window twice');
  return out;
}

/** Valid pairs needed in a window: `minPeriods` (capped at a sample window's size); default the sample window, 2 for time windows. */
function minPairs(w: WindowSpec, minPeriods: number | undefined): number {
  return w.samples > 0 ? Math.min(minPeriods ?? w.samples, w.samples) : (minPeriods ?? 2);
}

/** Halo of a window list: rows for sample windows (plus `extraRows`), ms for time windows. */
function windowHalo(windows: readonly WindowSpec[], extraRows: number): { samples: number; ms: number } {
  const sampleW = windows.filter((w) => w.samples > 0);
  return {
    samples: sampleW.length > 0 ? Math.max(...sampleW.map((w) => w.samples)) - 1 + extraRows : 0,
    ms: Math.max(0, ...windows.map((w) => w.ms)),
  };
}

/** Scratch size for one window's gathered pairs: the largest sample window, or the batch for time windows. */
function pairScratch(windows: readonly WindowSpec[], len: number): number {
  return windows.some((w) => w.ms > 0) ? len : Math.max(...windows.map((w) => w.samples));
}

function lagList(v: unknown, kernel: string, def: number[], allowNegative: boolean): number[] {
  if (v === undefined) return def;
  const min = allowNegative ? -100_000 : 1;
  if (!Array.isArray(v) || v.length === 0 || v.some((x) => typeof x !== 'number' || !Number.isInteger(x) || x < min || x > 100_000)) {
    throw new TransformOptionError(kernel, 'lags', `must be a non-empty list of whole numbers of rows${allowNegative ? '' : ' >= 1'}, got ${JSON.stringify(v)}`);
  }
  if (new Set(v).size !== v.length) throw new TransformOptionError(kernel, 'lags', 'lists a lag twice');
  return v as number[];
}

/**
 * Pearson correlation (mode 0) or sample covariance (mode 1) of the n pairs (pu[m], pv[m]), both
 * valid: sums shifted by the first pair, centred as pairMoments' windows (centre), so a constant
 * side has zero spread exactly. NaN when undefined (n < 2; correlation also when either side has
 * zero spread).
 */
function pairStat(pu: Float64Array, pv: Float64Array, n: number, mode: number): number {
  if (n < 2) return NaN;
  const Ku = pu[0]!;
  const Kv = pv[0]!;
  let su = 0;
  let sv = 0;
  let quu = 0;
  let qvv = 0;
  let quv = 0;
  for (let m = 0; m < n; m++) {
    const du = pu[m]! - Ku;
    const dv = pv[m]! - Kv;
    su += du;
    sv += dv;
    quu += du * du;
    qvv += dv * dv;
    quv += du * dv;
  }
  centre(pu, pv, 0, n - 1, Ku, Kv, n, su, sv, quu, qvv, quv);
  const m2u = centred[0]!;
  const m2v = centred[1]!;
  const cuv = centred[2]!;
  if (mode === 1) return cuv / (n - 1);
  return m2u > 0 && m2v > 0 ? cuv / (Math.sqrt(m2u) * Math.sqrt(m2v)) : NaN;
}

function validValues(ctx: KernelContext): Float64Array {
  const len = ctx.length;
  const x = ctx.scratchF64(len, 0);
  const { flags, value } = ctx;
  for (let i = 0; i < len; i++) x[i] = flags[i]! & FLAG_DROPPED ? NaN : value[i]!;
  return x;
}

// ---- autocorr ----

const KA = 'autocorr';

export interface AutocorrOptions {
  lags: number[];
  windows: WindowSpec[];
  minPeriods: number | undefined;
  prefix: string;
}

export function parseAutocorrOptions(o: Record<string, unknown>): AutocorrOptions {
  checkKnown(o, KA, ['lags', 'windows', 'minPeriods', 'prefix']);
  const lags = lagList(o['lags'], KA, [1], false);
  const windows = windowList(o['windows'], KA, [60]);
  const minPeriods = o['minPeriods'] === undefined ? undefined : optInt(o, 'minPeriods', KA, 2, 2);
  return { lags, windows, minPeriods, prefix: o['prefix'] === undefined ? '' : String(o['prefix']) };
}

export class AutocorrKernel implements Kernel {
  readonly name = KA;
  readonly outputs: readonly string[];
  readonly haloSamples: number;
  readonly haloMs: number;

  constructor(readonly opts: AutocorrOptions) {
    this.outputs = opts.windows.flatMap((w) => opts.lags.map((k) => `${opts.prefix}autocorr_${k}_${w.label}`));
    // time windows pair rows inside the window only, so they need no rows beyond it
    const h = windowHalo(opts.windows, Math.max(...opts.lags));
    this.haloSamples = h.samples;
    this.haloMs = h.ms;
  }

  run(ctx: KernelContext): void {
    const len = ctx.length;
    if (len === 0) return;
    const x = validValues(ctx);
    const size = pairScratch(this.opts.windows, len);
    const pairs: PairValues = { pu: ctx.scratchF64(size, 4), pv: ctx.scratchF64(size, 5) };
    const { pu, pv } = pairs;
    const { runs, ts } = ctx;
    const scratch: PairScratch = { u: ctx.scratchF64(len, 1), v: ctx.scratchF64(len, 2), suf: ctx.scratchF64(5 * len, 3) };
    for (const w of this.opts.windows) {
      const minP = minPairs(w, this.opts.minPeriods);
      for (const k of this.opts.lags) {
        const out = ctx.feature(`${this.opts.prefix}autocorr_${k}_${w.label}`);
        for (let r = 0; r < ctx.runCount; r++) {
          const start = runs[r * RUN_STRIDE + 1]!;
          const end = start + runs[r * RUN_STRIDE + 3]!;
          if (w.samples > 0) {
            // sample windows: the pairs (x[j], x[j − k]) do not depend on the window → O(1) co-moments
            layLagPairs(x, start, end, k, scratch);
            pairMoments(scratch.u, scratch.v, ts, scratch.suf, start, end, w.samples, 0, minP, out, undefined);
            continue;
          }
          // time windows take x[j − k] only when it is inside the window: pairs per window, O(w)
          let lo = start;
          for (let i = start; i < end; i++) {
            const edge = ts[i]! - w.ms;
            while (ts[lo]! <= edge) lo++;
            const from = lo + k;
            let n = 0;
            for (let j = from; j <= i; j++) {
              const v = x[j]!;
              const u = x[j - k]!;
              if (v !== v || u !== u) continue;
              pu[n] = v;
              pv[n] = u;
              n++;
            }
            out[i] = n >= minP ? pairStat(pu, pv, n, 0) : NaN;
          }
        }
      }
    }
  }
}

// ---- correlate ----

const KC = 'correlate';

export interface CorrelateOptions {
  x: RegExp;
  y: RegExp;
  on: string[] | undefined;
  ignoring: string[] | undefined;
  windows: WindowSpec[];
  stats: ('corr' | 'cov')[];
  lags: number[];
  minPeriods: number | undefined;
  output: string;
}

export function parseCorrelateOptions(o: Record<string, unknown>): CorrelateOptions {
  checkKnown(o, KC, ['x', 'y', 'on', 'ignoring', 'windows', 'stats', 'lags', 'minPeriods', 'output']);
  const on = optStringList(o['on'], KC, 'on');
  const ignoring = optStringList(o['ignoring'], KC, 'ignoring');
  if (on && ignoring) throw new TransformOptionError(KC, 'on', 'cannot be combined with `ignoring`');
  const rawS = o['stats'] ?? ['corr', 'cov'];
  if (!Array.isArray(rawS) || rawS.some((s) => s !== 'corr' && s !== 'cov')) throw new TransformOptionError(KC, 'stats', `must be a list of "corr", "cov", got ${JSON.stringify(rawS)}`);
  const lags = o['lags'] === undefined ? [] : lagList(o['lags'], KC, [], true);
  if (rawS.length === 0 && lags.length === 0) throw new TransformOptionError(KC, 'stats', 'nothing to compute: give stats or lags');
  return {
    x: optRegex(o['x'], KC, 'x'),
    y: optRegex(o['y'], KC, 'y'),
    on,
    ignoring,
    windows: windowList(o['windows'], KC, [60]),
    stats: [...new Set(rawS as ('corr' | 'cov')[])],
    lags,
    minPeriods: o['minPeriods'] === undefined ? undefined : optInt(o, 'minPeriods', KC, 2, 2),
    output: optString(o, 'output', KC, 'xy'),
  };
}

export class CorrelateKernel implements Kernel {
  readonly name = KC;
  readonly outputs: readonly string[];
  readonly haloSamples: number;
  readonly haloMs: number;

  readonly crossSeries: readonly (readonly RegExp[])[];

  constructor(readonly opts: CorrelateOptions) {
    this.crossSeries = [[opts.x, opts.y]];
    const p = opts.output;
    this.outputs = opts.windows.flatMap((w) => [...opts.stats.map((s) => `${p}_${s}_${w.label}`), ...opts.lags.map((l) => `${p}_xcorr_${l}_${w.label}`)]);
    const h = windowHalo(opts.windows, Math.max(0, ...opts.lags.map(Math.abs)));
    this.haloSamples = h.samples;
    this.haloMs = h.ms;
  }

  run(ctx: KernelContext): void {
    const len = ctx.length;
    if (len === 0) return;
    const { runs, ts } = ctx;
    const sigOf = (r: number): string => labelSignature(parseSeriesKey(ctx.seriesKeys[runs[r * RUN_STRIDE]!]!).labels, this.opts.on, this.opts.ignoring);
    const ys = new Map<string, number>();
    const xs: number[] = [];
    for (let r = 0; r < ctx.runCount; r++) {
      const name = metricName(ctx.seriesKeys[runs[r * RUN_STRIDE]!]!);
      if (this.opts.y.test(name)) {
        const s = sigOf(r);
        if (!ys.has(s)) ys.set(s, r);
      }
      if (this.opts.x.test(name)) xs.push(r);
    }
    if (xs.length === 0) return;
    const x = validValues(ctx);
    // partner[i] = the y row at x row i's timestamp, or -1
    const partner = ctx.scratchI32(len, 2);
    const size = pairScratch(this.opts.windows, len);
    const pairs: PairValues = { pu: ctx.scratchF64(size, 4), pv: ctx.scratchF64(size, 5) };
    const scratch: PairScratch = { u: ctx.scratchF64(len, 1), v: ctx.scratchF64(len, 2), suf: ctx.scratchF64(5 * len, 3) };
    for (const a of xs) {
      const b = ys.get(sigOf(a));
      if (b === undefined || b === a) {
        countUnpaired(ctx, a, KC);
        continue;
      }
      const aStart = runs[a * RUN_STRIDE + 1]!;
      const aEnd = aStart + runs[a * RUN_STRIDE + 3]!;
      const bStart = runs[b * RUN_STRIDE + 1]!;
      const bEnd = bStart + runs[b * RUN_STRIDE + 3]!;
      partner.fill(-1, aStart, aEnd);
      for (let i = aStart, j = bStart; i < aEnd && j < bEnd; ) {
        const ti = ts[i]!;
        const tj = ts[j]!;
        if (ti < tj) i++;
        else if (tj < ti) j++;
        else partner[i++] = j++;
      }
      let laidOut = NaN; // the lag scratch.u / scratch.v hold the pairs of
      for (const w of this.opts.windows) {
        const minP = minPairs(w, this.opts.minPeriods);
        const p = this.opts.output;
        const corr = this.opts.stats.includes('corr') ? ctx.feature(`${p}_corr_${w.label}`) : undefined;
        const cov = this.opts.stats.includes('cov') ? ctx.feature(`${p}_cov_${w.label}`) : undefined;
        if (corr || cov) {
          if (laidOut !== 0) layPairs(x, partner, aStart, aEnd, bStart, 0, scratch);
          laidOut = 0;
          pairMoments(scratch.u, scratch.v, ts, scratch.suf, aStart, aEnd, w.samples, w.ms, minP, corr, cov);
        }
        for (const l of this.opts.lags) {
          const out = ctx.feature(`${p}_xcorr_${l}_${w.label}`);
          // time windows take a shifted row only when it is inside the window: the pairs depend
          // on the window, so they are collected per window (O(w))
          if (w.samples === 0) pairWindow(x, ts, partner, pairs, aStart, aEnd, bStart, w, l, minP, 0, out);
          else {
            if (laidOut !== l) layPairs(x, partner, aStart, aEnd, bStart, l, scratch);
            laidOut = l;
            pairMoments(scratch.u, scratch.v, ts, scratch.suf, aStart, aEnd, w.samples, w.ms, minP, out, undefined);
          }
        }
      }
    }
  }
}

/**
 * A window's shifted sums lose more than this factor to cancellation (anchor far from the
 * window's mean, e.g. a spike at the cut row) → that window is recomputed exactly in two passes.
 */
const CANCELLATION_LIMIT = 64;
/**
 * Sample windows up to this size are summed directly from their newest pair (O(w), a handful of
 * adds) instead of by split windows, whose cut bookkeeping costs more. A property of the window
 * spec only, so it cannot differ between batches (as `rolling`'s DIRECT_WINDOW_MAX).
 */
export const PAIR_DIRECT_MAX = 16;
const TWO32 = 4294967296;
/** 2^k for k < 64 (`2 ** k` is a Math.pow call: measured as 2/3 of the loop's time). */
const POW2 = Float64Array.from({ length: 64 }, (_, k) => 2 ** k);

/** One window's valid pairs, gathered (duration windows with a lag). */
interface PairValues {
  pu: Float64Array;
  pv: Float64Array;
}

/** Scratch for pairMoments: the pairs' values (NaN when the pair is not valid) and part A's suffix sums, 5 per row. */
export interface PairScratch {
  u: Float64Array;
  v: Float64Array;
  suf: Float64Array;
}

// the last window's centred sums [Σdu², Σdv², Σdu·dv] (centre → pairMoments); a typed array,
// since doubles kept in module variables are boxed on every store
const centred = new Float64Array(3);

/**
 * Centred co-moments of the valid pairs in rows [from, to] from their sums shifted by (Ku, Kv).
 * When the one-pass form loses more than CANCELLATION_LIMIT (the anchor far from the window's
 * mean), they are recomputed exactly by a corrected two-pass over the raw values around the mean
 * (a pure function of the window too): raw, because v − K rounds away spread far below |K|.
 */
function centre(u: Float64Array, v: Float64Array, from: number, to: number, Ku: number, Kv: number, n: number, su: number, sv: number, quu: number, qvv: number, quv: number): void {
  let m2u = quu - su * (su / n);
  let m2v = qvv - sv * (sv / n);
  let cuv = quv - su * (sv / n);
  if (m2u * CANCELLATION_LIMIT < quu || m2v * CANCELLATION_LIMIT < qvv) {
    const mu = Ku + su / n;
    const mv = Kv + sv / n;
    let a = 0;
    let b = 0;
    let ca = 0;
    let cb = 0;
    let ab = 0;
    for (let j = from; j <= to; j++) {
      const x = u[j]!;
      if (x !== x) continue;
      const du = x - mu;
      const dv = v[j]! - mv;
      a += du * du;
      b += dv * dv;
      ab += du * dv;
      ca += du;
      cb += dv;
    }
    // the residual sums are rounding-level: they correct the mean's rounding
    m2u = a - (ca * ca) / n;
    m2v = b - (cb * cb) / n;
    cuv = ab - (ca * cb) / n;
  }
  centred[0] = m2u;
  centred[1] = m2v;
  centred[2] = cuv;
}

/**
 * Pearson correlation and sample covariance (ddof 1) of the valid pairs (u[j], v[j]) of every
 * window of rows [start, end) — u[j] NaN marks a pair that does not count (then v[j] is NaN too)
 * — O(1) amortised per row, each result a pure function of its window's pairs
 * (docs/TRANSFORMS.md#correlate, "How it is computed"): the window is cut at the most aligned
 * timestamp of its valid pairs' span (as `rolling`'s split windows); the part from the cut row b
 * on is summed forwards, the part before it backwards from b − 1 (suffix sums stored when the cut
 * was placed), both shifted by the cut row's pair (Ku, Kv) = (u[b], v[b]), so the window's sums
 * Σdu, Σdv, Σdu², Σdv², Σdu·dv are the two parts' sums added. A constant side has du = 0 exactly:
 * its spread is exactly 0 and corr NaN. w > 0: the last w rows, outputs from row start + w − 1;
 * w = 0: rows with ts in (t − wms, t], outputs from start. Windows with fewer than minP (and 2)
 * pairs get NaN. corr / cov: output columns, or undefined.
 */
export function pairMoments(
  u: Float64Array, v: Float64Array, ts: Float64Array, suf: Float64Array, start: number, end: number, w: number, wms: number, minP: number,
  corr: Float64Array | undefined, cov: Float64Array | undefined,
): void {
  const i0 = w > 0 ? start + w - 1 : start;
  const direct = w > 0 && w <= PAIR_DIRECT_MAX;
  // window state: rows [l, i], n valid pairs, first valid row a, last z; desc = valid rows in
  // (a, z] whose timestamp does not exceed the previous valid row's (the cut needs ascending ts)
  let l = start;
  let n = 0;
  let a = start;
  let z = start - 1;
  let desc = 0;
  let ua = 0;
  let uz = 0;
  // the cut: its timestamp, first row b, anchor (Ku, Kv), and part B's forward sums up to row fEnd
  let curMid = NaN;
  let b = -1;
  let fEnd = -1;
  let Ku = 0;
  let Kv = 0;
  let bU = 0;
  let bV = 0;
  let bUU = 0;
  let bVV = 0;
  let bUV = 0;
  for (let i = start; i < end; i++) {
    let nl = l;
    if (w > 0) nl = i - w + 1 > start ? i - w + 1 : start;
    else {
      const edge = ts[i]! - wms;
      while (nl < i && ts[nl]! <= edge) nl++;
    }
    for (; l < nl; l++) if (u[l] === u[l]) n--;
    if (n === 0) desc = 0;
    else if (a < l) {
      // advance a over the valid rows that left, unwinding their descents
      let t = ts[a]!;
      while (a < l) {
        let nx = a + 1;
        while (u[nx] !== u[nx]) nx++;
        const tn = ts[nx]!;
        if (!(tn > t)) desc--;
        a = nx;
        t = tn;
      }
      ua = Math.floor(t);
    }
    const ui = u[i]!;
    if (ui === ui) {
      const ti = ts[i]!;
      if (n === 0) {
        a = i;
        ua = Math.floor(ti);
      } else if (!(ti > ts[z]!)) desc++;
      n++;
      z = i;
      uz = Math.floor(ti);
    }
    if (i < i0) continue;
    if (n < minP || n < 2) {
      if (corr) corr[i] = NaN;
      if (cov) cov[i] = NaN;
      continue;
    }
    if (direct || desc !== 0 || ua >= uz) {
      // summed directly from the newest pair, shifted by it
      const Kz = u[z]!;
      const Kw = v[z]!;
      let su = 0;
      let sv = 0;
      let quu = 0;
      let qvv = 0;
      let quv = 0;
      for (let j = z; j >= l; j--) {
        const x = u[j]!;
        if (x !== x) continue;
        const du = x - Kz;
        const dv = v[j]! - Kw;
        su += du;
        sv += dv;
        quu += du * du;
        qvv += dv * dv;
        quv += du * dv;
      }
      centre(u, v, l, z, Kz, Kw, n, su, sv, quu, qvv, quv);
    } else {
      // the most aligned timestamp in (ua, uz]: the highest bit k where ua and uz differ (as
      // 64-bit integers, from their 32-bit halves), mid = uz with the bits below k cleared
      const ha = Math.floor(ua / TWO32);
      const hz = Math.floor(uz / TWO32);
      const k = ha !== hz ? 63 - Math.clz32(ha ^ hz) : 31 - Math.clz32((ua - ha * TWO32) ^ (uz - hz * TWO32));
      const p2 = POW2[k]!;
      const mid = Math.floor(uz / p2) * p2;
      if (mid !== curMid || a >= b) {
        // new cut: part B = valid rows from the first with ts ≥ mid; refold part A's suffixes
        curMid = mid;
        b = z;
        for (let p = z - 1; p >= a; p--) {
          if (u[p] !== u[p]) continue;
          if (Math.floor(ts[p]!) < mid) break;
          b = p;
        }
        Ku = u[b]!;
        Kv = v[b]!;
        bU = 0;
        bV = 0;
        bUU = 0;
        bVV = 0;
        bUV = 0;
        fEnd = b - 1;
        let su = 0;
        let sv = 0;
        let quu = 0;
        let qvv = 0;
        let quv = 0;
        for (let j = b - 1; j >= a; j--) {
          const x = u[j]!;
          if (x !== x) continue;
          const du = x - Ku;
          const dv = v[j]! - Kv;
          su += du;
          sv += dv;
          quu += du * du;
          qvv += dv * dv;
          quv += du * dv;
          const o = (j - start) * 5;
          suf[o] = su;
          suf[o + 1] = sv;
          suf[o + 2] = quu;
          suf[o + 3] = qvv;
          suf[o + 4] = quv;
        }
      }
      for (let j = fEnd + 1; j <= i; j++) {
        const x = u[j]!;
        if (x !== x) continue;
        const du = x - Ku;
        const dv = v[j]! - Kv;
        bU += du;
        bV += dv;
        bUU += du * du;
        bVV += dv * dv;
        bUV += du * dv;
      }
      fEnd = i;
      if (a < b) {
        const o = (a - start) * 5;
        centre(u, v, l, z, Ku, Kv, n, suf[o]! + bU, suf[o + 1]! + bV, suf[o + 2]! + bUU, suf[o + 3]! + bVV, suf[o + 4]! + bUV);
      } else centre(u, v, l, z, Ku, Kv, n, bU, bV, bUU, bVV, bUV);
    }
    const m2u = centred[0]!;
    const m2v = centred[1]!;
    const cuv = centred[2]!;
    if (cov) cov[i] = cuv / (n - 1);
    if (corr) corr[i] = m2u > 0 && m2v > 0 ? cuv / (Math.sqrt(m2u) * Math.sqrt(m2v)) : NaN;
  }
}

/** autocorr's pairs of run [start, end) at lag k: (x[j], x[j − k]), NaN in both unless both are valid and j − k is in the run. */
function layLagPairs(x: Float64Array, start: number, end: number, k: number, scratch: PairScratch): void {
  const { u, v } = scratch;
  for (let j = start; j < end; j++) {
    const p = j - k >= start ? x[j]! : NaN;
    const q = j - k >= start ? x[j - k]! : NaN;
    const ok = p === p && q === q;
    u[j] = ok ? p : NaN;
    v[j] = ok ? q : NaN;
  }
}

/**
 * The pairs of x's run [aStart, aEnd) at `lag` (as pairWindow, sample windows): u[j] = x[j] and
 * v[j] = y[partner[j]] at lag 0; lag > 0: y `lag` rows before j's partner; lag < 0: x `-lag` rows
 * before j. Both NaN when the pair does not count (no partner, shifted row outside its run, or
 * either value not valid).
 */
function layPairs(x: Float64Array, partner: Int32Array, aStart: number, aEnd: number, bStart: number, lag: number, scratch: PairScratch): void {
  const { u, v } = scratch;
  for (let j = aStart; j < aEnd; j++) {
    const pj = partner[j]!;
    const xi = lag >= 0 ? j : j + lag;
    const yi = lag >= 0 ? pj - lag : pj;
    const p = pj >= 0 && xi >= aStart && yi >= bStart ? x[xi]! : NaN;
    const q = pj >= 0 && xi >= aStart && yi >= bStart ? x[yi]! : NaN;
    const ok = p === p && q === q;
    u[j] = ok ? p : NaN;
    v[j] = ok ? q : NaN;
  }
}

/**
 * One pair feature over x's run [aStart, aEnd) joined to y (rows from bStart) through `partner`.
 * lag >= 0: x[j] with y `lag` rows before j's partner (y leads x); lag < 0: x `-lag` rows before j
 * with y at j's partner (x leads y). Causal either way. Sample windows may reach |lag| rows before
 * the window (halo w − 1 + |lag|); time windows take a shifted row only if it is inside the window.
 */
function pairWindow(
  x: Float64Array, ts: Float64Array, partner: Int32Array, pairs: PairValues,
  aStart: number, aEnd: number, bStart: number, w: WindowSpec, lag: number, minP: number, mode: number, out: Float64Array,
): void {
  const { pu, pv } = pairs;
  let lo = aStart;
  for (let i = w.samples > 0 ? aStart + w.samples - 1 : aStart; i < aEnd; i++) {
    let from = i - w.samples + 1;
    let edge = -Infinity;
    if (w.samples === 0) {
      edge = ts[i]! - w.ms;
      while (ts[lo]! <= edge) lo++;
      from = lo;
    }
    let n = 0;
    for (let j = from; j <= i; j++) {
      const xi = lag >= 0 ? j : j + lag;
      if (xi < aStart || ts[xi]! <= edge) continue;
      const pj = partner[j]!;
      if (pj < 0) continue;
      const yi = lag >= 0 ? pj - lag : pj;
      if (yi < bStart || ts[yi]! <= edge) continue;
      const u = x[xi]!;
      const v = x[yi]!;
      if (u !== u || v !== v) continue;
      pu[n] = u;
      pv[n] = v;
      n++;
    }
    out[i] = n >= minP ? pairStat(pu, pv, n, mode) : NaN;
  }
}

export const autocorrKernel: KernelFactory = (options) => new AutocorrKernel(parseAutocorrOptions(options));
export const correlateKernel: KernelFactory = (options) => new CorrelateKernel(parseCorrelateOptions(options));
