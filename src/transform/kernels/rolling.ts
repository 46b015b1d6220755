/**
 * `rolling`: per-series window features over sample windows (last N rows) and time windows
 * (rows with ts in (t - W, t]): mean, std, var, sum, count, min, max, percentiles, EWMA, slope,
 * z-score, momentum, and counter-aware rate / increase. Semantics: docs/TRANSFORMS.md#rolling.
 *
 * Hot path, hand-written (a library would allocate per window or per sample, and a generic
 * per-row dispatcher deoptimises as soon as two rolling steps with different stats share it):
 * one small monomorphic loop per stat family and window, over typed arrays only. Every stat is
 * O(1) amortised per row at any window length, percentiles included, and every result is a pure
 * function of its window's contents, so outputs are bit-identical whatever the batch split:
 *  - moments (mean/std/var/sum/z-score), slope and EWMA: split windows (wasm/rolling.as.ts
 *    splitRun): each window is cut at the most aligned timestamp in its span, the part after
 *    the cut summed forwards from its first row, the part before it backwards from its last, both
 *    shifted by the same anchor (the cut row's value and time), so the window's sums are the two
 *    parts' sums added; both parts start at rows the data fixes. Cuts move about once per half
 *    window, so the refolds cost O(1) amortised. A sliding add/remove sum would carry rounding
 *    history from rows before the window and differ between batch splits. Edges, valid counts
 *    and first/last valid rows are integer running state in the same pass.
 *  - valid counts: integer prefix sums (exact), so min_periods checks are O(1).
 *  - min/max: van Herk / Gil-Werman prefix and suffix extremes around a moving cut (wasm
 *    extremes), O(1) amortised, no deque, exact whatever the cut.
 *  - percentiles: an incrementally maintained order-statistic structure: a sorted array for
 *    windows of <= 64 samples, beyond (and for time windows) per-quantile cursors over the
 *    run's radix-sorted value slots with an occupancy bitmap (wasm rankRun / quantilesRank,
 *    O(1) amortised per step).
 *  - rate/increase: first/last valid rows from per-run tables, resets summed newest first
 *    (O(1 + resets in the window)).
 * Halo rows (each run's first `halo` rows) only build the loops' window state; nothing is written
 * there. The loops (split windows, min/max, percentiles, valid counts, sample edges) are AssemblyScript
 * compiled to WebAssembly: V8 runs the same loop written over typed arrays at about half the
 * speed of its wasm tier (bounds checks, tagged indices, spilled registers).
 */
import { FLAG_DROPPED, RUN_STRIDE } from '../../batch/layout.js';
import type { Kernel, KernelContext, KernelFactory } from '../kernel.js';
import { checkKnown, optBool, optInt, optNumber, parseWindow, TransformOptionError, type WindowSpec } from './options.js';
import { extrapolatedDelta } from './promql-rate.js';
import { isCounterLike } from './series-info.js';
import { rankScratch, rollingArena } from './wasm/arena.js';

const K = 'rolling';
/** Sample windows up to this size keep a sorted array; larger ones (and time windows) cursors over value ranks. */
export const SORTED_WINDOW_MAX = 64;
/**
 * Sample windows up to this size are summed directly from their newest row (O(w), a handful of
 * adds) instead of by split windows, whose cut bookkeeping costs more than such a scan. Both are
 * pure functions of the window; the choice depends on the window spec only.
 */
export const DIRECT_WINDOW_MAX = 16;
/**
 * Adjacent runs are processed in groups of at least this many rows (or the longest run), copied
 * into the arena once per group: short runs share one copy, long ones get one each, and a group's
 * columns stay in cache across the loops.
 */
const GROUP_ROWS = 16_384;

export type StatKind =
  | 'mean' | 'std' | 'var' | 'sum' | 'count' | 'min' | 'max' | 'quantile'
  | 'ewma' | 'slope' | 'zscore' | 'momentum' | 'rate' | 'increase';

export interface StatSpec {
  kind: StatKind;
  /** Name used in outputs (`p95`, `mean`, `median`). */
  label: string;
  /** Quantile in [0, 1] for kind 'quantile'. */
  q: number;
}

