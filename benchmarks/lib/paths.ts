/** Where things are, whether running from benchmarks/*.ts (tsx) or dist/benchmarks/*.js. */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
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

/** The compiled CLI entry the engine scenarios spawn. */
export function cliPath(): string {
  return join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
}

export function nativeDir(): string {
  return join(repoRoot(), 'native-bench');
}
