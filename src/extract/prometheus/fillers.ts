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
import { failTail, readTail, TailWriter, type TailView } from './tail.js';

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
  /** Start of the fetched range (ms): earlier rows in the body are ignored. */
  fetchFromMs?: number;
  /** Halo hand-off: the predecessor's published tail (this chunk was fetched without history). */
  tailIn?: SharedArrayBuffer;
  /** Halo hand-off: where to publish this chunk's tail, and from when the next chunk would fetch. */
  tailOut?: SharedArrayBuffer;
  tailFromMs?: number;
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

/** The RunWriter of a fill, with its halo hand-off ends (tail.ts). */
function writerFor(s: PromFill, b: BatchBuilder): RunWriter {
  let tailIn: TailView | undefined;
  if (s.tailIn) {
    tailIn = readTail(s.tailIn);
    if (!tailIn) {
      throw promError(
        PromErrorCode.haloUnavailable,
        `query "${s.query}" chunk ${s.chunkId}: the previous chunk's tail (this chunk's halo) was not published; the chunk is fetched again with its history`,
      );
    }
  }
  const rule = { endMs: s.endMs, fromMs: s.tailFromMs ?? -Infinity, haloMs: s.haloMs, haloSamples: s.haloSamples, haloAll: s.haloAll };
  const tailOut = s.tailOut ? new TailWriter(s.tailOut, rule) : undefined;
  return new RunWriter(b, { ...s, ...(s.fetchFromMs !== undefined ? { fromMs: s.fetchFromMs } : {}) }, tailIn, tailOut);
}

/** Decode into the writer; a failed fill marks its tail failed at once (the next chunk refetches). */
function fillWith(s: PromFill, b: BatchBuilder, decode: (w: RunWriter) => void): void {
  try {
    const w = writerFor(s, b);
    decode(w);
    w.finish();
  } catch (err) {
    if (s.tailOut) failTail(s.tailOut);
    throw err;
  }
}

export function fillPromMatrix(spec: FillSpec, b: BatchBuilder): void {
  check(spec);
  fillWith(spec, b, (w) => decodePromJson(spec.body, spec, w));
}

export function fillPromRemoteRead(spec: FillSpec, b: BatchBuilder): void {
  check(spec);
  const s = spec as PromRemoteReadFill;
  const ctx = { query: s.query, chunkId: s.chunkId, kinds: s.kinds, fromMs: s.fromMs, endMs: s.endMs };
  fillWith(s, b, (w) => (s.format === 'streamed' ? decodeStreamedChunks(s.body, ctx, w) : decodeSamplesResponse(s.body, ctx, w)));
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
