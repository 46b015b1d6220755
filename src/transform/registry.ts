/**
 * Kernel registry: maps a `transform` entry's `kind` to its factory. The pipeline's ordered
 * transform list is compiled once per worker (cached by spec) into Kernel instances.
 */
import type { Kernel, KernelFactory, TransformSpec } from './kernel.js';
import { builtinKernels } from './kernels/index.js';

export type { TransformSpec };

const registry = new Map<string, KernelFactory>(Object.entries(builtinKernels));

/**
 * Test builds only (PROMFLUX_FAULTS=1): `debug_throw` throws on batches whose chunk id matches
 * `chunk` (a regular expression), to prove a failing kernel fails only its batch.
 */
function debugThrow(): KernelFactory {
  return (opts) => {
    const re = new RegExp(String(opts.chunk ?? '.'));
    return {
      name: 'debug_throw',
      outputs: [],
      haloSamples: 0,
      haloMs: 0,
      run(ctx) {
        if (re.test(ctx.batch.desc.chunkId)) throw new Error(`injected failure for chunk ${ctx.batch.desc.chunkId}`);
      },
    };
  };
}

export function registerKernel(kind: string, factory: KernelFactory): void {
  registry.set(kind, factory);
}

export function kernelKinds(): string[] {
  return [...registry.keys()].sort();
}

/** Compile an ordered transform list. Throws with the entry's index and kind on a bad option. */
export function compileTransforms(specs: readonly TransformSpec[]): Kernel[] {
  return specs.map((spec, i) => {
    const factory = registry.get(spec.kind) ?? (spec.kind === 'debug_throw' && process.env.PROMFLUX_FAULTS === '1' ? debugThrow() : undefined);
    if (!factory) {
      throw new Error(`transform[${i}]: unknown kind "${spec.kind}" (known: ${kernelKinds().join(', ')})`);
    }
    const { kind: _kind, ...options } = spec;
    try {
      return factory(options);
    } catch (err) {
      throw new Error(`transform[${i}] (${spec.kind}): ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  });
}

/**
 * Context the whole list needs. Halos add up along the chain: when one step drops or rewrites rows,
 * the next step's window needs the first step's context too. Look-ahead (imputation towards the
 * next valid value) is the max over kernels.
 */
export function haloOf(kernels: readonly Kernel[]): { haloSamples: number; haloMs: number; lookaheadMs: number } {
  let haloSamples = 0;
  let haloMs = 0;
  let lookaheadMs = 0;
  for (const k of kernels) {
    haloSamples += k.haloSamples;
    haloMs += k.haloMs;
    lookaheadMs = Math.max(lookaheadMs, k.lookaheadMs ?? 0);
  }
  return { haloSamples, haloMs, lookaheadMs };
}

/** Feature column names in output order. */
export function outputsOf(kernels: readonly Kernel[]): string[] {
  const seen = new Set<string>();
  for (const k of kernels) for (const o of k.outputs) seen.add(o);
  return [...seen];
}
