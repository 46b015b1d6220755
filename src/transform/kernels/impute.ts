/**
 * `impute`: fill missing values (rows whose value is NaN — not stale markers, not dropped rows)
 * by linear interpolation on the time axis, forward fill, backward fill, or the mean / median of
 * the trailing window. Nothing is imputed across a gap longer than `maxGap` (default 60 min) or
 * more than `limit` rows away from the value used. Imputed rows are flagged (`imputed`) and
 * counted; rows left NaN are dropped as `missing` unless `dropUnfilled: false`.
 * Semantics and ordering rules: docs/TRANSFORMS.md#impute.
 *
 * Look-ahead: `linear` and `bfill` need the next valid sample, which may lie after the batch.
 * The kernel exposes `lookaheadMs` (= maxGap) for that; rows whose next value is not in the batch
 * are treated as unfillable unless the engine supplies trailing context rows (FLAG_HALO rows after
 * a run's own rows), which this kernel reads like leading halo.
 */
import { FLAG_DROPPED, RUN_STRIDE } from '../../batch/layout.js';
import type { Kernel, KernelContext, KernelFactory } from '../kernel.js';
import { checkKnown, optBool, optInt, optString, optDuration } from './options.js';
import { STALE_NAN_HI, STALE_NAN_LO } from './validate.js';
import { SortedWindow } from './window/sorted-window.js';

const K = 'impute';
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export type ImputeMethod = 'linear' | 'ffill' | 'bfill' | 'mean' | 'median';

export interface ImputeOptions {
  method: ImputeMethod;
  /** Max rows between a missing row and the value used (pandas `limit`). */
  limit: number;
  maxGapMs: number;
  /** Trailing rows for mean / median. */
  window: number;
  dropUnfilled: boolean;
  flag: boolean;
}

export function parseImputeOptions(o: Record<string, unknown>): ImputeOptions {
  checkKnown(o, K, ['method', 'limit', 'maxGap', 'window', 'dropUnfilled', 'flag']);
  return {
    method: optString<ImputeMethod>(o, 'method', K, 'linear', ['linear', 'ffill', 'bfill', 'mean', 'median']),
    limit: o['limit'] === undefined ? Infinity : optInt(o, 'limit', K, 1, 1),
    maxGapMs: o['maxGap'] === undefined ? 3_600_000 : optDuration(o['maxGap'], K, 'maxGap', true),
    window: optInt(o, 'window', K, 60, 1, 100_000),
    dropUnfilled: optBool(o, 'dropUnfilled', K, true),
    flag: optBool(o, 'flag', K, true),
  };
}

export class ImputeKernel implements Kernel {
  readonly name = K;
  readonly outputs: readonly string[] = [];
  readonly haloSamples: number;
  readonly haloMs: number;
  /** Context needed AFTER a batch's rows (linear / bfill). Not yet part of the Kernel contract. */
  readonly lookaheadMs: number;
  private readonly sorted = new SortedWindow(64);

  constructor(readonly opts: ImputeOptions) {
    const m = opts.method;
    this.haloMs = m === 'bfill' ? 0 : opts.maxGapMs;
    this.haloSamples = m === 'mean' || m === 'median' ? opts.window : m === 'bfill' ? 0 : Number.isFinite(opts.limit) ? opts.limit : 0;
    this.lookaheadMs = m === 'linear' || m === 'bfill' ? opts.maxGapMs : 0;
  }

