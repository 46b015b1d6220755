/**
 * InfluxDB line-protocol writer for the worker hot path: bytes go straight into one growable
 * Uint8Array; no string per line, no object per line.
 *
 * Output is byte-identical to `new Point(m).tag(..)…toLineProtocol()` of @influxdata/influxdb-client
 * (+ '\n', UTF-8) when fields are written in Point's order (keys sorted, see `sortKeys`), for every
 * input Point encodes into a line InfluxDB accepts and stores as given, with deliberate
 * differences where Point loses data: series-key names go through the key policy first (Point
 * writes a newline as the two characters `\n`, which merges it with a literal `\n`; see
 * src/encode/escape.ts), tab and CR in series keys are written raw (Point's `\t` `\r` are stored
 * as backslash + letter), and -0 is written as `-0` (Point writes `0`). Where a key cannot be written, key encoding throws EncodeError
 * so the caller can drop the series with a counted reason (see `mapSeriesKey`).
 *
 * Usage (once per series / per field name, then per row):
 *   const key = encodeSeriesKey('cpu', { host: 'a' }); const fk = encodeFieldKey('value');
 *   w.begin(key); w.float(fk, 0.5); w.end(tsMs);
 */
import { PromfluxError } from '../errors.js';
import { applyKeyPolicy, escapeFieldKey, escapeKeyMeasurement, escapeKeyTag, stringFieldMaxBytes, writeStringField, type KeyPolicy } from './escape.js';
import { MAX_NUMBER_BYTES, writeFloat, writeFloatDigits, writeInt, writeUint } from './float.js';
import { cutRequests, type RequestCuts, type RequestLimits } from './request-cuts.js';

export { applyKeyPolicy, decodeTagValue, escapeFieldKey, escapeMeasurement, escapeStringField, escapeTag, type KeyPolicy, type KeyPart } from './escape.js';

export type Precision = 's' | 'ms' | 'us' | 'ns';

/** Why a series key or field key cannot be written as a line InfluxDB accepts. */
export type UnencodableReason =
  /** Empty measurement or field key (Point returns no line). */
  | 'empty_name'
  /** Field key ends in `\`: it would escape the following `=` (InfluxDB: "invalid field format"). */
  | 'trailing_backslash'
  /** Field key `time`: InfluxDB drops the point ("invalid field name"). */
  | 'reserved_key'
  /**
   * Under the key policy `drop`: the measurement, a tag key or a tag value holds something line
   * protocol cannot carry (LF, a trailing `\`, a leading `#` in a measurement, the tag key `time`).
   */
  | 'series_key'
  /** Measurement + tags longer than InfluxDB's 65535-byte series-key limit. */
  | 'key_too_long';

/** A key that cannot be encoded. `reason` is stable and short, meant for drop counters. */
export class EncodeError extends PromfluxError {
  constructor(
    readonly reason: UnencodableReason,
    message: string,
  ) {
    super('PROMFLUX_ENCODE_UNENCODABLE', message);
    this.name = 'EncodeError';
  }
}

/** How series keys treat what line protocol cannot carry (see src/encode/escape.ts). */
export interface KeyOptions {
  /** Default 'escape'. */
  policy?: KeyPolicy;
  /** Replacement character of the 'replace' policy (default '_'). */
  replacement?: string;
}

/** InfluxDB's limit on measurement + tags (models.MaxKeyLength). */
export const MAX_SERIES_KEY_BYTES = 65535;

const textEncoder = new TextEncoder();

/**
 * Keys in Point's order: JavaScript's default sort (UTF-16 code units). That is byte order for all
 * of the BMP below U+E000, i.e. for every Prometheus label name; InfluxDB re-sorts by bytes anyway.
 */
export function sortKeys(keys: readonly string[]): string[] {
  return [...keys].sort();
}

function describe(s: string): string {
  return JSON.stringify(s.length > 80 ? s.slice(0, 80) + '…' : s);
}

/** Measurement and tags after the key policy (not yet line-protocol-escaped), or why not. */
export interface MappedKey {
  measurement: string;
  /** [key, value] pairs sorted by key (Point's order); empty keys and values already left out. */
  tags: [string, string][];
}

/**
 * Apply the key policy to a measurement and its tags: the names as InfluxDB will store them, or the
 * reason the series cannot be written. Tags with an empty key or empty value are skipped (as Point
 * does). Two tag keys that the policy maps to one key (`replace` only) are a `series_key` problem.
 */
