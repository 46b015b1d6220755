/**
 * The scaling state file: per-series parameters fitted by a `scale` step in fit mode, saved as a
 * versioned msgpack document and loaded by later and streaming runs (apply mode) so online
 * inference sees exactly the scaling the model was trained with. Written atomically (temp file,
 * fsync, rename, fsync of the directory): a crash leaves the old file or the new one, never half.
 */
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { lazyRequire } from '../util/lazy.js';
import { ScalingStateError } from '../errors.js';

/** Re-exported: part of this module's library API (docs/TRANSFORMS.md). */
export { ScalingStateError };
import type { ScaleMethod, ScaleParams } from './kernels/scale.js';
import { fitQuantile, type FitStats } from './kernels/scale-fit.js';

// msgpackr (and its probe for the native addon) on first save or load only (issue #18, start-up).
const msgpackr = lazyRequire<typeof import('msgpackr')>('msgpackr');
const pack: typeof import('msgpackr').pack = (value) => msgpackr().pack(value);
const unpack: typeof import('msgpackr').unpack = (bytes) => msgpackr().unpack(bytes);

export const SCALING_STATE_FORMAT = 'promflux-scaling';
export const SCALING_STATE_VERSION = 1;

export interface ScalingState {
  format: typeof SCALING_STATE_FORMAT;
  version: number;
  method: ScaleMethod;
  featureRange: [number, number];
  createdAt: string;
  /** Series key → parameters (the lead's worker loader reads exactly this map). */
  series: Record<string, ScaleParams>;
}

/** Parameters from merged fit statistics. Std is the sample std (ddof = 1, as Polars). */
export function paramsFromFit(method: ScaleMethod, featureRange: [number, number], f: FitStats): ScaleParams {
  if (method === 'zscore') {
    const std = f.n >= 2 ? Math.sqrt(f.m2 / (f.n - 1)) : 0;
    return { method, center: f.mean, scale: std, offset: 0, n: f.n, stats: { mean: f.mean, std } };
  }
  if (method === 'minmax') {
    const [a, b] = featureRange;
    return { method, center: f.min, scale: (f.max - f.min) / (b - a), offset: a, n: f.n, stats: { min: f.min, max: f.max } };
  }
  const median = fitQuantile(f, 0.5);
  const q1 = fitQuantile(f, 0.25);
  const q3 = fitQuantile(f, 0.75);
  return { method, center: median, scale: q3 - q1, offset: 0, n: f.n, stats: { median, q1, q3, exact: f.values ? 1 : 0 } };
}

export function buildScalingState(method: ScaleMethod, featureRange: [number, number], fits: ReadonlyMap<string, FitStats>, createdAt = new Date()): ScalingState {
  const series: Record<string, ScaleParams> = {};
  for (const key of [...fits.keys()].sort()) series[key] = paramsFromFit(method, featureRange, fits.get(key)!);
  return { format: SCALING_STATE_FORMAT, version: SCALING_STATE_VERSION, method, featureRange, createdAt: createdAt.toISOString(), series };
}

export async function saveScalingState(path: string, state: ScalingState): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  try {
    await mkdir(dir, { recursive: true });
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(pack(state));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    // fsync the directory so the rename itself survives a crash
    const dh = await open(dir, 'r');
    try {
      await dh.sync();
    } catch {
      // some filesystems refuse fsync on directories; the rename is still atomic
    } finally {
      await dh.close();
    }
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw new ScalingStateError('PROMFLUX_SCALING_STATE_WRITE', `cannot write scaling state ${path}: ${(err as Error).message}; check the directory exists and is writable`, { cause: err });
  }
}

export async function loadScalingState(path: string): Promise<ScalingState> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (err) {
    throw new ScalingStateError('PROMFLUX_SCALING_STATE_READ', `cannot read scaling state ${path}: ${(err as Error).message}; run the pipeline with the scale step in mode "fit" first`, { cause: err });
  }
  let doc: unknown;
  try {
    doc = unpack(buf);
  } catch (err) {
    throw new ScalingStateError('PROMFLUX_SCALING_STATE_CORRUPT', `scaling state ${path} is not valid msgpack (${(err as Error).message}); refit it`, { cause: err });
  }
  return checkState(doc, path);
}

export function checkState(doc: unknown, where = 'scaling state'): ScalingState {
  const d = doc as Partial<ScalingState> | null;
  if (!d || typeof d !== 'object' || d.format !== SCALING_STATE_FORMAT || typeof d.series !== 'object' || d.series === null) {
    throw new ScalingStateError('PROMFLUX_SCALING_STATE_CORRUPT', `${where} is not a promflux scaling state (missing format/series); refit it`);
  }
  if (d.version !== SCALING_STATE_VERSION) {
    throw new ScalingStateError('PROMFLUX_SCALING_STATE_VERSION', `${where} has version ${String(d.version)}, this promflux reads version ${SCALING_STATE_VERSION}; refit with this version`);
  }
  return d as ScalingState;
}

/** The per-series map the worker passes to kernels as ctx.state. */
export function scalingStateMap(state: ScalingState): Map<string, ScaleParams> {
  return new Map(Object.entries(state.series));
}

function paramsOf(state: ScalingState, seriesKey: string): ScaleParams {
  const p = state.series[seriesKey];
  if (!p) throw new ScalingStateError('PROMFLUX_SCALING_STATE_SERIES', `no scaling parameters for series ${seriesKey} (the fit never saw it); refit including this series`);
  return p;
}

/** Scale raw values with a series' parameters (what the `scale` step does in apply mode). */
export function transform(state: ScalingState, seriesKey: string, values: Float64Array, out = new Float64Array(values.length)): Float64Array {
  const { center, scale, offset } = paramsOf(state, seriesKey);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    out[i] = scale === 0 ? (v === v ? offset : NaN) : (v - center) / scale + offset;
  }
  return out;
}

/**
 * Map scaled values back to the original units. Exact up to rounding, except for a series with
 * zero scale (constant during the fit), where every value maps back to the fitted center.
 */
export function inverseTransform(state: ScalingState, seriesKey: string, scaledValues: Float64Array, out = new Float64Array(scaledValues.length)): Float64Array {
  const { center, scale, offset } = paramsOf(state, seriesKey);
  for (let i = 0; i < scaledValues.length; i++) out[i] = (scaledValues[i]! - offset) * scale + center;
  return out;
}
