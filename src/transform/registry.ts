/**
 * Kernel registry: maps a `transform` entry's `kind` to its factory. The pipeline's ordered
 * transform list is compiled once per worker (cached by spec) into Kernel instances.
 */
import type { Kernel, KernelFactory, TransformSpec } from './kernel.js';
import { isMainThread } from 'node:worker_threads';
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

/** Kinds registered by module specifier: kind → module URL, sent to the workers with the pipeline. */
const modules = new Map<string, string>();

/**
 * Register a kernel kind.
 * - `registerKernel(kind, new URL('./double.js', import.meta.url))` (or a module specifier string,
 *   resolved against the main module): the module's default export is the KernelFactory. This
 *   thread imports it (await the returned promise before createPipeline), and every worker thread
 *   imports the same module before its first batch: the way a plugin reaches the workers.
 * - `registerKernel(kind, factory)`: this thread only. Worker threads have their own registry, so a
 *   pipeline using the kind fails in the workers unless the same registration runs there too
 *   (e.g. `node --import ./register.js`): prefer the module form.
 */
export function registerKernel(kind: string, factory: KernelFactory): void;
export function registerKernel(kind: string, module: URL | string): Promise<void>;
export function registerKernel(kind: string, what: KernelFactory | URL | string): void | Promise<void> {
  if (typeof what === 'function') {
    registry.set(kind, what);
    modules.delete(kind);
    return;
  }
  const href = what instanceof URL ? what.href : what;
  return loadKernelModule(kind, href).then((factory) => {
    registry.set(kind, factory);
    modules.set(kind, href);
  });
}

/** The module specifiers a transform list's kernels come from (for the workers), by kind. */
export function kernelModulesFor(specs: readonly TransformSpec[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of specs) {
    const href = modules.get(s.kind);
    if (href) out[s.kind] = href;
  }
  return out;
}

/** Worker side: import and register every kernel module a pipeline names (once per thread). */
export async function loadKernelModules(mods: Readonly<Record<string, string>> | undefined): Promise<void> {
  for (const [kind, href] of Object.entries(mods ?? {})) {
    if (modules.get(kind) === href) continue;
    registry.set(kind, await loadKernelModule(kind, href));
    modules.set(kind, href);
  }
}

async function loadKernelModule(kind: string, href: string): Promise<KernelFactory> {
  let mod: { default?: unknown };
  try {
    mod = (await import(href)) as { default?: unknown };
  } catch (err) {
    throw kernelLoadError(kind, href, err instanceof Error ? err.message : String(err), err);
  }
  if (typeof mod.default !== 'function') throw kernelLoadError(kind, href, `its default export is ${typeof mod.default}, not a kernel factory function`);
  return mod.default as KernelFactory;
}

function kernelLoadError(kind: string, href: string, why: string, cause?: unknown): Error {
  return Object.assign(new Error(`kernel "${kind}" is registered from module ${href}, which cannot be loaded in this thread (${isMainThread ? 'main' : 'worker'}): ${why}; check that the module exists at that URL and default-exports the kernel factory`, { cause }), { code: 'PROMFLUX_KERNEL_LOAD' });
}

export function kernelKinds(): string[] {
  return [...registry.keys()].sort();
}

/** Compile an ordered transform list. Throws with the entry's index and kind on a bad option. */
export function compileTransforms(specs: readonly TransformSpec[]): Kernel[] {
  const kernels = specs.map((spec, i) => {
    const factory = registry.get(spec.kind) ?? (spec.kind === 'debug_throw' && process.env.PROMFLUX_FAULTS === '1' ? debugThrow() : undefined);
    if (!factory) {
      throw new Error(
        `transform[${i}]: unknown kind "${spec.kind}" in this ${isMainThread ? 'main' : 'worker'} thread (known: ${kernelKinds().join(', ')})` +
          (isMainThread ? '' : `; a kernel registered with a factory function exists only in the thread that registered it: register it by module, registerKernel('${spec.kind}', new URL('./kernel.js', import.meta.url)), so every worker imports it`),
      );
    }
    const { kind: _kind, ...options } = spec;
    try {
      return factory(options);
    } catch (err) {
      throw new Error(`transform[${i}] (${spec.kind}): ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  });
  // A kernel reading feature columns (completeness) judges halo rows too, and its drops there shape
  // the later kernels' windows: every kernel before it must write its features on halo rows.
  let reader = false;
  for (let k = kernels.length - 1; k >= 0; k--) {
    if (reader && 'haloOutputs' in kernels[k]!) kernels[k]!.haloOutputs = true;
    if (kernels[k]!.readsFeatures) reader = true;
  }
  return kernels;
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

/** The cross-series needs of a chain (kernels that declare `crossSeries`), for the source's plan. */
export function crossSeriesOf(kernels: readonly Kernel[]): { kernel: string; metrics: readonly RegExp[] }[] {
  return kernels.flatMap((k) => (k.crossSeries ?? []).filter((m) => m.length > 0).map((metrics) => ({ kernel: k.name, metrics })));
}
