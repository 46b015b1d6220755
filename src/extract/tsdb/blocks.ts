/**
 * Block discovery and the small per-block files: `meta.json`, `tombstones`, the `chunks/` segment
 * list and chunk headers (tsdb/docs/format/{chunks,tombstones}.md). Main thread, per block / per
 * chunk work only.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Decbuf, FileWindow, TsdbErrorCode, checkCrc, corrupt, tsdbError } from './files.js';

const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;
const MAGIC_TOMBSTONES = 0x0130ba30;
const MAGIC_CHUNKS = 0x85bd40dd;

/** Chunk encodings (tsdb/chunkenc/chunk.go). */
export const ENC_XOR = 1;
export const ENC_HISTOGRAM = 2;
export const ENC_FLOAT_HISTOGRAM = 3;

export interface BlockMeta {
  ulid: string;
  dir: string;
  /** [minTime, maxTime): maxTime is exclusive. */
  minTime: number;
  maxTime: number;
  numSamples: number;
  numSeries: number;
  numChunks: number;
  parents: string[];
  outOfOrder: boolean;
}

/**
 * The blocks under `path`: a snapshot directory, a data directory (persisted blocks only; the
 * WAL and chunks_head are not read) or a single block directory. Blocks that a newer block lists
 * as compaction parents are left out (their data is in the child), as Prometheus does.
 */
export function discoverBlocks(path: string): { blocks: BlockMeta[]; superseded: string[] } {
  if (!existsSync(path) || !statSync(path).isDirectory()) throw tsdbError(TsdbErrorCode.notFound, `TSDB path ${path} is not a directory (give a snapshot dir from POST /api/v1/admin/tsdb/snapshot, or a copy of a data dir)`);
  const dirs = existsSync(join(path, 'meta.json')) ? [path] : readdirSync(path).filter((d) => ULID.test(d)).map((d) => join(path, d));
  const all: BlockMeta[] = [];
  for (const dir of dirs) {
    if (!existsSync(join(dir, 'meta.json'))) continue; // being created or deleted
    all.push(readMeta(dir));
  }
  if (all.length === 0) {
    const hint = existsSync(join(path, 'snapshots')) ? ` (it has a snapshots/ directory: point at snapshots/<name>)` : existsSync(join(path, 'wal')) ? ' (only a WAL: Prometheus has not persisted a block yet; take a snapshot, which persists the head)' : '';
    throw tsdbError(TsdbErrorCode.notFound, `no TSDB blocks (ULID directories with meta.json) under ${path}${hint}`);
  }
  const parents = new Set(all.flatMap((b) => b.parents));
  const blocks = all.filter((b) => !parents.has(b.ulid)).sort((a, b) => a.minTime - b.minTime || (a.ulid < b.ulid ? -1 : 1));
  return { blocks, superseded: all.filter((b) => parents.has(b.ulid)).map((b) => b.ulid) };
}

export function readMeta(dir: string): BlockMeta {
  const file = join(dir, 'meta.json');
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw corrupt(file, 0, `not valid JSON (${(err as Error).message})`);
  }
  const num = (v: unknown, k: string): number => {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw corrupt(file, 0, `"${k}" is missing or not a number`);
    return v;
  };
  if (j.version !== 1) throw tsdbError(TsdbErrorCode.unsupported, `${file}: block meta version ${String(j.version)}; only version 1 is supported`);
  const stats = (j.stats ?? {}) as Record<string, unknown>;
  const comp = (j.compaction ?? {}) as { parents?: Array<{ ulid?: string }>; hints?: string[] };
  return {
    ulid: String(j.ulid),
    dir,
    minTime: num(j.minTime, 'minTime'),
    maxTime: num(j.maxTime, 'maxTime'),
    numSamples: typeof stats.numSamples === 'number' ? stats.numSamples : 0,
    numSeries: typeof stats.numSeries === 'number' ? stats.numSeries : 0,
    numChunks: typeof stats.numChunks === 'number' ? stats.numChunks : 0,
    parents: (comp.parents ?? []).map((p) => String(p.ulid)),
    outOfOrder: (comp.hints ?? []).includes('from-out-of-order'),
  };
}

