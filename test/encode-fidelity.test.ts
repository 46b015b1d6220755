/**
 * Fidelity of what lands in InfluxDB, against a real influxd 1.x (test/harness/influxdb.ts):
 *  - which characters InfluxDB 1.x carries raw in measurement names, tag keys and tag values (the
 *    table in docs/LOAD.md "Series keys" is this test's result);
 *  - random label values (every Unicode category, control characters, backslashes at either end,
 *    `\n` as two characters next to a real newline, `\u{`, empty and 1 kB values) and random finite
 *    doubles (-0, subnormals, extremes) written by the real encoder: tags read back via InfluxQL
 *    decode (decodeTagValue) to the original labels, values come back bit for bit;
 *  - series-key collisions through the real pipeline: `fail` stops the run naming both label sets,
 *    `drop` drops the later series and counts it as series_collision.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { startInfluxd, type Influxd } from './harness/influxdb.js';
import { LineWriter, encodeFieldKey, encodeSeriesKey } from '../src/encode/lineprotocol.js';
import { decodeTagValue } from '../src/encode/escape.js';
import { seriesKey } from '../src/batch/layout.js';
import { createPipeline, type RunSummary } from '../src/pipeline/run.js';
import type { Source, SourceChunk, SourceOpenOptions } from '../src/extract/source.js';

let influxd: Influxd;
let tmp: string;
before(async () => {
  influxd = await startInfluxd();
  tmp = mkdtempSync(join(tmpdir(), 'promflux-fidelity-'));
});
after(async () => {
  await influxd?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

async function write(db: string, body: string | Uint8Array): Promise<string> {
  const res = await fetch(`${influxd.url}/write?db=${db}&precision=ms`, { method: 'POST', body: typeof body === 'string' ? Buffer.from(body, 'utf8') : body });
  return res.status === 204 ? 'ok' : `${res.status} ${(await res.text()).trim()}`;
}

/** Every series of every measurement: name, tags, and the `value` column's numbers by time. */
async function allSeries(db: string): Promise<{ name: string; tags: Record<string, string>; values: [number, number][] }[]> {
  const r = await influxd.query('SELECT "value" FROM /.*/ GROUP BY *', db);
  return (r.results[0]?.series ?? []).map((s) => ({ name: s.name, tags: s.tags ?? {}, values: s.values as [number, number][] }));
}

const cp = (c: number): string => String.fromCodePoint(c);
const lpEsc = (s: string, tag: boolean): string => s.replace(tag ? /[, =]/g : /[, ]/g, '\\$&');