export interface RollingOptions {
  windows: WindowSpec[];
  stats: StatSpec[];
  /** Explicit min_periods (applies to every window), or undefined for Polars' defaults. */
  minPeriods: number | undefined;
  /** EWMA smoothing factor for all windows; undefined = 2 / (w + 1) per sample window. */
  alpha: number | undefined;
  /** rate/increase only on counter-like series (Prometheus metadata); NaN elsewhere. */
  counterAware: boolean;
  prefix: string;
}

const NAMED: Record<string, StatKind> = {
  mean: 'mean', std: 'std', var: 'var', sum: 'sum', count: 'count', min: 'min', max: 'max',
  ewma: 'ewma', slope: 'slope', zscore: 'zscore', momentum: 'momentum', rate: 'rate', increase: 'increase',
};

export function parseStat(s: unknown, key: string): StatSpec {
  if (typeof s !== 'string') throw new TransformOptionError(K, key, `must be a stat name, got ${JSON.stringify(s)}`);
  const named = NAMED[s];
  if (named) return { kind: named, label: s, q: NaN };
  if (s === 'median') return { kind: 'quantile', label: s, q: 0.5 };
  const m = /^p(\d+(?:\.\d+)?)$/.exec(s);
  if (m) {
    const q = Number(m[1]) / 100;
    if (q < 0 || q > 1) throw new TransformOptionError(K, key, `percentile must be in p0..p100, got ${s}`);
    return { kind: 'quantile', label: s, q };
  }
  throw new TransformOptionError(K, key, `unknown stat ${JSON.stringify(s)} (known: ${Object.keys(NAMED).join(', ')}, median, p25, p50, p75, p95, p99, pNN)`);
}

export function parseRollingOptions(o: Record<string, unknown>): RollingOptions {
  checkKnown(o, K, ['windows', 'stats', 'minPeriods', 'alpha', 'counterAware', 'prefix']);
  const rawW = o['windows'] ?? [5, 15, 60];
  if (!Array.isArray(rawW) || rawW.length === 0) throw new TransformOptionError(K, 'windows', 'must be a non-empty list like [5, 15, 60] or ["5m", "1h"]');
  const windows = rawW.map((w, i) => parseWindow(w, K, `windows[${i}]`));
  const rawS = o['stats'] ?? ['mean', 'std'];
  if (!Array.isArray(rawS) || rawS.length === 0) throw new TransformOptionError(K, 'stats', 'must be a non-empty list like ["mean", "std", "p95"]');
  const stats = rawS.map((s, i) => parseStat(s, `stats[${i}]`));
  const labels = new Set<string>();
  for (const s of stats) {
    if (labels.has(s.label)) throw new TransformOptionError(K, 'stats', `lists "${s.label}" twice`);
    labels.add(s.label);
  }
  const wl = new Set<string>();
  for (const w of windows) {
    if (wl.has(w.label)) throw new TransformOptionError(K, 'windows', `lists ${w.label} twice`);
    wl.add(w.label);
  }
  const minPeriods = o['minPeriods'] === undefined ? undefined : optInt(o, 'minPeriods', K, 1, 1);
  const alpha = o['alpha'] === undefined ? undefined : optNumber(o, 'alpha', K, 0.5, Number.MIN_VALUE, 1);
  for (const w of windows) {
    if (w.ms > 0 && stats.some((s) => s.kind === 'momentum')) {
      throw new TransformOptionError(K, 'stats', `"momentum" needs sample windows (x[t] - x[t-k]); window ${w.label} is a duration`);
    }
    if (w.ms > 0 && alpha === undefined && stats.some((s) => s.kind === 'ewma')) {
      throw new TransformOptionError(K, 'alpha', `is required for "ewma" over the time window ${w.label} (there is no sample count to derive it from)`);
    }
  }
  const prefix = o['prefix'] === undefined ? '' : String(o['prefix']);
  return { windows, stats, minPeriods, alpha, counterAware: optBool(o, 'counterAware', K, true), prefix };
}

/** Output column name of a stat over a window: `${prefix}${stat}_${window}` (e.g. `p95_15`, `mean_5m`). */
export function featureName(prefix: string, stat: string, window: string): string {
  return `${prefix}${stat}_${window}`;
}


