/**
 * Decoder for Prometheus' JSON query responses (matrix, vector, scalar), straight from the body
 * bytes into a BatchBuilder. JSON.parse would build an array and two strings per sample and then
 * need a walk to convert them (that is the baseline in benchmarks/decode.ts); here the scanner
 * walks the bytes once, parses numbers in place (numbers.ts) and calls RunWriter.sample(t, v).
 * Only each series' small `metric` object is JSON.parsed. Anything unexpected — HTML, truncated
 * body, status "error" — throws a SourceError naming the query and chunk.
 */
import { seriesKey, type SeriesKindName } from '../../../batch/layout.js';
import { preview, promError, PromErrorCode } from '../errors.js';
import { asciiSlice, parseFloatBytes, parseTimestampMs } from './numbers.js';
import { kindOf, type RunWriter } from './runs.js';

export interface JsonDecodeContext {
  /** Query name: series name for results without __name__, and error messages. */
  query: string;
  chunkId: string;
  kinds: Readonly<Record<string, SeriesKindName>>;
}

export interface JsonDecodeStats {
  resultType: string;
  series: number;
  samples: number;
  /** Native-histogram points skipped (not representable as float rows). */
  histogramsSkipped: number;
  warnings: string[];
}

const Q = 34; // "
const COMMA = 44;
const COLON = 58;
const LBRACK = 91;
const RBRACK = 93;
const LBRACE = 123;
const RBRACE = 125;
const BACKSLASH = 92;

export function decodePromJson(buf: Uint8Array, ctx: JsonDecodeContext, w: RunWriter): JsonDecodeStats {
  return new JsonScanner(buf, ctx, w).run();
}

class JsonScanner {
  private readonly len: number;
  private status = '';
  private errorType = '';
  private error = '';
  private resultType = '';
  private sawData = false;
  private readonly stats: JsonDecodeStats = { resultType: '', series: 0, samples: 0, histogramsSkipped: 0, warnings: [] };

  constructor(
    private readonly buf: Uint8Array,
    private readonly ctx: JsonDecodeContext,
    private readonly w: RunWriter,
  ) {
    this.len = buf.length;
  }

  private where(): string {
    return `query "${this.ctx.query}" chunk ${this.ctx.chunkId}`;
  }

  private fail(p: number, what: string): never {
    if (p >= this.len) {
      throw promError(
        PromErrorCode.badResponse,
        `${this.where()}: truncated JSON response (ended after ${this.len} bytes while reading ${what}); the connection or a proxy cut the body short`,
      );
    }
    throw promError(
      PromErrorCode.badResponse,
      `${this.where()}: malformed JSON response at byte ${p} of ${this.len} (expected ${what}, found "${preview(this.buf.subarray(p, p + 40), 40)}")`,
    );
  }

  private ws(p: number): number {
    const b = this.buf;
    const n = this.len;
    while (p < n) {
      const c = b[p]!;
      if (c === 32 || c === 10 || c === 13 || c === 9) p++;
      else break;
    }
    return p;
  }

  /** Index after the string starting at p (which must be '"'). */
  private skipString(p: number): number {
    const b = this.buf;
    const n = this.len;
    p++;
    while (p < n) {
      const c = b[p]!;
      if (c === Q) return p + 1;
      p += c === BACKSLASH ? 2 : 1;
    }
    return this.fail(p, 'end of string');
  }

  /** Index after any JSON value starting at p. */
  private skipValue(p: number): number {
    const b = this.buf;
    const n = this.len;
    const c = b[p];
    if (c === Q) return this.skipString(p);
    if (c === LBRACE || c === LBRACK) {
      let depth = 0;
      while (p < n) {
        const d = b[p]!;
        if (d === Q) {
          p = this.skipString(p);
          continue;
        }
        if (d === LBRACE || d === LBRACK) depth++;
        else if (d === RBRACE || d === RBRACK) {
          depth--;
          if (depth === 0) return p + 1;
        }
        p++;
      }
      return this.fail(p, 'end of object/array');
    }
    // number, true, false, null
    const p0 = p;
    while (p < n) {
      const d = b[p]!;
      if (d === COMMA || d === RBRACE || d === RBRACK || d === 32 || d === 10 || d === 13 || d === 9) break;
      p++;
    }
    if (p === p0) this.fail(p, 'a value');
    return p;
  }