  run(ctx: KernelContext): void {
    const { flags, value, ts, runs } = ctx;
    const len = ctx.length;
    if (len === 0) return;
    const bits = new Uint32Array(value.buffer, value.byteOffset, len * 2);
    const hi = LITTLE_ENDIAN ? 1 : 0;
    const lo = LITTLE_ENDIAN ? 0 : 1;
    // x: the original values (NaN where dropped); fills are computed from x only, so an imputed
    // value never feeds another imputation.
    const x = ctx.scratchF64(len, 0);
    const fill = ctx.scratchF64(len, 1);
    const missing = ctx.scratchI32(len, 0);
    const nanBit = ctx.flagBit('nan');
    for (let i = 0; i < len; i++) {
      const f = flags[i]!;
      const v = value[i]!;
      x[i] = f & FLAG_DROPPED ? NaN : v;
      const isMissing = (f & FLAG_DROPPED) === 0 && v !== v && !(bits[2 * i + hi] === STALE_NAN_HI && bits[2 * i + lo] === STALE_NAN_LO);
      missing[i] = isMissing ? 1 : 0;
      fill[i] = NaN;
      // validate (nan: flag) already counted this one as missing
      if (isMissing && (f & nanBit) === 0) ctx.count(i, 'missing');
    }
    for (let r = 0; r < ctx.runCount; r++) {
      const o = r * RUN_STRIDE;
      const start = runs[o + 1]!;
      this.fillRun(ts, x, missing, fill, start, start + runs[o + 3]!);
    }
    const imputedBit = ctx.flagBit('imputed');
    for (let i = 0; i < len; i++) {
      if (missing[i] === 0) continue;
      const v = fill[i]!;
      if (v === v) {
        value[i] = v;
        if (this.opts.flag) flags[i] = flags[i]! | imputedBit;
        ctx.count(i, 'imputed');
      } else if (this.opts.dropUnfilled) {
        ctx.drop(i, 'missing');
      }
    }
  }

  private fillRun(ts: Float64Array, x: Float64Array, missing: Int32Array, fill: Float64Array, start: number, end: number): void {
    const { method, limit, maxGapMs, window } = this.opts;
    // next valid row at or after each position, computed right to left (linear / bfill)
    let prev = -1;
    if (method === 'linear' || method === 'bfill') {
      let next = -1;
      for (let i = end - 1; i >= start; i--) {
        if (x[i]! === x[i]!) {
          next = i;
          continue;
        }
        if (missing[i] === 0) continue;
        fill[i] = next; // temporarily: index of the next valid row (-1 = none)
      }
    }
    const sw = this.sorted;
    sw.clear();
    for (let i = start; i < end; i++) {
      const v = x[i]!;
      if (method === 'mean' || method === 'median') {
        // trailing window of `window` rows before i, valid values only
        const out = i - window - 1;
        if (out >= start) {
          const ov = x[out]!;
          if (ov === ov) sw.remove(ov);
        }
        if (i - 1 >= start) {
          const iv = x[i - 1]!;
          if (iv === iv) sw.insert(iv);
        }
      }
      if (v === v) {
        prev = i;
        continue;
      }
      if (missing[i] === 0) continue;
      const t = ts[i]!;
      const prevOk = prev >= 0 && i - prev <= limit && t - ts[prev]! <= maxGapMs;
      let out = NaN;
      switch (method) {
        case 'ffill':
          if (prevOk) out = x[prev]!;
          break;
        case 'bfill': {
          const nx = fill[i]!;
          if (nx >= 0 && nx - i <= limit && ts[nx]! - t <= maxGapMs) out = x[nx]!;
          break;
        }
        case 'linear': {
          const nx = fill[i]!;
          if (prev >= 0 && nx >= 0 && i - prev <= limit && ts[nx]! - ts[prev]! <= maxGapMs) {
            const t0 = ts[prev]!;
            const t1 = ts[nx]!;
            const v0 = x[prev]!;
            out = t1 === t0 ? v0 : v0 + ((x[nx]! - v0) * (t - t0)) / (t1 - t0);
          }
          break;
        }
        case 'mean':
          if (prevOk && sw.size > 0) {
            let s = 0;
            for (let k = 0; k < sw.size; k++) s += sw.buf[k]!;
            out = s / sw.size;
          }
          break;
        case 'median':
          if (prevOk && sw.size > 0) {
            const m = sw.size;
            const h = (m - 1) / 2;
            const a = Math.floor(h);
            out = h === a ? sw.at(a) : (sw.at(a) + sw.at(a + 1)) / 2;
          }
          break;
      }
      fill[i] = out;
    }
  }
}

export const imputeKernel: KernelFactory = (options) => new ImputeKernel(parseImputeOptions(options));
