/**
 * Number → ASCII bytes, written straight into a Uint8Array (no string per number on the hot path).
 *
 * `writeFloat` produces exactly `String(v)` (what `Point.floatField` writes). `String(v)` costs
 * ~150-300 ns for a 17-digit double (heap string + copy-out), and feature columns (means,
 * deviations) are mostly such doubles, so it would dominate the encoder. A full Ryu in JS needs
 * 64×128-bit multiplies; we get the same exactness more cheaply from double-double arithmetic:
 *  1. scale: a·10^k (k ∈ [0, 22], 10^k exact) is computed exactly as hi + lo with Dekker's product
 *     (no FMA in JS: Veltkamp splitting), with hi an integer in [1e16, 1e17) and |lo| <= 8;
 *  2. the half-gaps to the neighbouring doubles, scaled by 10^k, are exact doubles, so the set of
 *     17-digit integers that read back as `a` is found exactly (TwoSum for the two bounds);
 *  3. among them, the one with the most trailing zeros is the shortest; ties go to the closest to
 *     `a`, then to the even digit string — ECMAScript Number::toString, Note 2, which V8 follows.
 * No step is approximate, so there is no "probably right" result to verify. Magnitudes outside
 * [1e-6, 1e17) (10^k would not be exact) fall back to `String(v)`; integers below 2^53 take a
 * cheaper path.
 *
 * All writers take (buf, pos, ...) and return the new position; the caller guarantees
 * MAX_NUMBER_BYTES of room.
 */

/** Upper bound of bytes any writer here emits for one number (e.g. "-1.2345678901234567e-308"). */
export const MAX_NUMBER_BYTES = 32;

// Bit access to a double (exponent, mantissa). One 8-byte scratch per worker.
const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
const LITTLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const HI = LITTLE ? 1 : 0;
const LO = LITTLE ? 0 : 1;

/** 10^0..10^22 (exact doubles) and their Veltkamp splits for Dekker's product. */
const POW10 = new Float64Array(23);
const POW10_H = new Float64Array(23);
const POW10_L = new Float64Array(23);
const SPLITTER = 134217729; // 2^27 + 1
for (let i = 0; i < 23; i++) {
  const p = Number(`1e${i}`);
  POW10[i] = p;
  const c = SPLITTER * p;
  const h = c - (c - p);
  POW10_H[i] = h;
  POW10_L[i] = p - h;
}
/** Integer powers of ten below 2^31. */
const IPOW10 = [1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000];

/**
 * Per biased exponent E: k for the bottom of the binade (16 - floor((E-1023)·log10 2)), the power
 * of ten inside the binade from which on k is one less (Infinity if none), and half an ulp,
 * 2^(E-1076). Tables spare a log, a second multiply and a bit-build per number; scale() still
 * checks the result (a near-boundary miss only sends the number to the String() fallback).
 */
const K_GUESS = new Int8Array(2048);
const K_STEP = new Float64Array(2048);
const HALF_ULP = new Float64Array(2048);
for (let e = 1; e < 2047; e++) {
  const k = 16 - Math.floor((e - 1023) * 0.3010299956639812);
  K_GUESS[e] = Math.max(-100, Math.min(100, k));
  const step = Number(`1e${17 - k}`); // a >= 10^(17-k) means a·10^k >= 1e17
  K_STEP[e] = step < 2 ** (e - 1022) ? step : Infinity;
  HALF_ULP[e] = 2 ** (e - 1076);
}

/** "00".."99" as byte pairs: two digits per division. */
const D2 = new Uint8Array(200);
for (let i = 0; i < 100; i++) {
  D2[2 * i] = 48 + ((i / 10) | 0);
  D2[2 * i + 1] = 48 + (i % 10);
}

/** Scratch for digits on rare layouts and the slow path. */
const DIG = new Uint8Array(32);

/** Copy an ASCII string (number text) into buf. Only used on fallback paths. */
function writeAscii(buf: Uint8Array, pos: number, s: string): number {
  for (let i = 0; i < s.length; i++) buf[pos++] = s.charCodeAt(i);
  return pos;
}

