/**
 * Decoder for Prometheus' XOR (Gorilla) chunk encoding (tsdb/chunkenc/xor.go):
 *   2 bytes big-endian sample count, then a bit stream:
 *   sample 0: t as signed varint, v as 64 raw bits;
 *   sample 1: t delta as unsigned varint, v XOR-encoded;
 *   then: delta-of-delta in buckets '0' | '10'+14b | '110'+17b | '1110'+20b | '1111'+64b, v XOR-encoded.
 *   v XOR: '0' same value | '1' '0' reuse previous leading/trailing | '1' '1' 5b leading, 6b length (0 = 64).
 * JS has no 64-bit integers without BigInt (too slow here), so value bits live in two uint32 halves
 * and timestamps in doubles (exact below 2^53 ms). Bit reads touch at most 5 bytes per call.
 */
import type { RunWriter } from './runs.js';

// Bit-reader state kept in module variables: the loops below are hot and V8 keeps these in
// registers better than fields of a per-call object.
let B: Uint8Array = new Uint8Array(0);
let bitPos = 0;
let byteEnd = 0;

const f64Scratch = new DataView(new ArrayBuffer(8));

export class XorChunkError extends Error {}

function readBits(n: number): number {
  let v = 0;
  while (n > 0) {
    const byteIdx = bitPos >>> 3;
    if (byteIdx >= byteEnd) throw new XorChunkError('XOR chunk ends early');
    const off = bitPos & 7;
    const avail = 8 - off;
    const take = avail < n ? avail : n;
    v = v * (1 << take) + ((B[byteIdx]! >>> (avail - take)) & ((1 << take) - 1));
    n -= take;
    bitPos += take;
  }
  return v;
}

function readBit(): number {
  const byteIdx = bitPos >>> 3;
  if (byteIdx >= byteEnd) throw new XorChunkError('XOR chunk ends early');
  const bit = (B[byteIdx]! >>> (7 - (bitPos & 7))) & 1;
  bitPos++;
  return bit;
}

function readUvarint(): number {
  let x = 0;
  let mul = 1;
  for (let i = 0; i < 10; i++) {
    const c = readBits(8);
    x += (c & 0x7f) * mul;
    if (c < 0x80) return x;
    mul *= 128;
  }
  throw new XorChunkError('bad varint in XOR chunk');
}

/** Decode one XOR chunk occupying buf[start, end) and feed its samples to `w`. Returns the sample count. */
export function decodeXorChunk(buf: Uint8Array, start: number, end: number, w: Pick<RunWriter, 'sample'>): number {
  if (end - start < 2) throw new XorChunkError('XOR chunk shorter than its header');
  const total = (buf[start]! << 8) | buf[start + 1]!;
  if (total === 0) return 0;
  B = buf;
  bitPos = (start + 2) * 8;
  byteEnd = end;

  // sample 0
  const zz = readUvarint();
  let t = zz % 2 === 0 ? zz / 2 : -(zz + 1) / 2;
  let vhi = readBits(32);
  let vlo = readBits(32);
  f64Scratch.setUint32(0, vhi);
  f64Scratch.setUint32(4, vlo);
  w.sample(t, f64Scratch.getFloat64(0));
  if (total === 1) return 1;

  let tDelta = readUvarint();
  let leading = 0;
  let trailing = 0;
  for (let i = 1; i < total; i++) {
    if (i > 1) {
      // delta of delta
      let dod = 0;
      if (readBit() === 1) {
        let sz: number;
        if (readBit() === 0) sz = 14;
        else if (readBit() === 0) sz = 17;
        else if (readBit() === 0) sz = 20;
        else sz = 64;
        if (sz === 64) {
          const hi = readBits(32);
          const lo = readBits(32);
          dod = (hi | 0) * 4294967296 + lo;
        } else {
          const bits = readBits(sz);
          const half = 2 ** (sz - 1);
          dod = bits > half ? bits - 2 * half : bits;
        }
      }
      tDelta += dod;
    }
    t += tDelta;

    // value
    if (readBit() === 1) {
      if (readBit() === 1) {
        leading = readBits(5);
        let mbits = readBits(6);
        if (mbits === 0) mbits = 64;
        trailing = 64 - leading - mbits;
      }
      const mbits = 64 - leading - trailing;
      let xhi: number;
      let xlo: number;
      if (mbits > 32) {
        xhi = readBits(mbits - 32);
        xlo = readBits(32);
      } else {
        xhi = 0;
        xlo = readBits(mbits);
      }
      // shift the meaningful bits left by `trailing` across the two halves
      const s = trailing;
      if (s >= 32) {
        xhi = (xlo * 2 ** (s - 32)) >>> 0;
        xlo = 0;
      } else if (s > 0) {
        xhi = ((xhi << s) | (xlo >>> (32 - s))) >>> 0;
        xlo = (xlo << s) >>> 0;
      }
      vhi = (vhi ^ xhi) >>> 0;
      vlo = (vlo ^ xlo) >>> 0;
      f64Scratch.setUint32(0, vhi);
      f64Scratch.setUint32(4, vlo);
    }
    w.sample(t, f64Scratch.getFloat64(0));
  }
  return total;
}

