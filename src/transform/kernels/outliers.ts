/**
 * `outliers`: per-series outlier detection against a trailing reference window (the `window` rows
 * — or the rows within `window` time — strictly before the row): IQR fences (k = 1.5), z-score
 * (|z| > 3) or robust z (|x - median| / (1.4826 · MAD) > 3.5). Action flag / drop / clip
 * (winsorise to the fence). Decisions are made on the values as they were when the step started
 * and applied afterwards, so a row's verdict never depends on this step's own earlier verdicts
 * (which keeps the halo finite). Semantics: docs/TRANSFORMS.md#outliers.
 */
import { FLAG_DROPPED, RUN_STRIDE } from '../../batch/layout.js';
import type { Kernel, KernelContext, KernelFactory } from '../kernel.js';
import { actionTarget, applyAction, type ActionTarget } from './actions.js';
import { checkKnown, optAction, optInt, optNumber, optString, parseWindow, type WindowSpec } from './options.js';
import { SortedWindow } from './window/sorted-window.js';
import { DIRECT_WINDOW_MAX } from './rolling.js';
import { rankScratch, rollingArena } from './wasm/arena.js';

const K = 'outliers';
/** MAD → standard deviation for normal data. */
export const MAD_SCALE = 1.4826;

export type OutlierMethod = 'iqr' | 'zscore' | 'robust';

export interface OutlierOptions {
  method: OutlierMethod;
  window: WindowSpec;
  /** IQR fence multiplier. */
  k: number;
  /** |z| threshold for zscore / robust. */
  threshold: number;
  minPeriods: number;
  action: ActionTarget;
}

export function parseOutlierOptions(o: Record<string, unknown>): OutlierOptions {
  checkKnown(o, K, ['method', 'window', 'k', 'threshold', 'minPeriods', 'action']);
  const method = optString<OutlierMethod>(o, 'method', K, 'iqr', ['iqr', 'zscore', 'robust']);
  const window = parseWindow(o['window'] ?? 60, K, 'window');
  const k = optNumber(o, 'k', K, 1.5, 0);
  const threshold = optNumber(o, 'threshold', K, method === 'robust' ? 3.5 : 3, 0);
  const minPeriods = optInt(o, 'minPeriods', K, window.samples > 0 ? Math.min(8, window.samples) : 8, 1);
  const action = optAction(o['action'], K, 'action', 'flag', ['drop', 'flag', 'clip', 'off']);
  return { method, window, k, threshold, minPeriods, action: actionTarget('outlier', action, 'outlier') };
}

const NO = 0;
const LOW = 1;
const HIGH = 2;

export class OutlierKernel implements Kernel {
  readonly name = K;
  readonly outputs: readonly string[] = [];
  readonly haloSamples: number;
  readonly haloMs: number;
  private readonly win = new SortedWindow(64);

  constructor(readonly opts: OutlierOptions) {
    this.haloSamples = opts.window.samples;
    this.haloMs = opts.window.ms;
  }

  run(ctx: KernelContext): void {
    if (this.opts.action.action === 'off' || ctx.length === 0) return;
    const { flags, value, runs } = ctx;
    const len = ctx.length;
    const x = ctx.scratchF64(len, 0);
    for (let i = 0; i < len; i++) x[i] = flags[i]! & FLAG_DROPPED ? NaN : value[i]! + 0;
    const fence = ctx.scratchF64(len, 1);
    const verdict = ctx.scratchI32(len, 0);
    if (this.opts.method === 'iqr') this.detectIqr(ctx, x, verdict, fence);
    else if (this.opts.method === 'zscore') this.detectZscore(ctx, x, verdict, fence);
    else {
      for (let r = 0; r < ctx.runCount; r++) {
        const o = r * RUN_STRIDE;
        const start = runs[o + 1]!;
        this.detect(ctx.ts, x, start, start + runs[o + 3]!, verdict, fence);
      }
    }
    const clip = this.opts.action.action === 'clip';
    for (let i = 0; i < len; i++) {
      const v = verdict[i]!;
      if (v === NO) continue;
      if (clip) value[i] = fence[i]!;
      applyAction(ctx, i, this.opts.action);
    }
  }