export function mapSeriesKey(measurement: string, tags: Readonly<Record<string, string>>, opts: KeyOptions = {}): MappedKey | UnencodableReason {
  if (!measurement) return 'empty_name';
  const policy = opts.policy ?? 'escape';
  const r = opts.replacement;
  const m = applyKeyPolicy(measurement, 'measurement', policy, r);
  if (m === null) return 'series_key';
  const out: [string, string][] = [];
  const keysIn: string[] = [];
  for (const k of Object.keys(tags).sort()) {
    const v = tags[k];
    if (!k || !v) continue;
    keysIn.push(k);
    const k2 = applyKeyPolicy(k, 'tagKey', policy, r);
    const v2 = applyKeyPolicy(v, 'tagValue', policy, r);
    if (k2 === null || v2 === null) return 'series_key';
    out.push([k2, v2]);
  }
  // Sorted by the written key (a rewritten key may sort elsewhere), so equal tag sets give equal
  // text; `replace` can map two keys to one, which would merge two tags.
  if (m !== measurement || out.some((t, i) => t[0] !== keysIn[i])) {
    out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    for (let i = 1; i < out.length; i++) if (out[i]![0] === out[i - 1]![0]) return 'series_key';
  }
  return { measurement: m, tags: out };
}

/**
 * Why `measurement` + `tags` cannot be written under `opts`, or null when they can (the length
 * limit is checked by encodeSeriesKey, which needs the bytes).
 */
export function seriesKeyProblem(measurement: string, tags: Readonly<Record<string, string>>, opts: KeyOptions = {}): UnencodableReason | null {
  const k = mapSeriesKey(measurement, tags, opts);
  return typeof k === 'string' ? k : null;
}

/** The line-protocol text of a mapped key: what InfluxDB identifies the series by. */
export function seriesKeyText(k: MappedKey): string {
  let s = escapeKeyMeasurement(k.measurement);
  for (const [key, v] of k.tags) s += ',' + escapeKeyTag(key) + '=' + escapeKeyTag(v);
  return s;
}

/** Why `name` cannot be a field key, or null when it can. */
export function fieldKeyProblem(name: string): UnencodableReason | null {
  if (!name) return 'empty_name';
  if (name.endsWith('\\')) return 'trailing_backslash';
  if (name === 'time') return 'reserved_key';
  return null;
}

/**
 * Escaped `measurement[,tag=value...]` as UTF-8, after the key policy (default `escape`, see
 * src/encode/escape.ts): tags sorted by key like Point (see sortKeys), tags with an empty key or
 * value skipped like Point. Built once per series (allocates; not per row). For names the policy
 * leaves alone this is byte-identical to Point's key.
 * @throws EncodeError when the key cannot be written (see mapSeriesKey; and `key_too_long`).
 */
export function encodeSeriesKey(measurement: string, tags: Readonly<Record<string, string>>, opts: KeyOptions = {}): Uint8Array {
  const k = mapSeriesKey(measurement, tags, opts);
  if (typeof k === 'string') {
    throw new EncodeError(k, `cannot encode series ${describe(measurement)} ${describe(JSON.stringify(tags))} as line protocol: ${k}; choose sink.tagValues escape or replace, or drop or rename it (e.g. with a schema mapping)`);
  }
  return encodeMappedKey(k, measurement);
}

/** UTF-8 of seriesKeyText(k), checked against InfluxDB's key length limit. */
export function encodeMappedKey(k: MappedKey, measurement: string = k.measurement): Uint8Array {
  const bytes = textEncoder.encode(seriesKeyText(k));
  if (bytes.length > MAX_SERIES_KEY_BYTES) {
    throw new EncodeError('key_too_long', `series key of ${describe(measurement)} is ${bytes.length} bytes, over InfluxDB's ${MAX_SERIES_KEY_BYTES}; drop or shorten its tags`);
  }
  return bytes;
}

/**
 * Escaped field key as UTF-8 (once per field name).
 * @throws EncodeError when the name cannot be a field key (see fieldKeyProblem).
 */
export function encodeFieldKey(name: string): Uint8Array {
  const problem = fieldKeyProblem(name);
  if (problem) throw new EncodeError(problem, `cannot use ${describe(name)} as a line-protocol field key: ${problem}; rename the field`);
  return textEncoder.encode(escapeFieldKey(name));
}

