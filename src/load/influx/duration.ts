/**
 * Durations in config (30d, 52w, 5y, 720h, INF) ↔ seconds ↔ InfluxQL literals. InfluxQL has no
 * year unit, so 5y is written as 1825d (365-day years).
 */
const UNIT_S: Record<string, number> = {
  ns: 1e-9, us: 1e-6, u: 1e-6, 'µ': 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600, d: 86_400, w: 604_800, y: 365 * 86_400,
};

/** Seconds; 0 = infinite (INF / 0 / 0s). */
export function durationSeconds(d: string): number {
  if (/^(inf|0)$/i.test(d)) return 0;
  let total = 0;
  for (const m of d.matchAll(/(\d+(?:\.\d+)?)(ns|us|u|µ|ms|s|m|h|d|w|y)/g)) total += Number(m[1]) * UNIT_S[m[2]!]!;
  return total;
}

/** Go's time.Duration text as InfluxDB prints it (e.g. "720h0m0s", "0s") → seconds. */
export function goDurationSeconds(d: string): number {
  let total = 0;
  for (const m of d.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) {
    const unit = m[2] === 'µs' ? 'us' : m[2]!;
    total += Number(m[1]) * UNIT_S[unit]!;
  }
  return total;
}

/** Seconds → InfluxQL duration literal (INF for 0). */
export function influxqlDuration(seconds: number): string {
  if (seconds === 0) return 'INF';
  for (const [u, s] of [['w', 604_800], ['d', 86_400], ['h', 3600], ['m', 60]] as const) {
    if (seconds % s === 0) return `${seconds / s}${u}`;
  }
  return `${Math.round(seconds)}s`;
}