/** Decimal digits of a non-negative integer < 2^31, two per table lookup. */
function writeSmallUint(buf: Uint8Array, pos: number, n: number): number {
  n |= 0;
  const len =
    n < 100000
      ? n < 100 ? (n < 10 ? 1 : 2) : n < 1000 ? 3 : n < 10000 ? 4 : 5
      : n < 10000000 ? (n < 1000000 ? 6 : 7) : n < 100000000 ? 8 : n < 1000000000 ? 9 : 10;
  let i = pos + len;
  while (n >= 100) {
    const q = (n / 100) | 0;
    const d = (n - q * 100) << 1;
    buf[--i] = D2[d + 1]!;
    buf[--i] = D2[d]!;
    n = q;
  }
  if (n >= 10) {
    buf[--i] = D2[(n << 1) + 1]!;
    buf[--i] = D2[n << 1]!;
  } else buf[--i] = 48 + n;
  return pos + len;
}

/** Digits of a non-negative safe integer (0 <= n <= 2^53). */
export function writeUint(buf: Uint8Array, pos: number, n: number): number {
  if (n < 2147483648) return writeSmallUint(buf, pos, n);
  const hi = Math.floor(n / 1e8);
  const lo = n - hi * 1e8; // exact: integers < 2^53
  pos = writeSmallUint(buf, pos, hi);
  put8(buf, pos, lo | 0);
  return pos + 8;
}

/** Digits of a safe integer, '-' when negative (-0 writes "0", like String(-0)). */
export function writeInt(buf: Uint8Array, pos: number, n: number): number {
  if (n < 0) {
    buf[pos++] = 45;
    n = -n;
  }
  return writeUint(buf, pos, n);
}

/**
 * Lay out significant digits DIG[0..kd) with decimal point position n (value = 0.d1d2… × 10^n)
 * exactly as ECMAScript Number::toString does. General but with an extra copy: used on rare paths.
 */
function layout(buf: Uint8Array, pos: number, kd: number, n: number): number {
  if (kd <= n && n <= 21) {
    for (let i = 0; i < kd; i++) buf[pos++] = DIG[i]!;
    for (let i = kd; i < n; i++) buf[pos++] = 48;
  } else if (0 < n && n <= 21) {
    for (let i = 0; i < n; i++) buf[pos++] = DIG[i]!;
    buf[pos++] = 46;
    for (let i = n; i < kd; i++) buf[pos++] = DIG[i]!;
  } else if (-6 < n && n <= 0) {
    buf[pos++] = 48;
    buf[pos++] = 46;
    for (let i = n; i < 0; i++) buf[pos++] = 48;
    for (let i = 0; i < kd; i++) buf[pos++] = DIG[i]!;
  } else {
    buf[pos++] = DIG[0]!;
    if (kd > 1) {
      buf[pos++] = 46;
      for (let i = 1; i < kd; i++) buf[pos++] = DIG[i]!;
    }
    buf[pos++] = 101; // 'e'
    const e = n - 1;
    buf[pos++] = e < 0 ? 45 : 43;
    pos = writeSmallUint(buf, pos, e < 0 ? -e : e);
  }
  return pos;
}

/** Exactly 8 digits of 0 <= x < 1e8 (int32) at buf[p..p+8). */
function put8(buf: Uint8Array, p: number, x: number): void {
  const hi = (x / 10000) | 0;
  const lo = x - hi * 10000;
  let t = (hi / 100) | 0;
  let d = (hi - t * 100) << 1;
  t <<= 1;
  buf[p] = D2[t]!;
  buf[p + 1] = D2[t + 1]!;
  buf[p + 2] = D2[d]!;
  buf[p + 3] = D2[d + 1]!;
  t = (lo / 100) | 0;
  d = (lo - t * 100) << 1;
  t <<= 1;
  buf[p + 4] = D2[t]!;
  buf[p + 5] = D2[t + 1]!;
  buf[p + 6] = D2[d]!;
  buf[p + 7] = D2[d + 1]!;
}

/**
 * Write the decimal c·10^-k, c = q·1e8 + r (1e8 <= q <= 1e9, 0 <= r < 1e8: 17 or 18 digits),
 * laid out like String(), trailing zeros dropped. The digit block is written in one go (two digits
 * per table lookup) where the fraction digits belong; the few integer digits are then moved left
 * to make room for the '.'. Needs 26 bytes of room.
 */
