/**
 * The WebAssembly line-protocol row loop (src/encode/wasm/lineprotocol.as.ts, compiled by
 * `npm run build` to lineprotocol.wasm next to this file's output): one instance and one linear
 * memory per thread. Per batch the written columns (ts, flags, value, features) are copied in
 * (a memcpy each); per series run the key is copied in, the module writes whole lines into its
 * output region, and the bytes are appended to the LineWriter. Output is byte-identical to the JS
 * path (LineWriter.float/int/end), which stays the fallback when the module is missing, for
 * floatDigits ≠ 0, and under PROMFLUX_ENCODER=js.
 *
 * Memory only grows, like the batch pools: a worker's footprint plateaus at its largest batch's
 * columns plus a fixed 1 MiB output region (longer runs are written in several passes).
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PromfluxError } from '../errors.js';
import type { LineWriter, Precision } from './lineprotocol.js';

interface LpExports {
  memory: { buffer: ArrayBuffer; grow(pages: number): number };
  init(invP: number, powP: number, d2P: number): void;
  heapBase(): number;
  formatFloat(p: number, v: number): number;
  encodeRows(
    keyP: number, keyLen: number, fieldsP: number, nFields: number, tsP: number, flagsP: number, flagsKeyP: number, flagsKeyLen: number,
    start: number, end: number, outP: number, outEnd: number, maxLine: number, precision: number, endsP: number, endBase: number,
  ): number;
  resultPos(): number;
  resultLines(): number;
  resultRows(): number;
  resultNoFields(): number;
  resultStatus(): number;
}

interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}
const Wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

const PAGE = 65536;
const PRECISION_CODE: Record<Precision, number> = { ms: 0, s: 1, us: 2, ns: 3 };
/** Series keys are at most 65535 bytes (MAX_SERIES_KEY_BYTES); + slack for the 8-byte copies. */
const KEY_AREA = 65536 + 64;
const OUT_BYTES = 1 << 20;
/**
 * Line ends of one encodeRows call (u32 each): a line is at least 8 bytes (`k f=1 1\n`: key, space,
 * field, space, timestamp digit, newline), so OUT_BYTES / 8 lines at most.
 */
const ENDS_BYTES = (OUT_BYTES / 8) * 4;
/** Bytes one number may take (as MAX_NUMBER_BYTES) plus the 8-byte copy slack. */
const NUMBER_ROOM = 40;

/**
 * Ryu's tables from their definition (ulfjack/ryu d2s_full_table.h, 125-bit entries, u64 low
 * then high): 5^-q as floor(2^(bitlen(5^q) - 1 + 125) / 5^q) + 1 for q < 342, and 5^i scaled to
 * 125 bits for i < 326. Computed once per thread (~1 ms) rather than pasted as 1,336 literals.
 */
function ryuTables(): { inv: BigUint64Array; pow: BigUint64Array } {
  const M = (1n << 64n) - 1n;
  const bits = (x: bigint): bigint => BigInt(x.toString(2).length);
  const inv = new BigUint64Array(342 * 2);
  const pow = new BigUint64Array(326 * 2);
  let p = 1n;
  for (let i = 0; i < 342; i++, p *= 5n) {
    const b = bits(p);
    const v = (1n << (b - 1n + 125n)) / p + 1n;
    inv[2 * i] = v & M;
    inv[2 * i + 1] = v >> 64n;
    if (i < 326) {
      const w = b >= 125n ? p >> (b - 125n) : p << (125n - b);
      pow[2 * i] = w & M;
      pow[2 * i + 1] = w >> 64n;
    }
  }
  return { inv, pow };
}

/** A field as the row loop writes it: its key bytes (`name`, without '=') and kind. */
export interface WasmField {
  key: Uint8Array;
  int: boolean;
}

export class WasmLines {
  private readonly ex: LpExports;
  private u8 = new Uint8Array(0);
  private f64 = new Float64Array(0);
  private u32 = new Uint32Array(0);
  private i32 = new Int32Array(0);
  /** Start of the per-batch region (field table, keys, columns, output). */
  private readonly dyn: number;
  private readonly keyP: number;
  private fieldsP = 0;
  private nFields = 0;
  private flagsKeyP = 0;
  private flagsKeyLen = 0;
  private tsP = 0;
  private flagsP = 0;
  private outP = 0;
  private outEnd = 0;
  private endsP = 0;
  private fieldBytes = 0;
  private precision = 0;

