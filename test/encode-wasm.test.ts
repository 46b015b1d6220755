/**
 * The WebAssembly line-protocol encoder (src/encode/wasm/lineprotocol.as.ts via wasm-lines.ts)
 * against the references it must match byte for byte: String(v) for every double, and the JS
 * LineWriter path of the SeriesEncoder for whole batches (fields, ints, flags, NaN, halo and
 * dropped rows, every precision, runs longer than the module's output region).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { allocBatch, FLAG_DROPPED, FLAG_HALO, RUN_STRIDE, seriesKey, viewBatch, type BatchView } from '../src/batch/layout.js';
import { LineWriter, type Precision } from '../src/encode/lineprotocol.js';
import type { RequestCuts, RequestLimits } from '../src/encode/request-cuts.js';
import { planRequests } from '../src/load/influx/lines.js';
import { writeFloat } from '../src/encode/float.js';
import { createSeriesEncoder, type EncodeSpec } from '../src/encode/series.js';
import { useWasmLines, wasmLines } from '../src/encode/wasm-lines.js';
import { mulberry32 } from '../src/util/random.js';
import type { SchemaMappingConfig } from '../src/encode/schema-map.js';

const wasm = wasmLines();

/** What the JS writer (and so String(v), but -0 → "-0") produces for v. */
const jsBuf = new Uint8Array(64);
function jsText(v: number): string {
  return Buffer.from(jsBuf.buffer, 0, writeFloat(jsBuf, 0, v)).toString('latin1');
}
function expected(v: number): string {
  return Object.is(v, -0) ? '-0' : String(v);
}

describe('WebAssembly float formatting', () => {
  it('is built (npm run build compiles src/encode/wasm/lineprotocol.as.ts)', () => {
    assert.ok(wasm, 'dist/src/encode/wasm/lineprotocol.wasm is missing');
  });

  it('writes String(v) for 3 million seeded doubles: random bit patterns, integers, short and long decimals, subnormals, huge and tiny', () => {
    const w = wasm!;
    const rnd = mulberry32(16_2026);
    const f = new Float64Array(1);
    const u = new Uint32Array(f.buffer);
    const mismatches: string[] = [];
    let checked = 0;
    const check = (v: number): void => {
      if (!Number.isFinite(v)) return;
      checked++;
      const got = w.formatFloat(v);
      const want = expected(v);
      if (got !== want && mismatches.length < 10) mismatches.push(`${want} (bits ${u[1]!.toString(16)}:${u[0]!.toString(16)}) → ${got}`);
    };
    const bits = (hi: number, lo: number): number => {
      u[1] = hi >>> 0;
      u[0] = lo >>> 0;
      return f[0]!;
    };
    for (let i = 0; i < 1_400_000; i++) check(bits(rnd() * 2 ** 32, rnd() * 2 ** 32));
    for (let i = 0; i < 200_000; i++) {
      check(bits((rnd() * 2 ** 20) >>> 0, rnd() * 2 ** 32)); // subnormals and the smallest normals
      check(bits(0x7fe00000 + ((rnd() * 2 ** 20) >>> 0), rnd() * 2 ** 32)); // the largest binade
      check(Math.floor(rnd() * 2 ** 53)); // integers
      check(Math.floor(rnd() * 2 ** 53) * 2 ** Math.floor(rnd() * 20)); // integers past 2^53 (1e21 switches to e+)
    }
    for (let i = 0; i < 300_000; i++) {
      const places = 1 + Math.floor(rnd() * 8);
      const scale = 10 ** Math.floor(rnd() * 12);
      check(Math.round(rnd() * scale * 10 ** places) / 10 ** places); // short decimals: 64.433, 0.25, 12.5
      check(-(Math.round(rnd() * 1e6) / 10 ** places));
      check(rnd() * 10 ** (Math.floor(rnd() * 60) - 30)); // full-precision values around every layout switch
    }
    for (let e = -325; e <= 309; e++) {
      for (const m of [1, 2, 5, 9.999999999999999, 1.0000000000000002, 4.35, 0.1]) {
        const v = m * 10 ** e;
        check(v);
        check(-v);
        f[0] = v;
        if (Number.isFinite(v) && v > 0) {
          const lo = u[0]!;
          u[0] = lo + 1;
          check(f[0]!);
          u[0] = lo - 1;
          check(f[0]!);
        }
      }
    }
    for (let e = -1074; e <= 1023; e++) check(2 ** e);
    for (const v of [0, -0, 5e-324, -5e-324, Number.MIN_VALUE, Number.MAX_VALUE, 2 ** 53, 2 ** 53 + 2, 1e21, 1e21 - 65536, 1e-7, 1.5e-7, 1e-6, 0.1 + 0.2, 123456789012345680000]) check(v);
    assert.deepEqual(mismatches, []);
    assert.ok(checked > 3_000_000, `checked ${checked}`);
  });

  it('matches the JS writer on the values metrics carry, including -0', () => {
    const w = wasm!;
    for (const v of [-0, 0, 1, -1, 0.5, 64.433, 1e-9 / 3, 12345.678901234567, 9007199254740993, 1e300, -1e-300]) {
      assert.equal(w.formatFloat(v), jsText(v), String(v));
    }
  });
});

