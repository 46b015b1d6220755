/**
 * `validate`: per-row cleaning rules (NaN, ±Inf, Prometheus stale markers, counter type checks,
 * per-metric range rules, timestamp order / future / gap rules) and cross-series business rules.
 * Every failing row gets its rule's action: drop (counted by rule name), flag (flag bit + counter)
 * or clip (value rewritten + counter). Semantics: docs/TRANSFORMS.md#validate.
 */
import { FLAG_DROPPED, RUN_STRIDE, SeriesKind } from '../../batch/layout.js';
import type { Kernel, KernelContext, KernelFactory } from '../kernel.js';
import { actionTarget, applyAction, type ActionTarget } from './actions.js';
import { businessRules, runBusinessRules, type BusinessRule } from './business.js';
import {
  asRecord,
  checkKnown,
  optAction,
  optBool,
  optInt,
  optNumber,
  optRegex,
  optDuration,
  TransformOptionError,
  type RuleAction,
} from './options.js';
import { isCounterLike, metricName, parseSeriesKey } from './series-info.js';

const K = 'validate';

/** Prometheus' staleness marker: a NaN with this exact bit pattern (value.StaleNaN). */
export const STALE_NAN_HI = 0x7ff00000;
export const STALE_NAN_LO = 0x00000002;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Write a stale marker into `values[i]` bit-exactly (a JS NaN literal would lose the payload). */
export function writeStaleNaN(values: Float64Array, i: number): void {
  const w = new Uint32Array(values.buffer, values.byteOffset + i * 8, 2);
  w[LITTLE_ENDIAN ? 0 : 1] = STALE_NAN_LO;
  w[LITTLE_ENDIAN ? 1 : 0] = STALE_NAN_HI;
}

interface RangeRule extends ActionTarget {
  readonly match: RegExp;
  readonly min: number;
  readonly max: number;
  readonly exclusiveMin: boolean;
  readonly exclusiveMax: boolean;
}

export interface ValidateOptions {
  nan: RuleAction;
  inf: RuleAction;
  stale: RuleAction;
  types: RuleAction;
  order: RuleAction;
  orderLookback: number;
  future: RuleAction;
  futureToleranceMs: number;
  gap: RuleAction;
  gapMaxMs: number;
  ranges: RangeRule[];
  business: BusinessRule[];
}

function parseRule(v: unknown, key: string, def: RuleAction, allowed: readonly RuleAction[]): { action: RuleAction; o: Record<string, unknown> } {
  if (v === undefined || typeof v === 'string' || v === false) {
    return { action: v === false ? 'off' : optAction(v, K, key, def, allowed), o: {} };
  }
  const o = asRecord(v, K, key);
  return { action: optAction(o['action'], K, `${key}.action`, def, allowed), o };
}

export function parseValidateOptions(o: Record<string, unknown>): ValidateOptions {
  checkKnown(o, K, ['nan', 'inf', 'stale', 'types', 'order', 'future', 'gap', 'ranges', 'business']);
  const nan = parseRule(o['nan'], 'nan', 'drop', ['drop', 'flag', 'off']).action;
  const inf = parseRule(o['inf'], 'inf', 'drop', ['drop', 'flag', 'clip', 'off']).action;
  const stale = parseRule(o['stale'], 'stale', 'drop', ['drop', 'flag', 'off']).action;
  const types = parseRule(o['types'], 'types', 'drop', ['drop', 'flag', 'clip', 'off']).action;

  const ord = parseRule(o['order'], 'order', 'drop', ['drop', 'flag', 'off']);
  checkKnown(ord.o, `${K}.order`, ['action', 'lookback']);
  const orderLookback = optInt(ord.o, 'lookback', `${K}.order`, 1, 1, 4096);

  const fut = parseRule(o['future'], 'future', 'drop', ['drop', 'flag', 'off']);
  checkKnown(fut.o, `${K}.future`, ['action', 'tolerance']);
  const futureToleranceMs = fut.o['tolerance'] === undefined ? 300_000 : optDuration(fut.o['tolerance'], K, 'future.tolerance', true);

  // Gaps are off unless configured: a gap is information about the source, rarely a reason to drop.
  const gp = o['gap'] === undefined ? { action: 'off' as RuleAction, o: {} } : parseRule(o['gap'], 'gap', 'flag', ['drop', 'flag', 'off']);
  checkKnown(gp.o, `${K}.gap`, ['action', 'max']);
  if (gp.action !== 'off' && gp.o['max'] === undefined) throw new TransformOptionError(K, 'gap.max', 'is required when the gap rule is on (e.g. "10m")');
  const gapMaxMs = gp.action === 'off' ? Infinity : optDuration(gp.o['max'], K, 'gap.max', true);

  const ranges: RangeRule[] = [];
  const rr = o['ranges'];
  if (rr !== undefined) {
    if (!Array.isArray(rr)) throw new TransformOptionError(K, 'ranges', 'must be a list of { match, min?, max?, action? }');
    rr.forEach((raw, idx) => {
      const key = `ranges[${idx}]`;
      const r = asRecord(raw, K, key);
      checkKnown(r, `${K}.${key}`, ['match', 'min', 'max', 'exclusiveMin', 'exclusiveMax', 'action', 'name']);
      const name = r['name'] === undefined ? 'range' : String(r['name']);
      const action = optAction(r['action'], K, `${key}.action`, 'drop', ['drop', 'flag', 'clip', 'off']);
      const min = optNumber(r, 'min', `${K}.${key}`, -Infinity);
      const max = optNumber(r, 'max', `${K}.${key}`, Infinity);
      if (min > max) throw new TransformOptionError(K, key, `has min ${min} > max ${max}`);
      const exclusiveMin = optBool(r, 'exclusiveMin', `${K}.${key}`, false);
      const exclusiveMax = optBool(r, 'exclusiveMax', `${K}.${key}`, false);
      if (action === 'clip' && (exclusiveMin || exclusiveMax)) {
        throw new TransformOptionError(K, `${key}.action`, 'cannot be "clip" with an exclusive bound (there is no closest valid value); use "drop" or "flag"');
      }
      ranges.push({ ...actionTarget(name, action, 'range'), match: optRegex(r['match'], K, `${key}.match`), min, max, exclusiveMin, exclusiveMax });
    });
  }
  const business = businessRules(o['business'], K);
  return { nan, inf, stale, types, order: ord.action, orderLookback, future: fut.action, futureToleranceMs, gap: gp.action, gapMaxMs, ranges, business };
}

