/**
 * RunWriter: the one place decoders hand samples to, per series. It applies the chunk's window:
 *   t >= endMs            → belongs to the next chunk, skipped (not a drop: that chunk emits it)
 *   startMs <= t < endMs  → regular row
 *   t < startMs           → halo candidate; only the last `haloSamples` (or those within `haloMs`)
 *                           are kept, or all of them in range mode (`haloAll`, query already trimmed)
 * and drops exact-duplicate/backward timestamps (overlapping TSDB chunks in remote read).
 * A series run is opened in the builder only when it gets a regular row, so series with nothing
 * in the window leave no trace in the batch. Halo candidates wait in per-worker scratch arrays.
 */
import type { BatchBuilder } from '../../../batch/builder.js';
import { SeriesKind, type SeriesKindName } from '../../../batch/layout.js';

export interface WindowSpec {
  startMs: number;
  endMs: number;
  /** Keep every row before startMs as halo (range mode: the query was extended by exactly the halo). */
  haloAll: boolean;
  haloSamples: number;
  haloMs: number;
  /** Rows in [endMs, endMs + lookaheadMs) become trailing context (BatchBuilder.pushTrail). */
  lookaheadMs?: number;
}

let haloTs = new Float64Array(1024);
let haloV = new Float64Array(1024);

export class RunWriter {
  private key: string | undefined;
  private kind = 0;
  private open = false;
  private lastT = -Infinity;
  private head = 0;
  private tail = 0;
  private readonly haloFrom: number;
  /** Non-halo rows written. */
  rows = 0;
  haloRows = 0;
  /** Samples skipped because their timestamp did not increase (overlap between chunks). */
  duplicates = 0;
  series = 0;

  /** Kept halo rows older than haloFrom. */
  private before = 0;

  constructor(
    private readonly b: BatchBuilder,
    private readonly w: WindowSpec,
  ) {
    this.haloFrom = w.startMs - w.haloMs;
  }

  /** Start (or, for the same key, continue) a series. */
  begin(key: string, kind: number): void {
    if (key === this.key) return;
    this.end();
    this.key = key;
    this.kind = kind;
    this.open = false;
    this.lastT = -Infinity;
    this.head = 0;
    this.tail = 0;
    this.before = 0;
  }

  sample(t: number, v: number): void {
    if (t <= this.lastT) {
      this.duplicates++;
      // A sample of this chunk's own window that cannot follow the previous one: account for it.
      if (t >= this.w.startMs && t < this.w.endMs) this.b.dropSource(t === this.lastT ? 'duplicate_timestamp' : 'out_of_order', 1, this.key);
      return;
    }
    this.lastT = t;
    const w = this.w;
    if (t >= w.startMs) {
      if (t >= w.endMs) {
        // Look-ahead context for runs that have rows of their own; later rows belong to the next chunk.
        if (this.open && t < w.endMs + (w.lookaheadMs ?? 0)) this.b.pushTrail(t, v);
        return;
      }
      if (!this.open) this.openRun();
      this.b.push(t, v);
      this.rows++;
      return;
    }
    // halo candidate
    if (this.tail >= haloTs.length) this.growHalo();
    haloTs[this.tail] = t;
    haloV[this.tail] = v;
    this.tail++;
    if (!w.haloAll && t < this.haloFrom) {
      // Kernel halos add up along the chain: keep every row within haloMs of the start, plus
      // haloSamples more before those (rows arrive in time order, so the older ones are in front).
      this.before++;
      while (this.before > w.haloSamples) {
        this.head++;
        this.before--;
      }
    }
  }

  private growHalo(): void {
    if (this.head > 0) {
      // compact first: usually enough
      haloTs.copyWithin(0, this.head, this.tail);
      haloV.copyWithin(0, this.head, this.tail);
      this.tail -= this.head;
      this.head = 0;
      if (this.tail < haloTs.length) return;
    }
    const ts = new Float64Array(haloTs.length * 2);
    const v = new Float64Array(haloV.length * 2);
    ts.set(haloTs);
    v.set(haloV);
    haloTs = ts;
    haloV = v;
  }

  private openRun(): void {
    const b = this.b;
    b.beginRun(b.seriesIndexOf(this.key!, this.kind));
    this.open = true;
    this.series++;
    const n = this.tail - this.head;
    if (n > 0) {
      b.reserve(n);
      for (let i = this.head; i < this.tail; i++) b.pushHalo(haloTs[i]!, haloV[i]!);
      this.haloRows += n;
    }
    this.head = this.tail = 0;
  }

  /** Finish the current series (nothing to flush: halo is written when the first regular row arrives). */
  end(): void {
    this.key = undefined;
    this.open = false;
    this.head = this.tail = 0;
  }
}

/**
 * Metric kind for a series name from /api/v1/metadata types. Histogram and summary series carry
 * suffixes (_bucket, _count, _sum) that metadata does not list: those are cumulative, so they map
 * to "counter" (the kind counter-aware features look for), as does a counter's `_total` name when
 * metadata was keyed without the suffix. Without any metadata, `_total` and `_bucket` names are
 * counters by naming convention; everything else stays "unknown".
 */
export function kindOf(name: string, kinds: Readonly<Record<string, SeriesKindName>>): number {
  const k = kinds[name];
  if (k !== undefined) return SeriesKind[k] ?? 0;
  for (const suffix of ['_bucket', '_count', '_sum', '_total', '_created']) {
    if (name.endsWith(suffix)) {
      const base = kinds[name.slice(0, -suffix.length)];
      if (base === 'histogram' || base === 'summary' || base === 'counter') return suffix === '_created' ? SeriesKind.gauge : SeriesKind.counter;
    }
  }
  // No metadata (historical data, targets gone): follow the naming conventions
  // (OpenMetrics/Prometheus best practice) for the unambiguous cases only.
  if (name.endsWith('_total') || name.endsWith('_bucket')) return SeriesKind.counter;
  return SeriesKind.unknown;
}
