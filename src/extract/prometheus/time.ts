/**
 * Time parsing for the Prometheus source: RFC3339 / unix-seconds / relative ("now-6h") instants
 * (durations follow the one grammar of src/util/duration.ts), and step alignment.
 * Everything is integer milliseconds so chunk edges compare exactly.
 */

import { parseDuration } from '../../util/duration.js';

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
