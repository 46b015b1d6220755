/**
 * `scale`: per-series min-max, z-score or robust (median / IQR) scaling with parameters fitted
 * over a fit window / backfill pass and reused by later and streaming runs (state file, see
 * src/transform/scaling-state.ts). Modes:
 *  - fit: report mergeable per-series statistics (ctx.report, per series per batch); values untouched;
 *  - apply: scale with the parameters the lead loaded into ctx.state;
 *  - fit-apply: both (the runner does a fit pass, saves the state, then an apply pass).
 * Semantics and the zero-scale rule: docs/TRANSFORMS.md#scale.
 */
import { FLAG_DROPPED, FLAG_HALO, RUN_STRIDE } from '../../batch/layout.js';
import type { Kernel, KernelContext, KernelFactory } from '../kernel.js';
import { checkKnown, optString, TransformOptionError } from './options.js';
import { fitValues, mergeFit, type FitStats } from './scale-fit.js';

const K = 'scale';

export type ScaleMethod = 'zscore' | 'minmax' | 'robust';
export type ScaleMode = 'fit' | 'apply' | 'fit-apply';

/**
 * Per-series parameters: scaled = (x - center) / scale + offset; scale 0 (a constant series)
 * maps every value to `offset` (0 for z-score and robust, featureRange[0] for min-max).
 */
export interface ScaleParams {
  method: ScaleMethod;
  center: number;
  scale: number;
  offset: number;
  /** Samples the fit saw. */
  n: number;
  /** Human-readable fit figures (mean/std, min/max or median/q1/q3). */
  stats: Record<string, number>;
}

export interface ScaleOptions {
  method: ScaleMethod;
  mode: ScaleMode;
  /** State file path; also names the fit report (`scale:<state>`). */
  state: string;
  featureRange: [number, number];
  /** Only rows with ts in [from, to) are fitted. */
  fitFrom: number;
  fitTo: number;
  /** What apply does with a series that has no fitted parameters. */
  missing: 'drop' | 'keep';
  /** Write scaled values to this feature column instead of rewriting `value`. */
  output: string | undefined;
}

/** The report a fit-mode scale kernel sends per batch. */
export interface ScaleFitReport {
  type: 'scale-fit';
  method: ScaleMethod;
  state: string;
  featureRange: [number, number];
  series: Record<string, FitStats>;
}

export const reportNameFor = (state: string): string => `scale:${state}`;

function parseTime(v: unknown, key: string): number {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string') {
    const t = Date.parse(v);
    if (!Number.isNaN(t)) return t;
  }
  throw new TransformOptionError(K, key, `must be an ISO time or epoch milliseconds, got ${JSON.stringify(v)}`);
}

export function parseScaleOptions(o: Record<string, unknown>): ScaleOptions {
  checkKnown(o, K, ['method', 'mode', 'state', 'featureRange', 'fitRange', 'missing', 'output']);
  const method = optString<ScaleMethod>(o, 'method', K, 'zscore', ['zscore', 'minmax', 'robust']);
  const mode = optString<ScaleMode>(o, 'mode', K, 'apply', ['fit', 'apply', 'fit-apply']);
  const state = o['state'];
  if (typeof state !== 'string' || state.length === 0) {
    throw new TransformOptionError(K, 'state', 'is required: the msgpack file the fitted parameters are saved to / loaded from (e.g. "state/scaling.msgpack")');
  }
  let featureRange: [number, number] = [0, 1];
  if (o['featureRange'] !== undefined) {
    const fr = o['featureRange'];
    if (!Array.isArray(fr) || fr.length !== 2 || typeof fr[0] !== 'number' || typeof fr[1] !== 'number' || !(fr[0] < fr[1])) {
      throw new TransformOptionError(K, 'featureRange', `must be [low, high] with low < high, got ${JSON.stringify(fr)}`);
    }
    featureRange = [fr[0], fr[1]];
  }
  let fitFrom = -Infinity;
  let fitTo = Infinity;
  if (o['fitRange'] !== undefined) {
    const fr = o['fitRange'];
    if (!Array.isArray(fr) || fr.length !== 2) throw new TransformOptionError(K, 'fitRange', 'must be [from, to] (ISO times or epoch ms)');
    fitFrom = parseTime(fr[0], 'fitRange[0]');
    fitTo = parseTime(fr[1], 'fitRange[1]');
    if (!(fitFrom < fitTo)) throw new TransformOptionError(K, 'fitRange', 'must have from < to');
  }
  const missing = optString<'drop' | 'keep'>(o, 'missing', K, 'drop', ['drop', 'keep']);
  const output = o['output'] === undefined ? undefined : optString(o, 'output', K, '');
  return { method, mode, state, featureRange, fitFrom, fitTo, missing, output };
}

