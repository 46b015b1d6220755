/**
 * Minimal protobuf wire-format helpers for the prompb remote-read messages (a handful of fields;
 * protobufjs would build one object per sample and per label, which is what we avoid).
 */

/** Reader over a byte range; `pos` advances. Throws RangeError on truncation (caller adds context). */
export class PbReader {
  pos: number;
  constructor(
    readonly buf: Uint8Array,
    start = 0,
    public end = buf.length,
  ) {
    this.pos = start;
  }

  /** Unsigned varint up to 2^53 (timestamps, lengths). Larger (negative int64) → see int64(). */
  uvarint(): number {
    const b = this.buf;
    let p = this.pos;
    let x = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (p >= this.end) throw new RangeError('truncated varint');
      const c = b[p++]!;
      x += (c & 0x7f) * mul;
      if (c < 0x80) {
        this.pos = p;
        return x;
      }
      mul *= 128;
    }
    throw new RangeError('varint longer than 10 bytes');
  }

  /** int64 varint, two's complement for negatives (exact for |v| < 2^53). */
  int64(): number {
    const start = this.pos;
    const v = this.uvarint();
    if (v < 2 ** 63) return v;
    // negative: recompute exactly with BigInt (rare: timestamps before 1970)
    let x = 0n;
    let shift = 0n;
    for (let p = start; p < this.pos; p++) {
      x |= BigInt(this.buf[p]! & 0x7f) << shift;
      shift += 7n;
    }
    return Number(BigInt.asIntN(64, x));
  }

  double(): number {
    if (this.pos + 8 > this.end) throw new RangeError('truncated double');
    const b = this.buf;
    const p = this.pos;
    this.pos = p + 8;
    return new DataView(b.buffer, b.byteOffset + p, 8).getFloat64(0, true);
  }

  /** Length of a length-delimited field; pos moves to its first byte. */
  len(): number {
    const n = this.uvarint();
    if (this.pos + n > this.end) throw new RangeError('truncated length-delimited field');
    return n;
  }

  string(): string {
    const n = this.len();
    const s = Buffer.from(this.buf.buffer, this.buf.byteOffset + this.pos, n).toString('utf8');
    this.pos += n;
    return s;
  }

  skip(wireType: number): void {
    switch (wireType) {
      case 0:
        this.uvarint();
        break;
      case 1:
        this.pos += 8;
        break;
      case 2: {
        const n = this.len();
        this.pos += n;
        break;
      }
      case 5:
        this.pos += 4;
        break;
      default:
        throw new RangeError(`unsupported wire type ${wireType}`);
    }
    if (this.pos > this.end) throw new RangeError('truncated field');
  }
}

/** Growable writer for the (small) ReadRequest. */
export class PbWriter {
  private buf = new Uint8Array(256);
  private n = 0;

  private ensure(k: number): void {
    if (this.n + k <= this.buf.length) return;
    const b = new Uint8Array(Math.max(this.buf.length * 2, this.n + k));
    b.set(this.buf.subarray(0, this.n));
    this.buf = b;
  }

  uvarint(v: number): this {
    this.ensure(10);
    while (v >= 0x80) {
      this.buf[this.n++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.n++] = v;
    return this;
  }

  tag(field: number, wire: number): this {
    return this.uvarint(field * 8 + wire);
  }

  /** int64 field (varint; negatives as 10-byte two's complement). */
  int64(field: number, v: number): this {
    this.tag(field, 0);
    if (v >= 0) return this.uvarint(v);
    let x = BigInt.asUintN(64, BigInt(v));
    this.ensure(10);
    while (x >= 0x80n) {
      this.buf[this.n++] = Number(x & 0x7fn) | 0x80;
      x >>= 7n;
    }
    this.buf[this.n++] = Number(x);
    return this;
  }

  bytes(field: number, data: Uint8Array): this {
    this.tag(field, 2).uvarint(data.length);
    this.ensure(data.length);
    this.buf.set(data, this.n);
    this.n += data.length;
    return this;
  }

  string(field: number, s: string): this {
    return this.bytes(field, Buffer.from(s, 'utf8'));
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.n);
  }
}