interface Scene {
  runs: Array<{ series: number; rows: Array<{ t: number; v: number; f: number[]; halo: boolean; dropped: boolean; bits: number }> }>;
  keys: string[];
  nFeatures: number;
}

function buildBatch(scene: Scene): BatchView {
  const n = scene.runs.reduce((a, r) => a + r.rows.length, 0);
  const desc = allocBatch(1, 'c', Math.max(1, n), Math.max(1, scene.runs.length));
  desc.seriesKeys.push(...scene.keys);
  desc.seriesKinds.push(...scene.keys.map(() => 0));
  const ts = new Float64Array(desc.ts);
  const value = new Float64Array(desc.value);
  const flags = new Uint32Array(desc.flags);
  const series = new Uint32Array(desc.series);
  const runs = new Uint32Array(desc.runs);
  let i = 0;
  scene.runs.forEach((r, k) => {
    runs[k * RUN_STRIDE] = r.series;
    runs[k * RUN_STRIDE + 1] = i;
    runs[k * RUN_STRIDE + 2] = 0;
    runs[k * RUN_STRIDE + 3] = r.rows.length;
    for (const row of r.rows) {
      ts[i] = row.t;
      value[i] = row.v;
      flags[i] = (row.halo ? FLAG_HALO : 0) | (row.dropped ? FLAG_DROPPED : 0) | (row.bits << 8);
      series[i] = r.series;
      i++;
    }
  });
  desc.length = n;
  desc.runCount = scene.runs.length;
  return viewBatch(desc);
}

function featuresOf(scene: Scene, length: number): Float64Array[] {
  const cols = Array.from({ length: scene.nFeatures }, () => new Float64Array(Math.max(1, length)));
  let i = 0;
  for (const r of scene.runs) {
    for (const row of r.rows) {
      for (let f = 0; f < scene.nFeatures; f++) cols[f]![i] = row.f[f] ?? NaN;
      i++;
    }
  }
  return cols;
}

/** Encode a batch on one path; everything the worker reads back from the encoder. */
function encodeWith(wasmOn: boolean, spec: EncodeSpec, names: string[], view: BatchView, features: Float64Array[], limits?: RequestLimits) {
  const was = useWasmLines(wasmOn);
  try {
    const enc = createSeriesEncoder(spec, names);
    const w = new LineWriter({ precision: spec.precision, floatDigits: spec.floatDigits, initialBytes: 64 });
    const dropped: Record<string, number> = {};
    const emitted = new Uint8Array(view.desc.seriesKeys.length);
    const out = enc.encode(w, view, features, dropped, emitted);
    const lines = w.lines;
    const cuts = limits ? w.cuts(limits) : null;
    const bytes = w.take();
    return { out, lines, text: Buffer.from(bytes).toString('utf8'), dropped, emitted: [...emitted], cuts, bytes };
  } finally {
    useWasmLines(was);
  }
}

