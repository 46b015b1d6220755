/**
 * The prometheus-tsdb source: reads a Prometheus snapshot (or a copy of a data directory) straight
 * from its TSDB blocks. The main thread only plans: per block it reads meta.json, the index (TOC,
 * symbols, postings offset table, the postings of the selectors' matchers, the selected series
 * entries) and the tombstones, and reads each selected chunk's header (its encoding, sample count
 * and length) so the plan knows exact sample counts and byte spans up front. Workers then read the
 * chunk bytes and decode them into the batch columns (fill.ts). The main thread never sees a sample.
 *
 * Plan: blocks whose time ranges overlap are grouped (overlapping and out-of-order blocks are
 * merged in the worker, per series); each group's window [minTime, maxTime) ∩ [start, end) is cut
 * into series blocks (series sorted by key), fixed for the run: about one batch each with a fixed
 * batch size, up to UNIT_SAMPLES with adaptive sizing; a series block whose samples exceed the
 * target is further cut in time as the adaptive batch size asks. Coverage key `tsdb:<groupStart>-<groupEnd>:<i0>-<i1>` with time intervals, so
 * checkpoints and resume work as for the other sources; shards own whole series blocks.
 */
import type { Logger } from 'pino';
import { SeriesKind, seriesKey } from '../../batch/layout.js';
import { ConfigError } from '../../errors.js';
import type { Source, SourceChunk, SourceOpenOptions, SourceProgress } from '../source.js';
import { kindOf } from '../prometheus/decode/runs.js';
import { fnv1a } from '../prometheus/planner.js';
import { parseSelector } from '../prometheus/selector.js';
import { parseTime } from '../prometheus/time.js';
import { discoverBlocks, ENC_XOR, readTombstones, SegmentSet, segmentFiles, type BlockMeta } from './blocks.js';
import { IndexReader, matcherTest, matches } from './index-reader.js';
import type { TsdbSourceConfig } from './config.js';
import { CH, C_BYTES, C_ENC, C_FILE, C_MAXT, C_MINT, C_OFF, C_SAMPLES, C_TOMB0, C_TOMB1, type TsdbFill } from './fill.js';
import { join } from 'node:path';

/** Most samples in one series block under adaptive sizing (see `plan`). */
export const UNIT_SAMPLES = 262_144;

export interface TsdbSourceDeps {
  logger: Logger;
  now?: () => number;
}

/** Per-series plan: every kept chunk of the series over all blocks, in mint order. */
interface SeriesPlan {
  key: string;
  kind: number;
  /** Flat chunk rows (CH columns; C_FILE indexes the source's global file table). */
  rows: number[];
  /** Flat closed [mint, maxt] tombstone pairs (C_TOMB0/1 index pairs). */
  tombs: number[];
  /** Running maximum of the rows' maxt (rows are in mint order): buildFill's binary search. */
  maxtUpTo?: Float64Array;
}

interface Group {
  startMs: number;
  endMs: number;
  /** Series with a chunk in the window, sorted by key. */
  series: SeriesPlan[];
  /** Samples per series in the window (chunk header counts), aligned with `series`. */
  samples: number[];
}

interface Unit {
  group: Group;
  i0: number;
  i1: number;
  key: string;
  samples: number;
  /** Time intervals still to do, [a, b). */
  pending: Array<[number, number]>;
}

export interface TsdbPlanStats {
  blocks: number;
  superseded: string[];
  series: number;
  chunks: number;
  /** Chunk header sample counts inside the selection window (duplicates and tombstoned included). */
  samples: number;
  histogramChunks: number;
  tombstonedSeries: number;
  groups: number;
}

export class TsdbSource implements Source {
  readonly kind = 'prometheus-tsdb';
  private readonly logger: Logger;
  private readonly now: () => number;
  private files: string[] = [];
  private groups: Group[] = [];
  private units: Unit[] | undefined;
  private opts!: SourceOpenOptions;
  private total = 0;
  private planned = 0;
  stats: TsdbPlanStats = { blocks: 0, superseded: [], series: 0, chunks: 0, samples: 0, histogramChunks: 0, tombstonedSeries: 0, groups: 0 };

