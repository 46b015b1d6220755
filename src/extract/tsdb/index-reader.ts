/**
 * Reader of a block's `index` file (tsdb/docs/format/index.md, format version 2): TOC, symbol
 * table, postings offset table, postings lists and series entries. Label matchers are resolved
 * through the postings: a matcher that names the metric (or any `=`/`=~` matcher) reads only the
 * postings lists of the label values it matches, never every series. Runs on the main thread and
 * works per series, never per sample.
 */
import { Decbuf, FileWindow, TsdbErrorCode, checkCrc, corrupt, str, tsdbError } from './files.js';
import type { LabelMatcher } from '../prometheus/selector.js';

const MAGIC_INDEX = 0xbaaad700;
const TOC_LEN = 6 * 8 + 4;

export interface Toc {
  symbols: number;
  series: number;
  labelIndices: number;
  labelOffsetTable: number;
  postings: number;
  postingsOffsetTable: number;
}

/** One chunk of a series as the index lists it. */
export interface ChunkMeta {
  mint: number;
  maxt: number;
  /** Segment sequence (index into the block's sorted chunks/ files) and byte offset. */
  segment: number;
  offset: number;
}

export interface SeriesEntry {
  ref: number;
  labels: Array<[string, string]>;
  chunks: ChunkMeta[];
}

export class IndexReader {
  readonly file: FileWindow;
  readonly toc: Toc;
  private symbols: string[] = [];
  /** label name → sorted values and their postings offsets. */
  private postingsTable = new Map<string, { values: string[]; offsets: number[] }>();

  constructor(readonly path: string) {
    this.file = new FileWindow(path);
    const f = this.file;
    if (f.size < 5 + TOC_LEN) throw corrupt(path, 0, `index of ${f.size} bytes is shorter than its header and table of contents`);
    const head = new Decbuf(f.read(0, 5, 'index header'), path, 0);
    const magic = head.be32();
    if (magic !== MAGIC_INDEX) throw corrupt(path, 0, `bad magic ${magic.toString(16)} (want baaad700): not a Prometheus index file`);
    const version = head.byte();
    if (version !== 2) throw tsdbError(TsdbErrorCode.unsupported, `${path}: index format version ${version}; only version 2 (Prometheus ≥ 2.0 after its first compaction) is supported`);
    const tocOff = f.size - TOC_LEN;
    const tb = Buffer.from(f.read(tocOff, TOC_LEN, 'table of contents'));
    checkCrc(tb, 0, 48, path, tocOff, 'table of contents');
    const d = new Decbuf(tb, path, tocOff, 0, 48);
    this.toc = { symbols: d.be64(), series: d.be64(), labelIndices: d.be64(), labelOffsetTable: d.be64(), postings: d.be64(), postingsOffsetTable: d.be64() };
    for (const [k, v] of Object.entries(this.toc)) {
      if (v >= tocOff) throw corrupt(path, tocOff, `table of contents points ${k} at ${v}, past the end of the index`);
    }
    this.readSymbols();
    this.readPostingsTable();
  }

  /** A section `len <4b> | body | CRC32` at off: its body, checksum verified. */
  private section(off: number, what: string): { body: Buffer; base: number } {
    const lenBuf = this.file.read(off, 4, `${what} length`);
    const len = lenBuf.readUInt32BE(0);
    const all = Buffer.from(this.file.read(off + 4, len + 4, what));
    checkCrc(all, 0, len, this.path, off + 4, what);
    return { body: all.subarray(0, len), base: off + 4 };
  }

  private readSymbols(): void {
    if (this.toc.symbols === 0) return;
    const { body, base } = this.section(this.toc.symbols, 'symbol table');
    const d = new Decbuf(body, this.path, base);
    const n = d.be32();
    const out = new Array<string>(n);
    for (let i = 0; i < n; i++) out[i] = str(d.bytes(d.uvarint()));
    this.symbols = out;
  }

  private readPostingsTable(): void {
    if (this.toc.postingsOffsetTable === 0) return;
    const { body, base } = this.section(this.toc.postingsOffsetTable, 'postings offset table');
    const d = new Decbuf(body, this.path, base);
    const n = d.be32();
    for (let i = 0; i < n; i++) {
      const k = d.uvarint();
      if (k !== 2) d.fail(`postings offset entry with ${k} label parts (want 2)`);
      const name = str(d.bytes(d.uvarint()));
      const value = str(d.bytes(d.uvarint()));
      const off = d.uvarint();
      let e = this.postingsTable.get(name);
      if (!e) this.postingsTable.set(name, (e = { values: [], offsets: [] }));
      e.values.push(value);
      e.offsets.push(off);
    }
  }

  symbol(i: number, at: number): string {
    const s = this.symbols[i];
    if (s === undefined) throw corrupt(this.path, at, `series references symbol ${i} but the table has ${this.symbols.length}`);
    return s;
  }

  /** Series refs of one postings list (sorted ascending). */
  postingsAt(off: number): Uint32Array {
    const { body, base } = this.section(off, 'postings list');
    const d = new Decbuf(body, this.path, base);
    const n = d.be32();
    if (body.length !== 4 + 4 * n) d.fail(`postings list says ${n} entries but holds ${(body.length - 4) / 4}`);
    const out = new Uint32Array(n);
    for (let i = 0; i < n; i++) out[i] = d.be32();
    return out;
  }

