/**
 * Halo hand-off between consecutive chunks of one query (docs/ARCHITECTURE.md#halo-hand-off).
 *
 * Chunk k's worker, right after decoding (before its kernels), writes each series' raw tail, the
 * rows chunk k+1 would have kept as halo had it fetched its history again, into a growable
 * SharedArrayBuffer and flips its status word. Chunk k+1 was fetched for its own range only; the
 * source hands it to the dispatcher once that word says ready (Atomics.waitAsync on the main
 * thread, which never reads the rows), and its worker reads the tail as its halo. The main thread
 * allocates the buffer, passes its reference along, and marks it failed when chunk k's attempt
 * ends without publishing; chunk k+1 then fetches its history as before.
 *
 * Layout (little-endian, as typed arrays are on every platform Node runs on):
 *   Int32 [0] status (0 pending, 1 ready, 2 failed), [1] series, [2] rows, [3] key bytes
 *   Float64 ts[rows], Float64 value[rows], Uint32 rowEnd[series], Uint32 keyEnd[series], UTF-8 keys
 * Rows of a series are contiguous and time-ascending.
 */

export const TAIL_PENDING = 0;
export const TAIL_READY = 1;
export const TAIL_FAILED = 2;

const HEADER = 16;
/** Reserved address space per tail (committed only as written): far above any tail a batch holds. */
const TAIL_MAX_BYTES = 1 << 30;

// ES2024 members Node 20 has (growable SharedArrayBuffer, Atomics.waitAsync) but our TS lib does not declare.
type Growable = SharedArrayBuffer & { readonly maxByteLength: number; grow(bytes: number): void };
const GrowableSAB = SharedArrayBuffer as unknown as new (bytes: number, opts: { maxByteLength: number }) => Growable;
const waitAsync = (Atomics as unknown as { waitAsync(a: Int32Array, i: number, v: number, ms: number): { async: boolean; value: unknown } }).waitAsync;

/** A new, empty (pending) tail buffer: main thread, one per chunk that may hand off. */
export function newTailBuffer(): SharedArrayBuffer {
  return new GrowableSAB(HEADER, { maxByteLength: TAIL_MAX_BYTES });
}

/** Status word of a tail buffer. */
export function tailStatus(buf: SharedArrayBuffer): number {
  return Atomics.load(new Int32Array(buf, 0, 1), 0);
}

/** Mark a still-pending tail failed (its chunk's attempt ended without publishing) and wake its waiter. */
export function failTail(buf: SharedArrayBuffer): void {
  const w = new Int32Array(buf, 0, 1);
  if (Atomics.compareExchange(w, 0, TAIL_PENDING, TAIL_FAILED) === TAIL_PENDING) Atomics.notify(w, 0);
}

/** Bytes a published tail holds (0 while pending or failed). */
export function tailBytes(buf: SharedArrayBuffer): number {
  return tailStatus(buf) === TAIL_READY ? buf.byteLength : 0;
}

/** A published tail, read in a worker: per series key, its rows [from, to) in `ts`/`value`. */
export interface TailView {
  ts: Float64Array;
  value: Float64Array;
  rows: Map<string, [number, number]>;
}

/**
 * Main thread: resolves true once the tail is published, false when it failed, `timeoutMs` passed
 * (a consumer that never ran the previous chunk: this one then fetches its history) or `signal`
 * aborts. Atomics.waitAsync: the event loop keeps running; no worker ever blocks on another's tail.
 */
export async function tailSettled(buf: SharedArrayBuffer, signal: AbortSignal, timeoutMs: number): Promise<boolean> {
  const head = new Int32Array(buf, 0, 1);
  const deadline = Date.now() + timeoutMs;
  while (Atomics.load(head, 0) === TAIL_PENDING && !signal.aborted && Date.now() < deadline) {
    const w = waitAsync(head, 0, TAIL_PENDING, Math.max(1, Math.min(1000, deadline - Date.now())));
    if (w.async) await w.value;
  }
  return Atomics.load(head, 0) === TAIL_READY;
}

/** Worker: a published tail as views (undefined unless ready). Per series work only. */
export function readTail(buf: SharedArrayBuffer): TailView | undefined {
  const head = new Int32Array(buf, 0, 4);
  if (Atomics.load(head, 0) !== TAIL_READY) return undefined;
  const series = head[1]!;
  const n = head[2]!;
  const keyBytes = head[3]!;
  const ts = new Float64Array(buf, HEADER, n);
  const value = new Float64Array(buf, HEADER + n * 8, n);
  const rowEnd = new Uint32Array(buf, HEADER + n * 16, series);
  const keyEnd = new Uint32Array(buf, HEADER + n * 16 + series * 4, series);
  const keys = new Uint8Array(buf, HEADER + n * 16 + series * 8, keyBytes);
  const dec = new TextDecoder();
  const rows = new Map<string, [number, number]>();
  let r0 = 0;
  let k0 = 0;
  for (let s = 0; s < series; s++) {
    // TextDecoder cannot read a shared view: copy the key's bytes (per series, a few dozen bytes).
    rows.set(dec.decode(keys.slice(k0, keyEnd[s]!)), [r0, rowEnd[s]!]);
    r0 = rowEnd[s]!;
    k0 = keyEnd[s]!;
  }
  return { ts, value, rows };
}

