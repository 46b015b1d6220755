/** The `arrow` sink's descriptor (src/config/component.ts): an Arrow IPC file of rows and features. */
import { z } from 'zod';
import { defineSink } from '../config/component.js';
import { ArrowSink } from './arrow.js';

export const arrowSinkSchema = z
  .object({
    kind: z.literal('arrow'),
    /** Arrow IPC file of the emitted rows and their features. */
    path: z.string().min(1),
    /** `batch`: each record batch's rows ordered by (series, timestamp) (docs/LOAD.md); `none`: batch order. */
    sort: z.enum(['none', 'batch']).default('none'),
  })
  .strict();

export const arrowSink = defineSink({
  kind: 'arrow',
  schema: arrowSinkSchema,
  create: (cfg, deps) => new ArrowSink(cfg.path, deps.featureNames, { 'promflux.pipeline': deps.pipeline }, { sort: cfg.sort }),
  parseFlag: (rest) => (rest ? { kind: 'arrow', path: rest } : undefined),
  flagUsage: 'arrow:PATH',
  docs: 'an Arrow IPC file of the emitted rows and their feature columns; docs/LOAD.md',
});