/**
 * Encoder (tests and benchmarks only): the exact inverse of the reader above, following
 * Prometheus' xorAppender, so tests can round-trip arbitrary series.
 */
export function encodeXorChunk(ts: ArrayLike<number>, vs: ArrayLike<number>): Uint8Array {
  const bytes: number[] = [0, 0];
  let cur = 0;
  let nbits = 0;
  const writeBits = (v: bigint, n: number) => {
    for (let i = n - 1; i >= 0; i--) {
      cur = (cur << 1) | Number((v >> BigInt(i)) & 1n);
      nbits++;
      if (nbits === 8) {
        bytes.push(cur);
        cur = 0;
        nbits = 0;
      }
    }
  };
  const uvar = (x: bigint) => {
    while (x >= 0x80n) {
      writeBits((x & 0x7fn) | 0x80n, 8);
      x >>= 7n;
    }
    writeBits(x, 8);
  };
  const dv = new DataView(new ArrayBuffer(8));
  const bitsOf = (v: number): bigint => {
    dv.setFloat64(0, v);
    return dv.getBigUint64(0);
  };
  let prevT = 0n;
  let prevDelta = 0n;
  let prevV = 0n;
  let lead = 0xff;
  let trail = 0;
  const writeV = (v: bigint) => {
    const x = v ^ prevV;
    if (x === 0n) {
      writeBits(0n, 1);
      return;
    }
    writeBits(1n, 1);
    let l = 0;
    while (l < 64 && ((x >> BigInt(63 - l)) & 1n) === 0n) l++;
    let tr = 0;
    while (tr < 64 && ((x >> BigInt(tr)) & 1n) === 0n) tr++;
    if (l >= 32) l = 31;
    if (lead !== 0xff && l >= lead && tr >= trail) {
      writeBits(0n, 1);
      writeBits(x >> BigInt(trail), 64 - lead - trail);
    } else {
      lead = l;
      trail = tr;
      writeBits(1n, 1);
      writeBits(BigInt(l), 5);
      const sig = 64 - l - tr;
      writeBits(BigInt(sig & 63), 6);
      writeBits(x >> BigInt(tr), sig);
    }
  };
  const n = ts.length;
  for (let i = 0; i < n; i++) {
    const t = BigInt(ts[i]!);
    const v = bitsOf(vs[i]!);
    if (i === 0) {
      uvar(t >= 0n ? t << 1n : (-t << 1n) - 1n);
      writeBits(v, 64);
    } else if (i === 1) {
      prevDelta = t - prevT;
      uvar(prevDelta);
      writeV(v);
    } else {
      const delta = t - prevT;
      const dod = delta - prevDelta;
      const inRange = (b: number) => -((1n << BigInt(b - 1)) - 1n) <= dod && dod <= 1n << BigInt(b - 1);
      if (dod === 0n) writeBits(0n, 1);
      else if (inRange(14)) {
        writeBits(0b10n, 2);
        writeBits(BigInt.asUintN(14, dod), 14);
      } else if (inRange(17)) {
        writeBits(0b110n, 3);
        writeBits(BigInt.asUintN(17, dod), 17);
      } else if (inRange(20)) {
        writeBits(0b1110n, 4);
        writeBits(BigInt.asUintN(20, dod), 20);
      } else {
        writeBits(0b1111n, 4);
        writeBits(BigInt.asUintN(64, dod), 64);
      }
      prevDelta = delta;
      writeV(v);
    }
    prevT = t;
    prevV = v;
  }
  if (nbits > 0) bytes.push(cur << (8 - nbits));
  bytes[0] = (n >> 8) & 0xff;
  bytes[1] = n & 0xff;
  return Uint8Array.from(bytes);
}
