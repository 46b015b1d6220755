/**
 * Training matrices: one row per (entity, timestamp), the chosen features as columns, joined
 * point-in-time (as-of with a tolerance: a row at t only ever sees samples at or before t), a
 * target from a future value (horizon h) or a label series, a time split with a gap, and sampling.
 * docs/ACCESS.md is the reference.
 *
 * Per row the work is index loops over Float64Arrays (one merge pointer per feature and entity);
 * no object is built per row or per point. Memory: the selected series' points (16 bytes per point
 * and field) plus the matrix.
 */
import { PromfluxError } from '../errors.js';
import { decodeTagValue } from '../encode/escape.js';
import { parseDuration } from '../util/duration.js';
import type { SeriesBlock } from './decode.js';
import type { ReadSpec } from './query.js';
import { mulberry32 } from '../util/random.js';

/** Where blocks come from: InfluxDB (readInflux, optionally cached) or promflux Arrow files. */
export type BlockReader = (spec: ReadSpec) => AsyncIterable<SeriesBlock[]>;

export interface FeatureSpec {
  /** Column name in the matrix. */
  name: string;
  measurement: string;
  /** Field (default `value`). */
  field?: string;
  /** As-of tolerance: the newest sample at or before t counts only if it is at most this old (duration; default 5m). */
  tolerance?: string | number;
  /** Tag filters (values as the Prometheus labels hold them; encoded for the query). */
  where?: Record<string, string | string[]>;
  /** Aggregate at read time (GROUP BY time()). */
  groupBy?: ReadSpec['groupBy'];
  /** Free text for the schema file (how the feature was made). */
  definition?: string;
}

export type TargetSpec =
  | { kind: 'future'; name?: string; feature: string; horizon: string | number; tolerance?: string | number }
  | { kind: 'label'; name?: string; measurement: string; field?: string; tolerance?: string | number; where?: Record<string, string | string[]> };

export type SampleSpec =
  | { kind: 'random'; fraction: number; seed?: number }
  | { kind: 'every'; k: number }
  | { kind: 'stratified'; tag: string; fraction: number; seed?: number };

export interface TrainingSpec {
  /** Epoch ms or anything parseTime reads. */
  start: number;
  end: number;
  /** Labels that name an entity (e.g. ["instance"]). Every feature's series must carry them. */
  entity: string[];
  features: FeatureSpec[];
  /** Row timestamps: every `every` (aligned to the epoch), or the timestamps of one feature's samples. */
  spine?: { every: string | number } | { feature: string };
  target?: TargetSpec;
  /** Fractions of the time range (the newest parts) and the gap dropped before each boundary. */
  split?: { validation: number; test: number; gap?: string | number };
  sample?: SampleSpec;
  /** Drop rows whose target is missing (default true when there is a target). */
  dropMissingTarget?: boolean;
}

export const SPLITS = ['train', 'validation', 'test'] as const;

export interface TrainingSet {
  rows: number;
  /** Row timestamps, epoch ms. */
  ts: Float64Array;
  /** Entity label columns (decoded label values), dictionary-encoded: values[i] indexes dict. */
  entity: Array<{ name: string; dict: string[]; codes: Int32Array }>;
  /** Feature columns (NaN = no sample within tolerance). */
  features: Array<{ name: string; values: Float64Array }>;
  target?: { name: string; values: Float64Array };
  /** 0 train, 1 validation, 2 test. */
  split: Uint8Array;
  /** Split boundaries (epoch ms): validation starts at `validation`, test at `test`. */
  boundaries?: { validation: number; test: number; gap: number };
  /** Rows left out, by reason (every candidate row is either in the matrix or counted here). */
  dropped: Record<string, number>;
  /** Candidate rows before drops. */
  candidates: number;
  /** Points read per feature. */
  pointsRead: number;
}

function ms(v: string | number | undefined, fallback: number, what: string): number {
  if (v === undefined) return fallback;
  return parseDuration(v, what);
}

