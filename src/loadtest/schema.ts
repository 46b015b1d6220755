/**
 * The `loadtest:` block of a config file (README "Benchmark your InfluxDB"). Every key is optional
 * and a command-line flag of the same name overrides it; resolveLoadtestSettings (settings.ts)
 * merges the two and applies the defaults. Rates and SLOs are checked here with the same grammar as
 * the flags (src/loadtest/spec.ts), so a bad value is an error naming the file, line and key.
 */
import { z } from 'zod';
import { durationSchema } from '../util/duration-schema.js';
import { parseRate, parseSlo } from './spec.js';

const grammar = (parse: (v: string) => unknown) =>
  z.union([z.string(), z.number()]).superRefine((v, ctx) => {
    try {
      parse(String(v));
    } catch (err) {
      // the grammar's own message, without its key prefix (the config error names the key)
      ctx.addIssue({ code: 'custom', message: (err as Error).message.replace(/^key "[^"]*": /, '') });
    }
  });

export const loadtestSchema = z
  .object({
    /** `direct`: line protocol straight to the sink; `pipeline`: the synthetic source through the whole pipeline. */
    mode: z.enum(['direct', 'pipeline']).optional(),
    /** Pipeline of this file whose sink (and, in pipeline mode, transforms and engine) the load test uses. */
    pipeline: z.string().min(1).optional(),
    rate: grammar((v) => parseRate(v, 'rate')).optional(),
    duration: durationSchema('loadtest.duration').optional(),
    ramp: durationSchema('loadtest.ramp').optional(),
    rampFrom: grammar((v) => parseRate(v, 'rampFrom')).optional(),
    slo: grammar((v) => parseSlo(v, 'slo')).optional(),
    series: z.number().int().min(1).max(10_000_000).optional(),
    /** Direct mode only: tag keys per line (the series are spread over them: tag cardinality). */
    tags: z.number().int().min(0).max(64).optional(),
    /** Direct mode only: float fields per line (pipeline mode: the value plus the pipeline's features). */
    fields: z.number().int().min(1).max(1000).optional(),
    /** Time span the timestamps cover (default: the duration). */
    spread: durationSchema('loadtest.spread').optional(),
    /** Direct mode only. */
    measurement: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'a plain identifier ([A-Za-z_][A-Za-z0-9_]*)').optional(),
    /** Points per write request (direct) or rows per batch (pipeline). */
    batchLines: z.number().int().min(1).max(10_000_000).optional(),
    maxInFlight: z.number().int().min(1).max(100_000).optional(),
    concurrency: z.number().int().min(1).max(1024).optional(),
    /** Pipeline mode: worker threads (default: all cores). */
    workers: z.number().int().min(1).max(1024).optional(),
    verify: z.boolean().optional(),
    /** true, or { factor, maxSteps }: step the rate up until the SLO breaks. */
    findMax: z
      .union([z.boolean(), z.object({ factor: z.number().gt(1).max(10).optional(), maxSteps: z.number().int().min(1).max(100).optional() }).strict()])
      .optional(),
  })
  .strict();

export type LoadtestBlock = z.infer<typeof loadtestSchema>;