export interface LineWriterOptions {
  /** Timestamp precision written by end(); default 'ms'. */
  precision?: Precision;
  /** 0 (default): shortest round-trip, identical to String(v). N (1..17): N significant digits (see writeFloatDigits). */
  floatDigits?: number;
  /** Initial buffer size in bytes (default 64 KiB); the buffer doubles when full. */
  initialBytes?: number;
}

const PREC_MS = 0;
const PREC_S = 1;
const PREC_US = 2;
const PREC_NS = 3;
const PRECISIONS: Record<Precision, number> = { ms: PREC_MS, s: PREC_S, us: PREC_US, ns: PREC_NS };

/** Room end() needs: ' ' + '-' + 16 digits + 6 zeros + '\n'. */
const END_BYTES = 32;

/**
 * Writes lines into a growable buffer: begin(key), one or more fields, end(ts).
 *
 * Fields are written in call order; to match Point byte for byte, call them in sortKeys order.
 * Writing the same field twice in one line is the caller's mistake (Point would keep the last).
 * `lines`, `byteLength`, `bytes()` and `take()` cover completed lines only: a line between begin()
 * and end() is not visible and is carried over by take().
 */
export class LineWriter {
  private buf: Uint8Array;
  /** Write position. */
  private pos = 0;
  /** Start of the open line (= end of completed bytes). */
  private lineStart = 0;
  private open = false;
  private fields = 0;
  private nLines = 0;
  private readonly precision: number;
  private readonly digits: number;
  /** Timestamp precision of end() (for writers of whole lines, see appendLines). */
  readonly precisionName: Precision;
  private readonly initialBytes: number;
  /**
   * Byte end (just past '\n') of each completed line, for request cuts without a byte scan
   * (src/encode/request-cuts.ts). One Uint32 store per line; grows by doubling, kept across batches.
   */
  private ends = new Uint32Array(1024);
  /** False once lines came in without their ends (appendLines without them): cuts() then returns null. */
  private endsKnown = true;

  constructor(opts: LineWriterOptions = {}) {
    const p = opts.precision ?? 'ms';
    const prec = PRECISIONS[p];
    if (prec === undefined) throw new PromfluxError('PROMFLUX_ENCODE_OPTIONS', `LineWriter: precision must be one of s, ms, us, ns (got ${JSON.stringify(p)})`);
    this.precision = prec;
    this.precisionName = p;
    const d = opts.floatDigits ?? 0;
    if (!Number.isInteger(d) || d < 0 || d > 17) {
      throw new PromfluxError('PROMFLUX_ENCODE_OPTIONS', `LineWriter: floatDigits must be an integer 0..17 (0 = shortest round-trip), got ${d}`);
    }
    this.digits = d;
    this.initialBytes = Math.max(64, Math.floor(opts.initialBytes ?? 65536));
    this.buf = new Uint8Array(this.initialBytes);
  }

  /** 0: shortest round-trip floats; N: N significant digits. */
  get floatDigits(): number {
    return this.digits;
  }

  /**
   * Append `lines` complete lines written elsewhere in this writer's format (the WebAssembly row
   * loop, src/encode/wasm-lines.ts). Not between begin() and end(). `lineEnds`: each line's byte end
   * in this writer (byteLength before the call + its end in `src`); without them cuts() gives up.
   */
  appendLines(src: Uint8Array, lines: number, lineEnds?: Uint32Array): void {
    if (this.open) throw new PromfluxError('PROMFLUX_ENCODE_OPTIONS', 'LineWriter.appendLines: a line is open (call end() first)');
    const n = src.length;
    if (this.pos + n > this.buf.length) this.grow(n);
    this.buf.set(src, this.pos);
    this.pos += n;
    this.lineStart = this.pos;
    if (lineEnds && lineEnds.length === lines) {
      this.reserveEnds(lines);
      this.ends.set(lineEnds, this.nLines);
    } else this.endsKnown = false;
    this.nLines += lines;
  }

  private reserveEnds(more: number): void {
    const need = this.nLines + more;
    if (need <= this.ends.length) return;
    let cap = this.ends.length * 2;
    while (cap < need) cap *= 2;
    const next = new Uint32Array(cap);
    next.set(this.ends.subarray(0, this.nLines));
    this.ends = next;
  }