  constructor(
    readonly cfg: TsdbSourceConfig,
    deps: TsdbSourceDeps,
  ) {
    this.logger = deps.logger.child({ component: 'extract.tsdb' });
    this.now = deps.now ?? Date.now;
    for (const s of cfg.selectors) {
      try {
        parseSelector(s);
      } catch (err) {
        throw new ConfigError(`selector ${JSON.stringify(s)}: ${(err as Error).message}`, { key: 'source.selectors' });
      }
    }
  }

  async open(opts: SourceOpenOptions): Promise<void> {
    this.opts = opts;
    const t0 = performance.now();
    const now = this.now();
    const time = (v: string | number | undefined, key: string, dflt: number) => {
      if (v === undefined) return dflt;
      try {
        return parseTime(v, now);
      } catch (err) {
        throw new ConfigError((err as Error).message, { key: `source.${key}` });
      }
    };
    const { blocks: all, superseded } = discoverBlocks(this.cfg.path);
    const selStart = time(this.cfg.start, 'start', -8.64e15);
    const selEnd = time(this.cfg.end, 'end', 8.64e15);
    if (!(selEnd > selStart)) throw new ConfigError(`end (${this.cfg.end}) is not after start (${this.cfg.start})`, { key: 'source.end' });
    const lookahead = opts.lookaheadMs ?? 0;
    // Blocks in the selection, plus context: blocks within haloMs before it, and (for haloSamples)
    // the one group just before; blocks within lookaheadMs after it.
    const inSel = (b: BlockMeta) => b.maxTime > selStart && b.minTime < selEnd;
    let ctxStart = selStart - opts.haloMs;
    if (opts.haloSamples > 0) {
      const before = all.filter((b) => b.maxTime <= ctxStart);
      if (before.length) ctxStart = Math.min(ctxStart, Math.max(...before.map((b) => b.minTime)));
    }
    const used = all.filter((b) => b.maxTime > ctxStart && b.minTime < selEnd + lookahead);
    const matcherSets = this.cfg.selectors.map((s) => parseSelector(s).matchers);
    const byKey = new Map<string, SeriesPlan>();
    const st = this.stats;
    st.blocks = used.length;
    st.superseded = superseded;
    for (const b of used) this.readBlock(b, matcherSets, byKey, ctxStart, selEnd + lookahead);
    for (const s of byKey.values()) {
      sortRows(s);
      s.maxtUpTo = runningMaxt(s.rows);
    }

    // groups of overlapping blocks in the selection, clipped to it
    const sel = all.filter(inSel);
    const windows: Array<[number, number]> = [];
    for (const b of sel) {
      const last = windows[windows.length - 1];
      if (last && b.minTime < last[1]) last[1] = Math.max(last[1], b.maxTime);
      else windows.push([b.minTime, b.maxTime]);
    }
    const keys = [...byKey.keys()].sort();
    const gs: Group[] = [];
    for (const [a0, b0] of windows) {
      const g: Group = { startMs: Math.max(a0, selStart), endMs: Math.min(b0, selEnd), series: [], samples: [] };
      if (g.endMs > g.startMs) gs.push(g);
    }
    // one pass over each series' chunks: a chunk belongs to the groups its [mint, maxt] meets
    const perGroup = new Float64Array(gs.length).fill(-1);
    const touched: number[] = [];
    for (const k of keys) {
      const s = byKey.get(k)!;
      const r = s.rows;
      for (let o = 0; o < r.length; o += CH) {
        const mint = r[o + C_MINT]!;
        const maxt = r[o + C_MAXT]!;
        // first group with endMs > mint (binary search), then every group starting <= maxt
        let lo = 0;
        let hi = gs.length;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (gs[mid]!.endMs > mint) hi = mid;
          else lo = mid + 1;
        }
        for (let gi = lo; gi < gs.length && gs[gi]!.startMs <= maxt; gi++) {
          if (perGroup[gi]! < 0) {
            perGroup[gi] = 0;
            touched.push(gi);
          }
          perGroup[gi] = perGroup[gi]! + r[o + C_SAMPLES]!;
        }
      }
      touched.sort((x, y) => x - y);
      for (const gi of touched) {
        gs[gi]!.series.push(s);
        gs[gi]!.samples.push(perGroup[gi]!);
        perGroup[gi] = -1;
      }
      touched.length = 0;
    }
    for (const g of gs) if (g.series.length) this.groups.push(g);
    st.groups = this.groups.length;
    st.series = byKey.size;
    st.samples = this.groups.reduce((a, g) => a + g.samples.reduce((x, y) => x + y, 0), 0);
    this.logger.info(
      { path: this.cfg.path, ...st, superseded: superseded.length, planMs: Math.round(performance.now() - t0) },
      'tsdb source planned',
    );
  }

  /** Select series of one block through its postings and read their chunk headers. */
  private readBlock(b: BlockMeta, matcherSets: ReturnType<typeof parseSelector>['matchers'][], byKey: Map<string, SeriesPlan>, from: number, to: number): void {
    const idx = new IndexReader(join(b.dir, 'index'));
    const segs = new SegmentSet(segmentFiles(b.dir));
    const fileBase = this.files.length;
    this.files.push(...segs.files);
    try {
      const tombs = readTombstones(b.dir);
      // refs: union over selectors
      let refs: Uint32Array;
      const tests: Array<Array<{ name: string; test: (v: string) => boolean }>> = [];
      if (matcherSets.length === 0) refs = idx.allPostings();
      else {
        const sets = matcherSets.map((ms) => idx.select(ms));
        for (const ms of matcherSets) tests.push(ms.map((m) => ({ name: m.name, test: matcherTest(m) })));
        const u = new Set<number>();
        for (const s of sets) for (const r of s) u.add(r);
        refs = Uint32Array.from([...u].sort((x, y) => x - y));
      }
      for (const ref of refs) {
        const e = idx.series(ref);
        if (tests.length && !tests.some((t) => matches(e.labels, t))) continue;
        const key = pairsKey(e.labels);
        let sp = byKey.get(key);
        const ivs = tombs.get(ref);
        for (const c of e.chunks) {
          if (c.maxt < from || c.mint >= to) continue;
          const h = segs.header(c.segment, c.offset);
          if (!sp) byKey.set(key, (sp = { key, kind: kindOf(metricName(e.labels), {}) || SeriesKind.unknown, rows: [], tombs: [] }));
          let t0 = sp.tombs.length / 2;
          if (ivs) for (const [a, z] of ivs) if (z >= c.mint && a <= c.maxt) sp.tombs.push(a, z);
          const t1 = sp.tombs.length / 2;
          if (t1 === t0) t0 = t1;
          sp.rows.push(fileBase + c.segment, c.offset, h.bytes, c.mint, c.maxt, h.samples, h.encoding, t0, t1);
          this.stats.chunks++;
          if (h.encoding !== ENC_XOR) this.stats.histogramChunks++;
        }
        if (ivs && sp) this.stats.tombstonedSeries++;
      }
    } finally {
      idx.close();
      segs.close();
    }
  }

  /**
   * Fix the series blocks (deterministic for the same config and data). With a fixed batch size a
   * block holds about one batch (`targetRows`). With adaptive sizing a block holds up to
   * UNIT_SAMPLES samples (fewer when a shard would get fewer than 8 blocks): the adaptive target
   * starts small and climbs, and blocks fixed at the first target (20,000 rows) turned a
   * 2.88M-sample snapshot into 157 tasks of ~18k samples, each paying per-task planning, dispatch
   * and a request; a block larger than the current target is cut in time by `next`, so small
   * early targets still get small batches.
   */
  private plan(targetRows: number): void {
    const units: Unit[] = [];
    const covered = this.opts.covered;
    const shard = this.opts.shard;
    let target = Math.max(1, targetRows);
    if (this.opts.batching?.adaptive) {
      let all = 0;
      for (const g of this.groups) for (let i = 0; i < g.series.length; i++) all += g.samples[i]!;
      const perShard = Math.floor(all / (8 * Math.max(1, shard?.count ?? 1)));
      target = Math.max(target, Math.min(UNIT_SAMPLES, perShard));
    }
    for (const g of this.groups) {
      let i0 = 0;
      while (i0 < g.series.length) {
        let i1 = i0;
        let n = 0;
        while (i1 < g.series.length && (i1 === i0 || n + g.samples[i1]! <= target)) n += g.samples[i1++]!;
        const key = unitKey(g, i0, i1);
        const mine = !shard || shard.count <= 1 || fnv1a(key) % shard.count === shard.index;
        if (mine) {
          const pending = subtract(g.startMs, g.endMs, covered?.get(key));
          if (pending.length) units.push({ group: g, i0, i1, key, samples: n, pending });
        }
        i0 = i1;
      }
    }
    this.units = units;
    this.total = 0;
    for (const u of units) {
      const span = u.group.endMs - u.group.startMs;
      let ms = 0;
      for (const [a, b] of u.pending) ms += b - a;
      this.total += Math.round((u.samples * ms) / span);
    }
  }

  async next(targetRows: number): Promise<SourceChunk | null> {
    if (!this.units) this.plan(targetRows);
    const u = this.units!.find((x) => x.pending.length > 0);
    if (!u) return null;
    const iv = u.pending[0]!;
    const g = u.group;
    const rate = u.samples / (g.endMs - g.startMs);
    const target = Math.max(1, targetRows);
    let b = iv[1];
    const rest = (iv[1] - iv[0]) * rate;
    if (rest > target * 1.5) b = Math.min(iv[1], iv[0] + Math.max(1, Math.ceil(target / rate)));
    const a = iv[0];
    if (b >= iv[1]) u.pending.shift();
    else iv[0] = b;
    const fill = this.buildFill(u, a, b);
    const est = Math.round((b - a) * rate);
    this.planned += est;
    return {
      id: `${u.key}:${a}-${b}`,
      fill,
      estRows: est + fill.keys.length * (this.opts.haloSamples + 1) + 16,
      estRuns: Math.max(1, fill.keys.length),
      startMs: a,
      endMs: b,
      estSamples: est,
      coverageKey: u.key,
    };
  }

  private buildFill(u: Unit, a: number, b: number): TsdbFill {
    const { haloSamples, haloMs } = this.opts;
    const look = this.opts.lookaheadMs ?? 0;
    const files: string[] = [];
    const fileIdx = new Map<number, number>();
    const keys: string[] = [];
    const kinds: number[] = [];
    const seriesStart: number[] = [];
    const rows: number[] = [];
    const tombs: number[] = [];
    for (let i = u.i0; i < u.i1; i++) {
      const s = u.group.series[i]!;
      const r = s.rows;
      // own chunks: overlap [a, b + look); halo: walk back while short of haloSamples or within haloMs.
      // Rows are in mint order, so those with mint < b + look are a prefix [0, end); the first with
      // maxt >= a is where the running maximum of maxt first reaches a; the last is found walking
      // back from the end of the prefix (it stops at `first` at the latest). Before, every row of the
      // series was scanned for every task: rows × tasks, all of a long snapshot's chunks per task.
      const up = s.maxtUpTo ?? (s.maxtUpTo = runningMaxt(r));
      const end = firstAtLeast(r, C_MINT, b + look, r.length / CH);
      const first = lowerBound(up, a, end);
      if (first >= end) continue;
      let last = end - 1;
      while (r[last * CH + C_MAXT]! < a) last--;
      // rows are in mint order; a chunk before `first` can still overlap [a, …) only if it is long,
      // so include every earlier chunk whose maxt reaches a, then the halo walk
      let h = first;
      let got = 0;
      for (let c = first - 1; c >= 0; c--) {
        const maxt = r[c * CH + C_MAXT]!;
        if (maxt >= a - haloMs || got < haloSamples) {
          h = c;
          if (maxt < a) got += r[c * CH + C_SAMPLES]!;
        } else break;
      }
      keys.push(s.key);
      kinds.push(s.kind);
      seriesStart.push(rows.length / CH);
      for (let c = h; c <= last; c++) {
        const o = c * CH;
        let f = fileIdx.get(r[o + C_FILE]!);
        if (f === undefined) {
          f = files.length;
          files.push(this.files[r[o + C_FILE]!]!);
          fileIdx.set(r[o + C_FILE]!, f);
        }
        const t0 = tombs.length / 2;
        for (let t = r[o + C_TOMB0]!; t < r[o + C_TOMB1]!; t++) tombs.push(s.tombs[2 * t]!, s.tombs[2 * t + 1]!);
        rows.push(f, r[o + C_OFF]!, r[o + C_BYTES]!, r[o + C_MINT]!, r[o + C_MAXT]!, r[o + C_SAMPLES]!, r[o + C_ENC]!, t0, tombs.length / 2);
      }
    }
    seriesStart.push(rows.length / CH);
    return {
      kind: 'prom-tsdb',
      chunkId: `${u.key}:${a}-${b}`,
      files,
      keys,
      kinds,
      seriesStart,
      chunks: new Float64Array(rows),
      tombs: new Float64Array(tombs),
      startMs: a,
      endMs: b,
      haloAll: false,
      haloSamples,
      haloMs,
      lookaheadMs: look,
    };
  }

  progress(): SourceProgress {
    return { doneSamples: this.planned, totalSamples: this.units ? this.total : this.stats.samples };
  }

  async close(): Promise<void> {}
}