  constructor(module: object) {
    this.ex = new Wasm.Instance(module, {}).exports as unknown as LpExports;
    const base = align(this.ex.heapBase(), 16);
    const { inv, pow } = ryuTables();
    const invP = base;
    const powP = invP + inv.byteLength;
    const d2P = powP + pow.byteLength;
    this.keyP = align(d2P + 200, 16);
    this.dyn = align(this.keyP + KEY_AREA, 16);
    this.ensure(this.dyn + OUT_BYTES);
    new BigUint64Array(this.ex.memory.buffer, invP, inv.length).set(inv);
    new BigUint64Array(this.ex.memory.buffer, powP, pow.length).set(pow);
    for (let i = 0; i < 100; i++) {
      this.u8[d2P + 2 * i] = 48 + ((i / 10) | 0);
      this.u8[d2P + 2 * i + 1] = 48 + (i % 10);
    }
    this.ex.init(invP, powP, d2P);
  }

  /** Format one double with the module (tests compare it with String(v) and the JS writer). */
  formatFloat(v: number): string {
    const p = this.dyn;
    const e = this.ex.formatFloat(p, v);
    return Buffer.from(this.u8.buffer, p, e - p).toString('latin1');
  }

  /**
   * Lay out one batch: the written columns (value first, then features, as SeriesEncoder writes
   * them), each field's `name=` key and kind, the flags key (null = no flags field), ts and flags.
   */
  beginBatch(length: number, ts: Float64Array, flags: Uint32Array, cols: Float64Array[], fields: WasmField[], flagsKey: Uint8Array | null, precision: Precision): void {
    const nf = fields.length;
    let p = this.dyn;
    this.fieldsP = p;
    p += nf * 16;
    let fieldBytes = 0;
    const keyAt: number[] = [];
    for (const f of fields) {
      keyAt.push(p);
      p = align(p + f.key.length + 1 + 8, 8);
      fieldBytes += f.key.length + 2 + NUMBER_ROOM + 1;
    }
    this.flagsKeyP = p;
    this.flagsKeyLen = flagsKey ? flagsKey.length + 1 : 0;
    p = align(p + this.flagsKeyLen + 8, 8);
    if (flagsKey) fieldBytes += flagsKey.length + 2 + NUMBER_ROOM + 1;
    this.fieldBytes = fieldBytes;
    this.tsP = p;
    p += length * 8;
    this.flagsP = p;
    p = align(p + length * 4, 8);
    const colAt: number[] = [];
    for (let f = 0; f < nf; f++) {
      colAt.push(p);
      p += length * 8;
    }
    this.outP = p;
    this.outEnd = p + OUT_BYTES;
    this.endsP = align(this.outEnd + 64, 16);
    this.ensure(this.endsP + ENDS_BYTES);
    const u8 = this.u8;
    for (let f = 0; f < nf; f++) {
      const k = fields[f]!.key;
      u8.set(k, keyAt[f]!);
      u8[keyAt[f]! + k.length] = 61; // '='
      const o = (this.fieldsP >>> 2) + f * 4;
      this.i32[o] = colAt[f]!;
      this.i32[o + 1] = keyAt[f]!;
      this.i32[o + 2] = k.length + 1;
      this.i32[o + 3] = fields[f]!.int ? 1 : 0;
      this.f64.set(cols[f]!.subarray(0, length), colAt[f]! >>> 3);
    }
    if (flagsKey) {
      u8.set(flagsKey, this.flagsKeyP);
      u8[this.flagsKeyP + flagsKey.length] = 61;
    }
    this.nFields = nf;
    this.f64.set(ts.subarray(0, length), this.tsP >>> 3);
    this.u32.set(flags.subarray(0, length), this.flagsP >>> 2);
    this.precision = PRECISION_CODE[precision];
  }

