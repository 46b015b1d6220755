/**
 * The line-protocol encoder against the reference it must match byte for byte:
 * @influxdata/influxdb-client's Point.toLineProtocol() (+ '\n', UTF-8), with timestamps converted the
 * way its WriteApi does (dateToProtocolTimestamp[precision]), wherever Point does not lose data.
 * Where it does (a newline, tab or CR in a series key, a trailing backslash, a leading `#`, the tag
 * key `time`, -0), promflux deliberately differs; those cases are tested here for their own rules
 * and end to end against a real influxd in encode-fidelity.test.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Point, dateToProtocolTimestamp } from '@influxdata/influxdb-client';
import {
  EncodeError,
  LineWriter,
  encodeFieldKey,
  encodeSeriesKey,
  escapeFieldKey,
  escapeMeasurement,
  escapeStringField,
  escapeTag,
  fieldKeyProblem,
  seriesKeyProblem,
  sortKeys,
  type Precision,
} from '../src/encode/lineprotocol.js';
import { applyKeyPolicy, decodeTagValue, replacementProblem, type KeyPart } from '../src/encode/escape.js';
import { planRequests } from '../src/load/influx/lines.js';

const dec = new TextDecoder();
const text = (b: Uint8Array): string => dec.decode(b);

// Strings rich in everything line protocol has to escape, plus non-ASCII and astral characters.
const specialUnit = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(' ', ',', '=', '"', '\\', '\n', '\r', '\t', '#', 'é', 'ß', '中', '😀', '\u00a0', '\u2028') },
  { weight: 4, arbitrary: fc.constantFrom('a', 'b', 'x', 'Z', '_', '0', '9', '.', ':', '-') },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
);
const lpString = (minLength = 0) => fc.string({ unit: specialUnit, minLength, maxLength: 12 });
// Point stores tags and fields in plain objects, where assigning "__proto__" is a no-op: it silently
// loses such a key (a Point bug we do not copy), so keys never take that value here.
const lpKey = (minLength = 0) => lpString(minLength).filter((k) => k !== '__proto__');
const tagsArb = (maxKeys: number) => fc.dictionary(lpKey(), lpString(), { maxKeys });

type FieldSpec =
  | { kind: 'float'; key: string; v: number }
  | { kind: 'int'; key: string; v: number }
  | { kind: 'uint'; key: string; v: number }
  | { kind: 'bool'; key: string; v: boolean }
  | { kind: 'string'; key: string; v: string };

const fieldValue = fc.oneof(
  // -0 only in encode-float / encode-fidelity: Point writes it as 0, promflux as -0.
  { weight: 4, arbitrary: fc.double().map((v) => ({ kind: 'float' as const, v: v === 0 ? 0 : v })) },
  { weight: 1, arbitrary: fc.maxSafeInteger().map((v) => ({ kind: 'int' as const, v })) },
  { weight: 1, arbitrary: fc.maxSafeNat().map((v) => ({ kind: 'uint' as const, v })) },
  { weight: 1, arbitrary: fc.boolean().map((v) => ({ kind: 'bool' as const, v })) },
  { weight: 1, arbitrary: lpString().map((v) => ({ kind: 'string' as const, v })) },
);
const fieldsArb = fc
  .uniqueArray(fc.tuple(lpKey(1), fieldValue), { minLength: 1, maxLength: 6, selector: ([k]) => k })
  .map((xs) => xs.map(([key, f]) => ({ ...f, key }) as FieldSpec));

// Date's range: ±8.64e15 ms.
const tsArb = fc.integer({ min: -8_640_000_000_000_000, max: 8_640_000_000_000_000 });
const precisionArb = fc.constantFrom<Precision>('s', 'ms', 'us', 'ns');

/**
 * Whether Point's series key is also what promflux writes: nothing for the key policy to rewrite
 * (seriesKeyProblem under `drop` is null and no literal `\u{`), and no tab or CR (Point's `\t` `\r`).
 */
