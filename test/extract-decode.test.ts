/**
 * Decoder unit tests: number parsing (property-tested against Number()), the JSON scanner
 * (shapes, whitespace, key order, halo policy, malformed bodies at every cut point), XOR chunk
 * round trips, and remote-read framing with CRC and window trimming.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BatchBuilder } from '../src/batch/builder.js';
import { allocBatch, FLAG_HALO, RUN_STRIDE, SeriesKind, type BatchDescriptor } from '../src/batch/layout.js';
import { parseFloatBytes, parseTimestampMs } from '../src/extract/prometheus/decode/numbers.js';
import { decodePromJson } from '../src/extract/prometheus/decode/json.js';
import { RunWriter, kindOf, type WindowSpec } from '../src/extract/prometheus/decode/runs.js';
import { decodeXorChunk, encodeXorChunk } from '../src/extract/prometheus/decode/xor.js';
import { decodeStreamedChunks, decodeSamplesResponse } from '../src/extract/prometheus/decode/remote.js';
import { PbWriter } from '../src/extract/prometheus/decode/protobuf.js';
import { crc32c } from '../src/extract/prometheus/decode/crc32c.js';
import { promFillers } from '../src/extract/prometheus/fillers.js';
import { PromErrorCode } from '../src/extract/prometheus/errors.js';
import snappy from 'snappyjs';

const enc = (s: string) => {
  const b = Buffer.from(s, 'utf8');
  const u = new Uint8Array(new SharedArrayBuffer(b.length));
  u.set(b);
  return u;
};

interface Row {
  key: string;
  t: number;
  v: number;
  halo: boolean;
}

function rowsOf(d: BatchDescriptor): Row[] {
  const series = new Uint32Array(d.series, 0, d.length);
  const ts = new Float64Array(d.ts, 0, d.length);
  const val = new Float64Array(d.value, 0, d.length);
  const flags = new Uint32Array(d.flags, 0, d.length);
  const out: Row[] = [];
  for (let i = 0; i < d.length; i++) out.push({ key: d.seriesKeys[series[i]!]!, t: ts[i]!, v: val[i]!, halo: (flags[i]! & FLAG_HALO) !== 0 });
  return out;
}

const ALL: WindowSpec = { startMs: -1e15, endMs: 1e15, haloAll: true, haloSamples: 0, haloMs: 0 };

function decode(json: string, w: WindowSpec = ALL, kinds = {}) {
  const b = new BatchBuilder(allocBatch(1, 'c', 4, 1));
  const rw = new RunWriter(b, w);
  const stats = decodePromJson(enc(json), { query: 'q', chunkId: 'q:0-1', kinds }, rw);
  rw.end();
  return { stats, desc: b.finish(), rows: rowsOf(b.desc), sourceDropped: { ...b.sourceDropped }, sourceDroppedSeries: { ...b.sourceDroppedSeries } };
}

describe('number parsing', () => {
  const parse = (s: string) => {
    const u = enc(s);
    return parseFloatBytes(u, 0, u.length);
  };

  it('matches Number() for shortest, fixed and exponent renderings of any double', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true }), fc.integer({ min: 1, max: 21 }), (v, p) => {
        for (const s of [String(v), v.toPrecision(p), v.toExponential(Math.min(p, 20))]) {
          assert.ok(Object.is(parse(s), Number(s)), `${s}: ${parse(s)} vs ${Number(s)}`);
        }
        if (Math.abs(v) < 1e21) {
          const f = v.toFixed(Math.min(p, 20));
          assert.ok(Object.is(parse(f), Number(f)), f);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('matches Number() on decimal strings of random digits (fast path and fallback)', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^-?(0|[1-9][0-9]{0,25})(\.[0-9]{1,25})?(e[+-]?[0-9]{1,3})?$/), (s) => {
        assert.ok(Object.is(parse(s), Number(s)), `${s}: ${parse(s)} vs ${Number(s)}`);
      }),
      { numRuns: 3000 },
    );
  });

  it('reads Prometheus special values and rejects junk', () => {
    assert.ok(Number.isNaN(parse('NaN')));
    assert.equal(parse('+Inf'), Infinity);
    assert.equal(parse('-Inf'), -Infinity);
    assert.equal(parse('Inf'), Infinity);
    assert.ok(Object.is(parse('-0'), -0));
    assert.equal(parse('1e400'), Infinity);
    for (const bad of ['', '-', 'abc', '1.2.3', '1e', 'Nan', '--1', '0x10']) assert.equal(parse(bad), undefined, bad);
  });

  it('timestamps: seconds with up to 3 decimals become exact integer ms', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4_102_444_800_000 }), (ms) => {
        const s = Math.floor(ms / 1000);
        const f = ms % 1000;
        for (const txt of [f === 0 ? String(s) : `${s}.${String(f).padStart(3, '0')}`, `${s}.${String(f).padStart(3, '0')}`]) {
          const u = enc(txt);
          assert.equal(parseTimestampMs(u, 0, u.length), ms, txt);
        }
      }),
    );
    const t = (s: string) => parseTimestampMs(enc(s), 0, s.length);
    assert.equal(t('1700000000.1'), 1_700_000_000_100);
    assert.equal(t('1700000000.12'), 1_700_000_000_120);
    assert.equal(t('1.7e9'), 1_700_000_000_000);
    assert.equal(t('1700000000.1234'), 1_700_000_000_123);
    assert.equal(t('x'), undefined);
  });
});

describe('JSON decoder', () => {
  const matrix =
    '{"status":"success","data":{"resultType":"matrix","result":[' +
    '{"metric":{"__name__":"up","job":"a"},"values":[[1700000000,"1"],[1700000015.5,"NaN"],[1700000030.25,"+Inf"]]},' +
    '{"metric":{"job":"b"},"values":[[1700000000,"-2.5e-3"]]}]}}';

  it('decodes a matrix into runs with canonical keys, exact ms and special values', () => {
    const { rows, stats, desc } = decode(matrix);
    assert.equal(stats.series, 2);
    assert.equal(stats.samples, 4);
    assert.deepEqual(desc.seriesKeys, ['up{job="a"}', 'q{job="b"}']);
    assert.deepEqual(
      rows.map((r) => [r.key, r.t, r.v]),
      [
        ['up{job="a"}', 1_700_000_000_000, 1],
        ['up{job="a"}', 1_700_000_015_500, NaN],
        ['up{job="a"}', 1_700_000_030_250, Infinity],
        ['q{job="b"}', 1_700_000_000_000, -0.0025],
      ],
    );
    assert.equal(desc.runCount, 2);
    const runs = new Uint32Array(desc.runs, 0, desc.runCount * RUN_STRIDE);
    assert.deepEqual([...runs], [0, 0, 0, 3, 1, 3, 0, 1]);
  });

  it('accepts whitespace, other key orders, vectors and scalars', () => {
    const pretty = JSON.stringify(JSON.parse(matrix), null, 2);
    assert.deepEqual(decode(pretty).rows, decode(matrix).rows);
    const reordered = '{"data":{"result":[{"values":[[1,"2"]],"metric":{"__name__":"m"}}],"resultType":"matrix"},"status":"success","warnings":["w"]}';
    const r = decode(reordered);
    assert.deepEqual(r.rows.map((x) => [x.key, x.t, x.v]), [['m', 1000, 2]]);
    assert.deepEqual(r.stats.warnings, ['w']);
    const vec = '{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"m","a":"x"},"value":[10.001,"3"]}]}}';
    assert.deepEqual(decode(vec).rows.map((x) => [x.key, x.t, x.v]), [['m{a="x"}', 10_001, 3]]);
    const scalar = '{"status":"success","data":{"resultType":"scalar","result":[5,"7"]}}';
    assert.deepEqual(decode(scalar).rows.map((x) => [x.key, x.t, x.v]), [['q', 5000, 7]]);
    const empty = '{"status":"success","data":{"resultType":"matrix","result":[]}}';
    assert.equal(decode(empty).rows.length, 0);
    const hist = '{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"h"},"histograms":[[1,{"count":"1"}]]}]}}';
    assert.equal(decode(hist).stats.histogramsSkipped, 1);
  });

  it('escaped label values survive into the series key', () => {
    const j = '{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"m","p":"a\\"b\\\\c\\u00e9"},"values":[[1,"1"]]}]}}';
    assert.equal(decode(j).rows[0]!.key, 'm{p="a\\"b\\\\cé"}');
  });

  it('range halo: rows before startMs are halo, rows at/after endMs are left to the next chunk', () => {
    const j = '{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"m"},"values":[[1,"1"],[2,"2"],[3,"3"],[4,"4"],[5,"5"]]},{"metric":{"__name__":"old"},"values":[[1,"1"]]}]}}';
    const { rows, desc } = decode(j, { startMs: 3000, endMs: 5000, haloAll: true, haloSamples: 0, haloMs: 0 });
    assert.deepEqual(rows.map((r) => [r.t, r.halo]), [[1000, true], [2000, true], [3000, false], [4000, false]]);
    // a series with only halo rows leaves nothing behind, not even a key
    assert.deepEqual(desc.seriesKeys, ['m']);
  });

  it('raw halo: keeps every row within haloMs, plus haloSamples more before them (halos add up along the chain)', () => {
    const vals = Array.from({ length: 20 }, (_, i) => `[${i + 1},"${i}"]`).join(',');
    const j = `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"m"},"values":[${vals}]}]}}`;
    const halo = (haloSamples: number, haloMs: number) =>
      decode(j, { startMs: 15_000, endMs: 17_000, haloAll: false, haloSamples, haloMs })
        .rows.filter((r) => r.halo)
        .map((r) => r.t / 1000);
    assert.deepEqual(halo(3, 0), [12, 13, 14]);
    assert.deepEqual(halo(1, 5000), [9, 10, 11, 12, 13, 14]);
    assert.deepEqual(halo(0, 5000), [10, 11, 12, 13, 14]);
    assert.deepEqual(halo(0, 0), []);
    assert.deepEqual(halo(100, 0), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
    // look-ahead: rows in [endMs, endMs + lookaheadMs) follow the run's own rows as context
    const rows = decode(j, { startMs: 15_000, endMs: 17_000, haloAll: false, haloSamples: 0, haloMs: 0, lookaheadMs: 2000 }).rows;
    assert.deepEqual(rows.map((r) => [r.t / 1000, r.halo]), [[15, false], [16, false], [17, true], [18, true]]);
  });

  it('a repeated or backwards timestamp in a series is not lost silently: counted as a source drop', () => {
    const j = '{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"m"},"values":[[1,"1"],[2,"2"],[2,"2.5"],[1.5,"3"],[3,"4"]]}]}}';
    const d = decode(j);
    assert.deepEqual(d.rows.map((r) => r.t), [1000, 2000, 3000]);
    assert.deepEqual(d.sourceDropped, { duplicate_timestamp: 1, out_of_order: 1 });
    // and the series is named, for the once-per-series warn log
    assert.deepEqual(d.sourceDroppedSeries, { duplicate_timestamp: ['m'], out_of_order: ['m'] });
  });

  it('metric kinds come from metadata, with histogram/counter suffix rules', () => {
    const kinds = { http_requests: 'counter', lat: 'histogram', temp: 'gauge' } as const;
    assert.equal(kindOf('temp', kinds), SeriesKind.gauge);
    assert.equal(kindOf('http_requests_total', kinds), SeriesKind.counter);
    assert.equal(kindOf('lat_bucket', kinds), SeriesKind.counter);
    assert.equal(kindOf('lat_count', kinds), SeriesKind.counter);
    assert.equal(kindOf('foo_total', {}), SeriesKind.counter);
    assert.equal(kindOf('foo', {}), SeriesKind.unknown);
    const j = '{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"temp"},"values":[[1,"1"]]}]}}';
    assert.deepEqual(decode(j, ALL, kinds).desc.seriesKinds, [SeriesKind.gauge]);
  });

  it('rejects HTML, error status and every truncation of a valid body with a clear SourceError', () => {
    const expectErr = (body: string, code: string, re: RegExp) =>
      assert.throws(() => decode(body), (e: Error & { code?: string }) => {
        assert.equal(e.code, code, `${e.message} for ${JSON.stringify(body.slice(0, 60))}`);
        assert.match(e.message, re);
        assert.match(e.message, /query "q" chunk q:0-1/);
        return true;
      });
    expectErr('<!DOCTYPE html><html><body>502 Bad Gateway</body></html>', PromErrorCode.badResponse, /HTML/);
    expectErr('', PromErrorCode.badResponse, /empty/);
    expectErr('{"status":"error","errorType":"bad_data","error":"parse error at char 5"}', PromErrorCode.queryError, /bad_data: parse error/);
    expectErr(matrix + 'x', PromErrorCode.badResponse, /malformed/);
    for (let cut = 1; cut < matrix.length; cut++) {
      assert.throws(
        () => decode(matrix.slice(0, cut)),
        (e: Error & { code?: string }) => e.code === PromErrorCode.badResponse,
        `cut at ${cut}: ${matrix.slice(0, cut)}`,
      );
    }
  });

  it('decodes arbitrary generated matrices exactly like JSON.parse would', () => {
    const sample = fc.tuple(fc.integer({ min: 0, max: 2_000_000_000_000 }), fc.oneof(fc.double(), fc.constantFrom(NaN, Infinity, -Infinity)));
    const series = fc.record({ job: fc.string({ maxLength: 8 }), samples: fc.array(sample, { maxLength: 30 }) });
    fc.assert(
      fc.property(fc.array(series, { maxLength: 6 }), (list) => {
        const fmt = (v: number) => (Number.isNaN(v) ? 'NaN' : v === Infinity ? '+Inf' : v === -Infinity ? '-Inf' : String(v));
        const ts = (ms: number) => (ms % 1000 === 0 ? String(ms / 1000) : `${Math.floor(ms / 1000)}.${String(ms % 1000).padStart(3, '0')}`);
        const body = JSON.stringify({
          status: 'success',
          data: {
            resultType: 'matrix',
            result: list.map((s, i) => ({
              metric: { __name__: 'm', i: String(i), job: s.job },
              values: [...new Map(s.samples.map(([t, v]) => [t, v])).entries()].sort((a, b) => a[0] - b[0]).map(([t, v]) => ['\u00a7' + ts(t), fmt(v)]),
            })),
          },
        }).replace(/"\u00a7([0-9.]+)"/g, '$1'); // § marks timestamps to unquote: job labels are ASCII, so never match
        const got = decode(body).rows.map((r) => [r.key, r.t, r.v]);
        const doc = JSON.parse(body) as { data: { result: Array<{ metric: Record<string, string>; values: Array<[number, string]> }> } };
        const want: Array<[string, number, number]> = [];
        for (const s of doc.data.result) {
          const key = `m{i=${JSON.stringify(s.metric.i)},job=${JSON.stringify(s.metric.job)}}`;
          for (const [t, v] of s.values) want.push([key, Math.round(t * 1000), v === '+Inf' ? Infinity : v === '-Inf' ? -Infinity : Number(v)]);
        }
        assert.deepEqual(got, want);
      }),
      { numRuns: 300 },
    );
  });
});

describe('XOR chunks', () => {
  it('round-trips arbitrary series bit-exactly (Prometheus encoding)', () => {
    const gaps = fc.array(fc.oneof(fc.constant(15_000), fc.integer({ min: 1, max: 20_000 }), fc.integer({ min: 1, max: 2 ** 40 })), { minLength: 1, maxLength: 200 });
    const vals = fc.array(fc.oneof(fc.double(), fc.constantFrom(0, 1, 1.5, NaN, Infinity), fc.integer().map((x) => x / 10)), { minLength: 200, maxLength: 200 });
    fc.assert(
      fc.property(fc.integer({ min: -1e12, max: 2e12 }), gaps, vals, (t0, g, v) => {
        const ts = [t0];
        for (const d of g) ts.push(ts[ts.length - 1]! + d);
        const vs = v.slice(0, ts.length);
        const chunk = encodeXorChunk(ts, vs);
        const b = new BatchBuilder(allocBatch(1, 'c', 4, 1));
        const w = new RunWriter(b, ALL);
        w.begin('s', 0);
        assert.equal(decodeXorChunk(chunk, 0, chunk.length, w), ts.length);
        w.end();
        const rows = rowsOf(b.finish());
        assert.deepEqual(rows.map((r) => r.t), ts);
        rows.forEach((r, i) => assert.ok(Object.is(r.v, vs[i]), `sample ${i}: ${r.v} vs ${vs[i]}`));
      }),
      { numRuns: 300 },
    );
  });
});

/** Build a STREAMED_XOR_CHUNKS body: frames of ChunkedReadResponse, each one series with given chunks. */
function streamedBody(frames: Array<{ labels: Record<string, string>; chunks: Array<{ ts: number[]; vs: number[] }> }>): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const f of frames) {
    const s = new PbWriter();
    for (const [k, v] of Object.entries(f.labels)) s.bytes(1, new PbWriter().string(1, k).string(2, v).finish());
    for (const c of f.chunks) {
      s.bytes(2, new PbWriter().int64(1, c.ts[0]!).int64(2, c.ts[c.ts.length - 1]!).tag(3, 0).uvarint(1).bytes(4, encodeXorChunk(c.ts, c.vs)).finish());
    }
    const msg = new PbWriter().bytes(1, s.finish()).finish();
    const hdr = new PbWriter().uvarint(msg.length).finish();
    const crc = crc32c(msg);
    parts.push(hdr, Uint8Array.of(crc >>> 24, (crc >>> 16) & 255, (crc >>> 8) & 255, crc & 255), msg);
  }
  return Buffer.concat(parts);
}