const doubleArb = fc.oneof(
  fc.double({ noDefaultInfinity: false }),
  fc.integer({ min: -1e6, max: 1e6 }).map((x) => x / 100),
  fc.constantFrom(NaN, Infinity, -Infinity, -0, 0, 1e21, 5e-324, 2 ** 63, -(2 ** 63), 9.3e18, 0.5, -2.5),
);

const sceneArb = fc
  .record({
    nSeries: fc.integer({ min: 1, max: 4 }),
    nFeatures: fc.integer({ min: 0, max: 4 }),
  })
  .chain(({ nSeries, nFeatures }) =>
    fc.record({
      nFeatures: fc.constant(nFeatures),
      keys: fc.constant(Array.from({ length: nSeries }, (_, s) => seriesKey(s === 2 ? 'weird metric,x' : `m${s}`, { job: s === 3 ? 'a b=c' : 'node', instance: `h${s}` }))),
      runs: fc.array(
        fc.record({
          series: fc.integer({ min: 0, max: nSeries - 1 }),
          rows: fc.array(
            fc.record({
              t: fc.oneof(fc.integer({ min: -2e12, max: 4e12 }), fc.constantFrom(0, 1_717_200_000_123, -1500, 1.5)),
              v: doubleArb,
              f: fc.array(doubleArb, { minLength: nFeatures, maxLength: nFeatures }),
              halo: fc.boolean(),
              dropped: fc.boolean(),
              bits: fc.constantFrom(0, 0, 0, 1, 5, 0xffff),
            }),
            { maxLength: 30 },
          ),
        }),
        { maxLength: 6 },
      ),
    }),
  );

const mapping = (integer: string[]): SchemaMappingConfig => ({
  measurement: { default: '${name}', rename: {}, rules: [], exclude: [] },
  tags: { deny: [], rename: {} },
  fields: { rename: {}, integer, exclude: [] },
});

