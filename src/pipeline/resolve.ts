/**
 * resolveRun: everything one pass of a pipeline needs, resolved once from the validated config and
 * the caller's overrides — worker count, batch sizing, the kernel chain's halo, the worker spec (and
 * its hash), the series-key policy, verify settings, the checkpoint directory and name. Pure: no
 * I/O, no clock (the caller passes `nonce`); it throws ConfigError on a setting that cannot run.
 */
import { availableParallelism } from 'node:os';
import { createHash } from 'node:crypto';
import type { PipelineConfig } from '../config/schema.js';
import { ConfigError } from '../errors.js';
import { compileSchemaMapping, schemaMappingSchema, type SchemaMappingConfig } from '../load/schema.js';
import type { VerifySettings } from '../load/influx/run-verify.js';
import type { WorkerPipelineSpec } from '../pool/task.js';
import { compileTransforms, crossSeriesOf, haloOf, kernelModulesFor, outputsOf } from '../transform/registry.js';
import type { TransformSpec } from '../transform/kernel.js';
import type { SizerOptions } from './adaptive.js';

/** The overrides resolveRun reads (a subset of PipelineOptions). */
export interface ResolveOptions {
  workers?: number;
  batchSize?: number | 'auto';
  shard?: { index: number; count: number };
  checkpointDir?: string;
  verify?: boolean;
  /** A shared pool (createEngine): its size is the run's worker count. */
  pool?: { readonly size: number };
}

export interface ResolvedRun {
  workers: number;
  batchSize: number | 'auto';
  maxInFlight: number;
  sizer: SizerOptions;
  halo: ReturnType<typeof haloOf>;
  /** Metric patterns cross-series kernels join: the source co-schedules the queries holding them. */
  crossSeries: ReturnType<typeof crossSeriesOf>;
  features: string[];
  spec: WorkerPipelineSpec;
  onCollision: 'fail' | 'drop';
  verify: VerifySettings | null;
  /** A raw extraction (Prometheus raw or remote read): stored samples can be counted at the source. */
  rawSource: boolean;
  /** incremental and stream sources: never "done", each run continues from the watermarks. */
  unbounded: boolean;
  checkpoint?: { dir: string; name: string; planHash: string; intervalMs: number; key: string };
  shard?: { index: number; count: number };
}

export function resolveRun(cfg: PipelineConfig, opts: ResolveOptions, transforms: TransformSpec[], nonce: number): ResolvedRun {
  const eng = cfg.engine;
  const workersCfg = opts.workers ?? eng.workers;
  const workers = opts.pool?.size ?? (workersCfg === 'auto' ? availableParallelism() : workersCfg);
  const batchSize = opts.batchSize ?? eng.batchSize;
  const maxInFlight = eng.maxInFlight ?? workers * 2;
  const sizer: SizerOptions = {
    ...(batchSize === 'auto' ? {} : { fixed: batchSize }),
    min: eng.minBatchSize,
    max: eng.maxBatchSize,
    latencyTargetMs: eng.latencyTargetMs,
    memoryBudgetBytes: eng.memoryBudgetMb * 1024 * 1024,
    maxInFlight,
  };
  const kernels = compileTransforms(transforms);
  const verify = resolveVerify(cfg, opts.verify);
  const mode = (cfg.source as { mode?: string }).mode ?? '';
  const unbounded = ['incremental', 'stream'].includes(mode);
  // Series-key policy of the line-protocol sinks (docs/LOAD.md "Series keys"); the sink given
  // to the Pipeline (opts.sink, --sink) takes it from the config's sink entry.
  const keyCfg = cfg.sink as { onCollision?: 'fail' | 'drop' };
  const shard = opts.shard;
  const ckDir = opts.checkpointDir ?? (typeof cfg.checkpoint === 'string' ? cfg.checkpoint : cfg.checkpoint?.dir);
  return {
    workers,
    batchSize,
    maxInFlight,
    sizer,
    halo: haloOf(kernels),
    crossSeries: crossSeriesOf(kernels),
    features: outputsOf(kernels),
    spec: workerSpec(cfg, transforms, verify, nonce),
    onCollision: keyCfg.onCollision ?? (unbounded ? 'drop' : 'fail'),
    verify,
    rawSource: cfg.source.kind === 'prometheus' && (cfg.source as { extraction?: string }).extraction !== 'range',
    unbounded,
    ...(ckDir
      ? {
          checkpoint: {
            dir: ckDir,
            name: shard ? `${cfg.name}.shard-${shard.index}-of-${shard.count}` : cfg.name,
            planHash: createHash('sha1').update(JSON.stringify([cfg.source, cfg.transform, shard ?? null])).digest('hex'),
            intervalMs: (typeof cfg.checkpoint === 'object' ? cfg.checkpoint.intervalMs : undefined) ?? 1000,
            key: opts.checkpointDir ? '--checkpoint' : `pipelines.${cfg.name}.checkpoint`,
          },
        }
      : {}),
    ...(shard ? { shard } : {}),
  };
}

