/** The `influx` sink's descriptor (src/config/component.ts): InfluxDB 1.x / 2.x over HTTP. */
import { defineSink } from '../../config/component.js';
import { influxSinkSchema, parseSinkUrl } from './config.js';
import { createInfluxSink } from './sink.js';

export const influxSink = defineSink({
  kind: 'influx',
  schema: influxSinkSchema,
  create: (cfg, deps) => createInfluxSink(cfg, { logger: deps.logger, ...(deps.registry ? { metrics: deps.registry } : {}) }),
  parseFlag: (rest) => (rest ? parseSinkUrl(`influx:${rest}`) : undefined),
  flagAliases: ['influxdb'],
  flagUsage: 'influx:URL',
  docs: 'InfluxDB 1.x/2.x: retries, dead letters, schema mapping, setup/verify; docs/LOAD.md',
});