function specError(msg: string): PromfluxError {
  return new PromfluxError('PROMFLUX_ACCESS_SPEC', msg);
}

interface Series {
  ts: Float64Array;
  v: Float64Array;
}

/** Concatenate per-entity chunks of one field, dropping null cells (absent field at that point). */
function concat(parts: Array<{ ts: Float64Array; v: Float64Array }>): Series {
  let n = 0;
  for (const p of parts) n += p.v.length;
  const ts = new Float64Array(n);
  const v = new Float64Array(n);
  let k = 0;
  for (const p of parts) {
    for (let i = 0; i < p.v.length; i++) {
      const x = p.v[i]!;
      if (Number.isNaN(x)) continue;
      ts[k] = p.ts[i]!;
      v[k++] = x;
    }
  }
  let sorted = true;
  for (let i = 1; i < k; i++) if (ts[i]! < ts[i - 1]!) sorted = false;
  if (sorted) return { ts: ts.subarray(0, k), v: v.subarray(0, k) };
  // Arrow files hold a series' batches in completion order: sort its points by time (once per series).
  const order = new Int32Array(k);
  for (let i = 0; i < k; i++) order[i] = i;
  order.sort((a, b) => ts[a]! - ts[b]!);
  const ts2 = new Float64Array(k);
  const v2 = new Float64Array(k);
  for (let i = 0; i < k; i++) {
    ts2[i] = ts[order[i]!]!;
    v2[i] = v[order[i]!]!;
  }
  return { ts: ts2, v: v2 };
}

/** Read one feature's series, grouped by entity (decoded entity label values joined by \u0000). */
async function readFeature(
  read: BlockReader,
  f: { name: string; measurement: string; field: string; where?: Record<string, string | string[]>; groupBy?: ReadSpec['groupBy'] },
  entity: string[],
  start: number,
  end: number,
  entityValues: Map<string, string[]>,
): Promise<{ byEntity: Map<string, Series>; points: number }> {
  const parts = new Map<string, Array<{ ts: Float64Array; v: Float64Array }>>();
  const owner = new Map<string, string>();
  let points = 0;
  const spec: ReadSpec = { measurement: f.measurement, fields: [f.field], start, end, ...(f.where ? { where: f.where } : {}), ...(f.groupBy ? { groupBy: f.groupBy } : {}) };
  for await (const blocks of read(spec)) {
    for (const b of blocks) {
      const col = b.columns.indexOf(f.field);
      if (col < 0) continue;
      const vals: string[] = [];
      for (const e of entity) {
        const raw = b.tags[e];
        if (raw === undefined || raw === '') throw specError(`feature "${f.name}": a series of ${b.name} has no "${e}" tag (tags: ${JSON.stringify(b.tags)}); choose entity labels every series carries, or filter with where`);
        vals.push(decodeTagValue(raw));
      }
      const key = vals.join('\u0000');
      const seriesId = JSON.stringify(Object.entries(b.tags).sort());
      const prev = owner.get(key);
      if (prev !== undefined && prev !== seriesId) {
        throw specError(`feature "${f.name}": two series of ${b.name} map to one entity ${JSON.stringify(vals)} (${prev} and ${seriesId}); add the differing label to entity, or narrow the feature with where (nothing is merged silently)`);
      }
      owner.set(key, seriesId);
      entityValues.set(key, vals);
      let list = parts.get(key);
      if (!list) parts.set(key, (list = []));
      list.push({ ts: b.ts, v: b.values[col]! });
      points += b.rows;
    }
  }
  const byEntity = new Map<string, Series>();
  for (const [k, p] of parts) byEntity.set(k, concat(p));
  return { byEntity, points };
}

/** Seeded PRNG for deterministic sampling (src/util/random.ts). */
export const rng = mulberry32;

/**
 * As-of lookup over sorted `ts`: the index of the newest sample with ts <= t, starting from the
 * caller's pointer `j` (monotone t → amortised O(1)); -1 when none.
 */
function asOf(ts: Float64Array, t: number, j: number): number {
  while (j + 1 < ts.length && ts[j + 1]! <= t) j++;
  return j >= 0 && j < ts.length && ts[j]! <= t ? j : -1;
}