/** Per-window compiled plan: which output column each stat writes (index into outputs). */
interface WindowPlan {
  spec: WindowSpec;
  minP: number;
  decay: number;
  mean: number; std: number; var: number; sum: number; count: number; zscore: number;
  min: number; max: number; slope: number; ewma: number; momentum: number; rate: number; increase: number;
  /** Quantile stats: q values and output indices, parallel. */
  qs: Float64Array;
  qCols: Int32Array;
  /** Sample windows <= SORTED_WINDOW_MAX keep a sorted array of this many slots (in wasm), else 0. */
  sortedCap: number;
  /** Larger sample windows and time windows: cursors over the run's value ranks (in wasm). */
  ranked: boolean;
}

const NONE = -1;

export class RollingKernel implements Kernel {
  readonly name = K;
  readonly outputs: readonly string[];
  readonly haloSamples: number;
  readonly haloMs: number;
  /** Write outputs on halo rows too (set by compileTransforms when a later kernel reads features). */
  haloOutputs = false;
  private readonly plans: WindowPlan[];
  private readonly useRanks: boolean;
  private readonly cols: Float64Array[];

  constructor(readonly opts: RollingOptions) {
    const { windows, stats } = opts;
    const outs: string[] = [];
    this.plans = windows.map((w) => {
      const p: WindowPlan = {
        spec: w,
        // Polars: min_periods defaults to the window size for fixed windows, 1 for temporal ones.
        minP: w.samples > 0 ? Math.min(opts.minPeriods ?? w.samples, w.samples) : (opts.minPeriods ?? 1),
        decay: 1 - (opts.alpha ?? 2 / (w.samples + 1)),
        mean: NONE, std: NONE, var: NONE, sum: NONE, count: NONE, zscore: NONE,
        min: NONE, max: NONE, slope: NONE, ewma: NONE, momentum: NONE, rate: NONE, increase: NONE,
        qs: new Float64Array(0),
        qCols: new Int32Array(0),
        sortedCap: 0,
        ranked: false,
      };
      const qs: number[] = [];
      const qCols: number[] = [];
      for (const s of stats) {
        const idx = outs.length;
        outs.push(featureName(opts.prefix, s.label, w.label));
        if (s.kind === 'quantile') {
          qs.push(s.q);
          qCols.push(idx);
        } else p[s.kind] = idx;
      }
      p.qs = Float64Array.from(qs);
      p.qCols = Int32Array.from(qCols);
      if (qs.length) {
        if (w.samples > 0 && w.samples <= SORTED_WINDOW_MAX) p.sortedCap = w.samples;
        else p.ranked = true;
      }
      return p;
    });
    this.outputs = outs;
    this.cols = new Array<Float64Array>(outs.length);
    this.useRanks = this.plans.some((p) => p.ranked);
    const hasMomentum = stats.some((s) => s.kind === 'momentum');
    let hs = 0;
    let hm = 0;
    for (const w of windows) {
      if (w.samples > 0) hs = Math.max(hs, hasMomentum ? w.samples : w.samples - 1);
      else hm = Math.max(hm, w.ms);
    }
    this.haloSamples = hs;
    this.haloMs = hm;
  }

