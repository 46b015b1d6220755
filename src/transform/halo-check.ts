/**
 * Halo sufficiency under compaction (worker side; see docs/ARCHITECTURE.md#halo-context-as-data).
 *
 * Between kernels the worker removes dropped rows (BatchContext.compactDropped), so a row dropped in
 * a run's *halo* leaves fewer context rows for the kernels after it than the chain's halo (the sum
 * of its kernels' halos, registry.ts haloOf) assumed. Then the first rows of a batch could see other
 * windows than in one big batch, and output would depend on where a batch was cut.
 *
 * This tracks, per run, the *exact frontier*: the first row position whose input to the next kernel
 * is certainly what it would be in one big batch. Raw rows from the source are exact inputs (f = 0).
 * A kernel needing `s` samples and `m` ms of context produces exact output from row p on, where p is
 * the first row with at least `s` exact rows before it and whose time window (t − m, t] holds no row
 * from before the frontier (rows before the batch are older than `chunkStart − askMs`, the source's
 * contract). When the kernel dropped rows, the frontier becomes the number of surviving rows before
 * p. The run is exact iff, at every kernel, its frontier is at most its leading halo rows (else
 * that kernel's output on the run's own rows, or its verdict on them, may differ).
 *
 * A run whose raw halo holds fewer than the asked rows before `chunkStart − askMs` has no more
 * history at the source (series start, or what the source could see): it is exact as it is.
 *
 * Cost: O(halo rows) per run per kernel, on halo rows only; nothing per emitted sample.
 */
import type { Kernel } from './kernel.js';
import type { BatchContext } from './context.js';
import { FLAG_HALO, RUN_STRIDE } from '../batch/layout.js';

export interface HaloAsk {
  /** Raw samples asked before the time halo (the fill's haloSamples). */
  samples: number;
  /** Milliseconds of halo asked (the fill's haloMs). */
  ms: number;
  /** Start of the chunk's own rows (ms). */
  startMs: number;
}

export interface HaloShortness {
  /** Runs (series of this batch) whose leading rows may differ from one big batch. */
  runs: number;
  /** Largest shortfall in rows among those runs. */
  rows: number;
}

export class HaloCheck {
  /** Per run: exact frontier (row position within the run), or -1 when the run needs no tracking. */
  private frontier: Int32Array;
  private readonly bound: number;
  private shortRuns = 0;
  private shortRows = 0;

  constructor(
    private readonly ctx: BatchContext,
    ask: HaloAsk,
  ) {
    this.bound = ask.startMs - ask.ms;
    this.frontier = new Int32Array(Math.max(1, ctx.runCount));
    const { runs, ts } = ctx;
    for (let r = 0; r < ctx.runCount; r++) {
      const o = r * RUN_STRIDE;
      const start = runs[o + 1]!;
      const halo = runs[o + 2]!;
      let older = 0;
      for (let i = start; i < start + halo; i++) if (ts[i]! < this.bound) older++;
      // Fewer than asked: the source had nothing before these rows, so windows are as in one batch.
      this.frontier[r] = older < ask.samples || ask.samples + ask.ms === 0 ? -1 : 0;
    }
  }

  /**
   * Advance every tracked run's frontier over kernel k's context (call before k runs). A run whose
   * own rows fall before the new frontier is short: k's output on them (a value, a verdict) may
   * differ from one big batch. It is counted once and no longer tracked.
   */
  advance(k: Kernel): void {
    const s = k.haloSamples;
    const m = k.haloMs;
    if (s === 0 && m === 0) return;
    const { runs, ts, flags } = this.ctx;
    const fr = this.frontier;
    for (let r = 0; r < this.ctx.runCount; r++) {
      const f = fr[r]!;
      if (f < 0) continue;
      const o = r * RUN_STRIDE;
      const start = runs[o + 1]!;
      const halo = runs[o + 2]!;
      const len = runs[o + 3]!;
      let p = f + s;
      if (m > 0) {
        const prev = f === 0 ? this.bound : ts[start + f - 1]!;
        while (p < len && ts[start + p]! - m < prev) p++;
      }
      p = Math.min(p, len);
      fr[r] = p;
      if (p <= halo) continue;
      // Only the run's own rows matter; trailing look-ahead rows (FLAG_HALO) are never emitted.
      let own = false;
      for (let i = start + halo; i < start + p && !own; i++) own = (flags[i]! & FLAG_HALO) === 0;
      if (!own) continue;
      this.shortRuns++;
      this.shortRows = Math.max(this.shortRows, p - halo);
      fr[r] = -1;
    }
  }

  /** Compact the batch's dropped rows, mapping the frontiers to surviving rows. */
  compact(): void {
    this.ctx.compactDropped(this.frontier);
  }

  /** After the last kernel: how many runs' own rows may lack context (undefined: none). */
  shortness(): HaloShortness | undefined {
    return this.shortRuns > 0 ? { runs: this.shortRuns, rows: this.shortRows } : undefined;
  }
}

/** Extra halo samples asked beyond the chain's need, so a few dropped halo rows cost no re-run. */
export function haloMargin(haloSamples: number): number {
  return haloSamples > 0 ? 4 + Math.ceil(haloSamples / 8) : 0;
}
