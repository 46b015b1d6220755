/**
 * The pipeline configuration schema (YAML or a plain object through the library API).
 * Validated with zod; every object is strict so a typo is an error naming the key.
 */
import { z } from 'zod';
import { sinkSchema, sourceSchema } from './components.js';
import { healthSchema } from '../observe/health.js';
import { durationSchema } from '../util/duration-schema.js';
import { loadtestSchema } from '../loadtest/schema.js';

const transformSchema = z.looseObject({ kind: z.string().min(1) });

export const encodeSchema = z
  .object({
    precision: z.enum(['s', 'ms', 'us', 'ns']).default('ms'),
    /** 0 = shortest round-trip floats; N = N significant digits. */
    floatDigits: z.number().int().min(0).max(17).default(0),
    valueField: z.string().min(1).default('value'),
    /** Write named flag bits (bit i ⇒ 2^i) as integer field `flags` when any is set. */
    flagsField: z.boolean().default(false),
  })
  .strict();

export const engineSchema = z
  .object({
    /** Worker threads: a number or "auto" (= available cores). */
    workers: z.union([z.number().int().min(1).max(1024), z.literal('auto')]).default('auto'),
    /** Rows per batch: a number (fixed, adaptation off) or "auto". */
    batchSize: z.union([z.number().int().min(1).max(50_000_000), z.literal('auto')]).default('auto'),
    /** Batches in flight (workers + sink). Default 2 × workers. */
    maxInFlight: z.number().int().min(1).max(1024).optional(),
    latencyTargetMs: z.number().positive().default(200),
    /** RSS budget for adaptive sizing. */
    memoryBudgetMb: z.number().positive().default(1024),
    minBatchSize: z.number().int().min(1).default(1_000),
    maxBatchSize: z.number().int().min(1).default(1_000_000),
    /** What a failed batch does to the run: fail it, skip the batch (counted), or retry then fail. */
    onError: z.enum(['fail', 'skip', 'retry']).default('retry'),
    /** Attempts per batch for `retry` (worker crashes are always retried up to this). */
    retries: z.number().int().min(0).max(100).default(2),
    /** Fail the run when more than this fraction of samples was dropped as invalid. */
    maxInvalidRatio: z.number().min(0).max(1).optional(),
    /** Fail the run when more than `ratio` of the last `window` batch attempts failed (retried or skipped). */
    maxErrorRate: z.object({ ratio: z.number().min(0).max(1), window: z.number().int().min(1).default(20) }).strict().optional(),
    /**
     * After a stop (SIGTERM/SIGINT, serve shutdown, timeout): how long batches already handed out
     * may take to be acknowledged by the sink before their writes are cancelled (docs/OPERATIONS.md).
     */
    stopTimeoutMs: z.number().int().min(0).max(3_600_000).default(20_000),
    /** No progress for this long while work waits is a stall; then one heartbeat line per period. */
    heartbeatMs: z.number().int().min(100).max(3_600_000).default(10_000),
  })
  .strict();

// `source:` / `sink:` come from the one list of components (src/config/components.ts).
export { sourceSchema, sinkSchema };

