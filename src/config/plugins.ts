/**
 * Config schemas of the network source and sink, kept apart so schema.ts stays readable.
 */
import { prometheusSourceSchema } from '../extract/prometheus/config.js';
import { influxSinkSchema } from '../load/influx/config.js';
import { tsdbSourceSchema } from '../extract/tsdb/config.js';

export const sourceSchemas = [prometheusSourceSchema, tsdbSourceSchema] as const;
export const sinkSchemas = [influxSinkSchema] as const;
