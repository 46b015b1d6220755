/**
 * AssemblyScript (compiled to WebAssembly by `npm run build`): CRC-32C and the Prometheus XOR
 * chunk decoder (tsdb/chunkenc/xor.go) for the snapshot reader's workers. The JS reader
 * (../xor-fast.ts) assembles every bit field from byte loads in doubles and int32 halves; here a
 * bit read is one unaligned 64-bit load and a byte swap, and timestamps are plain i64 — the
 * measured ~66 ns of CPU per sample of the JS fill path (issue #16) is mostly that bit work.
 * Results are the JS reader's bit for bit (tested on every chunk of real Prometheus blocks and
 * on random chunks from the reference encoder).
 *
 * Memory: `*P` arguments are byte offsets into this module's memory, laid out by
 * ../xor-wasm.ts: the chunk bytes (followed by 16 zero bytes), and the ts / value outputs.
 * The CRC tables live in static memory, filled by init().
 */

/** 8 × 256 u32 slicing-by-8 tables (Castagnoli, reflected 0x82f63b78). */
const CRC: usize = memory.data(8 * 256 * 4, 16);

export function init(): void {
  for (let i: u32 = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    store<u32>(CRC + (<usize>i << 2), c);
  }
  for (let t: usize = 1; t < 8; t++) {
    for (let i: usize = 0; i < 256; i++) {
      const prev = load<u32>(CRC + (((t - 1) << 8) + i) * 4);
      store<u32>(CRC + ((t << 8) + i) * 4, (prev >>> 8) ^ load<u32>(CRC + (<usize>(prev & 0xff) << 2)));
    }
  }
}

export function heapBase(): usize {
  return __heap_base;
}

// @ts-ignore: decorator
@inline function tab(t: usize, i: u32): u32 {
  return load<u32>(CRC + (t << 10) + (<usize>i << 2));
}

/** CRC-32C of n bytes at p (slicing-by-8). */
export function crc32c(p: usize, n: i32): u32 {
  let crc: u32 = 0xffffffff;
  const end = p + <usize>n;
  while (p + 8 <= end) {
    const lo = crc ^ load<u32>(p);
    const hi = load<u32>(p, 4);
    crc =
      tab(7, lo & 0xff) ^ tab(6, (lo >>> 8) & 0xff) ^ tab(5, (lo >>> 16) & 0xff) ^ tab(4, lo >>> 24) ^
      tab(3, hi & 0xff) ^ tab(2, (hi >>> 8) & 0xff) ^ tab(1, (hi >>> 16) & 0xff) ^ tab(0, hi >>> 24);
    p += 8;
  }
  while (p < end) {
    crc = tab(0, (crc ^ <u32>load<u8>(p)) & 0xff) ^ (crc >>> 8);
    p++;
  }
  return crc ^ 0xffffffff;
}

// ---------------------------------------------------------------- bit reader

let BASE: usize = 0;
let POS: u64 = 0;

/** The next 64 bits of the big-endian bit stream at POS (bytes past the chunk are zero). */
// @ts-ignore: decorator
@inline function peek(): u64 {
  const at = BASE + <usize>(POS >> 3);
  const s = POS & 7;
  const w = bswap<u64>(load<u64>(at));
  return s == 0 ? w : (w << s) | (<u64>load<u8>(at, 8) >> (8 - s));
}

/** n (1..64) bits. */
// @ts-ignore: decorator
@inline function read(n: i32): u64 {
  const x = peek() >> <u64>(64 - n);
  POS += <u64>n;
  return x;
}

/** uvarint of up to 10 bytes; -1 (as u64 all ones) when longer. */
function uvarint(): u64 {
  let x: u64 = 0;
  let s: u64 = 0;
  for (let i = 0; i < 10; i++) {
    const c = read(8);
    x |= (c & 0x7f) << s;
    if (c < 0x80) return x;
    s += 7;
  }
  return 0xffffffffffffffff;
}

/** Errors, as negative return values (the JS side names them: XorChunkError messages). */
const ERR_SHORT: i32 = -1; // shorter than its header
const ERR_VARINT: i32 = -2; // bad varint
const ERR_EARLY: i32 = -3; // ends early
const ERR_BITS: i32 = -4; // leading + significant bits over 64
const ERR_ROOM: i32 = -5; // more samples than the output holds

/**
 * Decode the XOR chunk data at p (n bytes, 16 zero bytes after them) into tsP (f64 ms) and
 * vP (f64, the stored bit pattern, stale-marker NaNs included); returns the sample count or an
 * error code. cap = room of the outputs in samples.
 */
export function decodeXor(p: usize, n: i32, tsP: usize, vP: usize, cap: i32): i32 {
  if (n < 2) return ERR_SHORT;
  const total = (<i32>load<u8>(p) << 8) | <i32>load<u8>(p, 1);
  if (total == 0) return 0;
  if (total > cap) return ERR_ROOM;
  BASE = p;
  POS = 16;
  const limit = <u64>n << 3;

  const zz = uvarint();
  if (zz == 0xffffffffffffffff) return ERR_VARINT;
  let t = <i64>(zz >> 1) ^ -(<i64>(zz & 1));
  let v = read(64);
  store<f64>(tsP, <f64>t);
  store<u64>(vP, v);
  if (total == 1) return POS <= limit ? 1 : ERR_EARLY;
  const d0 = uvarint();
  if (d0 == 0xffffffffffffffff) return ERR_VARINT;
  let tDelta = <i64>d0;
  let leading: i32 = 0;
  let trailing: i32 = 0;
  for (let i = 1; i < total; i++) {
    if (i > 1) {
      const c = <u32>(peek() >> 60); // up to 4 prefix bits
      if (c < 8) POS += 1; // '0': dod 0
      else {
        let sz: i32;
        if (c < 12) {
          POS += 2;
          sz = 14;
        } else if (c < 14) {
          POS += 3;
          sz = 17;
        } else {
          POS += 4;
          sz = c == 14 ? 20 : 64;
        }
        let dod: i64;
        if (sz == 64) dod = <i64>read(64);
        else {
          const b = <i64>read(sz);
          dod = b > (<i64>1 << (sz - 1)) ? b - (<i64>1 << sz) : b;
        }
        tDelta += dod;
      }
    }
    t += tDelta;
    const c = <u32>(peek() >> 62);
    if (c < 2) POS += 1; // '0': same value
    else {
      POS += 2;
      if (c == 3) {
        leading = <i32>read(5);
        let m = <i32>read(6);
        if (m == 0) m = 64;
        trailing = 64 - leading - m;
        if (trailing < 0) return ERR_BITS;
      }
      const mbits = 64 - leading - trailing;
      v ^= read(mbits) << <u64>trailing;
    }
    store<f64>(tsP + (<usize>i << 3), <f64>t);
    store<u64>(vP + (<usize>i << 3), v);
    if (POS > limit + 128) return ERR_EARLY; // corrupt: stop before reading past the 80 zero bytes
  }
  return POS <= limit ? total : ERR_EARLY;
}
