/**
 * promflux CLI (the program; src/cli/main.ts is the entry that starts the worker pool first). Exit codes: 0 success, 1 run failed, 2 bad usage or config, 3 stopped before
 * completion by a signal, resumable (run the same command).
 * The run summary goes to stdout (human table, or JSON with --json); logs go to stderr.
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { loadConfigFile, selectPipeline } from '../config/load.js';
import { ConfigError, PromfluxError } from '../errors.js';
import { createLogger } from '../observe/logger.js';
import { parseSinkFlag } from '../pipeline/components.js';
import { Pipeline, droppedTotal, type RunSummary } from '../pipeline/run.js';
import { validatePipeline } from '../config/load.js';
import { formatSummary } from './summary.js';
import { createProgressReporter } from '../observe/progress.js';
import { StopRequested } from '../pipeline/stop.js';
import { parseDuration } from '../util/duration.js';
import { collectSecrets, registerSecrets, scrubSecrets } from '../observe/redact.js';

const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;
/** Stopped by a signal before the work was done; the checkpoint holds what was acknowledged. */
export const EXIT_STOPPED = 3;

function intArg(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new ConfigError(`${name} must be a positive integer, got "${v}"`, { key: name });
    return n;
  };
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('promflux')
    .description('Move Prometheus time series into InfluxDB, cleaning them and computing ML features on the way.')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(str) })
    .showHelpAfterError('(run with --help for usage)');

  program
    .command('run')
    .description('run one pipeline now and print its summary')
    .requiredOption('-c, --config <file>', 'pipeline config (YAML)')
    .option('-p, --pipeline <name>', 'pipeline to run (default: the first)')
    .addOption(new Option('-w, --workers <n>', 'worker threads (default: available cores)').argParser(intArg('--workers')))
    .option('-b, --batch-size <n>', 'fixed rows per batch (turns adaptive sizing off) or "auto"')
    .option('-s, --sink <spec>', 'override the sink: null | file:PATH | arrow:PATH | influx:URL')
    .option('--summary-json <file>', 'also write the run summary as JSON')
    .option('--json', 'print the summary as JSON instead of a table')
    .option('--log-level <level>', 'trace|debug|info|warn|error|silent')
    .option('--metrics-listen <addr>', 'serve /metrics, /healthz, /readyz on this address during the run (e.g. 127.0.0.1:9464)')
    .option('--shard <i/N>', 'take shard i of N of the plan (0-based), with its own checkpoint')
    .option('--checkpoint <dir>', 'checkpoint directory (resume after a crash with the same command)')
    .option('--verify', 'after the run, read point counts and sampled series back from InfluxDB (and, for raw extractions, compare with Prometheus counts); a mismatch exits 1. Default: on for mode backfill with an influx sink')
    .option('--no-verify', 'skip that check')
    .action(async (opts: RunFlags) => {
      process.exitCode = await runCommand(opts);
    });

  return program;
}

/**
 * The other commands (serve, export, loadtest, plan, influx …) and what they import (apache-arrow,
 * croner, hdr-histogram-js): loaded unless the command is `run` or `--version`, whose start-up they would slow
 * (issue #18: process start → first batch).
 */
async function addExtraCommands(program: Command, argv: readonly string[]): Promise<void> {
  // `--version` needs only the root program.
  if (argv[2] === 'run' || argv[2] === '--version' || argv[2] === '-V') return;
  const { extraCommands } = await import('./commands.js');
  for (const add of extraCommands) add(program);
}

interface RunFlags {
  config: string;
  pipeline?: string;
  workers?: number;
  batchSize?: string;
  sink?: string;
  summaryJson?: string;
  json?: boolean;
  logLevel?: string;
  metricsListen?: string;
  shard?: string;
  checkpoint?: string;
  verify?: boolean;
}

