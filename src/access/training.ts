/**
 * Training matrices: one row per (entity, timestamp), the chosen features as columns, joined
 * point-in-time (as-of with a tolerance: a row at t only ever sees samples at or before t), a
 * target from a future value (horizon h) or a label series, a time split with a gap, and sampling.
 * docs/ACCESS.md is the reference.
 *
 * Per row the work is index loops over Float64Arrays (one merge pointer per feature and entity);
 * no object is built per row or per point. Rows are built window by window of time
 * (`trainingWindows`, what `promflux export` streams to its files): memory holds one window's points
 * (16 bytes per point and field) and rows, whatever the range. Rows come in (timestamp, entity)
 * order, and split and sampling carry their state across windows, so the rows and their order do
 * not depend on the windows (test/access-stream.test.ts). `trainingSet()` is one window, in memory.
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

interface Prepared {
  feats: Array<{ name: string; tol: number; extraAfter: number; spec: FeatureSpec }>;
  horizon: number;
  future?: { fi: number; tol: number };
  label?: { tol: number; spec: Extract<TargetSpec, { kind: 'label' }> };
  every: number;
  spineFeature: number;
  dropMissing: boolean;
  boundaries?: { validation: number; test: number; gap: number };
}

/** Validate the spec once (the errors name the key) and resolve its durations. */
function prepare(spec: TrainingSpec): Prepared {
  if (!(spec.end > spec.start)) throw new PromfluxError('PROMFLUX_ACCESS_RANGE', `training set: end (${spec.end}) must be after start (${spec.start})`);
  if (spec.features.length === 0) throw specError('training set: features must name at least one feature');
  const names = new Set<string>();
  for (const f of spec.features) {
    if (names.has(f.name)) throw specError(`training set: feature name "${f.name}" is used twice`);
    names.add(f.name);
  }
  const horizon = spec.target?.kind === 'future' ? ms(spec.target.horizon, 0, 'target.horizon') : 0;
  const feats = spec.features.map((f) => {
    const tol = ms(f.tolerance, 300_000, `features.${f.name}.tolerance`);
    // A future target reads past a row's time: up to t + h (plus its tolerance, for the edge).
    const extraAfter = spec.target?.kind === 'future' && spec.target.feature === f.name ? horizon + ms(spec.target.tolerance, tol, 'target.tolerance') : 0;
    return { name: f.name, tol, extraAfter, spec: f };
  });
  const p: Prepared = { feats, horizon, every: 0, spineFeature: -1, dropMissing: spec.dropMissingTarget ?? spec.target !== undefined };
  if (spec.target?.kind === 'label') p.label = { tol: ms(spec.target.tolerance, 300_000, 'target.tolerance'), spec: spec.target };
  if (spec.target?.kind === 'future') {
    const tgt = spec.target;
    const fi = feats.findIndex((f) => f.name === tgt.feature);
    if (fi < 0) throw specError(`training set: target.feature "${tgt.feature}" is not one of the features (${[...names].join(', ')})`);
    if (!(horizon > 0)) throw specError('training set: target.horizon must be a positive duration');
    p.future = { fi, tol: ms(tgt.tolerance, feats[fi]!.tol, 'target.tolerance') };
  }
  const spine = spec.spine ?? { every: 60_000 };
  if ('every' in spine) {
    p.every = ms(spine.every, 60_000, 'spine.every');
    if (!(p.every > 0)) throw specError('training set: spine.every must be a positive duration');
  } else {
    p.spineFeature = feats.findIndex((f) => f.name === spine.feature);
    if (p.spineFeature < 0) throw specError(`training set: spine.feature "${spine.feature}" is not one of the features`);
  }
  if (spec.split) {
    const { validation, test } = spec.split;
    if (!(validation >= 0 && test >= 0 && validation + test < 1)) throw specError('training set: split.validation and split.test must be fractions ≥ 0 with validation + test < 1');
    const span = spec.end - spec.start;
    p.boundaries = { validation: spec.start + Math.round(span * (1 - validation - test)), test: spec.start + Math.round(span * (1 - test)), gap: ms(spec.split.gap, horizon, 'split.gap') };
  }
  const s = spec.sample;
  if (s && s.kind !== 'every' && !(s.fraction > 0 && s.fraction <= 1)) throw specError('training set: sample.fraction must be in (0, 1]');
  if (s?.kind === 'every' && !(Number.isInteger(s.k) && s.k >= 1)) throw specError('training set: sample.k must be a positive integer');
  if (s?.kind === 'stratified' && !spec.entity.includes(s.tag)) throw specError(`training set: sample.tag "${s.tag}" must be one of the entity labels (${spec.entity.join(', ')})`);
  return p;
}

