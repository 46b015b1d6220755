/**
 * InfluxDB sink configuration: the zod schema (YAML `sink:` entry or `--sink influx:URL?…`), its
 * defaults, and the URL form. Everything tunable about loading lives here so the rest of
 * src/load/influx reads plain, validated values.
 */
import { z } from 'zod';
import { ConfigError } from '../../errors.js';
import { isDuration } from '../../util/duration.js';
import { schemaMappingSchema, seriesKeyOptionsShape } from '../schema.js';

/** A retention duration: the one duration grammar (src/util/duration.ts) or INF, e.g. 30d, 52w, 5y (= 1825d), 720h. */
const durationString = z
  .string()
  .refine((d) => /^inf$/i.test(d.trim()) || isDuration(d), 'expected a duration like 30d, 52w, 5y, 720h or INF');

export const retentionPolicySchema = z
  .object({
    name: z.string().min(1),
    duration: durationString,
    replication: z.number().int().min(1).default(1),
    default: z.boolean().default(false),
    /** Shard group duration (InfluxQL SHARD DURATION); server picks when absent. */
    shardDuration: durationString.optional(),
  })
  .strict();

export const influxSetupSchema = z
  .object({
    /** Database to create on 1.x (defaults to the sink's `db`). */
    database: z.string().min(1).optional(),
    /** 1.x retention policies, created or altered to match (idempotent). */
    retentionPolicies: z.array(retentionPolicySchema).default([]),
    /** 2.x bucket retention (e.g. 30d; INF or 0 = keep forever). */
    bucketRetention: durationString.optional(),
    /** 2.x bucket description on creation. */
    bucketDescription: z.string().optional(),
  })
  .strict();

export const cardinalitySchema = z
  .object({
    /** Distinct tag sets allowed per measurement (over the whole run). */
    limit: z.number().int().positive().default(100_000),
    /** warn: log once per measurement and continue; refuse: fail the batch before writing. */
    action: z.enum(['warn', 'refuse']).default('warn'),
  })
  .strict();

const versionSchema = z.preprocess(
  (v) => (typeof v === 'string' && /^[12]$/.test(v) ? Number(v) : v),
  z.union([z.literal(1), z.literal(2)]),
);

