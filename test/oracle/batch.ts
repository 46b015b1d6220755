/**
 * Test helpers: build a batch straight from arrays (allocBatch + BatchBuilder + viewBatch +
 * BatchContext, exactly what a worker does), run a transform list over it, and split a series into
 * halo-carrying pieces to check batch invariance.
 */
import { BatchBuilder } from '../../src/batch/builder.js';
import { allocBatch, FLAG_HALO, RUN_STRIDE, viewBatch } from '../../src/batch/layout.js';
import { BatchContext } from '../../src/transform/context.js';
import type { Kernel } from '../../src/transform/kernel.js';
import { compileTransforms } from '../../src/transform/registry.js';
import type { TransformSpec } from '../../src/transform/kernel.js';
import { haloOf } from '../../src/transform/registry.js';
import { writeStaleNaN } from '../../src/transform/kernels/validate.js';
import { HaloCheck, haloMargin, type HaloAsk } from '../../src/transform/halo-check.js';

/**
 * Run a kernel chain exactly as the worker does (src/pool/worker.ts): a kernel that dropped rows is
 * followed by an in-place compaction before the next kernel, and with `ask` the halo check tracks
 * whether the surviving halo still covers the run's own rows. Returns the shortness, if any.
 */
export function runChain(ctx: BatchContext, kernels: readonly Kernel[], ask?: HaloAsk): { runs: number; rows: number } | undefined {
  const check = ask ? new HaloCheck(ctx, ask) : undefined;
  kernels.forEach((k, i) => {
    check?.advance(k);
    k.run(ctx);
    if (i + 1 < kernels.length && ctx.droppedSinceCompact > 0) {
      if (check) check.compact();
      else ctx.compactDropped();
    }
  });
  return check?.shortness();
}

export interface SeriesData {
  key: string;
  kind?: number;
  ts: number[];
  v: number[];
  /** Indices whose value is a Prometheus stale marker (written bit-exactly). */
  stale?: number[];
}

export interface RunPiece extends SeriesData {
  /** Leading rows that are halo. */
  halo: number;
  /** Trailing rows that are look-ahead halo (FLAG_HALO after the run's own rows). */
  tail?: number;
}

export function buildContext(pieces: readonly RunPiece[], opts: { state?: ReadonlyMap<string, unknown>; nowMs?: number } = {}): BatchContext {
  const rows = pieces.reduce((a, p) => a + p.ts.length, 0);
  const b = new BatchBuilder(allocBatch(1, 'test', Math.max(1, rows), Math.max(1, pieces.length)));
  const staleRows: number[] = [];
  let row = 0;
  for (const p of pieces) {
    const s = b.seriesIndexOf(p.key, p.kind ?? 0);
    b.beginRun(s);
    const stale = new Set(p.stale ?? []);
    const tail = p.tail ?? 0;
    for (let i = 0; i < p.ts.length; i++) {
      if (i < p.halo) b.pushHalo(p.ts[i]!, p.v[i]!);
      else b.push(p.ts[i]!, p.v[i]!);
      if (stale.has(i)) staleRows.push(row);
      row++;
    }
    if (tail > 0) {
      // look-ahead rows: same columns, flagged halo (the builder only knows leading halo)
      const d = b.desc;
      const flags = new Uint32Array(d.flags);
      for (let r = row - tail; r < row; r++) flags[r] = flags[r]! | FLAG_HALO;
    }
  }
  const desc = b.finish();
  const view = viewBatch(desc);
  for (const r of staleRows) writeStaleNaN(view.value, r);
  return new BatchContext(view, opts.state ?? new Map(), opts.nowMs ?? 4_000_000_000_000);
}

export function runSpecs(specs: readonly TransformSpec[], pieces: readonly RunPiece[], opts: { state?: ReadonlyMap<string, unknown>; nowMs?: number } = {}): { ctx: BatchContext; kernels: Kernel[] } {
  const kernels = compileTransforms(specs);
  const ctx = buildContext(pieces, opts);
  runChain(ctx, kernels);
  return { ctx, kernels };
}

/** Per-row outcome of one series' non-halo rows: value, flags, features. */
export interface RowsOut {
  ts: number[];
  value: number[];
  flags: number[];
  features: Record<string, number[]>;
}

export function collectRun(ctx: BatchContext, run: number, names: readonly string[]): RowsOut {
  const out0: RowsOut = { ts: [], value: [], flags: [], features: Object.fromEntries(names.map((n) => [n, [] as number[]])) };
  if (run >= ctx.runCount) return out0; // every row of the run was dropped (compacted away)
  const o = run * RUN_STRIDE;
  const start = ctx.runs[o + 1]!;
  const len = ctx.runs[o + 3]!;
  const out: RowsOut = { ts: [], value: [], flags: [], features: {} };
  for (const n of names) out.features[n] = [];
  for (let i = start; i < start + len; i++) {
    if (ctx.flags[i]! & FLAG_HALO) continue;
    out.ts.push(ctx.ts[i]!);
    out.value.push(ctx.value[i]!);
    out.flags.push(ctx.flags[i]!);
    for (const n of names) out.features[n]!.push(ctx.features.get(n)?.[i] ?? NaN);
  }
  return out;
}

