/**
 * The WebAssembly CRC-32C + XOR chunk decoder (wasm/xor.as.ts, compiled by `npm run build` to
 * wasm/xor.wasm next to this file's output): one instance per worker thread. Per task the bytes
 * of its chunks are read straight into the module's memory (input(); load() copies them in). A series run's chunks are then checked and decoded in one call
 * (decodeRun) into one ts / value region, which the caller hands to its RunWriter at once; single
 * chunks (tombstones, overlaps, or to name what is wrong with one) go through decode(). The JS
 * reader (xor-fast.ts, crc32c-fast.ts) stays the fallback when the module was not built, and
 * under PROMFLUX_TSDB_DECODER=js.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { XorChunkError } from '../prometheus/decode/xor.js';

interface XorExports {
  memory: { buffer: ArrayBuffer; grow(pages: number): number };
  init(): void;
  heapBase(): number;
  crc32c(p: number, n: number): number;
  decodeXor(p: number, n: number, tsP: number, vP: number, cap: number): number;
  decodeRun(tableP: number, k0: number, k1: number, tsP: number, vP: number, cap: number, crcP: number): number;
  runIncreasing(): number;
}

interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}
const Wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

const PAGE = 65536;
/** A chunk holds at most 2^16 - 1 samples (u16 count). */
const MAX_SAMPLES = 65536;
/**
 * Zero bytes after the loaded range: the reader's 64-bit window looks up to 9 bytes ahead, and on
 * corrupt input it stops at most ~60 bytes past a chunk's end. Inside the range the bytes after a
 * chunk are its CRC and the next chunk: bits the reader may peek at but never uses for a valid
 * chunk (a chunk whose reads pass its end fails "ends early", as with zero padding).
 */
const PAD = 80;
/** Room of the run region: samples decoded per decodeRun call and chunk-table rows. */
export const RUN_SAMPLES = 1 << 18;
export const RUN_CHUNKS = 4096;
/** u32 words per chunk-table row: [memory offset of the chunk, bytes, planned samples]. */
export const RUN_ROW = 3;

const MESSAGES: Record<number, string> = {
  [-1]: 'XOR chunk shorter than its header',
  [-2]: 'bad varint in XOR chunk',
  [-3]: 'XOR chunk ends early',
  [-4]: 'XOR chunk has more leading + significant bits than 64',
};

export class XorWasm {
  private readonly ex: XorExports;
  private readonly tsP: number;
  private readonly vP: number;
  private readonly inP: number;
  private u8 = new Uint8Array(0);
  /** Decoded timestamps (ms) and values of the last decode(); valid until the next call. */
  ts = new Float64Array(0);
  vs = new Float64Array(0);
  /** decodeRun's chunk table (RUN_ROW words per chunk) and outputs; valid until the next load(). */
  runTable = new Uint32Array(0);
  runTs = new Float64Array(0);
  runVs = new Float64Array(0);
  /** The last decodeRun's timestamps strictly increase (RunWriter.sampleRun's `increasing`). */
  runIncreasing = false;
  private runP = 0;

  constructor(module: object) {
    this.ex = new Wasm.Instance(module, {}).exports as unknown as XorExports;
    this.ex.init();
    this.tsP = Math.ceil(this.ex.heapBase() / 16) * 16;
    this.vP = this.tsP + MAX_SAMPLES * 8;
    this.inP = this.vP + MAX_SAMPLES * 8;
    this.ensure(this.inP + 65536);
  }

  /** Copy buf[start, end) in (zero-padded); offsets below are relative to `start`. */
  load(buf: Uint8Array, start: number, end: number): void {
    const len = end - start;
    // the run region follows the loaded bytes: [table][crcs][ts][vs]
    this.runP = Math.ceil((this.inP + len + PAD) / 16) * 16;
    this.ensure(this.runP + RUN_CHUNKS * (RUN_ROW + 1) * 4 + 2 * RUN_SAMPLES * 8, true);
    this.u8.set(buf.subarray(start, end), this.inP);
    this.u8.fill(0, this.inP + len, this.inP + len + PAD);
  }

