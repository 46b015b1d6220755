/**
 * `promflux bench`: the same benchmark runner as `npm run bench` (quick) / `npm run bench:full`.
 * The runner ships with the repository (benchmarks/), not with the library build; it is loaded
 * from beside the compiled CLI.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Command } from 'commander';
import { PromfluxError } from '../errors.js';

export function registerBench(program: Command): void {
  program
    .command('bench')
    .description('run the benchmarks (quick subset by default) and regenerate benchmarks/RESULTS.md')
    .option('--full', 'run every scenario at full size (long)')
    .option('--only <names>', 'comma-separated scenario names')
    .option('--runs <n>', 'runs per figure (>= 5)', (v) => Number(v))
    .option('--out <file>', 'where to write the report (default benchmarks/RESULTS.md)')
    .action(async (opts: { full?: boolean; only?: string; runs?: number; out?: string }) => {
      const runner = fileURLToPath(new URL('../../benchmarks/run.js', import.meta.url));
      if (!existsSync(runner)) {
        throw new PromfluxError('PROMFLUX_BENCH_MISSING', `benchmark runner not found at ${runner}: run "promflux bench" from a repository checkout after "npm run build"`);
      }
      const mod = (await import(pathToFileURL(runner).href)) as {
        runBenchmarks: (o: { quick: boolean; only?: string[]; out?: string; runs?: number }) => Promise<unknown[]>;
      };
      await mod.runBenchmarks({
        quick: !opts.full,
        ...(opts.only ? { only: opts.only.split(',').map((s) => s.trim()).filter(Boolean) } : {}),
        ...(opts.out ? { out: opts.out } : {}),
        ...(opts.runs ? { runs: opts.runs } : {}),
      });
      process.exitCode = 0;
    });
}