/** Entities across windows: key (decoded label values joined by \u0000) → code, and one growing dictionary per label. */
class EntityIndex {
  readonly codes = new Map<string, number>();
  readonly values: string[][] = [];
  readonly dicts: Array<{ dict: string[]; index: Map<string, number> }>;
  /** Per entity code: its dictionary code per label. */
  readonly perLabel: number[][] = [];
  constructor(labels: number) {
    this.dicts = Array.from({ length: labels }, () => ({ dict: [], index: new Map() }));
  }
  code(key: string, vals: string[]): number {
    let c = this.codes.get(key);
    if (c !== undefined) return c;
    c = this.values.length;
    this.codes.set(key, c);
    this.values.push(vals);
    this.perLabel.push(
      vals.map((v, li) => {
        const d = this.dicts[li]!;
        let x = d.index.get(v);
        if (x === undefined) {
          x = d.dict.length;
          d.dict.push(v);
          d.index.set(v, x);
        }
        return x;
      }),
    );
    return c;
  }
}

/** One window's candidate rows, in (timestamp, entity key) order. */
interface WindowRows {
  rows: number;
  ts: Float64Array;
  ent: Int32Array;
  fcols: Float64Array[];
  tcol: Float64Array;
  candidates: number;
  missingTarget: number;
  points: number;
}

/** Candidate rows with spine times in [from, to): every read covers what those rows may look at. */
async function buildWindow(read: BlockReader, spec: TrainingSpec, p: Prepared, from: number, to: number, index: EntityIndex): Promise<WindowRows> {
  const entityValues = new Map<string, string[]>();
  const reads = p.feats.map((f) => readFeature(read, { name: f.name, measurement: f.spec.measurement, field: f.spec.field ?? 'value', ...(f.spec.where ? { where: f.spec.where } : {}), ...(f.spec.groupBy ? { groupBy: f.spec.groupBy } : {}) }, spec.entity, from - f.tol, to + f.extraAfter + 1, entityValues));
  if (p.label) {
    const t = p.label.spec;
    reads.push(readFeature(read, { name: t.name ?? 'target', measurement: t.measurement, field: t.field ?? 'value', ...(t.where ? { where: t.where } : {}) }, spec.entity, from - p.label.tol, to, entityValues));
  }
  // The features' queries run concurrently (InfluxDB answers them in parallel; decoding interleaves).
  const results = await Promise.all(reads);
  const feats = results.slice(0, p.feats.length).map((r) => r.byEntity);
  const label = p.label ? results[p.feats.length]!.byEntity : undefined;
  let points = 0;
  for (const r of results) points += r.points;
  const keys = [...entityValues.keys()].sort();
  const cap0 = p.spineFeature < 0 ? keys.length * Math.max(0, Math.ceil((to - Math.ceil(from / p.every) * p.every) / p.every)) : 0;
  let cap = Math.max(16, cap0);
  let ts = new Float64Array(cap);
  let ent = new Int32Array(cap);
  let rank = new Int32Array(cap);
  let fcols = p.feats.map(() => new Float64Array(cap));
  let tcol = new Float64Array(cap);
  const grow = (): void => {
    cap *= 2;
    const g = <T extends Float64Array | Int32Array>(a: T): T => {
      const b = new (a.constructor as new (n: number) => T)(cap);
      b.set(a);
      return b;
    };
    ts = g(ts);
    ent = g(ent);
    rank = g(rank);
    tcol = g(tcol);
    fcols = fcols.map(g);
  };
  let rows = 0;
  let candidates = 0;
  let missingTarget = 0;
  const empty: Series = { ts: new Float64Array(0), v: new Float64Array(0) };
  for (let e = 0; e < keys.length; e++) {
    const key = keys[e]!;
    const code = index.code(key, entityValues.get(key)!);
    const series = feats.map((m) => m.get(key) ?? empty);
    const ptr = new Int32Array(p.feats.length).fill(-1);
    const lab = label?.get(key) ?? empty;
    const fut = p.future ? series[p.future.fi]! : empty;
    let lptr = -1;
    let fptr = -1;
    const times = spineTimes(p, series, from, to);
    for (let r = 0; r < times.length; r++) {
      const t = times[r]!;
      candidates++;
      let y = NaN;
      if (p.future) {
        // y = the feature at t + h: the newest sample at or before t + h, strictly after t, within tolerance.
        fptr = asOf(fut.ts, t + p.horizon, fptr);
        if (fptr >= 0 && fut.ts[fptr]! > t && t + p.horizon - fut.ts[fptr]! <= p.future.tol) y = fut.v[fptr]!;
      } else if (label) {
        lptr = asOf(lab.ts, t, lptr);
        if (lptr >= 0 && t - lab.ts[lptr]! <= p.label!.tol) y = lab.v[lptr]!;
      }
      if (p.dropMissing && Number.isNaN(y)) {
        missingTarget++;
        continue;
      }
      if (rows === cap) grow();
      ts[rows] = t;
      ent[rows] = code;
      rank[rows] = e;
      tcol[rows] = y;
      for (let f = 0; f < p.feats.length; f++) {
        const s = series[f]!;
        const j = asOf(s.ts, t, ptr[f]!);
        ptr[f] = j;
        fcols[f]![rows] = j >= 0 && t - s.ts[j]! <= p.feats[f]!.tol ? s.v[j]! : NaN;
      }
      rows++;
    }
  }
  // Time-major order (timestamp, then entity key): the same rows in the same order whatever the windows.
  const order = new Int32Array(rows);
  for (let i = 0; i < rows; i++) order[i] = i;
  order.sort((a, b) => ts[a]! - ts[b]! || rank[a]! - rank[b]!);
  const perm64 = (a: Float64Array): Float64Array => {
    const b = new Float64Array(rows);
    for (let i = 0; i < rows; i++) b[i] = a[order[i]!]!;
    return b;
  };
  const entOut = new Int32Array(rows);
  for (let i = 0; i < rows; i++) entOut[i] = ent[order[i]!]!;
  return { rows, ts: perm64(ts), ent: entOut, fcols: fcols.map(perm64), tcol: perm64(tcol), candidates, missingTarget, points };
}

