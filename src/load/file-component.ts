/** The `file` sink's descriptor (src/config/component.ts): line protocol to a file, optionally gzip. */
import { z } from 'zod';
import { defineSink } from '../config/component.js';
import { FileSink } from './file.js';
import { seriesKeyOptionsShape } from './schema.js';

export const fileSinkSchema = z
  .object({
    kind: z.literal('file'),
    /** Output path; `.gz` or `gzip: true` compresses. */
    path: z.string().min(1),
    gzip: z.boolean().optional(),
    ...seriesKeyOptionsShape,
  })
  .strict();

export const fileSink = defineSink({
  kind: 'file',
  schema: fileSinkSchema,
  create: (cfg) => new FileSink(cfg.path, cfg.gzip ?? cfg.path.endsWith('.gz')),
  parseFlag: (rest) => (rest ? { kind: 'file', path: rest, gzip: rest.endsWith('.gz') } : undefined),
  flagUsage: 'file:PATH',
  docs: 'line protocol to a file (gzip when the path ends in .gz); docs/LOAD.md',
});
