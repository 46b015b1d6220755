/**
 * Streaming decoder of InfluxQL `/query?chunked=true` responses into typed-array columns.
 *
 * A chunked response is newline-delimited JSON: each line is one document
 * `{"results":[{"statement_id":0,"series":[{"name":…,"tags":{…},"columns":[…],"values":[[…],…],"partial":true}],"partial":true}]}`
 * (InfluxDB 1.x and the v1-compatible `/query` of 2.x/3.x emit the keys of a series in that order:
 * name, tags, columns, values, partial). The series header (everything before `"values"`) is
 * small and parsed with JSON.parse once per series per chunk; the `values` rows — the hot path —
 * are scanned byte by byte straight into a Float64Array per column, so no object, array or string
 * is built per point. Hand-written because JSON.parse would build one array per row and one number
 * box per cell (about 10× the decode time and all of the garbage for 100M points).
 *
 * Numbers: up to 15 significant digits with a decimal exponent within ±22 are converted exactly
 * (Clinger's fast path: the mantissa and the power of ten are both exact doubles and one IEEE
 * multiplication or division rounds correctly); anything longer (InfluxDB prints shortest
 * round-trip forms, up to 17 digits) goes through Number() on that cell's text, which is exact.
 * `null` is NaN (no value in that column for that row); `true`/`false` are 1/0; a string cell is an
 * error naming the column (promflux writes numbers only: select numeric fields).
 */
import { PromfluxError } from '../errors.js';

/** One series' rows from one chunk (a series can span several chunks: `partial`). */
export interface SeriesBlock {
  /** The measurement (as InfluxDB returns it: still escaped by promflux's key policy). */
  name: string;
  /** Tags of the series (GROUP BY *), raw as stored. */
  tags: Record<string, string>;
  /** Column names after `time`. */
  columns: string[];
  /** Epoch ms (the query must ask for epoch=ms). */
  ts: Float64Array;
  /** One column per name in `columns`, NaN = null. */
  values: Float64Array[];
  rows: number;
  /** More rows of this series follow in the next chunk. */
  partial: boolean;
  /** Index of the statement in the query. */
  statement: number;
}

const POW10 = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22];
const latin1 = new TextDecoder('latin1');
const utf8 = new TextDecoder();

const C_QUOTE = 0x22;
const C_COMMA = 0x2c;
const C_LBRACK = 0x5b;
const C_RBRACK = 0x5d;
const C_LBRACE = 0x7b;
const C_RBRACE = 0x7d;
const C_BACKSLASH = 0x5c;

function bad(what: string, at: number): PromfluxError {
  return new PromfluxError('PROMFLUX_ACCESS_BAD_RESPONSE', `InfluxDB /query response: ${what} at byte ${at} of a chunk; check that the URL is InfluxDB's /query (not a proxy page)`);
}

