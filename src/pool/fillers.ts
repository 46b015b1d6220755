/**
 * Worker-side fillers: FillSpec.kind → function that materializes a chunk into a batch.
 * Sources register theirs here; the worker looks them up per task.
 */
import type { BatchBuilder } from '../batch/builder.js';
import type { FillSpec } from '../extract/source.js';
import { fillSynthetic } from '../extract/synthetic-data.js';
import { promFillers } from '../extract/prometheus/fillers.js';
import { tsdbFillers } from '../extract/tsdb/fill.js';

export type Filler = (spec: FillSpec, b: BatchBuilder) => void;

const fillers = new Map<string, Filler>([['synthetic', fillSynthetic], ...Object.entries(promFillers), ...Object.entries(tsdbFillers)]);

export function registerFiller(kind: string, fn: Filler): void {
  fillers.set(kind, fn);
}

export function fillerFor(kind: string): Filler {
  const f = fillers.get(kind);
  if (!f) throw new Error(`no filler registered for chunk kind "${kind}" (known: ${[...fillers.keys()].join(', ')})`);
  return f;
}
