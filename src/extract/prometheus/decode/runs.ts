/**
 * RunWriter: the one place decoders hand samples to, per series. It applies the chunk's window:
 *   t >= endMs            → belongs to the next chunk, skipped (not a drop: that chunk emits it)
 *   startMs <= t < endMs  → regular row
 *   t < startMs           → halo candidate; only the last `haloSamples` (or those within `haloMs`)
 *                           are kept, or all of them in range mode (`haloAll`, query already trimmed)
 * and drops exact-duplicate/backward timestamps (overlapping TSDB chunks in remote read).
 * A series run is opened in the builder only when it gets a regular row, so series with nothing
 * in the window leave no trace in the batch. Halo candidates wait in per-worker scratch arrays.
 *
 * Halo hand-off (tail.ts): with `tailIn` the chunk was fetched for its own range only and each
 * series' halo is the predecessor's published tail for it (rows before startMs in the body are
 * ignored: the tail holds them). With `tailOut` the writer collects each series' tail for the next
 * chunk (rows before endMs, by the same rule a re-fetch would apply) and `finish()` publishes it.
 */
import type { BatchBuilder } from '../../../batch/builder.js';
import { SeriesKind, type SeriesKindName } from '../../../batch/layout.js';
import type { TailView, TailWriter } from '../tail.js';

export interface WindowSpec {
  startMs: number;
  endMs: number;
  /** Keep every row before startMs as halo (range mode: the query was extended by exactly the halo). */
  haloAll: boolean;
  haloSamples: number;
  haloMs: number;
  /** Rows in [endMs, endMs + lookaheadMs) become trailing context (BatchBuilder.pushTrail). */
  lookaheadMs?: number;
  /**
   * Start of what was asked for: earlier rows are ignored (remote read returns whole XOR chunks,
   * whose first samples may precede it), so a halo depends on the data, not on chunk boundaries.
   */
  fromMs?: number;
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
  private readonly fromMs: number;
  /** This series' rows in `tailIn`, when it has any. */
  private tailRows: [number, number] | undefined;

  constructor(
    private readonly b: BatchBuilder,
    private readonly w: WindowSpec,
    private readonly tailIn?: TailView,
    private readonly tailOut?: TailWriter,
  ) {
    this.haloFrom = w.startMs - w.haloMs;
    // With a tail, rows before the chunk come from it only.
    this.fromMs = tailIn ? w.startMs : (w.fromMs ?? -Infinity);
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
    this.tailRows = this.tailIn?.rows.get(key);
  }

  sample(t: number, v: number): void {
    if (t < this.fromMs) return;
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

  /**
   * Bulk form of `sample` over decoded columns ts[0, n) / vs[0, n) (one XOR chunk): same rules,
   * same result. Leading rows that are halo candidates, before fromMs or not after the previous
   * sample go through `sample`; then the longest strictly increasing stretch inside [startMs,
   * endMs) is checked with one index loop and copied into the batch at once (no call per sample);
   * whatever follows (look-ahead, rows of the next window, a backward step) goes through `sample`.
   * `increasing`: the caller knows ts[0, n) strictly increases (the WebAssembly decoder tracks
   * it), so the stretch ends at the first row >= endMs, found by binary search.
   */
  sampleRun(ts: Float64Array, vs: Float64Array, n: number, increasing = false): void {
    const w = this.w;
    const lo = Math.max(w.startMs, this.fromMs);
    let i = 0;
    while (i < n) {
      const t = ts[i]!;
      if (t >= lo && t > this.lastT) break;
      this.sample(t, vs[i]!);
      i++;
    }
    if (i >= n) return;
    const end = w.endMs;
    let j = i;
    let prev = this.lastT;
    if (increasing) {
      // ts[i] > lastT and every later row is above its predecessor: only endMs can stop the stretch
      let hi = n;
      while (j < hi) {
        const mid = (j + hi) >>> 1;
        if (ts[mid]! < end) j = mid + 1;
        else hi = mid;
      }
      if (j > i) prev = ts[j - 1]!;
    } else {
      while (j < n) {
        const t = ts[j]!;
        if (t >= end || t <= prev) break;
        prev = t;
        j++;
      }
    }
    if (j > i) {
      if (!this.open) this.openRun();
      this.b.pushBulk(ts, vs, i, j);
      this.rows += j - i;
      this.lastT = prev;
    }
    for (; j < n; j++) this.sample(ts[j]!, vs[j]!);
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
    const tr = this.tailRows;
    if (tr && tr[1] > tr[0]) {
      const { ts, value } = this.tailIn!;
      b.reserve(tr[1] - tr[0]);
      for (let i = tr[0]; i < tr[1]; i++) b.pushHalo(ts[i]!, value[i]!);
      this.haloRows += tr[1] - tr[0];
    }
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
    if (this.tailOut && this.key !== undefined) this.keepTail(this.key);
    this.key = undefined;
    this.open = false;
    this.head = this.tail = 0;
  }

  /** The series' rows before endMs, as the next chunk's halo: from its run, or its halo candidates. */
  private keepTail(key: string): void {
    const out = this.tailOut!;
    if (this.open) {
      const r = this.b.currentRun();
      let hi = r.end;
      // trailing look-ahead rows are the next chunk's own
      while (hi > r.start && r.ts[hi - 1]! >= this.w.endMs) hi--;
      out.add(key, r.ts, r.value, r.start, hi);
    } else if (this.tail > this.head) {
      out.add(key, haloTs, haloV, this.head, this.tail);
    } else if (this.tailRows) {
      out.add(key, this.tailIn!.ts, this.tailIn!.value, this.tailRows[0], this.tailRows[1]);
    }
  }

  /**
   * End the fill: series of `tailIn` this chunk had no rows for carry their tail on (a re-fetch
   * would still reach them), then the tail is published for the next chunk.
   */
  finish(): void {
    this.end();
    const out = this.tailOut;
    if (!out) return;
    if (this.tailIn) for (const [key, [a, z]] of this.tailIn.rows) if (!out.has(key)) out.add(key, this.tailIn.ts, this.tailIn.value, a, z);
    out.publish();
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