  /**
   * Encode rows [start, end) of one run under `key` into w. A row whose timestamp the module
   * refuses (not a finite safe integer) goes to `jsRow`, the JS writer, which reports it.
   * Returns the rows written (lines, including ones rolled back for lack of a writable field,
   * as the JS walk counts them) and adds rows without any finite field to counts.noFields; -1
   * (nothing done) when the line shape is too large for the module.
   */
  encodeRun(w: LineWriter, key: Uint8Array, start: number, end: number, counts: { noFields: number }, jsRow: (row: number) => void): number {
    const maxLine = key.length + this.fieldBytes + NUMBER_ROOM + 16;
    // Lines that may not fit the output region (thousands of fields), or keys longer than
    // InfluxDB allows: the JS writer handles them.
    if (maxLine > OUT_BYTES || key.length + 8 > KEY_AREA) return -1;
    this.u8.set(key, this.keyP);
    const ex = this.ex;
    let rows = 0;
    let i = start;
    while (i < end) {
      const stop = ex.encodeRows(this.keyP, key.length, this.fieldsP, this.nFields, this.tsP, this.flagsP, this.flagsKeyP, this.flagsKeyLen, i, end, this.outP, this.outEnd, maxLine, this.precision, this.endsP, w.byteLength);
      rows += ex.resultRows();
      counts.noFields += ex.resultNoFields();
      const pos = ex.resultPos();
      const lines = ex.resultLines();
      if (pos > this.outP) w.appendLines(this.u8.subarray(this.outP, pos), lines, this.u32.subarray(this.endsP >>> 2, (this.endsP >>> 2) + lines));
      if (ex.resultStatus() === 2) {
        jsRow(stop);
        rows++;
        i = stop + 1;
      } else i = stop;
    }
    return rows;
  }

  private ensure(bytes: number): void {
    const mem = this.ex.memory;
    const have = mem.buffer.byteLength;
    if (bytes > have) {
      try {
        mem.grow(Math.ceil((bytes - have) / PAGE));
      } catch (err) {
        throw new PromfluxError(
          'PROMFLUX_WASM_MEMORY',
          `the line-protocol encoder needs ${Math.ceil(bytes / 2 ** 20)} MiB of WebAssembly memory for this batch and could not get it ` +
            `(${(err as Error).message}); use a smaller engine.batchSize (or leave it adaptive) or fewer features`,
          { cause: err },
        );
      }
    }
    if (this.u8.buffer !== mem.buffer || this.u8.length !== mem.buffer.byteLength) {
      this.u8 = new Uint8Array(mem.buffer);
      this.f64 = new Float64Array(mem.buffer);
      this.u32 = new Uint32Array(mem.buffer);
      this.i32 = new Int32Array(mem.buffer);
    }
  }
}

function align(p: number, a: number): number {
  return Math.ceil(p / a) * a;
}

let instance: WasmLines | null | undefined;
let enabled = true;

/**
 * Switch the WebAssembly row loop off (false) or back on for this thread: tests and the encoder
 * benchmark compare both paths in one process. Returns whether it was on.
 */
export function useWasmLines(on: boolean): boolean {
  const was = enabled;
  enabled = on;
  return was;
}

/** Where the compiled module is: next to this file in dist/, or in dist/ when running from src/ (tsx). */
function modulePath(): string | null {
  const here = fileURLToPath(new URL('./wasm/lineprotocol.wasm', import.meta.url));
  if (existsSync(here)) return here;
  const built = here.replace(/([\\/])src([\\/]encode[\\/]wasm[\\/]lineprotocol\.wasm)$/, '$1dist$1src$2');
  return existsSync(built) ? built : null;
}

/**
 * This thread's WebAssembly encoder, or null when it is switched off (PROMFLUX_ENCODER=js) or the
 * module was not built: callers then use the JS writer, which writes the same bytes more slowly.
 */
export function wasmLines(): WasmLines | null {
  if (!enabled) return null;
  if (instance === undefined) {
    const path = process.env.PROMFLUX_ENCODER === 'js' ? null : modulePath();
    instance = path ? new WasmLines(new Wasm.Module(readFileSync(path))) : null;
  }
  return instance;
}
