/**
 * On-disk query cache for read-backs: an entry per normalised query (target + deterministic
 * InfluxQL, which holds the time range), valid for `ttlMs` and while the write generation of its
 * measurement (src/access/generation.ts, touched by every promflux run writing into it) is the one
 * the entry was filled under. Entries are frames of raw typed-array bytes (a small JSON header per
 * series block, then its Float64 columns), written while the query streams (bounded memory: one
 * chunk at a time) and renamed into place only when the query completed.
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeSync, existsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { PromfluxError } from '../errors.js';
import type { SeriesBlock } from './decode.js';
import { defaultCacheDir, readGeneration, targetId } from './generation.js';
import { buildInfluxQL, readInflux, type InfluxReadConfig, type ReadSpec } from './query.js';
import type { BlockReader } from './training.js';

export interface CacheOptions {
  /** Default: PROMFLUX_CACHE_DIR, $XDG_CACHE_HOME/promflux or ~/.cache/promflux. */
  dir?: string;
  /** Entry lifetime (default 1 h). */
  ttlMs?: number;
  /** false: always query (--no-cache). */
  enabled?: boolean;
}

export interface CacheStats {
  hits: number;
  misses: number;
  /** Misses because an entry was there but its measurement was written since (or its TTL passed). */
  invalidated: number;
}

interface EntryMeta {
  query: string;
  target: string;
  measurement: string;
  generation: string;
  createdMs: number;
}

function frameOf(blocks: SeriesBlock[]): Buffer[] {
  const out: Buffer[] = [];
  for (const b of blocks) {
    const head = Buffer.from(JSON.stringify({ name: b.name, tags: b.tags, columns: b.columns, rows: b.rows, partial: b.partial, statement: b.statement }));
    const len = Buffer.alloc(8);
    len.writeUInt32LE(head.length, 0);
    len.writeUInt32LE(b.rows, 4);
    out.push(len, head, Buffer.from(b.ts.buffer, b.ts.byteOffset, b.rows * 8));
    for (const v of b.values) out.push(Buffer.from(v.buffer, v.byteOffset, b.rows * 8));
  }
  // end of one chunk's frame
  out.push(Buffer.alloc(8, 0xff));
  return out;
}

async function* readFrames(path: string): AsyncGenerator<SeriesBlock[]> {
  const fh = await open(path, 'r');
  try {
    const size = (await fh.stat()).size;
    let pos = 0;
    const read = async (n: number): Promise<Buffer> => {
      const buf = Buffer.allocUnsafe(n);
      const { bytesRead } = await fh.read(buf, 0, n, pos);
      if (bytesRead !== n) throw new PromfluxError('PROMFLUX_ACCESS_CACHE', `cache entry ${path} is truncated; delete it (or run with --no-cache)`);
      pos += n;
      return buf;
    };
    let blocks: SeriesBlock[] = [];
    while (pos < size) {
      const len = await read(8);
      if (len.readUInt32LE(0) === 0xffffffff) {
        yield blocks;
        blocks = [];
        continue;
      }
      const head = JSON.parse((await read(len.readUInt32LE(0))).toString()) as Omit<SeriesBlock, 'ts' | 'values'>;
      const rows = len.readUInt32LE(4);
      const col = async (): Promise<Float64Array> => {
        const b = await read(rows * 8);
        const a = new Float64Array(rows);
        new Uint8Array(a.buffer).set(b);
        return a;
      };
      const ts = await col();
      const values: Float64Array[] = [];
      for (let i = 0; i < head.columns.length; i++) values.push(await col());
      blocks.push({ ...head, ts, values });
    }
  } finally {
    await fh.close();
  }
}

/** A BlockReader over InfluxDB through the cache; `stats` counts hits and misses. */
export function cachedInfluxReader(cfg: InfluxReadConfig, opts: CacheOptions = {}, signal?: AbortSignal): { read: BlockReader; stats: CacheStats } {
  const dir = opts.dir ?? defaultCacheDir();
  const ttl = opts.ttlMs ?? 3_600_000;
  const stats: CacheStats = { hits: 0, misses: 0, invalidated: 0 };
  const target = targetId(cfg.url, cfg.db);
  const read: BlockReader = (spec: ReadSpec) => {
    if (opts.enabled === false) return readInflux(cfg, spec, signal);
    const query = buildInfluxQL(spec);
    const key = createHash('sha256').update(`${target}\u0000${cfg.rp ?? ''}\u0000${query}`).digest('hex');
    const entries = join(dir, 'entries');
    const data = join(entries, `${key}.bin`);
    const metaPath = join(entries, `${key}.json`);
    const generation = readGeneration(dir, target, spec.measurement);
    if (existsSync(metaPath) && existsSync(data)) {
      try {
        const meta = JSON.parse(readFileSync(metaPath, 'utf8')) as EntryMeta;
        if (meta.query === query && meta.generation === generation && Date.now() - meta.createdMs < ttl) {
          stats.hits++;
          return readFrames(data);
        }
        stats.invalidated++;
      } catch {
        stats.invalidated++;
      }
    }
    stats.misses++;
    return (async function* fill(): AsyncGenerator<SeriesBlock[]> {
      let fd = -1;
      const tmp = `${data}.${randomBytes(4).toString('hex')}.tmp`;
      try {
        mkdirSync(entries, { recursive: true });
        fd = openSync(tmp, 'w');
      } catch (err) {
        throw new PromfluxError('PROMFLUX_ACCESS_CACHE', `cannot write the query cache in ${dir}: ${(err as Error).message}; fix its permissions, set PROMFLUX_CACHE_DIR, or run with --no-cache`);
      }
      let complete = false;
      try {
        for await (const blocks of readInflux(cfg, spec, signal)) {
          for (const b of frameOf(blocks)) writeSync(fd, b);
          yield blocks;
        }
        complete = true;
      } finally {
        closeSync(fd);
        if (complete) {
          renameSync(tmp, data);
          const meta: EntryMeta = { query, target, measurement: spec.measurement, generation, createdMs: Date.now() };
          const mt = `${metaPath}.tmp`;
          mkdirSync(entries, { recursive: true });
          writeFileSyncAtomic(mt, metaPath, JSON.stringify(meta));
        } else rmSync(tmp, { force: true });
      }
    })();
  };
  return { read, stats };
}

function writeFileSyncAtomic(tmp: string, path: string, text: string): void {
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/** Bytes the cache holds (for `export --json` and the docs). */
export function cacheBytes(dir = defaultCacheDir()): number {
  try {
    let n = 0;
    const entries = join(dir, 'entries');
    for (const f of readdirSync(entries)) n += statSync(join(entries, f)).size;
    return n;
  } catch {
    return 0;
  }
}
