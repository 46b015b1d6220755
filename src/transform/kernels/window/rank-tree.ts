/**
 * Order-statistic tree for large windows: a Fenwick (binary indexed) tree over the *ranks* of one
 * run's values. The run's valid values are sorted once per run (one native TypedArray sort, not a
 * sort per sample); each row's value maps to the rank of its first equal value, so duplicates share
 * a slot whose count is their multiplicity. insert/remove/k-th are O(log n), n = run length.
 */
export class RankTree {
  private tree: Int32Array;
  private n = 0;
  private top = 1;
  size = 0;

  constructor(cap = 1024) {
    this.tree = new Int32Array(cap + 1);
  }

  /** Reset for a run with `n` sorted distinct-or-not slots. */
  reset(n: number): void {
    if (this.tree.length < n + 1) this.tree = new Int32Array(Math.max(n + 1, this.tree.length * 2));
    else this.tree.fill(0, 0, n + 1);
    this.n = n;
    this.size = 0;
    let t = 1;
    while (t * 2 <= n) t *= 2;
    this.top = t;
  }

  /** rank is 0-based. */
  insert(rank: number): void {
    const t = this.tree;
    for (let i = rank + 1; i <= this.n; i += i & -i) t[i]!++;
    this.size++;
  }

  remove(rank: number): void {
    const t = this.tree;
    for (let i = rank + 1; i <= this.n; i += i & -i) t[i]!--;
    this.size--;
  }

  /** Slot (0-based rank) holding the k-th smallest value, k 0-based (< size). Binary lifting. */
  kth(k: number): number {
    const t = this.tree;
    let pos = 0;
    let rem = k + 1;
    for (let step = this.top; step > 0; step >>= 1) {
      const nx = pos + step;
      if (nx <= this.n && t[nx]! < rem) {
        pos = nx;
        rem -= t[nx]!;
      }
    }
    return pos; // 1-based position pos+1 → 0-based slot pos
  }
}

/**
 * Rank the valid values of x[start..end) into `ranks[start..end)` (-1 for NaN) against `sorted`,
 * which is filled here with those values ascending. Returns the number of valid values.
 */
export function rankValues(x: Float64Array, start: number, end: number, sorted: Float64Array, ranks: Int32Array): number {
  let m = 0;
  for (let j = start; j < end; j++) {
    const v = x[j]!;
    if (v === v) sorted[m++] = v;
  }
  const s = sorted.subarray(0, m);
  s.sort(); // TypedArray sort: numeric, native, no comparator callback
  for (let j = start; j < end; j++) {
    const v = x[j]!;
    if (v !== v) {
      ranks[j] = -1;
      continue;
    }
    let lo = 0;
    let hi = m;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (s[mid]! < v) lo = mid + 1;
      else hi = mid;
    }
    ranks[j] = lo;
  }
  return m;
}
