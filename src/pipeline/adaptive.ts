/**
 * Adaptive batch sizing.
 *
 * Control law (documented in docs/ARCHITECTURE.md):
 *  - Memory first. Estimate bytes per row (input columns + features + output, measured per batch)
 *    and cap the size so that `maxInFlight` batches fit in half of the memory budget. If RSS goes
 *    above 85% of the budget, cut the size in half (multiplicative decrease), at most once per
 *    `maxInFlight` completions so one spike is not punished repeatedly.
 *  - Then latency. Each completed batch reports its worker latency. Above 1.25× the target:
 *    multiply by 0.7. Below 0.8× the target (and memory below 70% of budget): grow additively by
 *    max(minStep, 25% of the current size) — additive-increase in the small range, geometric in the
 *    large range so 1k → 1M takes tens of batches, not thousands. Between: hold.
 *  - Halo overhead. Halo rows (window context before a chunk) go through every kernel but are never
 *    emitted, and a series' halo is the same whatever the batch size. So the size never falls below
 *    the one at which the last batch's halo rows are at most 10% of its rows (`MAX_HALO_SHARE`):
 *    size >= haloRows / 0.1, i.e. own rows per series >= 9 × halo rows per series. This floor
 *    overrides the latency target (long windows make batches slower, not more of them) and `max`
 *    (which bounds latency-driven growth), but not the memory cap: where that binds, the halo
 *    share stays above 10%. The floor is about rows per series (a batch with fewer series meets it
 *    with fewer rows); the Prometheus planner applies it from the first chunk and may cut a query
 *    into series slices (src/extract/prometheus/slices.ts) so every worker still gets batches.
 *  - Clamp to [min, max]. A fixed size (`--batch-size N`) disables all of it.
 *  - The end of a known total (`planFor`, issue #18: the default config's 2-worker/1-worker ratio).
 *    A run of a few large batches leaves workers idle at its end: the last batch runs on one
 *    worker while the others wait. When the source knows how many samples are left, a batch takes
 *    at most 1/workers of them (guided self-scheduling: the last batches shrink geometrically, so
 *    all workers finish together), down to 1/4 of the current size; and at most 1/(4 × workers) of
 *    the total, so even a small run has several batches per worker; but never so small that halo rows
 *    take more than half a batch (`TAPER_HALO_SHARE`). Only `next()` is capped: the
 *    control law above keeps its own size, and a large run is unchanged until its last
 *    `workers × size` samples.
 * Larger batches amortize per-task overhead; the latency target keeps them short enough that the
 * workers stay evenly loaded and backpressure reacts quickly.
 */

export interface SizerOptions {
  /** Fixed size: adaptation off. */
  fixed?: number;
  initial?: number;
  min?: number;
  max?: number;
  /** Worker latency per batch to aim for. */
  latencyTargetMs?: number;
  /** Memory budget (RSS) in bytes. */
  memoryBudgetBytes?: number;
  /** Batches that may be in flight at once (for the memory cap). */
  maxInFlight?: number;
}

/** Batches per worker a run with a known total gets at least (`planFor`). */
export const MIN_BATCHES_PER_WORKER = 4;
/** The end-of-run taper cuts a batch to no less than this share of the current size (`planFor`). */
const TAPER_FLOOR_SHARE = 1 / 4;
/** Largest share of a tapered batch's rows its halo rows may take (`planFor`). */
const TAPER_HALO_SHARE = 0.5;

/** What `planFor` reads: samples the source has not handed out yet (null: unknown or open-ended). */
export type RemainingSamples = () => number | null;

/** Largest share of a batch's rows the adaptive size lets halo rows take (where memory and max allow). */
export const MAX_HALO_SHARE = 0.1;

export interface SizerObservation {
  rows: number;
  /** Leading halo (context) rows among them, when known. */
  haloRows?: number;
  latencyMs: number;
  /** Bytes this batch held (buffers in + out). */
  bytes: number;
  rssBytes: number;
}

export class BatchSizer {
  readonly adaptive: boolean;
  private size: number;
  private readonly min: number;
  private readonly max: number;
  private readonly target: number;
  private readonly budget: number;
  private readonly maxInFlight: number;
  private bytesPerRow = 400;
  private cooldown = 0;
  /** RSS when the size was last cut for memory: cut again only if RSS keeps growing past it. */
  private rssAtCut = 0;
  /** Chosen size per planned batch (one number per batch, for the summary). */
  private readonly chosen: number[] = [];
  /** (elapsed ms, size) whenever the size changes, for metrics and the summary. */
  readonly history: Array<[number, number]> = [];
  private readonly t0 = performance.now();
  private remaining: RemainingSamples | undefined;
  private workers = 1;
  /** At most 1/(MIN_BATCHES_PER_WORKER × workers) of the total (Infinity: no total known). */
  private totalCap = Infinity;
  /** Halo rows of the last observed batch (the end-of-run taper keeps them ≤ TAPER_HALO_SHARE). */
  private lastHaloRows = 0;

