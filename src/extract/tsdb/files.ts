/**
 * Positioned reads over TSDB files (index, chunk segments, tombstones) and the varint helpers of
 * Prometheus' encoding package, with errors that name the file and the byte offset.
 *
 * Hand-written because it is the hot path of planning (series entries, chunk headers): a window
 * cache turns the mostly sequential small reads of the planner into a few large `readSync` calls.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { SourceError } from '../../errors.js';
import { crc32c } from '../prometheus/decode/crc32c.js';

export const TsdbErrorCode = {
  /** The snapshot / data directory is missing, unreadable or holds no blocks. */
  notFound: 'PROMFLUX_TSDB_NOT_FOUND',
  /** A file is truncated, fails its checksum or does not follow the format (names file and offset). */
  corrupt: 'PROMFLUX_TSDB_CORRUPT',
  /** A valid file in a format version or encoding this reader does not handle. */
  unsupported: 'PROMFLUX_TSDB_UNSUPPORTED',
} as const;

export function tsdbError(code: (typeof TsdbErrorCode)[keyof typeof TsdbErrorCode], message: string, cause?: unknown): SourceError {
  return new SourceError(code, message, cause === undefined ? undefined : { cause });
}

export function corrupt(file: string, offset: number, what: string): SourceError {
  return tsdbError(
    TsdbErrorCode.corrupt,
    `${file} at byte offset ${offset}: ${what}. The block is damaged (or still being written): restore it from a fresh copy (e.g. a new snapshot) or exclude it`,
  );
}

/** A cached positioned reader over one file. */
export class FileWindow {
  readonly fd: number;
  readonly size: number;
  private buf: Buffer;
  private winStart = 0;
  private winEnd = 0;

  constructor(
    readonly path: string,
    windowBytes = 1 << 20,
  ) {
    try {
      this.fd = openSync(path, 'r');
    } catch (err) {
      throw tsdbError(TsdbErrorCode.notFound, `cannot open ${path}: ${(err as Error).message}`, err);
    }
    this.size = fstatSync(this.fd).size;
    // never larger than the file: a block's index is often a few KiB, and a 1 MiB window per file
    // was most of the planner's allocation (external memory that drives GCs)
    this.buf = Buffer.allocUnsafe(Math.max(64, Math.min(windowBytes, this.size)));
  }

  /**
   * Bytes [off, off + n) as a view (valid until the next call). `what` names the structure for
   * the error when the file ends first.
   */
  read(off: number, n: number, what: string): Buffer {
    if (off < 0 || off + n > this.size) throw corrupt(this.path, off, `${what} needs ${n} bytes but the file has ${Math.max(0, this.size - off)} left (truncated, or a corrupt length or offset)`);
    if (off >= this.winStart && off + n <= this.winEnd) return this.buf.subarray(off - this.winStart, off - this.winStart + n);
    if (n > this.buf.length) this.buf = Buffer.allocUnsafe(Math.max(n, this.buf.length * 2));
    const want = Math.min(this.buf.length, this.size - off);
    let got = 0;
    while (got < want) {
      const r = readSync(this.fd, this.buf, got, want - got, off + got);
      if (r === 0) break;
      got += r;
    }
    if (got < n) throw corrupt(this.path, off, `${what}: short read (${got} of ${n} bytes)`);
    this.winStart = off;
    this.winEnd = off + got;
    return this.buf.subarray(0, n);
  }

  /**
   * As `read`, without a view object: makes [off, off + n) resident and returns where it starts
   * in `data` (valid until the next call). For per-chunk planning loops (no Buffer per call).
   */
  locate(off: number, n: number, what: string): number {
    if (off >= this.winStart && off + n <= this.winEnd && off >= 0) return off - this.winStart;
    this.read(off, n, what);
    return 0;
  }

  /** The window's bytes (see `locate`). */
  get data(): Buffer {
    return this.buf;
  }

  /** Up to `n` bytes from off (fewer at the end of the file). */
  readUpTo(off: number, n: number, what: string): Buffer {
    return this.read(off, Math.min(n, Math.max(0, this.size - off)), what);
  }

  close(): void {
    try {
      closeSync(this.fd);
    } catch {
      /* already closed */
    }
  }
}

/** Cursor over a byte slice with Go-compatible varints; `base` is the slice's file offset (errors). */
export class Decbuf {
  pos: number;
  constructor(
    readonly b: Uint8Array,
    readonly file: string,
    readonly base: number,
    start = 0,
    readonly end = b.length,
  ) {
    this.pos = start;
  }

  fail(what: string): never {
    throw corrupt(this.file, this.base + this.pos, what);
  }

  get left(): number {
    return this.end - this.pos;
  }

  byte(): number {
    if (this.pos >= this.end) this.fail('unexpected end of section');
    return this.b[this.pos++]!;
  }

  be32(): number {
    if (this.pos + 4 > this.end) this.fail('unexpected end of section (4-byte field)');
    const b = this.b;
    const p = this.pos;
    this.pos += 4;
    return ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
  }

  be64(): number {
    const hi = this.be32();
    const lo = this.be32();
    if (hi >= 0x200000) this.fail('64-bit field beyond 2^53');
    return hi * 4294967296 + lo;
  }

  uvarint(): number {
    let x = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) this.fail('varint runs past the end of its section');
      const c = this.b[this.pos++]!;
      x += (c & 0x7f) * mul;
      if (c < 0x80) return x;
      mul *= 128;
    }
    this.fail('varint longer than 10 bytes');
  }

  varint(): number {
    const u = this.uvarint();
    return u % 2 === 0 ? u / 2 : -(u + 1) / 2;
  }

  bytes(n: number): Uint8Array {
    if (this.pos + n > this.end) this.fail(`string of ${n} bytes runs past the end of its section`);
    const v = this.b.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: false });
export function str(b: Uint8Array): string {
  return utf8.decode(b);
}

/** Check the CRC-32C stored big-endian right after b[start, end). */
export function checkCrc(b: Uint8Array, start: number, end: number, file: string, fileOffset: number, what: string): void {
  if (end + 4 > b.length) throw corrupt(file, fileOffset + end, `${what}: checksum missing (truncated?)`);
  const want = ((b[end]! << 24) | (b[end + 1]! << 16) | (b[end + 2]! << 8) | b[end + 3]!) >>> 0;
  const got = crc32c(b, start, end);
  if (want !== got) throw corrupt(file, fileOffset + start, `${what}: CRC-32C mismatch (stored ${want.toString(16)}, computed ${got.toString(16)})`);
}
