/**
 * Value ranks for the order-statistic tree of large windows (a Fenwick tree over ranks, in
 * wasm/rolling.as.ts `quantilesTree`): the run's valid values are sorted once per run (one native
 * TypedArray sort, not a sort per sample); each row's value maps to the rank of its first equal
 * value, so duplicates share a slot whose count is their multiplicity.
 */
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
