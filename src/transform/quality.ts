/**
 * Data-quality metrics from per-batch or per-run counts (never from samples): completeness,
 * validity, outlier and duplicate shares, timeliness, and a weighted quality score. The kernels
 * count every failing row under `fail:<category>` (categories are the well-known flag names) and
 * every missing value under `missing`; this module only does arithmetic on those counts.
 * Exact formulas: docs/TRANSFORMS.md#quality.
 */

export interface QualityWeights {
  completeness: number;
  accuracy: number;
  consistency: number;
  validity: number;
  timeliness: number;
}

export const DEFAULT_QUALITY_WEIGHTS: Readonly<QualityWeights> = Object.freeze({
  completeness: 0.3,
  accuracy: 0.25,
  consistency: 0.2,
  validity: 0.15,
  timeliness: 0.1,
});

export interface QualityInput {
  /** Non-halo rows that entered the transforms. */
  samplesIn: number;
  /** Drop reason → count (ctx.dropped summed over batches). */
  dropped: Readonly<Record<string, number>>;
  /** Named counters (ctx.counters summed over batches). */
  counters: Readonly<Record<string, number>>;
  /** Newest non-halo sample timestamp (ms), NaN when none. */
  newestMs: number;
  /** Reference time for timeliness: wall clock for live runs, the range end for backfills. */
  nowMs: number;
  weights?: Partial<QualityWeights>;
  /** Lag up to which timeliness is 1 (default 60 s). */
  timelinessTargetMs?: number;
  /** Lag from which timeliness is 0 (default 1 h); linear in between. */
  timelinessMaxMs?: number;
}

export interface QualityMetrics {
  samples: number;
  /** Share of samples whose value was present (not NaN) in the source. */
  completeness: number;
  /** 1 − share of samples failing a validity rule (±Inf, type, range, future). */
  validity: number;
  /** 1 − outlier share. */
  accuracy: number;
  /** 1 − share of duplicate / out-of-order timestamps and business-rule failures. */
  consistency: number;
  /** Share of samples detected as outliers. */
  outlierRatio: number;
  /** Share of samples with a duplicate timestamp. */
  duplicateRatio: number;
  /** Share of samples with an out-of-order timestamp. */
  outOfOrderRatio: number;
  /** nowMs − newest sample (ms), NaN when there is no sample. */
  lagMs: number;
  timeliness: number;
  /** Weighted score in [0, 1]. */
  score: number;
  missing: number;
  imputed: number;
  /** Rule failures by category (fail:<category> counters). */
  failures: Record<string, number>;
}

const VALIDITY = ['inf', 'type', 'range', 'future'];
const CONSISTENCY = ['duplicate', 'out_of_order', 'business'];

const clamp01 = (v: number): number => (v < 0 ? 0 : v > 1 ? 1 : v);

export function qualityFromCounts(input: QualityInput): QualityMetrics {
  const n = input.samplesIn;
  const c = input.counters;
  const failures: Record<string, number> = {};
  for (const [k, v] of Object.entries(c)) if (k.startsWith('fail:')) failures[k.slice(5)] = v;
  const fail = (names: readonly string[]): number => names.reduce((a, k) => a + (failures[k] ?? 0), 0);
  // Kernels count every NaN they meet as `missing`; if none ran with counting on, fall back to drops.
  const missing = c['missing'] ?? (input.dropped['nan'] ?? 0) + (input.dropped['missing'] ?? 0);
  const share = (x: number): number => (n > 0 ? clamp01(x / n) : 0);
  const completeness = n > 0 ? 1 - share(missing) : 1;
  const validity = 1 - share(fail(VALIDITY));
  const outlierRatio = share(fail(['outlier']));
  const consistency = 1 - share(fail(CONSISTENCY));
  const target = input.timelinessTargetMs ?? 60_000;
  const max = Math.max(target + 1, input.timelinessMaxMs ?? 3_600_000);
  const lagMs = Number.isFinite(input.newestMs) ? Math.max(0, input.nowMs - input.newestMs) : NaN;
  const timeliness = Number.isNaN(lagMs) ? 0 : lagMs <= target ? 1 : clamp01(1 - (lagMs - target) / (max - target));
  const w = { ...DEFAULT_QUALITY_WEIGHTS, ...(input.weights ?? {}) };
  const wsum = w.completeness + w.accuracy + w.consistency + w.validity + w.timeliness;
  const accuracy = 1 - outlierRatio;
  const score =
    wsum > 0
      ? (w.completeness * completeness + w.accuracy * accuracy + w.consistency * consistency + w.validity * validity + w.timeliness * timeliness) / wsum
      : 0;
  return {
    samples: n,
    completeness,
    validity,
    accuracy,
    consistency,
    outlierRatio,
    duplicateRatio: share(failures['duplicate'] ?? 0),
    outOfOrderRatio: share(failures['out_of_order'] ?? 0),
    lagMs,
    timeliness,
    score,
    missing,
    imputed: c['imputed'] ?? 0,
    failures,
  };
}

/** Flat numeric fields for a `promflux_quality` measurement / metrics gauges (percentages 0–100). */
export function qualityFields(q: QualityMetrics): Record<string, number> {
  const f: Record<string, number> = {
    samples: q.samples,
    completeness_pct: q.completeness * 100,
    validity_pct: q.validity * 100,
    accuracy_pct: q.accuracy * 100,
    consistency_pct: q.consistency * 100,
    outlier_pct: q.outlierRatio * 100,
    duplicate_pct: q.duplicateRatio * 100,
    out_of_order_pct: q.outOfOrderRatio * 100,
    timeliness_pct: q.timeliness * 100,
    score: q.score,
    missing: q.missing,
    imputed: q.imputed,
  };
  if (Number.isFinite(q.lagMs)) f['lag_seconds'] = q.lagMs / 1000;
  return f;
}

/** Sum per-batch counts into a run total (the lead can keep one of these per run). */
export function addCounts(into: Record<string, number>, from: Readonly<Record<string, number>>): Record<string, number> {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
  return into;
}