  /** Every series ref (the all-postings list, key "" = ""). */
  allPostings(): Uint32Array {
    const e = this.postingsTable.get('');
    if (!e || e.offsets.length === 0) return new Uint32Array(0);
    return this.postingsAt(e.offsets[0]!);
  }

  /** Union of the postings of `name` values accepted by `test`. */
  private postingsWhere(name: string, test: (v: string) => boolean): Uint32Array {
    const e = this.postingsTable.get(name);
    if (!e) return new Uint32Array(0);
    const lists: Uint32Array[] = [];
    for (let i = 0; i < e.values.length; i++) if (test(e.values[i]!)) lists.push(this.postingsAt(e.offsets[i]!));
    return union(lists);
  }

  /**
   * Series refs that satisfy every matcher. Matchers that cannot match the empty value (`a="x"`,
   * `a=~"x.+"`) select through their postings lists and are intersected; the others (`!=`, `!~`,
   * matchers accepting "") are checked on each candidate's labels by the caller (`matches`).
   */
  select(matchers: readonly LabelMatcher[]): Uint32Array {
    let cand: Uint32Array | undefined;
    for (const m of matchers) {
      const test = matcherTest(m);
      if (test('')) continue;
      const p = m.type === '=' ? this.postingsWhere(m.name, (v) => v === m.value) : this.postingsWhere(m.name, test);
      cand = cand ? intersect(cand, p) : p;
      if (cand.length === 0) return cand;
    }
    return cand ?? this.allPostings();
  }

  /** Decode the series entry of `ref` (offset ref × 16 in the series section). */
  series(ref: number): SeriesEntry {
    const off = ref * 16;
    if (this.toc.series === 0 || off < this.toc.series || off >= this.file.size) throw corrupt(this.path, off, `a postings list references series ${ref}, outside the series section`);
    const head = this.file.readUpTo(off, 10, `series ${ref} length`);
    const hd = new Decbuf(head, this.path, off);
    const len = hd.uvarint();
    const lenBytes = hd.pos;
    const raw = this.file.read(off + lenBytes, len + 4, `series ${ref}`);
    checkCrc(raw, 0, len, this.path, off + lenBytes, `series ${ref}`);
    const d = new Decbuf(raw, this.path, off + lenBytes, 0, len);
    const nl = d.uvarint();
    const labels: Array<[string, string]> = [];
    for (let i = 0; i < nl; i++) {
      const at = d.pos;
      const n = this.symbol(d.uvarint(), off + lenBytes + at);
      const v = this.symbol(d.uvarint(), off + lenBytes + at);
      labels.push([n, v]);
    }
    const nc = d.uvarint();
    const chunks: ChunkMeta[] = new Array(nc);
    let mint = 0;
    let maxt = 0;
    let ref0 = 0;
    for (let i = 0; i < nc; i++) {
      if (i === 0) {
        mint = d.varint();
        maxt = mint + d.uvarint();
        ref0 = d.uvarint();
      } else {
        mint = maxt + d.uvarint();
        maxt = mint + d.uvarint();
        ref0 += d.varint();
      }
      const segment = Math.floor(ref0 / 4294967296);
      chunks[i] = { mint, maxt, segment, offset: ref0 - segment * 4294967296 };
    }
    return { ref, labels, chunks };
  }

  close(): void {
    this.file.close();
  }
}

export function matcherTest(m: LabelMatcher): (v: string) => boolean {
  switch (m.type) {
    case '=':
      return (v) => v === m.value;
    case '!=':
      return (v) => v !== m.value;
    case '=~': {
      const re = new RegExp(`^(?:${m.value})$`, 'su');
      return (v) => re.test(v);
    }
    case '!~': {
      const re = new RegExp(`^(?:${m.value})$`, 'su');
      return (v) => !re.test(v);
    }
  }
}

/** Does a label set (sorted pairs) satisfy every matcher? A missing label has the value "". */
export function matches(labels: ReadonlyArray<readonly [string, string]>, tests: ReadonlyArray<{ name: string; test: (v: string) => boolean }>): boolean {
  for (const t of tests) {
    let v = '';
    for (const [n, lv] of labels) if (n === t.name) v = lv;
    if (!t.test(v)) return false;
  }
  return true;
}

function intersect(a: Uint32Array, b: Uint32Array): Uint32Array {
  const out = new Uint32Array(Math.min(a.length, b.length));
  let i = 0;
  let j = 0;
  let k = 0;
  while (i < a.length && j < b.length) {
    const x = a[i]!;
    const y = b[j]!;
    if (x === y) {
      out[k++] = x;
      i++;
      j++;
    } else if (x < y) i++;
    else j++;
  }
  return out.subarray(0, k);
}

function union(lists: Uint32Array[]): Uint32Array {
  if (lists.length === 0) return new Uint32Array(0);
  if (lists.length === 1) return lists[0]!;
  let n = 0;
  for (const l of lists) n += l.length;
  const all = new Uint32Array(n);
  let o = 0;
  for (const l of lists) {
    all.set(l, o);
    o += l.length;
  }
  all.sort();
  let k = 0;
  for (let i = 0; i < all.length; i++) if (i === 0 || all[i] !== all[i - 1]) all[k++] = all[i]!;
  return all.subarray(0, k);
}
