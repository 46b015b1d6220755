/**
 * Option parsing shared by the kernel factories. Factories run once per worker per pipeline (never
 * on the hot path), so this favours clear error messages over speed.
 */
import { ConfigError } from '../../errors.js';
import { DURATION_HINT, isDuration, parseDuration } from '../../util/duration.js';

/** A bad option in one `transform` entry. `key` names the option (e.g. `rolling.windows[1]`). */
export class TransformOptionError extends ConfigError {
  constructor(kernel: string, key: string, message: string) {
    super(`transform "${kernel}": option "${key}" ${message}`, { key: `${kernel}.${key}` });
    this.name = 'TransformOptionError';
  }
}

/** What a rule does to a row that fails it. */
export type RuleAction = 'drop' | 'flag' | 'clip' | 'off';

/**
 * A duration option (the grammar of src/util/duration.ts: "30s", "5m", "1h30m", or a number of
 * seconds) → ms; > 0 unless `zeroOk` (windows need a length, a tolerance may be none).
 */
export function optDuration(v: unknown, kernel: string, key: string, zeroOk = false): number {
  if (!isDuration(v)) {
    throw new TransformOptionError(kernel, key, `is not a duration: ${JSON.stringify(v)} (use ${DURATION_HINT})`);
  }
  const ms = parseDuration(v);
  if (ms <= 0 && !(zeroOk && ms === 0)) throw new TransformOptionError(kernel, key, `must be a duration > 0, got ${JSON.stringify(v)}`);
  return ms;
}

export function optNumber(o: Record<string, unknown>, key: string, kernel: string, def: number, min = -Infinity, max = Infinity): number {
  const v = o[key];
  if (v === undefined) return def;
  if (typeof v !== 'number' || Number.isNaN(v) || v < min || v > max) {
    throw new TransformOptionError(kernel, key, `must be a number in [${min}, ${max}], got ${JSON.stringify(v)}`);
  }
  return v;
}

export function optInt(o: Record<string, unknown>, key: string, kernel: string, def: number, min = 0, max = 1 << 30): number {
  const v = optNumber(o, key, kernel, def, min, max);
  if (!Number.isInteger(v)) throw new TransformOptionError(kernel, key, `must be an integer, got ${v}`);
  return v;
}

export function optBool(o: Record<string, unknown>, key: string, kernel: string, def: boolean): boolean {
  const v = o[key];
  if (v === undefined) return def;
  if (typeof v !== 'boolean') throw new TransformOptionError(kernel, key, `must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

export function optString<T extends string>(o: Record<string, unknown>, key: string, kernel: string, def: T, allowed?: readonly T[]): T {
  const v = o[key];
  if (v === undefined) return def;
  if (typeof v !== 'string' || (allowed && !allowed.includes(v as T))) {
    throw new TransformOptionError(kernel, key, `must be ${allowed ? 'one of ' + allowed.map((a) => `"${a}"`).join(', ') : 'a string'}, got ${JSON.stringify(v)}`);
  }
  return v as T;
}

export function optAction(v: unknown, kernel: string, key: string, def: RuleAction, allowed: readonly RuleAction[]): RuleAction {
  if (v === undefined) return def;
  if (typeof v !== 'string' || !allowed.includes(v as RuleAction)) {
    throw new TransformOptionError(kernel, key, `must be one of ${allowed.map((a) => `"${a}"`).join(', ')}, got ${JSON.stringify(v)}`);
  }
  return v as RuleAction;
}

export function optRegex(v: unknown, kernel: string, key: string): RegExp {
  if (typeof v !== 'string' || v.length === 0) throw new TransformOptionError(kernel, key, `must be a regular expression string, got ${JSON.stringify(v)}`);
  try {
    // Anchored like PromQL's =~ so "cpu" does not match "cpu_seconds_total" by accident.
    return new RegExp(`^(?:${v})$`);
  } catch (err) {
    throw new TransformOptionError(kernel, key, `is not a valid regular expression: ${(err as Error).message}`);
  }
}

export function optStringList(v: unknown, kernel: string, key: string): string[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) {
    throw new TransformOptionError(kernel, key, `must be a list of strings, got ${JSON.stringify(v)}`);
  }
  return v as string[];
}

/** Reject options a factory does not know (typos must not silently change behaviour). */
export function checkKnown(o: Record<string, unknown>, kernel: string, known: readonly string[]): void {
  for (const k of Object.keys(o)) {
    if (!known.includes(k)) {
      throw new TransformOptionError(kernel, k, `is unknown (known options: ${known.join(', ')})`);
    }
  }
}

export function asRecord(v: unknown, kernel: string, key: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw new TransformOptionError(kernel, key, `must be a mapping, got ${JSON.stringify(v)}`);
  }
  return v as Record<string, unknown>;
}

/** A window is a number of samples or a duration. `label` is what goes into output names. */
export interface WindowSpec {
  /** Samples (> 0) for sample windows, 0 for time windows. */
  samples: number;
  /** Milliseconds (> 0) for time windows, 0 for sample windows. */
  ms: number;
  label: string;
}

export function parseWindow(v: unknown, kernel: string, key: string): WindowSpec {
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 1 || v > 1_000_000) throw new TransformOptionError(kernel, key, `must be a whole number of samples >= 1 or a duration, got ${v}`);
    return { samples: v, ms: 0, label: String(v) };
  }
  if (typeof v === 'string' && /^\d+$/.test(v)) return parseWindow(Number(v), kernel, key);
  const ms = optDuration(v, kernel, key);
  return { samples: 0, ms, label: String(v) };
}
