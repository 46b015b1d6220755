/**
 * AssemblyScript (compiled to WebAssembly by `npm run build`): CRC-32C and the Prometheus XOR
 * chunk decoder (tsdb/chunkenc/xor.go) for the snapshot reader's workers. Hand-written because it
 * is the hot loop of a snapshot backfill (issue #16: ≥ 0.8× a native decoder per core):
 *   - the bit reader keeps its position in a local (wasm globals are memory loads and stores in
 *     V8, and cost ~40 % of the loop when POS was one); a read is one unaligned 64-bit load and a
 *     byte swap, good for 57 bits;
 *   - the common sample shapes (delta-of-delta 0 with a '0' / '10' / '11' value) are decoded from
 *     one such load; every other shape takes the general path, which reads field by field;
 *   - decodeRun() checks and decodes every chunk of a series run in one call, straight into one
 *     output region, so JS copies a whole run into the batch at once (no JS work per chunk);
 *   - CRC-32C is slicing-by-8 (~0.6 ns per byte here; wasm has no CRC or carry-less multiply
 *     instruction). Interleaving four chunks' CRCs measured no different under load: not kept.
 * Results are the JS reader's bit for bit (tested on every chunk of real Prometheus blocks and
 * on random chunks from the reference encoder).
 *
 * Memory: `*P` arguments are byte offsets into this module's memory, laid out by
 * ../xor-wasm.ts: the loaded bytes (followed by 80 zero bytes), the ts / value outputs and the
 * chunk table of decodeRun. The CRC tables live in static memory, filled by init().
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

/** One slicing-by-8 step: crc over the 8 bytes at p. */
// @ts-ignore: decorator
@inline function step8(crc: u32, p: usize): u32 {
  const lo = crc ^ load<u32>(p);
  const hi = load<u32>(p, 4);
  return (
    tab(7, lo & 0xff) ^ tab(6, (lo >>> 8) & 0xff) ^ tab(5, (lo >>> 16) & 0xff) ^ tab(4, lo >>> 24) ^
    tab(3, hi & 0xff) ^ tab(2, (hi >>> 8) & 0xff) ^ tab(1, (hi >>> 16) & 0xff) ^ tab(0, hi >>> 24)
  );
}

/** Continue a CRC-32C state (not inverted) over n bytes at p. */
function crcUpdate(crc: u32, p: usize, n: usize): u32 {
  const end = p + n;
  while (p + 8 <= end) {
    crc = step8(crc, p);
    p += 8;
  }
  while (p < end) {
    crc = tab(0, (crc ^ <u32>load<u8>(p)) & 0xff) ^ (crc >>> 8);
    p++;
  }
  return crc;
}

/** CRC-32C of n bytes at p (slicing-by-8). */
export function crc32c(p: usize, n: i32): u32 {
  return crcUpdate(0xffffffff, p, <usize>n) ^ 0xffffffff;
}

// ---------------------------------------------------------------- bit reader

/**
 * The 64 bits of the big-endian bit stream at bit `pos` of `base`, of which the top 57 are valid
 * (bytes past a chunk are its CRC, the next chunk, or the zero padding).
 */
// @ts-ignore: decorator
@inline function peek(base: usize, pos: u32): u64 {
  return bswap<u64>(load<u64>(base + <usize>(pos >> 3))) << <u64>(pos & 7);
}

/** n (1..64) bits at `pos`, right-aligned. */
// @ts-ignore: decorator
@inline function bitsAt(base: usize, pos: u32, n: u32): u64 {
  if (n <= 57) return peek(base, pos) >> <u64>(64 - n);
  return ((peek(base, pos) >> 32) << <u64>(n - 32)) | (peek(base, pos + n - 32) >> 32);
}

/** Errors, as negative return values (the JS side names them: XorChunkError messages). */
const ERR_SHORT: i32 = -1; // shorter than its header
const ERR_VARINT: i32 = -2; // bad varint
const ERR_EARLY: i32 = -3; // ends early
const ERR_BITS: i32 = -4; // leading + significant bits over 64
const ERR_ROOM: i32 = -5; // more samples than the output holds

const MAX_SAFE: i64 = 9007199254740992; // 2^53

/**
 * 1 when the last decodeXor's timestamps strictly increase (every delta > 0, all within ±2^53 so
 * the f64 columns increase too): lets the caller find a window's end by binary search.
 */
let INC: i32 = 0;

/** uvarint result of varintAt; VARINT_BITS holds the bits it took (0: longer than 10 bytes). */
let VARINT_BITS: u32 = 0;

