/**
 * `promflux loadtest`: hold a target write rate against InfluxDB and say whether the SLO was met
 * (exit 0) or missed (exit 1); bad flags exit 2. README "Benchmark your InfluxDB".
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Option, type Command } from 'commander';
import { Registry } from 'prom-client';
import { loadConfigFile, selectPipeline } from '../config/load.js';
import { ConfigError } from '../errors.js';
import { parseInfluxSinkConfig, parseSinkUrl, type InfluxSinkConfig } from '../load/influx/config.js';
import { chartSvg, formatRate, formatReport, parseRate, parseSlo, runLoadtest, DEFAULT_SLO, type FindMaxReport, type StepReport } from '../loadtest/index.js';
import { createLogger } from '../observe/logger.js';
import { collectSecrets, registerSecrets, scrubSecrets } from '../observe/redact.js';
import { startMetricsServer } from '../observe/server.js';
import { parseDuration } from '../util/duration.js';

interface LoadtestFlags {
  config?: string;
  pipeline?: string;
  sink?: string;
  rate: string;
  duration: string;
  ramp?: string;
  rampFrom?: string;
  series: string;
  tags: string;
  fields: string;
  spread?: string;
  measurement: string;
  batchLines?: string;
  maxInFlight?: string;
  concurrency?: string;
  slo: string;
  findMax?: boolean;
  stepFactor: string;
  maxSteps: string;
  json?: boolean;
  out?: string;
  svg?: string;
  metricsListen?: string;
  verify: boolean;
  logLevel?: string;
}

function int(flag: string, v: string | undefined, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new ConfigError(`${flag} must be an integer >= ${min}, got "${v}"`, { key: flag });
  return n;
}

function resolveSink(opts: LoadtestFlags): InfluxSinkConfig {
  let sink: InfluxSinkConfig;
  if (opts.sink) sink = parseSinkUrl(opts.sink);
  else if (opts.config) {
    const { config, file } = loadConfigFile(opts.config);
    registerSecrets(collectSecrets(config));
    const p = selectPipeline(config, opts.pipeline, file);
    if (p.sink.kind !== 'influx') {
      throw new ConfigError(`loadtest writes to InfluxDB, but pipeline "${p.name}" has a ${p.sink.kind} sink; give --sink influx:URL or a pipeline with an influx sink`, { file, key: `pipelines.${p.name}.sink` });
    }
    sink = parseInfluxSinkConfig(p.sink, file);
  } else throw new ConfigError('loadtest needs a target: --config FILE (its pipeline\'s influx sink) or --sink influx:http://host:8086?db=NAME', { key: '--config' });
  registerSecrets(collectSecrets(sink));
  const c = int('--concurrency', opts.concurrency, 1);
  return c ? { ...sink, concurrency: c } : sink;
}

export async function loadtestCommand(opts: LoadtestFlags): Promise<number> {
  const sink = resolveSink(opts);
  const logger = createLogger({ level: opts.logLevel ?? 'warn', secrets: collectSecrets(sink) });
  const durationMs = parseDuration(opts.duration, '--duration');
  if (!(durationMs > 0)) throw new ConfigError('--duration must be > 0', { key: '--duration' });
  const rate = parseRate(opts.rate);
  const rampMs = opts.ramp ? parseDuration(opts.ramp, '--ramp') : 0;
  const slo = parseSlo(opts.slo);
  const registry = new Registry();
  const server = opts.metricsListen ? await startMetricsServer(registry, opts.metricsListen) : undefined;
  if (server) {
    server.setReady(true);
    process.stderr.write(`promflux loadtest: metrics on ${server.url}/metrics\n`);
  }
  const ac = new AbortController();
  const onSignal = (): void => ac.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let result: StepReport | FindMaxReport;
  try {
    result = await runLoadtest({
      sink,
      rate,
      durationMs,
      rampMs,
      fromRate: opts.rampFrom ? parseRate(opts.rampFrom, '--ramp-from') : 0,
      shape: {
        measurement: opts.measurement,
        series: int('--series', opts.series, 1)!,
        tags: int('--tags', opts.tags, 0)!,
        fields: int('--fields', opts.fields, 1)!,
        spreadMs: opts.spread ? parseDuration(opts.spread, '--spread') : durationMs,
      },
      slo,
      ...(opts.batchLines ? { batchLines: int('--batch-lines', opts.batchLines, 1)! } : {}),
      ...(opts.maxInFlight ? { maxInFlight: int('--max-in-flight', opts.maxInFlight, 1)! } : {}),
      verify: opts.verify,
      ...(opts.findMax ? { findMax: { factor: stepFactor(opts.stepFactor), maxSteps: int('--max-steps', opts.maxSteps, 1)! } } : {}),
      logger,
      registry,
      signal: ac.signal,
      onStep: (r, i) => {
        if (opts.findMax) process.stderr.write(`step ${i}: ${formatRate(r.target.rate)} → ${formatRate(r.achieved.rate)}, p99 ${r.latencyMs.p99} ms: ${r.verdict}\n`);
      },
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await server?.close();
  }
  const json = scrubSecrets(JSON.stringify(result, null, 2)) + '\n';
  if (opts.out) {
    mkdirSync(dirname(opts.out), { recursive: true });
    writeFileSync(opts.out, json);
  }
  const chartOf = 'steps' in result ? result.atMax ?? result.steps[result.steps.length - 1] : result;
  if (opts.svg && chartOf) {
    mkdirSync(dirname(opts.svg), { recursive: true });
    writeFileSync(opts.svg, chartSvg(chartOf));
  }
  if (opts.json) process.stdout.write(json);
  else process.stdout.write(scrubSecrets(formatResult(result)) + '\n');
  return result.verdict === 'met' ? 0 : 1;
}

function stepFactor(v: string): number {
  const n = Number(v);
  if (!(n > 1 && n <= 10)) throw new ConfigError(`--step-factor must be a number in (1, 10], got "${v}"`, { key: '--step-factor' });
  return n;
}

function formatResult(r: StepReport | FindMaxReport): string {
  if (!('steps' in r)) return formatReport(r);
  const lines = r.steps.map((s, i) => `  step ${i}: target ${formatRate(s.target.rate)}, achieved ${formatRate(s.achieved.rate)}, p99 ${s.latencyMs.p99} ms, max ${s.latencyMs.max} ms: ${s.verdict}`);
  const head = r.maxSustainedRate !== null
    ? `highest sustained rate: ${formatRate(r.maxSustainedRate)} (confirmed by a second step)`
    : 'no rate met the SLO (even the first step and the steps down missed)';
  return [head, ...lines, ...(r.atMax ? ['', formatReport(r.atMax)] : [])].join('\n');
}

export function registerLoadtest(program: Command): void {
  program
    .command('loadtest')
    .description('hold a target write rate against InfluxDB (open loop) and check it against an SLO: exit 0 met, 1 missed')
    .option('-c, --config <file>', 'pipeline config whose influx sink is the target')
    .option('-p, --pipeline <name>', 'pipeline of the config (default: the first)')
    .option('-s, --sink <spec>', 'target as influx:URL (instead of, or overriding, the config)')
    .option('--rate <rate>', 'target rate in points/s, e.g. 300k/s', '10k/s')
    .option('--duration <d>', 'how long to hold it', '60s')
    .option('--ramp <d>', 'climb linearly to --rate over this long first (part of --duration)')
    .option('--ramp-from <rate>', 'rate the ramp starts at (default 0)')
    .option('--series <n>', 'distinct series (measurement + tag set)', '1000')
    .option('--tags <n>', 'tag keys per line (the series spread over them: tag cardinality)', '2')
    .option('--fields <n>', 'float fields per line', '1')
    .option('--spread <d>', 'time span the timestamps cover (default: --duration)')
    .option('--measurement <name>', 'measurement written', 'promflux_loadtest')
    .option('--batch-lines <n>', 'points per write request (default: ~20 ms of the rate, 100..5000)')
    .option('--max-in-flight <n>', 'requests outstanding at most (memory bound; default 4 × concurrency, >= 8)')
    .option('--concurrency <n>', 'concurrent HTTP requests (overrides sink.concurrency)')
    .option('--slo <terms>', 'pass criteria: p50|p90|p99|p99.9|max < DURATION, rate >= RATIO, errors < RATIO', DEFAULT_SLO)
    .option('--find-max', 'step the rate up from --rate until the SLO breaks, confirm by a step down, report the highest sustained rate')
    .addOption(new Option('--step-factor <x>', 'find-max: rate multiplier per step').default('1.5'))
    .addOption(new Option('--max-steps <n>', 'find-max: steps up at most').default('8'))
    .option('--json', 'print the report as JSON instead of a table')
    .option('--out <file>', 'also write the JSON report to this file')
    .option('--svg <file>', 'write a chart of rate and latency over time')
    .option('--metrics-listen <addr>', 'serve /metrics during the run (e.g. 127.0.0.1:9464)')
    .option('--no-verify', 'do not read the point count back from InfluxDB')
    .option('--log-level <level>', 'trace|debug|info|warn|error|silent (default warn)')
    .action(async (opts: LoadtestFlags) => {
      process.exitCode = await loadtestCommand(opts);
    });
}
