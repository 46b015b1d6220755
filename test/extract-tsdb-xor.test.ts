/**
 * The snapshot path's XOR readers — the JS one (src/extract/tsdb/xor-fast.ts) and the
 * WebAssembly one workers use (src/extract/tsdb/xor-wasm.ts) — against the encoder and the
 * remote-read reader: identical timestamps and value bits on arbitrary series, and a clear error on
 * truncated chunks. Both CRC-32C implementations against the byte-wise one. The WebAssembly
 * decodeRun (a series run of framed chunks in one call) against the remote-read reader, and its
 * report of the first chunk that is not as planned.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeXorChunk, encodeXorChunk, XorChunkError } from '../src/extract/prometheus/decode/xor.js';
import { decodeXorFast } from '../src/extract/tsdb/xor-fast.js';
import { crc32c } from '../src/extract/prometheus/decode/crc32c.js';
import { crc32cFast } from '../src/extract/tsdb/crc32c-fast.js';
import { RUN_ROW, xorWasm } from '../src/extract/tsdb/xor-wasm.js';

const wasm = xorWasm();

/** The WebAssembly reader on chunk bytes [start, end) of buf, loaded as the filler loads a task's bytes. */
function decodeWasm(buf: Uint8Array, start: number, end: number, w: { sample(t: number, v: number): void }): number {
  assert.ok(wasm, 'dist/src/extract/tsdb/wasm/xor.wasm is missing (npm run build)');
  wasm.load(buf, 0, buf.length);
  const n = wasm.decode(start, end);
  for (let i = 0; i < n; i++) w.sample(wasm.ts[i]!, wasm.vs[i]!);
  return n;
}

function collect(fn: (w: { sample(t: number, v: number): void }) => number): { ts: number[]; bits: string[]; n: number } {
  const ts: number[] = [];
  const bits: string[] = [];
  const f = new Float64Array(1);
  const u = new BigUint64Array(f.buffer);
  const n = fn({
    sample(t, v) {
      ts.push(t);
      f[0] = v;
      bits.push(u[0]!.toString(16));
    },
  });
  return { ts, bits, n };
}

const value = fc.oneof(
  fc.double(),
  fc.integer({ min: -1e6, max: 1e6 }).map((x) => x / 8),
  fc.constantFrom(0, -0, NaN, Infinity, -Infinity, 1e-310, Number.MAX_VALUE),
);

test('the fast XOR readers (JS and WebAssembly) return exactly what the encoder wrote and what the remote-read reader reads', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: -2e12, max: 2e12 }),
      fc.array(fc.tuple(fc.oneof(fc.constant(15_000), fc.integer({ min: 1, max: 40_000 }), fc.integer({ min: 1, max: 2 ** 40 })), value), { minLength: 1, maxLength: 300 }),
      (t0, steps) => {
        const ts: number[] = [];
        const vs: number[] = [];
        let t = t0;
        for (const [d, v] of steps) {
          ts.push(t);
          vs.push(v);
          t += d;
        }
        const chunk = encodeXorChunk(ts, vs);
        const padded = new Uint8Array(chunk.length + 7);
        padded.set(chunk, 3);
        const fast = collect((w) => decodeXorFast(padded, 3, 3 + chunk.length, w));
        const ref = collect((w) => decodeXorChunk(chunk, 0, chunk.length, w));
        // followed by unrelated bytes, as a chunk in a segment file is (its CRC, the next chunk)
        const inFile = new Uint8Array(chunk.length + 40).fill(0xa5);
        inFile.set(chunk, 3);
        const viaWasm = collect((w) => decodeWasm(inFile, 3, 3 + chunk.length, w));
        assert.equal(fast.n, ts.length);
        assert.deepEqual(fast.ts, ts);
        assert.deepEqual(fast.ts, ref.ts);
        assert.deepEqual(fast.bits, ref.bits);
        assert.deepEqual(viaWasm, fast);
      },
    ),
    { numRuns: 400 },
  );
});

test('a truncated XOR chunk is an error, not fewer samples', () => {
  const ts = Array.from({ length: 120 }, (_, i) => 1_700_000_000_000 + i * 15_000 + (i % 7));
  const vs = ts.map((_, i) => Math.sin(i) * 1000);
  const chunk = encodeXorChunk(ts, vs);
  for (const cut of [1, 3, 20, chunk.length - 5]) {
    if (cut >= 2) assert.throws(() => decodeXorFast(chunk, 0, cut, { sample() {} }), XorChunkError, `cut at ${cut}`);
    // the WebAssembly reader, on the same bytes followed by zeros and by garbage
    for (const fill of [0, 0xff]) {
      const b = new Uint8Array(chunk.length + 64).fill(fill);
      b.set(chunk.subarray(0, cut));
      assert.throws(() => decodeWasm(b, 0, cut, { sample() {} }), XorChunkError, `wasm, cut at ${cut}, fill ${fill}`);
    }
  }
});

test('the slicing-by-8 CRC-32C (JS and WebAssembly) equals the byte-wise one on any bytes and any sub-range', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), fc.nat(), (b, x, y) => {
      const a = b.length ? x % (b.length + 1) : 0;
      const z = a + (b.length - a ? y % (b.length - a + 1) : 0);
      assert.equal(crc32cFast(b, a, z), crc32c(b, a, z));
      wasm!.load(b, 0, b.length);
      assert.equal(wasm!.crc32c(a, z), crc32c(b, a, z));
    }),
    { numRuns: 500 },
  );
  // the standard check value of CRC-32C
  assert.equal(crc32cFast(new TextEncoder().encode('123456789'), 0, 9), 0xe3069283);
  wasm!.load(new TextEncoder().encode('123456789'), 0, 9);
  assert.equal(wasm!.crc32c(0, 9), 0xe3069283);
});

