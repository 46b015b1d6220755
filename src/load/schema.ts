/**
 * Schema mapping: Prometheus metric/labels/columns → InfluxDB measurement/tags/fields.
 *
 * The config is plain data (structured-cloneable), validated by `schemaMappingSchema`, and compiled
 * in each worker by `compileSchemaMapping` into pure functions the line-protocol encoder calls once
 * per *series* (mapSeries) and once per *column* (mapField) — never per sample. The encoder caches
 * the results for the batch's series table.
 *
 * A series for which mapSeries returns null is excluded: the encoder drops its rows and counts them
 * under the drop reason SCHEMA_EXCLUDED_REASON, so every sample still ends written or dropped.
 */
import { z } from 'zod';
import { replacementProblem } from '../encode/escape.js';

/** Drop reason the encoder counts for rows of series excluded by the mapping. */
export const SCHEMA_EXCLUDED_REASON = 'schema_excluded';

/**
 * Drop reason for rows of a series whose target series key (measurement + tag set after mapping and
 * key policy) another source series already holds in this run (`sink.onCollision: drop`).
 */
export const SERIES_COLLISION_REASON = 'series_collision';

/** Drop reason under `sink.tagValues: drop` for a series whose names line protocol cannot carry. */
export const UNENCODABLE_SERIES_KEY_REASON = 'unencodable_series_key';

/**
 * Series-key options of the line-protocol sinks (file, influx); spread into their schemas. Optional
 * here so configs built in code need not name them; defaults are resolved where the run starts.
 */
export const seriesKeyOptionsShape = {
  /**
   * What to do with what line protocol cannot carry in a measurement, tag key or tag value (LF, a
   * trailing backslash, a leading `#` in a measurement, the tag key `time`): `escape` (default) as
   * `\u{HEX}`, reversible with decodeTagValue; `replace` with `tagReplacement`; `drop` the series.
   */
  tagValues: z.enum(['escape', 'replace', 'drop']).optional(),
  /** Replacement character for `tagValues: replace` (default `_`). */
  tagReplacement: z
    .string()
    .superRefine((r, ctx) => {
      const p = replacementProblem(r);
      if (p) ctx.addIssue({ code: 'custom', message: `tagReplacement ${p}` });
    })
    .optional(),
  /**
   * Two source series written as one target series: `fail` the run (default for `mode: backfill`
   * and bounded synthetic runs) or `drop` the later one's samples as `series_collision` (default for
   * incremental and stream runs).
   */
  onCollision: z.enum(['fail', 'drop']).optional(),
};

const glob = z.string().min(1);