describe('InfluxDB 1.x: what line protocol carries (the table in docs/LOAD.md)', () => {
  it('stores every character raw and exactly, except LF anywhere, a trailing backslash, a leading # and the tag key time', async () => {
    await influxd.query('CREATE DATABASE chars');
    // One representative set per character class of the table.
    const classes: Record<string, number[]> = {
      'C0 controls but LF (NUL, tab, CR, ESC, …)': [...Array(32).keys()].filter((c) => c !== 10),
      DEL: [0x7f],
      'C1 controls (U+0080–U+009F)': [0x80, 0x85, 0x9f],
      'Unicode spaces and separators': [0xa0, 0x2028, 0x2029, 0x3000],
      'format characters (BOM, ZWSP, RLO)': [0xfeff, 0x200b, 0x202e],
      'private use, noncharacters, astral': [0xe000, 0xfffe, 0x1f600, 0x10ffff],
      'letters, marks, digits (any script)': [0x61, 0xe9, 0x301, 0x4e2d, 0x0661],
      'line-protocol syntax: , = space " \' # % \\ (inner)': [0x2c, 0x3d, 0x20, 0x22, 0x27, 0x23, 0x25, 0x5c],
    };
    const all = Object.values(classes).flat();
    // Tag values and tag keys: one line per character (tag i says which), all in one request.
    const lines: string[] = [];
    all.forEach((c, i) => {
      lines.push(`tv,i=${i},t=${lpEsc(`a${cp(c)}b`, true)} value=1 ${i}`);
      lines.push(`tv,i=${i},e=${lpEsc(`a${cp(c)}`, true)} value=2 ${i}`); // at the end (but not a backslash: below)
      lines.push(`tk,i=${i},${lpEsc(`k${cp(c)}y`, true)}=v value=1 ${i}`);
      lines.push(`${lpEsc(`m${cp(c)}x`, false)},i=${i} value=1 ${i}`);
    });
    // The trailing backslash case is written separately (it must fail); drop it from the batch.
    const bs = all.indexOf(0x5c);
    const batch = lines.filter((l) => !l.startsWith(`tv,i=${bs},e=`));
    assert.equal(await write('chars', batch.join('\n')), 'ok');
    const byI = new Map<string, Record<string, string>>();
    for (const s of await allSeries('chars')) if (s.name === 'tv') byI.set(`${s.tags.i}/${s.tags.t ? 't' : 'e'}`, s.tags);
    const keys = ((await influxd.query('SHOW TAG KEYS FROM tk', 'chars')).results[0]!.series![0]!.values as string[][]).map((v) => v[0]!);
    const measurements = new Set(((await influxd.query('SHOW MEASUREMENTS', 'chars')).results[0]!.series![0]!.values as string[][]).map((v) => v[0]!));
    for (const [cls, cps] of Object.entries(classes)) {
      for (const c of cps) {
        const i = all.indexOf(c);
        const what = `${cls}: U+${c.toString(16).padStart(4, '0')}`;
        assert.equal(byI.get(`${i}/t`)?.t, `a${cp(c)}b`, `${what} inside a tag value`);
        if (c !== 0x5c) assert.equal(byI.get(`${i}/e`)?.e, `a${cp(c)}`, `${what} ending a tag value`);
        assert.ok(keys.includes(`k${cp(c)}y`), `${what} in a tag key`);
        assert.ok(measurements.has(`m${cp(c)}x`), `${what} in a measurement`);
      }
    }
    // What it cannot carry.
    assert.match(await write('chars', 'lf,t=a\nb value=1 1'), /^400 .*unable to parse/, 'LF in a tag value');
    assert.match(await write('chars', 'lf\nx,t=a value=1 1'), /^400 .*unable to parse/, 'LF in a measurement');
    assert.match(await write('chars', 'bs,t=a\\ value=1 1'), /^400 .*invalid tag format|^400 .*unable to parse/, 'trailing backslash in a tag value');
    assert.match(await write('chars', 'bs,k\\=v value=1 1'), /^400/, 'trailing backslash in a tag key');
    assert.match(await write('chars', 'bs\\ value=1 1'), /^400/, 'trailing backslash in a measurement');
    assert.match(await write('chars', 'tm,time=x value=1 1'), /^400 .*invalid tag key/, 'tag key time');
    // Leading tab or NUL in a measurement: skipped as whitespace (stored without it).
    assert.equal(await write('chars', '\tlead,t=a value=1 1\n\0lead,t=b value=1 1'), 'ok');
    const leads = (await allSeries('chars')).filter((s) => s.name.endsWith('lead'));
    assert.deepEqual(leads.map((s) => s.name), ['lead', 'lead']);
    // A backslash before `=` / an escaped space in a measurement is not kept (tag values keep it).
    assert.equal(await write('chars', 'bm\\=b,t=1 value=1 1\nbn\\\\\\ b,t=1 value=1 1'), 'ok');
    const bms = ((await influxd.query('SHOW MEASUREMENTS', 'chars')).results[0]!.series![0]!.values as string[][]).map((v) => v[0]!);
    assert.ok(bms.includes('bm=b') && bms.includes('bn\\ b'), `measurement backslashes: ${JSON.stringify(bms.filter((m) => m.startsWith('b')))}`);
    // A leading '#' makes a comment: accepted and silently not stored.
    assert.equal(await write('chars', '#hash,t=a value=1 1'), 'ok');
    const after = new Set(((await influxd.query('SHOW MEASUREMENTS', 'chars')).results[0]!.series![0]!.values as string[][]).map((v) => v[0]!));
    assert.equal([...after].some((m) => m.includes('hash')), false);
    // And promflux's escape of those cases lands and decodes back.
    const w = new LineWriter();
    const originals: { m: string; tags: Record<string, string> }[] = [
      { m: '#hash', tags: { t: 'a\nb', 'k\\': 'C:\\', time: 'x\\u{61}' } },
      { m: 'lf\nm\\', tags: { t: 'x' } },
      { m: '\t\0tab', tags: { t: '\0\t' } },
      // 1.6 unescapes `\=` and collapses backslashes before an escaped space in a measurement (below)
      { m: 'bq\\=b\\\\\\ c\\,d', tags: { t: 'x\\\\\\ y\\=z' } },
    ];
    for (const o of originals) {
      w.begin(encodeSeriesKey(o.m, o.tags));
      w.float(encodeFieldKey('value'), 1);
      w.end(1);
    }
    assert.equal(await write('chars', w.take()), 'ok');
    const names = new Set(originals.map((o) => o.m));
    const got = (await allSeries('chars')).filter((s) => names.has(decodeTagValue(s.name)));
    const decoded = got.map((s) => ({ m: decodeTagValue(s.name), tags: Object.fromEntries(Object.entries(s.tags).filter(([, v]) => v !== '').map(([k, v]) => [decodeTagValue(k), decodeTagValue(v)])) }));
    assert.deepEqual(
      decoded.sort((a, b) => (a.m < b.m ? -1 : 1)),
      originals.sort((a, b) => (a.m < b.m ? -1 : 1)),
    );
  });
});