export const pipelineSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . - only'),
    description: z.string().optional(),
    /** "manual" or a cron expression (5 or 6 fields). */
    schedule: z.string().default('manual'),
    timezone: z.string().optional(),
    /** Run timeout, e.g. "300s" (a duration, src/util/duration.ts). */
    timeout: durationSchema('timeout').optional(),
    source: sourceSchema,
    transform: z.array(transformSchema).default([]),
    sink: sinkSchema,
    encode: encodeSchema.default(encodeSchema.parse({})),
    /** Schema mapping for line protocol (see docs/LOAD.md). */
    schema: z.unknown().optional(),
    engine: engineSchema.default(engineSchema.parse({})),
    /** Per-series state file for scaling parameters (msgpackr). */
    state: z.string().optional(),
    /** Checkpoint directory for resumable runs. */
    /** Checkpoint directory, or { dir, intervalMs }: how often, at most, the checkpoint (and a file/Arrow sink commit) is written; default 1000. */
    checkpoint: z.union([z.string(), z.object({ dir: z.string(), intervalMs: z.number().int().min(10).max(3_600_000).optional() }).strict()]).optional(),
    /**
     * `run --verify` (docs/LOAD.md#run---verify): read point counts and sampled series back from the
     * InfluxDB sink, and for raw extractions compare with Prometheus' own counts. Default: on for
     * `mode: backfill` with an influx sink. `true`/`false` or the options object.
     */
    verify: z
      .union([
        z.boolean(),
        z
          .object({
            enabled: z.boolean().optional(),
            /** Fraction of series (seeded hash of the series key) whose values are read back. */
            sampleRate: z.number().min(0).max(1).default(0.05),
            /** At most this many sampled series (the smallest hashes: the same whatever the batching). Memory: 16 bytes per sampled point. */
            maxSampledSeries: z.number().int().min(0).default(20),
            seed: z.number().int().default(1),
            /** Compare with Prometheus count_over_time (raw extractions only). */
            sourceCounts: z.boolean().default(true),
            /** Keep re-reading short counts this long (eventual visibility in 2.x / VictoriaMetrics). */
            settle: z.string().regex(/^\d+(ms|s)$/).default('2s'),
          })
          .strict(),
      ])
      .optional(),
    /** Health thresholds logged as warnings (src/observe/health.ts); defaults apply when absent. */
    health: healthSchema.optional(),
    /** Data-quality metrics: weights of the score, and whether to write a `promflux_quality` point per run. */
    quality: z
      .object({
        weights: z
          .object({ completeness: z.number().min(0), accuracy: z.number().min(0), consistency: z.number().min(0), validity: z.number().min(0), timeliness: z.number().min(0) })
          .partial()
          .strict()
          .optional(),
        write: z.boolean().default(false),
        measurement: z.string().min(1).default('promflux_quality'),
        /** Lag up to which timeliness is 1 (ms). */
        timelinessTargetMs: z.number().positive().optional(),
        /** Lag from which timeliness is 0 (ms). */
        timelinessMaxMs: z.number().positive().optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export const configSchema = z
  .object({
    pipelines: z.array(pipelineSchema).min(1),
    logging: z.object({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info') }).strict().optional(),
    metrics: z
      .object({
        listen: z.string().default('127.0.0.1:9464'),
        enabled: z.boolean().default(false),
        /**
         * Required on /metrics and the feature routes (/healthz and /readyz stay open for probes):
         * `{ bearer: token }` or `{ basic: { username, password } }` (src/observe/server.ts).
         */
        auth: z
          .union([
            z.object({ bearer: z.string().min(1) }).strict(),
            z.object({ basic: z.object({ username: z.string(), password: z.string() }).strict() }).strict(),
          ])
          .optional(),
        /** Serve HTTPS: PEM certificate (chain) and private key, as text or file paths. */
        tls: z.object({ cert: z.string().min(1), key: z.string().min(1) }).strict().optional(),
      })
      .strict()
      .optional(),
    /** `promflux serve` online features (docs/ACCESS.md "Online serving"). */
    serving: z
      .object({
        /** Latest feature vectors held in memory (one per series); past it the least recently updated is evicted (counted). */
        maxSeries: z.number().int().positive().default(100_000),
      })
      .strict()
      .optional(),
    /** `promflux loadtest` settings (README "Benchmark your InfluxDB"); flags override them. */
    loadtest: loadtestSchema.optional(),
  })
  .strict();

export type PromfluxConfig = z.infer<typeof configSchema>;
export type PipelineConfig = z.infer<typeof pipelineSchema>;
export type PipelineInput = z.input<typeof pipelineSchema>;
export type EngineConfig = z.infer<typeof engineSchema>;
export type SinkConfig = z.infer<typeof sinkSchema>;
export type SourceConfig = z.infer<typeof sourceSchema>;
