/**
 * Two layers, applied in this order to measurement names, tag keys and tag values:
 *
 * 1. The *key-character policy* (`KeyPolicy`, config `sink.tagValues`): what to do with the few
 *    things line protocol cannot carry at all. Tested against a real InfluxDB 1.x
 *    (test/encode-fidelity.test.ts): every character except LF (U+000A) is stored and read back
 *    byte for byte, raw (NUL, tab, CR, other C0/C1 controls, DEL, U+2028, …), and so are `%`,
 *    quotes, `#` inside, inner backslashes and any Unicode. What cannot be carried:
 *      - LF anywhere (it ends the line);
 *      - `\` as the last character (it would escape the `,`/`=`/space after it);
 *      - `#` as the first character of a measurement (the line becomes a comment, dropped silently);
 *      - tab or NUL as the first character of a measurement (InfluxDB skips them as leading
 *        whitespace: `\tx` is stored as `x`);
 *      - the tag key `time` (InfluxDB drops the point: "invalid tag key").
 *    `escape` (default) writes each of these as `\u{HEX}` (its code point in lowercase hex) and,
 *    so that the rule is an exact inverse, also the backslash of a literal `\u{` already in the
 *    text (`\u{` → `\u{5c}u{`). Nothing else changes: a name without LF, `\u{`, a trailing `\`
 *    (and, for a measurement, a leading `#`, tab or NUL; for a tag key, the exact key `time`) is written
 *    unchanged. `decodeTagValue` is the inverse for every string. `replace` writes the offending
 *    character as a replacement character instead (lossy); `drop` refuses the name (the encoder
 *    drops the series' samples as `unencodable_series_key`).
 * 2. Line-protocol escaping (below): `,` ` ` (`=` in tags) as Point does; tab and CR raw in series
 *    keys (escapeKeyTag), where Point's `\t` `\r` would change the value.
 *
 * Line-protocol escaping, byte-identical to `@influxdata/influxdb-client` (1.35) `escape.*`:
 *  - measurement: `,` ` ` → `\,` `\ `; newline, CR, tab → the two characters `\n` `\r` `\t`;
 *  - tag keys, tag values, field keys: the same plus `=` → `\=`;
 *  - string field values: `"` → `\"`, `\` → `\\` (newlines stay raw inside the quotes).
 * Backslashes elsewhere are not escaped (InfluxDB 1.x/2.x keep them literally). The line-protocol
 * spec has no newline escape: InfluxDB stores `\n` from a tag as the two characters, as with Point;
 * series keys never reach that case, since the key policy has replaced every LF before.
 *
 * The string-field writer is a hand loop straight into the output buffer: TextEncoder.encodeInto
 * would need the escaped string first (an allocation per value) plus a subarray per call.
 */

function makeEscaper(chars: string, replacements: readonly string[]): (s: string) => string {
  return (s: string): string => {
    let out = '';
    let from = 0;
    for (let i = 0; i < s.length; i++) {
      const found = chars.indexOf(s[i]!);
      if (found >= 0) {
        out += s.substring(from, i) + replacements[found]!;
        from = i + 1;
      }
    }
    return from === 0 ? s : out + s.substring(from);
  };
}

/** Escape a measurement name (commas, spaces, and newline/CR/tab as `\n` `\r` `\t`). */
export const escapeMeasurement: (s: string) => string = makeEscaper(', \n\r\t', ['\\,', '\\ ', '\\n', '\\r', '\\t']);

/** Escape a tag key or tag value (measurement rules plus `=`). */
export const escapeTag: (s: string) => string = makeEscaper(', =\n\r\t', ['\\,', '\\ ', '\\=', '\\n', '\\r', '\\t']);

/**
 * Series-key escaping (measurement names, tag keys, tag values of every series promflux writes):
 * only `,` ` ` (and `=` in tags) get a backslash. Tab and CR stay raw, unlike Point's `\t` `\r`:
 * InfluxDB stores those two characters as backslash + letter (so Point changes the value and merges
 * it with a literal `\t`), while it stores a raw tab or CR exactly (tested, 1.x). LF never gets
 * here: the key policy has rewritten it.
 */
export const escapeKeyMeasurement: (s: string) => string = makeEscaper(', ', ['\\,', '\\ ']);

/** Series-key escaping of a tag key or tag value (see escapeKeyMeasurement). */
export const escapeKeyTag: (s: string) => string = makeEscaper(', =', ['\\,', '\\ ', '\\=']);

/** Escape a field key (same rules as tags, as Point does). */
export const escapeFieldKey: (s: string) => string = escapeTag;

/** Escape a string field value's content (without the surrounding quotes). */
export const escapeStringField: (s: string) => string = makeEscaper('"\\', ['\\"', '\\\\']);

/** Worst-case bytes of `writeStringField` for a string of `len` UTF-16 units (quotes included). */
export function stringFieldMaxBytes(len: number): number {
  return 3 * len + 2;
}

/**
 * Write `"` + escaped UTF-8 of s + `"`. Lone surrogates become U+FFFD (EF BF BD), exactly as
 * TextEncoder / Buffer.from(s, 'utf8') encode them. Caller guarantees stringFieldMaxBytes room
 * (an escaped ASCII char is 2 bytes, any UTF-16 unit at most 3).
 */