/** uvarint of up to 10 bytes at bit `pos` (called twice per chunk: the global costs nothing here). */
function varintAt(base: usize, pos: u32): u64 {
  let x: u64 = 0;
  let s: u64 = 0;
  for (let i: u32 = 0; i < 10; i++) {
    const c = peek(base, pos + (i << 3)) >> 56;
    x |= (c & 0x7f) << s;
    if (c < 0x80) {
      VARINT_BITS = (i + 1) << 3;
      return x;
    }
    s += 7;
  }
  VARINT_BITS = 0;
  return 0;
}

/**
 * Decode the XOR chunk data at p (n bytes; at least 80 readable bytes after them) into tsP (f64 ms)
 * and vP (f64, the stored bit pattern, stale-marker NaNs included); returns the sample count or an
 * error code. cap = room of the outputs in samples.
 */
export function decodeXor(p: usize, n: i32, tsP: usize, vP: usize, cap: i32): i32 {
  if (n < 2) return ERR_SHORT;
  const total = (<i32>load<u8>(p) << 8) | <i32>load<u8>(p, 1);
  if (total == 0) return 0;
  if (total > cap) return ERR_ROOM;
  const limit = <u32>n << 3;
  let pos: u32 = 16;

  // (all ones is refused too: the sentinel of the earlier reader, kept so results do not change)
  const zz = varintAt(p, pos);
  if (VARINT_BITS == 0 || zz == 0xffffffffffffffff) return ERR_VARINT;
  pos += VARINT_BITS;
  let t = <i64>(zz >> 1) ^ -(<i64>(zz & 1));
  let v = bitsAt(p, pos, 64);
  pos += 64;
  store<f64>(tsP, <f64>t);
  store<u64>(vP, v);
  INC = t > -MAX_SAFE && t < MAX_SAFE ? 1 : 0;
  if (total == 1) return pos <= limit ? 1 : ERR_EARLY;
  const d0 = varintAt(p, pos);
  if (VARINT_BITS == 0 || d0 == 0xffffffffffffffff) return ERR_VARINT;
  let tDelta = <i64>d0;
  let inc = tDelta > 0 && t > -MAX_SAFE && t < MAX_SAFE;
  pos += VARINT_BITS;
  let leading: u32 = 0;
  let trailing: u32 = 0;
  let mbits: u32 = 64;
  // Guard: a corrupt chunk stops within 128 bits of its end (one sample reads at most 145 bits,
  // and the 80 bytes after the loaded range cover the rest).
  const guard = limit + 128;
  for (let i = 1; i < total; i++) {
    let w = peek(p, pos);
    if (i > 1) {
      if (<i64>w >= 0) {
        // '0': dod 0 — the common case at a steady scrape interval
        w <<= 1;
        pos += 1;
        // value control and bits from the same load when they fit (56 bits left of it)
        if (<i64>w >= 0) {
          // '0': same value
          pos += 1;
          t += tDelta;
          store<f64>(tsP + (<usize>i << 3), <f64>t);
          store<u64>(vP + (<usize>i << 3), v);
          if (pos > guard) return ERR_EARLY;
          continue;
        }
        if ((w & 0x4000000000000000) == 0) {
          // '10': reuse leading / trailing
          if (mbits <= 54) {
            v ^= ((w << 2) >> <u64>(64 - mbits)) << <u64>trailing;
            pos += 2 + mbits;
            t += tDelta;
            store<f64>(tsP + (<usize>i << 3), <f64>t);
            store<u64>(vP + (<usize>i << 3), v);
            if (pos > guard) return ERR_EARLY;
            continue;
          }
        } else {
          // '11': 5 bits leading, 6 bits significant, then the bits
          const lead = <u32>(w >> 57) & 31;
          let m = <u32>(w >> 51) & 63;
          if (m == 0) m = 64;
          if (lead + m > 64) return ERR_BITS;
          if (m <= 43) {
            leading = lead;
            mbits = m;
            trailing = 64 - lead - m;
            v ^= ((w << 13) >> <u64>(64 - m)) << <u64>trailing;
            pos += 13 + m;
            t += tDelta;
            store<f64>(tsP + (<usize>i << 3), <f64>t);
            store<u64>(vP + (<usize>i << 3), v);
            if (pos > guard) return ERR_EARLY;
            continue;
          }
        }
        // value too wide for this load: the general value path below
      } else {
        // dod: '10' + 14 bits, '110' + 17, '1110' + 20, '1111' + 64
        const c = <u32>(w >> 60);
        let sz: u32;
        if (c < 12) {
          pos += 2;
          sz = 14;
        } else if (c < 14) {
          pos += 3;
          sz = 17;
        } else {
          pos += 4;
          sz = c == 14 ? 20 : 64;
        }
        let dod: i64;
        if (sz == 64) dod = <i64>bitsAt(p, pos, 64);
        else {
          const b = <i64>bitsAt(p, pos, sz);
          dod = b > (<i64>1 << (sz - 1)) ? b - (<i64>1 << sz) : b;
        }
        pos += sz;
        tDelta += dod;
        inc = inc && tDelta > 0;
      }
    }
    t += tDelta;
    // general value path
    w = peek(p, pos);
    if (<i64>w >= 0) pos += 1; // '0': same value
    else {
      pos += 2;
      if (w & 0x4000000000000000) {
        const lead = <u32>(w >> 57) & 31;
        let m = <u32>(w >> 51) & 63;
        if (m == 0) m = 64;
        if (lead + m > 64) return ERR_BITS;
        leading = lead;
        mbits = m;
        trailing = 64 - lead - m;
        pos += 11;
      }
      v ^= bitsAt(p, pos, mbits) << <u64>trailing;
      pos += mbits;
    }
    store<f64>(tsP + (<usize>i << 3), <f64>t);
    store<u64>(vP + (<usize>i << 3), v);
    if (pos > guard) return ERR_EARLY; // corrupt: stop before reading past the 80 zero bytes
  }
  INC = inc && t < MAX_SAFE ? 1 : 0;
  return pos <= limit ? total : ERR_EARLY;
}

