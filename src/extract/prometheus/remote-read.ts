/**
 * Builds the remote-read request (main thread, once per chunk): ReadRequest{queries=1 →
 * Query{start_timestamp_ms=1, end_timestamp_ms=2 (inclusive), matchers=3 → LabelMatcher{type=1,
 * name=2, value=3}}, accepted_response_types=2}, snappy block-compressed as Prometheus requires.
 */
import snappy from 'snappyjs';
import type { LabelMatcher } from './selector.js';
import { PbWriter } from './decode/protobuf.js';

const MATCH_TYPE: Record<LabelMatcher['type'], number> = { '=': 0, '!=': 1, '=~': 2, '!~': 3 };
export const ResponseType = { samples: 0, streamed: 1 } as const;

export function buildReadRequest(
  matchers: readonly LabelMatcher[],
  startMs: number,
  endMsInclusive: number,
  responseType: 'streamed' | 'samples',
): Uint8Array {
  const q = new PbWriter().int64(1, startMs).int64(2, endMsInclusive);
  for (const m of matchers) {
    const mw = new PbWriter();
    if (MATCH_TYPE[m.type] !== 0) mw.tag(1, 0).uvarint(MATCH_TYPE[m.type]);
    mw.string(2, m.name).string(3, m.value);
    q.bytes(3, mw.finish());
  }
  const req = new PbWriter().bytes(1, q.finish());
  // a server that does not stream falls back to SAMPLES
  if (responseType === 'streamed') req.tag(2, 0).uvarint(ResponseType.streamed);
  req.tag(2, 0).uvarint(ResponseType.samples);
  return snappy.compress(req.finish());
}
