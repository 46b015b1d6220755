/**
 * Worker side of the prometheus-tsdb source: one task names series and the chunks (file, offset,
 * bytes) that hold their samples for a time window. The worker reads those bytes with positioned
 * reads (`fs.readSync` straight into the WebAssembly decoder's memory, or one grow-only buffer per
 * worker for the JS fallback; adjacent chunks coalesced into one read), checks each chunk's
 * CRC-32C, decodes XOR chunks (xor-wasm.ts; xor-fast.ts as fallback) into the batch columns through
 * the RunWriter (window, halo, look-ahead; a series run of XOR chunks without tombstones or overlap
 * is checked and decoded in one WebAssembly call and handed over in bulk by RunWriter.sampleRun), and:
 *   - skips samples inside tombstones (deleted through the admin API): dropped as `tombstoned`;
 *   - merges series whose chunks overlap in time (overlapping or out-of-order blocks) by timestamp,
 *     so a sample stored in two blocks is written once; the second copy is `duplicate_timestamp`;
 *   - skips native-histogram chunks, counted as `native_histogram` (in the task whose window holds
 *     the chunk's first timestamp).
 * Nothing here allocates per sample.
 */
import { openSync, readSync } from 'node:fs';
import type { BatchBuilder } from '../../batch/builder.js';
import type { FillSpec } from '../source.js';
import { RunWriter } from '../prometheus/decode/runs.js';
import { XorChunkError } from '../prometheus/decode/xor.js';
import { decodeXorFast } from './xor-fast.js';
import { crc32cFast } from './crc32c-fast.js';
import { RUN_CHUNKS, RUN_ROW, RUN_SAMPLES, xorWasm, type XorWasm } from './xor-wasm.js';
import { corrupt } from './files.js';

/** Columns of `TsdbFill.chunks`, CH numbers per chunk. */
export const CH = 9;
export const C_FILE = 0;
export const C_OFF = 1;
export const C_BYTES = 2;
export const C_MINT = 3;
export const C_MAXT = 4;
export const C_SAMPLES = 5;
export const C_ENC = 6;
export const C_TOMB0 = 7;
export const C_TOMB1 = 8;

export interface TsdbFill extends FillSpec {
  kind: 'prom-tsdb';
  chunkId: string;
  /** Chunk segment files referenced by `chunks` (column C_FILE indexes this). */
  files: string[];
  keys: string[];
  kinds: number[];
  /** Per series s: its chunks are rows seriesStart[s] .. seriesStart[s+1] of `chunks`, in mint order. */
  seriesStart: number[];
  chunks: Float64Array;
  /** Deleted intervals, closed [mint, maxt] pairs; a chunk's are tombs[2·C_TOMB0 .. 2·C_TOMB1). */
  tombs: Float64Array;
  /** Window of the task's own rows [startMs, endMs) and the halo policy (RunWriter). */
  startMs: number;
  endMs: number;
  haloAll: false;
  haloSamples: number;
  haloMs: number;
  lookaheadMs: number;
}

// Per-worker state: open file descriptors (blocks are immutable; an open fd keeps reading the
// same inode even if Prometheus compacts the block away) and one grow-only read buffer.
const fds = new Map<string, number>();
let buf: Buffer = Buffer.allocUnsafe(1 << 20);
let pos = new Float64Array(1024);

function fdOf(path: string): number {
  let fd = fds.get(path);
  if (fd === undefined) {
    fd = openSync(path, 'r');
    fds.set(path, fd);
  }
  return fd;
}

function readFully(fd: number, into: Buffer, at: number, n: number, fileOff: number, path: string): void {
  let got = 0;
  while (got < n) {
    const r = readSync(fd, into, at + got, n - got, fileOff + got);
    if (r === 0) throw corrupt(path, fileOff + got, `chunk bytes end early (file truncated since planning? ${n - got} of ${n} bytes missing)`);
    got += r;
  }
}

