import { parseDuration } from '../../util/duration.js';

/**
 * Durations in config (30d, 52w, 5y, 720h, INF) ↔ seconds ↔ InfluxQL literals. InfluxQL has no
 * year unit, so 5y is written as 1825d (365-day years).
 */
// Go's time.Duration units, as the server prints them (not a config grammar).
const GO_UNIT_S: Record<string, number> = { ns: 1e-9, us: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };

/**
 * A retention duration (the one grammar of src/util/duration.ts, plus INF) → seconds; 0 = infinite
 * (INF / 0 / 0s).
 */
export function durationSeconds(d: string): number {
  if (/^inf$/i.test(d.trim())) return 0;
  return parseDuration(d, 'retention duration') / 1000;
}

/** Go's time.Duration text as InfluxDB prints it (e.g. "720h0m0s", "0s") → seconds. */
export function goDurationSeconds(d: string): number {
  let total = 0;
  for (const m of d.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) {
    const unit = m[2] === 'µs' ? 'us' : m[2]!;
    total += Number(m[1]) * GO_UNIT_S[unit]!;
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
