import { allocBatch, FLAG_HALO, RUN_STRIDE, type BatchDescriptor } from './layout.js';

/**
 * Fills a batch run by run, sample by sample, straight into its SharedArrayBuffer columns.
 * Used inside workers by sources (synthetic generator, Prometheus decoders). No object per sample:
 * `push` writes three typed-array slots. If the main thread's capacity estimate was short, the
 * builder grows into a new, larger SAB (rare; the new buffers are returned with the result).
 */
export class BatchBuilder {
  desc: BatchDescriptor;
  private series!: Uint32Array;
  private ts!: Float64Array;
  private value!: Float64Array;
  private flags!: Uint32Array;
  private runs!: Uint32Array;
  private n = 0;
  private runIdx = -1;
  private runStart = 0;
  private runHalo = 0;
  private curSeries = 0;
  private readonly seriesIndex = new Map<string, number>();
  /**
   * Samples the source delivered for this chunk but the filler could not place (e.g. a timestamp
   * not after the previous one of the same series), by reason. The worker counts them as input and
   * as dropped, so they are accounted for like any other drop.
   */
  readonly sourceDropped: Record<string, number> = Object.create(null) as Record<string, number>;
  /** Reason → series keys (at most 8) of source drops whose series the filler knew. */
  readonly sourceDroppedSeries: Record<string, string[]> = Object.create(null) as Record<string, string[]>;

  constructor(desc: BatchDescriptor) {
    this.desc = desc;
    desc.length = 0;
    desc.runCount = 0;
    desc.seriesKeys = [];
    desc.seriesKinds = [];
    this.bind();
  }

  private bind(): void {
    const d = this.desc;
    this.series = new Uint32Array(d.series);
    this.ts = new Float64Array(d.ts);
    this.value = new Float64Array(d.value);
    this.flags = new Uint32Array(d.flags);
    this.runs = new Uint32Array(d.runs);
  }

  /** Intern a series in this batch's table; returns its index. */
  seriesIndexOf(key: string, kind = 0): number {
    let idx = this.seriesIndex.get(key);
    if (idx === undefined) {
      idx = this.desc.seriesKeys.length;
      this.desc.seriesKeys.push(key);
      this.desc.seriesKinds.push(kind);
      this.seriesIndex.set(key, idx);
    }
    return idx;
  }

  /** Start a run for a series (already interned). Ends the previous run. */
  beginRun(seriesIdx: number): void {
    this.endRun();
    if (this.runIdx + 1 >= this.desc.runCapacity) this.growRuns();
    this.runIdx++;
    this.runStart = this.n;
    this.runHalo = 0;
    this.curSeries = seriesIdx;
  }

  /** Append a halo (context) sample to the current run. Must precede its regular samples. */
  pushHalo(t: number, v: number): void {
    if (this.n >= this.desc.capacity) this.grow(this.n + 1);
    const i = this.n++;
    this.series[i] = this.curSeries;
    this.ts[i] = t;
    this.value[i] = v;
    this.flags[i] = FLAG_HALO;
    this.runHalo++;
  }

  /**
   * Append a trailing context (look-ahead) sample after the run's own samples: flagged FLAG_HALO,
   * part of the run's rows but not of its leading `halo` count. Never counted or emitted.
   */
  pushTrail(t: number, v: number): void {
    if (this.n >= this.desc.capacity) this.grow(this.n + 1);
    const i = this.n++;
    this.series[i] = this.curSeries;
    this.ts[i] = t;
    this.value[i] = v;
    this.flags[i] = FLAG_HALO;
  }

  push(t: number, v: number): void {
    if (this.n >= this.desc.capacity) this.grow(this.n + 1);
    const i = this.n++;
    this.series[i] = this.curSeries;
    this.ts[i] = t;
    this.value[i] = v;
    this.flags[i] = 0;
  }

