/**
 * `lags`: lag, as-of lag, difference and percentage-change features per series
 * (docs/TRANSFORMS.md#lags). Rows dropped by earlier steps are gone (the batch is compacted), so
 * "k rows back" counts surviving rows; a NaN kept by `validate` is a null slot and yields NaN.
 *  - `lag_k`        = x[i − k]                       (Polars `shift(k)`)
 *  - `diff_k`       = x[i] − x[i − k]                (Polars `diff(k)`)
 *  - `pct_change_k` = (x[i] − x[i − k]) / x[i − k]   (Polars `pct_change(k)` on null-free data);
 *                     NaN when x[i − k] is 0 (no ±Inf feature values)
 *  - `lag_<Δ>`      = the value of the latest row with ts ≤ t − Δ, if that row's ts ≥ t − Δ − tolerance
 *                     (an as-of join, Polars `join_asof(strategy="backward", tolerance)`), else NaN.
 * NaN when the run has fewer than k rows before i. Index loops over typed arrays; the as-of lag is a
 * forward-only pointer (timestamps ascend within a run), so O(1) amortised per row.
 */
import { FLAG_DROPPED, RUN_STRIDE } from '../../batch/layout.js';
import type { Kernel, KernelContext, KernelFactory } from '../kernel.js';
import { checkKnown, optDuration, TransformOptionError } from './options.js';

const K = 'lags';

export interface LagOptions {
  lags: number[];
  diffs: number[];
  pctChanges: number[];
  /** As-of lags: Δ in ms and the output label (the duration as written). */
  asOf: { ms: number; label: string }[];
  toleranceMs: number;
  prefix: string;
}

function intList(v: unknown, key: string): number[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'number' || !Number.isInteger(x) || x < 1 || x > 1_000_000)) {
    throw new TransformOptionError(K, key, `must be a list of whole numbers of rows >= 1, got ${JSON.stringify(v)}`);
  }
  if (new Set(v).size !== v.length) throw new TransformOptionError(K, key, `lists a value twice: ${JSON.stringify(v)}`);
  return v as number[];
}

export function parseLagOptions(o: Record<string, unknown>): LagOptions {
  checkKnown(o, K, ['lags', 'diffs', 'pctChanges', 'asOf', 'tolerance', 'prefix']);
  const lags = intList(o['lags'], 'lags');
  const diffs = intList(o['diffs'], 'diffs');
  const pctChanges = intList(o['pctChanges'], 'pctChanges');
  const rawAsOf = o['asOf'] ?? [];
  if (!Array.isArray(rawAsOf)) throw new TransformOptionError(K, 'asOf', `must be a list of durations like ["1h", "1d"], got ${JSON.stringify(rawAsOf)}`);
  const asOf = rawAsOf.map((d, i) => ({ ms: optDuration(d, K, `asOf[${i}]`), label: String(d) }));
  if (new Set(asOf.map((a) => a.label)).size !== asOf.length) throw new TransformOptionError(K, 'asOf', 'lists a duration twice');
  if (lags.length + diffs.length + pctChanges.length + asOf.length === 0) {
    throw new TransformOptionError(K, 'lags', 'nothing to compute: give at least one of lags, diffs, pctChanges, asOf');
  }
  const toleranceMs = o['tolerance'] === undefined ? 0 : optDuration(o['tolerance'], K, 'tolerance', true);
  const prefix = o['prefix'] === undefined ? '' : String(o['prefix']);
  return { lags, diffs, pctChanges, asOf, toleranceMs, prefix };
}

export class LagKernel implements Kernel {
  readonly name = K;
  readonly outputs: readonly string[];
  readonly haloSamples: number;
  readonly haloMs: number;

  constructor(readonly opts: LagOptions) {
    const p = opts.prefix;
    this.outputs = [
      ...opts.lags.map((k) => `${p}lag_${k}`),
      ...opts.asOf.map((a) => `${p}lag_${a.label}`),
      ...opts.diffs.map((k) => `${p}diff_${k}`),
      ...opts.pctChanges.map((k) => `${p}pct_change_${k}`),
    ];
    this.haloSamples = Math.max(0, ...opts.lags, ...opts.diffs, ...opts.pctChanges);
    // the as-of row may lie up to Δ + tolerance before t; the source sends every row within haloMs
    this.haloMs = opts.asOf.length > 0 ? Math.max(...opts.asOf.map((a) => a.ms)) + opts.toleranceMs : 0;
  }

  run(ctx: KernelContext): void {
    const { flags, value, ts, runs } = ctx;
    const len = ctx.length;
    if (len === 0) return;
    // Rows dropped by earlier steps are compacted away; rows are never dropped by this step, but be
    // safe against a caller that did not compact: treat flagged rows as NaN.
    const x = ctx.scratchF64(len, 0);
    for (let i = 0; i < len; i++) x[i] = flags[i]! & FLAG_DROPPED ? NaN : value[i]!;
    const p = this.opts.prefix;
    const tol = this.opts.toleranceMs;
    for (let r = 0; r < ctx.runCount; r++) {
      const start = runs[r * RUN_STRIDE + 1]!;
      const end = start + runs[r * RUN_STRIDE + 3]!;
      for (const k of this.opts.lags) {
        const out = ctx.feature(`${p}lag_${k}`);
        for (let i = start + k; i < end; i++) out[i] = x[i - k]!;
      }
      for (const k of this.opts.diffs) {
        const out = ctx.feature(`${p}diff_${k}`);
        for (let i = start + k; i < end; i++) out[i] = x[i]! - x[i - k]!;
      }
      for (const k of this.opts.pctChanges) {
        const out = ctx.feature(`${p}pct_change_${k}`);
        for (let i = start + k; i < end; i++) {
          const b = x[i - k]!;
          out[i] = b === 0 ? NaN : (x[i]! - b) / b;
        }
      }
      for (const a of this.opts.asOf) {
        const out = ctx.feature(`${p}lag_${a.label}`);
        // j = the first row with ts > t − Δ; the as-of row is j − 1
        let j = start;
        for (let i = start; i < end; i++) {
          const target = ts[i]! - a.ms;
          while (j < end && ts[j]! <= target) j++;
          const m = j - 1;
          out[i] = m >= start && ts[m]! >= target - tol ? x[m]! : NaN;
        }
      }
    }
  }
}

export const lagKernel: KernelFactory = (options) => new LagKernel(parseLagOptions(options));