/** Row timestamps of one entity within [from, to): the epoch-aligned grid, or the spine feature's samples. */
function spineTimes(p: Prepared, series: Series[], from: number, to: number): Float64Array {
  if (p.spineFeature >= 0) return series[p.spineFeature]!.ts.filter((t) => t >= from && t < to);
  const first = Math.ceil(from / p.every) * p.every;
  const n = Math.max(0, Math.ceil((to - first) / p.every));
  const a = new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = first + i * p.every;
  return a;
}

/**
 * Split (by time, with the gap) and sampling, carried across windows in row order, so the kept rows
 * do not depend on the windows: one seeded stream for random; a count per entity for every k-th;
 * for stratified, selection sampling (Knuth's algorithm S: exactly round(fraction × n) rows of each
 * stratum) over the per-stratum totals of a first counting pass.
 */
class RowFilter {
  private readonly rand: () => number;
  private readonly seen = new Map<number, number>();
  private readonly strata = new Map<string, { need: number; left: number }>();
  readonly dropped: Record<string, number> = {};
  /** Counting pass (stratified): candidates per stratum after split and gap. */
  readonly counts = new Map<string, number>();
  constructor(private readonly spec: TrainingSpec, private readonly p: Prepared, private readonly index: EntityIndex, counted?: Map<string, number>) {
    const s = spec.sample;
    this.rand = rng(s && s.kind !== 'every' ? (s.seed ?? 1) : 1);
    if (s?.kind === 'stratified' && counted) for (const [v, n] of counted) this.strata.set(v, { need: Math.round(n * s.fraction), left: n });
  }
  private drop(reason: string): void {
    this.dropped[reason] = (this.dropped[reason] ?? 0) + 1;
  }
  /** keep[i] and split[i] for the window's rows; `counting`: only count strata. */
  apply(w: WindowRows, keep: Uint8Array, split: Uint8Array, counting: boolean): void {
    const b = this.p.boundaries;
    const s = this.spec.sample;
    const ti = s?.kind === 'stratified' ? this.spec.entity.indexOf(s.tag) : -1;
    for (let i = 0; i < w.rows; i++) {
      const t = w.ts[i]!;
      keep[i] = 0;
      if (b) {
        const { validation, test } = this.spec.split!;
        // A train row's target (t + h) must not reach into validation: rows within `gap` before a boundary go.
        if ((validation > 0 && t < b.validation && t >= b.validation - b.gap) || (test > 0 && t < b.test && t >= b.test - b.gap)) {
          if (!counting) this.drop('split_gap');
          continue;
        }
        split[i] = t >= b.test && test > 0 ? 2 : t >= b.validation && validation > 0 ? 1 : 0;
      } else split[i] = 0;
      if (counting) {
        const v = this.index.values[w.ent[i]!]![ti]!;
        this.counts.set(v, (this.counts.get(v) ?? 0) + 1);
        continue;
      }
      if (s && !this.sampled(s, w.ent[i]!, ti)) {
        this.drop('sampled_out');
        continue;
      }
      keep[i] = 1;
    }
  }
  private sampled(s: SampleSpec, e: number, ti: number): boolean {
    if (s.kind === 'random') return this.rand() < s.fraction;
    if (s.kind === 'every') {
      const n = this.seen.get(e) ?? 0;
      this.seen.set(e, n + 1);
      return n % s.k === 0;
    }
    const st = this.strata.get(this.index.values[e]![ti]!)!;
    const take = this.rand() * st.left < st.need;
    st.left--;
    if (take) st.need--;
    return take;
  }
}

