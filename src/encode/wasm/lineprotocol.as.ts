/**
 * AssemblyScript (compiled to WebAssembly by `npm run build`): the line-protocol row loop and
 * exact shortest round-trip float formatting, written straight into the output bytes. The JS
 * LineWriter (src/encode/lineprotocol.ts + float.ts) does the same work at ~120 ns per float
 * field (measured, issue #16): V8 keeps the digit math in doubles and bounds-checks every byte
 * store. Here it is plain integer code. Output is byte-identical to the JS path (tests compare
 * both, and String(v), over millions of random doubles).
 *
 * Floats: Ryu (Ulf Adams, PLDI 2018; github.com/ulfjack/ryu, d2s.c, Apache-2.0/Boost), the
 * variant without 128-bit integers (`mulShiftAll64` on two 64×64→128 products from 32-bit halves:
 * WebAssembly has no 64-bit multiply-high). Ryu yields the shortest digit string that reads back
 * as the double, the closest one to it when several are shortest, ties to even — what ECMAScript
 * Number::toString (V8) prints. The digits are then laid out like String(v) (plain decimal for
 * 1e-7 <= |v| < 1e21, else d[.ddd]e±x), except -0, which is written "-0" like the JS writer.
 * AssemblyScript's own f64.toString is Grisu and not always shortest: not used.
 *
 * Memory: every `*P` argument is a byte offset into this module's memory, laid out by the JS side
 * (src/encode/wasm-lines.ts): the Ryu tables (computed there from their definition), the digit
 * pairs "00".."99", field tables, input columns, and the output region. Nothing is allocated here.
 */

/** Ryu's 5^-q and 5^i tables (u64 pairs, low then high), and "00".."99". Set by init(). */
let INV: usize = 0;
let POW: usize = 0;
let D2: usize = 0;

export function init(invP: usize, powP: usize, d2P: usize): void {
  INV = invP;
  POW = powP;
  D2 = d2P;
}

/** First free byte after the module's static data. */
export function heapBase(): usize {
  return __heap_base;
}

// ---------------------------------------------------------------- 128-bit helpers (Ryu)

/** High half of the last umul128. A global, not a second return value (none in AS). */
let U_HI: u64 = 0;

// @ts-ignore: decorator
@inline function umul128(a: u64, b: u64): u64 {
  const aLo = a & 0xffffffff;
  const aHi = a >> 32;
  const bLo = b & 0xffffffff;
  const bHi = b >> 32;
  const b00 = aLo * bLo;
  const b01 = aLo * bHi;
  const b10 = aHi * bLo;
  const b11 = aHi * bHi;
  const mid1 = b10 + (b00 >> 32);
  const mid2 = b01 + (mid1 & 0xffffffff);
  U_HI = b11 + (mid1 >> 32) + (mid2 >> 32);
  return (mid2 << 32) | (b00 & 0xffffffff);
}

// @ts-ignore: decorator
@inline function shr128(lo: u64, hi: u64, dist: i32): u64 {
  return (hi << <u64>(64 - dist)) | (lo >> <u64>dist);
}

let VP: u64 = 0;
let VM: u64 = 0;

/** Ryu's mulShiftAll64 for platforms without 128-bit integers: vr returned, vp/vm in VP/VM. */
// @ts-ignore: decorator
@inline function mulShiftAll64(m: u64, mulP: usize, j: i32, mmShift: bool): u64 {
  const mul0 = load<u64>(mulP);
  const mul1 = load<u64>(mulP, 8);
  m <<= 1;
  const lo = umul128(m, mul0);
  const tmp = U_HI;
  let mid = tmp + umul128(m, mul1);
  let hi = U_HI;
  hi += <u64>(mid < tmp);

  const lo2 = lo + mul0;
  const mid2 = mid + mul1 + <u64>(lo2 < lo);
  const hi2 = hi + <u64>(mid2 < mid);
  VP = shr128(mid2, hi2, j - 64 - 1);
  if (mmShift) {
    const lo3 = lo - mul0;
    const mid3 = mid - mul1 - <u64>(lo3 > lo);
    const hi3 = hi - <u64>(mid3 > mid);
    VM = shr128(mid3, hi3, j - 64 - 1);
  } else {
    const lo3 = lo + lo;
    const mid3 = mid + mid + <u64>(lo3 < lo);
    const hi3 = hi + hi + <u64>(mid3 < mid);
    const lo4 = lo3 - mul0;
    const mid4 = mid3 - mul1 - <u64>(lo4 > lo3);
    const hi4 = hi3 - <u64>(mid4 > mid3);
    VM = shr128(mid4, hi4, j - 64);
  }
  return shr128(mid, hi, j - 64 - 1);
}