  /**
   * IQR fences with the rolling kernel's order-statistic path (wasm rankRun / quantilesRank over
   * the reference windows [lo, i)): O(1) amortised per row at any window length, the same values
   * as the sorted window of detect() (k-th smallest of the window, same interpolation).
   */
  private detectIqr(ctx: KernelContext, x: Float64Array, verdict: Int32Array, fence: Float64Array): void {
    const { window, k, minPeriods } = this.opts;
    const len = ctx.length;
    const { runs, ts } = ctx;
    const A = rollingArena();
    A.reset();
    const xP = A.alloc(8 * len);
    const loP = A.alloc(4 * len);
    const q1P = A.alloc(8 * len);
    const q3P = A.alloc(8 * len);
    const qsP = A.alloc(16);
    const qOutsP = A.alloc(8);
    const stP = A.alloc(16);
    const rk = rankScratch(A, len);
    A.commit();
    A.f64At(xP, len).set(x.subarray(0, len));
    A.f64At(qsP, 2).set([0.25, 0.75]);
    A.i32At(qOutsP, 2).set([q1P, q3P]);
    const lo = A.i32At(loP, len);
    const q1 = A.f64At(q1P, len);
    const q3 = A.f64At(q3P, len);
    for (let r = 0; r < ctx.runCount; r++) {
      const o = r * RUN_STRIDE;
      const start = runs[o + 1]!;
      const end = start + runs[o + 3]!;
      // reference window of row i = rows [lo[i], i)
      let l = start;
      for (let i = start; i < end; i++) {
        if (window.samples > 0) l = Math.max(start, i - window.samples);
        else {
          const edge = ts[i]! - window.ms;
          while (l < i && ts[l]! <= edge) l++;
        }
        lo[i] = l;
      }
      const m = A.fn.rankRun(xP, start, end, rk.ranksP, rk.sortedP, rk.keyP, rk.idxP, rk.key2P, rk.idx2P, rk.histP);
      A.fn.quantilesRank(rk.ranksP, rk.sortedP, loP, start, start, end, m, minPeriods, rk.cntP, rk.b0P, rk.b1P, stP, qsP, 2, qOutsP, true);
      for (let i = start; i < end; i++) {
        verdict[i] = NO;
        const xi = x[i]!;
        const a = q1[i]!;
        const iqr = q3[i]! - a;
        // NaN quartiles (fewer than minPeriods reference values) and iqr <= 0 judge nothing
        if (xi !== xi || !(iqr > 0)) continue;
        const low = a - k * iqr;
        const high = q3[i]! + k * iqr;
        if (xi < low) {
          verdict[i] = LOW;
          fence[i] = low;
        } else if (xi > high) {
          verdict[i] = HIGH;
          fence[i] = high;
        }
      }
    }
  }

  /**
   * z-score fences with the rolling kernel's split windows over the reference windows [lo, i)
   * (wasm splitRun, excl): O(1) amortised per row at any window length, a pure function of the
   * window (within 1e-12 of the exact mean and std, docs/TRANSFORMS.md#rolling).
   */
  private detectZscore(ctx: KernelContext, x: Float64Array, verdict: Int32Array, fence: Float64Array): void {
    const { window, threshold, minPeriods } = this.opts;
    const len = ctx.length;
    const runs = ctx.runs;
    let maxRun = 0;
    for (let r = 0; r < ctx.runCount; r++) maxRun = Math.max(maxRun, runs[r * RUN_STRIDE + 3]!);
    const A = rollingArena();
    A.reset();
    const xP = A.alloc(8 * len);
    const tsP = A.alloc(8 * len);
    const meanP = A.alloc(8 * len);
    const sdP = A.alloc(8 * len);
    const outsP = A.alloc(4 * 5);
    const sufP = A.alloc(64 * maxRun);
    const invP = A.alloc(8 * (maxRun + 1));
    A.commit();
    A.f64At(xP, len).set(x.subarray(0, len));
    A.f64At(tsP, len).set(ctx.ts.subarray(0, len));
    A.i32At(outsP, 5).set([meanP, sdP, 0, 0, 0]);
    A.fn.inverses(invP, maxRun);
    const mean = A.f64At(meanP, len);
    const sd = A.f64At(sdP, len);
    for (let r = 0; r < ctx.runCount; r++) {
      const o = r * RUN_STRIDE;
      const start = runs[o + 1]!;
      const end = start + runs[o + 3]!;
      A.fn.splitRun(xP, tsP, start, start, end, window.samples, window.ms, minPeriods, outsP, 0, 0, 1, sufP, invP, window.samples > 0 && window.samples <= DIRECT_WINDOW_MAX, true);
      for (let i = start; i < end; i++) {
        verdict[i] = NO;
        const xi = x[i]!;
        const s = sd[i]!;
        // NaN (fewer than minPeriods or 2 reference values) and zero spread judge nothing
        if (xi !== xi || !(s > 0)) continue;
        const low = mean[i]! - threshold * s;
        const high = mean[i]! + threshold * s;
        if (xi < low) {
          verdict[i] = LOW;
          fence[i] = low;
        } else if (xi > high) {
          verdict[i] = HIGH;
          fence[i] = high;
        }
      }
    }
  }