function emitScaled(buf: Uint8Array, pos: number, q: number, r: number, k: number): number {
  q |= 0; // int32 from here: a double division in the digit math costs ~3× the whole routine
  r |= 0;
  const nd = q >= 1000000000 ? 18 : 17;
  const n = nd - k; // digits before the decimal point; >= -5 since the value is >= 1e-6
  // The digit block goes where most digits already sit: after a one-byte gap for the '.' when the
  // integer part is short (its digits then move left), else at pos (the fraction moves right).
  let at: number;
  if (n > 0) at = n <= 8 ? pos + 1 : pos;
  else if (n > -6) {
    buf[pos] = 48;
    buf[pos + 1] = 46;
    for (let i = 0; i < -n; i++) buf[pos + 2 + i] = 48;
    at = pos + 2 - n;
  } else {
    // exponent form: unreachable for values >= 1e-6; kept general
    writeSmallUint(DIG, 0, q);
    put8(DIG, nd - 8, r);
    let kd = nd;
    while (kd > 1 && DIG[kd - 1] === 48) kd--;
    return layout(buf, pos, kd, n);
  }
  let p = at;
  const d0 = (q / 100000000) | 0; // 1..10
  if (d0 >= 10) {
    buf[p++] = 49;
    buf[p++] = 48 + d0 - 10;
  } else buf[p++] = 48 + d0;
  put8(buf, p, q - d0 * 100000000);
  put8(buf, p + 8, r);
  let e = p + 15; // last digit; the first one is never '0'
  while (buf[e] === 48) e--;
  const kd = e - at + 1;
  if (n <= 0) return at + kd;
  if (at === pos) {
    if (kd <= n) return pos + n; // an integer (its own zeros included)
    for (let i = pos + kd; i > pos + n; i--) buf[i] = buf[i - 1]!;
  } else {
    for (let i = 0; i < n; i++) buf[pos + i] = buf[at + i]!;
    if (kd <= n) return pos + n;
  }
  buf[pos + n] = 46;
  return pos + kd + 1;
}

// Scaled representation of the current number, set by scale(): a·10^k = B + lo exactly, with
// B = q·1e8 + r an integer in [1e16, 1e17) and |lo| <= 8. A typed array rather than module-level
// `let`s: storing a double into a context slot allocates a HeapNumber each time.
const SC = new Float64Array(3);
const S_Q = 0;
const S_R = 1;
const S_LO = 2;

/**
 * Scale 1e-6 <= a < 1e17 (biased exponent e) so that a·10^k ∈ [1e16, 1e17), k ∈ [0, 22]; store
 * the exact product's limbs in SC and return k, or -1 when out of range (caller falls back).
 */
function scale(a: number, e: number): number {
  let k = K_GUESS[e]! - (a >= K_STEP[e]! ? 1 : 0);
  if (k > 22) k = 22;
  let hi = a * POW10[k]!;
  if (hi >= 1e17) {
    k--;
    if (k < 0) return -1;
    hi = a * POW10[k]!;
  }
  if (hi < 1e16 || hi >= 1e17) return -1;
  // Dekker's exact product: a·10^k = hi + lo.
  const c = SPLITTER * a;
  const ah = c - (c - a);
  const al = a - ah;
  const ph = POW10_H[k]!;
  const pl = POW10_L[k]!;
  const lo = ah * ph - hi + ah * pl + al * ph + al * pl;
  if (hi === 1e16 && lo < 0) return -1; // just below 1e16: only 16 integer digits; rare
  // hi >= 1e16 > 2^53 is an integer; split into limbs < 2^31 (q·1e8 = q·5^8·2^8 is exact).
  let q = Math.floor(hi * 1e-8); // may be one off (inexact product): corrected below
  let r = hi - q * 1e8;
  if (r < 0) {
    q--;
    r += 1e8;
  } else if (r >= 1e8) {
    q++;
    r -= 1e8;
  }
  SC[S_Q] = q;
  SC[S_R] = r;
  SC[S_LO] = lo;
  return k;
}

/**
 * Shortest round-trip digits of 1e-6 <= a < 1e17, laid out like String(a). Returns -1 when out of
 * range (caller falls back).
 */