/** Read every chunk of the task into `buf` (the WebAssembly decoder's input region when it runs); pos[i] = where chunk i starts in it. Returns the bytes read. */
function readChunks(spec: TsdbFill): number {
  const ch = spec.chunks;
  const n = ch.length / CH;
  if (pos.length < n) pos = new Float64Array(Math.max(n, pos.length * 2));
  // order chunk rows by (file, offset) and coalesce neighbours (gap < 64 KiB) into one read
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => ch[a * CH + C_FILE]! - ch[b * CH + C_FILE]! || ch[a * CH + C_OFF]! - ch[b * CH + C_OFF]!);
  let total = 0;
  for (let i = 0; i < n; i++) total += ch[i * CH + C_BYTES]!;
  // spans: bytes read may exceed the chunks' own (gaps), bounded by 64 KiB per gap
  let k = 0;
  const spans: Array<[number, number, number, number, number]> = []; // file, start, end, first k, last k
  while (k < n) {
    const r0 = order[k]!;
    const file = ch[r0 * CH + C_FILE]!;
    const start = ch[r0 * CH + C_OFF]!;
    let end = start + ch[r0 * CH + C_BYTES]!;
    let j = k + 1;
    while (j < n) {
      const r = order[j]!;
      if (ch[r * CH + C_FILE] !== file) break;
      const o = ch[r * CH + C_OFF]!;
      if (o - end > 65536) break;
      end = Math.max(end, o + ch[r * CH + C_BYTES]!);
      j++;
    }
    spans.push([file, start, end, k, j]);
    k = j;
  }
  let need = 0;
  for (const s of spans) need += s[2] - s[1];
  if (need < total) need = total;
  // With the WebAssembly decoder the bytes are read straight into its memory (no copy).
  const wasm = xorWasm();
  if (wasm) buf = wasm.input(need);
  else if (buf.length < need) buf = Buffer.allocUnsafe(Math.max(need, buf.length * 2));
  let at = 0;
  for (const [file, start, end, k0, k1] of spans) {
    const path = spec.files[file]!;
    readFully(fdOf(path), buf, at, end - start, start, path);
    for (let q = k0; q < k1; q++) {
      const r = order[q]!;
      pos[r] = at + (ch[r * CH + C_OFF]! - start);
    }
    at += end - start;
  }
  return at;
}

/** Decoder target that drops samples inside a chunk's tombstones before the RunWriter sees them. */
class TombFilter {
  w!: { sample(t: number, v: number): void };
  tombs!: Float64Array;
  i = 0;
  end = 0;
  b!: BatchBuilder;
  startMs = 0;
  endMs = 0;
  sample(t: number, v: number): void {
    const tb = this.tombs;
    while (this.i < this.end && tb[2 * this.i + 1]! < t) this.i++;
    if (this.i < this.end && tb[2 * this.i]! <= t) {
      if (t >= this.startMs && t < this.endMs) this.b.dropSource('tombstoned');
      return;
    }
    this.w.sample(t, v);
  }
}

/** Collects decoded samples of overlapping chunks for the merge. */
class Scratch {
  ts = new Float64Array(4096);
  vs = new Float64Array(4096);
  src = new Uint32Array(4096);
  n = 0;
  cur = 0;
  sample(t: number, v: number): void {
    if (this.n >= this.ts.length) this.grow();
    this.ts[this.n] = t;
    this.vs[this.n] = v;
    this.src[this.n] = this.cur;
    this.n++;
  }
  private grow(): void {
    const m = this.ts.length * 2;
    const ts = new Float64Array(m);
    const vs = new Float64Array(m);
    const src = new Uint32Array(m);
    ts.set(this.ts);
    vs.set(this.vs);
    src.set(this.src);
    this.ts = ts;
    this.vs = vs;
    this.src = src;
  }
}

const filter = new TombFilter();
const scratch = new Scratch();

export function fillTsdb(raw: FillSpec, b: BatchBuilder): void {
  const spec = raw as TsdbFill;
  if (!(spec.chunks instanceof Float64Array) || !Array.isArray(spec.keys)) throw new Error(`fill spec "${raw.kind}" is missing its chunk table (engine wiring bug)`);
  const bytes = readChunks(spec);
  const wasm = xorWasm();
  wasm?.loaded(bytes);
  const ch = spec.chunks;
  const w = new RunWriter(b, spec);
  filter.b = b;
  filter.tombs = spec.tombs;
  filter.startMs = spec.startMs;
  filter.endMs = spec.endMs;
  for (let s = 0; s < spec.keys.length; s++) {
    const c0 = spec.seriesStart[s]!;
    const c1 = spec.seriesStart[s + 1]!;
    w.begin(spec.keys[s]!, spec.kinds[s]!);
    let overlap = false;
    let plain = true; // XOR chunks only, no tombstones: the bulk path
    let lastMax = -Infinity;
    for (let c = c0; c < c1; c++) {
      if (ch[c * CH + C_TOMB1]! > ch[c * CH + C_TOMB0]!) plain = false;
      if (ch[c * CH + C_ENC] !== 1) {
        plain = false;
        continue;
      }
      if (ch[c * CH + C_MINT]! <= lastMax) overlap = true;
      lastMax = Math.max(lastMax, ch[c * CH + C_MAXT]!);
    }
    if (!overlap) {
      const from = plain && wasm ? decodeRun(spec, c0, c1, w, wasm) : c0;
      for (let c = from; c < c1; c++) decodeOne(spec, b, c, w);
    } else {
      // Overlapping chunks (blocks that overlap in time): decode all, merge by timestamp. Equal
      // timestamps keep the chunk listed first (older block first), as a stable merge.
      scratch.n = 0;
      for (let c = c0; c < c1; c++) {
        scratch.cur = c;
        decodeOne(spec, b, c, scratch);
      }
      const n = scratch.n;
      const idx = new Uint32Array(n);
      for (let i = 0; i < n; i++) idx[i] = i;
      const ts = scratch.ts;
      const src = scratch.src;
      idx.sort((x, y) => ts[x]! - ts[y]! || src[x]! - src[y]! || x - y);
      const vs = scratch.vs;
      for (let i = 0; i < n; i++) w.sample(ts[idx[i]!]!, vs[idx[i]!]!);
    }
  }
  w.end();
}