  run(ctx: KernelContext): void {
    const len = ctx.length;
    if (len === 0) return;
    for (let k = 0; k < this.outputs.length; k++) this.cols[k] = ctx.feature(this.outputs[k]!);
    const { flags, value, runs, ts } = ctx;
    const W = this.plans.length;
    const cols = this.cols;
    const split = this.plans.some(usesSplit);
    // edges and valid counts as tables: only for the statistics that read them (splitRun keeps its own)
    const tables = this.plans.some((p) => needsEdges(p));
    const withRates = this.plans.some((p) => p.rate !== NONE || p.increase !== NONE);
    let maxRun = 0;
    for (let r = 0; r < ctx.runCount; r++) maxRun = Math.max(maxRun, runs[r * RUN_STRIDE + 3]!);
    // The loops run over groups of whole, adjacent runs of at most `cap` rows, copied into this
    // thread's arena once per group: inputs in, outputs out, one memcpy per column per group. Every
    // pass in between (masking, window state, part folds, square roots) then works on a slice that
    // stays in cache, instead of streaming whole-batch columns through memory several times over
    // (measured: ~3 ns/row of mean/std went to the batch-sized copies and their cache misses).
    // Indices passed to the loops are group-local; results do not depend on the grouping (every
    // loop works per run).
    const cap = Math.max(maxRun, GROUP_ROWS);
    const A = rollingArena();
    A.reset();
    const xP = A.alloc(8 * cap);
    const flP = A.alloc(4 * cap);
    // timestamps: split windows cut on them, time windows find their edges on them, rates read them
    const wantTs = split || withRates || this.plans.some((p) => p.spec.ms > 0);
    const tsP = wantTs ? A.alloc(8 * cap) : 0;
    const pcP = tables ? A.alloc(4 * (cap + 1)) : 0;
    const loP = tables ? A.alloc(4 * W * cap) : 0;
    const sufP = split ? A.alloc(64 * maxRun) : 0; // part A's suffix folds, one run at a time
    const invP = split ? A.alloc(8 * (maxRun + 1)) : 0; // 1/k for the counts of a window
    // output columns computed in wasm: pairs of [arena offset, feature column index]
    const wasmCols: number[] = [];
    const outCol = (idx: number): number => {
      if (idx === NONE) return 0;
      const p = A.alloc(8 * cap);
      wasmCols.push(p, idx);
      return p;
    };
    const sTables = this.plans.map((p) => {
      if (!usesSplit(p)) return null;
      // a z-score needs the std column (wasm finishStd), even when the std is not an output
      const sdP = p.std !== NONE ? outCol(p.std) : p.zscore !== NONE ? A.alloc(8 * cap) : 0;
      return { outsP: A.alloc(4 * 5), outs: [outCol(p.mean), sdP, outCol(p.var), outCol(p.sum), outCol(p.zscore)], slopeP: outCol(p.slope), ewmaP: outCol(p.ewma) };
    });
    const qTables = this.plans.map((p) => {
      const nq = p.qs.length;
      if (!nq) return null;
      return { bufP: p.sortedCap ? A.alloc(8 * (p.sortedCap + 1)) : 0, stP: A.alloc(8 * nq), qsP: A.alloc(8 * nq), qOutsP: A.alloc(4 * nq), outs: Array.from(p.qCols, (c) => outCol(c)) };
    });
    // rank path (large and time windows): run ranks and sort scratch, slot counts and bitmaps
    const rk = this.useRanks ? rankScratch(A, cap) : null;
    const ext = this.plans.map((p) => (p.min === NONE && p.max === NONE ? null : { minP: outCol(p.min), maxP: outCol(p.max) }));
    const exP = ext.some((e) => e) ? A.alloc(16 * (maxRun + 1)) : 0; // extremes' suffix min/max, one run at a time
    A.commit();
    for (const t of sTables) if (t) A.i32At(t.outsP, 5).set(t.outs);
    this.plans.forEach((p, k) => {
      const q = qTables[k];
      if (!q) return;
      A.f64At(q.qsP, p.qs.length).set(p.qs);
      A.i32At(q.qOutsP, p.qs.length).set(q.outs);
    });
    if (split) A.fn.inverses(invP, maxRun);
    // views of the group slices (created once per batch)
    const x = A.f64At(xP, cap);
    const fl = A.u32At(flP, cap);
    const tsG = A.f64At(tsP, wantTs ? cap : 0);
    const pc = A.i32At(pcP, tables ? cap + 1 : 0); // pc[i+1] - pc[l] = valid rows in [l, i] (run-local start)
    const loAll = A.i32At(loP, tables ? W * cap : 0); // window k's left edges at [k * cap, (k + 1) * cap)
    const los = this.plans.map((_, k) => loAll.subarray(k * cap, tables ? (k + 1) * cap : 0));
    const srcs = wasmCols.map((p, k) => (k & 1 ? null : A.f64At(p, cap)));
    const dummy = ctx.scratchF64(len, 2); // sink for rate/increase nobody asked for
    const rPv = withRates ? ctx.scratchI32(cap, 6) : null;
    const rNv = withRates ? ctx.scratchI32(cap, 7) : null;
    const rRc = withRates ? ctx.scratchI32(cap + 1, 8) : null;
    const rRv = withRates ? ctx.scratchF64(cap, 6) : null;
    const col = (idx: number): Float64Array => (idx === NONE ? dummy : cols[idx]!);
    const fn = A.fn;
    for (let r = 0; r < ctx.runCount; ) {
      // the group: runs r … r1 − 1, adjacent in the batch, at most `cap` rows together
      const g0 = runs[r * RUN_STRIDE + 1]! | 0;
      let gEnd = (g0 + runs[r * RUN_STRIDE + 3]!) | 0;
      let r1 = r + 1;
      for (; r1 < ctx.runCount; r1++) {
        const o = r1 * RUN_STRIDE;
        if ((runs[o + 1]! | 0) !== gEnd || gEnd + runs[o + 3]! - g0 > cap) break;
        gEnd = (gEnd + runs[o + 3]!) | 0;
      }
      const gLen = gEnd - g0;
      x.set(value.subarray(g0, gEnd));
      fl.set(flags.subarray(g0, gEnd));
      // x: the values the windows see — NaN for dropped rows, +0 for −0 — so inner loops test only `v === v`
      fn.maskValues(xP, flP, gLen, FLAG_DROPPED);
      if (wantTs) tsG.set(ts.subarray(g0, gEnd));
      for (; r < r1; r++) {
        const o = r * RUN_STRIDE;
        const s = runs[o]!;
        const start = (runs[o + 1]! - g0) | 0; // group-local
        const end = (start + runs[o + 3]!) | 0;
        // halo rows (the run's first `halo`) are context: the wasm loops only build window state there
        const h0 = this.haloOutputs ? start : Math.min(end, start + runs[o + 2]!) | 0;
        const counter = isCounterLike(ctx.seriesKinds[s] ?? 0, ctx.seriesKeys[s]!);
        const resetAware = counter || !this.opts.counterAware;
        let rateReady = false;
        if (tables) fn.prepare(xP, pcP, start, end);
        const m = rk ? fn.rankRun(xP, start, end, rk.ranksP, rk.sortedP, rk.keyP, rk.idxP, rk.key2P, rk.idx2P, rk.histP) : 0;
        for (let k = 0; k < W; k++) {
          const spec = this.plans[k]!.spec;
          if (!needsEdges(this.plans[k]!)) continue;
          if (spec.samples > 0) fn.sampleEdges(loP + 4 * k * cap, start, end, spec.samples);
          else windowEdges(tsG, start, end, spec, loAll, k * cap);
        }
        for (let k = 0; k < W; k++) {
          const p = this.plans[k]!;
          const lo = los[k]!;
          const st = sTables[k];
          if (st) fn.splitRun(xP, tsP, start, h0, end, p.spec.samples, p.spec.ms, p.minP, st.outsP, st.slopeP, st.ewmaP, p.decay, sufP, invP, p.spec.samples > 0 && p.spec.samples <= DIRECT_WINDOW_MAX, false);
          if (p.count !== NONE) counts(pc, lo, start, end, cols[p.count]!, g0);
          const e = ext[k];
          if (e) fn.extremes(xP, tsP, start, h0, end, p.spec.samples, p.spec.ms, p.minP, e.minP, e.maxP, exP);
          if (p.momentum !== NONE) momentum(x, start, end, p.spec.samples, cols[p.momentum]!, g0);
          if (p.rate !== NONE || p.increase !== NONE) {
            if (!rateReady) {
              rateTables(x, start, end, resetAware, rPv!, rNv!, rRc!, rRv!);
              rateReady = true;
            }
            rates(x, tsG, pc, lo, start, end, p.spec.ms, resetAware, resetAware, col(p.rate), col(p.increase), g0, rPv!, rNv!, rRc!, rRv!);
          }
          const q = qTables[k];
          if (q && p.sortedCap) fn.quantiles(xP, loP + 4 * k * cap, start, h0, end, p.minP, q.bufP, q.qsP, p.qs.length, q.qOutsP);
          else if (q) fn.quantilesRank(rk!.ranksP, rk!.sortedP, loP + 4 * k * cap, start, h0, end, m, p.minP, rk!.cntP, rk!.b0P, rk!.b1P, q.stP, q.qsP, p.qs.length, q.qOutsP, false);
        }
        // halo rows were not computed: NaN there, so the group goes out in one copy per column
        if (h0 > start) for (let k = 0; k < srcs.length; k += 2) srcs[k]!.fill(NaN, start, h0);
      }
      // the wasm-computed columns into the batch's feature columns: one memcpy per column per group
      for (let k = 0; k < wasmCols.length; k += 2) cols[wasmCols[k + 1]!]!.set(srcs[k]!.subarray(0, gLen), g0);
    }
  }
}