const EMPTY: readonly RangeRule[] = [];

export class ValidateKernel implements Kernel {
  readonly name = K;
  readonly outputs: readonly string[] = [];
  readonly haloSamples: number;
  readonly haloMs = 0;
  /** Pair business rules join lhs and rhs series (ordered rules stay within one metric). */
  readonly crossSeries: readonly (readonly RegExp[])[];
  private readonly nanT: ActionTarget;
  private readonly infT: ActionTarget;
  private readonly staleT: ActionTarget;
  private readonly typeT: ActionTarget;
  private readonly dupT: ActionTarget;
  private readonly oooT: ActionTarget;
  private readonly futureT: ActionTarget;
  private readonly gapT: ActionTarget;
  /** metric name → matching range rules. A cache of a pure function of the name, not batch state. */
  private readonly rangeCache = new Map<string, readonly RangeRule[]>();

  constructor(readonly opts: ValidateOptions) {
    this.crossSeries = opts.business.flatMap((r) => ('lhs' in r ? [[r.lhs, r.rhs]] : []));
    this.nanT = actionTarget('nan', opts.nan, 'nan');
    this.infT = actionTarget('inf', opts.inf, 'inf');
    this.staleT = actionTarget('stale', opts.stale, 'stale');
    this.typeT = actionTarget('type', opts.types, 'type');
    this.dupT = actionTarget('duplicate', opts.order, 'duplicate');
    this.oooT = actionTarget('out_of_order', opts.order, 'out_of_order');
    this.futureT = actionTarget('future', opts.future, 'future');
    this.gapT = actionTarget('gap', opts.gap, 'gap');
    // order needs the previous `lookback` raw timestamps; gap needs the previous one.
    this.haloSamples = Math.max(opts.order !== 'off' ? opts.orderLookback : 0, opts.gap !== 'off' ? 1 : 0);
  }

  private rangesFor(name: string): readonly RangeRule[] {
    let r = this.rangeCache.get(name);
    if (r === undefined) {
      const m = this.opts.ranges.filter((x) => x.action !== 'off' && x.match.test(name));
      r = m.length ? m : EMPTY;
      if (this.rangeCache.size > 100_000) this.rangeCache.clear();
      this.rangeCache.set(name, r);
    }
    return r;
  }