function indexOfBytes(buf: Uint8Array, needle: Uint8Array, from: number, end: number): number {
  const first = needle[0]!;
  outer: for (let i = buf.indexOf(first, from); i >= 0 && i + needle.length <= end; i = buf.indexOf(first, i + 1)) {
    for (let j = 1; j < needle.length; j++) if (buf[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

const VALUES_KEY = new TextEncoder().encode('"values":[');
const SERIES_KEY = new TextEncoder().encode('"series":[');

/** Skip a JSON string starting at the opening quote; returns the index after the closing quote. */
function skipString(buf: Uint8Array, i: number, end: number): number {
  i++;
  while (i < end) {
    const c = buf[i]!;
    if (c === C_BACKSLASH) i += 2;
    else if (c === C_QUOTE) return i + 1;
    else i++;
  }
  throw bad('unterminated string', i);
}

/** Index of the bracket/brace matching the one at `i`, skipping strings. */
function matchClose(buf: Uint8Array, i: number, end: number): number {
  let depth = 0;
  while (i < end) {
    const c = buf[i]!;
    if (c === C_QUOTE) {
      i = skipString(buf, i, end);
      continue;
    }
    if (c === C_LBRACK || c === C_LBRACE) depth++;
    else if (c === C_RBRACK || c === C_RBRACE) {
      depth--;
      if (depth === 0) return i;
    }
    i++;
  }
  throw bad('unbalanced brackets', i);
}

interface Cursor {
  i: number;
}

/** Parse one number cell at cur.i (see the header for exactness). */
function parseNumber(buf: Uint8Array, cur: Cursor, end: number): number {
  const start = cur.i;
  let i = start;
  let neg = false;
  if (buf[i] === 0x2d) {
    neg = true;
    i++;
  }
  let mant = 0;
  let digits = 0;
  let exp10 = 0;
  let c = buf[i]!;
  while (c >= 0x30 && c <= 0x39) {
    if (digits > 0 || c !== 0x30) digits++;
    mant = mant * 10 + (c - 0x30);
    c = buf[++i]!;
  }
  if (c === 0x2e) {
    c = buf[++i]!;
    while (c >= 0x30 && c <= 0x39) {
      if (digits > 0 || c !== 0x30) digits++;
      mant = mant * 10 + (c - 0x30);
      exp10--;
      c = buf[++i]!;
    }
  }
  if (c === 0x65 || c === 0x45) {
    c = buf[++i]!;
    let eneg = false;
    if (c === 0x2d || c === 0x2b) {
      eneg = c === 0x2d;
      c = buf[++i]!;
    }
    let e = 0;
    while (c >= 0x30 && c <= 0x39) {
      e = e * 10 + (c - 0x30);
      c = buf[++i]!;
    }
    exp10 += eneg ? -e : e;
  }
  if (i === start || i > end) throw bad('expected a number', start);
  cur.i = i;
  if (digits <= 15 && exp10 >= -22 && exp10 <= 22) {
    const v = exp10 >= 0 ? mant * POW10[exp10]! : mant / POW10[-exp10]!;
    return neg ? -v : v;
  }
  return Number(latin1.decode(buf.subarray(start, i)));
}

interface Header {
  name: string;
  tags?: Record<string, string>;
  columns: string[];
}

/**
 * Decode one complete chunk (one JSON document, no trailing newline needed) into series blocks.
 * Statement errors throw PROMFLUX_ACCESS_QUERY with InfluxDB's message.
 */
export function decodeChunk(buf: Uint8Array, out: SeriesBlock[] = []): SeriesBlock[] {
  const end = buf.length;
  let s = indexOfBytes(buf, SERIES_KEY, 0, end);
  if (s < 0) {
    // No rows: an empty result, or an error (small documents: parse them whole).
    let doc: { results?: Array<{ error?: string; statement_id?: number }>; error?: string };
    try {
      doc = JSON.parse(utf8.decode(buf)) as typeof doc;
    } catch {
      throw bad('not JSON', 0);
    }
    if (doc.error) throw new PromfluxError('PROMFLUX_ACCESS_QUERY', `InfluxDB /query: ${doc.error}`);
    for (const r of doc.results ?? []) if (r.error) throw new PromfluxError('PROMFLUX_ACCESS_QUERY', `InfluxDB /query statement ${r.statement_id ?? 0}: ${r.error}`);
    return out;
  }
  // statement_id of this result: the number after the last "statement_id": before the series.
  const head = utf8.decode(buf.subarray(0, s));
  const sid = /"statement_id":(\d+)/.exec(head);
  const statement = sid ? Number(sid[1]) : 0;
  let i = s + SERIES_KEY.length;
  while (i < end && buf[i] === C_LBRACE) {
    const v = indexOfBytes(buf, VALUES_KEY, i, end);
    if (v < 0) throw bad('series without "values"', i);
    let header: Header;
    try {
      header = JSON.parse(utf8.decode(buf.subarray(i, v - 1)) + '}') as Header;
    } catch {
      throw bad('unreadable series header', i);
    }
    const cols = header.columns ?? [];
    if (cols[0] !== 'time') throw bad(`series "${header.name}" has no leading time column`, i);
    const ncol = cols.length - 1;
    let cap = 1024;
    let ts = new Float64Array(cap);
    let values: Array<Float64Array<ArrayBuffer>> = Array.from({ length: ncol }, () => new Float64Array(cap));
    let rows = 0;
    const cur: Cursor = { i: v + VALUES_KEY.length };
    while (buf[cur.i] === C_LBRACK) {
      if (rows === cap) {
        cap *= 2;
        const grow = (a: Float64Array<ArrayBuffer>): Float64Array<ArrayBuffer> => {
          const b = new Float64Array(cap);
          b.set(a);
          return b;
        };
        ts = grow(ts);
        values = values.map(grow);
      }
      cur.i++;
      for (let c = 0; c <= ncol; c++) {
        const ch = buf[cur.i]!;
        let x: number;
        if (ch === 0x6e) {
          x = NaN; // null
          cur.i += 4;
        } else if (ch === 0x74) {
          x = 1;
          cur.i += 4;
        } else if (ch === 0x66) {
          x = 0;
          cur.i += 5;
        } else if (ch === C_QUOTE) {
          throw new PromfluxError('PROMFLUX_ACCESS_NON_NUMERIC', `InfluxDB /query: column "${cols[c]}" of measurement "${header.name}" holds strings; select numeric fields only (and epoch=ms for time)`);
        } else x = parseNumber(buf, cur, end);
        if (c === 0) ts[rows] = x;
        else values[c - 1]![rows] = x;
        const sep = buf[cur.i];
        if (sep === C_COMMA) cur.i++;
        else if (sep !== C_RBRACK) throw bad('expected , or ] in a row', cur.i);
        if (c < ncol && sep === C_RBRACK) throw bad('row shorter than its columns', cur.i);
      }
      if (buf[cur.i] !== C_RBRACK) throw bad('row longer than its columns', cur.i);
      cur.i++;
      rows++;
      if (buf[cur.i] === C_COMMA) cur.i++;
    }
    if (buf[cur.i] !== C_RBRACK) throw bad('expected ] after values', cur.i);
    cur.i++;
    const close = matchClose(buf, i, end);
    const tail = latin1.decode(buf.subarray(cur.i, close));
    out.push({
      name: header.name,
      tags: header.tags ?? {},
      columns: cols.slice(1),
      ts: ts.subarray(0, rows),
      values: values.map((a) => a.subarray(0, rows)),
      rows,
      partial: tail.includes('"partial":true'),
      statement,
    });
    i = close + 1;
    if (buf[i] === C_COMMA) i++;
  }
  // An error after partial results: in the rest of the document.
  const rest = utf8.decode(buf.subarray(i));
  const err = /"error":"((?:[^"\\]|\\.)*)"/.exec(rest);
  if (err) throw new PromfluxError('PROMFLUX_ACCESS_QUERY', `InfluxDB /query: ${JSON.parse(`"${err[1]}"`) as string}`);
  return out;
}

/**
 * Split a byte stream into chunk documents (newline-delimited) and decode each. Bounded memory:
 * one chunk document (InfluxDB's chunk_size rows) plus what the caller keeps.
 */
export async function* decodeChunkedStream(body: AsyncIterable<Uint8Array>): AsyncGenerator<SeriesBlock[]> {
  // The unfinished line so far, as a list of parts: joined once, when its newline arrives (a
  // chunk document spread over many network reads is copied once, not once per read).
  let parts: Uint8Array[] = [];
  let partsLen = 0;
  const take = (tail: Uint8Array): Uint8Array => {
    if (partsLen === 0) return tail;
    const doc = new Uint8Array(partsLen + tail.length);
    let o = 0;
    for (const p of parts) {
      doc.set(p, o);
      o += p.length;
    }
    doc.set(tail, o);
    parts = [];
    partsLen = 0;
    return doc;
  };
  for await (const part of body) {
    let from = 0;
    for (let nl = part.indexOf(0x0a); nl >= 0; nl = part.indexOf(0x0a, from)) {
      const doc = take(part.subarray(from, nl));
      if (doc.length > 0) yield decodeChunk(doc);
      from = nl + 1;
    }
    if (from < part.length) {
      parts.push(part.subarray(from));
      partsLen += part.length - from;
    }
  }
  const rest = take(new Uint8Array(0));
  if (rest.length > 0 && rest.some((b) => b !== 0x20 && b !== 0x0d && b !== 0x09)) yield decodeChunk(rest);
}