export function writeStringField(buf: Uint8Array, pos: number, s: string): number {
  buf[pos++] = 34;
  const n = s.length;
  for (let i = 0; i < n; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      if (c === 34 || c === 92) buf[pos++] = 92;
      buf[pos++] = c;
    } else if (c < 0x800) {
      buf[pos++] = 0xc0 | (c >> 6);
      buf[pos++] = 0x80 | (c & 63);
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const d = i + 1 < n ? s.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
        buf[pos++] = 0xf0 | (c >> 18);
        buf[pos++] = 0x80 | ((c >> 12) & 63);
        buf[pos++] = 0x80 | ((c >> 6) & 63);
        buf[pos++] = 0x80 | (c & 63);
      } else {
        buf[pos++] = 0xef;
        buf[pos++] = 0xbf;
        buf[pos++] = 0xbd;
      }
    } else {
      buf[pos++] = 0xe0 | (c >> 12);
      buf[pos++] = 0x80 | ((c >> 6) & 63);
      buf[pos++] = 0x80 | (c & 63);
    }
  }
  buf[pos++] = 34;
  return pos;
}

/** What to do with a measurement name, tag key or tag value line protocol cannot carry (see top). */
export type KeyPolicy = 'escape' | 'replace' | 'drop';

/** Where a name goes: the checks differ slightly (leading `#`, the reserved key `time`). */
export type KeyPart = 'measurement' | 'tagKey' | 'tagValue';

/** Default replacement character of the `replace` policy. */
export const DEFAULT_REPLACEMENT = '_';

/**
 * Whether a replacement character can be carried itself in every position: one code point, not a
 * C0 control (LF; tab and NUL lead-stripped), not `\`, not `#` (a leading `#` makes a measurement a
 * comment), and not `t` (`time` → `time`).
 */
export function replacementProblem(r: string): string | null {
  if ([...r].length !== 1) return 'must be exactly one character';
  if (r.charCodeAt(0) < 32 || r === '\\' || r === '#' || r === 't') return `${JSON.stringify(r)} cannot be carried by line protocol in every position`;
  return null;
}

/** Measurement first characters InfluxDB does not keep: `#` (comment), tab and NUL (skipped). */
const badLead = (c: number): boolean => c === 35 || c === 9 || c === 0;

/** One test for everything the policy may have to touch (per series, not per sample). */
const SUSPECT = /\n|\\u\{|\\$/;
/**
 * Measurements only: InfluxDB 1.6 unescapes `\,` `\ ` `\=` (and collapses a run of backslashes
 * before them) in a measurement name, so `a\=b` is stored as `a=b` and `a\\\ b` as `a\ b`
 * (test/encode-fidelity.test.ts). A backslash followed by one of `\ , space = "` is therefore
 * written as `\u{5c}` there; tag keys and values keep such backslashes exactly.
 */
const SUSPECT_MEASUREMENT = /\n|\\u\{|\\$|\\[\\, ="]/;
const measurementBackslash = (next: number): boolean => next === 92 || next === 44 || next === 32 || next === 61 || next === 34;
const hex = (c: number): string => `\\u{${c.toString(16)}}`;

/**
 * Apply the key policy to `s` (see the top of this file). Returns `s` itself when nothing needs
 * changing (the common case: one regex test), the rewritten string, or null under `drop` when `s`
 * cannot be carried. Built once per series by the encoder, never per sample.
 */
export function applyKeyPolicy(s: string, part: KeyPart, policy: KeyPolicy, replacement: string = DEFAULT_REPLACEMENT): string | null {
  const leadHash = part === 'measurement' && badLead(s.charCodeAt(0));
  const reserved = part === 'tagKey' && s === 'time';
  const measurement = part === 'measurement';
  if (!leadHash && !reserved && !(measurement ? SUSPECT_MEASUREMENT : SUSPECT).test(s)) return s;
  if (policy === 'drop') {
    // `\u{` is carried fine; only the escape rule has to touch it.
    if (leadHash || reserved || s.includes('\n') || s.endsWith('\\')) return null;
    if (measurement && /\\[\\, ="]/.test(s)) return null;
    return s;
  }
  const esc = policy === 'escape';
  let out = '';
  let from = 0;
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    let bad = false;
    if (c === 10) bad = true;
    else if (c === 92) {
      if (i === n - 1) bad = true;
      else if (measurement && measurementBackslash(s.charCodeAt(i + 1))) bad = true;
      else if (esc && s.charCodeAt(i + 1) === 117 && s.charCodeAt(i + 2) === 123) bad = true; // `\u{`
    } else if (i === 0 && (leadHash || reserved)) bad = true;
    if (!bad) continue;
    out += s.substring(from, i) + (esc ? hex(c) : replacement);
    from = i + 1;
  }
  return out + s.substring(from);
}

/**
 * Inverse of the `escape` key policy, for readers of the data: every `\u{HEX}` (1 to 6 hex digits,
 * a valid code point) becomes that character; everything else is kept as is. For every string s and
 * part p, `decodeTagValue(applyKeyPolicy(s, p, 'escape')) === s`. Apply it to tag values, tag keys
 * and measurement names read back from InfluxDB (InfluxQL/Flux return them line-protocol-unescaped).
 */
export function decodeTagValue(s: string): string {
  if (!s.includes('\\u{')) return s;
  return s.replace(/\\u\{([0-9a-f]{1,6})\}/g, (m, h: string) => {
    const c = parseInt(h, 16);
    return c <= 0x10ffff ? String.fromCodePoint(c) : m;
  });
}
