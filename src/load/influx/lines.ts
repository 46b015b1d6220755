/**
 * Byte-level line handling for line-protocol buffers. The hot path (`planRequests`) never decodes
 * to strings: it finds '\n' with Uint8Array#indexOf, a native scan (measured on this machine:
 * 6.4 ms vs 14.9 ms for a JS byte loop over 100k lines / 11 MB), and returns request boundaries as offsets into the batch's
 * own buffer, so request bodies are zero-copy subarrays. The other helpers serve the rare paths
 * (413 splits, isolating rejected lines) where per-line work is fine. Batches from the workers
 * come with their cuts already made by the encoder (planFromCuts); the scan serves the rest.
 */

import type { RequestCuts } from '../../encode/request-cuts.js';

const NL = 0x0a;

/** Request boundaries: parallel arrays (start byte, end byte exclusive, line count). */
export interface RequestPlan {
  count: number;
  starts: number[];
  ends: number[];
  lines: number[];
  /** Total lines found. */
  totalLines: number;
}

/**
 * Cut a '\n'-terminated buffer into requests of at most `maxLines` lines and `maxBytes` bytes.
 * A single line longer than `maxBytes` becomes a request of its own (the server decides: 413 →
 * dead-lettered). A trailing line without '\n' counts as a line. Empty lines are kept inside
 * requests (the server ignores them) but not counted.
 */
export function planRequests(buf: Uint8Array, maxLines: number, maxBytes: number): RequestPlan {
  const plan: RequestPlan = { count: 0, starts: [], ends: [], lines: [], totalLines: 0 };
  const len = buf.length;
  let start = 0;
  let lines = 0;
  let p = 0;
  const emit = (end: number): void => {
    plan.starts.push(start);
    plan.ends.push(end);
    plan.lines.push(lines);
    plan.totalLines += lines;
    plan.count++;
    start = end;
    lines = 0;
  };
  while (p < len) {
    const nl = buf.indexOf(NL, p);
    const end = nl < 0 ? len : nl + 1;
    if (end - p === 1 && nl >= 0) {
      // empty line: carry along, count nothing
      p = end;
      continue;
    }
    if (lines > 0 && end - start > maxBytes) emit(p);
    lines++;
    p = end;
    if (lines >= maxLines) emit(p);
  }
  if (p > start && lines > 0) emit(p);
  else if (p > start && plan.count > 0) plan.ends[plan.count - 1] = p; // trailing empty lines
  return plan;
}

/** The plan of request cuts the encoder computed (src/encode/request-cuts.ts): no byte is read. */
export function planFromCuts(cuts: RequestCuts): RequestPlan {
  const n = cuts.ends.length;
  const plan: RequestPlan = { count: n, starts: new Array<number>(n), ends: new Array<number>(n), lines: new Array<number>(n), totalLines: 0 };
  let start = 0;
  for (let i = 0; i < n; i++) {
    plan.starts[i] = start;
    plan.ends[i] = start = cuts.ends[i]!;
    plan.lines[i] = cuts.lines[i]!;
    plan.totalLines += cuts.lines[i]!;
  }
  return plan;
}

/** Start offsets of the non-empty lines of `buf` plus a final sentinel (= end of the last line). */
export function lineOffsets(buf: Uint8Array): { starts: number[]; ends: number[] } {
  const starts: number[] = [];
  const ends: number[] = [];
  let p = 0;
  while (p < buf.length) {
    const nl = buf.indexOf(NL, p);
    const end = nl < 0 ? buf.length : nl;
    if (end > p) {
      starts.push(p);
      ends.push(end);
    }
    p = end + 1;
  }
  return { starts, ends };
}

/** Split a buffer in two halves by line count (for 413 and bisection). Zero-copy. */
export function splitHalves(buf: Uint8Array): [Uint8Array, number, Uint8Array, number] {
  const { starts } = lineOffsets(buf);
  const n = starts.length;
  const half = n >> 1;
  const cut = starts[half]!;
  return [buf.subarray(0, cut), half, buf.subarray(cut), n - half];
}

/** Concatenate the given lines (by index) into a new '\n'-terminated buffer. */
export function pickLines(buf: Uint8Array, offs: { starts: number[]; ends: number[] }, keep: readonly number[]): Uint8Array {
  let size = 0;
  for (const i of keep) size += offs.ends[i]! - offs.starts[i]! + 1;
  const out = new Uint8Array(size);
  let o = 0;
  for (const i of keep) {
    const s = offs.starts[i]!;
    const e = offs.ends[i]!;
    out.set(buf.subarray(s, e), o);
    o += e - s;
    out[o++] = NL;
  }
  return out;
}
