/** Configuration of the prometheus-tsdb source (docs/EXTRACT.md, "Snapshot backfill"). */
import { z } from 'zod';
import { parseSelector } from '../prometheus/selector.js';

const instant = z.union([z.string().min(1), z.number()]);

export const tsdbSourceSchema = z
  .object({
    kind: z.literal('prometheus-tsdb'),
    /**
     * A snapshot directory (POST /api/v1/admin/tsdb/snapshot → <data>/snapshots/<name>), a copy of a
     * data directory (its persisted blocks; WAL and head chunks are not read) or one block directory.
     */
    path: z.string().min(1),
    /** PromQL selectors (`m{a="b"}`), unioned; none = every series. */
    selectors: z
      .array(
        z.string().refine(
          (s) => {
            try {
              parseSelector(s);
              return true;
            } catch {
              return false;
            }
          },
          { message: 'not a plain PromQL selector like metric{label="value"}' },
        ),
      )
      .default([]),
    /** Time range [start, end): RFC 3339, unix seconds or now-<d>. Default: everything in the blocks. */
    start: instant.optional(),
    end: instant.optional(),
  })
  .strict();

export type TsdbSourceConfig = z.infer<typeof tsdbSourceSchema>;
