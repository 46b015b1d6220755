/**
 * Reuse of batch buffers. A SharedArrayBuffer referenced from two isolates is freed only after both
 * have garbage-collected their handles, and a worker that allocates almost nothing on its own heap
 * rarely collects — so allocating fresh SABs per batch lets RSS creep up over a long backfill.
 *
 * Policy: grow-only slots. `acquire` returns the smallest idle buffer that fits; when none fits it
 * allocates a new one (rounded up to a power of two) and retires the smallest idle buffer, so the
 * number of buffers stays at about the number in flight + 1, and a buffer is only ever replaced by
 * a larger one. Memory therefore depends on the largest batch, never on the length of the run.
 */
import { allocBatch, type BatchDescriptor } from './layout.js';

export class BatchBufferPool {
  private readonly free: BatchDescriptor[] = [];

  /** A batch with at least `capacity` rows and `runCapacity` runs (reused when one fits). */
  acquire(id: number, chunkId: string, capacity: number, runCapacity: number): BatchDescriptor {
    let best = -1;
    for (let i = 0; i < this.free.length; i++) {
      const d = this.free[i]!;
      if (d.capacity >= capacity && d.runCapacity >= runCapacity && (best < 0 || d.capacity < this.free[best]!.capacity)) best = i;
    }
    if (best < 0) {
      if (this.free.length > 0) this.retireSmallest();
      return allocBatch(id, chunkId, sizeClass(capacity), sizeClass(runCapacity));
    }
    const d = this.free.splice(best, 1)[0]!;
    d.id = id;
    d.chunkId = chunkId;
    d.length = 0;
    d.runCount = 0;
    d.seriesKeys = [];
    d.seriesKinds = [];
    return d;
  }

  /** Return a batch whose data is no longer needed (the sink accepted it). */
  release(d: BatchDescriptor): void {
    this.free.push(d);
  }

  private retireSmallest(): void {
    let s = 0;
    for (let i = 1; i < this.free.length; i++) if (this.free[i]!.capacity < this.free[s]!.capacity) s = i;
    this.free.splice(s, 1);
  }
}

/**
 * Reuse of the SharedArrayBuffers workers write line protocol into (same grow-only policy). Handing
 * the worker an output buffer, instead of letting it allocate one per batch and transfer it, also
 * avoids freeing large blocks in a thread other than the one that allocated them, which fragments
 * glibc's per-thread arenas.
 */
export class ByteBufferPool {
  private readonly free: SharedArrayBuffer[] = [];

  acquire(bytes: number): SharedArrayBuffer {
    let best = -1;
    for (let i = 0; i < this.free.length; i++) {
      const b = this.free[i]!;
      if (b.byteLength >= bytes && (best < 0 || b.byteLength < this.free[best]!.byteLength)) best = i;
    }
    if (best < 0) {
      if (this.free.length > 0) {
        let s = 0;
        for (let i = 1; i < this.free.length; i++) if (this.free[i]!.byteLength < this.free[s]!.byteLength) s = i;
        this.free.splice(s, 1);
      }
      return new SharedArrayBuffer(sizeClass(bytes));
    }
    return this.free.splice(best, 1)[0]!;
  }

  release(b: SharedArrayBuffer): void {
    this.free.push(b);
  }
}

/** Smallest power of two >= n (at least 1024): few distinct sizes, so growth steps are rare. */
export function sizeClass(n: number): number {
  if (n <= 1024) return 1024;
  return 2 ** Math.ceil(Math.log2(n));
}