function isParams(v: unknown): v is ScaleParams {
  return typeof v === 'object' && v !== null && typeof (v as ScaleParams).center === 'number' && typeof (v as ScaleParams).scale === 'number';
}

export class ScaleKernel implements Kernel {
  readonly name = K;
  readonly outputs: readonly string[];
  readonly haloSamples = 0;
  readonly haloMs = 0;
  private readonly reportName: string;

  constructor(readonly opts: ScaleOptions) {
    this.outputs = opts.output ? [opts.output] : [];
    this.reportName = reportNameFor(opts.state);
  }

  run(ctx: KernelContext): void {
    const { mode } = this.opts;
    if (mode === 'fit' || mode === 'fit-apply') this.fit(ctx);
    if (mode === 'apply' || mode === 'fit-apply') this.apply(ctx);
  }

  private fit(ctx: KernelContext): void {
    const { flags, ts, value, runs } = ctx;
    const len = ctx.length;
    const x = ctx.scratchF64(len, 0);
    const { fitFrom, fitTo } = this.opts;
    // Halo rows belong to the previous batch's fit; dropped rows and rows outside fitRange are not fitted.
    for (let i = 0; i < len; i++) {
      const t = ts[i]!;
      x[i] = flags[i]! & (FLAG_HALO | FLAG_DROPPED) || t < fitFrom || t >= fitTo ? NaN : value[i]!;
    }
    const withQ = this.opts.method === 'robust';
    const scratch = ctx.scratchF64(len, 1);
    const series: Record<string, FitStats> = {};
    for (let r = 0; r < ctx.runCount; r++) {
      const o = r * RUN_STRIDE;
      const start = runs[o + 1]!;
      const f = fitValues(x, start, start + runs[o + 3]!, withQ, scratch);
      if (f.n === 0) continue;
      const key = ctx.seriesKeys[runs[o]!]!;
      const prev = series[key];
      // a series normally has one run per batch; merge defensively if not
      series[key] = prev ? mergeFit(prev, f) : f;
    }
    const rep: ScaleFitReport = { type: 'scale-fit', method: this.opts.method, state: this.opts.state, featureRange: this.opts.featureRange, series };
    ctx.report(this.reportName, rep);
  }

  private apply(ctx: KernelContext): void {
    const { flags, value, runs } = ctx;
    // The lead may pass one Map per state file (keyed by path) or the series map directly.
    const nested = ctx.state.get(this.opts.state);
    const state = nested instanceof Map ? (nested as ReadonlyMap<string, unknown>) : ctx.state;
    const out = this.opts.output ? ctx.feature(this.opts.output) : value;
    for (let r = 0; r < ctx.runCount; r++) {
      const o = r * RUN_STRIDE;
      const key = ctx.seriesKeys[runs[o]!]!;
      const start = runs[o + 1]!;
      const end = start + runs[o + 3]!;
      const p = state.get(key);
      if (!isParams(p)) {
        if (this.opts.missing === 'drop' && !this.opts.output) for (let i = start; i < end; i++) ctx.drop(i, 'unscaled');
        continue;
      }
      if (p.method !== undefined && p.method !== this.opts.method) {
        throw new Error(`state "${this.opts.state}" holds ${p.method} parameters for ${key} but this step scales with ${this.opts.method}; refit or fix the config`);
      }
      const c = p.center;
      const s = p.scale;
      const off = p.offset ?? 0;
      if (s === 0 || !Number.isFinite(s)) {
        for (let i = start; i < end; i++) if ((flags[i]! & FLAG_DROPPED) === 0) out[i] = value[i]! === value[i]! ? off : NaN;
        continue;
      }
      for (let i = start; i < end; i++) out[i] = (value[i]! - c) / s + off;
    }
  }
}

export const scaleKernel: KernelFactory = (options) => new ScaleKernel(parseScaleOptions(options));