  /** Reads a key at p ('"'), the ':' after it; returns [keyStart, keyEnd, valueStart]. */
  private key(p: number): [number, number, number] {
    if (this.buf[p] !== Q) this.fail(p, 'an object key');
    const e = this.skipString(p);
    let q = this.ws(e);
    if (this.buf[q] !== COLON) this.fail(q, '":"');
    q = this.ws(q + 1);
    if (q >= this.len) this.fail(q, 'a value');
    return [p + 1, e - 1, q];
  }

  private is(s: number, e: number, lit: string): boolean {
    if (e - s !== lit.length) return false;
    const b = this.buf;
    for (let i = 0; i < lit.length; i++) if (b[s + i] !== lit.charCodeAt(i)) return false;
    return true;
  }

  private stringAt(p: number): [string, number] {
    const e = this.skipString(p);
    const raw = Buffer.from(this.buf.buffer, this.buf.byteOffset + p, e - p).toString('utf8');
    return [JSON.parse(raw) as string, e];
  }

  /** After a member value: returns index after ',' (more) or -1 at the closing bracket (sets endPos). */
  private endPos = 0;
  private next(p: number, close: number, what: string): number {
    p = this.ws(p);
    const c = this.buf[p];
    if (c === COMMA) return this.ws(p + 1);
    if (c === close) {
      this.endPos = p + 1;
      return -1;
    }
    return this.fail(p, `"," or "${String.fromCharCode(close)}" in ${what}`);
  }

  run(): JsonDecodeStats {
    const b = this.buf;
    let p = this.ws(0);
    if (p >= this.len) {
      throw promError(PromErrorCode.badResponse, `${this.where()}: empty response body (expected Prometheus JSON)`);
    }
    if (b[p] !== LBRACE) {
      const html = b[p] === 0x3c;
      throw promError(
        PromErrorCode.badResponse,
        `${this.where()}: response is ${html ? 'HTML' : 'not JSON'} (starts "${preview(b.subarray(p, p + 80), 80)}"); check the url and any proxy in front of Prometheus`,
      );
    }
    p = this.ws(p + 1);
    if (b[p] !== RBRACE) {
      for (;;) {
        const [ks, ke, v] = this.key(p);
        let e: number;
        if (this.is(ks, ke, 'status')) {
          if (b[v] !== Q) this.fail(v, 'a status string');
          e = this.skipString(v);
          this.status = asciiSlice(b, v + 1, e - 1);
        } else if (this.is(ks, ke, 'data')) {
          e = this.data(v);
        } else if (this.is(ks, ke, 'error') && b[v] === Q) {
          [this.error, e] = this.stringAt(v);
        } else if (this.is(ks, ke, 'errorType') && b[v] === Q) {
          [this.errorType, e] = this.stringAt(v);
        } else if (this.is(ks, ke, 'warnings') && b[v] === LBRACK) {
          e = this.skipValue(v);
          try {
            this.stats.warnings = JSON.parse(Buffer.from(b.buffer, b.byteOffset + v, e - v).toString('utf8')) as string[];
          } catch {
            /* keep none */
          }
        } else {
          e = this.skipValue(v);
        }
        p = this.next(e, RBRACE, 'the response object');
        if (p < 0) break;
      }
    } else {
      this.endPos = p + 1;
    }
    if (this.status !== 'success') {
      if (this.status === 'error' || this.error) {
        throw promError(PromErrorCode.queryError, `${this.where()}: Prometheus answered ${this.errorType || 'error'}: ${this.error || 'no message'}`);
      }
      throw promError(PromErrorCode.badResponse, `${this.where()}: response has no "status":"success" (status "${this.status}")`);
    }
    if (!this.sawData) throw promError(PromErrorCode.badResponse, `${this.where()}: response has no "data"`);
    const tail = this.ws(this.endPos);
    if (tail < this.len) this.fail(tail, 'end of body');
    this.stats.resultType = this.resultType;
    return this.stats;
  }

