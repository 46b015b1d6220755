/**
 * THE lists of sources and sinks. Each entry is a descriptor from the component's own folder
 * (src/config/component.ts); these lists build the config's `source` / `sink` schemas
 * (src/config/schema.ts), the factories (src/pipeline/components.ts) and the `--sink` parser.
 * Adding a built-in source or sink: its folder, and one line here.
 *
 * User plugins register the same descriptor type with registerSource / registerSink, before the
 * config is validated; their kinds are then accepted by the schemas, the factories and `--sink`.
 */
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { syntheticSource } from '../extract/synthetic.js';
import { prometheusSource } from '../extract/prometheus/component.js';
import { tsdbSource } from '../extract/tsdb/component.js';
import { fileSink } from '../load/file-component.js';
import { nullSink } from '../load/null-component.js';
import { arrowSink } from '../load/arrow-component.js';
import { influxSink } from '../load/influx/component.js';
import type { SinkDescriptor, SourceDescriptor } from './component.js';

export const BUILTIN_SOURCES = [syntheticSource, prometheusSource, tsdbSource] as const;
export const BUILTIN_SINKS = [nullSink, fileSink, arrowSink, influxSink] as const;

type BuiltinSourceConfig = z.output<(typeof BUILTIN_SOURCES)[number]['schema']>;
type BuiltinSinkConfig = z.output<(typeof BUILTIN_SINKS)[number]['schema']>;

const sources = new Map<string, SourceDescriptor>(BUILTIN_SOURCES.map((d) => [d.kind, d as SourceDescriptor]));
const sinks = new Map<string, SinkDescriptor>(BUILTIN_SINKS.map((d) => [d.kind, d as SinkDescriptor]));

function register<D extends { kind: string }>(slot: 'source' | 'sink', registry: Map<string, D>, d: D): void {
  if (!/^[a-z][a-z0-9_-]*$/.test(d.kind)) throw new ConfigError(`${slot} kind "${d.kind}" must be lower-case letters, digits, "_" or "-"`, { key: `${slot}.kind` });
  if (registry.has(d.kind)) throw new ConfigError(`${slot} kind "${d.kind}" is already registered`, { key: `${slot}.kind` });
  registry.set(d.kind, d);
}

/** Add a user source kind (library use). Call before validating or running configs that use it. */
export function registerSource(d: SourceDescriptor): void {
  register('source', sources, d);
}

/** Add a user sink kind (library use). Call before validating or running configs that use it. */
export function registerSink(d: SinkDescriptor): void {
  register('sink', sinks, d);
}

export function sourceDescriptor(kind: string): SourceDescriptor | undefined {
  return sources.get(kind);
}

export function sinkDescriptor(kind: string): SinkDescriptor | undefined {
  return sinks.get(kind);
}

export const sourceKinds = (): string[] => [...sources.keys()];
export const sinkKinds = (): string[] => [...sinks.keys()];

/**
 * The `source:` / `sink:` schema: the built-ins' discriminated union (its types are the config
 * types), and, for a registered user kind, that kind's own schema — looked up at parse time, so a
 * plugin registered after this module loaded is still accepted.
 */
/**
 * The `source`/`sink` slots dispatch on `kind` inside a transform, which hides their structure from
 * zod's introspection; config/format.ts asks here for the schema a value would be checked against
 * (to name the expected type and suggest the nearest key).
 */
export const kindDispatch = new WeakMap<z.ZodType, (value: unknown) => z.ZodType>();

function kindSchema<Out, In>(slot: 'source' | 'sink', registry: Map<string, { schema: z.ZodType }>, builtin: z.ZodType<Out, In>): z.ZodType<Out, In> {
  const builtinKinds = new Set(registry.keys());
  const dispatch = z.unknown().transform((value, ctx) => {
    const kind = (value as { kind?: unknown } | null)?.kind;
    const plugin = typeof kind === 'string' && !builtinKinds.has(kind) ? registry.get(kind) : undefined;
    const r = (plugin?.schema ?? builtin).safeParse(value);
    if (r.success) return r.data as Out;
    for (const issue of r.error.issues) ctx.issues.push({ ...issue, input: (issue as { input?: unknown }).input } as never);
    if (typeof kind === 'string' && !registry.has(kind)) {
      ctx.issues.push({ code: 'custom', path: ['kind'], input: kind, message: `unknown ${slot} kind "${kind}" (known: ${[...registry.keys()].join(', ')})` });
    }
    return z.NEVER;
  });
  kindDispatch.set(dispatch, (value) => {
    const kind = (value as { kind?: unknown } | null)?.kind;
    return (typeof kind === 'string' && !builtinKinds.has(kind) ? registry.get(kind)?.schema : undefined) ?? builtin;
  });
  return dispatch as unknown as z.ZodType<Out, In>;
}

const builtinSourceUnion = z.discriminatedUnion('kind', BUILTIN_SOURCES.map((d) => d.schema) as unknown as [(typeof BUILTIN_SOURCES)[number]['schema']]);
const builtinSinkUnion = z.discriminatedUnion('kind', BUILTIN_SINKS.map((d) => d.schema) as unknown as [(typeof BUILTIN_SINKS)[number]['schema']]);

export const sourceSchema = kindSchema<BuiltinSourceConfig, z.input<typeof builtinSourceUnion>>('source', sources, builtinSourceUnion);
export const sinkSchema = kindSchema<BuiltinSinkConfig, z.input<typeof builtinSinkUnion>>('sink', sinks, builtinSinkUnion);

/**
 * `--sink` CLI shorthand, from the descriptors: `null`, `file:PATH` (gzip when PATH ends in .gz),
 * `arrow:PATH`, `influx:URL?db=…` (docs/LOAD.md), and any registered kind with a `parseFlag`.
 */
export function parseSinkFlag(flag: string): BuiltinSinkConfig {
  const colon = flag.indexOf(':');
  const prefix = colon < 0 ? flag : flag.slice(0, colon);
  const rest = colon < 0 ? '' : flag.slice(colon + 1);
  const d = sinks.get(prefix) ?? [...sinks.values()].find((s) => s.flagAliases?.includes(prefix));
  const cfg = d?.parseFlag?.(rest);
  if (cfg !== undefined) return cfg as BuiltinSinkConfig;
  const forms = [...sinks.values()].filter((s) => s.parseFlag).map((s) => s.flagUsage ?? `${s.kind}:…`);
  throw new ConfigError(`invalid --sink "${flag}" (use ${forms.slice(0, -1).join(', ')} or ${forms.at(-1)})`, { key: '--sink' });
}