/** Build the matrix. `read` supplies blocks (see BlockReader). */
export async function trainingSet(read: BlockReader, spec: TrainingSpec): Promise<TrainingSet> {
  if (!(spec.end > spec.start)) throw new PromfluxError('PROMFLUX_ACCESS_RANGE', `training set: end (${spec.end}) must be after start (${spec.start})`);
  if (spec.features.length === 0) throw specError('training set: features must name at least one feature');
  const names = new Set<string>();
  for (const f of spec.features) {
    if (names.has(f.name)) throw specError(`training set: feature name "${f.name}" is used twice`);
    names.add(f.name);
  }
  const entityValues = new Map<string, string[]>();
  const feats: Array<{ name: string; tol: number; byEntity: Map<string, Series> }> = [];
  let pointsRead = 0;
  const horizon = spec.target?.kind === 'future' ? ms(spec.target.horizon, 0, 'target.horizon') : 0;
  for (const f of spec.features) {
    const tol = ms(f.tolerance, 300_000, `features.${f.name}.tolerance`);
    // Read enough before start to find an as-of sample for the first rows; and after end for a future target.
    const extraAfter = spec.target?.kind === 'future' && spec.target.feature === f.name ? horizon + ms(spec.target.tolerance, tol, 'target.tolerance') : 0;
    const r = await readFeature(read, { name: f.name, measurement: f.measurement, field: f.field ?? 'value', ...(f.where ? { where: f.where } : {}), ...(f.groupBy ? { groupBy: f.groupBy } : {}) }, spec.entity, spec.start - tol, spec.end + extraAfter + 1, entityValues);
    pointsRead += r.points;
    feats.push({ name: f.name, tol, byEntity: r.byEntity });
  }
  let label: { tol: number; byEntity: Map<string, Series> } | undefined;
  if (spec.target?.kind === 'label') {
    const t = spec.target;
    const tol = ms(t.tolerance, 300_000, 'target.tolerance');
    const r = await readFeature(read, { name: t.name ?? 'target', measurement: t.measurement, field: t.field ?? 'value', ...(t.where ? { where: t.where } : {}) }, spec.entity, spec.start - tol, spec.end, entityValues);
    pointsRead += r.points;
    label = { tol, byEntity: r.byEntity };
  }
  let future: { fi: number; tol: number } | undefined;
  if (spec.target?.kind === 'future') {
    const tgt = spec.target;
    const fi = feats.findIndex((f) => f.name === tgt.feature);
    if (fi < 0) throw specError(`training set: target.feature "${tgt.feature}" is not one of the features (${[...names].join(', ')})`);
    if (!(horizon > 0)) throw specError('training set: target.horizon must be a positive duration');
    future = { fi, tol: ms(tgt.tolerance, feats[fi]!.tol, 'target.tolerance') };
  }

  // Spine: row timestamps per entity.
  const spine = spec.spine ?? { every: 60_000 };
  let every = 0;
  let spineFeature = -1;
  if ('every' in spine) {
    every = ms(spine.every, 60_000, 'spine.every');
    if (!(every > 0)) throw specError('training set: spine.every must be a positive duration');
  } else {
    spineFeature = feats.findIndex((f) => f.name === spine.feature);
    if (spineFeature < 0) throw specError(`training set: spine.feature "${spine.feature}" is not one of the features`);
  }

  const entities = [...entityValues.keys()].sort();
  // Growable output columns.
  let cap = 1024;
  let ts = new Float64Array(cap);
  let ent = new Int32Array(cap);
  let fcols = feats.map(() => new Float64Array(cap));
  let tcol = new Float64Array(cap);
  let rows = 0;
  const grow = (): void => {
    cap *= 2;
    const g64 = (a: Float64Array<ArrayBuffer>): Float64Array<ArrayBuffer> => {
      const b = new Float64Array(cap);
      b.set(a);
      return b;
    };
    ts = g64(ts);
    tcol = g64(tcol);
    fcols = fcols.map(g64);
    const e = new Int32Array(cap);
    e.set(ent);
    ent = e;
  };
  const dropped: Record<string, number> = {};
  const drop = (reason: string, n = 1): void => {
    dropped[reason] = (dropped[reason] ?? 0) + n;
  };
  let candidates = 0;
  const hasTarget = spec.target !== undefined;
  const dropMissing = spec.dropMissingTarget ?? hasTarget;
  const empty: Series = { ts: new Float64Array(0), v: new Float64Array(0) };
  for (let e = 0; e < entities.length; e++) {
    const key = entities[e]!;
    const series = feats.map((f) => f.byEntity.get(key) ?? empty);
    const ptr = new Int32Array(feats.length).fill(-1);
    let lptr = -1;
    const lab = label?.byEntity.get(key) ?? empty;
    let fptr = -1;
    const fut = future ? series[future.fi]! : empty;
    const times: Float64Array =
      spineFeature >= 0
        ? series[spineFeature]!.ts.filter((t) => t >= spec.start && t < spec.end)
        : (() => {
            const first = Math.ceil(spec.start / every) * every;
            const n = Math.max(0, Math.ceil((spec.end - first) / every));
            const a = new Float64Array(n);
            for (let i = 0; i < n; i++) a[i] = first + i * every;
            return a;
          })();
    for (let r = 0; r < times.length; r++) {
      const t = times[r]!;
      candidates++;
      let y = NaN;
      if (future) {
        // y = the feature at t + h: the newest sample at or before t + h, strictly after t, within tolerance.
        fptr = asOf(fut.ts, t + horizon, fptr);
        if (fptr >= 0 && fut.ts[fptr]! > t && t + horizon - fut.ts[fptr]! <= future.tol) y = fut.v[fptr]!;
      } else if (label) {
        lptr = asOf(lab.ts, t, lptr);
        if (lptr >= 0 && t - lab.ts[lptr]! <= label.tol) y = lab.v[lptr]!;
      }
      if (dropMissing && Number.isNaN(y)) {
        // advance feature pointers anyway (monotone)
        for (let f = 0; f < feats.length; f++) ptr[f] = asOf(series[f]!.ts, t, ptr[f]!);
        drop('missing_target');
        continue;
      }
      if (rows === cap) grow();
      ts[rows] = t;
      ent[rows] = e;
      tcol[rows] = y;
      for (let f = 0; f < feats.length; f++) {
        const s = series[f]!;
        const j = asOf(s.ts, t, ptr[f]!);
        ptr[f] = j;
        fcols[f]![rows] = j >= 0 && t - s.ts[j]! <= feats[f]!.tol ? s.v[j]! : NaN;
      }
      rows++;
    }
  }

  // Split by time, with a gap before each boundary.
  const split = new Uint8Array(rows);
  let boundaries: TrainingSet['boundaries'];
  const keep = new Uint8Array(rows).fill(1);
  if (spec.split) {
    const { validation, test } = spec.split;
    if (!(validation >= 0 && test >= 0 && validation + test < 1)) throw specError('training set: split.validation and split.test must be fractions ≥ 0 with validation + test < 1');
    const gap = ms(spec.split.gap, horizon, 'split.gap');
    const span = spec.end - spec.start;
    const tv = spec.start + Math.round(span * (1 - validation - test));
    const tt = spec.start + Math.round(span * (1 - test));
    boundaries = { validation: tv, test: tt, gap };
    for (let i = 0; i < rows; i++) {
      const t = ts[i]!;
      // A train row's target (t + h) must not reach into validation: rows within `gap` before a boundary go.
      if ((validation > 0 && t < tv && t >= tv - gap) || (test > 0 && t < tt && t >= tt - gap)) {
        keep[i] = 0;
        drop('split_gap');
        continue;
      }
      split[i] = t >= tt && test > 0 ? 2 : t >= tv && validation > 0 ? 1 : 0;
    }
  }

  // Sampling (after the split, deterministic).
  if (spec.sample) {
    const s = spec.sample;
    if (s.kind === 'random') {
      if (!(s.fraction > 0 && s.fraction <= 1)) throw specError('training set: sample.fraction must be in (0, 1]');
      const rand = rng(s.seed ?? 1);
      for (let i = 0; i < rows; i++) {
        if (!keep[i]) continue;
        if (rand() >= s.fraction) {
          keep[i] = 0;
          drop('sampled_out');
        }
      }
    } else if (s.kind === 'every') {
      if (!(Number.isInteger(s.k) && s.k >= 1)) throw specError('training set: sample.k must be a positive integer');
      // every k-th kept row of each entity
      const seen = new Int32Array(entities.length);
      for (let i = 0; i < rows; i++) {
        if (!keep[i]) continue;
        if (seen[ent[i]!]++ % s.k !== 0) {
          keep[i] = 0;
          drop('sampled_out');
        }
      }
    } else {
      if (!(s.fraction > 0 && s.fraction <= 1)) throw specError('training set: sample.fraction must be in (0, 1]');
      const ti = spec.entity.indexOf(s.tag);
      if (ti < 0) throw specError(`training set: sample.tag "${s.tag}" must be one of the entity labels (${spec.entity.join(', ')})`);
      const rand = rng(s.seed ?? 1);
      const strata = new Map<string, number[]>();
      for (let i = 0; i < rows; i++) {
        if (!keep[i]) continue;
        const v = entityValues.get(entities[ent[i]!]!)![ti]!;
        let l = strata.get(v);
        if (!l) strata.set(v, (l = []));
        l.push(i);
      }
      for (const v of [...strata.keys()].sort()) {
        const l = strata.get(v)!;
        const take = Math.round(l.length * s.fraction);
        // seeded partial Fisher–Yates: the first `take` of a shuffle stay
        for (let i = 0; i < take; i++) {
          const j = i + Math.floor(rand() * (l.length - i));
          const x = l[i]!;
          l[i] = l[j]!;
          l[j] = x;
        }
        for (let i = take; i < l.length; i++) {
          keep[l[i]!] = 0;
          drop('sampled_out');
        }
      }
    }
  }

  // Compact kept rows.
  let n = 0;
  for (let i = 0; i < rows; i++) if (keep[i]) n++;
  const pick64 = (a: Float64Array): Float64Array => {
    const b = new Float64Array(n);
    for (let i = 0, k = 0; i < rows; i++) if (keep[i]) b[k++] = a[i]!;
    return b;
  };
  const entOut = new Int32Array(n);
  const splitOut = new Uint8Array(n);
  for (let i = 0, k = 0; i < rows; i++) {
    if (!keep[i]) continue;
    entOut[k] = ent[i]!;
    splitOut[k++] = split[i]!;
  }
  // Entity dictionaries per label.
  const entity = spec.entity.map((name, li) => {
    const dict: string[] = [];
    const index = new Map<string, number>();
    const perEntity = new Int32Array(entities.length);
    for (let e = 0; e < entities.length; e++) {
      const v = entityValues.get(entities[e]!)![li]!;
      let c = index.get(v);
      if (c === undefined) {
        c = dict.length;
        dict.push(v);
        index.set(v, c);
      }
      perEntity[e] = c;
    }
    const codes = new Int32Array(n);
    for (let i = 0; i < n; i++) codes[i] = perEntity[entOut[i]!]!;
    return { name, dict, codes };
  });
  const targetName = spec.target ? (spec.target.name ?? 'target') : undefined;
  return {
    rows: n,
    ts: pick64(ts.subarray(0, rows)),
    entity,
    features: feats.map((f, i) => ({ name: f.name, values: pick64(fcols[i]!.subarray(0, rows)) })),
    ...(targetName ? { target: { name: targetName, values: pick64(tcol.subarray(0, rows)) } } : {}),
    split: splitOut,
    ...(boundaries ? { boundaries } : {}),
    dropped,
    candidates,
    pointsRead,
  };
}
