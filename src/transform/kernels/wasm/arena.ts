/**
 * The WebAssembly side of the rolling kernel (rolling.as.ts, compiled by `npm run build` to
 * rolling.wasm next to this file): one instance and one linear memory per thread, used as a bump
 * arena that a kernel resets at the start of each batch. The memory only grows (like the batch
 * buffer pools), so a worker's footprint plateaus at its largest batch.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PromfluxError } from '../../../errors.js';

export interface RollingExports {
  splitRun(
    xP: number, tsP: number, start: number, h0: number, end: number, w: number, wms: number, minP: number, outsP: number, slopeP: number, ewmaP: number,
    decay: number, sufP: number, invP: number, direct: boolean, excl: boolean,
  ): void;
  inverses(invP: number, n: number): void;
  prepare(xP: number, pcP: number, start: number, end: number): void;
  sampleEdges(loP: number, start: number, end: number, w: number): void;
  rankRun(xP: number, start: number, end: number, ranksP: number, sortedP: number, keyP: number, idxP: number, key2P: number, idx2P: number, histP: number): number;
  quantilesRank(
    ranksP: number, sortedP: number, loP: number, start: number, h0: number, end: number, m: number, minP: number, cntP: number, b0P: number, b1P: number,
    stP: number, qsP: number, nq: number, qOutsP: number, excl: boolean,
  ): void;
  extremes(
    xP: number, tsP: number, start: number, h0: number, end: number, w: number, wms: number, minP: number, minOutP: number, maxOutP: number, sufP: number,
  ): void;
  maskValues(xP: number, flagsP: number, len: number, dropped: number): void;
  quantiles(xP: number, loP: number, start: number, h0: number, end: number, minP: number, bufP: number, qsP: number, nq: number, qOutsP: number): void;
}

// The WebAssembly API, typed here: @types/node 20 does not declare it and the DOM lib is not used.
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Memory: new (d: { initial: number }) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}
const Wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

const PAGE = 65536;
/** Offset 0 means "no column" in the tables, so allocations start above it. */
const BASE = 64;

export class WasmArena {
  readonly fn: RollingExports;
  private readonly memory: WasmMemory;
  private top = BASE;
  private f64 = new Float64Array(0);
  private i32 = new Int32Array(0);
  private u32 = new Uint32Array(0);

  constructor(module: object) {
    this.memory = new Wasm.Memory({ initial: 16 });
    const inst = new Wasm.Instance(module, { env: { memory: this.memory } });
    this.fn = inst.exports as unknown as RollingExports;
    this.refresh();
  }

  /** Forget every allocation (views handed out before stay valid until the next `commit`). */
  reset(): void {
    this.top = BASE;
  }

  /** Reserve `bytes` (8-byte aligned); returns the byte offset. Call `commit` before using views. */
  alloc(bytes: number): number {
    const p = this.top;
    this.top = p + Math.ceil(bytes / 8) * 8; // not `& ~7`: sizes can pass 2^31
    return p;
  }

  /** Grow the memory to hold every allocation so far (growing replaces the buffer: views after this). */
  commit(): void {
    const have = this.memory.buffer.byteLength;
    if (this.top > have) {
      try {
        this.memory.grow(Math.ceil((this.top - have) / PAGE));
      } catch (err) {
        // wasm32 memory ends at 4 GiB, and the host may refuse earlier
        throw new PromfluxError(
          'PROMFLUX_WASM_MEMORY',
          `the rolling kernel needs ${Math.ceil(this.top / 2 ** 20)} MiB of WebAssembly memory for this batch and could not get it ` +
            `(${(err as Error).message}); use a smaller engine.batchSize (or leave it adaptive) or fewer rolling features per kernel`,
          { cause: err },
        );
      }
      this.refresh();
    }
  }

  f64At(p: number, n: number): Float64Array {
    return this.f64.subarray(p >>> 3, (p >>> 3) + n);
  }

  i32At(p: number, n: number): Int32Array {
    return this.i32.subarray(p >>> 2, (p >>> 2) + n);
  }

  u32At(p: number, n: number): Uint32Array {
    return this.u32.subarray(p >>> 2, (p >>> 2) + n);
  }

  get bytes(): number {
    return this.memory.buffer.byteLength;
  }

  private refresh(): void {
    this.f64 = new Float64Array(this.memory.buffer);
    this.i32 = new Int32Array(this.memory.buffer);
    this.u32 = new Uint32Array(this.memory.buffer);
  }
}

/** Arena scratch of the rank path (wasm rankRun / quantilesRank) for a batch of `len` rows. */
export interface RankScratch { ranksP: number; sortedP: number; keyP: number; idxP: number; key2P: number; idx2P: number; histP: number; cntP: number; b0P: number; b1P: number }

export function rankScratch(A: WasmArena, len: number): RankScratch {
  const words = Math.ceil(len / 64) + 1;
  return {
    ranksP: A.alloc(4 * len), sortedP: A.alloc(8 * len), keyP: A.alloc(8 * len), idxP: A.alloc(4 * len), key2P: A.alloc(8 * len), idx2P: A.alloc(4 * len),
    histP: A.alloc(4 * 6 * 2048), cntP: A.alloc(4 * len), b0P: A.alloc(8 * words), b1P: A.alloc(8 * (Math.ceil(words / 64) + 1)),
  };
}

let arena: WasmArena | undefined;

/**
 * Where the compiled module is: next to this file in dist/, or in dist/ when running from src/
 * (tsx). `here` is for tests.
 */
export function wasmPath(here = fileURLToPath(new URL('./rolling.wasm', import.meta.url))): string {
  if (existsSync(here)) return here;
  const built = here.replace(/([\\/])src([\\/]transform[\\/]kernels[\\/]wasm[\\/]rolling\.wasm)$/, '$1dist$1src$2');
  if (existsSync(built)) return built;
  throw new PromfluxError(
    'PROMFLUX_WASM_MISSING',
    `the rolling kernel's WebAssembly module is missing (looked for ${here}${built !== here ? ` and ${built}` : ''}): run \`npm run build\`, which compiles src/transform/kernels/wasm/rolling.as.ts`,
  );
}

/** This thread's arena (the module is compiled and instantiated on first use). */
export function rollingArena(): WasmArena {
  if (!arena) arena = new WasmArena(new Wasm.Module(readFileSync(wasmPath())));
  return arena;
}