  run(ctx: KernelContext): void {
    const o = this.opts;
    const { flags, ts, value, runs } = ctx;
    // Stale markers are recognised by bit pattern, read through a Uint32 view of the same memory.
    const bits = new Uint32Array(value.buffer, value.byteOffset, ctx.length * 2);
    const hiOff = LITTLE_ENDIAN ? 1 : 0;
    const loOff = LITTLE_ENDIAN ? 0 : 1;
    const lb = o.order !== 'off' ? o.orderLookback : 0;
    const ring = ctx.scratchF64(Math.max(1, lb), 0);
    const futureLimit = o.future === 'off' ? Infinity : ctx.nowMs + o.futureToleranceMs;
    const gapMax = o.gapMaxMs;
    const checkNan = o.nan !== 'off';
    const checkStale = o.stale !== 'off';
    const checkInf = o.inf !== 'off';

    for (let r = 0; r < ctx.runCount; r++) {
      const ro = r * RUN_STRIDE;
      const s = runs[ro]!;
      const start = runs[ro + 1]!;
      const end = start + runs[ro + 3]!;
      const key = ctx.seriesKeys[s]!;
      const name = metricName(key);
      const ranges = this.rangesFor(name);
      const nRanges = ranges.length;
      let typeCheck = false;
      let typeAllBad = false;
      if (o.types !== 'off') {
        const kind = ctx.seriesKinds[s] ?? 0;
        typeCheck = isCounterLike(kind, key);
        // A histogram bucket series without `le` cannot be interpreted at all.
        if (kind === SeriesKind.histogram && name.endsWith('_bucket') && !('le' in parseSeriesKey(key).labels)) typeAllBad = true;
      }
      if (lb <= 1 && gapMax === Infinity && !typeCheck && nRanges === 0) {
        // Fast path for the default rules: one comparison per rule, one finiteness test per value.
        let prev = -Infinity;
        for (let i = start; i < end; i++) {
          const t = ts[i]!;
          const maxPrev = prev;
          prev = t;
          if (flags[i]! & FLAG_DROPPED) continue;
          if (t > futureLimit && applyAction(ctx, i, this.futureT)) continue;
          if (lb === 1 && t <= maxPrev && applyAction(ctx, i, t === maxPrev ? this.dupT : this.oooT)) continue;
          const v = value[i]!;
          if (v - v === 0) continue; // finite (v - v is NaN for NaN and ±Inf)
          this.nonFinite(ctx, i, v, bits, hiOff, loOff, ranges);
        }
        continue;
      }
      let ringN = 0;
      let ringPos = 0;
      let prevTs = NaN;

      for (let i = start; i < end; i++) {
        const t = ts[i]!;
        // Temporal rules compare with the previous raw rows (dropped or not): a pure function of
        // the `lookback` rows before, so the halo makes it batch-invariant.
        let maxPrev = -Infinity;
        for (let k = 0; k < ringN; k++) if (ring[k]! > maxPrev) maxPrev = ring[k]!;
        const gapFrom = prevTs;
        if (lb > 0) {
          ring[ringPos] = t;
          ringPos = ringPos + 1 === lb ? 0 : ringPos + 1;
          if (ringN < lb) ringN++;
        }
        prevTs = t;
        if (flags[i]! & FLAG_DROPPED) continue;

        if (t > futureLimit && applyAction(ctx, i, this.futureT)) continue;
        if (lb > 0 && t <= maxPrev) {
          if (applyAction(ctx, i, t === maxPrev ? this.dupT : this.oooT)) continue;
        }
        if (t - gapFrom > gapMax && applyAction(ctx, i, this.gapT)) continue;

        let v = value[i]!;
        if (v !== v) {
          const isStale = bits[2 * i + hiOff] === STALE_NAN_HI && bits[2 * i + loOff] === STALE_NAN_LO;
          if (isStale) {
            if (checkStale && applyAction(ctx, i, this.staleT)) continue;
          } else if (checkNan) {
            ctx.count(i, 'missing');
            if (applyAction(ctx, i, this.nanT)) continue;
          }
          continue; // NaN (kept by 'flag' or 'off') fails no value rule: comparisons are false.
        }
        if (checkInf && (v === Infinity || v === -Infinity)) {
          if (this.infT.action === 'clip') {
            v = this.clipInf(v, ranges);
            value[i] = v;
          }
          if (applyAction(ctx, i, this.infT)) continue;
        }
        if (typeCheck && (typeAllBad || v < 0)) {
          if (this.typeT.action === 'clip' && !typeAllBad) value[i] = v = 0;
          if (applyAction(ctx, i, this.typeT)) continue;
        }
        for (let k = 0; k < nRanges; k++) {
          const rr = ranges[k]!;
          const low = v < rr.min || (rr.exclusiveMin && v === rr.min);
          const high = v > rr.max || (rr.exclusiveMax && v === rr.max);
          if (low || high) {
            if (rr.action === 'clip') value[i] = v = low ? rr.min : rr.max;
            if (applyAction(ctx, i, rr)) break;
          }
        }
      }
    }
    if (o.business.length) runBusinessRules(ctx, o.business);
  }

  /** NaN / stale / ±Inf handling for the fast path (rare rows). */
  private nonFinite(ctx: KernelContext, i: number, v: number, bits: Uint32Array, hiOff: number, loOff: number, ranges: readonly RangeRule[]): void {
    if (v !== v) {
      if (bits[2 * i + hiOff] === STALE_NAN_HI && bits[2 * i + loOff] === STALE_NAN_LO) {
        if (this.opts.stale !== 'off') applyAction(ctx, i, this.staleT);
      } else if (this.opts.nan !== 'off') {
        ctx.count(i, 'missing');
        applyAction(ctx, i, this.nanT);
      }
      return;
    }
    if (this.opts.inf === 'off') return;
    if (this.infT.action === 'clip') ctx.value[i] = this.clipInf(v, ranges);
    applyAction(ctx, i, this.infT);
  }

  private clipInf(v: number, ranges: readonly RangeRule[]): number {
    for (const r of ranges) {
      if (v > 0 && Number.isFinite(r.max)) return r.max;
      if (v < 0 && Number.isFinite(r.min)) return r.min;
    }
    return v > 0 ? Number.MAX_VALUE : -Number.MAX_VALUE;
  }
}

export const validateKernel: KernelFactory = (options) => new ValidateKernel(parseValidateOptions(options));
