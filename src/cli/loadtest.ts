/**
 * `promflux loadtest`: hold a target write rate against InfluxDB and say whether the SLO was met
 * (exit 0) or missed (exit 1); bad flags exit 2. README "Benchmark your InfluxDB".
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Option, type Command } from 'commander';
import { Registry } from 'prom-client';
import { loadConfigFile, selectPipeline, validatePipeline } from '../config/load.js';
import type { PipelineConfig, PromfluxConfig } from '../config/schema.js';
import { ConfigError } from '../errors.js';
import { parseInfluxSinkConfig, parseSinkUrl, type InfluxSinkConfig } from '../load/influx/config.js';
import { chartSvg, formatRate, formatReport, parseRate, parseSlo, runLoadtest, DEFAULT_SLO, type FindMaxReport, type StepReport } from '../loadtest/index.js';
import { createLogger } from '../observe/logger.js';
import { collectSecrets, registerSecrets, scrubSecrets } from '../observe/redact.js';
import { startMetricsServer } from '../observe/server.js';
import type { LoadtestBlock } from '../loadtest/schema.js';
import { parseDuration } from '../util/duration.js';

interface LoadtestFlags {
  config?: string;
  pipeline?: string;
  sink?: string;
  mode?: string;
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
  workers?: string;
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

/** Where a setting came from, for the error that names it: the flag, or the config file's key. */
interface Origin {
  flag: string;
  key: string;
  file?: string;
}

function int(what: string, v: string | number | undefined, min: number, where: { file?: string; key?: string } = { key: what }): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new ConfigError(`${what} must be an integer >= ${min}, got "${v}"`, where);
  return n;
}

/** The config file's `loadtest:` block and pipeline, when --config is given. */
interface Loaded {
  file: string;
  config: PromfluxConfig;
  block: LoadtestBlock;
}

function loadConfig(opts: LoadtestFlags): Loaded | undefined {
  if (!opts.config) return undefined;
  const { config, file } = loadConfigFile(opts.config);
  registerSecrets(collectSecrets(config));
  return { file, config, block: config.loadtest ?? {} };
}

function resolveSink(opts: LoadtestFlags, loaded: Loaded | undefined, pipelineName: string | undefined, concurrency: number | undefined): { sink: InfluxSinkConfig; pipeline: PipelineConfig | undefined } {
  let sink: InfluxSinkConfig;
  let pipeline: PipelineConfig | undefined;
  if (loaded) pipeline = selectPipeline(loaded.config, pipelineName, loaded.file);
  if (opts.sink) sink = parseSinkUrl(opts.sink);
  else if (pipeline) {
    if (pipeline.sink.kind !== 'influx') {
      throw new ConfigError(`loadtest writes to InfluxDB, but pipeline "${pipeline.name}" has a ${pipeline.sink.kind} sink; give --sink influx:URL or a pipeline with an influx sink`, { file: loaded!.file, key: `pipelines.${pipeline.name}.sink` });
    }
    sink = parseInfluxSinkConfig(pipeline.sink, loaded!.file);
  } else throw new ConfigError('loadtest needs a target: --config FILE (its pipeline\'s influx sink) or --sink influx:http://host:8086?db=NAME', { key: '--config' });
  registerSecrets(collectSecrets(sink));
  return { sink: concurrency ? { ...sink, concurrency } : sink, pipeline };
}

/**
 * The effective settings: a flag given on the command line, else the config's `loadtest:` key,
 * else the flag's default. `given(flag)` tells a typed flag from commander's default.
 */