// @ts-ignore: decorator
@inline function pow5bits(e: i32): i32 {
  return <i32>(((<u32>e * 1217359) >> 19) + 1);
}
// @ts-ignore: decorator
@inline function log10Pow2(e: i32): i32 {
  return <i32>((<u32>e * 78913) >> 18);
}
// @ts-ignore: decorator
@inline function log10Pow5(e: i32): i32 {
  return <i32>((<u32>e * 732923) >> 20);
}

function pow5Factor(value: u64): u32 {
  let count: u32 = 0;
  for (;;) {
    value *= 14757395258967641293; // 5 * this = 1 (mod 2^64)
    if (value > 3689348814741910323) break; // 2^64 / 5
    count++;
  }
  return count;
}

// @ts-ignore: decorator
@inline function multipleOfPowerOf5(value: u64, p: i32): bool {
  return pow5Factor(value) >= <u32>p;
}
// @ts-ignore: decorator
@inline function multipleOfPowerOf2(value: u64, p: i32): bool {
  return (value & ((<u64>1 << <u64>p) - 1)) == 0;
}

/** Decimal exponent of the last d2d result. */
let D_EXP: i32 = 0;

/** Ryu's d2d: shortest decimal digits of a positive finite double (mantissa returned, exponent in D_EXP). */
function d2d(ieeeMantissa: u64, ieeeExponent: i32): u64 {
  let e2: i32;
  let m2: u64;
  if (ieeeExponent == 0) {
    e2 = 1 - 1023 - 52 - 2;
    m2 = ieeeMantissa;
  } else {
    e2 = ieeeExponent - 1023 - 52 - 2;
    m2 = (<u64>1 << 52) | ieeeMantissa;
  }
  const acceptBounds = (m2 & 1) == 0;
  const mv = 4 * m2;
  const mmShift = ieeeMantissa != 0 || ieeeExponent <= 1;

  let vr: u64;
  let vp: u64;
  let vm: u64;
  let e10: i32;
  let vmIsTrailingZeros = false;
  let vrIsTrailingZeros = false;
  if (e2 >= 0) {
    const q = log10Pow2(e2) - <i32>(e2 > 3);
    e10 = q;
    const k = 125 + pow5bits(q) - 1;
    const i = -e2 + q + k;
    vr = mulShiftAll64(m2, INV + (<usize>q << 4), i, mmShift);
    vp = VP;
    vm = VM;
    if (q <= 21) {
      const mvMod5 = <u32>mv - 5 * <u32>(mv / 5);
      if (mvMod5 == 0) {
        vrIsTrailingZeros = multipleOfPowerOf5(mv, q);
      } else if (acceptBounds) {
        vmIsTrailingZeros = multipleOfPowerOf5(mv - 1 - <u64>mmShift, q);
      } else {
        vp -= <u64>multipleOfPowerOf5(mv + 2, q);
      }
    }
  } else {
    const q = log10Pow5(-e2) - <i32>(-e2 > 1);
    e10 = q + e2;
    const i = -e2 - q;
    const k = pow5bits(i) - 125;
    const j = q - k;
    vr = mulShiftAll64(m2, POW + (<usize>i << 4), j, mmShift);
    vp = VP;
    vm = VM;
    if (q <= 1) {
      vrIsTrailingZeros = true;
      if (acceptBounds) vmIsTrailingZeros = mmShift;
      else --vp;
    } else if (q < 63) {
      vrIsTrailingZeros = multipleOfPowerOf2(mv, q);
    }
  }

  let removed: i32 = 0;
  let lastRemovedDigit: u32 = 0;
  let output: u64;
  if (vmIsTrailingZeros || vrIsTrailingZeros) {
    // General case (~0.7 %)
    for (;;) {
      const vpDiv10 = vp / 10;
      const vmDiv10 = vm / 10;
      if (vpDiv10 <= vmDiv10) break;
      const vmMod10 = <u32>vm - 10 * <u32>vmDiv10;
      const vrDiv10 = vr / 10;
      const vrMod10 = <u32>vr - 10 * <u32>vrDiv10;
      vmIsTrailingZeros &= vmMod10 == 0;
      vrIsTrailingZeros &= lastRemovedDigit == 0;
      lastRemovedDigit = vrMod10;
      vr = vrDiv10;
      vp = vpDiv10;
      vm = vmDiv10;
      ++removed;
    }
    if (vmIsTrailingZeros) {
      for (;;) {
        const vmDiv10 = vm / 10;
        const vmMod10 = <u32>vm - 10 * <u32>vmDiv10;
        if (vmMod10 != 0) break;
        const vpDiv10 = vp / 10;
        const vrDiv10 = vr / 10;
        const vrMod10 = <u32>vr - 10 * <u32>vrDiv10;
        vrIsTrailingZeros &= lastRemovedDigit == 0;
        lastRemovedDigit = vrMod10;
        vr = vrDiv10;
        vp = vpDiv10;
        vm = vmDiv10;
        ++removed;
      }
    }
    if (vrIsTrailingZeros && lastRemovedDigit == 5 && vr % 2 == 0) lastRemovedDigit = 4; // round half to even
    output = vr + <u64>((vr == vm && (!acceptBounds || !vmIsTrailingZeros)) || lastRemovedDigit >= 5);
  } else {
    // Common case. Ryu removes two digits, then one at a time; here eight and four go first
    // (short decimals such as 64.433 drop 12 of 17 digits). Removing k digits at once is allowed
    // when floor(vp/10^k) > floor(vm/10^k), which implies every single step would have been; only
    // the most significant removed digit decides the rounding (vr is not exact here).
    let roundUp = false;
    const vpDiv1e8 = vp / 100000000;
    const vmDiv1e8 = vm / 100000000;
    if (vpDiv1e8 > vmDiv1e8) {
      const vrDiv1e8 = vr / 100000000;
      roundUp = <u32>(vr - vrDiv1e8 * 100000000) >= 50000000;
      vr = vrDiv1e8;
      vp = vpDiv1e8;
      vm = vmDiv1e8;
      removed += 8;
    }
    const vpDiv1e4 = vp / 10000;
    const vmDiv1e4 = vm / 10000;
    if (vpDiv1e4 > vmDiv1e4) {
      const vrDiv1e4 = vr / 10000;
      roundUp = <u32>(vr - vrDiv1e4 * 10000) >= 5000;
      vr = vrDiv1e4;
      vp = vpDiv1e4;
      vm = vmDiv1e4;
      removed += 4;
    }
    const vpDiv100 = vp / 100;
    const vmDiv100 = vm / 100;
    if (vpDiv100 > vmDiv100) {
      const vrDiv100 = vr / 100;
      const vrMod100 = <u32>vr - 100 * <u32>vrDiv100;
      roundUp = vrMod100 >= 50;
      vr = vrDiv100;
      vp = vpDiv100;
      vm = vmDiv100;
      removed += 2;
    }
    for (;;) {
      const vpDiv10 = vp / 10;
      const vmDiv10 = vm / 10;
      if (vpDiv10 <= vmDiv10) break;
      const vrDiv10 = vr / 10;
      const vrMod10 = <u32>vr - 10 * <u32>vrDiv10;
      roundUp = vrMod10 >= 5;
      vr = vrDiv10;
      vp = vpDiv10;
      vm = vmDiv10;
      ++removed;
    }
    output = vr + <u64>(vr == vm || roundUp);
  }
  D_EXP = e10 + removed;
  return output;
}