/** A chunk as a segment file holds it: len uvarint | encoding | data | CRC-32C (big-endian) of encoding + data. */
function frame(data: Uint8Array, enc = 1): Uint8Array {
  const len: number[] = [];
  let n = data.length;
  while (n >= 0x80) {
    len.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  len.push(n);
  const out = new Uint8Array(len.length + 1 + data.length + 4);
  out.set(len);
  out[len.length] = enc;
  out.set(data, len.length + 1);
  new DataView(out.buffer).setUint32(out.length - 4, crc32c(out, len.length, len.length + 1 + data.length));
  return out;
}

/** Frames `chunks` one after the other (with `gap` filler bytes between), loads them, fills runTable; returns the rows' byte offsets. */
function loadRun(chunks: Array<{ data: Uint8Array; samples: number; enc?: number }>, gap: number): { offsets: number[]; bytes: Uint8Array } {
  const framed = chunks.map((c) => frame(c.data, c.enc));
  const bytes = new Uint8Array(framed.reduce((a, f) => a + f.length + gap, 0)).fill(0xa5);
  const offsets: number[] = [];
  let at = 0;
  for (const f of framed) {
    offsets.push(at);
    bytes.set(f, at);
    at += f.length + gap;
  }
  wasm!.load(bytes, 0, bytes.length);
  chunks.forEach((c, k) => {
    wasm!.runTable[k * RUN_ROW] = wasm!.at(offsets[k]!);
    wasm!.runTable[k * RUN_ROW + 1] = framed[k]!.length;
    wasm!.runTable[k * RUN_ROW + 2] = c.samples;
  });
  return { offsets, bytes };
}

// steps of 0 (a repeated timestamp) and chunks starting before the previous one ends: runs that do not increase
const seriesArb = fc.array(
  fc.tuple(fc.integer({ min: -5_000, max: 40_000 }), fc.array(fc.tuple(fc.oneof(fc.constant(15_000), fc.integer({ min: 1, max: 40_000 }), fc.constant(0)), value), { minLength: 1, maxLength: 200 })),
  { minLength: 1, maxLength: 8 },
);

test('decodeRun: a series run of framed chunks decodes in one call to exactly what the remote-read reader reads, and says whether its timestamps strictly increase', () => {
  assert.ok(wasm, 'dist/src/extract/tsdb/wasm/xor.wasm is missing (npm run build)');
  fc.assert(
    fc.property(fc.integer({ min: 1_600_000_000_000, max: 1_800_000_000_000 }), seriesArb, fc.integer({ min: 0, max: 9 }), (t0, spec, gap) => {
      const chunks: Array<{ data: Uint8Array; samples: number }> = [];
      const wantTs: number[] = [];
      const wantBits: string[] = [];
      let t = t0;
      for (const [jump, steps] of spec) {
        t += jump;
        const ts: number[] = [];
        const vs: number[] = [];
        for (const [d, v] of steps) {
          ts.push(t);
          vs.push(v);
          t += d;
        }
        const data = encodeXorChunk(ts, vs);
        const ref = collect((w) => decodeXorChunk(data, 0, data.length, w));
        wantTs.push(...ref.ts);
        wantBits.push(...ref.bits);
        chunks.push({ data, samples: ts.length });
      }
      loadRun(chunks, gap);
      const n = wasm!.decodeRun(0, chunks.length);
      assert.equal(n, wantTs.length);
      const got = collect((w) => {
        for (let i = 0; i < n; i++) w.sample(wasm!.runTs[i]!, wasm!.runVs[i]!);
        return n;
      });
      assert.deepEqual(got.ts, wantTs);
      assert.deepEqual(got.bits, wantBits);
      assert.equal(wasm!.runIncreasing, wantTs.every((x, i) => i === 0 || x > wantTs[i - 1]!));
    }),
    { numRuns: 300 },
  );
});

test('decodeRun: a chunk that is not as planned (CRC, size, encoding, sample count, truncated data) is reported by its index', () => {
  assert.ok(wasm);
  const mk = (from: number) => {
    const ts = Array.from({ length: 120 }, (_, i) => from + i * 15_000);
    return { data: encodeXorChunk(ts, ts.map((_, i) => Math.sin(i) * 100)), samples: 120 };
  };
  const good = () => [mk(1.7e12), mk(1.7e12 + 1.8e6), mk(1.7e12 + 3.6e6)];
  loadRun(good(), 0);
  assert.equal(wasm!.decodeRun(0, 3), 360);
  // flipped data byte in chunk 1: CRC mismatch
  {
    const { offsets, bytes } = loadRun(good(), 0);
    bytes[offsets[1]! + 20]! ^= 0x10;
    wasm!.load(bytes, 0, bytes.length);
    assert.equal(wasm!.decodeRun(0, 3), -2);
  }
  // planned bytes differ from the chunk's own length
  loadRun(good(), 0);
  wasm!.runTable[2 * RUN_ROW + 1]! += 1;
  assert.equal(wasm!.decodeRun(0, 3), -3);
  // planned sample count differs from the chunk's header
  loadRun(good(), 0);
  wasm!.runTable[0 * RUN_ROW + 2] = 119;
  assert.equal(wasm!.decodeRun(0, 3), -1);
  // a native-histogram encoding byte (valid CRC)
  const hist = good();
  loadRun([hist[0]!, { ...hist[1]!, enc: 2 }, hist[2]!], 0);
  assert.equal(wasm!.decodeRun(0, 3), -2);
  // XOR data cut short (framed and CRC'd as it is): the decoder's "ends early"
  const cut = good();
  cut[2] = { data: cut[2]!.data.subarray(0, 60), samples: 120 };
  loadRun(cut, 0);
  assert.equal(wasm!.decodeRun(0, 3), -3);
});
