/** Where things are, whether running from benchmarks/*.ts (tsx) or dist/benchmarks/*.js. */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/** The repository root: the nearest ancestor of this file holding package.json. */
export function repoRoot(): string {
  if (root) return root;
  let d = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(d, 'package.json'))) {
    const up = dirname(d);
    if (up === d) throw new Error(`cannot find package.json above ${fileURLToPath(import.meta.url)}`);
    d = up;
  }
  return (root = d);
}

/** Cache for generated data files (gitignored). PROMFLUX_BENCH_DATA overrides. */
export function dataDir(): string {
  return process.env.PROMFLUX_BENCH_DATA ?? join(repoRoot(), '.bench-data');
}

/**
 * The CLI the engine scenarios spawn: the bundle users run (package.json `bin`,
 * scripts/bundle.mjs). PROMFLUX_CLI names another entry, e.g. dist/src/cli/main.js for an A/B
 * against the unbundled build (docs/SCALING.md#start-up).
 */
export function cliPath(): string {
  const p = process.env.PROMFLUX_CLI ? resolve(repoRoot(), process.env.PROMFLUX_CLI) : join(repoRoot(), 'dist', 'bundle', 'promflux.mjs');
  if (!existsSync(p)) throw new Error(`the CLI ${p} is missing: run \`npm run build\` (tsc, then scripts/bundle.mjs)`);
  return p;
}

export function nativeDir(): string {
  return join(repoRoot(), 'native-bench');
}
