/**
 * `promflux export` as a library function: an export spec (YAML `export:` or an object) → read-back
 * (InfluxDB through the query cache, or Arrow files) → trainingSet() → Parquet / Arrow file(s) +
 * `<file>.schema.json`. docs/ACCESS.md documents the spec.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { ConfigError, PromfluxError } from '../errors.js';
import { parseTime } from '../extract/prometheus/time.js';
import { parseDuration } from '../util/duration.js';
import type { PipelineConfig } from '../config/schema.js';
import { arrowReader } from './arrow-read.js';
import { cachedInfluxReader, type CacheStats } from './cache.js';
import { describeTrainingSet, fileSha256, writeSchemaFile, type ExportFormat, type SchemaDescription } from './formats.js';
import { openSetWriter, type SetWriter } from './stream-write.js';
import type { InfluxReadConfig } from './query.js';
import { SPLITS, trainingWindows, type TrainingSet, type TrainingSpec, type WindowTotals } from './training.js';

const duration = z.union([z.string(), z.number()]);
const where = z.record(z.string(), z.union([z.string(), z.array(z.string())]));
const influxSchema = z
  .object({
    url: z.string().url(),
    version: z.union([z.literal(1), z.literal(2)]).default(1),
    db: z.string().min(1),
    rp: z.string().optional(),
    token: z.string().optional(),
    username: z.string().optional(),
    password: z.string().optional(),
    chunkSize: z.number().int().min(1).optional(),
    timeoutMs: z.number().int().min(1).optional(),
    tls: z.object({ rejectUnauthorized: z.boolean().optional(), ca: z.string().optional() }).strict().optional(),
  })
  .strict();

export const exportSpecSchema = z
  .object({
    source: z.union([z.object({ influx: influxSchema }).strict(), z.object({ arrow: z.union([z.string(), z.array(z.string()).min(1)]) }).strict()]).optional(),
    start: z.union([z.string(), z.number()]),
    end: z.union([z.string(), z.number()]),
    entity: z.array(z.string().min(1)).min(1),
    features: z
      .array(
        z
          .object({
            name: z.string().min(1),
            measurement: z.string().min(1),
            field: z.string().optional(),
            tolerance: duration.optional(),
            where: where.optional(),
            groupBy: z.object({ every: z.string(), fn: z.enum(['mean', 'min', 'max', 'sum', 'count', 'last', 'first', 'median']) }).strict().optional(),
            definition: z.string().optional(),
          })
          .strict(),
      )
      .min(1),
    spine: z.union([z.object({ every: duration }).strict(), z.object({ feature: z.string() }).strict()]).optional(),
    target: z
      .discriminatedUnion('kind', [
        z.object({ kind: z.literal('future'), name: z.string().optional(), feature: z.string(), horizon: duration, tolerance: duration.optional() }).strict(),
        z.object({ kind: z.literal('label'), name: z.string().optional(), measurement: z.string(), field: z.string().optional(), tolerance: duration.optional(), where: where.optional() }).strict(),
      ])
      .optional(),
    split: z.object({ validation: z.number().min(0).max(1), test: z.number().min(0).max(1), gap: duration.optional() }).strict().optional(),
    sample: z
      .discriminatedUnion('kind', [
        z.object({ kind: z.literal('random'), fraction: z.number(), seed: z.number().int().optional() }).strict(),
        z.object({ kind: z.literal('every'), k: z.number().int() }).strict(),
        z.object({ kind: z.literal('stratified'), tag: z.string(), fraction: z.number(), seed: z.number().int().optional() }).strict(),
      ])
      .optional(),
    dropMissingTarget: z.boolean().optional(),
    output: z
      .object({
        path: z.string().min(1),
        format: z.enum(['parquet', 'arrow', 'arrow-stream']).optional(),
        compression: z.enum(['zstd', 'snappy']).default('zstd'),
        /** Also (or instead) one file per split: `<base>.train.<ext>`, … */
        splitFiles: z.boolean().default(false),
      })
      .strict(),
    cache: z.object({ dir: z.string().optional(), ttl: duration.default('1h'), enabled: z.boolean().default(true) }).strict().default({ ttl: '1h', enabled: true }),
  })
  .strict();

export type ExportSpec = z.input<typeof exportSpecSchema>;

export interface ExportOptions {
  /** The pipeline that wrote the data: its influx (or arrow) sink is the default source; its config hash and scaling state go in the schema file. */
  pipeline?: PipelineConfig;
  noCache?: boolean;
  /** Override output.path / output.format. */
  out?: string;
  format?: ExportFormat;
  now?: number;
  /** Window span (ms) / points per window of the streamed build (default: adaptive, ~1 M points). */
  windowMs?: number;
  windowPoints?: number;
}