  private data(p: number): number {
    const b = this.buf;
    if (b[p] !== LBRACE) this.fail(p, 'the data object');
    this.sawData = true;
    p = this.ws(p + 1);
    if (b[p] === RBRACE) return p + 1;
    for (;;) {
      const [ks, ke, v] = this.key(p);
      let e: number;
      if (this.is(ks, ke, 'resultType')) {
        if (b[v] !== Q) this.fail(v, 'a resultType string');
        e = this.skipString(v);
        this.resultType = asciiSlice(b, v + 1, e - 1);
      } else if (this.is(ks, ke, 'result')) {
        e = this.result(v);
      } else {
        e = this.skipValue(v);
      }
      p = this.next(e, RBRACE, 'the data object');
      if (p < 0) return this.endPos;
    }
  }

  private result(p: number): number {
    const b = this.buf;
    if (b[p] !== LBRACK) this.fail(p, 'the result array');
    let rt = this.resultType;
    if (rt === '') {
      // resultType not seen yet (non-Prometheus key order): infer it from the shape
      const q = this.ws(p + 1);
      rt = b[q] === LBRACE || b[q] === RBRACK ? 'matrix' : 'scalar';
    }
    if (rt === 'scalar' || rt === 'string') {
      if (rt === 'string') return this.skipValue(p);
      this.w.begin(this.ctx.query, 0);
      this.stats.series++;
      const e = this.pair(p);
      this.w.end();
      return e;
    }
    p = this.ws(p + 1);
    if (b[p] === RBRACK) return p + 1;
    for (;;) {
      p = this.series(p);
      p = this.next(p, RBRACK, 'the result array');
      if (p < 0) return this.endPos;
    }
  }

  private beginSeries(ms: number, me: number): void {
    const b = this.buf;
    let labels: Record<string, string>;
    try {
      labels = JSON.parse(Buffer.from(b.buffer, b.byteOffset + ms, me - ms).toString('utf8')) as Record<string, string>;
    } catch {
      this.fail(ms, 'a metric object');
    }
    const name = labels.__name__ ?? this.ctx.query;
    this.w.begin(seriesKey(name, labels), kindOf(name, this.ctx.kinds));
    this.stats.series++;
  }

  /** One element of `result`: {"metric":{...},"values":[...]} (or "value":[t,"v"]). */
  private series(p: number): number {
    const b = this.buf;
    if (b[p] !== LBRACE) this.fail(p, 'a series object');
    p = this.ws(p + 1);
    let ms = -1;
    let me = -1;
    let deferred = -1;
    let deferredSingle = false;
    if (b[p] !== RBRACE) {
      for (;;) {
        const [ks, ke, v] = this.key(p);
        let e: number;
        if (this.is(ks, ke, 'metric')) {
          ms = v;
          e = me = this.skipValue(v);
        } else if (this.is(ks, ke, 'values') || this.is(ks, ke, 'value')) {
          const single = ke - ks === 5;
          if (ms >= 0) {
            this.beginSeries(ms, me);
            e = single ? this.pair(v) : this.values(v);
            ms = -2; // decoded
          } else {
            deferred = v;
            deferredSingle = single;
            e = this.skipValue(v);
          }
        } else {
          // "histograms"/"histogram": native histograms are not float samples
          if (this.is(ks, ke, 'histograms') || this.is(ks, ke, 'histogram')) this.stats.histogramsSkipped++;
          e = this.skipValue(v);
        }
        p = this.next(e, RBRACE, 'a series object');
        if (p < 0) break;
      }
    } else {
      this.endPos = p + 1;
    }
    const end = this.endPos;
    if (deferred >= 0) {
      if (ms >= 0) this.beginSeries(ms, me);
      else this.w.begin(this.ctx.query, 0);
      if (deferredSingle) this.pair(deferred);
      else this.values(deferred);
    }
    this.w.end();
    return end;
  }