/**
 * Run `specs` over one series in pieces cut at `cuts` (sorted row indices), each piece carrying
 * the halo the chain needs (and `lookahead` trailing rows), and concatenate the non-halo rows.
 * Also returns summed drop counts.
 */
export function runSplit(
  specs: readonly TransformSpec[],
  series: SeriesData,
  cuts: readonly number[],
  opts: { nowMs?: number; lookahead?: number; state?: ReadonlyMap<string, unknown> } = {},
): { rows: RowsOut; dropped: Record<string, number>; counters: Record<string, number>; refills: number } {
  const kernels = compileTransforms(specs);
  const halo = haloOf(kernels);
  const names = kernels.flatMap((k) => [...k.outputs]);
  const bounds = [0, ...cuts, series.ts.length];
  const rows: RowsOut = { ts: [], value: [], flags: [], features: Object.fromEntries(names.map((n) => [n, [] as number[]])) };
  const dropped: Record<string, number> = {};
  const counters: Record<string, number> = {};
  let refills = 0;
  for (let p = 0; p + 1 < bounds.length; p++) {
    const a = bounds[p]!;
    const b = bounds[p + 1]!;
    if (b <= a) continue;
    // halo as the sources provide it: every row within haloMs of the piece's first row, plus
    // haloSamples (+ the engine's margin) rows before those; widened like the dispatcher when the
    // halo check says rows dropped in the halo left too little context.
    let askSamples = halo.haloSamples + haloMargin(halo.haloSamples);
    for (let widen = 0; ; widen++) {
      let e = a;
      if (halo.haloMs > 0) {
        const edge = series.ts[a]! - halo.haloMs;
        while (e > 0 && series.ts[e - 1]! >= edge) e--;
      }
      const h = Math.max(0, e - askSamples);
      const tailEnd = Math.min(series.ts.length, b + (opts.lookahead ?? 0));
      const piece: RunPiece = {
        key: series.key,
        ...(series.kind !== undefined ? { kind: series.kind } : {}),
        ts: series.ts.slice(h, tailEnd),
        v: series.v.slice(h, tailEnd),
        stale: (series.stale ?? []).filter((i) => i >= h && i < tailEnd).map((i) => i - h),
        halo: a - h,
        tail: tailEnd - b,
      };
      const ctx = buildContext([piece], opts);
      const short = runChain(ctx, kernels, { samples: askSamples, ms: halo.haloMs, startMs: series.ts[a]! });
      if (short && widen < 6) {
        askSamples += Math.max(8, 2 * short.rows, 3 * askSamples); // as the dispatcher
        refills++;
        continue;
      }
      if (short) throw new Error(`runSplit: halo still short after ${widen} widenings at piece ${a}-${b}`);
      const got = collectRun(ctx, 0, names);
      rows.ts.push(...got.ts);
      rows.value.push(...got.value);
      rows.flags.push(...got.flags);
      for (const n of names) rows.features[n]!.push(...got.features[n]!);
      for (const [k, v] of Object.entries(ctx.dropped)) dropped[k] = (dropped[k] ?? 0) + v;
      for (const [k, v] of Object.entries(ctx.counters)) counters[k] = (counters[k] ?? 0) + v;
      break;
    }
  }
  return { rows, dropped, counters, refills };
}

/** Relative closeness with an absolute floor for values near zero; NaN matches NaN. */
export function close(a: number, b: number, rel = 1e-9, abs = 1e-12): boolean {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b);
  if (a === b) return true;
  return Math.abs(a - b) <= Math.max(abs, rel * Math.max(Math.abs(a), Math.abs(b)));
}

export function firstMismatch(got: readonly number[], want: readonly number[], rel = 1e-9, abs = 1e-12): string | null {
  if (got.length !== want.length) return `length ${got.length} != ${want.length}`;
  for (let i = 0; i < got.length; i++) {
    if (!close(got[i]!, want[i]!, rel, abs)) return `row ${i}: got ${got[i]} want ${want[i]}`;
  }
  return null;
}

/** Bit-identical comparison (Object.is, so NaN === NaN and -0 !== 0 are both honoured). */
export function firstDifference(got: readonly number[], want: readonly number[]): string | null {
  if (got.length !== want.length) return `length ${got.length} != ${want.length}`;
  for (let i = 0; i < got.length; i++) {
    if (!Object.is(got[i], want[i]) && !(Number.isNaN(got[i]) && Number.isNaN(want[i]))) return `row ${i}: got ${got[i]} want ${want[i]}`;
  }
  return null;
}
