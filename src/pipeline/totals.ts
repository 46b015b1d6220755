/**
 * Adding named counts (drop reasons, counters, lines per measurement, kernel milliseconds) into
 * running totals: one helper instead of the same loop at every place that accounts.
 */

/** `into[key] += n` (absent = 0). */
export function addTotal(into: Record<string, number>, key: string, n: number): void {
  into[key] = (into[key] ?? 0) + n;
}

/** Add every entry of `from` into `into`; `onEach` sees each (key, n) added (e.g. a metric). */
export function addTotals(into: Record<string, number>, from: Readonly<Record<string, number>>, onEach?: (key: string, n: number) => void): void {
  for (const [k, v] of Object.entries(from)) {
    into[k] = (into[k] ?? 0) + v;
    onEach?.(k, v);
  }
}
