/**
 * `completeness`: drop rows whose feature vector is less complete than `threshold` (default 0.8):
 * the share of non-NaN entries among `value` and the listed feature columns (default: every
 * feature column the steps before it created). Counted as drop reason `incomplete`.
 */
import { FLAG_DROPPED } from '../../batch/layout.js';
import type { Kernel, KernelContext, KernelFactory } from '../kernel.js';
import { checkKnown, optBool, optNumber, optStringList } from './options.js';

const K = 'completeness';

export interface CompletenessOptions {
  threshold: number;
  features: string[] | undefined;
  includeValue: boolean;
}

export function parseCompletenessOptions(o: Record<string, unknown>): CompletenessOptions {
  checkKnown(o, K, ['threshold', 'features', 'includeValue']);
  return {
    threshold: optNumber(o, 'threshold', K, 0.8, 0, 1),
    features: optStringList(o['features'], K, 'features'),
    includeValue: optBool(o, 'includeValue', K, true),
  };
}

export class CompletenessKernel implements Kernel {
  readonly name = K;
  readonly readsFeatures = true;
  readonly outputs: readonly string[] = [];
  readonly haloSamples = 0;
  readonly haloMs = 0;

  constructor(readonly opts: CompletenessOptions) {}

  run(ctx: KernelContext): void {
    let names = this.opts.features;
    if (!names) {
      // BatchContext keeps its feature columns in creation order; other contexts must list them.
      const cols = (ctx as { features?: ReadonlyMap<string, Float64Array> }).features;
      if (!cols) throw new Error('completeness: this context does not expose its feature columns; list them in `features`');
      names = [...cols.keys()];
    }
    const cols = names.map((n) => ctx.feature(n));
    const total = cols.length + (this.opts.includeValue ? 1 : 0);
    if (total === 0) return;
    // present / total < threshold  ⇔  present < need (exact integer comparison, no per-row division)
    const need = this.opts.threshold * total;
    const { flags, value } = ctx;
    const nc = cols.length;
    for (let i = 0; i < ctx.length; i++) {
      if (flags[i]! & FLAG_DROPPED) continue;
      let present = 0;
      if (this.opts.includeValue && value[i]! === value[i]!) present++;
      for (let c = 0; c < nc; c++) if (cols[c]![i]! === cols[c]![i]!) present++;
      if (present < need) ctx.drop(i, 'incomplete');
    }
  }
}

export const completenessKernel: KernelFactory = (options) => new CompletenessKernel(parseCompletenessOptions(options));
