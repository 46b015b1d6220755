/**
 * Worker-side fillers for Prometheus chunks: register `promFillers` in the worker's filler table.
 * Each turns the response bytes of one chunk (a Uint8Array over a SharedArrayBuffer, shared with
 * the main thread, not copied) into rows of a BatchBuilder.
 */
import type { BatchBuilder } from '../../batch/builder.js';
import type { SeriesKindName } from '../../batch/layout.js';
import type { FillSpec } from '../source.js';
import { decodePromJson } from './decode/json.js';
import { decodeSamplesResponse, decodeStreamedChunks } from './decode/remote.js';
import { RunWriter } from './decode/runs.js';
import { promError, PromErrorCode } from './errors.js';

interface CommonFill extends FillSpec {
  /** Response body (view over a SharedArrayBuffer). */
  body: Uint8Array;
  query: string;
  chunkId: string;
  /** Non-halo rows are [startMs, endMs). */
  startMs: number;
  endMs: number;
  /** Halo policy: all rows before startMs (range mode) or the last haloSamples / within haloMs (raw). */
  haloAll: boolean;
  haloSamples: number;
  haloMs: number;
  /** Metric name → type from /api/v1/metadata. */
  kinds: Record<string, SeriesKindName>;
}

/** JSON from /api/v1/query_range (range mode) or /api/v1/query with metric[range] (range-vector mode). */
export interface PromMatrixFill extends CommonFill {
  kind: 'prom-matrix';
}

/** Protobuf from /api/v1/read. */
export interface PromRemoteReadFill extends CommonFill {
  kind: 'prom-remote-read';
  format: 'streamed' | 'samples';
  /** Start of what was requested (chunk start minus lookback). */
  fromMs: number;
}

export type PromFill = PromMatrixFill | PromRemoteReadFill;

/**
 * Co-scheduled queries (coschedule.ts): one part per member query, same window, decoded in turn
 * into one batch. haloSamples/haloMs repeat the parts' (the dispatcher's halo check reads them).
 */
export interface PromGroupFill extends FillSpec {
  kind: 'prom-group';
  parts: PromFill[];
  haloSamples: number;
  haloMs: number;
}

function check(spec: FillSpec): asserts spec is PromFill {
  const s = spec as Partial<PromFill>;
  if (!(s.body instanceof Uint8Array) || typeof s.startMs !== 'number' || typeof s.endMs !== 'number') {
    throw promError(PromErrorCode.badResponse, `fill spec "${spec.kind}" is missing its body or window (engine wiring bug)`);
  }
}

export function fillPromMatrix(spec: FillSpec, b: BatchBuilder): void {
  check(spec);
  const w = new RunWriter(b, spec);
  decodePromJson(spec.body, spec, w);
  w.end();
}

export function fillPromRemoteRead(spec: FillSpec, b: BatchBuilder): void {
  check(spec);
  const s = spec as PromRemoteReadFill;
  const w = new RunWriter(b, s);
  const ctx = { query: s.query, chunkId: s.chunkId, kinds: s.kinds, fromMs: s.fromMs, endMs: s.endMs };
  if (s.format === 'streamed') decodeStreamedChunks(s.body, ctx, w);
  else decodeSamplesResponse(s.body, ctx, w);
  w.end();
}

export function fillPromGroup(spec: FillSpec, b: BatchBuilder): void {
  const parts = (spec as Partial<PromGroupFill>).parts;
  if (!Array.isArray(parts) || parts.length === 0) throw promError(PromErrorCode.badResponse, 'fill spec "prom-group" has no parts (engine wiring bug)');
  for (const part of parts) (part.kind === 'prom-matrix' ? fillPromMatrix : fillPromRemoteRead)(part, b);
}

export const promFillers: Record<string, (spec: FillSpec, b: BatchBuilder) => void> = {
  'prom-matrix': fillPromMatrix,
  'prom-remote-read': fillPromRemoteRead,
  'prom-group': fillPromGroup,
};
