/**
 * Float formatting: writeFloat must equal String(v) byte for byte (what Point writes), except that
 * -0 keeps its sign ("-0"); the N-digit mode must equal the decimal toPrecision(N) denotes, trailing
 * zeros trimmed, laid out like String() (and "-0" for -0).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MAX_NUMBER_BYTES, writeFloat, writeFloatDigits, writeInt, writeUint } from '../src/encode/float.js';

const buf = new Uint8Array(64);
const dec = new TextDecoder();
const fmt = (v: number): string => dec.decode(buf.subarray(0, writeFloat(buf, 0, v)));
const fmtN = (v: number, n: number): string => dec.decode(buf.subarray(0, writeFloatDigits(buf, 0, v, n)));
/** String(v), but "-0" for -0: the sign InfluxDB must keep. */
const jsStr = (v: number): string => (Object.is(v, -0) ? '-0' : String(v));

/** Reference for the N-digit mode, from toPrecision's text (independent of the implementation). */
function refDigits(v: number, d: number): string {
  if (v === 0) return Object.is(v, -0) ? '-0' : '0';
  const s = Math.abs(v).toPrecision(d);
  const [mant, e] = s.split('e');
  const [ip, fp = ''] = mant!.split('.');
  let n = ip === '0' ? -fp.match(/^0*/)![0].length : ip!.length;
  n += e ? Number(e) : 0;
  const digits = (ip! + fp).replace(/^0+/, '').replace(/0+$/, '') || '0';
  const k = digits.length;
  let out: string;
  if (k <= n && n <= 21) out = digits + '0'.repeat(n - k);
  else if (0 < n && n <= 21) out = digits.slice(0, n) + '.' + digits.slice(n);
  else if (-6 < n && n <= 0) out = '0.' + '0'.repeat(-n) + digits;
  else out = digits[0] + (k > 1 ? '.' + digits.slice(1) : '') + 'e' + (n - 1 < 0 ? '-' : '+') + Math.abs(n - 1);
  return (v < 0 ? '-' : '') + out;
}

/** Double from raw bits (covers every exponent uniformly). */
const fromBits = (hi: number, lo: number): number => {
  const u = new Uint32Array(2);
  const little = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  u[little ? 1 : 0] = hi;
  u[little ? 0 : 1] = lo;
  return new Float64Array(u.buffer)[0]!;
};
const bitsDouble = fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff })).map(([h, l]) => fromBits(h, l)).filter(Number.isFinite);
/** Short decimals, the common shape of raw metric values (12.5, 0.003, 1234.56). */
const shortDecimal = fc.tuple(fc.integer({ min: -1e9, max: 1e9 }), fc.integer({ min: 0, max: 12 })).map(([m, k]) => m / 10 ** k);
/** Neighbours of short decimals and of powers of two: where shortest output is hardest. */
const neighbour = fc.tuple(fc.oneof(shortDecimal, fc.integer({ min: -1074, max: 1023 }).map((e) => 2 ** e)), fc.integer({ min: -3, max: 3 })).map(([v, d]) => {
  const f = new Float64Array([v]);
  const b = new BigInt64Array(f.buffer);
  b[0] = b[0]! + BigInt(d);
  return f[0]!;
}).filter(Number.isFinite);