/**
 * Which rows before `endMs` the next chunk keeps as halo, the same rule RunWriter applies to a
 * re-fetched history: rows at or after `fromMs` (the next chunk's fetch start), of those all within
 * `haloMs` of `endMs`, and `haloSamples` more before them (all of them when `haloAll`, range mode).
 */
export interface TailRule {
  endMs: number;
  fromMs: number;
  haloMs: number;
  haloSamples: number;
  haloAll: boolean;
}

/** First index in [lo, hi) of the kept tail of time-ascending rows `ts[lo..hi)` under the rule. */
export function tailStart(ts: ArrayLike<number>, lo: number, hi: number, rule: TailRule): number {
  const near = rule.endMs - rule.haloMs;
  let i = hi;
  while (i > lo && ts[i - 1]! >= near && ts[i - 1]! >= rule.fromMs) i--;
  if (rule.haloAll) {
    while (i > lo && ts[i - 1]! >= rule.fromMs) i--;
    return i;
  }
  let extra = 0;
  while (i > lo && extra < rule.haloSamples && ts[i - 1]! >= rule.fromMs) {
    i--;
    extra++;
  }
  return i;
}

/** Worker: collects series tails during a fill, then publishes them in one write. */
export class TailWriter {
  private ts = new Float64Array(1024);
  private value = new Float64Array(1024);
  private n = 0;
  private readonly keys: string[] = [];
  private readonly ends: number[] = [];
  private readonly seen = new Set<string>();

  constructor(
    private readonly buf: SharedArrayBuffer,
    readonly rule: TailRule,
  ) {}

  /** Has the series already got its tail (a key seen twice in one response is taken once). */
  has(key: string): boolean {
    return this.seen.has(key);
  }

  /** Add a series' kept tail from time-ascending rows `ts[lo..hi)` (all < rule.endMs). */
  add(key: string, ts: Float64Array, value: Float64Array, lo: number, hi: number): void {
    if (this.seen.has(key)) return;
    this.seen.add(key);
    const from = tailStart(ts, lo, hi, this.rule);
    const m = hi - from;
    if (m <= 0) return;
    if (this.n + m > this.ts.length) this.grow(this.n + m);
    this.ts.set(ts.subarray(from, hi), this.n);
    this.value.set(value.subarray(from, hi), this.n);
    this.n += m;
    this.keys.push(key);
    this.ends.push(this.n);
  }

  private grow(min: number): void {
    const cap = Math.max(min, this.ts.length * 2);
    const ts = new Float64Array(cap);
    const value = new Float64Array(cap);
    ts.set(this.ts.subarray(0, this.n));
    value.set(this.value.subarray(0, this.n));
    this.ts = ts;
    this.value = value;
  }

  /** Write the tail into the shared buffer and wake the next chunk's worker. No-op unless pending. */
  publish(): void {
    const head = new Int32Array(this.buf, 0, 4);
    if (Atomics.load(head, 0) !== TAIL_PENDING) return;
    const enc = new TextEncoder();
    const keyBytes = this.keys.map((k) => enc.encode(k));
    const kb = keyBytes.reduce((a, b) => a + b.byteLength, 0);
    const n = this.n;
    const s = this.keys.length;
    const size = HEADER + n * 16 + s * 8 + kb;
    const buf = this.buf as Growable;
    if (size > buf.maxByteLength) {
      // Far beyond any batch; the next chunk then fetches its halo.
      failTail(this.buf);
      return;
    }
    if (buf.byteLength < size) buf.grow(size);
    new Float64Array(this.buf, HEADER, n).set(this.ts.subarray(0, n));
    new Float64Array(this.buf, HEADER + n * 8, n).set(this.value.subarray(0, n));
    new Uint32Array(this.buf, HEADER + n * 16, s).set(this.ends);
    const keyEnd = new Uint32Array(this.buf, HEADER + n * 16 + s * 4, s);
    const keys = new Uint8Array(this.buf, HEADER + n * 16 + s * 8, kb);
    let o = 0;
    for (let i = 0; i < s; i++) {
      keys.set(keyBytes[i]!, o);
      o += keyBytes[i]!.byteLength;
      keyEnd[i] = o;
    }
    head[1] = s;
    head[2] = n;
    head[3] = kb;
    if (Atomics.compareExchange(head, 0, TAIL_PENDING, TAIL_READY) === TAIL_PENDING) Atomics.notify(head, 0);
  }
}
