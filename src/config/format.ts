/**
 * Config error messages: zod's issues made readable. Every type error names the expected type and
 * the value received ("expected a number or "auto", got the string "lots""), and an unknown key or
 * option suggests the nearest valid one ("did you mean sampleInterval?"). Key lists come from the
 * schema itself, walked along the issue's path.
 */
import type { z } from 'zod';
import { kindDispatch } from './components.js';

type Issue = z.core.$ZodIssue;
type Key = string | number;

/** A short description of a received value: `the string "lots"`, `the number 0`, `a list`. */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing (the key is missing)';
  if (v === null) return 'null (an empty value)';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v)}`;
  if (typeof v === 'number' || typeof v === 'bigint') return `the number ${String(v)}`;
  if (typeof v === 'boolean') return `the boolean ${v}`;
  if (Array.isArray(v)) return `a list (${v.length} item${v.length === 1 ? '' : 's'})`;
  if (typeof v === 'object') return 'a map';
  return typeof v;
}

const TYPE_NAMES: Record<string, string> = {
  number: 'a number',
  int: 'an integer',
  string: 'a string',
  boolean: 'a boolean (true or false)',
  object: 'a map (key: value)',
  array: 'a list',
  bigint: 'an integer',
  date: 'a date',
  null: 'null',
  undefined: 'nothing',
};

/** Levenshtein distance (small strings: config keys and option names). */
export function editDistance(a: string, b: string): number {
  const prev = new Array<number>(b.length + 1);
  for (let j = 0; j <= b.length; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(up + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}

/** The candidate nearest to `word`, if it is near enough to be a likely typo. */
export function nearest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  const w = word.toLowerCase();
  for (const c of candidates) {
    const d = c.toLowerCase() === w ? 0 : editDistance(w, c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  if (best === undefined) return undefined;
  const limit = Math.max(2, Math.floor(Math.max(word.length, best.length) / 3));
  return bestD <= limit ? best : undefined;
}

function valueAt(data: unknown, path: readonly Key[]): unknown {
  let v = data;
  for (const k of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<Key, unknown>)[k];
  }
  return v;
}

interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  element?: z.ZodType;
  options?: z.ZodType[];
  in?: z.ZodType;
  getter?: () => z.ZodType;
  values?: unknown[];
}
const defOf = (s: z.ZodType): Def => (s as unknown as { _zod: { def: Def } })._zod.def;

/** Unwrap optional/default/pipe/lazy… down to a structural schema, picking the union option the data fits. */
function resolve(s: z.ZodType, data: unknown): z.ZodType {
  for (let i = 0; i < 20; i++) {
    const dispatch = kindDispatch.get(s);
    if (dispatch) {
      s = dispatch(data);
      continue;
    }
    const d = defOf(s);
    if (d.innerType && ['optional', 'default', 'prefault', 'nullable', 'readonly', 'catch', 'nonoptional', 'success'].includes(d.type)) s = d.innerType;
    else if (d.type === 'pipe' && d.in) s = d.in;
    else if (d.type === 'lazy' && d.getter) s = d.getter();
    else if (d.type === 'union' && d.options) s = pickOption(d.options, data);
    else return s;
  }
  return s;
}

/** The union option whose object shape fits the data best (discriminator value first, then shared keys). */
function pickOption(options: z.ZodType[], data: unknown): z.ZodType {
  const obj = data !== null && typeof data === 'object' && !Array.isArray(data) ? (data as Record<string, unknown>) : undefined;
  let best = options[0]!;
  let bestScore = -1;
  for (const o of options) {
    const r = resolve(o, data);
    const d = defOf(r);
    let score = 0;
    if (obj && d.type === 'object' && d.shape) {
      for (const [k, v] of Object.entries(obj)) {
        const f = d.shape[k];
        if (!f) continue;
        score += 1;
        const fd = defOf(resolve(f, v));
        if (fd.type === 'literal' && fd.values?.includes(v)) score += 100;
      }
    } else if (!obj && d.type !== 'object') score = 1;
    if (score > bestScore) {
      bestScore = score;
      best = r;
    }
  }
  return best;
}

/** The keys an object schema at `path` accepts, or undefined when the schema there is not an object. */
export function keysAt(schema: z.ZodType, data: unknown, path: readonly Key[]): string[] | undefined {
  let s = resolve(schema, data);
  let v = data;
  for (const k of path) {
    const d = defOf(s);
    if (d.type === 'object' && d.shape && typeof k === 'string' && d.shape[k]) s = d.shape[k]!;
    else if ((d.type === 'array' || d.type === 'set') && d.element && typeof k === 'number') s = d.element;
    else if (d.type === 'record') return undefined;
    else return undefined;
    v = valueAt(v, [k]);
    s = resolve(s, v);
  }
  const d = defOf(s);
  return d.type === 'object' && d.shape ? Object.keys(d.shape) : undefined;
}

const quote = (v: unknown): string => (typeof v === 'string' ? `"${v}"` : String(v));

/** What an issue expected, as words ("a number", `"auto"`, "one of …"). */
function expectedOf(issue: Issue): string[] {
  switch (issue.code) {
    case 'invalid_type':
      return [TYPE_NAMES[issue.expected] ?? issue.expected];
    case 'invalid_value':
      return issue.values.map(quote);
    case 'too_small':
      return [`${TYPE_NAMES[issue.origin] ?? issue.origin} ${issue.origin === 'string' || issue.origin === 'array' ? 'of length ' : ''}${issue.inclusive ? '>=' : '>'} ${String(issue.minimum)}`];
    case 'too_big':
      return [`${TYPE_NAMES[issue.origin] ?? issue.origin} ${issue.origin === 'string' || issue.origin === 'array' ? 'of length ' : ''}${issue.inclusive ? '<=' : '<'} ${String(issue.maximum)}`];
    case 'invalid_union':
      return issue.errors.flatMap((alt) => (alt.length > 0 ? expectedOf(alt[0]!) : []));
    case 'invalid_format':
      return [`a string in ${issue.format} format`];
    default:
      return [];
  }
}

function oneOf(words: string[]): string {
  const u = [...new Set(words)];
  if (u.length <= 1) return u[0] ?? 'a valid value';
  return `${u.slice(0, -1).join(', ')} or ${u[u.length - 1]}`;
}

export interface FormattedIssue {
  path: Key[];
  message: string;
}

/** A readable message for one zod issue over `data` validated by `schema`. */
export function formatIssue(schema: z.ZodType, data: unknown, issue: Issue): FormattedIssue {
  let path = issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p)) as Key[];
  const got = valueAt(data, path);
  let message: string;
  switch (issue.code) {
    case 'unrecognized_keys': {
      const known = keysAt(schema, data, path) ?? [];
      const [first, ...rest] = issue.keys;
      path = [...path, first!];
      const hint = nearest(first!, known);
      message = `unknown key "${first}"${hint ? ` (did you mean ${hint}?)` : known.length > 0 ? `; valid keys here: ${known.join(', ')}` : ''}${rest.length > 0 ? ` (and ${rest.join(', ')})` : ''}`;
      break;
    }
    case 'invalid_value': {
      const hint = typeof got === 'string' ? nearest(got, issue.values.filter((x): x is string => typeof x === 'string')) : undefined;
      message = `expected ${issue.values.length > 1 ? 'one of ' : ''}${issue.values.map(quote).join(', ')}, got ${describeValue(got)}${hint ? ` (did you mean "${hint}"?)` : ''}`;
      break;
    }
    case 'invalid_union': {
      const disc = issue as Issue & { discriminator?: string; options?: unknown[] };
      if (disc.discriminator && disc.options) {
        const opts = disc.options.filter((x): x is string => typeof x === 'string');
        const hint = typeof got === 'string' ? nearest(got, opts) : undefined;
        message = `expected ${disc.discriminator} to be one of ${opts.map(quote).join(', ')}, got ${describeValue(got)}${hint ? ` (did you mean "${hint}"?)` : ''}`;
      } else {
        message = `expected ${oneOf(expectedOf(issue))}, got ${describeValue(got)}`;
      }
      break;
    }
    case 'invalid_type':
      message = got === undefined ? `missing: expected ${oneOf(expectedOf(issue))}` : `expected ${oneOf(expectedOf(issue))}, got ${describeValue(got)}`;
      break;
    case 'too_small':
    case 'too_big':
    case 'invalid_format':
      message = `expected ${oneOf(expectedOf(issue))}, got ${describeValue(got)}`;
      break;
    default:
      message = `${issue.message} (got ${describeValue(got)})`;
  }
  return { path, message };
}