/** What a worker needs to run the pass (compiled once per worker, cached by `key`: a new one per run). */
function workerSpec(cfg: PipelineConfig, transforms: TransformSpec[], verify: VerifySettings | null, nonce: number): WorkerPipelineSpec {
  // Scaling parameters for `scale` steps in apply mode travel to workers as ctx.state.
  const applyStates = [...new Set(transforms.filter((t) => t.kind === 'scale' && (t.mode ?? 'apply') === 'apply').map((t) => String(t.state)))];
  if (applyStates.length > 1) throw new ConfigError(`only one scaling state file per pipeline is supported, got ${applyStates.join(', ')}`, { key: `pipelines.${cfg.name}.transform` });
  const stateFile = cfg.state ?? applyStates[0];
  // Schema mapping runs where keys are encoded (workers): the pipeline's, else the influx sink's.
  const schemaCfg = cfg.schema ?? (cfg.sink as { schema?: unknown }).schema;
  const keyCfg = cfg.sink as { tagValues?: 'escape' | 'replace' | 'drop'; tagReplacement?: string };
  const rawSource = cfg.source.kind === 'prometheus' && (cfg.source as { extraction?: string }).extraction !== 'range';
  return {
    key: createHash('sha1').update(JSON.stringify([transforms, cfg.encode, cfg.schema, stateFile, nonce])).digest('hex'),
    transforms,
    ...(Object.keys(kernelModulesFor(transforms)).length > 0 ? { kernelModules: kernelModulesFor(transforms) } : {}),
    encode: {
      ...cfg.encode,
      ...(schemaCfg !== undefined ? { schema: validSchemaMapping(schemaCfg, cfg.schema !== undefined ? `pipelines.${cfg.name}.schema` : `pipelines.${cfg.name}.sink.schema`) } : {}),
      ...(keyCfg.tagValues ? { tagValues: keyCfg.tagValues } : {}),
      ...(keyCfg.tagReplacement !== undefined ? { tagReplacement: keyCfg.tagReplacement } : {}),
    },
    ...(stateFile ? { stateFile } : {}),
    ...(verify ? { verify: { seed: verify.seed, sampleRate: verify.maxSampledSeries > 0 ? verify.sampleRate : 0, sourceCounts: rawSource && verify.sourceCounts } } : {}),
  };
}

/**
 * The schema mapping, validated (defaults filled in) on the main thread: workers compile it with
 * the pure src/encode/schema-map.ts and load no zod. A bad mapping fails the run before any batch.
 */
function validSchemaMapping(raw: unknown, key: string): SchemaMappingConfig {
  const parsed = schemaMappingSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.') || '(mapping)'}: ${i.message}`).join('; '), { key });
  try {
    compileSchemaMapping(parsed.data);
  } catch (err) {
    throw new ConfigError((err as Error).message, { key });
  }
  return parsed.data;
}

/**
 * Whether and how `run --verify` runs: the CLI flag, else the pipeline's `verify`, else on for
 * `mode: backfill` with an influx sink. Asking for it with another sink is a config error.
 */
export function resolveVerify(cfg: PipelineConfig, flag: boolean | undefined): VerifySettings | null {
  const v = cfg.verify;
  const obj = typeof v === 'object' ? v : undefined;
  const configured = typeof v === 'boolean' ? v : obj?.enabled;
  const isDefault = (cfg.source as { mode?: string }).mode === 'backfill' && cfg.sink.kind === 'influx';
  const enabled = flag ?? configured ?? isDefault;
  if (!enabled) return null;
  if (cfg.sink.kind !== 'influx') {
    throw new ConfigError(`verify reads points back from InfluxDB, but pipeline "${cfg.name}" writes to a ${cfg.sink.kind} sink; drop --verify / verify: true, or use an influx sink`, { key: `pipelines.${cfg.name}.verify` });
  }
  const settle = /^(\d+)(ms|s)$/.exec(obj?.settle ?? '2s')!;
  return {
    seed: obj?.seed ?? 1,
    sampleRate: obj?.sampleRate ?? 0.05,
    maxSampledSeries: obj?.maxSampledSeries ?? 20,
    sourceCounts: obj?.sourceCounts ?? true,
    settleMs: Number(settle[1]) * (settle[2] === 's' ? 1000 : 1),
  };
}
