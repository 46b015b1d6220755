/**
 * Load a CommonJS dependency on first use instead of at import time (issue #18, start-up): undici
 * and apache-arrow cost 130–230 ms to load each, and a `promflux run` that never talks HTTP or
 * writes Arrow should not pay for them. `createRequire` keeps the call synchronous, so constructors
 * can use it; types come from `import type`, which costs nothing at run time.
 *
 * `load` is for the bundle: scripts/bundle.mjs passes `() => require('pkg')`, which esbuild can
 * see and inline (a runtime id it cannot); the package is still evaluated on first use only.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export function lazyRequire<T>(id: string, load: () => unknown = () => require(id)): () => T {
  let mod: T | undefined;
  return () => (mod ??= load() as T);
}