/** The kept rows of one window as a TrainingSet (entity dictionaries: every entity seen so far). */
function windowSet(w: WindowRows, keep: Uint8Array, split: Uint8Array, spec: TrainingSpec, p: Prepared, index: EntityIndex): TrainingSet {
  let n = 0;
  for (let i = 0; i < w.rows; i++) n += keep[i]!;
  const pick64 = (a: Float64Array): Float64Array => {
    const b = new Float64Array(n);
    for (let i = 0, k = 0; i < w.rows; i++) if (keep[i]) b[k++] = a[i]!;
    return b;
  };
  const splitOut = new Uint8Array(n);
  const entity = spec.entity.map((name) => ({ name, dict: index.dicts[spec.entity.indexOf(name)]!.dict, codes: new Int32Array(n) }));
  for (let i = 0, k = 0; i < w.rows; i++) {
    if (!keep[i]) continue;
    splitOut[k] = split[i]!;
    const per = index.perLabel[w.ent[i]!]!;
    for (let li = 0; li < entity.length; li++) entity[li]!.codes[k] = per[li]!;
    k++;
  }
  const targetName = spec.target ? (spec.target.name ?? 'target') : undefined;
  return {
    rows: n,
    ts: pick64(w.ts),
    entity,
    features: p.feats.map((f, i) => ({ name: f.name, values: pick64(w.fcols[i]!) })),
    ...(targetName ? { target: { name: targetName, values: pick64(w.tcol) } } : {}),
    split: splitOut,
    ...(p.boundaries ? { boundaries: p.boundaries } : {}),
    dropped: {},
    candidates: 0,
    pointsRead: 0,
  };
}

export interface WindowOptions {
  /** Span of one window (ms). Default: adaptive, aiming at `windowPoints` points read per window. */
  windowMs?: number;
  /** Default 250 000: with 16 bytes per point, about 4 MB of points (and their rows) held at a time. */
  windowPoints?: number;
}

/** Totals of a streamed training set, complete once the generator has finished. */
export interface WindowTotals {
  rows: number;
  candidates: number;
  dropped: Record<string, number>;
  /** Points read, counting the overlap re-read at window edges (tolerance, horizon). */
  pointsRead: number;
  windows: number;
  boundaries?: TrainingSet['boundaries'];
}

/**
 * The training set window by window, in bounded memory: each yielded set holds the kept rows of
 * one time window (spine times in [a, b)), in (timestamp, entity) order. Concatenated, the windows
 * are the same rows in the same order as trainingSet() whatever the window spans (tested). Memory:
 * one window's points and rows; a stratified sample reads the data twice (counting pass first).
 */
