/**
 * Configuration of the Prometheus source: the zod schema the lead's YAML loader embeds under
 * `source:`, and `resolveConfig`, which turns the validated object into numbers (ms) and expanded
 * queries. The schema is strict: unknown keys are errors.
 */
import { z } from 'zod';
import { BUILTIN_TEMPLATES, FAMILIES, expandTemplate, type QueryTemplate } from './templates.js';
import { parseTime } from './time.js';
import { parseDuration } from '../../util/duration.js';
import { durationSchema } from '../../util/duration-schema.js';
import { parseSelector } from './selector.js';

const duration = durationSchema;

const instant = z.union([z.string().min(1), z.number()]);

const QUERY_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
const queryName = z.string().regex(QUERY_NAME, 'query names use letters, digits, "_", "." and "-" (they appear in chunk ids)');

const exprQuery = z.object({ name: queryName, expr: z.string().min(1) }).strict();
const templateQuery = z
  .object({ name: queryName, template: z.string().min(1), vars: z.record(z.string(), z.string()).default({}) })
  .strict();
const familyQuery = z
  .object({
    family: z.string().min(1),
    /** Vars applied to every member (e.g. a common `selector`). */
    vars: z.record(z.string(), z.string()).default({}),
    /** Name prefix for the expanded queries (default: none; names are `<family>.<member>`). */
    prefix: z.string().optional(),
  })
  .strict();

const templateDef = z.union([
  z.string().min(1),
  z.object({ expr: z.string().min(1), defaults: z.record(z.string(), z.string()).default({}), description: z.string().optional() }).strict(),
]);

const tlsSchema = z
  .object({
    /** PEM text or a file path. */
    ca: z.string().optional(),
    cert: z.string().optional(),
    key: z.string().optional(),
    rejectUnauthorized: z.boolean().default(true),
    servername: z.string().optional(),
  })
  .strict();

const authSchema = z.union([
  z.object({ bearer: z.string().min(1) }).strict(),
  z.object({ basic: z.object({ username: z.string(), password: z.string() }).strict() }).strict(),
]);

export const prometheusSourceSchema = z
  .object({
    kind: z.literal('prometheus'),
    /** Base URL; a path prefix (reverse proxy) is kept: http://host/prom → http://host/prom/api/v1/... */
    url: z.string().url(),
    auth: authSchema.optional(),
    headers: z.record(z.string(), z.string()).default({}),
    tls: tlsSchema.optional(),
    /** Whole-request timeout (headers and body), per attempt. */
    timeoutMs: z.number().int().positive().default(60_000),
    /** Keep-alive connections in the undici pool. */
    connections: z.number().int().min(1).max(256).default(8),
    /** GET, form-encoded POST, or auto (POST when the query string is long). */
    method: z.enum(['auto', 'get', 'post']).default('auto'),
    /** Requests in flight at once (also the prefetch depth). */
    concurrency: z.number().int().min(1).max(256).default(4),
    /** Requests per second (token bucket); 0 = unlimited. */
    rateLimit: z.number().min(0).default(0),
    /** Token bucket burst size (default: max(1, rateLimit)). */
    rateBurst: z.number().int().min(1).optional(),
    retry: z
      .object({
        attempts: z.number().int().min(1).max(100).default(5),
        baseMs: z.number().int().min(1).default(200),
        maxMs: z.number().int().min(1).default(10_000),
      })
      .strict()
      .prefault({}),
    mode: z.enum(['backfill', 'incremental', 'stream']).default('backfill'),
    extraction: z.enum(['range', 'remote-read', 'range-vector']).default('range'),
    /** RFC3339, unix seconds, "now" or "now-6h". Required for backfill; first-run start for incremental/stream. */
    start: instant.optional(),
    /** Backfill end (exclusive); default "now". */
    end: instant.optional(),
    /** Evaluation step (range) and chunk-edge grid (all modes). */
    step: duration('step').default('15s'),
    /** Prometheus --query.max-samples: estimated samples per query stay under it. */
    maxSamplesPerQuery: z.number().int().min(1).default(50_000_000),
    /** Prometheus' hard limit of points per series in one query_range. */
    maxPointsPerSeries: z.number().int().min(2).max(11_000).default(11_000),
    /** Incremental/stream: stay this far behind now (lets late scrapes and rule evaluations land). */
    safetyLag: duration('safetyLag').default('1m'),
    /** Stream: poll period. */
    pollInterval: duration('pollInterval').default('5s'),
    /** Raw modes: expected interval between stored samples (scrape interval), to size chunks. */
    sampleInterval: duration('sampleInterval').default('15s'),
    /** Raw modes: how far before a chunk to read for halo context (default from the halo request). */
    rawLookback: duration('rawLookback').optional(),
    /** Upper bound on one chunk's (non-halo) duration, whatever the limits allow. */
    maxChunk: duration('maxChunk').optional(),
    /**
     * Halo hand-off: a chunk that directly follows the previous one of its query takes that chunk's
     * decoded tail as its halo, and is fetched for its own range only (false: every chunk fetches
     * its history again, as before). Output is the same either way (docs/ARCHITECTURE.md).
     */
    haloHandoff: z.boolean().default(true),
    remoteRead: z
      .object({
        /** STREAMED_XOR_CHUNKS (streamed, default) or SAMPLES. */
        responseType: z.enum(['streamed', 'samples']).default('streamed'),
      })
      .strict()
      .prefault({}),
    /** Sharding: chunks never cross a block boundary; a block belongs to one shard. */
    shardBlock: duration('shardBlock').default('1d'),
    /** Incremental/stream: file for per-query watermarks when the engine passes no store. */
    watermarkFile: z.string().optional(),
    queries: z.array(z.union([exprQuery, templateQuery, familyQuery])).min(1),
    templates: z.record(z.string().regex(QUERY_NAME), templateDef).default({}),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    try {
      resolveQueries(cfg);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message, path: ['queries'] });
    }
    if (cfg.mode === 'backfill' && cfg.start === undefined) {
      ctx.addIssue({ code: 'custom', message: 'backfill mode needs "start" (RFC3339, unix seconds or "now-6h")', path: ['start'] });
    }
    for (const k of ['start', 'end'] as const) {
      const v = cfg[k];
      if (v === undefined) continue;
      try {
        parseTime(v, Date.now());
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message, path: [k] });
      }
    }
    if (cfg.tls && (cfg.tls.cert === undefined) !== (cfg.tls.key === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'tls.cert and tls.key go together (client certificate)', path: ['tls'] });
    }
  });