// ---- random labels and values ----

/** Label text: all Unicode categories, controls, backslashes, `\n` as two characters and as LF, `\u{`. */
const labelUnit = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('\\', '\n', '\\n', '\r', '\t', '\0', '\x7f', '\x85', '\u2028', '\\u{', '\\u{a}', '}', ',', '=', ' ', '"', '#', '%', 'é', '😀') },
  { weight: 3, arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 }) },
  // any code point (control, PUA, astral, …); not a lone surrogate: Prometheus labels are UTF-8
  { weight: 3, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }).filter((s) => !/\p{Cs}/u.test(s)) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0x1f }).map((c) => String.fromCharCode(c)) },
);
const labelValue = fc.oneof(
  { weight: 8, arbitrary: fc.string({ unit: labelUnit, maxLength: 12 }) },
  { weight: 1, arbitrary: fc.constant('') },
  { weight: 1, arbitrary: fc.tuple(fc.string({ unit: labelUnit, minLength: 1, maxLength: 4 }), fc.constantFrom('\\', '\n', 'x')).map(([s, end]) => `\\${[...s.repeat(1000)].slice(0, 1000).join('')}${end}`) }, // 1 kB+, backslash at both ends
);
/** Finite doubles: fc.double, raw bit patterns (subnormals), and the edges. */
const finiteDouble = fc.oneof(
  { weight: 4, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }) },
  { weight: 2, arbitrary: fc.tuple(fc.integer({ min: 0, max: 0x7fefffff }), fc.integer({ min: 0, max: 0xffffffff }), fc.boolean()).map(([h, l, neg]) => {
    const u = new Uint32Array([l, h | (neg ? 0x80000000 : 0)]);
    return new Float64Array(u.buffer)[0]!;
  }) },
  { weight: 2, arbitrary: fc.constantFrom(-0, 0, Number.MIN_VALUE, -Number.MIN_VALUE, 2.2250738585072014e-308, 2.225073858507201e-308, Number.MAX_VALUE, -Number.MAX_VALUE, 2 ** 53 - 1, 2 ** 53, 2 ** 53 + 2, -(2 ** 53 + 2), Number.EPSILON, 1e21, 1e-7, 0.1) },
);

