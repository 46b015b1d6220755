/**
 * Builds the source and sink a pipeline config names, through their descriptors
 * (src/config/components.ts). Nothing here knows a particular kind.
 */
import { ConfigError } from '../errors.js';
import type { Source } from '../extract/source.js';
import type { Sink } from '../load/sink.js';
import type { PipelineConfig, SinkConfig, SourceConfig } from '../config/schema.js';
import type { ComponentDeps } from '../config/component.js';
import { sinkDescriptor, sinkKinds, sourceDescriptor, sourceKinds } from '../config/components.js';

export type { ComponentDeps };
/** The --sink parser now lives with the component list; re-exported for its existing importers. */
export { parseSinkFlag } from '../config/components.js';

export function createSource(cfg: SourceConfig, deps: ComponentDeps): Source {
  const d = sourceDescriptor(cfg.kind);
  if (!d) throw new ConfigError(`unknown source kind "${cfg.kind}" (known: ${sourceKinds().join(', ')})`, { key: 'source.kind' });
  return d.create(cfg, deps);
}

export function createSink(cfg: SinkConfig, pipeline: PipelineConfig, featureNames: readonly string[], deps: ComponentDeps): Sink {
  const d = sinkDescriptor(cfg.kind);
  if (!d) throw new ConfigError(`unknown sink kind "${cfg.kind}" (known: ${sinkKinds().join(', ')})`, { key: 'sink.kind' });
  return d.create(cfg, { ...deps, pipeline: pipeline.name, featureNames });
}
