/**
 * Builds the source and sink a pipeline config names.
 */
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { ConfigError } from '../errors.js';
import { SyntheticSource, syntheticSourceSchema } from '../extract/synthetic.js';
import type { Source } from '../extract/source.js';
import { ArrowSink } from '../load/arrow.js';
import { FileSink } from '../load/file.js';
import { NullSink } from '../load/null.js';
import type { Sink } from '../load/sink.js';
import type { PipelineConfig, SinkConfig, SourceConfig } from '../config/schema.js';
import { sourceFactories, sinkFactories } from './plugins.js';
import { parseSinkUrl } from '../load/influx/config.js';

export interface ComponentDeps {
  logger: Logger;
  registry?: Registry;
  /** Pipeline name and state directory (checkpoints, watermarks). */
  pipeline?: string;
  stateDir?: string;
}

export function createSource(cfg: SourceConfig, deps: ComponentDeps): Source {
  if (cfg.kind === 'synthetic') return new SyntheticSource(syntheticSourceSchema.parse(cfg));
  const f = sourceFactories[(cfg as { kind: string }).kind];
  if (!f) throw new ConfigError(`unknown source kind "${(cfg as { kind: string }).kind}"`, { key: 'source.kind' });
  return f(cfg, deps);
}

export function createSink(cfg: SinkConfig, pipeline: PipelineConfig, featureNames: readonly string[], deps: ComponentDeps): Sink {
  switch (cfg.kind) {
    case 'file':
      return new FileSink(cfg.path, cfg.gzip ?? cfg.path.endsWith('.gz'));
    case 'null':
      return new NullSink();
    case 'arrow':
      return new ArrowSink(cfg.path, featureNames, { 'promflux.pipeline': pipeline.name });
    default: {
      const f = sinkFactories[(cfg as { kind: string }).kind];
      if (!f) throw new ConfigError(`unknown sink kind "${(cfg as { kind: string }).kind}"`, { key: 'sink.kind' });
      return f(cfg, deps);
    }
  }
}

/**
 * `--sink` CLI shorthand: `null`, `file:PATH` (gzip when PATH ends in .gz), `arrow:PATH`,
 * `influx:URL?db=…` (see docs/LOAD.md).
 */
export function parseSinkFlag(flag: string): SinkConfig {
  if (flag === 'null') return { kind: 'null' };
  const colon = flag.indexOf(':');
  const kind = colon < 0 ? flag : flag.slice(0, colon);
  const rest = colon < 0 ? '' : flag.slice(colon + 1);
  if (kind === 'file' && rest) return { kind: 'file', path: rest, gzip: rest.endsWith('.gz') };
  if (kind === 'arrow' && rest) return { kind: 'arrow', path: rest };
  const parse = sinkFlagParsers[kind];
  if (parse && rest) return parse(rest);
  throw new ConfigError(`invalid --sink "${flag}" (use null, file:PATH, arrow:PATH or influx:URL)`, { key: '--sink' });
}

const sinkFlagParsers: Record<string, (rest: string) => SinkConfig> = {
  influx: (rest) => parseSinkUrl(`influx:${rest}`) as SinkConfig,
  influxdb: (rest) => parseSinkUrl(`influx:${rest}`) as SinkConfig,
};

export function registerSinkFlag(kind: string, parse: (rest: string) => SinkConfig): void {
  sinkFlagParsers[kind] = parse;
}
