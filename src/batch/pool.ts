/**
 * Reuse of batch buffers. A SharedArrayBuffer referenced from two isolates is freed only after both
 * have garbage-collected their handles, and a worker that allocates almost nothing on its own heap
 * rarely collects — so allocating fresh SABs per batch lets RSS creep up over a long backfill.
 * Recycling a bounded set of buffers keeps memory flat whatever the run length.
 */
import { allocBatch, batchBytes, type BatchDescriptor } from './layout.js';

export class BatchBufferPool {
  private readonly free: BatchDescriptor[] = [];
  private freeBytes = 0;

  /** @param maxFreeBytes upper bound on idle buffers kept for reuse. */
  constructor(private readonly maxFreeBytes: number) {}

  /** A batch with at least `capacity` rows and `runCapacity` runs (reused when one fits). */
  acquire(id: number, chunkId: string, capacity: number, runCapacity: number): BatchDescriptor {
    // Size classes (steps of √2) so buffers keep fitting while the adaptive size moves a little.
    capacity = sizeClass(capacity);
    runCapacity = sizeClass(runCapacity);
    let best = -1;
    for (let i = 0; i < this.free.length; i++) {
      const d = this.free[i]!;
      // Reuse only buffers that fit and are not wastefully large (at most 2× the need).
      if (d.capacity >= capacity && d.capacity <= capacity * 2 && d.runCapacity >= runCapacity) {
        if (best < 0 || d.capacity < this.free[best]!.capacity) best = i;
      }
    }
    if (best < 0) return allocBatch(id, chunkId, capacity, runCapacity);
    const d = this.free.splice(best, 1)[0]!;
    this.freeBytes -= batchBytes(d);
    d.id = id;
    d.chunkId = chunkId;
    d.length = 0;
    d.runCount = 0;
    d.seriesKeys = [];
    d.seriesKinds = [];
    return d;
  }

  /** Return a batch whose data is no longer needed (sink accepted it). */
  release(d: BatchDescriptor): void {
    const bytes = batchBytes(d);
    if (bytes > this.maxFreeBytes) return;
    this.free.push(d);
    this.freeBytes += bytes;
    // Evict the oldest idle buffers beyond the bound (sizes drift as the adaptive size changes).
    while (this.freeBytes > this.maxFreeBytes && this.free.length > 0) this.freeBytes -= batchBytes(this.free.shift()!);
  }

  get idleBytes(): number {
    return this.freeBytes;
  }
}

/** Smallest 2^(k/2) (rounded up to an integer) that is >= n, at least 1024. */
export function sizeClass(n: number): number {
  if (n <= 1024) return 1024;
  const k = Math.ceil(2 * Math.log2(n));
  const c = Math.ceil(2 ** (k / 2));
  return c >= n ? c : Math.ceil(2 ** ((k + 1) / 2));
}

/**
 * Reuse of the SharedArrayBuffers workers write line protocol into. Handing the worker an output
 * buffer (instead of letting it allocate one per batch and transfer it) matters beyond GC: a large
 * buffer allocated in one thread and freed in another fragments glibc's per-thread arenas, and RSS
 * then grows with the length of the run.
 */
export class ByteBufferPool {
  private readonly free: SharedArrayBuffer[] = [];
  private freeBytes = 0;

  constructor(private readonly maxFreeBytes: number) {}

  acquire(bytes: number): SharedArrayBuffer {
    const need = sizeClass(bytes);
    let best = -1;
    for (let i = 0; i < this.free.length; i++) {
      const b = this.free[i]!;
      if (b.byteLength >= need && b.byteLength <= need * 2 && (best < 0 || b.byteLength < this.free[best]!.byteLength)) best = i;
    }
    if (best < 0) return new SharedArrayBuffer(need);
    const b = this.free.splice(best, 1)[0]!;
    this.freeBytes -= b.byteLength;
    return b;
  }

  release(b: SharedArrayBuffer): void {
    if (b.byteLength > this.maxFreeBytes) return;
    this.free.push(b);
    this.freeBytes += b.byteLength;
    while (this.freeBytes > this.maxFreeBytes && this.free.length > 0) this.freeBytes -= this.free.shift()!.byteLength;
  }
}
