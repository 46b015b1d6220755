/**
 * `ratio`: error-rate ratio of two counter series that share labels, e.g.
 * rate(http_errors_total[5m]) / rate(http_requests_total[5m]), written as a feature column on the
 * numerator series' rows (NaN elsewhere, and where the denominator's rate is 0 or missing).
 * Rates are PromQL's (extrapolated over time windows, reset-aware); series are paired per batch by
 * label signature and joined on equal timestamps.
 */
import { FLAG_DROPPED, RUN_STRIDE } from '../../batch/layout.js';
import type { Kernel, KernelContext, KernelFactory } from '../kernel.js';
import { checkKnown, optBool, optRegex, optString, optStringList, parseWindow, TransformOptionError, type WindowSpec } from './options.js';
import { extrapolatedDelta } from './promql-rate.js';
import { countUnpaired, isCounterLike, labelSignature, metricName, parseSeriesKey } from './series-info.js';

const K = 'ratio';

export interface RatioOptions {
  numerator: RegExp;
  denominator: RegExp;
  on: string[] | undefined;
  ignoring: string[] | undefined;
  window: WindowSpec;
  output: string;
  counterAware: boolean;
}

export function parseRatioOptions(o: Record<string, unknown>): RatioOptions {
  checkKnown(o, K, ['numerator', 'denominator', 'on', 'ignoring', 'window', 'output', 'counterAware']);
  const on = optStringList(o['on'], K, 'on');
  const ignoring = optStringList(o['ignoring'], K, 'ignoring');
  if (on && ignoring) throw new TransformOptionError(K, 'on', 'cannot be combined with `ignoring`');
  return {
    numerator: optRegex(o['numerator'], K, 'numerator'),
    denominator: optRegex(o['denominator'], K, 'denominator'),
    on,
    ignoring,
    window: parseWindow(o['window'] ?? '5m', K, 'window'),
    output: optString(o, 'output', K, 'error_ratio'),
    counterAware: optBool(o, 'counterAware', K, true),
  };
}

/**
 * Per-row rate of one run into out[start..end): reset-aware delta over the window divided by the
 * window (time windows, PromQL extrapolation) or by the covered time (sample windows).
 */
export function rateOfRun(ts: Float64Array, x: Float64Array, start: number, end: number, w: WindowSpec, counter: boolean, out: Float64Array): void {
  let lo = start;
  for (let i = start; i < end; i++) {
    const ti = ts[i]!;
    if (w.samples > 0) lo = Math.max(start, i - w.samples + 1);
    else while (lo < i && ts[lo]! <= ti - w.ms) lo++;
    let n = 0;
    let firstV = NaN;
    let firstT = NaN;
    let lastV = NaN;
    let lastT = NaN;
    let later = NaN;
    let resets = 0;
    for (let j = i; j >= lo; j--) {
      const v = x[j]!;
      if (v !== v) continue;
      if (++n === 1) {
        lastV = v;
        lastT = ts[j]!;
      } else if (counter && later < v) resets += v;
      later = v;
      firstV = v;
      firstT = ts[j]!;
    }
    let r = NaN;
    if (n >= 2) {
      const delta = lastV - firstV + resets;
      if (w.ms > 0) r = extrapolatedDelta(delta, n, firstT, firstV, lastT, ti - w.ms, ti, counter) / (w.ms / 1000);
      else if (lastT > firstT) r = delta / ((lastT - firstT) / 1000);
    }
    out[i] = r;
  }
}

export class RatioKernel implements Kernel {
  readonly name = K;
  readonly outputs: readonly string[];
  readonly haloSamples: number;
  readonly haloMs: number;

  readonly crossSeries: readonly (readonly RegExp[])[];

  constructor(readonly opts: RatioOptions) {
    this.crossSeries = [[opts.numerator, opts.denominator]];
    this.outputs = [opts.output];
    this.haloSamples = opts.window.samples > 0 ? opts.window.samples - 1 : 0;
    this.haloMs = opts.window.ms;
  }

  run(ctx: KernelContext): void {
    const out = ctx.feature(this.opts.output);
    const { flags, value, ts, runs } = ctx;
    const len = ctx.length;
    if (len === 0) return;
    const n = ctx.runCount;
    const sigOf = (r: number): string => labelSignature(parseSeriesKey(ctx.seriesKeys[runs[r * RUN_STRIDE]!]!).labels, this.opts.on, this.opts.ignoring);
    const dens = new Map<string, number>();
    const nums: number[] = [];
    for (let r = 0; r < n; r++) {
      const name = metricName(ctx.seriesKeys[runs[r * RUN_STRIDE]!]!);
      if (this.opts.denominator.test(name)) {
        const s = sigOf(r);
        if (!dens.has(s)) dens.set(s, r);
      }
      if (this.opts.numerator.test(name)) nums.push(r);
    }
    if (nums.length === 0) return;
    const x = ctx.scratchF64(len, 0);
    for (let i = 0; i < len; i++) x[i] = flags[i]! & FLAG_DROPPED ? NaN : value[i]!;
    const rate = ctx.scratchF64(len, 1);
    const done = new Set<number>();
    const rateOf = (r: number): void => {
      if (done.has(r)) return;
      done.add(r);
      const o = r * RUN_STRIDE;
      const s = runs[o]!;
      const counter = !this.opts.counterAware || isCounterLike(ctx.seriesKinds[s] ?? 0, ctx.seriesKeys[s]!);
      const start = runs[o + 1]!;
      const end = start + runs[o + 3]!;
      if (counter) rateOfRun(ts, x, start, end, this.opts.window, counter, rate);
      else rate.fill(NaN, start, end);
    };
    for (const a of nums) {
      const b = dens.get(sigOf(a));
      if (b === undefined || b === a) {
        countUnpaired(ctx, a, K);
        continue;
      }
      rateOf(a);
      rateOf(b);
      // merge-join on equal timestamps
      let i = runs[a * RUN_STRIDE + 1]!;
      const iEnd = i + runs[a * RUN_STRIDE + 3]!;
      let j = runs[b * RUN_STRIDE + 1]!;
      const jEnd = j + runs[b * RUN_STRIDE + 3]!;
      while (i < iEnd && j < jEnd) {
        const ti = ts[i]!;
        const tj = ts[j]!;
        if (ti < tj) i++;
        else if (tj < ti) j++;
        else {
          const d = rate[j]!;
          out[i] = d > 0 ? rate[i]! / d : NaN;
          i++;
          j++;
        }
      }
    }
  }
}

export const ratioKernel: KernelFactory = (options) => new RatioKernel(parseRatioOptions(options));