export const schemaMappingSchema = z
  .object({
    measurement: z
      .object({
        /** Template for the measurement name: `${name}` is the metric name. */
        default: z.string().min(1).default('${name}'),
        /** Exact metric name → measurement. Checked first. */
        rename: z.record(z.string(), z.string().min(1)).default({}),
        /** Regex rules on the metric name, first match wins: `$1`… and `${name}` in `measurement`. */
        rules: z
          .array(z.object({ match: z.string().min(1), measurement: z.string().min(1) }).strict())
          .default([]),
        /** Metric names (globs, `*` = any run of characters) whose series are not written. */
        exclude: z.array(glob).default([]),
        /** When set, only metric names matching one of these globs are written. */
        include: z.array(glob).optional(),
      })
      .strict()
      .prefault({}),
    tags: z
      .object({
        /** When set, only these labels (globs) become tags. */
        allow: z.array(glob).optional(),
        /** Labels (globs) never written as tags. Applied after `allow`. */
        deny: z.array(glob).default([]),
        /** Label → tag key. A renamed tag wins over an original label of the same name. */
        rename: z.record(z.string(), z.string().min(1)).default({}),
      })
      .strict()
      .prefault({}),
    fields: z
      .object({
        /** Column (value, mean_5, std_15, p95_60, …) → field key. */
        rename: z.record(z.string(), z.string().min(1)).default({}),
        /** Columns (globs) written as integers (`12i`): e.g. counters' `value`. Others are floats. */
        integer: z.array(glob).default([]),
        /** When set, only these columns are written. */
        include: z.array(glob).optional(),
        /** Columns never written. */
        exclude: z.array(glob).default([]),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type SchemaMappingConfig = z.output<typeof schemaMappingSchema>;
export type SchemaMappingInput = z.input<typeof schemaMappingSchema>;

export interface MappedSeries {
  measurement: string;
  tags: Record<string, string>;
}

export interface MappedField {
  name: string;
  type: 'float' | 'int';
}

export interface CompiledSchemaMapping {
  /** null = series excluded (its rows are dropped as SCHEMA_EXCLUDED_REASON). */
  mapSeries(name: string, labels: Readonly<Record<string, string>>): MappedSeries | null;
  /** null = column not written. */
  mapField(column: string): MappedField | null;
}

function globToRegExp(g: string): RegExp {
  const src = g.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*');
  return new RegExp(`^${src}$`);
}

function matcher(globs: readonly string[] | undefined): ((s: string) => boolean) | null {
  if (!globs) return null;
  const exact = new Set(globs.filter((g) => !g.includes('*')));
  const res = globs.filter((g) => g.includes('*')).map(globToRegExp);
  return (s) => exact.has(s) || res.some((r) => r.test(s));
}

function expand(template: string, name: string, groups: readonly string[] = []): string {
  return template
    .replace(/\$\{name\}/g, name)
    .replace(/\$(\d)/g, (_m, d: string) => groups[Number(d)] ?? '');
}

/**
 * Compile a (validated or raw) mapping config. Throws on an invalid regex rule or on two labels
 * renamed to the same tag key, so configuration errors surface before any worker runs.
 */
export function compileSchemaMapping(input: SchemaMappingInput | SchemaMappingConfig = {}): CompiledSchemaMapping {
  const cfg = schemaMappingSchema.parse(input);
  const m = cfg.measurement;
  const rules = m.rules.map((r, i) => {
    try {
      return { re: new RegExp(r.match), measurement: r.measurement };
    } catch (err) {
      throw new Error(`schema.measurement.rules[${i}].match: invalid regex "${r.match}": ${(err as Error).message}`);
    }
  });
  const excludeMetric = matcher(m.exclude)!;
  const includeMetric = matcher(m.include);
  const allowTag = matcher(cfg.tags.allow);
  const denyTag = matcher(cfg.tags.deny)!;
  const tagRename = new Map(Object.entries(cfg.tags.rename));
  const targets = new Map<string, string>();
  for (const [from, to] of tagRename) {
    const prev = targets.get(to);
    if (prev !== undefined) throw new Error(`schema.tags.rename: labels "${prev}" and "${from}" are both renamed to "${to}"`);
    targets.set(to, from);
  }
  const fieldRename = new Map(Object.entries(cfg.fields.rename));
  const intField = matcher(cfg.fields.integer)!;
  const includeField = matcher(cfg.fields.include);
  const excludeField = matcher(cfg.fields.exclude)!;

  const measurementOf = (name: string): string => {
    const renamed = m.rename[name];
    if (renamed !== undefined) return renamed;
    for (const r of rules) {
      const g = r.re.exec(name);
      if (g) return expand(r.measurement, name, g);
    }
    return expand(m.default, name);
  };

  return {
    mapSeries(name, labels) {
      if (excludeMetric(name) || (includeMetric && !includeMetric(name))) return null;
      const measurement = measurementOf(name);
      if (measurement === '') return null;
      const tags: Record<string, string> = {};
      const renamedKeys = new Set<string>();
      for (const k of Object.keys(labels)) {
        const v = labels[k]!;
        // Prometheus treats an empty label as absent; InfluxDB rejects empty tag values.
        if (k === '__name__' || v === '') continue;
        if (allowTag && !allowTag(k)) continue;
        if (denyTag(k)) continue;
        const to = tagRename.get(k);
        if (to !== undefined) {
          tags[to] = v;
          renamedKeys.add(to);
        } else if (!renamedKeys.has(k)) {
          tags[k] = v;
        }
      }
      return { measurement, tags };
    },
    mapField(column) {
      if (excludeField(column) || (includeField && !includeField(column))) return null;
      return { name: fieldRename.get(column) ?? column, type: intField(column) ? 'int' : 'float' };
    },
  };
}
