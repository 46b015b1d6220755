/**
 * Line-protocol escaping, byte-identical to `@influxdata/influxdb-client` (1.35) `escape.*`:
 *  - measurement: `,` ` ` → `\,` `\ `; newline, CR, tab → the two characters `\n` `\r` `\t`;
 *  - tag keys, tag values, field keys: the same plus `=` → `\=`;
 *  - string field values: `"` → `\"`, `\` → `\\` (newlines stay raw inside the quotes).
 * Backslashes elsewhere are not escaped (InfluxDB 1.x/2.x keep them literally). The line-protocol
 * spec has no newline escape: InfluxDB stores `\n` from a tag as the two characters, as with Point.
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