export const influxSinkSchema = z
  .object({
    kind: z.literal('influx'),
    ...seriesKeyOptionsShape,
    /** Base URL of the server, e.g. http://127.0.0.1:8086 (a path prefix is kept). */
    url: z.url({ protocol: /^https?$/ }),
    /** 1 = /write (InfluxDB 1.x); 2 = /api/v2/write (InfluxDB 2.x, 3.x, Cloud, VictoriaMetrics). */
    version: versionSchema.default(1),
    db: z.string().min(1).optional(),
    rp: z.string().min(1).optional(),
    org: z.string().min(1).optional(),
    bucket: z.string().min(1).optional(),
    /** Sent as `Authorization: Token …` (2.x/3.x; 1.8+ accepts `user:password`). */
    token: z.string().min(1).optional(),
    /** 1.x basic auth. */
    username: z.string().min(1).optional(),
    password: z.string().optional(),
    /** Timestamp precision of the line protocol the encoder writes. */
    precision: z.enum(['s', 'ms', 'us', 'ns']).default('ms'),
    /**
     * Compress request bodies. `auto` (default): off when the URL's host is loopback (127.0.0.0/8,
     * ::1, localhost), where gzip only costs CPU (peer-vmctl: −0.6 to −0.9 CPU-s per 2.88M samples),
     * on otherwise. `true`/`false` always win. See docs/LOAD.md.
     */
    gzip: z.union([z.boolean(), z.literal('auto')]).default('auto'),
    /** zlib level: 1 costs ~2.5x less CPU than 6 for ~11% more bytes (measured on exporter-like LP). */
    gzipLevel: z.number().int().min(1).max(9).default(1),
    /** Max lines per request. */
    batchLines: z.number().int().positive().default(5000),
    /** Max uncompressed bytes per request (a single longer line is sent alone). */
    batchBytes: z.number().int().min(1024).default(10_000_000),
    /** Requests in flight at once, across all batches. */
    concurrency: z.number().int().min(1).max(256).default(4),
    /** Per-request timeout (response headers and body), ms. */
    timeoutMs: z.number().int().positive().default(30_000),
    retry: z
      .object({
        baseMs: z.number().int().positive().default(250),
        maxMs: z.number().int().positive().default(30_000),
        /** A request failing for longer than this fails the run (resume from the checkpoint). */
        maxOutageMs: z.number().int().positive().default(300_000),
      })
      .strict()
      .prefault({}),
    circuitBreaker: z
      .object({
        /** Consecutive failed requests (network, timeout, 5xx, 429) that open the breaker. */
        failures: z.number().int().positive().default(5),
        /** Time the breaker stays open before one probe request is let through. */
        cooldownMs: z.number().int().positive().default(5_000),
      })
      .strict()
      .prefault({}),
    /** Rejected lines are appended here (line protocol with `#` comment headers). */
    deadLetter: z.string().min(1).default('out/dead-letter.lp'),
    tls: z
      .object({
        rejectUnauthorized: z.boolean().default(true),
        /** PEM text or a path to a PEM file. */
        ca: z.string().optional(),
      })
      .strict()
      .optional(),
    /** Extra request headers (e.g. a proxy's auth). */
    headers: z.record(z.string(), z.string()).optional(),
    /** Metric/label/column → measurement/tag/field mapping (applied by the encoder in workers). */
    schema: schemaMappingSchema.prefault({}),
    cardinality: cardinalitySchema.prefault({}),
    setup: influxSetupSchema.prefault({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.version === 1 && !c.db) {
      ctx.addIssue({ code: 'custom', path: ['db'], message: 'version 1 needs `db` (the database to write to)' });
    }
    if (c.version === 2 && !c.bucket) {
      ctx.addIssue({ code: 'custom', path: ['bucket'], message: 'version 2 needs `bucket`' });
    }
    if (c.password !== undefined && c.username === undefined) {
      ctx.addIssue({ code: 'custom', path: ['username'], message: '`password` given without `username`' });
    }
  });

export type InfluxSinkConfig = z.output<typeof influxSinkSchema>;
export type InfluxSinkInput = z.input<typeof influxSinkSchema>;
export type RetentionPolicyConfig = z.output<typeof retentionPolicySchema>;

/** True when `host` (a URL's hostname) is this machine: 127.0.0.0/8, ::1 or localhost. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  // IPv4-mapped 127.x.y.z: WHATWG URL writes it as hex (::ffff:7f00:1)
  if (/^::ffff:(127\.|7f[0-9a-f]{2}:)/.test(h)) return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** Whether request bodies are gzipped: an explicit `gzip` wins; `auto` = off on loopback, on otherwise. */
export function gzipEnabled(cfg: Pick<InfluxSinkConfig, 'gzip' | 'url'>): boolean {
  if (cfg.gzip !== 'auto') return cfg.gzip;
  return !isLoopbackHost(new URL(cfg.url).hostname);
}

/** Validate a sink config object; throws ConfigError naming the key. */
export function parseInfluxSinkConfig(input: unknown, file?: string): InfluxSinkConfig {
  const r = influxSinkSchema.safeParse(input);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  throw new ConfigError(`${issue.message}`, { file, key: ['sink', ...issue.path.map(String)].join('.') });
}

const NUMERIC_KEYS = new Set(['batchLines', 'batchBytes', 'concurrency', 'timeoutMs', 'gzipLevel']);

/**
 * `influx:http://host:8086?db=x&version=1&rp=hot&precision=s&gzip=false&concurrency=8` → config.
 * Query keys that are sink options are taken out of the URL; the rest of the URL is the server.
 * Also accepts `influx+https://…`-less plain `influx:https://…`. Credentials in the userinfo part
 * become username/password (v1) — prefer the config file or env for secrets.
 */
export function parseSinkUrl(spec: string, overrides: Record<string, unknown> = {}): InfluxSinkConfig {
  const m = /^influx(?:db)?:(.+)$/i.exec(spec.trim());
  if (!m) throw new ConfigError(`sink "${spec}" is not of the form influx:http://host:8086?db=NAME`, { key: '--sink' });
  let u: URL;
  try {
    u = new URL(m[1]!);
  } catch {
    throw new ConfigError(`sink URL "${m[1]}" is not a valid URL`, { key: '--sink' });
  }
  const out: Record<string, unknown> = { kind: 'influx' };
  const known = new Set(Object.keys(influxSinkSchema.shape));
  for (const [k, v] of [...u.searchParams.entries()]) {
    if (!known.has(k) || k === 'url' || k === 'kind') continue;
    u.searchParams.delete(k);
    if (NUMERIC_KEYS.has(k)) out[k] = Number(v);
    else if (k === 'gzip') out[k] = v === 'auto' ? 'auto' : v !== 'false' && v !== '0';
    else out[k] = v;
  }
  if (u.username) {
    out.username = decodeURIComponent(u.username);
    out.password = decodeURIComponent(u.password);
    u.username = '';
    u.password = '';
  }
  out.url = u.toString().replace(/\/$/, '');
  return parseInfluxSinkConfig({ ...out, ...overrides });
}
