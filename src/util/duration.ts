/**
 * The one duration grammar of promflux, used by every config key that takes a duration
 * (docs/OPERATIONS.md "Durations"):
 *
 *   - one or more `<number><unit>` parts, summed: `15s`, `1h30m`, `1.5h`, `500ms`, `7d`;
 *     units `ns us µs ms s m h d w y` (`y` = 365 days);
 *   - a number without a unit (a YAML number, or a string such as `"15"` or `"0.5"`) is seconds,
 *     as in Prometheus's HTTP API.
 *
 * Results are whole milliseconds (rounded; at most 2^53 − 1), so chunk edges and deadlines compare exactly. Each key
 * still checks its own range (e.g. "> 0") where it resolves the value.
 */

const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  'µs': 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
  y: 31_536_000_000,
};

const NUMBER_RE = /^\d+(?:\.\d+)?$/;
// `ms` before `m`/`s` and `ns`/`us` before `s` are ensured by the alternation order.
const DURATION_RE = /^(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h|d|w|y))+$/;
const PART_RE = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d|w|y)/g;

/** What a valid duration looks like, for error messages. */
export const DURATION_HINT = 'a duration like "15s", "5m", "1h30m", "500ms", or a number of seconds';

/** The thrown error when a value is not a duration (`what` names the key). */
export class DurationSyntaxError extends Error {
  constructor(value: unknown, what?: string) {
    super(`${what ? `${what}: ` : ''}invalid duration ${JSON.stringify(value)}: use ${DURATION_HINT}`);
    this.name = 'DurationSyntaxError';
  }
}

/** True when `v` is a duration under the grammar above (never throws). */
export function isDuration(v: unknown): v is string | number {
  return toMs(v) !== undefined;
}

/** A duration (grammar above) → whole milliseconds. Throws DurationSyntaxError naming `what`. */
export function parseDuration(v: unknown, what?: string): number {
  const ms = toMs(v);
  if (ms === undefined) throw new DurationSyntaxError(v, what);
  return ms;
}

// Up to 2^53 ms (≈ 285 000 years), so every result is an exact integer.
function toMs(v: unknown): number | undefined {
  let ms: number;
  if (typeof v === 'number') ms = v * 1000;
  else if (typeof v !== 'string') return undefined;
  else {
    const s = v.trim();
    if (NUMBER_RE.test(s)) ms = Number(s) * 1000;
    else if (!DURATION_RE.test(s)) return undefined;
    else {
      ms = 0;
      for (const m of s.matchAll(PART_RE)) ms += Number(m[1]) * UNIT_MS[m[2]!]!;
    }
  }
  if (!(ms >= 0 && ms <= Number.MAX_SAFE_INTEGER)) return undefined;
  return Math.round(ms);
}
/** Whole milliseconds → the shortest duration text of the grammar ("90000" → "1m30s"). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = ms;
  let out = '';
  for (const [u, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000], ['ms', 1]] as const) {
    if (rest >= size) {
      out += Math.floor(rest / size) + u;
      rest %= size;
    }
  }
  return out;
}