/** Does this window have statistics that read the edge and valid-count tables (everything but splitRun's)? */
function needsEdges(p: WindowPlan): boolean {
  return p.count !== NONE || p.rate !== NONE || p.increase !== NONE || p.qs.length > 0;
}

/** Does this window need the split-window loop (moments, slope or EWMA)? */
function usesSplit(p: WindowPlan): boolean {
  return p.mean !== NONE || p.std !== NONE || p.var !== NONE || p.sum !== NONE || p.zscore !== NONE || p.slope !== NONE || p.ewma !== NONE;
}

/** lo[i] = first row of row i's time window (t - W, t], two pointers (sample windows: wasm sampleEdges). */
function windowEdges(ts: Float64Array, start: number, end: number, w: WindowSpec, lo: Int32Array, off: number): void {
  const W = w.ms;
  let l = start;
  for (let i = start; i < end; i++) {
    const edge = ts[i]! - W;
    while (l < i && ts[l]! <= edge) l++;
    lo[off + i] = l;
  }
}

/** Valid counts of rows [start, end) (group-local), written at out[off + i]. */
function counts(pc: Int32Array, lo: Int32Array, start: number, end: number, out: Float64Array, off: number): void {
  for (let i = start; i < end; i++) out[off + i] = pc[i + 1]! - pc[lo[i]!]!;
}

