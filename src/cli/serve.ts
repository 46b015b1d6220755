/**
 * `promflux serve`: a long-lived service running every scheduled pipeline on its cron schedule
 * (croner; time zones; `protect` so one pipeline never overlaps itself) and every streaming
 * pipeline continuously, with /metrics, /healthz, /readyz and the feature routes /v1/features[/latest]
 * (src/access/serve.ts, docs/ACCESS.md). SIGINT/SIGTERM: stop scheduling, stop
 * extracting, give in-flight batches until engine.stopTimeoutMs, write checkpoints, exit 0 (or 3
 * when a run was cut short: work left for a resume). A second signal cancels in-flight batches at once.
 */
import { Cron } from 'croner';
import type { Command } from 'commander';
import type { Logger } from 'pino';
import { loadConfigFile } from '../config/load.js';
import type { PipelineConfig } from '../config/schema.js';
import { ConfigError } from '../errors.js';
import { createLogger } from '../observe/logger.js';
import { createEngineMetrics } from '../observe/metrics.js';
import { startMetricsServer } from '../observe/server.js';
import { parseDuration } from '../util/duration.js';
import { Pipeline, type RunSummary } from '../pipeline/run.js';
import { Registry } from 'prom-client';
import { setTimeout as sleep } from 'node:timers/promises';
import { collectSecrets, registerSecrets } from '../observe/redact.js';
import { createProgressReporter } from '../observe/progress.js';
import { StopRequested } from '../pipeline/stop.js';
import { featureRoutes } from '../access/serve.js';
import { LatestStore } from '../access/latest.js';

export interface ServeOptions {
  config: string;
  pipeline?: string[];
  metricsListen?: string;
  logLevel?: string;
}

export interface Service {
  /** Resolves when the service has stopped (after stop()). */
  done: Promise<void>;
  stop(reason?: string): Promise<void>;
  readonly metricsUrl: string | undefined;
  /** Summaries of finished runs, newest last (bounded). */
  readonly history: RunSummary[];
  /** Pipelines whose run the stop cut short (work left for a resume): `serve` then exits 3. */
  readonly cutShort: string[];
  /** A second signal: cancel the running pipelines' in-flight batches now (checkpoints are still written). */
  stopNow(reason?: string): void;
}

function isStreaming(p: PipelineConfig): boolean {
  return (p.source as { mode?: string }).mode === 'stream';
}