function writeShortestScaled(buf: Uint8Array, pos: number, a: number): number {
  f64[0] = a;
  const hw = u32[HI]!;
  const lw = u32[LO]!;
  const e = hw >>> 20;
  const k = scale(a, e);
  if (k < 0) return -1;
  const lo = SC[S_LO]!;
  // Half-gaps to the neighbouring doubles, scaled: ulp/2 · 10^k, exact (power of two × 10^k).
  // At a power of two the gap below is half the gap above.
  const uH = HALF_ULP[e]! * POW10[k]!;
  const uL = (hw & 0xfffff) === 0 && lw === 0 ? uH / 2 : uH;
  // Round-half-even on parse: the interval ends are included when the mantissa is even.
  const even = (lw & 1) === 0;
  // Integer offsets o with B+o inside [x-uL, x+uH], x = B + lo: lo-uL <= o <= lo+uH, decided
  // exactly via Knuth's TwoSum (s + err is the exact sum; an integer is compared against s, then err).
  const sL = lo - uL;
  const bL = sL - lo;
  const eL = lo - (sL - bL) + (-uL - bL);
  const sH = lo + uH;
  const bH = sH - lo;
  const eH = lo - (sH - bH) + (uH - bH);
  let oLo = Math.ceil(sL);
  if (oLo === sL && (even ? eL > 0 : eL >= 0)) oLo++;
  let oHi = Math.floor(sH);
  if (oHi === sH && (even ? eH < 0 : eH <= 0)) oHi--;
  oLo |= 0;
  oHi |= 0;
  if (oLo > oHi) return -1; // cannot happen for B >= 1e16 (half-gaps > 0.55); a guard

  // Shortest = the in-range integer with the most trailing zeros (emitScaled drops them). The range
  // is < 23 wide: at most one multiple of 100 is in it, and if there is one it is the answer (a
  // multiple of a higher power of ten in range would be that same number). Otherwise the closest
  // multiple of 10 in range, else the closest integer. Int32 math: `%` on doubles is an fmod call.
  const br = SC[S_R]! | 0;
  const r100 = br % 100;
  const z = r100 + oHi; // (B + oHi) mod 100, up to sign
  let z100 = z % 100;
  if (z100 < 0) z100 += 100;
  let best: number;
  const top100 = oHi - z100;
  if (top100 >= oLo) {
    best = top100;
  } else {
    let top = oHi - (z100 % 10);
    if (top >= oLo) {
      // up to three multiples of 10 in range: walk down while the next one is closer to x
      best = top;
      const twice = 2 * lo;
      while (top - 10 >= oLo) {
        const lower = top - 10;
        const sum = lower + top; // lower is closer iff lo - lower < top - lo  <=>  2lo < lower + top
        // exact tie: the even digit string ((r100 + lower) / 10 has the parity of B+lower's digits)
        if (twice < sum || (twice === sum && ((r100 + lower) / 10) % 2 === 0)) {
          best = lower;
          top = lower;
        } else break;
      }
    } else {
      // the integer nearest to x (always in range: both half-widths exceed 0.5); tie → even
      const o1 = Math.floor(lo);
      if (o1 === lo) best = o1;
      else {
        const twice = 2 * lo;
        const mid = 2 * o1 + 1;
        if (twice < mid) best = o1;
        else if (twice > mid) best = o1 + 1;
        else best = (br + o1) % 2 === 0 ? o1 : o1 + 1;
      }
      if (best < oLo || best > oHi) return -1;
    }
  }
  let q = SC[S_Q]!;
  let r = br + best;
  if (r < 0) {
    q--;
    r += 1e8;
  } else if (r >= 1e8) {
    q++;
    r -= 1e8;
  }
  return emitScaled(buf, pos, q, r, k);
}

/**
 * Write `v` exactly as `String(v)` does (shortest round-trip, JS layout), except -0, which writes
 * "-0" (String(-0) and Point write "0", which InfluxDB reads back as +0; Go's ParseFloat keeps the
 * sign of "-0"). The caller has checked that `v` is finite.
 */
export function writeFloat(buf: Uint8Array, pos: number, v: number): number {
  if (v === 0) {
    if (1 / v < 0) buf[pos++] = 45;
    buf[pos] = 48;
    return pos + 1;
  }
  const start = pos;
  let a = v;
  if (v < 0) {
    buf[pos++] = 45;
    a = -v;
  }
  if (a < 9007199254740992 && Math.floor(a) === a) return writeUint(buf, pos, a);
  if (a >= 1e-6 && a < 1e17) {
    const end = writeShortestScaled(buf, pos, a);
    if (end >= 0) return end;
  }
  // Tiny (< 1e-6) or huge (>= 1e17) magnitudes: rare in metrics; V8 formats (allocates a string).
  return writeAscii(buf, start, String(v));
}

