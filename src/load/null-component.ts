/** The `null` sink's descriptor (src/config/component.ts): accepts everything, keeps nothing. */
import { z } from 'zod';
import { defineSink } from '../config/component.js';
import { NullSink } from './null.js';

export const nullSinkSchema = z.object({ kind: z.literal('null') }).strict();

export const nullSink = defineSink({
  kind: 'null',
  schema: nullSinkSchema,
  create: () => new NullSink(),
  parseFlag: (rest) => (rest === '' ? { kind: 'null' } : undefined),
  flagUsage: 'null',
  docs: 'discards every batch (benchmarks measure the engine alone)',
});