function momentum(x: Float64Array, start: number, end: number, k: number, out: Float64Array, off: number): void {
  for (let i = start; i < end; i++) out[off + i] = i - k >= start ? x[i]! - x[i - k]! : NaN; // NaN if either end is missing
}

/**
 * Per-run tables for rates(): pv[i] = last valid row <= i (-1 if none), nv[i] = first valid row
 * >= i (end if none), rc[i + 1 - start] = resets among the valid rows in [start, i] and rv the
 * value before each reset (PromQL: a drop between consecutive samples is a reset, worth the value
 * before it), oldest first. Only counted when `resetAware`.
 */
function rateTables(x: Float64Array, start: number, end: number, resetAware: boolean, pv: Int32Array, nv: Int32Array, rc: Int32Array, rv: Float64Array): void {
  let last = -1;
  let c = 0;
  rc[0] = 0;
  for (let i = start; i < end; i++) {
    const v = x[i]!;
    if (v === v) {
      if (resetAware && last >= 0 && v < x[last]!) rv[c++] = x[last]!;
      last = i;
    }
    pv[i] = last;
    rc[i + 1 - start] = c;
  }
  let nx = end;
  for (let i = end - 1; i >= start; i--) {
    if (x[i] === x[i]) nx = i;
    nv[i] = nx;
  }
}

/**
 * rate / increase. Time windows: PromQL's extrapolated rate over (t - W, t]. Sample windows:
 * reset-corrected delta between the window's first and last valid samples (per second: over
 * the time they span), no extrapolation. Rows [start, end) are group-local, written at off + i.
 * O(1 + resets in the window) per row: the first and last
 * valid rows come from the run tables, and only the window's resets are summed, newest first.
 */
function rates(x: Float64Array, ts: Float64Array, pc: Int32Array, lo: Int32Array, start: number, end: number, wms: number, ok: boolean, resetAware: boolean, rate: Float64Array, inc: Float64Array, off: number, pv: Int32Array, nv: Int32Array, rc: Int32Array, rv: Float64Array): void {
  for (let i = start; i < end; i++) {
    rate[off + i] = NaN;
    inc[off + i] = NaN;
    if (!ok) continue;
    const l = lo[i]!;
    const n = pc[i + 1]! - pc[l]!;
    if (n < 2) continue;
    const a = nv[l]!;
    const z = pv[i]!;
    const firstV = x[a]!;
    const firstT = ts[a]!;
    const lastV = x[z]!;
    const lastT = ts[z]!;
    let resets = 0;
    if (resetAware) for (let k = rc[i + 1 - start]! - 1, k0 = rc[a + 1 - start]!; k >= k0; k--) resets += rv[k]!;
    const delta = lastV - firstV + resets;
    if (wms > 0) {
      const d = extrapolatedDelta(delta, n, firstT, firstV, lastT, ts[i]! - wms, ts[i]!, resetAware);
      inc[off + i] = d;
      rate[off + i] = d / (wms / 1000);
    } else {
      inc[off + i] = delta;
      rate[off + i] = lastT > firstT ? delta / ((lastT - firstT) / 1000) : NaN;
    }
  }
}

export const rollingKernel: KernelFactory = (options) => new RollingKernel(parseRollingOptions(options));
