/**
 * A faster reader of Prometheus XOR chunks (format: tsdb/chunkenc/xor.go, see
 * ../prometheus/decode/xor.ts for the layout) for the snapshot path, where decoding is most of the
 * work. Hand-written because it is the hot loop: the chunk is copied once into a zero-padded
 * scratch buffer so every bit read is one unaligned 32-bit window (5 byte loads, no bounds checks,
 * no per-byte loop), control prefixes are peeked 2–4 bits at a time, and values are assembled as
 * two uint32 halves aliased onto a Float64Array (no DataView). Same results as decodeXorChunk,
 * bit for bit (property-tested against the encoder and that reader).
 */
import { XorChunkError } from '../prometheus/decode/xor.js';

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) throw new Error('xor-fast assumes a little-endian platform');

let P = new Uint8Array(4096);
let pos = 0;

/** n bits (1..32) at the bit position, as an unsigned number. */
function bits(n: number): number {
  const i = pos >>> 3;
  const s = pos & 7;
  const w = ((P[i]! << 24) | (P[i + 1]! << 16) | (P[i + 2]! << 8) | P[i + 3]!) >>> 0;
  const x = ((w << s) | (P[i + 4]! >>> (8 - s))) >>> 0;
  pos += n;
  return x >>> (32 - n);
}

function uvarint(): number {
  let x = 0;
  let mul = 1;
  for (let i = 0; i < 10; i++) {
    const c = bits(8);
    x += (c & 0x7f) * mul;
    if (c < 0x80) return x;
    mul *= 128;
  }
  throw new XorChunkError('bad varint in XOR chunk');
}

/** Decode the XOR chunk data buf[start, end) into `w`; returns the sample count. */
export function decodeXorFast(buf: Uint8Array, start: number, end: number, w: { sample(t: number, v: number): void }): number {
  const len = end - start;
  if (len < 2) throw new XorChunkError('XOR chunk shorter than its header');
  const total = (buf[start]! << 8) | buf[start + 1]!;
  if (total === 0) return 0;
  if (P.length < len + 16) P = new Uint8Array(Math.max(len + 16, P.length * 2));
  P.set(buf.subarray(start, end));
  P.fill(0, len, len + 16);
  const limit = len * 8;
  pos = 16;

  const zz = uvarint();
  let t = zz % 2 === 0 ? zz / 2 : -(zz + 1) / 2;
  let vhi = bits(32);
  let vlo = bits(32);
  u32[0] = vlo;
  u32[1] = vhi;
  let v = f64[0]!;
  w.sample(t, v);
  if (total === 1) return pos <= limit ? 1 : fail();
  let tDelta = uvarint();
  let leading = 0;
  let trailing = 0;
  for (let i = 1; i < total; i++) {
    if (i > 1) {
      const c = bits(4);
      if (c < 8) pos -= 3; // '0': dod 0
      else {
        let sz: number;
        if (c < 12) {
          pos -= 2;
          sz = 14;
        } else if (c < 14) {
          pos -= 1;
          sz = 17;
        } else sz = c === 14 ? 20 : 64;
        let dod: number;
        if (sz === 64) {
          const hi = bits(32);
          const lo = bits(32);
          dod = (hi | 0) * 4294967296 + lo;
        } else {
          const b = bits(sz);
          const half = 1 << (sz - 1);
          dod = b > half ? b - 2 * half : b;
        }
        tDelta += dod;
      }
    }
    t += tDelta;
    const c = bits(2);
    if (c < 2) pos -= 1; // '0': same value
    else {
      if (c === 3) {
        leading = bits(5);
        let m = bits(6);
        if (m === 0) m = 64;
        trailing = 64 - leading - m;
      }
      const mbits = 64 - leading - trailing;
      let xhi: number;
      let xlo: number;
      if (mbits > 32) {
        xhi = bits(mbits - 32);
        xlo = bits(32);
      } else {
        xhi = 0;
        xlo = bits(mbits);
      }
      const s = trailing;
      if (s >= 32) {
        xhi = (xlo << (s - 32)) >>> 0;
        xlo = 0;
      } else if (s > 0) {
        xhi = ((xhi << s) | (xlo >>> (32 - s))) >>> 0;
        xlo = (xlo << s) >>> 0;
      }
      vhi = (vhi ^ xhi) >>> 0;
      vlo = (vlo ^ xlo) >>> 0;
      u32[0] = vlo;
      u32[1] = vhi;
      v = f64[0]!;
    }
    w.sample(t, v);
  }
  return pos <= limit ? total : fail();
}

function fail(): never {
  throw new XorChunkError('XOR chunk ends early');
}