// ---------------------------------------------------------------- digits

// @ts-ignore: decorator
@inline function len17(v: u64): i32 {
  if (v >= 10000000000000000) return 17;
  if (v >= 1000000000000000) return 16;
  if (v >= 100000000000000) return 15;
  if (v >= 10000000000000) return 14;
  if (v >= 1000000000000) return 13;
  if (v >= 100000000000) return 12;
  if (v >= 10000000000) return 11;
  if (v >= 1000000000) return 10;
  if (v >= 100000000) return 9;
  if (v >= 10000000) return 8;
  if (v >= 1000000) return 7;
  if (v >= 100000) return 6;
  if (v >= 10000) return 5;
  if (v >= 1000) return 4;
  if (v >= 100) return 3;
  if (v >= 10) return 2;
  return 1;
}

// @ts-ignore: decorator
@inline function put2(p: usize, d: u32): void {
  store<u16>(p, load<u16>(D2 + (<usize>d << 1)));
}

/** Exactly `len` decimal digits of v (v < 10^len, len <= 20) at p..p+len. */
function putDigits(p: usize, v: u64, len: i32): void {
  let e = p + <usize>len;
  while (v >= 0x100000000) {
    const q = v / 100000000;
    let r = <u32>(v - q * 100000000);
    v = q;
    const c = r % 10000;
    r /= 10000;
    put2(e - 2, c % 100);
    put2(e - 4, c / 100);
    put2(e - 6, r % 100);
    put2(e - 8, r / 100);
    e -= 8;
  }
  let w = <u32>v;
  while (w >= 10000) {
    const c = w % 10000;
    w /= 10000;
    put2(e - 2, c % 100);
    put2(e - 4, c / 100);
    e -= 4;
  }
  if (w >= 100) {
    put2(e - 2, w % 100);
    w /= 100;
    e -= 2;
  }
  if (w >= 10) put2(e - 2, w);
  else store<u8>(e - 1, 48 + w);
}