  /** One `[t,"v"]` pair at p; returns index after ']'. */
  private pair(p: number): number {
    const b = this.buf;
    const n = this.len;
    if (b[p] !== LBRACK) this.fail(p, '"[" of a [timestamp, "value"] pair');
    p = this.ws(p + 1);
    const t0 = p;
    while (p < n && b[p] !== COMMA) p++;
    if (p >= n) this.fail(p, 'a timestamp');
    let t1 = p;
    while (t1 > t0 && b[t1 - 1]! <= 32) t1--;
    const t = parseTimestampMs(b, t0, t1);
    if (t === undefined) this.fail(t0, 'a timestamp');
    p = this.ws(p + 1);
    if (b[p] !== Q) this.fail(p, 'a quoted sample value');
    const v0 = ++p;
    while (p < n && b[p] !== Q) p++;
    if (p >= n) this.fail(p, 'a sample value');
    const v = parseFloatBytes(b, v0, p);
    if (v === undefined) this.fail(v0, 'a sample value');
    p = this.ws(p + 1);
    if (b[p] !== RBRACK) this.fail(p, '"]" closing a sample');
    this.w.sample(t, v);
    this.stats.samples++;
    return p + 1;
  }

  /**
   * The hot loop: `[[t,"v"],[t,"v"],...]`. Prometheus writes it without whitespace; whitespace is
   * still accepted (slower path through ws()). Timestamps are parsed inline: integer seconds then
   * up to 3 decimals, all integer arithmetic.
   */
  private values(p: number): number {
    const b = this.buf;
    const n = this.len;
    const w = this.w;
    if (b[p] !== LBRACK) this.fail(p, 'the values array');
    p = this.ws(p + 1);
    if (b[p] === RBRACK) return p + 1;
    let count = 0;
    for (;;) {
      if (b[p] !== LBRACK) this.fail(p, '"[" of a [timestamp, "value"] pair');
      p++;
      // --- timestamp (seconds[.mmm]) ---
      const t0 = p;
      let c = b[p]!;
      let sec = 0;
      while (c >= 48 && c <= 57) {
        sec = sec * 10 + (c - 48);
        c = b[++p]!;
      }
      let t: number;
      if (c === COMMA && p > t0) {
        t = sec * 1000;
      } else if (c === 46) {
        c = b[++p]!;
        let f = 0;
        let k = 0;
        while (c >= 48 && c <= 57) {
          f = f * 10 + (c - 48);
          k++;
          c = b[++p]!;
        }
        if (c === COMMA && k > 0 && k <= 3) {
          t = sec * 1000 + (k === 3 ? f : k === 2 ? f * 10 : f * 100);
        } else {
          t = this.slowTimestamp(t0);
          p = this.afterTimestamp;
        }
      } else {
        t = this.slowTimestamp(t0);
        p = this.afterTimestamp;
      }
      // p is at ','
      p++;
      if (b[p] !== Q) {
        p = this.ws(p);
        if (b[p] !== Q) this.fail(p, 'a quoted sample value');
      }
      const v0 = ++p;
      while (p < n && b[p] !== Q) p++;
      if (p >= n) this.fail(p, 'a sample value');
      const v = parseFloatBytes(b, v0, p);
      if (v === undefined) this.fail(v0, 'a sample value');
      p++;
      if (b[p] !== RBRACK) {
        p = this.ws(p);
        if (b[p] !== RBRACK) this.fail(p, '"]" closing a sample');
      }
      p++;
      w.sample(t, v);
      count++;
      c = b[p]!;
      if (c === COMMA) {
        p++;
        if (b[p] !== LBRACK) p = this.ws(p);
        continue;
      }
      if (c === RBRACK) {
        this.stats.samples += count;
        return p + 1;
      }
      p = this.ws(p);
      c = b[p]!;
      if (c === COMMA) {
        p = this.ws(p + 1);
        continue;
      }
      if (c === RBRACK) {
        this.stats.samples += count;
        return p + 1;
      }
      this.fail(p, '"," or "]" in a values array');
    }
  }

  private afterTimestamp = 0;
  /** Whitespace, sign, exponent or > 3 decimals: find the ',' and parse the slice. */
  private slowTimestamp(t0: number): number {
    const b = this.buf;
    const n = this.len;
    let s = this.ws(t0);
    let p = s;
    while (p < n && b[p] !== COMMA) p++;
    if (p >= n) this.fail(p, 'a timestamp');
    let e = p;
    while (e > s && b[e - 1]! <= 32) e--;
    const t = parseTimestampMs(b, s, e);
    if (t === undefined) this.fail(s, 'a timestamp');
    this.afterTimestamp = p;
    s = 0;
    return t;
  }
}