/**
 * seriesKey() of an index entry's label pairs without building a label object: the index stores a
 * series' labels sorted by name, so the pairs are joined in order (the same bytes as seriesKey, which
 * sorts the names with the same string order). Pairs out of order or repeated (not a valid index)
 * take seriesKey itself. Runs once per series and block while planning.
 */
export function pairsKey(labels: ReadonlyArray<readonly [string, string]>): string {
  let name = '';
  let body = '';
  let prev = '';
  let sorted = true;
  for (let i = 0; i < labels.length; i++) {
    const p = labels[i]!;
    const n = p[0];
    if (n === '__name__') {
      name = p[1];
      continue;
    }
    if (body.length > 0) {
      if (!(n > prev)) sorted = false;
      body += ',';
    }
    body += n + '=' + JSON.stringify(p[1]);
    prev = n;
  }
  if (sorted) return body.length > 0 ? name + '{' + body + '}' : name;
  const obj: Record<string, string> = {};
  for (const [n, v] of labels) if (n !== '__name__') obj[n] = v;
  return seriesKey(name, obj);
}

function metricName(labels: ReadonlyArray<readonly [string, string]>): string {
  for (let i = 0; i < labels.length; i++) if (labels[i]![0] === '__name__') return labels[i]![1];
  return '';
}

