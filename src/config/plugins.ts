/**
 * Config schemas of the network source and sink, kept apart so schema.ts stays readable.
 */
import { prometheusSourceSchema } from '../extract/prometheus/config.js';
import { influxSinkSchema } from '../load/influx/config.js';

export const sourceSchemas = [prometheusSourceSchema] as const;
export const sinkSchemas = [influxSinkSchema] as const;