  /**
   * The input region as a Buffer of at least `bytes` bytes, for reading a task's chunks straight
   * into this module's memory (instead of load()'s copy); call loaded() once they are in. Valid
   * until the next input() / load() (memory may grow then).
   */
  input(bytes: number): Buffer {
    this.runP = Math.ceil((this.inP + bytes + PAD) / 16) * 16;
    this.ensure(this.runP + RUN_CHUNKS * (RUN_ROW + 1) * 4 + 2 * RUN_SAMPLES * 8, true);
    return Buffer.from(this.ex.memory.buffer, this.inP, bytes);
  }

  /** The first `bytes` of input() hold the task's bytes: zero the padding after them. */
  loaded(bytes: number): void {
    this.u8.fill(0, this.inP + bytes, this.inP + bytes + PAD);
  }

  /** Memory offset of loaded byte `at` (for runTable rows). */
  at(offset: number): number {
    return this.inP + offset;
  }

  /**
   * Check and decode the chunks in runTable rows [k0, k1) (at most RUN_CHUNKS rows, at most
   * RUN_SAMPLES planned samples) into runTs / runVs; returns the sample count, or -1 - k when
   * chunk k is not exactly as planned (size, CRC-32C, encoding, decode, count): decode it with
   * crc32c() / decode() to name what is wrong. Sets `runIncreasing`.
   */
  decodeRun(k0: number, k1: number): number {
    const tableP = this.runP;
    const crcP = tableP + RUN_CHUNKS * RUN_ROW * 4;
    const tsP = crcP + RUN_CHUNKS * 4;
    const n = this.ex.decodeRun(tableP, k0, k1, tsP, tsP + RUN_SAMPLES * 8, RUN_SAMPLES, crcP);
    this.runIncreasing = n >= 0 && this.ex.runIncreasing() === 1;
    return n;
  }

  /** CRC-32C of loaded bytes [from, to). */
  crc32c(from: number, to: number): number {
    return this.ex.crc32c(this.inP + from, to - from) >>> 0;
  }

  /**
   * Decode the XOR data at loaded bytes [from, to) into `ts` / `vs`; returns the sample count.
   * @throws XorChunkError as the JS reader does.
   */
  decode(from: number, to: number): number {
    const n = this.ex.decodeXor(this.inP + from, to - from, this.tsP, this.vP, MAX_SAMPLES);
    if (n < 0) throw new XorChunkError(MESSAGES[n] ?? `XOR chunk decode failed (${n})`);
    return n;
  }

  private ensure(bytes: number, run = false): void {
    const mem = this.ex.memory;
    const have = mem.buffer.byteLength;
    if (bytes > have) mem.grow(Math.ceil((bytes - have) / PAGE));
    if (this.u8.buffer !== mem.buffer || this.u8.length !== mem.buffer.byteLength) {
      this.u8 = new Uint8Array(mem.buffer);
      this.ts = new Float64Array(mem.buffer, this.tsP, MAX_SAMPLES);
      this.vs = new Float64Array(mem.buffer, this.vP, MAX_SAMPLES);
    }
    if (run && (this.runTable.byteOffset !== this.runP || this.runTable.buffer !== mem.buffer)) {
      const tsP = this.runP + RUN_CHUNKS * (RUN_ROW + 1) * 4;
      this.runTable = new Uint32Array(mem.buffer, this.runP, RUN_CHUNKS * RUN_ROW);
      this.runTs = new Float64Array(mem.buffer, tsP, RUN_SAMPLES);
      this.runVs = new Float64Array(mem.buffer, tsP + RUN_SAMPLES * 8, RUN_SAMPLES);
    }
  }
}

let instance: XorWasm | null | undefined;

function modulePath(): string | null {
  const here = fileURLToPath(new URL('./wasm/xor.wasm', import.meta.url));
  if (existsSync(here)) return here;
  const built = here.replace(/([\\/])src([\\/]extract[\\/]tsdb[\\/]wasm[\\/]xor\.wasm)$/, '$1dist$1src$2');
  return existsSync(built) ? built : null;
}

/** This thread's WebAssembly decoder, or null (module not built, or PROMFLUX_TSDB_DECODER=js): use the JS reader. */
export function xorWasm(): XorWasm | null {
  if (instance === undefined) {
    const path = process.env.PROMFLUX_TSDB_DECODER === 'js' ? null : modulePath();
    instance = path ? new XorWasm(new Wasm.Module(readFileSync(path))) : null;
  }
  return instance;
}
