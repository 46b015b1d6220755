/**
 * Per-series state shared read-only with kernels (scaling parameters fitted by an earlier run).
 * Loaded once per worker per pipeline and cached.
 */
import { readFile } from 'node:fs/promises';
import { unpack } from 'msgpackr';

export async function loadStateForWorker(path: string): Promise<ReadonlyMap<string, unknown>> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    throw err;
  }
  const doc = unpack(buf) as { version?: number; series?: Record<string, unknown> };
  return new Map(Object.entries(doc.series ?? {}));
}
