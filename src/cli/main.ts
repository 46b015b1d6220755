#!/usr/bin/env node
/**
 * promflux CLI entry. For `promflux run` it starts the worker pool first (src/pool/prestart.ts),
 * so the workers boot while the main thread loads the program (src/cli/program.ts: commander,
 * config schema, sources, sinks); everything else is imported after that. Keep this file's static
 * imports to node built-ins and the pool (issue #18, start-up: process start → first batch).
 */
import { realpathSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { discardPrestartedPool, prestartPool } from '../pool/prestart.js';

/** `--workers N` / `-w N` / `--workers=N` from argv; without the flag, the config default (`auto`: all cores); null for a value that is not a positive integer (the program reports it). */
export function workersFromArgv(argv: readonly string[]): number | null {
  for (let i = 3; i < argv.length; i++) {
    const a = argv[i]!;
    let v: string | undefined;
    if (a === '--workers' || a === '-w') v = argv[i + 1];
    else if (a.startsWith('--workers=')) v = a.slice('--workers='.length);
    else if (/^-w\d+$/.test(a)) v = a.slice(2);
    else continue;
    const n = Number(v);
    return Number.isInteger(n) && n >= 1 ? n : null;
  }
  return availableParallelism();
}

export async function main(argv = process.argv): Promise<number> {
  // A config naming another worker count makes the run close this pool and start its own (src/pool/prestart.ts).
  if (argv[2] === 'run' && !argv.includes('--help') && !argv.includes('-h')) {
    const w = workersFromArgv(argv);
    if (w !== null) prestartPool(w);
  }
  try {
    const program = await import('./program.js');
    return await program.main(argv);
  } finally {
    await discardPrestartedPool();
  }
}

const invokedDirectly = (() => {
  try {
    return !!process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
})();
if (invokedDirectly) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.stderr.write(String(err) + '\n');
      process.exitCode = 1;
    },
  );
}
