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
import { checkKnown, optInt, optRegex, optString, optStringList, TransformOptionError } from './options.js';
import { labelSignature, metricName, parseSeriesKey } from './series-info.js';

function windowList(v: unknown, kernel: string, def: number[]): number[] {
  if (v === undefined) return def;
  if (!Array.isArray(v) || v.length === 0 || v.some((x) => typeof x !== 'number' || !Number.isInteger(x) || x < 2 || x > 100_000)) {
    throw new TransformOptionError(kernel, 'windows', `must be a non-empty list of sample counts >= 2, got ${JSON.stringify(v)}`);
  }
  if (new Set(v).size !== v.length) throw new TransformOptionError(kernel, 'windows', 'lists a window twice');
  return v as number[];
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
  windows: number[];
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
  readonly haloMs = 0;

  constructor(readonly opts: AutocorrOptions) {
    this.outputs = opts.windows.flatMap((w) => opts.lags.map((k) => `${opts.prefix}autocorr_${k}_${w}`));
    this.haloSamples = Math.max(...opts.windows) - 1 + Math.max(...opts.lags);
  }

  run(ctx: KernelContext): void {
    const len = ctx.length;
    if (len === 0) return;
    const x = validValues(ctx);
    const maxW = Math.max(...this.opts.windows);
    const ia = ctx.scratchI32(maxW, 0);
    const ib = ctx.scratchI32(maxW, 1);
    const { runs } = ctx;
    for (const w of this.opts.windows) {
      const minP = Math.min(this.opts.minPeriods ?? w, w);
      for (const k of this.opts.lags) {
        const out = ctx.feature(`${this.opts.prefix}autocorr_${k}_${w}`);
        for (let r = 0; r < ctx.runCount; r++) {
          const start = runs[r * RUN_STRIDE + 1]!;
          const end = start + runs[r * RUN_STRIDE + 3]!;
          for (let i = start + w - 1; i < end; i++) {
            let n = 0;
            for (let j = Math.max(i - w + 1, start + k); j <= i; j++) {
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
  windows: number[];
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
  readonly haloMs = 0;

  constructor(readonly opts: CorrelateOptions) {
    const p = opts.output;
    this.outputs = opts.windows.flatMap((w) => [...opts.stats.map((s) => `${p}_${s}_${w}`), ...opts.lags.map((l) => `${p}_xcorr_${l}_${w}`)]);
    this.haloSamples = Math.max(...opts.windows) - 1 + Math.max(0, ...opts.lags.map(Math.abs));
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
    if (xs.length === 0 || ys.size === 0) return;
    const x = validValues(ctx);
    // partner[i] = the y row at x row i's timestamp, or -1
    const partner = ctx.scratchI32(len, 2);
    const maxW = Math.max(...this.opts.windows);
    const ia = ctx.scratchI32(maxW, 0);
    const ib = ctx.scratchI32(maxW, 1);
    const p = this.opts.output;
    for (const a of xs) {
      const b = ys.get(sigOf(a));
      if (b === undefined || b === a) continue;
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
        const minP = Math.min(this.opts.minPeriods ?? w, w);
        const cols: { out: Float64Array; mode: number; lag: number }[] = [
          ...this.opts.stats.map((s) => ({ out: ctx.feature(`${p}_${s}_${w}`), mode: s === 'cov' ? 1 : 0, lag: 0 })),
          ...this.opts.lags.map((l) => ({ out: ctx.feature(`${p}_xcorr_${l}_${w}`), mode: 0, lag: l })),
        ];
        for (const c of cols) {
          const lag = c.lag;
          const out = c.out;
          for (let i = aStart + w - 1; i < aEnd; i++) {
            let n = 0;
            for (let j = i - w + 1; j <= i; j++) {
              // lag >= 0: x[j] with y `lag` rows before j's partner (y leads x);
              // lag < 0:  x `-lag` rows before j with y at j's partner (x leads y). Causal either way.
              const xi = lag >= 0 ? j : j + lag;
              if (xi < aStart) continue;
              const pj = partner[j]!;
              if (pj < 0) continue;
              const yi = lag >= 0 ? pj - lag : pj;
              if (yi < bStart) continue;
              const u = x[xi]!;
              const v = x[yi]!;
              if (u !== u || v !== v) continue;
              ia[n] = xi;
              ib[n] = yi;
              n++;
            }
            out[i] = n >= minP ? pairStat(x, x, ia, ib, n, c.mode) : NaN;
          }
        }
      }
    }
  }
}

export const autocorrKernel: KernelFactory = (options) => new AutocorrKernel(parseAutocorrOptions(options));
export const correlateKernel: KernelFactory = (options) => new CorrelateKernel(parseCorrelateOptions(options));