/**
 * Write `v` rounded to `digits` significant digits (1..17): the decimal that `v.toPrecision(digits)`
 * denotes (round half away from zero on the exact binary value), trailing zeros removed, laid out
 * like String() — plain decimal when 1e-7 <= |result| < 1e21, otherwise `d[.ddd]e±x`.
 * With digits = 6: 3.14159265 → "3.14159", 1234567 → "1234570", 0.000012345678 → "0.0000123457",
 * 1e-9/3 → "3.33333e-10", 2.5 → "2.5", -0 → "-0" (the sign is kept, as in writeFloat). For
 * digits <= 15 and v ≠ -0 the text is exactly String(Number(v.toPrecision(digits))). InfluxDB
 * parses all of these (Go strconv.ParseFloat).
 */
export function writeFloatDigits(buf: Uint8Array, pos: number, v: number, digits: number): number {
  if (v === 0) {
    if (1 / v < 0) buf[pos++] = 45;
    buf[pos] = 48;
    return pos + 1;
  }
  let a = v;
  if (v < 0) {
    buf[pos++] = 45;
    a = -v;
  }
  if (a < 1e-6 || a >= 1e17) return writePrecisionSlow(buf, pos, a, digits);
  f64[0] = a;
  const k = scale(a, u32[HI]! >>> 20);
  if (k < 0) return writePrecisionSlow(buf, pos, a, digits);
  // B has exactly 17 digits: round x = B + lo at p = 10^(17-digits), ties up (like toPrecision).
  // Exact: remainders stay in the two limbs, and lo (|lo| <= 8) is only compared, never added.
  const j = 17 - digits;
  const lo = SC[S_LO]!;
  const BQ = SC[S_Q]!;
  const BR = SC[S_R]!;
  let q = BQ;
  let r = BR;
  if (j === 0) {
    const o1 = Math.floor(lo);
    r += 2 * lo >= 2 * o1 + 1 ? o1 + 1 : o1;
  } else if (j < 8) {
    const p = IPOW10[j]!;
    const rem = (BR | 0) % p;
    // floor multiple of p below x: B - rem, one step lower when lo < -rem, one step higher when
    // lo >= p - rem (|lo| <= 8, so these are the only cases)
    const base = lo < -rem ? -rem - p : lo >= p - rem ? p - rem : -rem;
    // up when x - (B + base) >= p/2  <=>  lo >= p/2 + base
    r += lo >= p / 2 + base ? base + p : base;
  } else {
    // p >= 1e8: the result is a multiple of 1e8, only the high limb changes.
    const pq = IPOW10[j - 8]!;
    const remQ = j > 8 ? (BQ | 0) % pq : 0;
    r = 0;
    q -= remQ;
    // x just below B - BR (remQ = 0, lo < -BR) is ~p above the multiple below: rounds up to q.
    if (!(remQ === 0 && lo < -BR)) {
      // up when remQ·1e8 + BR + lo >= (pq/2)·1e8
      let up: boolean;
      if (j === 8) up = lo >= 5e7 - BR;
      else {
        const dq = remQ - pq / 2;
        up = dq >= 1 || (dq === 0 && lo >= -BR) || (dq === -1 && lo >= 1e8 - BR);
      }
      if (up) q += pq;
    }
  }
  while (r < 0) {
    q--;
    r += 1e8;
  }
  while (r >= 1e8) {
    q++;
    r -= 1e8;
  }
  return emitScaled(buf, pos, q, r, k);
}

/** Out-of-range magnitudes for writeFloatDigits: parse toPrecision's text, lay it out the same way. */
function writePrecisionSlow(buf: Uint8Array, pos: number, a: number, digits: number): number {
  const s = a.toPrecision(digits);
  let kd = 0;
  let n = 0;
  let seenPoint = false;
  let leading = true;
  let i = 0;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      seenPoint = true;
      continue;
    }
    if (c === 101) break; // 'e'
    if (leading && c === 48) {
      if (seenPoint) n--;
      continue;
    }
    leading = false;
    DIG[kd++] = c;
    if (!seenPoint) n++;
  }
  if (i < s.length) n += Number(s.slice(i + 1));
  while (kd > 1 && DIG[kd - 1] === 48) kd--;
  return layout(buf, pos, kd, n);
}