/**
 * The series' chunks c0..c1 checked and decoded in WebAssembly a group at a time (one call per
 * group, a whole series run in the usual case) and handed to the RunWriter in bulk. Returns c1, or
 * the first chunk of the group where a chunk was not exactly as planned: nothing of that group was
 * handed on, and decodeOne takes over from there (and names what is wrong, file and offset).
 */
function decodeRun(spec: TsdbFill, c0: number, c1: number, w: RunWriter, wasm: XorWasm): number {
  const ch = spec.chunks;
  let g0 = c0;
  while (g0 < c1) {
    const table = wasm.runTable;
    let g1 = g0;
    let samples = 0;
    for (; g1 < c1 && g1 - g0 < RUN_CHUNKS; g1++) {
      const s = ch[g1 * CH + C_SAMPLES]!;
      if (samples + s > RUN_SAMPLES && g1 > g0) break;
      const r = (g1 - g0) * RUN_ROW;
      table[r] = wasm.at(pos[g1]!);
      table[r + 1] = ch[g1 * CH + C_BYTES]!;
      table[r + 2] = s;
      samples += s;
    }
    const n = wasm.decodeRun(0, g1 - g0);
    if (n < 0) return g0;
    w.sampleRun(wasm.runTs, wasm.runVs, n, wasm.runIncreasing);
    g0 = g1;
  }
  return c1;
}

function decodeOne(spec: TsdbFill, b: BatchBuilder, c: number, target: { sample(t: number, v: number): void }): void {
  const ch = spec.chunks;
  const o = c * CH;
  const p = pos[c]!;
  const path = spec.files[ch[o + C_FILE]!]!;
  const off = ch[o + C_OFF]!;
  const bytes = ch[o + C_BYTES]!;
  // len <uvarint> | encoding <1> | data | CRC32C <4>
  let len = 0;
  let mul = 1;
  let q = p;
  for (;;) {
    const x = buf[q++]!;
    len += (x & 0x7f) * mul;
    if (x < 0x80) break;
    mul *= 128;
    if (q - p > 5) throw corrupt(path, off, 'bad chunk length varint');
  }
  const encAt = q;
  const dataEnd = encAt + 1 + len;
  if (dataEnd + 4 - p !== bytes) throw corrupt(path, off, `chunk is ${dataEnd + 4 - p} bytes, the plan read ${bytes} (the block changed after planning?)`);
  const want = buf.readUInt32BE(dataEnd);
  const wasm = xorWasm();
  const got = wasm ? wasm.crc32c(encAt, dataEnd) : crc32cFast(buf, encAt, dataEnd);
  if (want !== got) throw corrupt(path, off, `chunk CRC-32C mismatch (stored ${want.toString(16)}, computed ${got.toString(16)})`);
  const enc = buf[encAt]!;
  if (enc !== ch[o + C_ENC]) throw corrupt(path, off, `chunk encoding ${enc}, the plan saw ${ch[o + C_ENC]} (the block changed after planning?)`);
  if (enc !== 1) {
    // native histogram (2: integer, 3: float): not decoded; counted once, by the task holding its mint
    const mint = ch[o + C_MINT]!;
    if (mint >= spec.startMs && mint < spec.endMs) b.dropSource('native_histogram', ch[o + C_SAMPLES]!);
    return;
  }
  let sink = target;
  const t0 = ch[o + C_TOMB0]!;
  const t1 = ch[o + C_TOMB1]!;
  if (t1 > t0) {
    filter.w = target;
    filter.i = t0;
    filter.end = t1;
    sink = filter;
  }
  let n: number;
  try {
    if (wasm) {
      // decoded in WebAssembly into columns; window, halo and duplicate rules stay in one place
      // (the RunWriter), tombstones in the TombFilter.
      n = wasm.decode(encAt + 1, dataEnd);
      const ts = wasm.ts;
      const vs = wasm.vs;
      // No tombstone in this chunk and writing straight to the RunWriter: the bulk hand-off
      // (RunWriter.sampleRun, window rules applied per stretch, columns copied with .set).
      if (sink instanceof RunWriter) sink.sampleRun(ts, vs, n);
      else for (let i = 0; i < n; i++) sink.sample(ts[i]!, vs[i]!);
    } else n = decodeXorFast(buf, encAt + 1, dataEnd, sink);
  } catch (err) {
    if (err instanceof XorChunkError) throw corrupt(path, off, `XOR chunk: ${err.message}`);
    throw err;
  }
  if (n !== ch[o + C_SAMPLES]) throw corrupt(path, off, `chunk holds ${n} samples, its header said ${ch[o + C_SAMPLES]}`);
}

export const tsdbFillers: Record<string, (spec: FillSpec, b: BatchBuilder) => void> = { 'prom-tsdb': fillTsdb };
