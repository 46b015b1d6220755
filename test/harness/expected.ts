/**
 * Test harness: what a Prometheus → InfluxDB load of the Prometheus harness' data set must leave in
 * InfluxDB, and an exact comparison with what InfluxQL reads back. Expected points come from
 * `dataset()` (NaN / ±Inf dropped, as `validate` does): measurement = metric name, tags = labels,
 * field `value`, millisecond timestamps.
 */
import type { Influxd } from './influxdb.js';
import { dataset } from './prometheus.js';

/** `measurement,tag=v,…@ts` → value, every finite sample of the data set. */
export function expectedPoints(filter: (name: string) => boolean = () => true): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of dataset()) {
    if (!filter(s.name)) continue;
    const key = seriesKey(s.name, s.labels);
    for (let i = 0; i < s.ts.length; i++) {
      const v = s.values[i]!;
      if (Number.isFinite(v)) out.set(`${key}@${s.ts[i]}`, v);
    }
  }
  return out;
}

function seriesKey(name: string, tags: Record<string, string>): string {
  return [name, ...Object.keys(tags).sort().filter((k) => tags[k] !== '').map((k) => `${k}=${tags[k]}`)].join(',');
}

/** Every `value` point of the measurements matching `measurementRe` in `db`, keyed like expectedPoints. */
export async function influxPoints(influxd: Influxd, db: string, measurementRe = '^test_'): Promise<Map<string, number>> {
  const res = await influxd.query(`SELECT "value" FROM /${measurementRe}/ GROUP BY *`, db);
  const out = new Map<string, number>();
  for (const s of res.results[0]?.series ?? []) {
    const key = seriesKey(s.name, s.tags ?? {});
    for (const [t, v] of s.values) out.set(`${key}@${t as number}`, v as number);
  }
  return out;
}

export interface PointDiff {
  expected: number;
  found: number;
  missing: number;
  extra: number;
  wrong: number;
  /** The first few of each kind, for the assertion message. */
  examples: { missing: string[]; extra: string[]; wrong: Array<{ key: string; expected: number; found: number }> };
}

/** Exact comparison (values with ===): counts of missing, extra and wrong points, with examples. */
export function diffPoints(expected: ReadonlyMap<string, number>, found: ReadonlyMap<string, number>): PointDiff {
  const d: PointDiff = { expected: expected.size, found: found.size, missing: 0, extra: 0, wrong: 0, examples: { missing: [], extra: [], wrong: [] } };
  for (const [k, v] of expected) {
    const f = found.get(k);
    if (f === undefined) {
      if (d.missing++ < 5) d.examples.missing.push(k);
    } else if (f !== v) {
      if (d.wrong++ < 5) d.examples.wrong.push({ key: k, expected: v, found: f });
    }
  }
  for (const k of found.keys()) if (!expected.has(k) && d.extra++ < 5) d.examples.extra.push(k);
  return d;
}

/** Number of points in `db` for the measurements matching `measurementRe` (0 when the db is empty). */
export async function countPoints(influxd: Influxd, db: string, measurementRe = '^test_'): Promise<number> {
  const res = await influxd.query(`SELECT count("value") FROM /${measurementRe}/`, db);
  let n = 0;
  for (const s of res.results[0]?.series ?? []) n += Number(s.values[0]?.[1] ?? 0);
  return n;
}
