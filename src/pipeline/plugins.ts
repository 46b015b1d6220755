/**
 * Factories for the network source and sink (Prometheus, InfluxDB), registered here so the core
 * components file does not grow with every integration.
 */
import { join } from 'node:path';
import { createPrometheusSource } from '../extract/prometheus/source.js';
import type { PrometheusSourceConfig } from '../extract/prometheus/config.js';
import { FileWatermarkStore } from '../extract/prometheus/watermarks.js';
import type { Source } from '../extract/source.js';
import type { Sink } from '../load/sink.js';
import { createInfluxSink } from '../load/influx/sink.js';
import type { InfluxSinkConfig } from '../load/influx/config.js';
import type { ComponentDeps } from './components.js';
import { createTsdbSource } from '../extract/tsdb/source.js';
import type { TsdbSourceConfig } from '../extract/tsdb/config.js';

export const sourceFactories: Record<string, (cfg: unknown, deps: ComponentDeps) => Source> = {
  prometheus: (cfg, deps) => {
    const c = cfg as PrometheusSourceConfig;
    // Incremental/stream watermarks live beside the checkpoints unless the source names a file.
    const watermarks = !c.watermarkFile && deps.stateDir && deps.pipeline ? new FileWatermarkStore(join(deps.stateDir, `${deps.pipeline}.watermarks`)) : undefined;
    return createPrometheusSource(c, { logger: deps.logger, ...(deps.registry ? { metrics: deps.registry } : {}), ...(watermarks ? { watermarks } : {}) });
  },
  'prometheus-tsdb': (cfg, deps) => createTsdbSource(cfg as TsdbSourceConfig, { logger: deps.logger }),
};
export const sinkFactories: Record<string, (cfg: unknown, deps: ComponentDeps) => Sink> = {
  influx: (cfg, deps) => createInfluxSink(cfg as InfluxSinkConfig, { logger: deps.logger, ...(deps.registry ? { metrics: deps.registry } : {}) }),
};
