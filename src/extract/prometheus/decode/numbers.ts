/**
 * Number parsing straight from response bytes. A library (or Number(string)) would cost us one
 * string allocation per sample; these read the digits in place.
 *
 * Values: Prometheus prints floats with Go's strconv 'f'/'e' shortest formatting, so nearly all
 * values have <= 15 significant digits and a small exponent. For those, Clinger's fast path is
 * exact: the digits form an integer m < 10^15 (exact in a double) and 10^k for |k| <= 22 is exact,
 * so one IEEE multiply or divide gives the correctly rounded result. Anything else falls back to
 * Number() of the substring (rare, still correct).
 */

const POW10 = new Float64Array(23);
for (let i = 0, p = 1; i < 23; i++, p *= 10) POW10[i] = p;

/**
 * Latin-1 slice → string, for the slow paths and error messages. Short slices are built directly;
 * longer ones go through one Buffer view per underlying buffer (cached), whose native latin1Slice
 * is several times faster than concatenating characters.
 */
let viewOf: Uint8Array | undefined;
let view: Buffer | undefined;
export function asciiSlice(buf: Uint8Array, start: number, end: number): string {
  if (end - start <= 8) {
    let s = '';
    for (let i = start; i < end; i++) s += String.fromCharCode(buf[i]!);
    return s;
  }
  if (viewOf !== buf) {
    viewOf = buf;
    view = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  return view!.toString('latin1', start, end);
}

/**
 * Parse a float written between `start` (inclusive) and `end` (exclusive): decimal with optional
 * sign, fraction and exponent, or NaN / Inf / +Inf / -Inf. Returns undefined when malformed.
 */
export function parseFloatBytes(buf: Uint8Array, start: number, end: number): number | undefined {
  let i = start;
  if (i >= end) return undefined;
  let c = buf[i]!;
  let neg = false;
  if (c === 45 /* - */) {
    neg = true;
    c = buf[++i]!;
  } else if (c === 43 /* + */) {
    c = buf[++i]!;
  }
  if (c === 78 /* N */) {
    return end - start === 3 && buf[start + 1] === 97 && buf[start + 2] === 78 ? NaN : undefined;
  }
  if (c === 73 /* I */) {
    if (end - i === 3 && buf[i + 1] === 110 && buf[i + 2] === 102) return neg ? -Infinity : Infinity;
    if (end - i === 8 && asciiSlice(buf, i, end) === 'Infinity') return neg ? -Infinity : Infinity;
    return undefined;
  }
  let mant = 0;
  let sig = 0;
  let exp = 0;
  let pendingZeros = 0;
  let digits = 0;
  let dot = false;
  for (; i < end; i++) {
    c = buf[i]!;
    const d = c - 48;
    if (d >= 0 && d <= 9) {
      digits++;
      if (dot) exp--;
      if (d === 0) {
        if (sig > 0) pendingZeros++;
      } else {
        // zeros between significant digits are folded in only when the next non-zero shows up,
        // so trailing zeros cost nothing and "1200" stays m=12, e=2
        sig += pendingZeros + 1;
        if (sig <= 15) mant = mant * POW10[pendingZeros + 1]! + d;
        pendingZeros = 0;
      }
    } else if (c === 46 /* . */ && !dot) {
      dot = true;
    } else if (c === 101 || c === 69 /* e E */) {
      break;
    } else {
      return undefined;
    }
  }
  if (digits === 0) return undefined;
  if (i < end) {
    // exponent
    i++;
    let eneg = false;
    if (buf[i] === 45) {
      eneg = true;
      i++;
    } else if (buf[i] === 43) i++;
    if (i >= end) return undefined;
    let e = 0;
    for (; i < end; i++) {
      const d = buf[i]! - 48;
      if (d < 0 || d > 9) return undefined;
      if (e < 100000) e = e * 10 + d;
    }
    exp += eneg ? -e : e;
  }
  if (sig > 15) return Number(asciiSlice(buf, start, end));
  if (sig === 0) return neg ? -0 : 0;
  exp += pendingZeros;
  let v: number;
  if (exp === 0) v = mant;
  else if (exp > 0 && exp <= 22) v = mant * POW10[exp]!;
  else if (exp < 0 && exp >= -22) v = mant / POW10[-exp]!;
  else return Number(asciiSlice(buf, start, end));
  return neg ? -v : v;
}

/**
 * Parse a Prometheus JSON timestamp (seconds with up to 3 decimals, e.g. 1700000000.123) into
 * integer epoch ms without float error: integer part × 1000 + the decimals scaled as an integer.
 * More decimals or an exponent (other servers) fall back to rounding Number(). undefined = malformed.
 */
export function parseTimestampMs(buf: Uint8Array, start: number, end: number): number | undefined {
  let i = start;
  let neg = false;
  if (buf[i] === 45) {
    neg = true;
    i++;
  }
  let sec = 0;
  const i0 = i;
  for (; i < end; i++) {
    const d = buf[i]! - 48;
    if (d < 0 || d > 9) break;
    sec = sec * 10 + d;
  }
  if (i === i0) return undefined;
  let ms = 0;
  if (i < end) {
    if (buf[i] !== 46) return slowTs(buf, start, end);
    i++;
    const f0 = i;
    for (; i < end; i++) {
      const d = buf[i]! - 48;
      if (d < 0 || d > 9) return slowTs(buf, start, end);
      ms = ms * 10 + d;
    }
    const n = i - f0;
    if (n === 0 || n > 3) return slowTs(buf, start, end);
    if (n === 1) ms *= 100;
    else if (n === 2) ms *= 10;
  }
  const t = sec * 1000 + ms;
  return neg ? -t : t;
}

function slowTs(buf: Uint8Array, start: number, end: number): number | undefined {
  const v = Number(asciiSlice(buf, start, end));
  return Number.isFinite(v) ? Math.round(v * 1000) : undefined;
}