describe('encode: writeFloat === String(v)', () => {
  it('edge cases', () => {
    const cases = [
      0, -0, 1, -1, 0.1, 0.2, 0.30000000000000004, 1 / 3, 2 / 3, 1.5, 123.456, 1e-6, 1e-7, 1.5e-7, 9.999999999999999e-7,
      1e16, 1e17, 1e21, 1e22, 123456789012345680, 2 ** 53, 2 ** 53 + 2, 2 ** 53 - 1, 4503599627370495.5,
      Number.MIN_VALUE, -Number.MIN_VALUE, 2.2250738585072014e-308, Number.MAX_VALUE, Number.EPSILON,
      5e-324, 1.7976931348623157e308, 0.000001234, 99999999999999.99, 9007199254740993, 1e15 + 0.3,
      100, 1000000, 12.5, 0.5, 0.25, 0.125, 1 - 2 ** -53, 1 + 2 ** -52,
    ];
    for (const v of cases) assert.equal(fmt(v), jsStr(v), `v=${v}`);
    for (let e = -1074; e <= 1023; e++) {
      for (const m of [1, 3, 1 - 2 ** -53, 1.5]) {
        const v = 2 ** e * m;
        if (Number.isFinite(v)) assert.equal(fmt(v), jsStr(v), `2^${e}·${m}`);
      }
    }
  });

  it('random doubles (fc.double, raw bits, short decimals, neighbours)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), bitsDouble, shortDecimal, neighbour), (v) => {
        assert.equal(fmt(v), jsStr(v));
      }),
      { numRuns: 20000 },
    );
  });

  it('a dense seeded sweep over typical metric magnitudes', () => {
    // xorshift: deterministic and fast enough for ~200k checks
    let s = 0x9e3779b9;
    const rnd = (): number => {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      return (s >>> 0) / 4294967296;
    };
    for (let i = 0; i < 200000; i++) {
      const v = (rnd() - 0.5) * 10 ** Math.floor(rnd() * 30 - 10);
      const got = fmt(v);
      if (got !== jsStr(v)) assert.equal(got, jsStr(v));
    }
  });

  it('never exceeds MAX_NUMBER_BYTES', () => {
    for (const v of [-1.2345678901234567e-308, -2.2250738585072014e-308, -1.7976931348623157e308, -0.0000012345678901234567, -123456789012345680000]) {
      assert.ok(writeFloat(buf, 0, v) <= MAX_NUMBER_BYTES);
      for (let d = 1; d <= 17; d++) assert.ok(writeFloatDigits(buf, 0, v, d) <= MAX_NUMBER_BYTES);
    }
  });
});

describe('encode: writeFloatDigits (floatDigits: N)', () => {
  it('documented examples', () => {
    assert.equal(fmtN(3.14159265, 6), '3.14159');
    assert.equal(fmtN(1234567, 6), '1234570');
    assert.equal(fmtN(0.000012345678, 6), '0.0000123457');
    assert.equal(fmtN(1e-9 / 3, 6), '3.33333e-10');
    assert.equal(fmtN(2.5, 6), '2.5');
    assert.equal(fmtN(-0, 6), '-0');
    assert.equal(fmt(-0), '-0');
    assert.equal(fmt(0), '0');
    assert.equal(fmtN(0.1 + 0.2, 15), '0.3');
    assert.equal(fmtN(0.1 + 0.2, 17), '0.30000000000000004');
    assert.equal(fmtN(9.5, 1), '10'); // toPrecision gives "1e+1": same decimal
    assert.equal(fmtN(-2.5, 1), '-3'); // half away from zero, like toPrecision
    assert.equal(fmtN(1.5e300, 3), '1.5e+300');
  });

  it('equals the toPrecision decimal, trimmed (and String(Number(toPrecision)) for N <= 15)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), bitsDouble, shortDecimal, neighbour), fc.integer({ min: 1, max: 17 }), (v, d) => {
        const got = fmtN(v, d);
        assert.equal(got, refDigits(v, d));
        // beyond the double range toPrecision's decimal no longer parses back to a finite double
        if (d <= 15 && !Object.is(v, -0) && Math.abs(v) < 1e300 && Math.abs(v) > 1e-300) assert.equal(got, String(Number(v.toPrecision(d))));
      }),
      { numRuns: 20000 },
    );
  });

  it('rounding ties go away from zero on the exact binary value', () => {
    for (const [v, d, out] of [
      [0.5, 1, '0.5'],
      [1.5, 1, '2'],
      [2.5, 1, '3'],
      [0.125, 2, '0.13'],
      [0.375, 2, '0.38'],
      [999999.5, 6, '1000000'],
      [1.0000000000000002, 17, '1.0000000000000002'],
    ] as const) {
      assert.equal(fmtN(v, d), out, `${v} @${d}`);
      assert.equal(fmtN(v, d), refDigits(v, d));
    }
  });
});

describe('encode: integer writers', () => {
  it('writeInt/writeUint match String for safe integers', () => {
    fc.assert(
      fc.property(fc.maxSafeInteger(), (v) => {
        assert.equal(dec.decode(buf.subarray(0, writeInt(buf, 0, v))), String(v));
        assert.equal(dec.decode(buf.subarray(0, writeUint(buf, 0, Math.abs(v)))), String(Math.abs(v)));
      }),
      { numRuns: 5000 },
    );
    for (const v of [0, -0, 9, 10, 2147483647, 2147483648, 2 ** 53, -(2 ** 53 - 1), 99999999, 100000000]) {
      assert.equal(dec.decode(buf.subarray(0, writeInt(buf, 0, v))), String(v));
    }
  });
});
