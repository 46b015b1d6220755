/**
 * Order statistics over a sliding window: a sorted Float64Array. Insert/remove = binary search
 * O(log w) + a shift of at most w slots. The shift is a plain loop, not copyWithin: for the window
 * sizes features use (<= 64 samples) a builtin call costs more than moving the few slots, and a
 * pointer-based tree in JS loses to both. The rolling kernel's larger windows use a Fenwick tree over
 * value ranks (wasm/rolling.as.ts quantilesTree, O(log n) per step).
 * NaN is never stored; callers normalise -0 to +0 so equal values are interchangeable.
 */
export class SortedWindow {
  buf: Float64Array;
  size = 0;

  constructor(cap: number) {
    this.buf = new Float64Array(Math.max(1, cap));
  }

  clear(): void {
    this.size = 0;
  }

  insert(v: number): void {
    if (this.size === this.buf.length) {
      // growable for time windows (outlier detection, imputation); sample windows never hit this
      const nb = new Float64Array(this.buf.length * 2);
      nb.set(this.buf);
      this.buf = nb;
    }
    const b = this.buf;
    let lo = 0;
    let hi = this.size;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (b[mid]! <= v) lo = mid + 1;
      else hi = mid;
    }
    for (let k = this.size; k > lo; k--) b[k] = b[k - 1]!;
    b[lo] = v;
    this.size++;
  }

  /** Remove one occurrence of v (which must be present). */
  remove(v: number): void {
    const b = this.buf;
    let lo = 0;
    let hi = this.size;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (b[mid]! < v) lo = mid + 1;
      else hi = mid;
    }
    const n = --this.size;
    for (let k = lo; k < n; k++) b[k] = b[k + 1]!;
  }

  /** k-th smallest, 0-based. */
  at(k: number): number {
    return this.buf[k]!;
  }
}
