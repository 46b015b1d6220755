/**
 * The synthetic source: deterministic, seeded, Prometheus-shaped series — the embedded default and
 * the benchmark workload. Every sample is a pure function of (seed, series, index), so any worker
 * can generate any chunk (with its halo) in any order and the data never depends on batch size.
 *
 * Series come in groups that share labels (a "service" on an "instance"), so cross-series rules
 * (errors <= requests, p50 <= p95 <= p99) have partners in the same batch:
 *   application_requests_total      counter, with resets
 *   application_errors_total        counter, <= requests
 *   application_response_time_seconds{quantile="0.5"|"0.95"|"0.99"}  gauges, ordered
 *   node_cpu_usage_percent          gauge 0–100
 *   node_memory_usage_percent       gauge 0–100
 */
import { z } from 'zod';
import type { Source, SourceChunk, SourceOpenOptions, SourceProgress } from './source.js';
import { GROUP_SIZE, type SyntheticFill } from './synthetic-data.js';
import { parseDuration } from '../util/duration.js';
import { defineSource } from '../config/component.js';

export { GROUP_SIZE, fillSynthetic, rand01, syntheticSeries, syntheticValue, type SyntheticFill } from './synthetic-data.js';

export const syntheticSourceSchema = z
  .object({
    kind: z.literal('synthetic'),
    /** Number of series. */
    series: z.number().int().min(0).max(10_000_000).default(100),
    /** Samples per series (alternative to `end`). */
    samplesPerSeries: z.number().int().min(0).optional(),
    /** First sample's time: RFC 3339 or epoch ms. Fixed by default so output is reproducible. */
    start: z.union([z.string(), z.number()]).default('2024-01-01T00:00:00Z'),
    /** End of the range (exclusive), RFC 3339 or epoch ms; used when samplesPerSeries is absent. */
    end: z.union([z.string(), z.number()]).optional(),
    /** Step between samples, ms. */
    stepMs: z.number().int().min(1).default(15_000),
    seed: z.number().int().default(1),
    /** Probability that a sample is NaN. */
    nanRate: z.number().min(0).max(1).default(0),
    /** Probability that a scrape is missing (no row: a gap in the series). */
    gapRate: z.number().min(0).max(1).default(0),
    /** Probability that a gauge sample is an outlier (x10). */
    outlierRate: z.number().min(0).max(1).default(0),
    /** Probability of +Inf (to exercise validation). */
    infRate: z.number().min(0).max(1).default(0),
    /** Mean samples between counter resets. */
    counterResetEvery: z.number().int().min(2).default(5000),
  })
  .strict();

export type SyntheticSourceConfig = z.infer<typeof syntheticSourceSchema>;

export function parseTime(v: string | number, now = Date.now()): number {
  if (typeof v === 'number') return v;
  const rel = /^now(?:\s*-\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w))?$/.exec(v.trim());
  if (rel) {
    if (!rel[1]) return now;
    return now - parseDuration(rel[1] + rel[2]!);
  }
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new Error(`invalid time "${v}" (use RFC 3339, epoch ms, or now-<n><unit>)`);
  return t;
}

function coverageKey(s0: number, s1: number): string {
  return `series:${s0}-${s1}`;
}

// ---- main-thread planner -----------------------------------------------------------------------

/**
 * Plans chunks over a (series × time) grid. Series are cut into fixed blocks (aligned to label
 * groups, chosen once at open from the first target) and each block has its own time cursor;
 * `next(targetRows)` advances the block that is furthest behind by about targetRows rows, so the
 * adaptive batch size only changes chunk durations. Chunk ids name their exact ranges.
 */
export class SyntheticSource implements Source {
  readonly kind = 'synthetic';
  private readonly cfg: SyntheticSourceConfig;
  private startMs = 0;
  private samples = 0;
  private halo = { haloSamples: 0, haloMs: 0, lookaheadMs: 0 };
  private blocks: { s0: number; s1: number; k: number; pending: Array<[number, number]> }[] = [];
  private covered: SourceOpenOptions['covered'];
  private blockSize = 0;
  private planned = 0;
  private shard: { index: number; count: number } | undefined;

  constructor(cfg: SyntheticSourceConfig) {
    this.cfg = cfg;
  }

  async open(opts: SourceOpenOptions): Promise<void> {
    const c = this.cfg;
    this.startMs = parseTime(c.start);
    if (c.samplesPerSeries !== undefined) this.samples = c.samplesPerSeries;
    else if (c.end !== undefined) this.samples = Math.max(0, Math.ceil((parseTime(c.end) - this.startMs) / c.stepMs));
    else this.samples = 1000;
    this.halo = { haloSamples: opts.haloSamples, haloMs: opts.haloMs, lookaheadMs: opts.lookaheadMs ?? 0 };
    this.shard = opts.shard;
    this.covered = opts.covered;
  }