describe('InfluxDB 1.x: random labels and values round-trip through the encoder', () => {
  it('tags decode (decodeTagValue) to the original labels; values are bit-equal, -0 included', async () => {
    let run = 0;
    const bits = (v: number): string => {
      const f = new Float64Array([v]);
      return Buffer.from(f.buffer).toString('hex');
    };
    await fc.assert(
      fc.asyncProperty(
        fc.string({ unit: labelUnit, minLength: 1, maxLength: 8 }),
        fc.array(fc.tuple(fc.string({ unit: labelUnit, minLength: 1, maxLength: 6 }), labelValue, labelValue), { minLength: 1, maxLength: 4 }),
        fc.array(finiteDouble, { minLength: 1, maxLength: 6 }),
        async (measurement, labelSpecs, values) => {
          const db = `prop${run++}`;
          await influxd.query(`CREATE DATABASE ${db}`);
          try {
            // Series: one label key from the spec (first value) plus "k2" (second value) and an index.
            const series = labelSpecs.map(([key, v1, v2], i) => {
              const k = key === 'i' || key === 'k2' ? `${key}_` : key;
              return { i: String(i), labels: { [k]: v1, k2: v2, i: String(i) } as Record<string, string> };
            });
            const w = new LineWriter();
            const vk = encodeFieldKey('value');
            for (const s of series) {
              const key = encodeSeriesKey(measurement, s.labels);
              values.forEach((v, t) => {
                w.begin(key);
                w.float(vk, v);
                w.end(1000 + t);
              });
            }
            assert.equal(await write(db, w.take()), 'ok');
            const got = await allSeries(db);
            assert.equal(got.length, series.length, 'one InfluxDB series per source series');
            for (const g of got) {
              assert.equal(decodeTagValue(g.name), measurement);
              const tags = Object.fromEntries(Object.entries(g.tags).filter(([, v]) => v !== '').map(([k, v]) => [decodeTagValue(k), decodeTagValue(v)]));
              const src = series.find((s) => s.i === tags.i)!;
              assert.ok(src, `series i=${tags.i} is one of ours`);
              // Prometheus treats an empty label as absent; so does the encoder.
              const want = Object.fromEntries(Object.entries(src.labels).filter(([, v]) => v !== ''));
              assert.deepEqual(tags, want);
              assert.deepEqual(g.values.map(([t, v]) => [t, bits(v)]), values.map((v, t) => [1000 + t, bits(v)]));
            }
          } finally {
            await influxd.query(`DROP DATABASE ${db}`);
          }
        },
      ),
      { numRuns: 40 },
    );
  });
});

// ---- collisions through the real pipeline ----

/**
 * A source of fixed series, served as one Prometheus query_range JSON body (decoded by the real
 * prom-matrix filler in the workers). Values are written as Go would ("-0" for -0).
 */
class FixedSource implements Source {
  readonly kind = 'fixed';
  private done = false;
  constructor(private readonly series: { labels: Record<string, string>; values: number[] }[]) {}
  async open(_o: SourceOpenOptions): Promise<void> {}
  async next(): Promise<SourceChunk | null> {
    if (this.done) return null;
    this.done = true;
    const fmt = (v: number): string => (Object.is(v, -0) ? '-0' : String(v));
    const json = JSON.stringify({
      status: 'success',
      data: { resultType: 'matrix', result: this.series.map((s) => ({ metric: s.labels, values: s.values.map((v, t) => [1700000000 + t, fmt(v)]) })) },
    });
    const bytes = Buffer.from(json, 'utf8');
    const body = new Uint8Array(new SharedArrayBuffer(bytes.length));
    body.set(bytes);
    const n = this.series.reduce((a, s) => a + s.values.length, 0);
    return {
      id: 'fixed-0',
      fill: { kind: 'prom-matrix', body, query: 'fixed', chunkId: 'fixed-0', startMs: 1700000000000, endMs: 1700000000000 + 1_000_000, haloAll: false, haloSamples: 0, haloMs: 0, kinds: {} },
      estRows: n,
      estRuns: this.series.length,
      startMs: 1700000000000,
      endMs: 1700000000000 + 1_000_000,
      estSamples: n,
    };
  }
  progress() {
    return { doneSamples: 0, totalSamples: null };
  }
  async close(): Promise<void> {}
}

const synthetic = { kind: 'synthetic' as const, series: 1, samplesPerSeries: 1 };

