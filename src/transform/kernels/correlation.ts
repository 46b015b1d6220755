/**
 * Window correlation features (docs/TRANSFORMS.md#autocorr and #correlate):
 *  - `autocorr`: per series, the Pearson correlation of (x[j], x[j − k]) over the rows j of a
 *    sample window, at configured lags k;
 *  - `correlate`: between two series joined on equal timestamps (as `ratio`): rolling Pearson
 *    correlation, sample covariance, and lead/lag cross-correlation at configured lags.
 *
 * Every value is computed from its own window's pairs only (two passes: means, then centred
 * co-moments), so it is bit-identical under any batch split and accurate for large offsets. O(w)
 * per row: hand-written index loops over typed arrays, no objects per sample. (An O(1) sliding
 * co-moment would carry rounding from rows before the window and differ between batch splits.)
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

/** Scratch size for the pair indices: the largest sample window, or the batch for time windows. */
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
 * Pearson correlation (mode 0) or sample covariance (mode 1) of the pairs (a[ia[m]], b[ib[m]]),
 * m < n, both already valid. Two passes; NaN when undefined (n < 2; correlation also when either
 * side has zero spread).
 */
function pairStat(a: Float64Array, b: Float64Array, ia: Int32Array, ib: Int32Array, n: number, mode: number): number {
  if (n < 2) return NaN;
  let sa = 0;
  let sb = 0;
  for (let m = 0; m < n; m++) {
    sa += a[ia[m]!]!;
    sb += b[ib[m]!]!;
  }
  const ma = sa / n;
  const mb = sb / n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let m = 0; m < n; m++) {
    const da = a[ia[m]!]! - ma;
    const db = b[ib[m]!]! - mb;
    sab += da * db;
    saa += da * da;
    sbb += db * db;
  }
  if (mode === 1) return sab / (n - 1);
  return saa > 0 && sbb > 0 ? sab / Math.sqrt(saa * sbb) : NaN;
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
    const ia = ctx.scratchI32(size, 0);
    const ib = ctx.scratchI32(size, 1);
    const { runs, ts } = ctx;
    for (const w of this.opts.windows) {
      const minP = minPairs(w, this.opts.minPeriods);
      for (const k of this.opts.lags) {
        const out = ctx.feature(`${this.opts.prefix}autocorr_${k}_${w.label}`);
        for (let r = 0; r < ctx.runCount; r++) {
          const start = runs[r * RUN_STRIDE + 1]!;
          const end = start + runs[r * RUN_STRIDE + 3]!;
          let lo = start;
          for (let i = w.samples > 0 ? start + w.samples - 1 : start; i < end; i++) {
            // sample window: j − k may precede the window (halo w − 1 + k); time window: both in it
            let from: number;
            if (w.samples > 0) from = Math.max(i - w.samples + 1, start + k);
            else {
              const edge = ts[i]! - w.ms;
              while (ts[lo]! <= edge) lo++;
              from = lo + k;
            }
            let n = 0;
            for (let j = from; j <= i; j++) {
              const v = x[j]!;
              const u = x[j - k]!;
              if (v !== v || u !== u) continue;
              ia[n] = j;
              ib[n] = j - k;
              n++;
            }
            out[i] = n >= minP ? pairStat(x, x, ia, ib, n, 0) : NaN;
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
    const pairs = { ia: ctx.scratchI32(size, 0), ib: ctx.scratchI32(size, 1) };
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
      for (const w of this.opts.windows) {
        const minP = minPairs(w, this.opts.minPeriods);
        const p = this.opts.output;
        const corr = this.opts.stats.includes('corr') ? ctx.feature(`${p}_corr_${w.label}`) : undefined;
        const cov = this.opts.stats.includes('cov') ? ctx.feature(`${p}_cov_${w.label}`) : undefined;
        if (corr || cov) pairWindowLag0(x, ts, partner, aStart, aEnd, w, minP, corr, cov);
        for (const l of this.opts.lags) pairWindow(x, ts, partner, pairs, aStart, aEnd, bStart, w, l, minP, 0, ctx.feature(`${p}_xcorr_${l}_${w.label}`));
      }
    }
  }
}

/**
 * corr and cov at lag 0 in one sweep: both come from the same pairs (x[j], y[partner[j]]), so the
 * two passes (means, then centred co-moments) are shared, and no pair index lists are needed. The
 * hot loop of `correlate` (benchmarks/features-polars.ts measures it).
 */
function pairWindowLag0(
  x: Float64Array, ts: Float64Array, partner: Int32Array, aStart: number, aEnd: number, w: WindowSpec, minP: number,
  corr: Float64Array | undefined, cov: Float64Array | undefined,
): void {
  let lo = aStart;
  for (let i = w.samples > 0 ? aStart + w.samples - 1 : aStart; i < aEnd; i++) {
    let from = i - w.samples + 1;
    if (w.samples === 0) {
      const edge = ts[i]! - w.ms;
      while (ts[lo]! <= edge) lo++;
      from = lo;
    }
    let n = 0;
    let sa = 0;
    let sb = 0;
    for (let j = from; j <= i; j++) {
      const pj = partner[j]!;
      if (pj < 0) continue;
      const u = x[j]!;
      const v = x[pj]!;
      if (u !== u || v !== v) continue;
      sa += u;
      sb += v;
      n++;
    }
    if (n < minP || n < 2) {
      if (corr) corr[i] = NaN;
      if (cov) cov[i] = NaN;
      continue;
    }
    const ma = sa / n;
    const mb = sb / n;
    let sab = 0;
    let saa = 0;
    let sbb = 0;
    for (let j = from; j <= i; j++) {
      const pj = partner[j]!;
      if (pj < 0) continue;
      const u = x[j]!;
      const v = x[pj]!;
      if (u !== u || v !== v) continue;
      const da = u - ma;
      const db = v - mb;
      sab += da * db;
      saa += da * da;
      sbb += db * db;
    }
    if (cov) cov[i] = sab / (n - 1);
    if (corr) corr[i] = saa > 0 && sbb > 0 ? sab / Math.sqrt(saa * sbb) : NaN;
  }
}

/**
 * One pair feature over x's run [aStart, aEnd) joined to y (rows from bStart) through `partner`.
 * lag >= 0: x[j] with y `lag` rows before j's partner (y leads x); lag < 0: x `-lag` rows before j
 * with y at j's partner (x leads y). Causal either way. Sample windows may reach |lag| rows before
 * the window (halo w − 1 + |lag|); time windows take a shifted row only if it is inside the window.
 */
function pairWindow(
  x: Float64Array, ts: Float64Array, partner: Int32Array, pairs: { ia: Int32Array; ib: Int32Array },
  aStart: number, aEnd: number, bStart: number, w: WindowSpec, lag: number, minP: number, mode: number, out: Float64Array,
): void {
  const { ia, ib } = pairs;
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
      ia[n] = xi;
      ib[n] = yi;
      n++;
    }
    out[i] = n >= minP ? pairStat(x, x, ia, ib, n, mode) : NaN;
  }
}

export const autocorrKernel: KernelFactory = (options) => new AutocorrKernel(parseAutocorrOptions(options));
export const correlateKernel: KernelFactory = (options) => new CorrelateKernel(parseCorrelateOptions(options));
