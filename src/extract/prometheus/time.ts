/**
 * Time and duration parsing for the Prometheus source: Prometheus-style durations ("1h30m", "15s",
 * "500ms"), RFC3339 / unix-seconds / relative ("now-6h") instants, and step alignment.
 * Everything is integer milliseconds so chunk edges compare exactly.
 */

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
  y: 31_536_000_000,
};

const DURATION_RE = /^(?:(\d+)(ms|s|m|h|d|w|y))+$/;
const PART_RE = /(\d+)(ms|s|m|h|d|w|y)/g;

/** Parse "1h30m", "15s", "500ms" (Prometheus syntax) or a plain number of seconds ("15", "0.5"). */
export function parseDuration(text: string): number {
  const s = text.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Math.round(Number(s) * 1000);
  if (!DURATION_RE.test(s)) {
    throw new Error(`invalid duration "${text}": use Prometheus syntax like "15s", "5m", "1h30m", "500ms"`);
  }
  let ms = 0;
  for (const m of s.matchAll(PART_RE)) ms += Number(m[1]) * UNIT_MS[m[2]!]!;
  return ms;
}

/** Format ms as a Prometheus duration ("90s" → "1m30s"). */
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

/**
 * Parse an instant: "now", "now-6h", "now+5m", RFC3339 ("2024-01-01T00:00:00Z"), or unix seconds
 * ("1700000000", "1700000000.5"). Returns epoch ms.
 */
export function parseTime(text: string | number, nowMs: number): number {
  if (typeof text === 'number') return Math.round(text * 1000);
  const s = text.trim();
  if (s === 'now') return nowMs;
  const rel = /^now\s*([+-])\s*(.+)$/.exec(s);
  if (rel) {
    const d = parseDuration(rel[2]!);
    return rel[1] === '-' ? nowMs - d : nowMs + d;
  }
  if (/^-?\d+(\.\d+)?$/.test(s)) return Math.round(Number(s) * 1000);
  // RFC3339 requires a date, a 'T' and a zone; Date.parse alone is too lenient (local-time strings).
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/i.test(s)) {
    throw new Error(`invalid time "${text}": use RFC3339 ("2024-01-01T00:00:00Z"), unix seconds, "now" or "now-6h"`);
  }
  const ms = Date.parse(s);
  if (Number.isNaN(ms)) throw new Error(`invalid time "${text}"`);
  return ms;
}

/** Largest multiple of `step` <= t. */
export function alignDown(t: number, step: number): number {
  return Math.floor(t / step) * step;
}

/** Smallest multiple of `step` >= t. */
export function alignUp(t: number, step: number): number {
  return Math.ceil(t / step) * step;
}

/** Epoch ms as Prometheus API seconds with exactly the ms digits (no float formatting error). */
export function formatSeconds(ms: number): string {
  const neg = ms < 0;
  const a = Math.abs(ms);
  const sec = Math.floor(a / 1000);
  const frac = a % 1000;
  const body = frac === 0 ? String(sec) : `${sec}.${String(frac).padStart(3, '0')}`;
  return neg ? '-' + body : body;
}