describe('WebAssembly row loop in the SeriesEncoder', () => {
  it('writes the same bytes, lines, drops and emitted series as the JS writer for random batches (floats, ints, flags, NaN, halo, every precision)', () => {
    assert.ok(wasm);
    fc.assert(
      fc.property(sceneArb, fc.constantFrom<Precision>('ms', 's', 'us', 'ns'), fc.boolean(), fc.constantFrom(0, 1, 2), (scene, precision, flagsField, ints) => {
        const names = Array.from({ length: scene.nFeatures }, (_, f) => `f${f}`);
        const integer = ints === 0 ? [] : ints === 1 ? ['value'] : ['f0', 'f2'];
        const spec: EncodeSpec = { precision, floatDigits: 0, valueField: 'value', flagsField, ...(integer.length ? { schema: mapping(integer) } : {}) };
        const view = buildBatch(scene);
        const feats = featuresOf(scene, view.length);
        const a = encodeWith(true, spec, names, view, feats);
        const b = encodeWith(false, spec, names, view, feats);
        assert.deepEqual(a, b);
      }),
      { numRuns: 300 },
    );
  });

  it('request cuts from the recorded line ends equal the sink\'s byte scan (planRequests), wasm and JS, for random batches and limits', () => {
    const asCuts = (p: ReturnType<typeof planRequests>): { ends: number[]; lines: number[] } => ({ ends: p.ends, lines: p.lines });
    const plain = (c: RequestCuts | null) => (c ? { ends: [...c.ends], lines: [...c.lines] } : null);
    fc.assert(
      fc.property(sceneArb, fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 4000 }), fc.boolean(), (scene, maxLines, maxBytes, wasmOn) => {
        const names = Array.from({ length: scene.nFeatures }, (_, f) => `f${f}`);
        const spec: EncodeSpec = { precision: 'ns', floatDigits: 0, valueField: 'value', flagsField: true };
        const view = buildBatch(scene);
        const r = encodeWith(wasmOn, spec, names, view, featuresOf(scene, view.length), { lines: maxLines, bytes: maxBytes });
        const scan = planRequests(r.bytes, maxLines, maxBytes);
        assert.equal(scan.totalLines, r.lines);
        assert.deepEqual(plain(r.cuts), asCuts(scan));
      }),
      { numRuns: 300 },
    );
  });

  it('request cuts of a run written in several passes of the 1 MiB output region match the byte scan', () => {
    const rnd = mulberry32(11);
    const rows = Array.from({ length: 30_000 }, (_, k) => ({ t: 1_717_200_000_000 + k * 15_000, v: rnd() * 1e6, f: [rnd()], halo: k < 5, dropped: k % 89 === 0, bits: 0 }));
    const scene: Scene = { keys: [seriesKey('cut_metric', { instance: '10.0.0.1:9100', job: 'node' })], nFeatures: 1, runs: [{ series: 0, rows }] };
    const view = buildBatch(scene);
    const spec: EncodeSpec = { precision: 'ns', floatDigits: 0, valueField: 'value', flagsField: false };
    for (const limits of [{ lines: 5000, bytes: 10_000_000 }, { lines: 5000, bytes: 100_000 }, { lines: 7, bytes: 1024 }]) {
      const r = encodeWith(true, spec, ['mean'], view, featuresOf(scene, view.length), limits);
      assert.ok(r.bytes.length > 2 ** 21, `only ${r.bytes.length} bytes`);
      const scan = planRequests(r.bytes, limits.lines, limits.bytes);
      assert.deepEqual({ ends: [...r.cuts!.ends], lines: [...r.cuts!.lines] }, { ends: scan.ends, lines: scan.lines });
    }
  });

  it('writes a run longer than its 1 MiB output region in several passes, byte-identical', () => {
    const rnd = mulberry32(7);
    const rows = Array.from({ length: 40_000 }, (_, k) => ({ t: 1_717_200_000_000 + k * 15_000, v: rnd() * 1e6, f: [rnd(), Math.round(rnd() * 1e4) / 100], halo: false, dropped: k % 97 === 0, bits: 0 }));
    const scene: Scene = { keys: [seriesKey('long_metric_name_for_a_long_line', { instance: '10.0.0.1:9100', job: 'node' })], nFeatures: 2, runs: [{ series: 0, rows }] };
    const view = buildBatch(scene);
    const feats = featuresOf(scene, view.length);
    const spec: EncodeSpec = { precision: 'ns', floatDigits: 0, valueField: 'value', flagsField: false };
    const a = encodeWith(true, spec, ['mean', 'pct'], view, feats);
    const b = encodeWith(false, spec, ['mean', 'pct'], view, feats);
    assert.ok(a.text.length > 2 ** 21, `only ${a.text.length} bytes`);
    assert.equal(a.lines, 40_000 - Math.ceil(40_000 / 97));
    assert.equal(a.text, b.text);
  });

  it('a timestamp that is not a finite epoch-ms value fails with the JS writer\'s error (PROMFLUX_ENCODE_TIMESTAMP)', () => {
    const scene: Scene = { keys: ['m'], nFeatures: 0, runs: [{ series: 0, rows: [{ t: 1, v: 1, f: [], halo: false, dropped: false, bits: 0 }, { t: NaN, v: 2, f: [], halo: false, dropped: false, bits: 0 }] }] };
    const view = buildBatch(scene);
    const spec: EncodeSpec = { precision: 'ms', floatDigits: 0, valueField: 'value', flagsField: false };
    assert.throws(() => encodeWith(true, spec, [], view, []), (err: Error & { code?: string }) => err.code === 'PROMFLUX_ENCODE_TIMESTAMP' && /not a finite epoch-ms value/.test(err.message));
  });
});