function pointKeyFaithful(m: string, tags: Record<string, string>): boolean {
  if (seriesKeyProblem(m, tags, { policy: 'drop' }) !== null) return false;
  const parts = [m, ...Object.entries(tags).filter(([k, v]) => k && v).flat()];
  return !parts.some((s) => /[\r\t]|\\u\{/.test(s));
}

/** Point's line (+ '\n') or undefined when Point writes none (all fields invalid). */
function pointLine(m: string, tags: Record<string, string>, fields: FieldSpec[], tsMs: number, precision: Precision): string | undefined {
  const p = new Point(m);
  for (const [k, v] of Object.entries(tags)) p.tag(k, v);
  for (const f of fields) {
    switch (f.kind) {
      case 'float':
        if (Number.isFinite(f.v)) p.floatField(f.key, f.v); // Point throws on NaN/Inf; we omit them
        break;
      case 'int':
        p.intField(f.key, f.v);
        break;
      case 'uint':
        p.uintField(f.key, f.v);
        break;
      case 'bool':
        p.booleanField(f.key, f.v);
        break;
      case 'string':
        p.stringField(f.key, f.v);
        break;
    }
  }
  p.timestamp(new Date(tsMs));
  const line = p.toLineProtocol({ convertTime: (d) => dateToProtocolTimestamp[precision](d as Date) });
  return line === undefined ? undefined : line + '\n';
}

function writeLine(w: LineWriter, key: Uint8Array, fields: FieldSpec[], tsMs: number): boolean {
  w.begin(key);
  // Point writes fields sorted by key; do the same.
  const byKey = new Map(fields.map((f) => [f.key, f]));
  for (const k of sortKeys([...byKey.keys()])) {
    const f = byKey.get(k)!;
    const fk = encodeFieldKey(f.key);
    switch (f.kind) {
      case 'float':
        w.float(fk, f.v);
        break;
      case 'int':
        w.int(fk, f.v);
        break;
      case 'uint':
        w.uint(fk, f.v);
        break;
      case 'bool':
        w.bool(fk, f.v);
        break;
      case 'string':
        w.string(fk, f.v);
        break;
    }
  }
  return w.end(tsMs);
}

describe('encode: byte-identical to Point.toLineProtocol()', () => {
  it('random measurements, tags, fields, timestamps and precisions', () => {
    fc.assert(
      fc.property(
        lpString(1),
        tagsArb(5),
        fieldsArb,
        tsArb,
        precisionArb,
        (m, tags, fields, tsMs, precision) => {
          const problem = seriesKeyProblem(m, tags) ?? fields.map((f) => fieldKeyProblem(f.key)).find((p) => p !== null) ?? null;
          if (!problem && !pointKeyFaithful(m, tags)) {
            // Point would lose data here; promflux writes the key policy's text (own tests below).
            assert.equal(text(encodeSeriesKey(m, tags)).includes('\n'), false);
            return;
          }
          if (problem) {
            // Point would produce a line InfluxDB rejects or ignores; we refuse with a reason instead.
            assert.throws(
              () => {
                encodeSeriesKey(m, tags);
                for (const f of fields) encodeFieldKey(f.key);
              },
              (e: unknown) => e instanceof EncodeError && e.reason === problem && e.code === 'PROMFLUX_ENCODE_UNENCODABLE',
            );
            return;
          }
          const w = new LineWriter({ precision, initialBytes: 64 });
          const ok = writeLine(w, encodeSeriesKey(m, tags), fields, tsMs);
          const expected = pointLine(m, tags, fields, tsMs, precision);
          if (expected === undefined) {
            assert.equal(ok, false);
            assert.equal(w.byteLength, 0);
            assert.equal(w.lines, 0);
          } else {
            assert.equal(ok, true);
            assert.deepEqual(w.bytes(), new Uint8Array(Buffer.from(expected, 'utf8')));
            assert.equal(w.lines, 1);
          }
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('many lines into one buffer equal the joined Point lines', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(lpString(1), tagsArb(4), fieldsArb, tsArb), { minLength: 1, maxLength: 30 }),
        precisionArb,
        (rows, precision) => {
          const w = new LineWriter({ precision, initialBytes: 64 });
          let expected = '';
          let lines = 0;
          for (const [m, tags, fields, ts] of rows) {
            if (seriesKeyProblem(m, tags) || !pointKeyFaithful(m, tags) || fields.some((f) => fieldKeyProblem(f.key))) continue;
            if (writeLine(w, encodeSeriesKey(m, tags), fields, ts)) lines++;
            expected += pointLine(m, tags, fields, ts, precision) ?? '';
          }
          assert.equal(w.lines, lines);
          assert.equal(text(w.bytes()), expected);
          assert.deepEqual(w.take(), new Uint8Array(Buffer.from(expected, 'utf8')));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('escape helpers match the client escape functions', async () => {
    const { escape } = await import('@influxdata/influxdb-client');
    fc.assert(
      fc.property(lpString(), (s) => {
        assert.equal(escapeMeasurement(s), escape.measurement(s));
        assert.equal(escapeTag(s), escape.tag(s));
        assert.equal(escapeFieldKey(s), escape.tag(s));
        assert.equal(`"${escapeStringField(s)}"`, escape.quoted(s));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('encode: fields', () => {
  const key = encodeSeriesKey('m', { host: 'a' });
  const line = (fn: (w: LineWriter) => void, ts = 1000): string => {
    const w = new LineWriter();
    w.begin(key);
    fn(w);
    w.end(ts);
    return text(w.bytes());
  };
  const fk = encodeFieldKey('f');

  it('booleans are T/F like Point', () => {
    assert.equal(line((w) => w.bool(fk, true)), 'm,host=a f=T 1000\n');
    assert.equal(line((w) => w.bool(fk, false)), 'm,host=a f=F 1000\n');
    assert.equal(new Point('m').tag('host', 'a').booleanField('f', true).timestamp(1000).toLineProtocol(), 'm,host=a f=T 1000');
  });

  it('ints and uints follow Point: floor, i/u suffix; values Point rejects are omitted', () => {
    assert.equal(line((w) => w.int(fk, -42)), 'm,host=a f=-42i 1000\n');
    assert.equal(line((w) => w.int(fk, 2.7)), 'm,host=a f=2i 1000\n');
    assert.equal(line((w) => w.int(fk, -0)), 'm,host=a f=0i 1000\n');
    assert.equal(line((w) => w.uint(fk, 7)), 'm,host=a f=7u 1000\n');
    for (const v of [2 ** 60, -(2 ** 62), 9.2e18]) {
      assert.equal(line((w) => w.int(fk, v)), new Point('m').tag('host', 'a').intField('f', v).timestamp(1000).toLineProtocol() + '\n');
    }
    const w = new LineWriter();
    w.begin(key);
    assert.equal(w.int(fk, NaN), false);
    assert.equal(w.int(fk, 1e19), false);
    assert.equal(w.uint(fk, -1), false);
    assert.equal(w.uint(fk, 2 ** 53), false);
    assert.equal(w.float(fk, Infinity), false);
    assert.equal(w.end(1), false);
  });

  it('string fields escape quotes and backslashes, keep newlines, encode UTF-8 like Buffer.from (lone surrogates → U+FFFD)', () => {
    for (const s of ['', 'a"b', 'back\\slash\\', 'line1\nline2', 'é中😀', '\ud800', 'x\udc00y', '\ud83d', '\ud83d\ud83d\ude00']) {
      const expected = new Point('m').tag('host', 'a').stringField('f', s).timestamp(1000).toLineProtocol() + '\n';
      const w = new LineWriter();
      w.begin(key);
      w.string(fk, s);
      w.end(1000);
      assert.deepEqual(w.bytes(), new Uint8Array(Buffer.from(expected, 'utf8')), JSON.stringify(s));
    }
  });

  it('field order is call order; sortKeys gives Point order', () => {
    assert.deepEqual(sortKeys(['value', 'mean_5', 'Z', 'std_5']), ['Z', 'mean_5', 'std_5', 'value']);
    assert.equal(
      line((w) => {
        w.float(encodeFieldKey('b'), 1);
        w.float(encodeFieldKey('a'), 2);
      }),
      'm,host=a b=1,a=2 1000\n',
    );
  });
});

describe('encode: timestamps', () => {
  const key = encodeSeriesKey('m', {});
  const fk = encodeFieldKey('v');
  const at = (precision: Precision, ms: number): string => {
    const w = new LineWriter({ precision });
    w.begin(key);
    w.float(fk, 1);
    w.end(ms);
    return text(w.bytes());
  };

  it('writes each precision from integer epoch ms without float multiplication', () => {
    const ms = 1_700_000_000_123;
    assert.equal(at('ms', ms), 'm v=1 1700000000123\n');
    assert.equal(at('s', ms), 'm v=1 1700000000\n');
    assert.equal(at('us', ms), 'm v=1 1700000000123000\n');
    assert.equal(at('ns', ms), 'm v=1 1700000000123000000\n');
    // the largest Date: ns exceeds 2^53 by far, still exact
    assert.equal(at('ns', 8_640_000_000_000_000), 'm v=1 8640000000000000000000\n');
  });

  it('handles timestamps before 1970 (s truncates toward the past)', () => {
    assert.equal(at('ms', -1500), 'm v=1 -1500\n');
    assert.equal(at('s', -1500), 'm v=1 -2\n');
    assert.equal(at('s', -1000), 'm v=1 -1\n');
    assert.equal(at('us', -1500), 'm v=1 -1500000\n');
    assert.equal(at('ns', -1), 'm v=1 -1000000\n');
    assert.equal(at('ns', 0), 'm v=1 0000000\n'); // same digits as Point's `${ms}000000`
    for (const p of ['s', 'ms', 'us', 'ns'] as const) {
      for (const ms of [-1500, -1, 0, 999, -86_400_000_123]) {
        const expected = new Point('m').floatField('v', 1).timestamp(new Date(ms)).toLineProtocol({ convertTime: (d) => dateToProtocolTimestamp[p](d as Date) });
        assert.equal(at(p, ms), expected + '\n', `${p} ${ms}`);
      }
    }
  });

  it('rejects a non-finite timestamp with a coded error and drops the line', () => {
    const w = new LineWriter();
    w.begin(key);
    w.float(fk, 1);
    assert.throws(() => w.end(NaN), (e: unknown) => (e as { code?: string }).code === 'PROMFLUX_ENCODE_TIMESTAMP');
    assert.equal(w.byteLength, 0);
  });
});

describe('encode: writer buffer', () => {
  const key = encodeSeriesKey('cpu', { host: 'server-01', region: 'eu west' });
  const fk = encodeFieldKey('value');

  it('rolls back a line with no fields', () => {
    const w = new LineWriter();
    w.begin(key);
    w.float(fk, 1);
    assert.equal(w.end(1), true);
    const before = text(w.bytes());
    w.begin(key);
    assert.equal(w.float(fk, NaN), false);
    assert.equal(w.end(2), false);
    assert.equal(text(w.bytes()), before);
    assert.equal(w.lines, 1);
    w.begin(key);
    assert.equal(w.end(3), false);
    assert.equal(w.byteLength, before.length);
  });

  it('grows past initialBytes and keeps every byte', () => {
    const w = new LineWriter({ initialBytes: 64 });
    let expected = '';
    for (let i = 0; i < 2000; i++) {
      w.begin(key);
      w.float(fk, i / 7);
      w.string(encodeFieldKey('s'), 'é'.repeat(i % 50));
      w.end(i);
      expected += `cpu,host=server-01,region=eu\\ west value=${i / 7},s="${'é'.repeat(i % 50)}" ${i}\n`;
    }
    assert.ok(w.capacity > 64);
    assert.equal(w.lines, 2000);
    assert.equal(text(w.bytes()), expected);
    // a huge key and string force growth inside begin()/string()
    const big = encodeSeriesKey('m'.repeat(5000), { t: 'v'.repeat(5000) });
    w.begin(big);
    w.string(fk, '😀'.repeat(10000));
    w.end(1);
    assert.equal(text(w.bytes()), expected + `${'m'.repeat(5000)},t=${'v'.repeat(5000)} value="${'😀'.repeat(10000)}" 1\n`);
  });

  it('take() hands over an exactly-sized buffer, resets counters and carries an open line', () => {
    const w = new LineWriter({ initialBytes: 4096 });
    w.begin(key);
    w.float(fk, 0.5);
    w.end(10);
    w.begin(key);
    w.float(fk, 1.5); // open line
    const out = w.take();
    assert.equal(text(out), 'cpu,host=server-01,region=eu\\ west value=0.5 10\n');
    assert.equal(out.buffer.byteLength, out.byteLength);
    assert.equal(w.lines, 0);
    assert.equal(w.byteLength, 0);
    w.end(11);
    assert.equal(text(w.take()), 'cpu,host=server-01,region=eu\\ west value=1.5 11\n');
    assert.equal(w.take().length, 0);
  });

  it('begin() twice discards the unfinished line; reset() drops everything', () => {
    const w = new LineWriter();
    w.begin(key);
    w.float(fk, 1);
    w.begin(encodeSeriesKey('other', {}));
    w.float(fk, 2);
    w.end(5);
    assert.equal(text(w.bytes()), 'other value=2 5\n');
    w.reset();
    assert.equal(w.byteLength, 0);
    assert.equal(w.lines, 0);
  });

  it('validates options', () => {
    assert.throws(() => new LineWriter({ precision: 'm' as Precision }), /precision must be one of/);
    assert.throws(() => new LineWriter({ floatDigits: 18 }), /floatDigits must be an integer 0..17/);
    assert.throws(() => new LineWriter({ floatDigits: 2.5 }), /floatDigits/);
  });
});

describe('encode: keys', () => {
  it('sorts tags, skips empty keys and values, escapes like Point', () => {
    assert.equal(text(encodeSeriesKey('my cpu,x', { z: '1', a: 'x y', m: '', '': 'q', 'k=v': 'a,b=c' })), 'my\\ cpu\\,x,a=x\\ y,k\\=v=a\\,b\\=c,z=1');
    assert.equal(text(encodeSeriesKey('m', { t: 'a\\b' })), 'm,t=a\\b'); // inner backslash stays literal
    assert.equal(text(encodeFieldKey('a b,c=d')), 'a\\ b\\,c\\=d');
    assert.deepEqual(encodeSeriesKey('温度', { 'é': '😀' }), new Uint8Array(Buffer.from('温度,é=😀')));
  });

  it('refuses keys InfluxDB would reject or ignore, with a reason for drop counters', () => {
    const reason = (fn: () => unknown): string | undefined => {
      try {
        fn();
        return undefined;
      } catch (e) {
        assert.ok(e instanceof EncodeError);
        assert.equal(e.code, 'PROMFLUX_ENCODE_UNENCODABLE');
        return e.reason;
      }
    };
    assert.equal(reason(() => encodeSeriesKey('', {})), 'empty_name');
    // What line protocol cannot carry: refused under the `drop` key policy (escaped by default, below).
    const drop = { policy: 'drop' } as const;
    assert.equal(reason(() => encodeSeriesKey('#m', {}, drop)), 'series_key');
    assert.equal(reason(() => encodeSeriesKey('m\\', {}, drop)), 'series_key');
    assert.equal(reason(() => encodeSeriesKey('m', { path: 'C:\\' }, drop)), 'series_key');
    assert.equal(reason(() => encodeSeriesKey('m', { 'k\\': 'v' }, drop)), 'series_key');
    assert.equal(reason(() => encodeSeriesKey('m', { time: 'x' }, drop)), 'series_key');
    assert.equal(reason(() => encodeSeriesKey('m', { t: 'a\nb' }, drop)), 'series_key');
    assert.equal(reason(() => encodeSeriesKey('m', { t: 'a\\u{b' }, drop)), undefined); // carried fine
    assert.equal(reason(() => encodeSeriesKey('m', { time: '' }, drop)), undefined); // empty value: skipped
    assert.equal(reason(() => encodeSeriesKey('m', { t: 'x'.repeat(70000) })), 'key_too_long');
    assert.equal(reason(() => encodeFieldKey('')), 'empty_name');
    assert.equal(reason(() => encodeFieldKey('time')), 'reserved_key');
    assert.equal(reason(() => encodeFieldKey('f\\')), 'trailing_backslash');
    assert.equal(seriesKeyProblem('m', { a: 'b' }), null);
    assert.equal(fieldKeyProblem('value'), null);
  });
});

describe('encode: key policy (sink.tagValues)', () => {
  it('escape rewrites only what line protocol cannot carry, as \\u{HEX}', () => {
    assert.equal(text(encodeSeriesKey('m=1', { t: 'line\nbreak\ttab\rcr' })), 'm=1,t=line\\u{a}break\ttab\rcr');
    assert.equal(text(encodeSeriesKey('m', { path: 'C:\\' })), 'm,path=C:\\u{5c}');
    assert.equal(text(encodeSeriesKey('#m\\', { 'k\\': 'v', time: 'x' })), '\\u{23}m\\u{5c},\\u{74}ime=x,k\\u{5c}=v');
    assert.equal(text(encodeSeriesKey('m', { t: 'a\\u{b}' })), 'm,t=a\\u{5c}u{b}'); // the escape escaped
    assert.equal(text(encodeSeriesKey('m', { t: '100% "q" a\\b x=y, é😀' })), 'm,t=100%\\ "q"\\ a\\b\\ x\\=y\\,\\ é😀'); // ordinary: as Point
    assert.equal(applyKeyPolicy('#x', 'tagValue', 'escape'), '#x'); // '#' matters only leading a measurement
    assert.equal(applyKeyPolicy('\t\0x\t', 'measurement', 'escape'), '\\u{9}\0x\t'); // InfluxDB skips a leading tab/NUL
    assert.equal(applyKeyPolicy('\0x', 'tagValue', 'escape'), '\0x');
    assert.equal(applyKeyPolicy('time', 'tagValue', 'escape'), 'time');
    assert.equal(applyKeyPolicy('time', 'measurement', 'escape'), 'time');
  });

  it('decodeTagValue inverts escape for every string and part', () => {
    const unit = fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom('\\', 'u', '{', '}', '\n', '#', '\t', '\0', 't', 'i', 'm', 'e', 'a', '5', 'c') },
      { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }) },
    );
    fc.assert(
      fc.property(fc.string({ unit, maxLength: 16 }), fc.constantFrom<KeyPart>('measurement', 'tagKey', 'tagValue'), (s, part) => {
        const e = applyKeyPolicy(s, part, 'escape')!;
        assert.equal(decodeTagValue(e), s);
        assert.equal(e.includes('\n'), false);
        assert.equal(e.endsWith('\\'), false);
        if (part === 'measurement') assert.equal(/^[#\t\0]/.test(e), false);
        if (part === 'tagKey') assert.notEqual(e, 'time');
      }),
      { numRuns: 5000 },
    );
  });

  it('replace and drop', () => {
    assert.equal(text(encodeSeriesKey('#m', { t: 'a\nb\\', time: 'x' }, { policy: 'replace' })), '_m,_ime=x,t=a_b_');
    assert.equal(text(encodeSeriesKey('m', { t: 'a\nb' }, { policy: 'replace', replacement: '·' })), 'm,t=a·b');
    assert.equal(text(encodeSeriesKey('m', { t: 'a\\u{b}' }, { policy: 'replace' })), 'm,t=a\\u{b}'); // nothing to replace
    assert.equal(seriesKeyProblem('m', { 'a\n': '1', a_: '2' }, { policy: 'replace' }), 'series_key'); // two keys become one
    assert.equal(seriesKeyProblem('m', { t: 'a\nb' }, { policy: 'drop' }), 'series_key');
    assert.equal(replacementProblem('_'), null);
    assert.match(replacementProblem('ab') ?? '', /exactly one character/);
    assert.match(replacementProblem('\\') ?? '', /cannot be carried/);
  });
});

describe('encode: request cuts from the writer\'s line ends', () => {
  const key = new TextEncoder().encode('m,host=a');
  const field = new TextEncoder().encode('v');
  it('rolled-back and discarded lines leave no end; cuts match the byte scan; reset starts over', () => {
    const w = new LineWriter({ precision: 'ms', initialBytes: 64 });
    for (let i = 0; i < 50; i++) {
      w.begin(key);
      if (i % 7 !== 3) w.float(field, i * 1.5); // i % 7 === 3: no field, end() rolls the line back
      w.end(1_700_000_000_000 + i);
    }
    w.begin(key); // discarded by the next begin()
    w.begin(key);
    w.float(field, 1);
    w.end(1);
    const bytes = w.bytes();
    for (const [lines, size] of [[5000, 10_000_000], [4, 1000], [3, 60], [1, 1024], [10, 1]] as const) {
      const scan = planRequests(bytes, lines, size);
      const cuts = w.cuts({ lines, bytes: size })!;
      assert.deepEqual({ ends: [...cuts.ends], lines: [...cuts.lines] }, { ends: scan.ends, lines: scan.lines }, `${lines} lines, ${size} bytes`);
      assert.equal(scan.totalLines, w.lines);
    }
    w.reset();
    w.begin(key);
    w.float(field, 2);
    w.end(2);
    assert.deepEqual([...w.cuts({ lines: 10, bytes: 1000 })!.ends], [w.byteLength]);
  });
  it('lines appended without their ends: cuts() is null (the sink scans instead) until reset', () => {
    const w = new LineWriter();
    w.appendLines(new TextEncoder().encode('m v=1 1\nm v=2 2\n'), 2);
    assert.equal(w.cuts({ lines: 1, bytes: 100 }), null);
    w.reset();
    w.appendLines(new TextEncoder().encode('m v=1 1\nm v=2 2\n'), 2, Uint32Array.of(8, 16));
    assert.deepEqual([...w.cuts({ lines: 1, bytes: 100 })!.ends], [8, 16]);
  });
});