  private detect(ts: Float64Array, x: Float64Array, start: number, end: number, verdict: Int32Array, fence: Float64Array): void {
    const { method, window, k, threshold, minPeriods } = this.opts;
    const w = this.win;
    w.clear();
    let lo = start;
    for (let i = start; i < end; i++) {
      // reference window = rows [lo, i): advance lo, removing the rows that left
      if (window.samples > 0) {
        const nl = i - window.samples;
        if (nl > lo) {
          const v = x[lo]!;
          if (v === v) w.remove(v);
          lo = nl;
        }
      } else {
        const edge = ts[i]! - window.ms;
        while (lo < i && ts[lo]! <= edge) {
          const v = x[lo++]!;
          if (v === v) w.remove(v);
        }
      }
      verdict[i] = NO;
      const xi = x[i]!;
      const n = w.size;
      if (xi === xi && n >= minPeriods && n > 0) {
        let low = -Infinity;
        let high = Infinity;
        if (method === 'iqr') {
          const q1 = quantile(w, 0.25);
          const q3 = quantile(w, 0.75);
          const iqr = q3 - q1;
          if (iqr > 0) {
            low = q1 - k * iqr;
            high = q3 + k * iqr;
          }
        } else if (method === 'zscore') {
          if (n >= 2) {
            const { mean, sd } = meanStd(x, lo, i);
            if (sd > 0) {
              low = mean - threshold * sd;
              high = mean + threshold * sd;
            }
          }
        } else {
          const med = quantile(w, 0.5);
          const s = MAD_SCALE * mad(w, med);
          if (s > 0) {
            low = med - threshold * s;
            high = med + threshold * s;
          }
        }
        if (xi < low) {
          verdict[i] = LOW;
          fence[i] = low;
        } else if (xi > high) {
          verdict[i] = HIGH;
          fence[i] = high;
        }
      }
      // row i joins the reference window of the rows after it
      if (xi === xi) w.insert(xi);
    }
  }
}

function quantile(w: SortedWindow, q: number): number {
  const idx = q * (w.size - 1);
  const a = Math.floor(idx);
  const f = idx - a;
  const va = w.at(a);
  return f === 0 ? va : va + f * (w.at(a + 1) - va);
}

/** Exact two-pass mean / sample std of the valid values in x[l, r). */
function meanStd(x: Float64Array, l: number, r: number): { mean: number; sd: number } {
  let n = 0;
  let s = 0;
  for (let j = r - 1; j >= l; j--) {
    const v = x[j]!;
    if (v === v) {
      s += v;
      n++;
    }
  }
  const mean = s / n;
  let m2 = 0;
  for (let j = r - 1; j >= l; j--) {
    const v = x[j]!;
    if (v === v) m2 += (v - mean) * (v - mean);
  }
  MS.mean = mean;
  MS.sd = n >= 2 ? Math.sqrt(m2 / (n - 1)) : NaN;
  return MS;
}
const MS = { mean: 0, sd: 0 };

/**
 * Median absolute deviation from the sorted window, O(w) without sorting: the deviations below
 * and above the median are each already sorted, so a merge walk finds the middle ones.
 */
function mad(w: SortedWindow, med: number): number {
  const n = w.size;
  const b = w.buf;
  // split point: first index with value >= med
  let split = 0;
  while (split < n && b[split]! < med) split++;
  let i = split - 1; // walks down: deviation med - b[i] ascending
  let j = split; // walks up: deviation b[j] - med ascending
  const want = (n - 1) / 2;
  const lo = Math.floor(want);
  let a = NaN;
  let c = NaN;
  for (let r = 0; r <= lo + 1 && r < n; r++) {
    const dl = i >= 0 ? med - b[i]! : Infinity;
    const du = j < n ? b[j]! - med : Infinity;
    let d: number;
    if (dl <= du) {
      d = dl;
      i--;
    } else {
      d = du;
      j++;
    }
    if (r === lo) a = d;
    if (r === lo + 1) c = d;
  }
  return want === lo ? a : a + (want - lo) * (c - a);
}

export const outlierKernel: KernelFactory = (options) => new OutlierKernel(parseOutlierOptions(options));