async function runFixed(series: { labels: Record<string, string>; values: number[] }[], sink: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<RunSummary> {
  return createPipeline({ name: 'fid', source: synthetic, transform: [], sink: sink as never, ...extra }, { workers: 1, source: new FixedSource(series) }).run();
}

describe('series-key collisions through the pipeline', () => {
  const newlinePair = [
    { labels: { __name__: 'up', path: 'a\nb' }, values: [1, 2, 3] }, // a real newline
    { labels: { __name__: 'up', path: 'a\\nb' }, values: [4, 5] }, // backslash + n
  ];

  it('a label with a newline and one with a literal \\n land as two series that decode back (default escape)', async () => {
    await influxd.query('CREATE DATABASE nl');
    const s = await runFixed(newlinePair, { kind: 'influx', url: influxd.url, db: 'nl', version: 1 });
    assert.equal(s.status, 'ok', JSON.stringify(s.error));
    assert.equal(s.linesOut, 5);
    const got = await allSeries('nl');
    const byPath = Object.fromEntries(got.map((g) => [decodeTagValue(g.tags.path!), g.values.map((v) => v[1])]));
    assert.deepEqual(byPath, { 'a\nb': [1, 2, 3], 'a\\nb': [4, 5] });
  });

  // Under `replace` (LF → '_') the newline label merges with a literal "a_b": the collision check.
  const replacePair = [
    { labels: { __name__: 'up', path: 'a\nb' }, values: [1, 2, 3] },
    { labels: { __name__: 'up', path: 'a_b' }, values: [4, 5] },
  ];

  it('onCollision fail (default for bounded runs) stops the run naming both label sets; nothing merges', async () => {
    const path = join(tmp, 'fail.lp');
    const s = await runFixed(replacePair, { kind: 'file', path, tagValues: 'replace' });
    assert.equal(s.status, 'failed');
    const msg = s.error?.message ?? '';
    assert.equal(s.error?.code, 'PROMFLUX_SERIES_COLLISION');
    assert.match(msg, /series collision/);
    assert.ok(msg.includes(seriesKey('up', { path: 'a\nb' })) || msg.includes(JSON.stringify(seriesKey('up', { path: 'a\nb' })).slice(1, -1)), msg);
    assert.ok(msg.includes(seriesKey('up', { path: 'a_b' })), msg);
    assert.match(msg, /up,path=a_b/);
    assert.match(msg, /sink\.onCollision: drop/);
    assert.equal(readFileSync(path, 'utf8'), '', 'the colliding batch is not written');
  });

  it('onCollision drop keeps the first series (smallest source key), drops the other, counts series_collision', async () => {
    const path = join(tmp, 'drop.lp');
    const s = await runFixed(replacePair, { kind: 'file', path, tagValues: 'replace', onCollision: 'drop' });
    assert.equal(s.status, 'ok', JSON.stringify(s.error));
    assert.equal(s.samplesIn, 5);
    // 'up{path="a\nb"}' < 'up{path="a_b"}': the newline series keeps the key.
    const kept = [seriesKey('up', { path: 'a\nb' }), seriesKey('up', { path: 'a_b' })].sort()[0] === seriesKey('up', { path: 'a\nb' }) ? [1, 2, 3] : [4, 5];
    assert.deepEqual(s.dropped, { series_collision: 5 - kept.length });
    assert.equal(s.linesOut, kept.length);
    const lines = readFileSync(path, 'utf8').trim().split('\n');
    assert.deepEqual(lines.map((l) => Number(l.split(' ')[1]!.split('=')[1])), kept);
    assert.ok(lines.every((l) => l.startsWith('up,path=a_b ')));
  });

  it('a schema mapping that denies the distinguishing label is a collision too', async () => {
    const path = join(tmp, 'schema.lp');
    const pair = [
      { labels: { __name__: 'up', job: 'a', pod: 'p1' }, values: [1] },
      { labels: { __name__: 'up', job: 'a', pod: 'p2' }, values: [2] },
    ];
    const s = await runFixed(pair, { kind: 'file', path }, { schema: { tags: { deny: ['pod'] } } });
    assert.equal(s.status, 'failed');
    const msg = s.error?.message ?? '';
    assert.ok(msg.includes('up{job="a",pod="p1"}') && msg.includes('up{job="a",pod="p2"}'), msg);
  });
});
