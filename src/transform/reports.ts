/**
 * Main-thread merging of the small per-batch reports kernels send with ctx.report(): the lead
 * calls mergeReports() once per finished batch and finalizeReports() at the end of the run.
 * Merging is per series (fit statistics), never per sample, and order-independent.
 */
import { mergeFit, type FitStats } from './kernels/scale-fit.js';
import type { ScaleFitReport, ScaleMethod } from './kernels/scale.js';
import { buildScalingState, type ScalingState } from './scaling-state.js';

interface ScaleFitAcc {
  method: ScaleMethod;
  state: string;
  featureRange: [number, number];
  series: Map<string, FitStats>;
}

export interface ReportAccumulator {
  /** Report name (`scale:<state path>`) → merged per-series fit statistics. */
  scaleFits: Map<string, ScaleFitAcc>;
  /** Reports of unknown type, kept as the list of per-batch values. */
  other: Map<string, unknown[]>;
  batches: number;
}

export interface FinalReports {
  /** One scaling state per `scale` step in fit mode, with the path it is to be saved to. */
  scaling: { path: string; state: ScalingState }[];
  other: Record<string, unknown[]>;
}

export function createReportAccumulator(): ReportAccumulator {
  return { scaleFits: new Map(), other: new Map(), batches: 0 };
}

function isScaleFit(v: unknown): v is ScaleFitReport {
  return typeof v === 'object' && v !== null && (v as { type?: unknown }).type === 'scale-fit';
}

/** Merge one batch's `reports` (ProcessResult.reports) into `acc` (created when undefined). */
export function mergeReports(acc: ReportAccumulator | undefined, reports: Readonly<Record<string, unknown>>): ReportAccumulator {
  const a = acc ?? createReportAccumulator();
  a.batches++;
  for (const [name, value] of Object.entries(reports)) {
    if (isScaleFit(value)) {
      let f = a.scaleFits.get(name);
      if (!f) a.scaleFits.set(name, (f = { method: value.method, state: value.state, featureRange: value.featureRange, series: new Map() }));
      for (const [key, stats] of Object.entries(value.series)) {
        const prev = f.series.get(key);
        if (prev) mergeFit(prev, stats);
        else f.series.set(key, mergeFit({ ...stats, n: 0 }, stats));
      }
    } else {
      let l = a.other.get(name);
      if (!l) a.other.set(name, (l = []));
      l.push(value);
    }
  }
  return a;
}

/** Turn the merged statistics into what the run persists (scaling states) and reports. */
export function finalizeReports(acc: ReportAccumulator | undefined, createdAt = new Date()): FinalReports {
  const out: FinalReports = { scaling: [], other: {} };
  if (!acc) return out;
  for (const f of acc.scaleFits.values()) out.scaling.push({ path: f.state, state: buildScalingState(f.method, f.featureRange, f.series, createdAt) });
  for (const [k, v] of acc.other) out.other[k] = v;
  return out;
}
