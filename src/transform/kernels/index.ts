/**
 * The built-in transform catalogue: `kind` → factory. Each kernel lives in its own file; see
 * docs/TRANSFORMS.md for the exact semantics of every option and feature.
 */
import type { KernelFactory, TransformSpec } from '../kernel.js';
import { calendarKernel } from './calendar.js';
import { completenessKernel } from './completeness.js';
import { autocorrKernel, correlateKernel } from './correlation.js';
import { groupKernel } from './group.js';
import { imputeKernel } from './impute.js';
import { lagKernel } from './lags.js';
import { outlierKernel } from './outliers.js';
import { ratioKernel } from './ratio.js';
import { rollingKernel } from './rolling.js';
import { scaleKernel } from './scale.js';
import { spectralKernel } from './spectral.js';
import { validateKernel } from './validate.js';

export type { AutocorrSpec, CalendarSpec, CorrelateSpec, DurationInput, FeatureKernelSpec, GroupSpec, LagsSpec, SpectralSpec, WindowInput } from './specs.js';
export type { CalendarField } from './calendar.js';

/** Built-in kernels by `kind`. */
export const builtinKernels: Record<string, KernelFactory> = {
  validate: validateKernel,
  rolling: rollingKernel,
  outliers: outlierKernel,
  impute: imputeKernel,
  completeness: completenessKernel,
  scale: scaleKernel,
  ratio: ratioKernel,
  lags: lagKernel,
  calendar: calendarKernel,
  autocorr: autocorrKernel,
  correlate: correlateKernel,
  spectral: spectralKernel,
  group: groupKernel,
};

/**
 * The default feature set (the performance target's workload): validation (NaN/±Inf/stale dropped,
 * duplicate/out-of-order timestamps dropped), rolling mean/std/p50/p95 over 5/15/60 samples, and
 * least-squares slope + rolling z-score over 60 samples. 14 feature columns.
 */
export function defaultFeatureSet(): TransformSpec[] {
  return [
    { kind: 'validate' },
    { kind: 'rolling', windows: [5, 15, 60], stats: ['mean', 'std', 'p50', 'p95'] },
    { kind: 'rolling', windows: [60], stats: ['slope', 'zscore'] },
  ];
}

