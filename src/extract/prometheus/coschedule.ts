/**
 * Co-scheduling (docs/EXTRACT.md#co-scheduling): a cross-series kernel (`correlate`, `ratio`,
 * `group`, validate's business rules) only sees the series of one batch. When the metrics it joins
 * come from different queries, those queries are planned as one *unit*: every chunk of the unit
 * covers the same [start, end) for each member query, the members are fetched as separate
 * requests, and one worker decodes all their bodies into one batch (`prom-group` fill).
 *
 * A unit is a QueryState (so the planner, prefetch, stream polling and progress treat it like one
 * query) whose series estimate is the members' sum (chunks are sized for all of them together, so
 * every member request stays within Prometheus' limits) and whose name is the members' names joined
 * by `+` (chunk ids, checkpoint coverage and per-query metrics use it).
 */
import type { CrossSeriesNeed } from '../source.js';
import type { QueryState } from './planner.js';

export interface QueryUnit extends QueryState {
  /** The member queries, in config order (own names, expressions and series estimates). */
  members: QueryState[];
}

export const isUnit = (q: QueryState): q is QueryUnit => Array.isArray((q as Partial<QueryUnit>).members);

/** The member queries of a planning unit (itself for a plain query). */
export const membersOf = (q: QueryState): readonly QueryState[] => (isUnit(q) ? q.members : [q]);

/**
 * Groups of query names to co-schedule: for every cross-series need, the queries with a selector
 * whose metric name matches one of its patterns are joined (union-find, so needs that share a
 * query merge). Groups of one are left out. Queries whose metric names are unknown (no named
 * selector) take no part. Order: by first member in config order.
 */
export function coscheduleGroups(queries: readonly { name: string; metrics: readonly string[] }[], needs: readonly CrossSeriesNeed[]): string[][] {
  const parent = queries.map((_, i) => i);
  const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i]!)));
  for (const need of needs) {
    const hit = queries.flatMap((q, i) => (q.metrics.some((m) => need.metrics.some((re) => re.test(m))) ? [i] : []));
    for (const i of hit.slice(1)) {
      const a = find(hit[0]!);
      const b = find(i);
      if (a !== b) parent[Math.max(a, b)] = Math.min(a, b);
    }
  }
  const by = new Map<number, string[]>();
  queries.forEach((q, i) => {
    const root = find(i);
    if (!by.has(root)) by.set(root, []);
    by.get(root)!.push(q.name);
  });
  return [...by.values()].filter((g) => g.length > 1);
}

/** Intervals covered by every list (each sorted and merged). */
function intersect(lists: readonly (readonly [number, number])[][]): Array<[number, number]> {
  let acc: Array<[number, number]> = lists[0]!.map(([a, b]) => [a, b]);
  for (const list of lists.slice(1)) {
    const next: Array<[number, number]> = [];
    for (const [a, b] of acc) {
      for (const [c, d] of list) {
        const s = Math.max(a, c);
        const e = Math.min(b, d);
        if (e > s) next.push([s, e]);
      }
    }
    acc = next.sort((x, y) => x[0] - y[0]);
  }
  return acc;
}

function merge(ivs: Array<[number, number]>): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const iv of ivs.sort((x, y) => x[0] - y[0])) {
    const last = out[out.length - 1];
    if (last && iv[0] <= last[1]) last[1] = Math.max(last[1], iv[1]);
    else out.push([iv[0], iv[1]]);
  }
  return out;
}

/** The name of a unit: its members' names joined by `+`. */
export const unitName = (names: readonly string[]): string => names.join('+');

/**
 * Replace each group's member queries by one unit, placed where its first member was. The unit
 * starts at the earliest member cursor and ends at the latest member end; its completed time is
 * what all members completed, plus what a previous run recorded under the unit's own name.
 */
export function toUnits(queries: readonly QueryState[], groups: readonly string[][], unitDone: ReadonlyMap<string, Array<[number, number]>>): QueryState[] {
  const groupOf = new Map<string, string[]>();
  for (const g of groups) for (const n of g) groupOf.set(n, g);
  const out: QueryState[] = [];
  for (const q of queries) {
    const g = groupOf.get(q.name);
    if (!g) {
      out.push(q);
      continue;
    }
    if (g[0] !== q.name) continue;
    const members = g.map((n) => queries.find((m) => m.name === n)!);
    const name = unitName(g);
    const unit: QueryUnit = {
      name,
      expr: members.map((m) => m.expr).join(' ; '),
      series: members.reduce((s, m) => s + Math.max(1, m.series), 0),
      cursor: Math.min(...members.map((m) => m.cursor)),
      end: Math.max(...members.map((m) => m.end)),
      done: merge([...intersect(members.map((m) => m.done)), ...(unitDone.get(name) ?? [])]),
      members,
    };
    out.push(unit);
  }
  return out;
}