export async function startService(opts: ServeOptions, logger?: Logger): Promise<Service> {
  const { config, file } = loadConfigFile(opts.config);
  registerSecrets(collectSecrets(config));
  const log = logger ?? createLogger({ level: opts.logLevel ?? config.logging?.level ?? 'info', secrets: collectSecrets(config) });
  const selected = opts.pipeline?.length ? config.pipelines.filter((p) => opts.pipeline!.includes(p.name)) : config.pipelines;
  if (opts.pipeline?.length && selected.length !== opts.pipeline.length) {
    throw new ConfigError(`unknown pipeline(s): ${opts.pipeline.filter((n) => !config.pipelines.some((p) => p.name === n)).join(', ')}`, { file, key: 'pipelines' });
  }
  const registry = new Registry();
  const metrics = createEngineMetrics(registry, true);
  // Newest feature vector per series of the pipelines run here, for GET /v1/features/latest.
  const latest = new LatestStore({ maxSeries: config.serving?.maxSeries ?? 100_000, registry });
  const history: RunSummary[] = [];
  const cutShort: string[] = [];
  const running = new Map<string, { ac: AbortController; pipeline?: Pipeline }>();
  const stopAc = new AbortController();
  const crons: Cron[] = [];
  let stopping = false;
  let failuresInRow = 0;

  const runOnce = async (p: PipelineConfig, trigger: string, next?: () => Date | null): Promise<void> => {
    if (running.has(p.name)) {
      log.warn({ pipeline: p.name, trigger }, 'previous run still in progress; skipping this trigger');
      return;
    }
    const ac = new AbortController();
    const slot: { ac: AbortController; pipeline?: Pipeline } = { ac };
    running.set(p.name, slot);
    const timeoutMs = p.timeout !== undefined ? parseDuration(p.timeout, 'timeout') : undefined;
    const signal = timeoutMs ? AbortSignal.any([ac.signal, AbortSignal.timeout(timeoutMs)]) : ac.signal;
    // The run logs "run starting" / "run finished" itself (once), tagged with its trigger.
    const runLog = log.child({ trigger });
    // A service's logs are not a terminal: progress as a log line every 10 s while batches flow.
    const progress = createProgressReporter(runLog.child({ pipeline: p.name }), { tty: false });
    try {
      const pipeline = new Pipeline(p, { logger: runLog, metrics, latestRows: true });
      slot.pipeline = pipeline;
      pipeline.on('progress', (e) => progress.update(e));
      pipeline.on('batch', (e) => e.result.latest && latest.add(p.name, e.result.latest));
      const s = await pipeline.run({ signal });
      if (timeoutMs && signal.aborted && !ac.signal.aborted) {
        log.error({ pipeline: p.name, timeoutMs }, `run exceeded its timeout (${p.timeout}); stopped after draining — it resumes from the checkpoint next time`);
      }
      history.push(s);
      if (history.length > 100) history.shift();
      if (stopping && s.status === 'stopped' && s.stop?.remaining) cutShort.push(p.name);
      failuresInRow = s.status === 'failed' ? failuresInRow + 1 : 0;
      const at = next?.();
      if (at) log.info({ pipeline: p.name, next: at.toISOString(), inSeconds: Math.max(0, Math.round((at.getTime() - Date.now()) / 1000)) }, `next run at ${at.toISOString()}`);
    } catch (err) {
      failuresInRow++;
      log.error({ pipeline: p.name, err: (err as Error).message }, 'run could not start');
    } finally {
      progress.stop();
      running.delete(p.name);
    }
  };

  const server = await startMetricsServer(registry, opts.metricsListen ?? config.metrics?.listen ?? '127.0.0.1:9464', () => ({
    ok: failuresInRow < 3,
    detail: {
      running: [...running.keys()],
      consecutiveFailures: failuresInRow,
      // Health thresholds breached by running pipelines (warnings, not failures).
      warnings: Object.fromEntries([...running].map(([n, r]) => [n, r.pipeline?.health.breaches ?? []]).filter(([, b]) => (b as unknown[]).length > 0)),
    },
  }), () => Object.fromEntries([...running].flatMap(([n, r]) => {
    const st = r.pipeline?.stall;
    return st?.stalled ? [[n, `stalled ${Math.round(st.seconds)} s: ${st.reason}`]] : [];
  })), featureRoutes(selected, { latest }), config.metrics ?? {});
  log.info({ url: server.url }, 'metrics endpoint listening');

  const streams: Promise<void>[] = [];
  for (const p of selected) {
    if (isStreaming(p)) {
      // A streaming pipeline runs until stopped; if it fails it restarts after a pause.
      streams.push(
        (async () => {
          while (!stopping) {
            await runOnce(p, 'stream');
            if (!stopping) await sleep(5_000, undefined, { signal: stopAc.signal }).catch(() => undefined);
          }
        })(),
      );
    } else if (p.schedule !== 'manual') {
      // protect: a tick while the previous run is still going is skipped (and logged), never queued.
      const protect = () => log.warn({ pipeline: p.name, trigger: 'schedule' }, 'previous run still in progress; skipping this trigger');
      const job: Cron = new Cron(p.schedule, { timezone: p.timezone, protect, name: p.name }, () => runOnce(p, 'schedule', () => (stopping ? null : job.nextRun())));
      crons.push(job);
      log.info({ pipeline: p.name, schedule: p.schedule, timezone: p.timezone ?? 'local', next: job.nextRun()?.toISOString() }, 'scheduled');
    }
  }
  server.setReady(true);

  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  const stop = async (reason = 'stop'): Promise<void> => {
    if (stopping) return done;
    stopping = true;
    server.setReady(false);
    log.info({ reason, running: [...running.keys()] }, 'shutting down: no new chunks; in-flight batches get engine.stopTimeoutMs to be acknowledged, then checkpoints are written (send again to cancel them now)');
    for (const c of crons) c.stop();
    stopAc.abort();
    for (const r of running.values()) r.ac.abort(new StopRequested(reason));
    while (running.size > 0) await new Promise((r) => setTimeout(r, 50));
    await Promise.allSettled(streams);
    await server.close();
    // cutShort: runs stopped with work left (a backfill not finished, unacknowledged batches): exit 3.
    log.info({ cutShort }, 'stopped');
    resolveDone();
    return done;
  };
  const stopNow = (reason = 'stop now'): void => {
    for (const r of running.values()) r.pipeline?.stopNow(reason);
  };
  return { done, stop, stopNow, metricsUrl: server.url, history, cutShort };
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run scheduled and streaming pipelines as a service (SIGINT/SIGTERM stop it gracefully)')
    .requiredOption('-c, --config <file>', 'pipelines config (YAML)')
    .option('-p, --pipeline <name...>', 'only these pipelines')
    .option('--metrics-listen <addr>', 'address for /metrics, /healthz, /readyz (default 127.0.0.1:9464)')
    .option('--log-level <level>', 'trace|debug|info|warn|error|silent')
    .action(async (opts: ServeOptions) => {
      const svc = await startService(opts);
      let signals = 0;
      const onSignal = (sig: string) => {
        signals++;
        if (signals === 1) void svc.stop(sig);
        else if (signals === 2) svc.stopNow(`second ${sig}`);
        else process.exit(130); // a third: at once, checkpoints as last flushed
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      await svc.done;
      process.exitCode = svc.cutShort.length > 0 ? 3 : 0;
    });
}