/** Digits of an unsigned integer. */
// @ts-ignore: decorator
@inline function writeU64(p: usize, v: u64): usize {
  const n = v < 100000000000000000 ? len17(v) : v < 1000000000000000000 ? 18 : v < 10000000000000000000 ? 19 : 20;
  putDigits(p, v, n);
  return p + <usize>n;
}

/** Digits of a signed integer, '-' when negative. */
// @ts-ignore: decorator
@inline function writeI64(p: usize, v: i64): usize {
  if (v < 0) {
    store<u8>(p, 45);
    return writeU64(p + 1, <u64>-v);
  }
  return writeU64(p, <u64>v);
}

/** Shortest digits `output` (olength of them) with decimal point position n, laid out like Number::toString. */
function layout(p: usize, output: u64, olength: i32, n: i32): usize {
  if (olength <= n && n <= 21) {
    putDigits(p, output, olength);
    p += <usize>olength;
    for (let i = olength; i < n; i++) store<u8>(p++, 48);
    return p;
  }
  if (0 < n && n <= 21) {
    putDigits(p + 1, output, olength);
    for (let i = 0; i < n; i++) store<u8>(p + <usize>i, load<u8>(p + 1 + <usize>i));
    store<u8>(p + <usize>n, 46);
    return p + 1 + <usize>olength;
  }
  if (-6 < n && n <= 0) {
    store<u16>(p, 0x2e30); // "0."
    p += 2;
    for (let i = n; i < 0; i++) store<u8>(p++, 48);
    putDigits(p, output, olength);
    return p + <usize>olength;
  }
  putDigits(p + 1, output, olength);
  store<u8>(p, load<u8>(p + 1));
  if (olength > 1) {
    store<u8>(p + 1, 46);
    p += 1 + <usize>olength;
  } else p += 1;
  store<u8>(p++, 101); // 'e'
  let e = n - 1;
  if (e < 0) {
    store<u8>(p++, 45);
    e = -e;
  } else store<u8>(p++, 43);
  if (e >= 100) {
    store<u8>(p, 48 + <u32>e / 100);
    put2(p + 1, <u32>e % 100);
    return p + 3;
  }
  if (e >= 10) {
    put2(p, <u32>e);
    return p + 2;
  }
  store<u8>(p, 48 + <u32>e);
  return p + 1;
}