// ---------------------------------------------------------------- series runs

/** decodeRun's chunk table: per chunk, u32 words [offset of the chunk in memory, bytes, samples]. */
const ROW: usize = 12;

/** CRC-32C of each chunk's encoding byte + data, into crcP (u32 each). */
function crcs(tableP: usize, k0: i32, k1: i32, crcP: usize): void {
  for (let k = k0; k < k1; k++) {
    const r = tableP + <usize>k * ROW;
    const data = chunkData(r);
    store<u32>(crcP + (<usize>k << 2), crcUpdate(0xffffffff, data, chunkDataLen(r, data)) ^ 0xffffffff);
  }
}

/**
 * Where a chunk's CRC'd bytes (encoding byte + data) start: after its length uvarint. A length
 * that is not a 1..4-byte uvarint gives a position whose check fails in decodeRun.
 */
// @ts-ignore: decorator
@inline function chunkData(r: usize): usize {
  const p = <usize>load<u32>(r);
  let q = p;
  for (let i = 0; i < 4; i++) if (load<u8>(q++) < 0x80) break;
  return q;
}

/** Bytes under the CRC (encoding + data) per the chunk's planned size, 0 when it is too small. */
// @ts-ignore: decorator
@inline function chunkDataLen(r: usize, data: usize): usize {
  const end = <usize>load<u32>(r) + <usize>load<u32>(r, 4);
  return end >= data + 5 ? end - data - 4 : 0;
}

/**
 * Check and decode chunks k0..k1 of the table at tableP (rows of ROW bytes) into tsP / vP, one
 * after the other; crcP has room for a u32 per chunk. Each chunk must be exactly as planned: its
 * length uvarint (1..4 bytes) + encoding + data + CRC fill its planned bytes, the CRC-32C matches,
 * the encoding is XOR (1), the data decodes and holds the planned sample count. Returns the samples
 * written, or -1 - (index of the first chunk that is not so): the caller then takes its per-chunk
 * path, which names what is wrong, file and offset (nothing was handed on before).
 */
export function decodeRun(tableP: usize, k0: i32, k1: i32, tsP: usize, vP: usize, cap: i32, crcP: usize): i32 {
  crcs(tableP, k0, k1, crcP);
  let out: i32 = 0;
  let inc: i32 = 1;
  for (let k = k0; k < k1; k++) {
    const r = tableP + <usize>k * ROW;
    const start = <usize>load<u32>(r);
    const data = chunkData(r);
    let len: usize = 0;
    for (let q = start, s: usize = 0; q < data; q++, s += 7) len |= <usize>(load<u8>(q) & 0x7f) << s;
    if (load<u8>(data - 1) >= 0x80) return -1 - k; // uvarint longer than 4 bytes
    const end = data + 1 + len;
    if (end + 4 - start != <usize>load<u32>(r, 4)) return -1 - k;
    if (bswap<u32>(load<u32>(end)) != load<u32>(crcP + (<usize>k << 2))) return -1 - k;
    if (load<u8>(data) != 1) return -1 - k;
    const want = <i32>load<u32>(r, 8);
    if (want > cap - out) return -1 - k;
    const n = decodeXor(data + 1, <i32>len, tsP + (<usize>out << 3), vP + (<usize>out << 3), cap - out);
    if (n != want) return -1 - k;
    if (n > 0) {
      inc &= INC;
      if (out > 0 && load<f64>(tsP + (<usize>out << 3)) <= load<f64>(tsP + (<usize>(out - 1) << 3))) inc = 0;
    }
    out += n;
  }
  RUN_INC = inc;
  return out;
}

let RUN_INC: i32 = 0;

/** 1 when the last decodeRun's timestamps strictly increase from first to last. */
export function runIncreasing(): i32 {
  return RUN_INC;
}
