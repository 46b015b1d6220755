/**
 * The one shape of a pipeline component (Vector's SinkConfig + `inventory::submit!`): a descriptor
 * `{ kind, schema, create, parseFlag?, docs }` that lives in the component's own folder. The lists
 * in src/config/components.ts (built-ins, plus whatever `registerSource` / `registerSink` add at
 * run time) build the config's zod unions, the factories and the `--sink` flag parser, so adding a
 * source or sink is its folder plus one line there.
 *
 * Only types here: descriptors import this file, and the worker never imports a descriptor (they
 * carry zod schemas; workers must not load zod).
 */
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { z } from 'zod';
import type { Source } from '../extract/source.js';
import type { Sink } from '../load/sink.js';

/** What every factory gets. */
export interface ComponentDeps {
  logger: Logger;
  registry?: Registry;
  /** Pipeline name and state directory (checkpoints, watermarks). */
  pipeline?: string;
  stateDir?: string;
}

/** What a sink factory gets besides: the feature columns the transforms produce, in order. */
export interface SinkDeps extends ComponentDeps {
  pipeline: string;
  featureNames: readonly string[];
}

/** A config schema for one kind: a (strict) zod object whose `kind` is the literal `K`. */
export type KindSchema<K extends string> = z.ZodType<{ kind: K }, { kind: K }>;

export interface ComponentDescriptor<K extends string, S extends KindSchema<K>, T, D> {
  /** The config's `kind`. */
  readonly kind: K;
  /** Validates the config entry (strict: unknown keys are errors naming the key). */
  readonly schema: S;
  /** Build the component from its validated config. Called once per run, on the main thread. */
  create(cfg: z.output<S>, deps: D): T;
  /**
   * `--sink KIND:REST` shorthand → the config entry (validated by `schema` afterwards), or
   * undefined when REST is not valid for this kind.
   */
  parseFlag?(rest: string): z.input<S> | undefined;
  /** Other prefixes `--sink` accepts for this kind (e.g. `influxdb`). */
  readonly flagAliases?: readonly string[];
  /** The flag form for help and errors, e.g. `file:PATH`. */
  readonly flagUsage?: string;
  /** One line: what it is, and where it is documented. */
  readonly docs: string;
}

// `any` in the schema slot: a descriptor's own config type is checked where it is defined
// (defineSource / defineSink); the lists only need the common shape.
export type SourceDescriptor<K extends string = string, S extends KindSchema<K> = any> = ComponentDescriptor<K, S, Source, ComponentDeps>;
export type SinkDescriptor<K extends string = string, S extends KindSchema<K> = any> = ComponentDescriptor<K, S, Sink, SinkDeps>;

/** Declare a source (identity; keeps the config type of `create` tied to `schema`). */
export function defineSource<const K extends string, S extends KindSchema<K>>(d: SourceDescriptor<K, S>): SourceDescriptor<K, S> {
  return d;
}

/** Declare a sink (identity; keeps the config type of `create` tied to `schema`). */
export function defineSink<const K extends string, S extends KindSchema<K>>(d: SinkDescriptor<K, S>): SinkDescriptor<K, S> {
  return d;
}