export type PrometheusSourceInput = z.input<typeof prometheusSourceSchema>;
export type PrometheusSourceConfig = z.output<typeof prometheusSourceSchema>;

export interface ResolvedQuery {
  name: string;
  expr: string;
}

/** Expand families and templates into `{name, expr}`; checks names are unique and raw modes get selectors. */
export function resolveQueries(cfg: Pick<PrometheusSourceConfig, 'queries' | 'templates' | 'extraction'>): ResolvedQuery[] {
  const user: Record<string, QueryTemplate> = {};
  for (const [k, v] of Object.entries(cfg.templates ?? {})) user[k] = typeof v === 'string' ? { expr: v } : v;
  const lookup = (name: string): QueryTemplate => {
    const t = user[name] ?? BUILTIN_TEMPLATES[name];
    if (!t) {
      throw new Error(
        `unknown template "${name}" (user templates: ${Object.keys(user).join(', ') || 'none'}; built-in: ${Object.keys(BUILTIN_TEMPLATES).join(', ')})`,
      );
    }
    return t;
  };
  const out: ResolvedQuery[] = [];
  for (const q of cfg.queries) {
    if ('expr' in q) out.push({ name: q.name, expr: q.expr });
    else if ('template' in q) out.push({ name: q.name, expr: expandTemplate(q.template, lookup(q.template), q.vars) });
    else {
      const members = FAMILIES[q.family];
      if (!members) throw new Error(`unknown family "${q.family}" (known: ${Object.keys(FAMILIES).join(', ')})`);
      for (const m of members) {
        const t = lookup(m);
        const vars = Object.fromEntries(Object.entries(q.vars).filter(([k]) => t.expr.includes('${' + k + '}')));
        out.push({ name: (q.prefix ?? '') + m, expr: expandTemplate(m, t, vars) });
      }
    }
  }
  const seen = new Set<string>();
  for (const q of out) {
    if (seen.has(q.name)) throw new Error(`duplicate query name "${q.name}" (names key watermarks and chunk ids)`);
    seen.add(q.name);
    if (cfg.extraction !== 'range') {
      try {
        parseSelector(q.expr);
      } catch (err) {
        throw new Error(`query "${q.name}": extraction "${cfg.extraction}" reads stored samples, so expr must be a plain selector: ${(err as Error).message}`);
      }
    }
  }
  return out;
}

/** Everything in ms, queries expanded. */
export interface ResolvedConfig {
  cfg: PrometheusSourceConfig;
  queries: ResolvedQuery[];
  stepMs: number;
  safetyLagMs: number;
  pollMs: number;
  sampleIntervalMs: number;
  rawLookbackMs: number | undefined;
  maxChunkMs: number | undefined;
  shardBlockMs: number;
}

export function resolveConfig(cfg: PrometheusSourceConfig): ResolvedConfig {
  const stepMs = parseDuration(cfg.step);
  if (stepMs <= 0) throw new Error('step must be > 0');
  return {
    cfg,
    queries: resolveQueries(cfg),
    stepMs,
    safetyLagMs: parseDuration(cfg.safetyLag),
    pollMs: Math.max(100, parseDuration(cfg.pollInterval)),
    sampleIntervalMs: Math.max(1, parseDuration(cfg.sampleInterval)),
    rawLookbackMs: cfg.rawLookback !== undefined ? parseDuration(cfg.rawLookback) : undefined,
    maxChunkMs: cfg.maxChunk !== undefined ? parseDuration(cfg.maxChunk) : undefined,
    shardBlockMs: Math.max(stepMs, parseDuration(cfg.shardBlock)),
  };
}
