/**
 * The label values a pipeline's labelled counters can take, known before the first increment, so
 * they can be exported at 0: a dashboard then shows 0 instead of "no data", and `increase()` in an
 * alert sees the first drop or error (a series born at its first increment has no 0 before it).
 * Drop reasons per kernel kind are the ones docs/TRANSFORMS.md#counters-and-drop-reasons lists.
 */
import type { EngineMetrics } from './metrics.js';

const DROPS_BY_KERNEL: Record<string, string[]> = {
  validate: ['nan', 'inf', 'stale', 'type', 'duplicate', 'out_of_order', 'future', 'gap'],
  outliers: ['outlier'],
  impute: ['missing'],
  completeness: ['incomplete'],
  scale: ['unscaled'],
};

/** Line rejections an InfluxDB sink dead-letters (src/load/influx/rejections.ts). */
const DEAD_LETTER_REASONS = ['invalid_line', 'outside_retention', 'field_type_conflict', 'limit_exceeded', 'line_too_large', 'rejected'];

/** Batch errors by stage and code (src/pool/worker.ts, src/pipeline/dispatcher.ts). */
const ERRORS: Array<[stage: string, code: string]> = [
  ['fill', 'PROMFLUX_FILL_FAILED'],
  ['transform', 'PROMFLUX_KERNEL_FAILED'],
  ['encode', 'PROMFLUX_ENCODE_FAILED'],
  ['worker', 'PROMFLUX_WORKER_FAILED'],
];

export function knownDropReasons(transforms: ReadonlyArray<{ kind: string }>, sinkKind: string, onError: string): string[] {
  const out = new Set<string>();
  for (const t of transforms) {
    for (const r of DROPS_BY_KERNEL[t.kind] ?? []) out.add(r);
    if (onError === 'skip') out.add(`batch_failed:${t.kind}`);
  }
  if (sinkKind === 'influx') for (const r of DEAD_LETTER_REASONS) out.add(`dead_letter:${r}`);
  return [...out].sort();
}

/** Export the pipeline's known drop reasons and error codes at 0 (an inc by 0 creates the series). */
export function initKnownLabels(m: EngineMetrics, pipeline: string, transforms: ReadonlyArray<{ kind: string }>, sinkKind: string, onError: string): void {
  for (const reason of knownDropReasons(transforms, sinkKind, onError)) m.dropped.inc({ pipeline, reason }, 0);
  for (const [stage, code] of ERRORS) m.errors.inc({ pipeline, stage, code }, 0);
  for (const status of ['ok', 'failed', 'aborted', 'stopped']) m.runs.inc({ pipeline, status }, 0);
  for (const outcome of ['ok', 'skipped']) m.batches.inc({ pipeline, outcome }, 0);
}