  /**
   * Bulk append of regular rows ts[from, to) / vs[from, to) to the current run: two typed-array
   * copies and two fills instead of a call per sample (the tsdb reader's decoded chunk columns).
   * The caller has already applied the window / duplicate rules to that range.
   */
  pushBulk(ts: Float64Array, vs: Float64Array, from: number, to: number): void {
    const m = to - from;
    if (m <= 0) return;
    if (this.n + m > this.desc.capacity) this.grow(this.n + m);
    const i = this.n;
    this.ts.set(ts.subarray(from, to), i);
    this.value.set(vs.subarray(from, to), i);
    this.series.fill(this.curSeries, i, i + m);
    this.flags.fill(0, i, i + m);
    this.n = i + m;
  }

  /** Count a sample of this chunk that the source delivered but cannot be placed in the batch. */
  dropSource(reason: string, n = 1, seriesKey?: string): void {
    this.sourceDropped[reason] = (this.sourceDropped[reason] ?? 0) + n;
    if (seriesKey === undefined) return;
    // Named for the once-per-series warn log (a few per reason per batch; per series, never per sample).
    const list = (this.sourceDroppedSeries[reason] ??= []);
    if (list.length < 8 && list[list.length - 1] !== seriesKey && !list.includes(seriesKey)) list.push(seriesKey);
  }

  /** Make room for `extra` more rows at once (lets hot loops skip per-push capacity checks). */
  reserve(extra: number): void {
    if (this.n + extra > this.desc.capacity) this.grow(this.n + extra);
  }

  get length(): number {
    return this.n;
  }

  /** Rows in the current run so far (halo included). */
  get runLength(): number {
    return this.n - this.runStart;
  }

  /** The current run's rows so far (halo included) as views: [start, end) of `ts` / `value`. */
  currentRun(): { ts: Float64Array; value: Float64Array; start: number; end: number } {
    return { ts: this.ts, value: this.value, start: this.runStart, end: this.n };
  }

  /** Drop the current run's rows (e.g. a series that turned out to have only halo rows). */
  discardRun(): void {
    if (this.runIdx < 0) return;
    this.n = this.runStart;
    this.runHalo = 0;
  }

  private endRun(): void {
    if (this.runIdx < 0) return;
    const len = this.n - this.runStart;
    const o = this.runIdx * RUN_STRIDE;
    if (len === 0) {
      // empty run: reuse the slot
      this.runIdx--;
      return;
    }
    this.runs[o] = this.curSeries;
    this.runs[o + 1] = this.runStart;
    this.runs[o + 2] = this.runHalo;
    this.runs[o + 3] = len;
  }

  /** Close the last run and publish lengths into the descriptor. */
  finish(): BatchDescriptor {
    this.endRun();
    this.desc.length = this.n;
    this.desc.runCount = this.runIdx + 1;
    return this.desc;
  }

  private grow(min: number): void {
    const old = this.desc;
    const cap = Math.max(min, Math.ceil(old.capacity * 1.5) + 16);
    const next = allocBatch(old.id, old.chunkId, cap, old.runCapacity);
    new Uint32Array(next.series).set(this.series.subarray(0, this.n));
    new Float64Array(next.ts).set(this.ts.subarray(0, this.n));
    new Float64Array(next.value).set(this.value.subarray(0, this.n));
    new Uint32Array(next.flags).set(this.flags.subarray(0, this.n));
    next.runs = old.runs;
    next.seriesKeys = old.seriesKeys;
    next.seriesKinds = old.seriesKinds;
    this.desc = next;
    this.bind();
  }

  private growRuns(): void {
    const old = this.desc;
    const rcap = Math.ceil(old.runCapacity * 1.5) + 8;
    const runs = new SharedArrayBuffer(rcap * RUN_STRIDE * 4);
    new Uint32Array(runs).set(this.runs);
    old.runs = runs;
    old.runCapacity = rcap;
    this.runs = new Uint32Array(runs);
  }
}