export interface ExportResult {
  files: Array<{ path: string; schemaPath: string; bytes: number; rows: number; split?: string }>;
  rows: number;
  candidates: number;
  dropped: Record<string, number>;
  pointsRead: number;
  /** Time windows the matrix was built and written in. */
  windows: number;
  cache?: CacheStats;
  wallMs: number;
  pointsPerSec: number;
}

/** Parse and validate an export spec file (YAML with a top-level `export:`). */
export function loadExportSpec(file: string): ExportSpec {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read the export spec: ${(err as Error).message}`, { file });
  }
  const doc = parseDocument(text.replace(/\$\{([A-Z0-9_]+)(?::-([^}]*))?\}/g, (_, n: string, d?: string) => process.env[n] ?? d ?? ''));
  if (doc.errors.length > 0) throw new ConfigError(doc.errors[0]!.message, { file });
  const obj = doc.toJS() as { export?: unknown };
  if (!obj || typeof obj !== 'object' || !('export' in obj)) throw new ConfigError('an export spec has a top-level "export:" key', { file });
  const r = exportSpecSchema.safeParse(obj.export);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new ConfigError(issue.message, { file, key: ['export', ...issue.path.map(String)].join('.') });
  }
  return obj.export as ExportSpec;
}

function configHash(p: PipelineConfig): string {
  return createHash('sha256').update(JSON.stringify(p)).digest('hex');
}

function scalingOf(p: PipelineConfig | undefined): SchemaDescription['scaling'] {
  if (!p) return undefined;
  const out: NonNullable<SchemaDescription['scaling']> = [];
  for (const t of p.transform as Array<{ kind: string; state?: string; method?: string }>) {
    if (t.kind !== 'scale' || !t.state) continue;
    out.push({ path: t.state, sha256: existsSync(t.state) ? fileSha256(t.state) : 'missing', ...(t.method ? { method: t.method } : {}) });
  }
  return out.length ? out : undefined;
}

/** Where to read from: the spec's source, else the pipeline's sink. */
function sourceOf(spec: z.infer<typeof exportSpecSchema>, pipeline: PipelineConfig | undefined): { influx: InfluxReadConfig } | { arrow: string[] } {
  if (spec.source && 'influx' in spec.source) return { influx: spec.source.influx };
  if (spec.source && 'arrow' in spec.source) return { arrow: typeof spec.source.arrow === 'string' ? [spec.source.arrow] : spec.source.arrow };
  const sink = pipeline?.sink as { kind: string; url?: string; version?: 1 | 2; db?: string; bucket?: string; rp?: string; token?: string; username?: string; password?: string; path?: string; tls?: InfluxReadConfig['tls'] } | undefined;
  if (sink?.kind === 'influx') {
    const db = sink.version === 2 ? sink.bucket : sink.db;
    return { influx: { url: sink.url!, version: sink.version ?? 1, db: db!, ...(sink.rp ? { rp: sink.rp } : {}), ...(sink.token ? { token: sink.token } : {}), ...(sink.username !== undefined ? { username: sink.username, password: sink.password ?? '' } : {}), ...(sink.tls ? { tls: sink.tls } : {}) } };
  }
  if (sink?.kind === 'arrow' && sink.path) return { arrow: [sink.path] };
  throw new PromfluxError('PROMFLUX_ACCESS_SPEC', 'export: no source: give export.source (influx or arrow), or --config with a pipeline whose sink is influx or arrow');
}

/** The rows of one split of a window set. */
function subset(set: TrainingSet, code: number): TrainingSet {
  let n = 0;
  for (let i = 0; i < set.rows; i++) if (set.split[i] === code) n++;
  const p64 = (a: Float64Array): Float64Array => {
    const b = new Float64Array(n);
    for (let i = 0, k = 0; i < set.rows; i++) if (set.split[i] === code) b[k++] = a[i]!;
    return b;
  };
  const p32 = (a: Int32Array): Int32Array => {
    const b = new Int32Array(n);
    for (let i = 0, k = 0; i < set.rows; i++) if (set.split[i] === code) b[k++] = a[i]!;
    return b;
  };
  return {
    ...set,
    rows: n,
    ts: p64(set.ts),
    entity: set.entity.map((e) => ({ ...e, codes: p32(e.codes) })),
    features: set.features.map((f) => ({ name: f.name, values: p64(f.values) })),
    ...(set.target ? { target: { name: set.target.name, values: p64(set.target.values) } } : {}),
    split: new Uint8Array(n).fill(code),
  };
}

export async function runExport(input: ExportSpec, opts: ExportOptions = {}): Promise<ExportResult> {
  const r = exportSpecSchema.safeParse(input);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new ConfigError(issue.message, { key: ['export', ...issue.path.map(String)].join('.') });
  }
  const spec = r.data;
  const t0 = performance.now();
  const now = opts.now ?? Date.now();
  const time = (v: string | number, key: string): number => {
    try {
      return typeof v === 'number' ? v : parseTime(v, now);
    } catch (err) {
      throw new ConfigError((err as Error).message, { key: `export.${key}` });
    }
  };
  const tspec: TrainingSpec = {
    start: time(spec.start, 'start'),
    end: time(spec.end, 'end'),
    entity: spec.entity,
    features: spec.features,
    ...(spec.spine ? { spine: spec.spine } : {}),
    ...(spec.target ? { target: spec.target } : {}),
    ...(spec.split ? { split: spec.split } : {}),
    ...(spec.sample ? { sample: spec.sample } : {}),
    ...(spec.dropMissingTarget !== undefined ? { dropMissingTarget: spec.dropMissingTarget } : {}),
  };
  const src = sourceOf(spec, opts.pipeline);
  let cache: CacheStats | undefined;
  let read;
  let sourceText: string;
  if ('influx' in src) {
    const c = cachedInfluxReader(src.influx, { ...(spec.cache.dir ? { dir: spec.cache.dir } : {}), ttlMs: parseDuration(spec.cache.ttl, 'export.cache.ttl'), enabled: spec.cache.enabled && !opts.noCache });
    read = c.read;
    cache = c.stats;
    sourceText = `influx ${new URL(src.influx.url).origin} db=${src.influx.db}${src.influx.rp ? ` rp=${src.influx.rp}` : ''}`;
  } else {
    read = arrowReader(src.arrow);
    sourceText = `arrow ${src.arrow.join(', ')}`;
  }
  const path = opts.out ?? spec.output.path;
  const format: ExportFormat = opts.format ?? spec.output.format ?? (/\.parquet$/i.test(path) ? 'parquet' : /\.arrows$/i.test(path) ? 'arrow-stream' : /\.(arrow|ipc|feather)$/i.test(path) ? 'arrow' : 'parquet');
  const describe = { format, compression: spec.output.compression, ...(opts.pipeline ? { configHash: configHash(opts.pipeline) } : {}), ...(scalingOf(opts.pipeline) ? { scaling: scalingOf(opts.pipeline)! } : {}), source: sourceText };
  // Window by window (bounded memory): every output file gets each window's rows as they come.
  const m = /^(.*?)(\.[^./]+)?$/.exec(path)!;
  const outputs: Array<{ path: string; split?: number; writer: SetWriter; rows: number }> = [{ path, writer: openSetWriter(path, format, spec.output.compression), rows: 0 }];
  if (spec.output.splitFiles) SPLITS.forEach((name, code) => outputs.push({ path: `${m[1]}.${name}${m[2] ?? ''}`, split: code, writer: openSetWriter(`${m[1]}.${name}${m[2] ?? ''}`, format, spec.output.compression), rows: 0 }));
  const totals: WindowTotals = { rows: 0, candidates: 0, dropped: {}, pointsRead: 0, windows: 0 };
  let last: TrainingSet | undefined;
  try {
    for await (const w of trainingWindows(read, tspec, { ...(opts.windowMs ? { windowMs: opts.windowMs } : {}), ...(opts.windowPoints ? { windowPoints: opts.windowPoints } : {}) }, totals)) {
      last = w;
      for (const o of outputs) {
        const part = o.split === undefined ? w : subset(w, o.split);
        o.rows += part.rows;
        await o.writer.write(part);
      }
    }
  } catch (err) {
    for (const o of outputs) o.writer.abort();
    throw err;
  }
  const files: ExportResult['files'] = [];
  for (const o of outputs) {
    const { bytes } = await o.writer.close();
    const summary: TrainingSet = { ...last!, rows: o.rows, candidates: totals.candidates, dropped: totals.dropped, pointsRead: totals.pointsRead, ...(totals.boundaries ? { boundaries: totals.boundaries } : {}) };
    const schemaPath = writeSchemaFile(o.path, describeTrainingSet(summary, tspec, describe));
    files.push({ path: o.path, schemaPath, bytes, rows: o.rows, ...(o.split !== undefined ? { split: SPLITS[o.split]! } : {}) });
  }
  const set = { rows: totals.rows, candidates: totals.candidates, dropped: totals.dropped, pointsRead: totals.pointsRead };
  const wallMs = performance.now() - t0;
  return {
    files,
    rows: set.rows,
    candidates: set.candidates,
    dropped: set.dropped,
    pointsRead: set.pointsRead,
    windows: totals.windows,
    ...(cache ? { cache } : {}),
    wallMs: Math.round(wallMs),
    pointsPerSec: wallMs > 0 ? Math.round((set.pointsRead * 1000) / wallMs) : 0,
  };
}