/** A finite double as String(v) writes it (but -0 → "-0"). Needs 25 bytes of room (+8 slack). */
function writeFloat(p: usize, v: f64): usize {
  const bits = reinterpret<u64>(v);
  if (bits >> 63) {
    store<u8>(p++, 45);
    v = -v;
  }
  if (v == 0) {
    store<u8>(p, 48);
    return p + 1;
  }
  // Integers below 2^53: their digits, no search needed.
  if (v < 9007199254740992.0 && Math.floor(v) == v) return writeU64(p, <u64>v);
  // Short decimals (up to 6 places: 64.433, 0.25, 12.5), common in raw samples, are Ryu's
  // slowest case (12+ digits to strip). With K = 6 (4 from 1e9 on): r = nearest integer to v·10^K;
  // if r / 10^K (both exact doubles, so the quotient is the correctly rounded parse of "r e-K")
  // equals v, then "r e-K" reads back as v. As r < 2^50, v's rounding interval spans < 1/4 at that
  // scale, so r is its only integer: the closest, and stripping r's trailing zeros gives the
  // fewest digits (any shorter decimal that reads back as v would be that same integer). That is
  // exactly Ryu's (and String's) answer, for one multiply and one division; full-precision values
  // pay only that before Ryu.
  if (v < 1e11) {
    const wide = v < 1e9;
    const r = nearest(v * (wide ? 1e6 : 1e4));
    if (r / (wide ? 1e6 : 1e4) == v) {
      let d = <u64>r;
      let k = wide ? 6 : 4;
      if (d < 0x100000000) {
        let d32 = <u32>d; // 32-bit remainders are cheaper; most short decimals land here
        while (k > 0) {
          const q = d32 / 10;
          if (d32 - q * 10 != 0) break;
          d32 = q;
          k--;
        }
        d = <u64>d32;
      } else {
        while (k > 0) {
          const q = d / 10;
          if (d - q * 10 != 0) break;
          d = q;
          k--;
        }
      }
      const len = len17(d);
      return layout(p, d, len, len - k);
    }
  }
  const ieeeExponent = <i32>((bits >> 52) & 0x7ff);
  const output = d2d(bits & 0xfffffffffffff, ieeeExponent);
  const olength = len17(output);
  return layout(p, output, olength, olength + D_EXP);
}

/** writeFloat for JS (tests): formats v at p, returns the end offset. */
export function formatFloat(p: usize, v: f64): usize {
  return writeFloat(p, v);
}

// ---------------------------------------------------------------- rows

/** Copy n bytes 16 (then 8) at a time; may write up to 8 bytes past dst + n (the caller leaves room). */
// @ts-ignore: decorator
@inline function copyKey(dst: usize, src: usize, n: i32): void {
  let i = 0;
  for (; i + 8 < n; i += 16) v128.store(dst + <usize>i, v128.load(src + <usize>i));
  if (i < n) store<u64>(dst + <usize>i, load<u64>(src + <usize>i));
}

/** Counters of the last encodeRows call, read by JS through result(). */
let R_POS: usize = 0;
let R_LINES: i32 = 0;
let R_ROWS: i32 = 0;
let R_NOFIELDS: i32 = 0;
let R_STATUS: i32 = 0;

export function resultPos(): usize {
  return R_POS;
}
export function resultLines(): i32 {
  return R_LINES;
}
export function resultRows(): i32 {
  return R_ROWS;
}
export function resultNoFields(): i32 {
  return R_NOFIELDS;
}
/** 0: all rows done; 1: output region full; 2: bad timestamp at the returned row (JS reports it). */
export function resultStatus(): i32 {
  return R_STATUS;
}

const NOT_EMITTED: u32 = 3; // FLAG_DROPPED | FLAG_HALO (src/batch/layout.ts)
const FIELD_STRIDE: usize = 16;

/**
 * Encode rows [start, end) of one series run, like SeriesEncoder.walk + LineWriter: rows flagged
 * dropped or halo are skipped; rows without a finite field count as no_fields; each other row is
 * `key fields timestamp\n`. fieldsP: nFields × {i32 column offset, i32 key offset, i32 key length,
 * i32 kind (0 float, 1 int)}; keys are `name=`. flagsKeyLen 0 = no flags field. precision: 0 ms,
 * 1 s, 2 us, 3 ns. Stops before a row when fewer than maxLine bytes are left before outEnd.
 * Line k's end (endBase + its offset from outP, just past '\n') goes to endsP as u32 k.
 * Returns the row it stopped at (end when done); counters via result*().
 */
