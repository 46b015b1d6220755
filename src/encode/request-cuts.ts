/**
 * Request boundaries of a line-protocol buffer, computed from the line ends the encoder recorded
 * while writing (LineWriter), so that no thread scans the bytes for '\n' again. Before this the
 * sink's planRequests ran Uint8Array#indexOf once per line on the main thread: 0.34–0.57 s of
 * main-thread CPU for 2.88M lines (peer-vmctl profile, issue 16). Here it is a binary search per
 * request.
 */

/** Per request: byte end (exclusive) of its last line and its line count; requests are contiguous from byte 0. */
export interface RequestCuts {
  ends: Uint32Array;
  lines: Uint32Array;
}

/** Limits a sink puts on one request: at most `lines` lines and `bytes` bytes (a longer single line goes alone). */
export interface RequestLimits {
  lines: number;
  bytes: number;
}

/**
 * Greedy cut, the same as the sink's byte scan (src/load/influx/lines.ts planRequests) gives for a
 * buffer of non-empty '\n'-terminated lines: a request takes lines while it has fewer than
 * `maxLines` and the next line keeps it within `maxBytes`; its first line is always taken.
 * `lineEnds[k]` is the byte offset just past line k's '\n' (increasing).
 */
export function cutRequests(lineEnds: Uint32Array, n: number, maxLines: number, maxBytes: number): RequestCuts {
  const ends: number[] = [];
  const lines: number[] = [];
  let start = 0;
  let first = 0;
  while (first < n) {
    let last = Math.min(n, first + maxLines) - 1;
    if (lineEnds[last]! - start > maxBytes) {
      // largest j in [first, last) whose end keeps the request within maxBytes; first if none fits
      let lo = first;
      let hi = last;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (lineEnds[mid]! - start <= maxBytes) lo = mid;
        else hi = mid - 1;
      }
      last = lo;
    }
    ends.push(lineEnds[last]!);
    lines.push(last - first + 1);
    start = lineEnds[last]!;
    first = last + 1;
  }
  return { ends: Uint32Array.from(ends), lines: Uint32Array.from(lines) };
}