  constructor(opts: SizerOptions = {}) {
    this.adaptive = opts.fixed === undefined;
    this.min = Math.max(1, opts.min ?? 1_000);
    this.max = Math.max(this.min, opts.max ?? 1_000_000);
    this.target = opts.latencyTargetMs ?? 200;
    this.budget = opts.memoryBudgetBytes ?? 1024 * 1024 * 1024;
    this.maxInFlight = Math.max(1, opts.maxInFlight ?? 4);
    this.size = opts.fixed ?? clamp(opts.initial ?? 20_000, this.min, this.max);
    this.history.push([0, this.size]);
  }

  /**
   * Size the end of a run with a known total for `workers` workers (see the head comment). Call
   * after the source opened; `remaining` is read at every `next()`. No effect on a fixed size.
   */
  planFor(remaining: RemainingSamples, workers: number): void {
    if (!this.adaptive) return;
    this.remaining = remaining;
    this.workers = Math.max(1, workers);
    const total = remaining();
    this.totalCap = total !== null && total > 0 ? Math.max(this.min, Math.ceil(total / (MIN_BATCHES_PER_WORKER * this.workers))) : Infinity;
  }

  /** Size for the next batch. */
  next(): number {
    const n = this.remaining ? this.tapered() : this.size;
    this.chosen.push(n);
    return n;
  }

  /** The current size, capped by the total and by the remaining samples per worker (`planFor`). */
  private tapered(): number {
    let n = Math.min(this.size, this.totalCap);
    const left = this.remaining!();
    if (left !== null && left > 0) n = Math.min(n, Math.max(Math.ceil(left / this.workers), Math.ceil(this.size * TAPER_FLOOR_SHARE), this.min));
    // Halo rows stay at most half of a tapered batch (TAPER_HALO_SHARE; the control law keeps
    // MAX_HALO_SHARE): an idle worker at the end costs more than halo rows, but a long-window run
    // must not turn into batches of mostly halo. Only the first batch, before any observation, is
    // capped without it.
    return Math.max(n, Math.min(this.size, Math.ceil(this.lastHaloRows / TAPER_HALO_SHARE)));
  }

  get current(): number {
    return this.size;
  }

  observe(o: SizerObservation): void {
    if (!this.adaptive || o.rows <= 0) return;
    // Smooth the per-row memory estimate (EWMA, alpha 0.3).
    const bpr = o.bytes / o.rows;
    this.bytesPerRow = this.bytesPerRow * 0.7 + bpr * 0.3;
    // In-flight batches (their buffers are recycled, sized up to 2× by power-of-two classes, plus
    // one idle set) fit in half the budget.
    const memCap = Math.max(this.min, Math.floor((0.5 * this.budget) / (this.bytesPerRow * (this.maxInFlight + 1) * 2)));
    let next = this.size;
    const pressure = o.rssBytes / this.budget;
    if (this.cooldown > 0) this.cooldown--;
    // RSS rarely shrinks once pages are touched, so a high RSS alone is no reason to keep cutting:
    // cut when above 85% and still growing (5%) since the last cut — otherwise hold.
    if (pressure > 0.85 && this.cooldown === 0 && o.rssBytes > this.rssAtCut * 1.05) {
      next = Math.floor(next * 0.5);
      this.cooldown = this.maxInFlight;
      this.rssAtCut = o.rssBytes;
    } else if (pressure > 0.85) {
      // hold
    } else {
      // Latency per row scaled to the current size: compare what a batch of `size` rows would take.
      const projected = (o.latencyMs / o.rows) * this.size;
      if (projected > 1.25 * this.target) next = Math.floor(this.size * 0.7);
      else if (projected < 0.8 * this.target && pressure < 0.7) next = this.size + Math.max(1_000, Math.floor(this.size * 0.25));
    }
    // The halo floor may exceed `max` (which bounds latency-driven growth), never the memory cap.
    this.lastHaloRows = o.haloRows ?? 0;
    next = Math.min(Math.max(clamp(next, this.min, this.max), haloFloor(o)), Math.max(this.min, memCap));
    if (next !== this.size) {
      this.size = next;
      this.history.push([Math.round(performance.now() - this.t0), next]);
      if (this.history.length > 10_000) this.history.splice(0, this.history.length - 10_000);
    }
  }

  /** min / median / max of the sizes chosen for batches. */
  stats(): { min: number; median: number; max: number } {
    if (this.chosen.length === 0) return { min: 0, median: 0, max: 0 };
    const s = Float64Array.from(this.chosen).sort();
    const m = s.length >> 1;
    return { min: s[0]!, median: s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2, max: s[s.length - 1]! };
  }
}

/**
 * Smallest size at which the observed batch's halo rows would be MAX_HALO_SHARE of its rows (the
 * series, hence the halo rows, stay; own rows grow with the size). 0 when there is no halo.
 */
function haloFloor(o: SizerObservation): number {
  const halo = o.haloRows ?? 0;
  return halo > 0 ? Math.ceil(halo / MAX_HALO_SHARE) : 0;
}

function clamp(x: number, lo: number, hi: number): number {
  return x < lo ? lo : x > hi ? hi : x;
}