export async function* trainingWindows(read: BlockReader, spec: TrainingSpec, opts: WindowOptions = {}, totals?: WindowTotals): AsyncGenerator<TrainingSet> {
  const p = prepare(spec);
  const t = totals ?? { rows: 0, candidates: 0, dropped: {}, pointsRead: 0, windows: 0 };
  if (p.boundaries) t.boundaries = p.boundaries;
  let counted: Map<string, number> | undefined;
  if (spec.sample?.kind === 'stratified') {
    const index = new EntityIndex(spec.entity.length);
    const filter = new RowFilter(spec, p, index);
    for await (const w of windows(read, spec, p, index, opts)) filter.apply(w, new Uint8Array(w.rows), new Uint8Array(w.rows), true);
    counted = filter.counts;
  }
  const index = new EntityIndex(spec.entity.length);
  const filter = new RowFilter(spec, p, index, counted);
  for await (const w of windows(read, spec, p, index, opts)) {
    const keep = new Uint8Array(w.rows);
    const split = new Uint8Array(w.rows);
    filter.apply(w, keep, split, false);
    const set = windowSet(w, keep, split, spec, p, index);
    t.rows += set.rows;
    t.candidates += w.candidates;
    t.pointsRead += w.points;
    t.windows++;
    // Training-set row reasons (docs/ACCESS.md), not sample drops: rows left out of the matrix.
    const rowsLeftOut = (reason: string, n: number): void => {
      if (n > 0) t.dropped[reason] = (t.dropped[reason] ?? 0) + n;
    };
    rowsLeftOut('missing_target', w.missingTarget);
    for (const [k, n] of Object.entries(filter.dropped)) rowsLeftOut(k, n);
    for (const k of Object.keys(filter.dropped)) delete filter.dropped[k];
    set.dropped = { ...t.dropped };
    set.candidates = w.candidates;
    set.pointsRead = w.points;
    yield set;
  }
}

/** Windows over [start, end): fixed span, or adapted after each window to about `windowPoints` points. */
async function* windows(read: BlockReader, spec: TrainingSpec, p: Prepared, index: EntityIndex, opts: WindowOptions): AsyncGenerator<WindowRows> {
  const target = opts.windowPoints ?? 250_000;
  let span = opts.windowMs ?? Math.min(spec.end - spec.start, 3_600_000);
  for (let a = spec.start; a < spec.end; ) {
    const b = Math.min(spec.end, a + span);
    const w = await buildWindow(read, spec, p, a, b, index);
    yield w;
    if (opts.windowMs === undefined) span = Math.max(60_000, Math.min(30 * 86_400_000, Math.round((b - a) * (w.points > 0 ? target / w.points : 4))));
    a = b;
  }
}

/** Build the whole matrix in memory (one window). `read` supplies blocks (see BlockReader). */
export async function trainingSet(read: BlockReader, spec: TrainingSpec): Promise<TrainingSet> {
  const totals: WindowTotals = { rows: 0, candidates: 0, dropped: {}, pointsRead: 0, windows: 0 };
  const parts: TrainingSet[] = [];
  for await (const w of trainingWindows(read, spec, { windowMs: spec.end - spec.start }, totals)) parts.push(w);
  const set = parts.length === 1 ? parts[0]! : concatSets(parts);
  return { ...set, dropped: totals.dropped, candidates: totals.candidates, pointsRead: totals.pointsRead };
}

/** Concatenate window sets (their entity dictionaries only grow, so the last one's are valid for all). */
export function concatSets(parts: readonly TrainingSet[]): TrainingSet {
  const last = parts[parts.length - 1]!;
  const n = parts.reduce((a, s) => a + s.rows, 0);
  const cat64 = (get: (s: TrainingSet) => Float64Array): Float64Array => {
    const out = new Float64Array(n);
    let k = 0;
    for (const s of parts) {
      out.set(get(s), k);
      k += s.rows;
    }
    return out;
  };
  const split = new Uint8Array(n);
  let k = 0;
  for (const s of parts) {
    split.set(s.split, k);
    k += s.rows;
  }
  return {
    ...last,
    rows: n,
    ts: cat64((s) => s.ts),
    entity: last.entity.map((e, li) => {
      const codes = new Int32Array(n);
      let o = 0;
      for (const s of parts) {
        codes.set(s.entity[li]!.codes, o);
        o += s.rows;
      }
      return { name: e.name, dict: e.dict, codes };
    }),
    features: last.features.map((f, fi) => ({ name: f.name, values: cat64((s) => s.features[fi]!.values) })),
    ...(last.target ? { target: { name: last.target.name, values: cat64((s) => s.target!.values) } } : {}),
    split,
  };
}