/** Running maximum of the maxt column of flat chunk rows. */
function runningMaxt(rows: readonly number[]): Float64Array {
  const n = rows.length / CH;
  const out = new Float64Array(n);
  let m = -Infinity;
  for (let c = 0; c < n; c++) {
    const t = rows[c * CH + C_MAXT]!;
    if (t > m) m = t;
    out[c] = m;
  }
  return out;
}

/** First row c < n whose column `col` is >= x (the column ascending), else n. */
function firstAtLeast(rows: readonly number[], col: number, x: number, n: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (rows[mid * CH + col]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index c < n with up[c] >= x (up non-decreasing), else n. */
function lowerBound(up: Float64Array, x: number, n: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (up[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Sort a series' chunk rows by (mint, block order) so the worker sees them in time order. */
function sortRows(s: SeriesPlan): void {
  const n = s.rows.length / CH;
  let sorted = true;
  for (let c = 1; c < n && sorted; c++) if (s.rows[c * CH + C_MINT]! < s.rows[(c - 1) * CH + C_MINT]!) sorted = false;
  if (sorted) return;
  const idx = Array.from({ length: n }, (_, i) => i);
  idx.sort((x, y) => s.rows[x * CH + C_MINT]! - s.rows[y * CH + C_MINT]! || x - y);
  const out: number[] = [];
  for (const i of idx) for (let k = 0; k < CH; k++) out.push(s.rows[i * CH + k]!);
  s.rows = out;
}

/** Coverage key of a series block: `tsdb:<groupStart>-<groupEnd>:<i0>-<i1>`. */
function unitKey(g: Group, i0: number, i1: number): string {
  return 'tsdb:' + g.startMs + '-' + g.endMs + ':' + i0 + '-' + i1;
}

function subtract(start: number, end: number, covered: readonly (readonly [number, number])[] | undefined): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let cur = start;
  for (const [a, b] of [...(covered ?? [])].sort((x, y) => x[0] - y[0])) {
    if (b <= cur) continue;
    if (a >= end) break;
    if (a > cur) out.push([cur, a]);
    cur = Math.max(cur, b);
  }
  if (cur < end) out.push([cur, end]);
  return out;
}

export function createTsdbSource(cfg: TsdbSourceConfig, deps: TsdbSourceDeps): TsdbSource {
  return new TsdbSource(cfg, deps);
}