  private plan(targetRows: number): void {
    const S = this.cfg.series;
    // Blocks hold whole label groups; aim for chunks of >= 64 samples per series so halo stays small.
    const perSeries = Math.max(64, this.halo.haloSamples * 2);
    let bs = Math.max(GROUP_SIZE, Math.floor(targetRows / perSeries / GROUP_SIZE) * GROUP_SIZE);
    bs = Math.min(bs, Math.max(GROUP_SIZE, Math.ceil(S / GROUP_SIZE) * GROUP_SIZE), 65_536);
    // Resuming: keep the blocks the checkpoint's coverage keys name, whatever this run's batch size,
    // or the covered intervals would not be found and their chunks would be written a second time.
    let coveredBs = 0;
    for (const key of this.covered?.keys() ?? []) {
      const m = /^series:(\d+)-(\d+)$/.exec(key);
      if (m) coveredBs = Math.max(coveredBs, Number(m[2]) - Number(m[1]));
    }
    if (coveredBs > 0) bs = coveredBs;
    this.blockSize = bs;
    for (let s0 = 0, b = 0; s0 < S; s0 += bs, b++) {
      if (this.shard && b % this.shard.count !== this.shard.index) continue;
      const s1 = Math.min(S, s0 + bs);
      // Index ranges still to do: everything, minus what a checkpoint says is covered.
      const cov = this.covered?.get(coverageKey(s0, s1));
      const pending: Array<[number, number]> = [];
      let k = 0;
      for (const [a, b] of cov ?? []) {
        const ka = Math.max(0, Math.ceil((a - this.startMs) / this.cfg.stepMs));
        const kb = Math.min(this.samples, Math.ceil((b - this.startMs) / this.cfg.stepMs));
        if (ka > k) pending.push([k, Math.min(ka, this.samples)]);
        k = Math.max(k, kb);
      }
      if (k < this.samples) pending.push([k, this.samples]);
      const first = pending.shift();
      if (first) this.blocks.push({ s0, s1, k: first[0], pending: [[first[0], first[1]], ...pending] });
    }
    this.total = this.blocks.reduce((a, b) => a + (b.s1 - b.s0) * b.pending.reduce((x, [p, q]) => x + q - p, 0), 0);
  }

  async next(targetRows: number): Promise<SourceChunk | null> {
    if (this.blockSize === 0) this.plan(targetRows);
    let best: (typeof this.blocks)[number] | undefined;
    for (const b of this.blocks) if (b.pending.length > 0 && (!best || b.k < best.k)) best = b;
    if (!best) return null;
    const n = best.s1 - best.s0;
    const cur = best.pending[0]!;
    const k0 = Math.max(best.k, cur[0]);
    const len = Math.max(1, Math.min(cur[1] - k0, Math.round(targetRows / n)));
    const k1 = k0 + len;
    best.k = k1;
    if (k1 >= cur[1]) {
      best.pending.shift();
      if (best.pending.length) best.k = best.pending[0]![0];
    }
    const c = this.cfg;
    const fill: SyntheticFill = {
      kind: 'synthetic',
      seed: c.seed,
      nanRate: c.nanRate,
      gapRate: c.gapRate,
      outlierRate: c.outlierRate,
      infRate: c.infRate,
      resetEvery: c.counterResetEvery,
      startMs: this.startMs,
      stepMs: c.stepMs,
      s0: best.s0,
      s1: best.s1,
      k0,
      k1,
      haloSamples: this.halo.haloSamples,
      haloMs: this.halo.haloMs,
      lookaheadMs: this.halo.lookaheadMs,
      samples: this.samples,
    };
    const haloRows = Math.min(k0, this.halo.haloSamples + Math.ceil(this.halo.haloMs / c.stepMs)) + Math.ceil(this.halo.lookaheadMs / c.stepMs);
    this.planned += n * len;
    return {
      id: `syn:${best.s0}-${best.s1}:${k0}-${k1}`,
      fill,
      estRows: n * (len + haloRows),
      estRuns: n,
      startMs: this.startMs + k0 * c.stepMs,
      endMs: this.startMs + k1 * c.stepMs,
      estSamples: n * len,
      coverageKey: coverageKey(best.s0, best.s1),
    };
  }

  /** The generator is a pure function of (seed, series, index): any halo is exact. */
  widenHalo(chunk: SourceChunk, extraSamples: number): SourceChunk {
    const f = chunk.fill as SyntheticFill;
    return { ...chunk, fill: { ...f, haloSamples: f.haloSamples + extraSamples }, estRows: chunk.estRows + chunk.estRuns * extraSamples };
  }

  progress(): SourceProgress {
    return { doneSamples: this.planned, totalSamples: this.total ?? this.cfg.series * this.samples };
  }

  private total: number | undefined;

  async close(): Promise<void> {}
}

/** The `synthetic` source's descriptor (src/config/component.ts). */
export const syntheticSource = defineSource({
  kind: 'synthetic',
  schema: syntheticSourceSchema,
  create: (cfg) => new SyntheticSource(cfg),
  docs: 'deterministic, seeded, Prometheus-shaped series (the default and the benchmark workload); docs/EXTRACT.md',
});
