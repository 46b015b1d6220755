/**
 * `promflux setup` (create database / retention policies or bucket, idempotent) and
 * `promflux verify` (read back point counts per measurement and compare with a run's summary).
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { loadConfigFile, selectPipeline } from '../config/load.js';
import { ConfigError } from '../errors.js';
import { createLogger } from '../observe/logger.js';
import { setupInflux } from '../load/influx/setup.js';
import { verifyInflux } from '../load/influx/verify.js';
import type { InfluxSinkConfig } from '../load/influx/config.js';
import { parseTime } from '../extract/synthetic.js';
import { collectSecrets, registerSecrets } from '../observe/redact.js';

function influxSinkOf(configFile: string, pipeline?: string): InfluxSinkConfig {
  const { config, file } = loadConfigFile(configFile);
  registerSecrets(collectSecrets(config));
  const p = selectPipeline(config, pipeline, file);
  if (p.sink.kind !== 'influx') throw new ConfigError(`pipeline "${p.name}" has sink kind "${p.sink.kind}", not influx`, { file, key: `pipelines.${p.name}.sink.kind` });
  return p.sink as InfluxSinkConfig;
}

export function registerInfluxCommands(program: Command): void {
  program
    .command('setup')
    .description('create the InfluxDB database and retention policies (1.x) or bucket (2.x) a pipeline writes to; idempotent')
    .requiredOption('-c, --config <file>', 'pipeline config (YAML)')
    .option('-p, --pipeline <name>', 'pipeline whose sink to set up (default: the first)')
    .option('--json', 'print the report as JSON')
    .action(async (opts: { config: string; pipeline?: string; json?: boolean }) => {
      const sink = influxSinkOf(opts.config, opts.pipeline);
      const logger = createLogger({ level: 'warn' });
      const report = await setupInflux(sink, logger);
      if (opts.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
      else process.stdout.write(report.actions.map((a) => `  ${a}`).join('\n') + '\n');
      process.exitCode = 0;
    });

  program
    .command('verify')
    .description('read back point counts per measurement from InfluxDB and compare with what a run wrote')
    .requiredOption('-c, --config <file>', 'pipeline config (YAML)')
    .option('-p, --pipeline <name>', 'pipeline (default: the first)')
    .requiredOption('--start <time>', 'range start (RFC 3339, epoch ms or now-6h)')
    .requiredOption('--end <time>', 'range end, exclusive')
    .option('--summary <files...>', 'run summary JSON(s) (--summary-json of promflux run) giving the expected counts; several (the shards of a plan) are summed')
    .option('--values', 'also read min/max/sum of the value field')
    .option('--field <name>', 'field every point carries (default "value")')
    .option('--json', 'print the result as JSON')
    .action(async (opts: { config: string; pipeline?: string; start: string; end: string; summary?: string[]; values?: boolean; field?: string; json?: boolean }) => {
      const sink = influxSinkOf(opts.config, opts.pipeline);
      let expected: Record<string, number> | undefined;
      if (opts.summary?.length) {
        // Shards are disjoint, so the union's expected counts are the sums of the shards' counts.
        expected = {};
        for (const f of opts.summary) {
          let byM: Record<string, number> | undefined;
          try {
            byM = (JSON.parse(readFileSync(f, 'utf8')) as { linesByMeasurement?: Record<string, number> }).linesByMeasurement;
          } catch (err) {
            throw new ConfigError(`cannot read run summary: ${(err as Error).message}`, { file: f });
          }
          if (!byM) throw new ConfigError('not a run summary (no "linesByMeasurement"); pass a file written by promflux run --summary-json', { file: f });
          for (const [m, n] of Object.entries(byM)) expected[m] = (expected[m] ?? 0) + n;
        }
      }
      let startMs: number;
      let endMs: number;
      try {
        startMs = parseTime(opts.start);
        endMs = parseTime(opts.end);
      } catch (err) {
        throw new ConfigError((err as Error).message, { key: '--start/--end' });
      }
      const r = await verifyInflux(sink, { startMs, endMs, ...(expected ? { expected } : {}), ...(opts.values ? { values: true } : {}), ...(opts.field ? { field: opts.field } : {}) });
      if (opts.json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
      else {
        for (const [m, c] of Object.entries(r.perMeasurement)) {
          const mark = c.expected === undefined ? ' ' : c.expected === c.found ? '✓' : '✗';
          process.stdout.write(`${mark} ${m}: found ${c.found}${c.expected !== undefined ? `, expected ${c.expected}` : ''}\n`);
        }
        process.stdout.write(r.ok ? 'verify: OK\n' : 'verify: MISMATCH\n');
      }
      process.exitCode = r.ok ? 0 : 1;
    });
}