describe('remote read decoding', () => {
  const mk = (from: number, n: number) => ({ ts: Array.from({ length: n }, (_, i) => from + i * 1000), vs: Array.from({ length: n }, (_, i) => from / 1000 + i) });

  it('streamed chunks: trims to the window, continues a series split across frames, keeps a halo tail', () => {
    const body = streamedBody([
      { labels: { __name__: 'm', a: '1' }, chunks: [mk(0, 10), mk(10_000, 10)] },
      { labels: { __name__: 'm', a: '1' }, chunks: [mk(20_000, 10)] },
      { labels: { __name__: 'm', a: '2' }, chunks: [mk(0, 30)] },
    ]);
    const b = new BatchBuilder(allocBatch(1, 'c', 4, 1));
    const fill = { kind: 'prom-remote-read', format: 'streamed', body, query: 'q', chunkId: 'q:12000-25000', startMs: 12_000, endMs: 25_000, fromMs: 9_000, haloAll: false, haloSamples: 2, haloMs: 0, kinds: {} };
    promFillers['prom-remote-read']!(fill, b);
    const d = b.finish();
    const rows = rowsOf(d);
    assert.deepEqual(d.seriesKeys, ['m{a="1"}', 'm{a="2"}']);
    assert.equal(d.runCount, 2);
    for (const key of d.seriesKeys) {
      const r = rows.filter((x) => x.key === key);
      assert.deepEqual(r.filter((x) => x.halo).map((x) => x.t), [10_000, 11_000]);
      assert.deepEqual(r.filter((x) => !x.halo).map((x) => x.t), Array.from({ length: 13 }, (_, i) => 12_000 + i * 1000));
      assert.deepEqual(r.map((x) => x.v), r.map((x) => x.t / 1000));
    }
  });

  it('streamed chunks: a bad CRC or a truncated frame is a clear error', () => {
    const body = streamedBody([{ labels: { __name__: 'm' }, chunks: [mk(0, 5)] }]);
    const ctx = { query: 'q', chunkId: 'q:0-1', kinds: {}, fromMs: 0, endMs: 1e12 };
    const w = () => new RunWriter(new BatchBuilder(allocBatch(1, 'c', 4, 1)), ALL);
    const bad = Uint8Array.from(body);
    bad[bad.length - 1]! ^= 1;
    assert.throws(() => decodeStreamedChunks(bad, ctx, w()), /CRC-32C/);
    assert.throws(() => decodeStreamedChunks(body.subarray(0, body.length - 3), ctx, w()), /truncated remote-read stream/);
  });

  it('SAMPLES response: snappy ReadResponse decoded exactly', () => {
    const ts = new PbWriter();
    ts.bytes(1, new PbWriter().string(1, '__name__').string(2, 'm').finish());
    const dv = new DataView(new ArrayBuffer(8));
    for (const [t, v] of [[1000, 1.5], [2000, NaN], [3_000, -Infinity]] as const) {
      dv.setFloat64(0, v, true);
      const sw = new PbWriter().tag(1, 1);
      const s = Buffer.concat([sw.finish(), new Uint8Array(dv.buffer), new PbWriter().int64(2, t).finish()]);
      ts.bytes(2, s);
    }
    const resp = new PbWriter().bytes(1, new PbWriter().bytes(1, ts.finish()).finish()).finish();
    const body = snappy.compress(resp);
    const b = new BatchBuilder(allocBatch(1, 'c', 4, 1));
    const w = new RunWriter(b, ALL);
    decodeSamplesResponse(body, { query: 'q', chunkId: 'c', kinds: {}, fromMs: 0, endMs: 1e12 }, w);
    assert.deepEqual(rowsOf(b.finish()).map((r) => [r.key, r.t, r.v]), [['m', 1000, 1.5], ['m', 2000, NaN], ['m', 3000, -Infinity]]);
    assert.throws(() => decodeSamplesResponse(enc('<html>'), { query: 'q', chunkId: 'c', kinds: {}, fromMs: 0, endMs: 1 }, w), /snappy/);
  });
});