/** Deleted intervals per series ref, closed [mint, maxt] (tombstones.go). Empty when no file. */
export function readTombstones(dir: string): Map<number, Array<[number, number]>> {
  const file = join(dir, 'tombstones');
  const out = new Map<number, Array<[number, number]>>();
  if (!existsSync(file)) return out;
  const b = readFileSync(file);
  if (b.length < 5 + 4) throw corrupt(file, 0, `${b.length} bytes: shorter than its header and checksum`);
  const d = new Decbuf(b, file, 0, 0, b.length - 4);
  if (d.be32() !== MAGIC_TOMBSTONES) throw corrupt(file, 0, 'bad magic (want 0130ba30): not a tombstones file');
  const version = d.byte();
  if (version !== 1) throw tsdbError(TsdbErrorCode.unsupported, `${file}: tombstones format ${version}; only 1 is supported`);
  // the checksum covers the entries, not the version byte
  checkCrc(b, 5, b.length - 4, file, 0, 'tombstones');
  while (d.left > 0) {
    const ref = d.uvarint();
    const mint = d.varint();
    const maxt = d.varint();
    let l = out.get(ref);
    if (!l) out.set(ref, (l = []));
    l.push([mint, maxt]);
  }
  for (const l of out.values()) {
    l.sort((a, b) => a[0] - b[0]);
    let k = 0;
    for (const iv of l) {
      const last = l[k - 1];
      if (last && iv[0] <= last[1] + 1) last[1] = Math.max(last[1], iv[1]);
      else l[k++] = [iv[0], iv[1]];
    }
    l.length = k;
  }
  return out;
}

/** Sorted segment files of a block's chunks/ directory (ref's upper 32 bits index this list). */
export function segmentFiles(dir: string): string[] {
  const cdir = join(dir, 'chunks');
  if (!existsSync(cdir)) return [];
  return readdirSync(cdir)
    .filter((f) => /^\d+$/.test(f))
    .sort((a, b) => Number(a) - Number(b))
    .map((f) => join(cdir, f));
}

/** Header of one chunk: encoding, sample count and the bytes it spans (len varint … CRC). */
export interface ChunkHeader {
  encoding: number;
  samples: number;
  /** Bytes from the chunk's offset to the end of its CRC. */
  bytes: number;
}

/** Reads chunk headers of a block's segments through cached windows (planning). */
export class SegmentSet {
  private readonly windows: Array<FileWindow | undefined>;
  constructor(readonly files: string[]) {
    this.windows = files.map(() => undefined);
  }

  private win(seg: number, at: number): FileWindow {
    if (seg >= this.files.length) throw corrupt(this.files[0] ?? 'chunks/', at, `the index references chunk segment ${seg + 1} but the block has ${this.files.length}`);
    let w = this.windows[seg];
    if (!w) {
      w = this.windows[seg] = new FileWindow(this.files[seg]!, 1 << 20);
      const h = w.read(0, 8, 'chunk segment header');
      if (h.readUInt32BE(0) !== MAGIC_CHUNKS) throw corrupt(w.path, 0, 'bad magic (want 85bd40dd): not a chunk segment file');
      if (h[4] !== 1) throw tsdbError(TsdbErrorCode.unsupported, `${w.path}: chunk segment version ${h[4]}; only 1 is supported`);
    }
    return w;
  }

  /** One shared result: `header` runs once per chunk while planning, so it allocates nothing. */
  private readonly h: ChunkHeader = { encoding: 0, samples: 0, bytes: 0 };

  /** The chunk's header; the returned object is reused by the next call. */
  header(seg: number, off: number): ChunkHeader {
    const w = this.win(seg, off);
    if (off < 8) throw corrupt(w.path, off, 'the index references a chunk inside the segment header');
    const n = Math.min(16, Math.max(0, w.size - off));
    const p = w.locate(off, n, 'chunk header');
    const b = w.data;
    const end = p + n;
    // len <uvarint> | encoding <1> | sample count <2, first bytes of the data> (inline: no Decbuf)
    let q = p;
    let len = 0;
    let mul = 1;
    for (;;) {
      if (q >= end) throw corrupt(w.path, off + (q - p), 'varint runs past the end of its section');
      if (q - p >= 10) throw corrupt(w.path, off + (q - p), 'varint longer than 10 bytes');
      const c = b[q++]!;
      len += (c & 0x7f) * mul;
      if (c < 0x80) break;
      mul *= 128;
    }
    if (q >= end) throw corrupt(w.path, off + (q - p), 'unexpected end of section');
    const encoding = b[q++]!;
    if (len < 2) throw corrupt(w.path, off + (q - p), `chunk of ${len} data bytes (a chunk starts with a 2-byte sample count)`);
    if (end - q < 2) throw corrupt(w.path, off + (q - p), 'chunk header truncated');
    const bytes = q - p + len + 4;
    if (off + bytes > w.size) throw corrupt(w.path, off, `chunk of ${bytes} bytes runs past the end of the segment (${w.size} bytes; truncated?)`);
    const h = this.h;
    h.encoding = encoding;
    h.samples = (b[q]! << 8) | b[q + 1]!;
    h.bytes = bytes;
    return h;
  }

  path(seg: number): string {
    return this.files[seg]!;
  }

  close(): void {
    for (const w of this.windows) w?.close();
  }
}
