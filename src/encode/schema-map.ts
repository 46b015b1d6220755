/**
 * Schema mapping as a pure function: Prometheus metric/labels/columns → InfluxDB
 * measurement/tags/fields.
 *
 * `compileMapping` takes a *validated* mapping config (defaults filled in: `schemaMappingSchema`
 * in src/load/schema.ts validates it on the main thread) and returns the functions the series
 * encoder calls once per *series* (mapSeries) and once per *column* (mapField) — never per sample.
 * This module imports no zod, so workers can load it (test/architecture.test.ts checks that).
 *
 * A series for which mapSeries returns null is excluded: the encoder drops its rows and counts them
 * under the drop reason SCHEMA_EXCLUDED_REASON, so every sample still ends written or dropped.
 */

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
 * A validated mapping config, every default filled in (the output of `schemaMappingSchema`, which
 * src/load/schema.ts checks is assignable to this type). Plain data: it travels to workers.
 */
export interface SchemaMappingConfig {
  measurement: {
    default: string;
    rename: Record<string, string>;
    rules: Array<{ match: string; measurement: string }>;
    exclude: string[];
    include?: string[] | undefined;
  };
  tags: {
    allow?: string[] | undefined;
    deny: string[];
    rename: Record<string, string>;
  };
  fields: {
    rename: Record<string, string>;
    integer: string[];
    include?: string[] | undefined;
    exclude: string[];
  };
}

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
 * Compile a validated mapping config. Throws on an invalid regex rule or on two labels
 * renamed to the same tag key, so configuration errors surface before any worker runs.
 */
export function compileMapping(cfg: SchemaMappingConfig): CompiledSchemaMapping {
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
