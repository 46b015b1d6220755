/**
 * The schema-mapping config (Prometheus metric/labels/columns → InfluxDB measurement/tags/fields):
 * its zod schema, validated on the main thread. The mapping itself is a pure function in
 * src/encode/schema-map.ts (no zod, so workers can load it); `compileSchemaMapping` here validates
 * a raw config and compiles it.
 */
import { z } from 'zod';
import { replacementProblem } from '../encode/escape.js';
import { compileMapping, type CompiledSchemaMapping, type SchemaMappingConfig as PureMappingConfig } from '../encode/schema-map.js';

export { SCHEMA_EXCLUDED_REASON, SERIES_COLLISION_REASON, UNENCODABLE_SERIES_KEY_REASON } from '../encode/schema-map.js';
export type { CompiledSchemaMapping, MappedField, MappedSeries } from '../encode/schema-map.js';

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

/** Compile-time check: what the zod schema outputs is what the pure mapping takes. */
const outputFitsMapping = (cfg: SchemaMappingConfig): PureMappingConfig => cfg;
void outputFitsMapping;

/**
 * Validate a raw (or validated) mapping config and compile it. Throws a zod error on an invalid
 * config, and (compileMapping) on an invalid regex rule or on two labels renamed to the same tag
 * key, so configuration errors surface before any worker runs.
 */
export function compileSchemaMapping(input: SchemaMappingInput | SchemaMappingConfig = {}): CompiledSchemaMapping {
  return compileMapping(schemaMappingSchema.parse(input));
}
