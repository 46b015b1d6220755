/**
 * `promflux export`: from a completed backfill to a train/validation/test training set in one
 * command (docs/ACCESS.md). The spec file's `export:` says what to read and how to build the matrix;
 * --config/--pipeline name the pipeline that wrote the data (its sink is the default source; its
 * config hash and scaling state go into the schema file).
 */
import type { Command } from 'commander';
import { loadConfigFile, selectPipeline } from '../config/load.js';
import { ConfigError } from '../errors.js';
import { collectSecrets, registerSecrets, scrubSecrets } from '../observe/redact.js';
import { loadExportSpec, runExport } from '../access/export.js';

interface ExportFlags {
  spec: string;
  config?: string;
  pipeline?: string;
  out?: string;
  format?: string;
  cache?: boolean;
  json?: boolean;
}

export function registerExport(program: Command): void {
  program
    .command('export')
    .description('read back what a pipeline wrote and write a point-in-time training set (Parquet or Arrow) with its schema file')
    .requiredOption('-s, --spec <file>', 'export spec (YAML with a top-level export:)')
    .option('-c, --config <file>', 'the pipeline config that wrote the data (default source; config hash and scaling state)')
    .option('-p, --pipeline <name>', 'pipeline in --config (default: the first)')
    .option('-o, --out <path>', 'override export.output.path')
    .option('-f, --format <fmt>', 'parquet | arrow | arrow-stream (default: from the file extension)')
    .option('--no-cache', 'always query InfluxDB (do not read or fill the query cache)')
    .option('--json', 'print the result as JSON')
    .action(async (opts: ExportFlags) => {
      const spec = loadExportSpec(opts.spec);
      registerSecrets(collectSecrets(spec));
      let pipeline;
      if (opts.config) {
        const { config, file } = loadConfigFile(opts.config);
        registerSecrets(collectSecrets(config));
        pipeline = selectPipeline(config, opts.pipeline, file);
      }
      if (opts.format !== undefined && !['parquet', 'arrow', 'arrow-stream'].includes(opts.format)) {
        throw new ConfigError(`--format must be parquet, arrow or arrow-stream, got "${opts.format}"`, { key: '--format' });
      }
      const res = await runExport(spec, {
        ...(pipeline ? { pipeline } : {}),
        ...(opts.cache === false ? { noCache: true } : {}),
        ...(opts.out ? { out: opts.out } : {}),
        ...(opts.format ? { format: opts.format as 'parquet' | 'arrow' | 'arrow-stream' } : {}),
      });
      if (opts.json) process.stdout.write(scrubSecrets(JSON.stringify(res, null, 2)) + '\n');
      else {
        const lines = [
          `rows ${res.rows} (of ${res.candidates} candidates; dropped ${JSON.stringify(res.dropped)})`,
          `points read ${res.pointsRead} in ${res.wallMs} ms (${res.pointsPerSec}/s)${res.cache ? `, cache hits ${res.cache.hits} misses ${res.cache.misses}` : ''}`,
          ...res.files.map((f) => `wrote ${f.path} (${f.rows} rows, ${f.bytes} bytes) + ${f.schemaPath}`),
        ];
        process.stdout.write(lines.join('\n') + '\n');
      }
      process.exitCode = 0;
    });
}
