/**
 * The built-in transform catalogue: `kind` → factory. Each kernel lives in its own file; see
 * docs/TRANSFORMS.md for the exact semantics of every option and feature.
 */
import type { Kernel, KernelFactory } from '../kernel.js';
import type { TransformSpec } from '../registry.js';
import { completenessKernel } from './completeness.js';
import { imputeKernel } from './impute.js';
import { outlierKernel } from './outliers.js';
import { ratioKernel } from './ratio.js';
import { rollingKernel } from './rolling.js';
import { scaleKernel } from './scale.js';
import { validateKernel } from './validate.js';

/** Built-in kernels by `kind`. */
export const builtinKernels: Record<string, KernelFactory> = {
  validate: validateKernel,
  rolling: rollingKernel,
  outliers: outlierKernel,
  impute: imputeKernel,
  completeness: completenessKernel,
  scale: scaleKernel,
  ratio: ratioKernel,
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

/**
 * Halo a *chain* of kernels needs so every non-halo row is batch-invariant. A kernel that drops or
 * rewrites rows feeds the windows of the kernels after it, so their context needs its context too:
 * the requirement adds up along the chain (the max over kernels is not enough when, e.g., a
 * duplicate check with halo 1 precedes a 60-sample window: the oldest of 59 halo rows must itself
 * be checked against the row before it). Conservative: sums both figures.
 */
export function chainHalo(kernels: readonly Kernel[]): { haloSamples: number; haloMs: number } {
  let haloSamples = 0;
  let haloMs = 0;
  for (const k of kernels) {
    haloSamples += k.haloSamples;
    haloMs += k.haloMs;
  }
  return { haloSamples, haloMs };
}
