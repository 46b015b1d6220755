/**
 * The load test's small grammars: a rate (`300k/s`), an SLO (`p99<500ms,rate>=0.99`) and the
 * shape of the generated data. Bad input is a ConfigError naming the flag (the CLI exits 2).
 */
import { ConfigError } from '../errors.js';
import { parseDuration } from '../util/duration.js';

const RATE_RE = /^(\d+(?:\.\d+)?)\s*([kKmMgG]?)\s*(?:\/s)?$/;
const RATE_MULT: Record<string, number> = { '': 1, k: 1e3, m: 1e6, g: 1e9 };

/** `300k/s`, `300000`, `1.5M/s`, `2500/s` → points per second (> 0). */
export function parseRate(v: string, flag = '--rate'): number {
  const m = RATE_RE.exec(v.trim());
  const n = m ? Number(m[1]) * RATE_MULT[m[2]!.toLowerCase()]! : NaN;
  if (!(n > 0) || !Number.isFinite(n)) {
    throw new ConfigError(`${flag} must be a positive rate like "300k/s", "5000/s" or "1.5M/s" (points per second), got "${v}"`, { key: flag });
  }
  return n;
}

export function formatRate(n: number): string {
  if (n >= 1e6) return `${+(n / 1e6).toPrecision(3)}M/s`;
  if (n >= 1e3) return `${+(n / 1e3).toPrecision(3)}k/s`;
  return `${+n.toPrecision(3)}/s`;
}

/** One term of an SLO. Latencies are in milliseconds, `rate` is achieved ÷ target, `errors` a ratio of requests. */
export type SloTerm =
  | { metric: 'p50' | 'p90' | 'p99' | 'p99.9' | 'max'; op: '<' | '<='; value: number; text: string }
  | { metric: 'rate'; op: '>=' | '>'; value: number; text: string }
  | { metric: 'errors'; op: '<' | '<='; value: number; text: string };

export const DEFAULT_SLO = 'p99<500ms,rate>=0.99';

const TERM_RE = /^(p50|p90|p99|p99\.9|max|rate|errors)\s*(<=|>=|<|>)\s*(\S+)$/;

/**
 * `p99<500ms,rate>=0.99` → terms. Latency terms take a duration (`500ms`, `1s`), `rate` a ratio
 * of the target (`0.99` or `99%`), `errors` a ratio of write requests answered with an error.
 */
export function parseSlo(text: string, flag = '--slo'): SloTerm[] {
  const terms: SloTerm[] = [];
  for (const raw of text.split(',')) {
    const part = raw.trim();
    if (!part) continue;
    const m = TERM_RE.exec(part);
    const bad = (why: string): never => {
      throw new ConfigError(`${flag}: "${part}" ${why}; write terms like "p99<500ms", "max<=2s", "rate>=0.99", "errors<0.01", separated by commas`, { key: flag });
    };
    if (!m) return bad('is not a term');
    const [, metric, op, val] = m as unknown as [string, string, string, string];
    if (metric === 'rate') {
      if (op !== '>=' && op !== '>') bad('compares rate with < (a rate must be at least a share of the target: use >=)');
      const v = val.endsWith('%') ? Number(val.slice(0, -1)) / 100 : Number(val);
      if (!(v > 0 && v <= 1)) bad('needs a ratio of the target rate in (0, 1] (e.g. 0.99 or 99%)');
      terms.push({ metric: 'rate', op: op as '>=' | '>', value: v, text: part });
    } else if (metric === 'errors') {
      if (op !== '<' && op !== '<=') bad('compares errors with > (use < or <=)');
      const v = val.endsWith('%') ? Number(val.slice(0, -1)) / 100 : Number(val);
      if (!(v >= 0 && v <= 1)) bad('needs a ratio of requests in [0, 1]');
      terms.push({ metric: 'errors', op: op as '<' | '<=', value: v, text: part });
    } else {
      if (op !== '<' && op !== '<=') bad('compares a latency with > (use < or <=)');
      let ms: number;
      try {
        ms = parseDuration(val, flag);
      } catch {
        return bad(`needs a duration such as 500ms or 2s, got "${val}"`);
      }
      if (!(ms > 0)) bad('needs a positive duration');
      terms.push({ metric: metric as 'p50', op: op as '<', value: ms, text: part });
    }
  }
  if (terms.length === 0) throw new ConfigError(`${flag} is empty; e.g. --slo '${DEFAULT_SLO}'`, { key: flag });
  return terms;
}

/** What each generated line looks like (docs: README "Benchmark your InfluxDB"). */
export interface LoadShape {
  measurement: string;
  /** Distinct series (measurement + tag set); lines cycle over them. */
  series: number;
  /** Tag keys per line (t0, t1, …); the series index is spread over them (see seriesTags). */
  tags: number;
  /** Float fields per line (f0, f1, …). */
  fields: number;
  /**
   * Timestamps of a run cover this many ms: the k-th point of a series lands at
   * start + k × spreadMs / pointsPerSeries (at least one precision unit apart, so every point is
   * distinct and the read-back count is exact).
   */
  spreadMs: number;
}

/**
 * Cardinality of each tag: the series index is written in mixed radix over the tags, so tag t0
 * has the most values and the product of the cardinalities covers every series exactly once.
 */
export function tagCardinalities(series: number, tags: number): number[] {
  if (tags <= 0) return [];
  const per = Math.max(1, Math.ceil(series ** (1 / tags) - 1e-9));
  const out: number[] = [];
  let left = series;
  for (let t = 0; t < tags; t++) {
    const c = t === tags - 1 ? Math.max(1, Math.ceil(left)) : Math.min(per, Math.max(1, Math.ceil(left)));
    out.push(c);
    left = left / c;
  }
  return out;
}

export function checkShape(s: LoadShape): void {
  const bad = (key: string, why: string): never => {
    throw new ConfigError(`${key} ${why}`, { key });
  };
  if (!Number.isInteger(s.series) || s.series < 1) bad('--series', `must be a positive integer, got ${s.series}`);
  if (!Number.isInteger(s.fields) || s.fields < 1 || s.fields > 1000) bad('--fields', `must be an integer in 1..1000, got ${s.fields}`);
  if (!Number.isInteger(s.tags) || s.tags < 0 || s.tags > 64) bad('--tags', `must be an integer in 0..64, got ${s.tags}`);
  if (s.tags === 0 && s.series > 1) bad('--tags', 'is 0, but more than one series needs at least one tag to tell them apart');
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(s.measurement)) bad('--measurement', `must be a plain identifier ([A-Za-z_][A-Za-z0-9_]*), got "${s.measurement}"`);
  if (!(s.spreadMs >= 0)) bad('--spread', 'must be a duration >= 0');
}