  /**
   * Request boundaries of the completed lines under `limits` (see cutRequests), from the recorded
   * line ends; null when some lines came without them.
   */
  cuts(limits: RequestLimits): RequestCuts | null {
    if (!this.endsKnown) return null;
    return cutRequests(this.ends, this.nLines, limits.lines, limits.bytes);
  }

  /** Completed lines since the last take()/reset(). */
  get lines(): number {
    return this.nLines;
  }

  /** Bytes of completed lines. */
  get byteLength(): number {
    return this.open ? this.lineStart : this.pos;
  }

  /** Current buffer capacity (grows by doubling). */
  get capacity(): number {
    return this.buf.length;
  }

  /** Make sure `bytes` more fit without growing mid-batch (e.g. lines × average line length). */
  reserve(bytes: number): void {
    if (this.pos + bytes > this.buf.length) this.grow(bytes);
  }

  private grow(need: number): void {
    let cap = this.buf.length * 2;
    while (cap < this.pos + need) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  /** Start a line with a series key from encodeSeriesKey. An unfinished previous line is discarded. */
  begin(key: Uint8Array): void {
    if (this.open) this.pos = this.lineStart;
    else this.lineStart = this.pos;
    const n = key.length;
    if (this.pos + n + MAX_NUMBER_BYTES > this.buf.length) this.grow(n + MAX_NUMBER_BYTES);
    const buf = this.buf;
    let p = this.pos;
    // TypedArray#set is a memcpy behind a fixed call cost: it wins from ~16 bytes on (measured);
    // series keys are 30-100 bytes.
    if (n <= 16) for (let i = 0; i < n; i++) buf[p++] = key[i]!;
    else {
      buf.set(key, p);
      p += n;
    }
    this.pos = p;
    this.open = true;
    this.fields = 0;
  }

  /** ' ' before the first field, ',' before the others, then key and '='. Room is ensured by the caller. */
  private fieldHead(field: Uint8Array): number {
    const buf = this.buf;
    let p = this.pos;
    buf[p++] = this.fields++ === 0 ? 32 : 44;
    const n = field.length;
    if (n <= 16) for (let i = 0; i < n; i++) buf[p++] = field[i]!;
    else {
      buf.set(field, p);
      p += n;
    }
    buf[p++] = 61;
    return p;
  }

  /**
   * Float field, formatted like String(v) (or to floatDigits significant digits). NaN and ±Infinity
   * are not representable in line protocol (Point throws on them): the field is omitted and false
   * is returned; if no field is left, end() rolls the line back.
   */
  float(field: Uint8Array, v: number): boolean {
    if (v - v !== 0) return false; // NaN or ±Infinity
    if (this.pos + field.length + MAX_NUMBER_BYTES + 2 > this.buf.length) this.grow(field.length + MAX_NUMBER_BYTES + 2);
    const p = this.fieldHead(field);
    this.pos = this.digits === 0 ? writeFloat(this.buf, p, v) : writeFloatDigits(this.buf, p, v, this.digits);
    return true;
  }

  /**
   * Integer field "123i", as Point.intField writes it: Math.floor(v). Values Point rejects (NaN,
   * ±Infinity, outside int64) are omitted and false is returned. Past 2^53 the digits are String(v)'s
   * (Point's too), i.e. the double's shortest form padded with zeros.
   */
  int(field: Uint8Array, v: number): boolean {
    if (!(v > -9223372036854776e3 && v < 9223372036854776e3)) return false;
    if (this.pos + field.length + MAX_NUMBER_BYTES + 2 > this.buf.length) this.grow(field.length + MAX_NUMBER_BYTES + 2);
    let p = this.fieldHead(field);
    const buf = this.buf;
    v = Math.floor(v);
    if (v >= -9007199254740991 && v <= 9007199254740991) p = writeInt(buf, p, v);
    else p = writeFloat(buf, p, v); // an integer below 1e21: plain digits, like String(v)
    buf[p++] = 105; // 'i'
    this.pos = p;
    return true;
  }

  /** Unsigned field "123u" as Point.uintField writes it (Math.floor); NaN, negative or > 2^53-1 are omitted (false). */
  uint(field: Uint8Array, v: number): boolean {
    if (!(v >= 0 && v <= 9007199254740991)) return false;
    if (this.pos + field.length + MAX_NUMBER_BYTES + 2 > this.buf.length) this.grow(field.length + MAX_NUMBER_BYTES + 2);
    let p = this.fieldHead(field);
    p = writeUint(this.buf, p, Math.floor(v));
    this.buf[p++] = 117; // 'u'
    this.pos = p;
    return true;
  }

  /** Boolean field: "T" / "F", as Point.booleanField writes it. */
  bool(field: Uint8Array, v: boolean): void {
    if (this.pos + field.length + 4 > this.buf.length) this.grow(field.length + 4);
    const p = this.fieldHead(field);
    this.buf[p] = v ? 84 : 70;
    this.pos = p + 1;
  }

  /** String field: quoted, `"` and `\` escaped, UTF-8 (lone surrogates → U+FFFD), without allocating. */
  string(field: Uint8Array, v: string): void {
    const need = field.length + stringFieldMaxBytes(v.length) + 2;
    if (this.pos + need > this.buf.length) this.grow(need);
    const p = this.fieldHead(field);
    this.pos = writeStringField(this.buf, p, v);
  }

  /**
   * Finish the line with " <timestamp>\n". `tsMs` is epoch milliseconds (an integer; a fraction is
   * floored); it is written in the configured precision: 'ms' as is, 'us'/'ns' as the ms digits
   * followed by "000"/"000000" (never multiplied in floating point: ns epochs exceed 2^53), 's' as
   * Math.floor(ms / 1000) (truncated toward the past, also before 1970: -1500 ms → -2 s, as Point's
   * dateToProtocolTimestamp.s). If no field was written since begin(), the line is rolled back and
   * false is returned.
   */
  end(tsMs: number): boolean {
    if (!this.open) return false;
    this.open = false;
    if (this.fields === 0) {
      this.pos = this.lineStart;
      return false;
    }
    let t = Math.floor(tsMs);
    if (!(t >= -9007199254740991 && t <= 9007199254740991)) {
      this.pos = this.lineStart;
      throw new PromfluxError('PROMFLUX_ENCODE_TIMESTAMP', `LineWriter.end: timestamp ${tsMs} is not a finite epoch-ms value; check the batch's ts column`);
    }
    if (this.pos + END_BYTES > this.buf.length) this.grow(END_BYTES);
    const buf = this.buf;
    let p = this.pos;
    buf[p++] = 32;
    const prec = this.precision;
    if (prec === PREC_S) t = Math.floor(t / 1000);
    p = writeInt(buf, p, t);
    if (prec === PREC_US) {
      buf[p++] = 48;
      buf[p++] = 48;
      buf[p++] = 48;
    } else if (prec === PREC_NS) {
      for (let i = 0; i < 6; i++) buf[p++] = 48;
    }
    buf[p++] = 10;
    this.pos = p;
    this.lineStart = p;
    if (this.nLines >= this.ends.length) this.reserveEnds(1);
    this.ends[this.nLines++] = p;
    return true;
  }

  /** View of the completed lines (valid until the next write, take() or reset()). */
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.byteLength);
  }

  /**
   * Hand over the completed lines as a Uint8Array that owns an exactly-sized ArrayBuffer (so it can
   * be transferred to the main thread without dragging spare capacity along), and start over. The
   * writer keeps its grown buffer: one memcpy per batch instead of a fresh allocation that would be
   * page-faulted in again. An unfinished line is carried over.
   */
  take(): Uint8Array {
    const done = this.byteLength;
    const out = this.buf.slice(0, done);
    if (this.open) {
      this.buf.copyWithin(0, this.lineStart, this.pos);
      this.pos -= this.lineStart;
      this.lineStart = 0;
    } else {
      this.pos = 0;
      this.lineStart = 0;
    }
    this.nLines = 0;
    this.endsKnown = true;
    return out;
  }

  /** Drop everything written (including an unfinished line). Keeps the buffer. */
  reset(): void {
    this.pos = 0;
    this.lineStart = 0;
    this.open = false;
    this.fields = 0;
    this.nLines = 0;
    this.endsKnown = true;
  }

  /**
   * Start over writing into `buf` (e.g. a recycled SharedArrayBuffer view) instead of the private
   * buffer, saving a copy per batch. If it fills up, writing continues in a private buffer that
   * bytes() then returns; `writesInto(buf)` tells which happened.
   */
  resetInto(buf: Uint8Array): void {
    this.reset();
    if (buf.length >= 64) this.buf = buf;
  }

  /** Whether the bytes written since resetInto(buf) are still in `buf`. */
  writesInto(buf: Uint8Array): boolean {
    return this.buf === buf;
  }
}
