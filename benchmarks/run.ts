/**
 * The benchmark runner: `npm run bench` (quick subset, < 5 min), `npm run bench:full`, and the
 * `promflux bench` CLI command. Finds every scenario file beside this one (benchmarks/*.ts, compiled
 * to dist/benchmarks/*.js; lib/ and run.* excluded), runs them in name order, prints machine info and
 * a table per scenario, and regenerates benchmarks/RESULTS.md and the SVG charts.
 *
 *   node dist/benchmarks/run.js --quick|--full [--only a,b] [--out path/RESULTS.md] [--runs N]
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { machineInfo, formatMachine } from './lib/machine.js';
import { repoRoot } from './lib/paths.js';
import { consoleTable, resultsMarkdown } from './lib/report.js';
import type { Scenario, ScenarioResult } from './lib/scenario.js';

export interface RunBenchmarksOptions {
  quick: boolean;
  /** Scenario names to run (default: all; quick mode: those with `quick: true`). */
  only?: string[];
  /**
   * RESULTS.md path. Default benchmarks/RESULTS.md; with `only` set the default is to write no
   * report, so a partial run does not overwrite the full one.
   */
  out?: string;
  /** Runs per figure (default 5; never fewer than 5). */
  runs?: number;
  /** Where progress and tables go (default: stdout). */
  log?: (line: string) => void;
  /** Directory to find scenario files in (default: the one holding this file). */
  dir?: string;
}

const MIN_RUNS = 5;

/** Scenario modules beside this file, sorted by file name. */
export function scenarioFiles(dir = dirname(fileURLToPath(import.meta.url))): string[] {
  const ext = extname(fileURLToPath(import.meta.url)); // .js compiled, .ts under tsx
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith(ext) && !e.name.endsWith('.d.ts') && !e.name.startsWith('run.'))
    .map((e) => join(dir, e.name))
    .sort();
}

function isScenario(x: unknown): x is Scenario {
  const s = x as Partial<Scenario> | null;
  return !!s && typeof s.name === 'string' && typeof s.run === 'function' && typeof s.quick === 'boolean';
}

export async function runBenchmarks(opts: RunBenchmarksOptions): Promise<ScenarioResult[]> {
  const log = opts.log ?? ((l: string) => process.stdout.write(l + '\n'));
  const runs = Math.max(MIN_RUNS, opts.runs ?? MIN_RUNS);
  const mode = opts.quick ? 'quick' : 'full';
  const machine = machineInfo();
  const started = Date.now();
  log(`promflux benchmarks (${mode} mode, ${runs} runs per figure)`);
  log(formatMachine(machine));

  const results: ScenarioResult[] = [];
  const skipped: { name: string; reason: string }[] = [];
  const only = opts.only?.length ? new Set(opts.only) : undefined;
  for (const file of scenarioFiles(opts.dir)) {
    const fileName = basename(file, extname(file));
    let scenario: Scenario;
    try {
      const mod = (await import(pathToFileURL(file).href)) as { default?: unknown };
      if (!isScenario(mod.default)) {
        skipped.push({ name: fileName, reason: 'file does not `export default` a Scenario' });
        continue;
      }
      scenario = mod.default;
    } catch (err) {
      // one broken scenario file must not hide the others' figures
      const msg = err instanceof Error ? err.message : String(err);
      if (!only || only.has(fileName)) {
        results.push({ name: fileName, title: fileName, method: '-', figures: [], notes: [`FAILED to load: ${msg}`] });
        log(`!! ${fileName}: failed to load: ${msg}`);
      }
      continue;
    }
    if (only && !only.has(scenario.name) && !only.has(fileName)) continue;
    if (opts.quick && !scenario.quick && !only) {
      skipped.push({ name: scenario.name, reason: 'full mode only (`npm run bench:full`)' });
      continue;
    }
    log(`-- running ${scenario.name} …`);
    const t0 = Date.now();
    let r: ScenarioResult;
    try {
      r = await scenario.run({ quick: opts.quick, runs, log: (l: string) => log(`   ${scenario.name}: ${l}`) });
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      r = { name: scenario.name, title: scenario.name, method: '-', figures: [], notes: [`FAILED: ${msg}`] };
    }
    (r.notes ??= []).push(`scenario wall time ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    results.push(r);
    log(consoleTable(r));
  }

  const durationMs = Date.now() - started;
  const out = opts.out ?? (only ? undefined : join(repoRoot(), 'benchmarks', 'RESULTS.md'));
  if (out) {
    mkdirSync(dirname(out), { recursive: true });
    for (const r of results) if (r.svg) writeFileSync(join(dirname(out), r.svg.file), r.svg.content);
    writeFileSync(out, resultsMarkdown({ results, machine, mode, date: new Date(started), runs, skipped, durationMs }));
    log(`wrote ${out}`);
  }
  for (const s of skipped) log(`(not run: ${s.name}: ${s.reason})`);
  log(`total ${(durationMs / 1000).toFixed(1)} s`);
  return results;
}

function parseArgs(argv: readonly string[]): RunBenchmarksOptions {
  const o: RunBenchmarksOptions = { quick: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const val = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--quick') o.quick = true;
    else if (a === '--full') o.quick = false;
    else if (a === '--only') o.only = val().split(',').filter(Boolean);
    else if (a === '--out') o.out = val();
    else if (a === '--runs') o.runs = Number(val());
    else throw new Error(`unknown option ${a} (use --quick | --full [--only a,b] [--out file] [--runs N])`);
  }
  return o;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runBenchmarks(parseArgs(process.argv.slice(2))).then(
    (rs) => {
      // exit 0 even when targets are missed: the report says so; a failed scenario exits 1
      process.exitCode = rs.some((r) => r.notes?.some((n) => n.startsWith('FAILED'))) ? 1 : 0;
    },
    (err: unknown) => {
      process.stderr.write(`promflux bench: ${err instanceof Error ? err.stack : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