function settings(opts: LoadtestFlags, given: (k: keyof LoadtestFlags) => boolean, loaded: Loaded | undefined) {
  const b: LoadtestBlock = loaded?.block ?? {};
  const file = loaded?.file;
  const pick = <K extends keyof LoadtestFlags & keyof LoadtestBlock>(k: K, flag: string): { value: LoadtestFlags[K] | LoadtestBlock[K]; origin: Origin; explicit: boolean } => {
    const fromFlag = given(k) || b[k] === undefined;
    return {
      value: fromFlag ? opts[k] : b[k],
      origin: fromFlag ? { flag, key: flag } : { flag, key: `loadtest.${k}`, ...(file ? { file } : {}) },
      explicit: given(k) || b[k] !== undefined,
    };
  };
  const where = (o: Origin) => ({ ...(o.file ? { file: o.file } : {}), key: o.key });
  const dur = (k: 'duration' | 'ramp' | 'spread', flag: string): number | undefined => {
    const p = pick(k, flag);
    return p.value === undefined ? undefined : parseDuration(p.value, p.origin.key);
  };
  const rate = (k: 'rate' | 'rampFrom', flag: string): number | undefined => {
    const p = pick(k, flag);
    if (p.value === undefined) return undefined;
    try {
      return parseRate(String(p.value), p.origin.key);
    } catch (err) {
      throw new ConfigError((err as ConfigError).message.replace(/^key "[^"]*": /, ''), where(p.origin));
    }
  };
  const num = (k: 'series' | 'tags' | 'fields' | 'batchLines' | 'maxInFlight' | 'concurrency' | 'workers', flag: string, min: number): number | undefined => {
    const p = pick(k, flag);
    return int(p.origin.key, p.value, min, where(p.origin));
  };
  const modeP = pick('mode', '--mode');
  const mode = String(modeP.value ?? 'direct');
  if (mode !== 'direct' && mode !== 'pipeline') throw new ConfigError(`must be "direct" or "pipeline", got "${mode}"`, where(modeP.origin));
  if (mode === 'pipeline') {
    for (const [k, flag, why] of [
      ['tags', '--tags', 'the synthetic series carry their own labels (service, instance, quantile)'],
      ['fields', '--fields', "each line carries the value and the pipeline's features"],
      ['measurement', '--measurement', 'the synthetic source names its own metrics (application_*, node_*)'],
    ] as const) {
      const p = pick(k, flag);
      if (p.explicit) throw new ConfigError(`applies to mode: direct only; in pipeline mode ${why}`, where(p.origin));
    }
  }
  const durationMs = dur('duration', '--duration')!;
  if (!(durationMs > 0)) throw new ConfigError('must be > 0', where(pick('duration', '--duration').origin));
  const sloP = pick('slo', '--slo');
  const findMaxB = b.findMax;
  const findMax = given('findMax') ? opts.findMax : findMaxB !== undefined && findMaxB !== false;
  const fmObj = typeof findMaxB === 'object' ? findMaxB : {};
  return {
    mode: mode as 'direct' | 'pipeline',
    pipelineName: given('pipeline') || b.pipeline === undefined ? opts.pipeline : b.pipeline,
    durationMs,
    rate: rate('rate', '--rate')!,
    rampMs: dur('ramp', '--ramp') ?? 0,
    fromRate: rate('rampFrom', '--ramp-from') ?? 0,
    slo: parseSlo(String(sloP.value), sloP.origin.key),
    series: num('series', '--series', 1)!,
    tags: num('tags', '--tags', 0)!,
    fields: num('fields', '--fields', 1)!,
    spreadMs: dur('spread', '--spread') ?? durationMs,
    measurement: String(pick('measurement', '--measurement').value),
    batchLines: num('batchLines', '--batch-lines', 1),
    maxInFlight: num('maxInFlight', '--max-in-flight', 1),
    concurrency: num('concurrency', '--concurrency', 1),
    workers: num('workers', '--workers', 1),
    verify: given('verify') || b.verify === undefined ? opts.verify : b.verify,
    findMax: findMax
      ? { factor: given('stepFactor') || fmObj.factor === undefined ? stepFactor(opts.stepFactor) : fmObj.factor, maxSteps: given('maxSteps') || fmObj.maxSteps === undefined ? int('--max-steps', opts.maxSteps, 1)! : fmObj.maxSteps }
      : undefined,
  };
}

export async function loadtestCommand(opts: LoadtestFlags, given: (k: keyof LoadtestFlags) => boolean = (k) => opts[k] !== undefined): Promise<number> {
  const loaded = loadConfig(opts);
  const s = settings(opts, given, loaded);
  const { sink, pipeline: selected } = resolveSink(opts, loaded, s.pipelineName, s.concurrency);
  const logger = createLogger({ level: opts.logLevel ?? 'warn', secrets: collectSecrets(sink) });
  const pipeline = s.mode === 'pipeline' ? pipelineForLoad(selected, sink) : undefined;
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
      mode: s.mode,
      ...(pipeline ? { pipeline } : {}),
      ...(s.workers ? { workers: s.workers } : {}),
      sink,
      rate: s.rate,
      durationMs: s.durationMs,
      rampMs: s.rampMs,
      fromRate: s.fromRate,
      shape: { measurement: s.measurement, series: s.series, tags: s.tags, fields: s.fields, spreadMs: s.spreadMs },
      slo: s.slo,
      ...(s.batchLines ? { batchLines: s.batchLines } : {}),
      ...(s.maxInFlight ? { maxInFlight: s.maxInFlight } : {}),
      verify: s.verify,
      ...(s.findMax ? { findMax: s.findMax } : {}),
      logger,
      registry,
      signal: ac.signal,
      onStep: (r, i) => {
        if (s.findMax) process.stderr.write(`step ${i}: ${formatRate(r.target.rate)} → ${formatRate(r.achieved.rate)}, p99 ${r.latencyMs.p99} ms: ${r.verdict}\n`);
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

/**
 * Pipeline mode: the config's pipeline (its transforms, encode, schema and engine), or a bare one,
 * with the load test's sink. A load test never resumes or shards: checkpoint and verify settings of
 * the pipeline are not used (the load test's own verify decides).
 */
function pipelineForLoad(selected: PipelineConfig | undefined, sink: InfluxSinkConfig): PipelineConfig {
  const base = selected ?? validatePipeline({ name: 'loadtest', source: { kind: 'synthetic' }, sink });
  const { checkpoint: _c, verify: _v, timeout: _t, ...rest } = base;
  return { ...rest, sink };
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
    .addOption(new Option('--mode <mode>', 'direct: line protocol straight to the sink; pipeline: the synthetic source through the whole pipeline').choices(['direct', 'pipeline']).default('direct'))
    .option('--rate <rate>', 'target rate in points/s, e.g. 300k/s', '10k/s')
    .option('--duration <d>', 'how long to hold it', '60s')
    .option('--ramp <d>', 'climb linearly to --rate over this long first (part of --duration)')
    .option('--ramp-from <rate>', 'rate the ramp starts at (default 0)')
    .option('--series <n>', 'distinct series (measurement + tag set)', '1000')
    .option('--tags <n>', 'direct mode: tag keys per line (the series spread over them: tag cardinality)', '2')
    .option('--fields <n>', 'direct mode: float fields per line', '1')
    .option('--spread <d>', 'time span the timestamps cover (default: --duration)')
    .option('--measurement <name>', 'direct mode: measurement written', 'promflux_loadtest')
    .option('--batch-lines <n>', 'points per write request (default: ~20 ms of the rate, 100..5000); pipeline mode: rows per batch (default ~50 ms, 700..50 000)')
    .option('--max-in-flight <n>', 'requests outstanding at most (memory bound; default 4 × concurrency, >= 8)')
    .option('--concurrency <n>', 'concurrent HTTP requests (overrides sink.concurrency)')
    .option('--workers <n>', 'pipeline mode: worker threads (default: all cores)')
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
    .action(async (opts: LoadtestFlags, cmd: Command) => {
      process.exitCode = await loadtestCommand(opts, (k) => cmd.getOptionValueSource(k) === 'cli');
    });
}