async function runCommand(opts: RunFlags): Promise<number> {
  const { config, file } = loadConfigFile(opts.config);
  registerSecrets(collectSecrets(config));
  const logger = createLogger({ level: opts.logLevel ?? config.logging?.level ?? 'info', secrets: collectSecrets(config) });
  let p = selectPipeline(config, opts.pipeline, file);
  if (opts.sink) {
    p = validatePipeline({ ...p, sink: parseSinkFlag(opts.sink) });
    registerSecrets(collectSecrets(p.sink)); // credentials given in the --sink URL
  }
  let batchSize: number | 'auto' | undefined;
  if (opts.batchSize !== undefined) {
    if (opts.batchSize === 'auto') batchSize = 'auto';
    else batchSize = intArg('--batch-size')(opts.batchSize);
  }
  let shard: { index: number; count: number } | undefined;
  if (opts.shard !== undefined) {
    const m = /^(\d+)\/(\d+)$/.exec(opts.shard);
    if (!m || Number(m[2]) < 1 || Number(m[1]) >= Number(m[2])) throw new ConfigError(`--shard must be i/N with 0 <= i < N, got "${opts.shard}"`, { key: '--shard' });
    shard = { index: Number(m[1]), count: Number(m[2]) };
  }
  const pipeline = new Pipeline(p, {
    logger,
    ...(shard ? { shard } : {}),
    ...(opts.checkpoint ? { checkpointDir: opts.checkpoint } : {}),
    ...(opts.verify !== undefined ? { verify: opts.verify } : {}),
    ...(opts.workers !== undefined ? { workers: opts.workers } : {}),
    ...(batchSize !== undefined ? { batchSize } : {}),
    ...faultsFromEnv(),
  });
  const progress = createProgressReporter(logger);
  pipeline.on('progress', (e) => progress.update(e));
  // Imported only when asked for: it loads node:https and node:tls (start-up, issue #18).
  const server = opts.metricsListen || config.metrics?.enabled
    ? await (await import('../observe/server.js')).startMetricsServer(pipeline.metrics.registry, opts.metricsListen ?? config.metrics?.listen ?? '127.0.0.1:9464', undefined, () => {
        const st = pipeline.stall;
        return st.stalled ? { [p.name]: `stalled ${Math.round(st.seconds)} s: ${st.reason}` } : {};
      }, undefined, config.metrics ?? {})
    : undefined;
  if (server) {
    server.setReady(true);
    logger.info({ url: server.url }, 'metrics endpoint listening');
  }
  const ac = new AbortController();
  let signals = 0;
  const onSignal = (sig: string) => {
    signals++;
    if (signals === 1) {
      logger.warn({ signal: sig, stopTimeoutMs: p.engine.stopTimeoutMs }, `stopping: no new chunks; in-flight batches get ${p.engine.stopTimeoutMs} ms (engine.stopTimeoutMs) to be acknowledged, then they are cancelled (send again to cancel now)`);
      ac.abort(new StopRequested(sig));
    } else if (signals === 2) {
      pipeline.stopNow(`second ${sig}`);
    } else {
      // A third signal: the process ends now; the checkpoint is what was last flushed (at most checkpoint.intervalMs old).
      logger.error({ signal: sig }, 'third signal: exiting at once without writing the checkpoint');
      process.exit(130);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // The pipeline's `timeout` holds for `run` as for `serve`: drain, checkpoint, exit 1.
  let timedOut = false;
  const timeoutMs = p.timeout !== undefined ? parseDuration(p.timeout, 'timeout') : undefined;
  const timer = timeoutMs
    ? setTimeout(() => {
        timedOut = true;
        logger.error({ timeout: p.timeout }, `run exceeded its timeout (${p.timeout}); draining in-flight batches — run the same command again to resume from the checkpoint`);
        ac.abort(new DOMException(`run exceeded its timeout (${p.timeout})`, 'TimeoutError'));
      }, timeoutMs).unref()
    : undefined;
  const summary = await pipeline.run({ signal: ac.signal });
  clearTimeout(timer);
  progress.stop();
  await server?.close();
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  emitSummary(summary, opts);
  if (summary.status === 'failed' || (timedOut && summary.status !== 'ok')) return EXIT_FAILED;
  if (summary.status === 'stopped' && summary.stop?.remaining) return EXIT_STOPPED;
  return EXIT_OK;
}

/**
 * Test builds only: PROMFLUX_FAULTS=1 with PROMFLUX_FAULT_BATCHES="2:exit,5:throw" makes those batch
 * ids kill their worker or throw in it on the first attempt (fault tests of the CLI).
 */
function faultsFromEnv(): { faults?: Map<number, 'throw' | 'exit'> } {
  const spec = process.env.PROMFLUX_FAULT_BATCHES;
  if (process.env.PROMFLUX_FAULTS !== '1' || !spec) return {};
  const faults = new Map<number, 'throw' | 'exit'>();
  for (const item of spec.split(',')) {
    const m = /^\s*(\d+):(throw|exit)\s*$/.exec(item);
    if (!m) throw new ConfigError(`PROMFLUX_FAULT_BATCHES: expected "id:throw|exit,…", got "${item}"`, { key: 'PROMFLUX_FAULT_BATCHES' });
    faults.set(Number(m[1]), m[2] as 'throw' | 'exit');
  }
  return { faults };
}

function emitSummary(summary: RunSummary, opts: { summaryJson?: string; json?: boolean }): void {
  // Error messages and sink URLs in a summary may quote credentials: scrub them.
  const json = scrubSecrets(JSON.stringify(summary, null, 2)) + '\n';
  if (opts.summaryJson) {
    mkdirSync(dirname(opts.summaryJson), { recursive: true });
    writeFileSync(opts.summaryJson, json);
  }
  if (opts.json) process.stdout.write(json);
  else process.stdout.write(scrubSecrets(formatSummary(summary)) + '\n');
  if (summary.samplesIn !== summary.linesOut + droppedTotal(summary) && summary.status === 'ok') {
    process.stderr.write(`promflux: accounting mismatch: ${summary.samplesIn} in ≠ ${summary.linesOut} out + ${droppedTotal(summary)} dropped\n`);
  }
}

export async function main(argv = process.argv): Promise<number> {
  const program = buildProgram();
  try {
    await addExtraCommands(program, argv);
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT_OK;
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and version exit 0; usage errors exit 2
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return EXIT_OK;
      return EXIT_USAGE;
    }
    if (err instanceof ConfigError) {
      process.stderr.write(scrubSecrets(`promflux: config error: ${err.message}\n`));
      return EXIT_USAGE;
    }
    if (err instanceof PromfluxError) {
      process.stderr.write(scrubSecrets(`promflux: ${err.code}: ${err.message}\n`));
      return EXIT_FAILED;
    }
    process.stderr.write(scrubSecrets(`promflux: ${(err as Error)?.stack ?? String(err)}\n`));
    return EXIT_FAILED;
  }
}