export function encodeRows(
  keyP: usize, keyLen: i32, fieldsP: usize, nFields: i32, tsP: usize, flagsP: usize, flagsKeyP: usize, flagsKeyLen: i32,
  start: i32, end: i32, outP: usize, outEnd: usize, maxLine: i32, precision: i32, endsP: usize, endBase: u32,
): i32 {
  let p = outP;
  let lines = 0;
  let rows = 0;
  let noFields = 0;
  R_STATUS = 0;
  let i = start;
  for (; i < end; i++) {
    const fl = load<u32>(flagsP + (<usize>i << 2));
    if (fl & NOT_EMITTED) continue;
    // rowHasFields: a finite value in any written column
    let has = false;
    for (let f = 0; f < nFields; f++) {
      const x = load<f64>(<usize>load<i32>(fieldsP + <usize>f * FIELD_STRIDE) + (<usize>i << 3));
      if (x - x == 0) {
        has = true;
        break;
      }
    }
    if (!has) {
      noFields++;
      continue;
    }
    if (outEnd - p < <usize>maxLine) {
      R_STATUS = 1;
      break;
    }
    let t = Math.floor(load<f64>(tsP + (<usize>i << 3)));
    if (!(t >= -9007199254740991.0 && t <= 9007199254740991.0)) {
      R_STATUS = 2;
      break;
    }
    const lineStart = p;
    copyKey(p, keyP, keyLen);
    p += <usize>keyLen;
    let sep: u8 = 32;
    for (let f = 0; f < nFields; f++) {
      const fo = fieldsP + <usize>f * FIELD_STRIDE;
      let x = load<f64>(<usize>load<i32>(fo) + (<usize>i << 3));
      if (x - x != 0) continue; // NaN / ±Infinity: omitted
      if (load<i32>(fo, 12) == 1) {
        // int field: Math.round, then Point.intField's range and Math.floor
        let r = Math.floor(x);
        if (x - r >= 0.5) r += 1;
        if (!(r > -9223372036854776e3 && r < 9223372036854776e3)) continue;
        store<u8>(p++, sep);
        sep = 44;
        const kl = load<i32>(fo, 8);
        copyKey(p, <usize>load<i32>(fo, 4), kl);
        p += <usize>kl;
        if (r >= -9007199254740991.0 && r <= 9007199254740991.0) p = writeI64(p, <i64>r);
        else p = writeFloat(p, r);
        store<u8>(p++, 105); // 'i'
        continue;
      }
      store<u8>(p++, sep);
      sep = 44;
      const kl = load<i32>(fo, 8);
      copyKey(p, <usize>load<i32>(fo, 4), kl);
      p += <usize>kl;
      p = writeFloat(p, x);
    }
    if (flagsKeyLen > 0 && fl >>> 8) {
      store<u8>(p++, sep);
      sep = 44;
      copyKey(p, flagsKeyP, flagsKeyLen);
      p += <usize>flagsKeyLen;
      p = writeU64(p, <u64>(fl >>> 8));
      store<u8>(p++, 105);
    }
    rows++;
    if (sep == 32) {
      p = lineStart; // no field written after all (int fields out of range): the line is rolled back
      continue;
    }
    store<u8>(p++, 32);
    if (precision == 1) t = Math.floor(t / 1000);
    p = writeI64(p, <i64>t);
    if (precision == 2) {
      store<u16>(p, 0x3030);
      store<u8>(p + 2, 48);
      p += 3;
    } else if (precision == 3) {
      store<u32>(p, 0x30303030);
      store<u16>(p + 4, 0x3030);
      p += 6;
    }
    store<u8>(p++, 10);
    // the line's end in the caller's LineWriter: request cuts need no '\n' scan (src/encode/request-cuts.ts)
    store<u32>(endsP + (<usize>lines << 2), endBase + <u32>(p - outP));
    lines++;
  }
  R_POS = p;
  R_LINES = lines;
  R_ROWS = rows;
  R_NOFIELDS = noFields;
  return i;
}
