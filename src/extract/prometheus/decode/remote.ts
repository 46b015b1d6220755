/**
 * Decoders for /api/v1/read responses (prompb), run in the worker:
 *  - STREAMED_XOR_CHUNKS: frames of [uvarint length][uint32 BE CRC-32C][ChunkedReadResponse],
 *    each with ChunkedSeries{labels=1, chunks=2}, Chunk{min_time_ms=1, max_time_ms=2, type=3, data=4}.
 *    Whole TSDB chunks come back, so they overlap the window: chunks entirely outside it are skipped
 *    without decoding, and RunWriter trims samples at the edges (each stored sample is emitted as a
 *    regular row by exactly one chunk). A series split over consecutive frames continues its run.
 *  - SAMPLES: one snappy-compressed ReadResponse{results=1 → QueryResult{timeseries=1 →
 *    TimeSeries{labels=1, samples=2 → Sample{value=1 double, timestamp=2 int64}}}}.
 */
import snappy from 'snappyjs';
import { seriesKey, type SeriesKindName } from '../../../batch/layout.js';
import { promError, PromErrorCode, preview } from '../errors.js';
import { crc32c } from './crc32c.js';
import { PbReader } from './protobuf.js';
import { kindOf, type RunWriter } from './runs.js';
import { decodeXorChunk } from './xor.js';

export interface RemoteDecodeContext {
  query: string;
  chunkId: string;
  kinds: Readonly<Record<string, SeriesKindName>>;
  /** Earliest timestamp of interest (chunk start minus lookback): older TSDB chunks are skipped. */
  fromMs: number;
  /** Exclusive end of the window. */
  endMs: number;
}

export interface RemoteDecodeStats {
  series: number;
  chunks: number;
  chunksSkipped: number;
  /** Non-XOR (native histogram) chunks or histogram samples skipped. */
  histogramsSkipped: number;
  samplesDecoded: number;
}

function where(ctx: RemoteDecodeContext): string {
  return `query "${ctx.query}" chunk ${ctx.chunkId}`;
}

function labelsToKey(r: PbReader, labelRanges: number[], ctx: RemoteDecodeContext): [string, number] {
  const labels: Record<string, string> = {};
  for (let i = 0; i < labelRanges.length; i += 2) {
    const lr = new PbReader(r.buf, labelRanges[i]!, labelRanges[i + 1]!);
    let name = '';
    let value = '';
    while (lr.pos < lr.end) {
      const tag = lr.uvarint();
      if (tag === 10) name = lr.string();
      else if (tag === 18) value = lr.string();
      else lr.skip(tag & 7);
    }
    labels[name] = value;
  }
  const metric = labels.__name__ ?? ctx.query;
  return [seriesKey(metric, labels), kindOf(metric, ctx.kinds)];
}

/** STREAMED_XOR_CHUNKS body → rows. */
export function decodeStreamedChunks(body: Uint8Array, ctx: RemoteDecodeContext, w: RunWriter): RemoteDecodeStats {
  const stats: RemoteDecodeStats = { series: 0, chunks: 0, chunksSkipped: 0, histogramsSkipped: 0, samplesDecoded: 0 };
  const r = new PbReader(body);
  const labelRanges: number[] = [];
  const chunkRanges: number[] = [];
  let frames = 0;
  try {
    while (r.pos < body.length) {
      const size = r.uvarint();
      if (r.pos + 4 + size > body.length) {
        throw promError(
          PromErrorCode.badResponse,
          `${where(ctx)}: truncated remote-read stream (frame ${frames} announces ${size} bytes, ${body.length - r.pos - 4} left)`,
        );
      }
      const want = ((body[r.pos]! << 24) | (body[r.pos + 1]! << 16) | (body[r.pos + 2]! << 8) | body[r.pos + 3]!) >>> 0;
      const fs = r.pos + 4;
      const fe = fs + size;
      if (crc32c(body, fs, fe) !== want) {
        throw promError(PromErrorCode.badResponse, `${where(ctx)}: remote-read frame ${frames} fails its CRC-32C check (corrupted in transit?)`);
      }
      frames++;
      const fr = new PbReader(body, fs, fe);
      while (fr.pos < fe) {
        const tag = fr.uvarint();
        if (tag !== 10) {
          fr.skip(tag & 7); // query_index (we send one query per request)
          continue;
        }
        const n = fr.len();
        const se = fr.pos + n;
        labelRanges.length = 0;
        chunkRanges.length = 0;
        const sr = new PbReader(body, fr.pos, se);
        while (sr.pos < se) {
          const t = sr.uvarint();
          if (t === 10 || t === 18) {
            const ln = sr.len();
            (t === 10 ? labelRanges : chunkRanges).push(sr.pos, sr.pos + ln);
            sr.pos += ln;
          } else sr.skip(t & 7);
        }
        const [key, kind] = labelsToKey(sr, labelRanges, ctx);
        w.begin(key, kind); // same key as the previous frame's series continues its run
        stats.series++;
        for (let i = 0; i < chunkRanges.length; i += 2) {
          const cr = new PbReader(body, chunkRanges[i]!, chunkRanges[i + 1]!);
          let minT = 0;
          let maxT = 0;
          let type = 0;
          let ds = -1;
          let de = -1;
          while (cr.pos < cr.end) {
            const t = cr.uvarint();
            if (t === 8) minT = cr.int64();
            else if (t === 16) maxT = cr.int64();
            else if (t === 24) type = cr.uvarint();
            else if (t === 34) {
              const ln = cr.len();
              ds = cr.pos;
              de = cr.pos + ln;
              cr.pos = de;
            } else cr.skip(t & 7);
          }
          if (type !== 1) {
            stats.histogramsSkipped++;
            continue;
          }
          if (maxT < ctx.fromMs || minT >= ctx.endMs || ds < 0) {
            stats.chunksSkipped++;
            continue;
          }
          stats.chunks++;
          stats.samplesDecoded += decodeXorChunk(body, ds, de, w);
        }
        fr.pos = se;
      }
      r.pos = fe;
    }
  } catch (err) {
    if (err instanceof Error && 'code' in err) throw err;
    throw promError(
      PromErrorCode.badResponse,
      `${where(ctx)}: malformed remote-read stream after ${frames} frame(s): ${(err as Error).message} (starts "${preview(body, 40)}")`,
      err,
    );
  }
  w.end();
  return stats;
}

/** SAMPLES body (snappy-compressed ReadResponse) → rows. */
export function decodeSamplesResponse(body: Uint8Array, ctx: RemoteDecodeContext, w: RunWriter): RemoteDecodeStats {
  const stats: RemoteDecodeStats = { series: 0, chunks: 0, chunksSkipped: 0, histogramsSkipped: 0, samplesDecoded: 0 };
  let raw: Uint8Array;
  try {
    // snappyjs reads the input through a plain view; copy out of the SAB is not needed
    raw = snappy.uncompress(body);
  } catch (err) {
    throw promError(
      PromErrorCode.badResponse,
      `${where(ctx)}: remote-read SAMPLES body is not valid snappy (${(err as Error).message}; starts "${preview(body, 40)}")`,
      err,
    );
  }
  const labelRanges: number[] = [];
  const sampleRanges: number[] = [];
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  try {
    const r = new PbReader(raw);
    while (r.pos < r.end) {
      const tag = r.uvarint();
      if (tag !== 10) {
        r.skip(tag & 7);
        continue;
      }
      const qlen = r.len();
      const qe = r.pos + qlen;
      while (r.pos < qe) {
        const t = r.uvarint();
        if (t !== 10) {
          r.skip(t & 7);
          continue;
        }
        const tlen = r.len();
        const te = r.pos + tlen;
        labelRanges.length = 0;
        sampleRanges.length = 0;
        while (r.pos < te) {
          const f = r.uvarint();
          if (f === 10 || f === 18) {
            const ln = r.len();
            (f === 10 ? labelRanges : sampleRanges).push(r.pos, r.pos + ln);
            r.pos += ln;
          } else {
            if (f >>> 3 === 4) stats.histogramsSkipped++;
            r.skip(f & 7);
          }
        }
        const [key, kind] = labelsToKey(r, labelRanges, ctx);
        w.begin(key, kind);
        stats.series++;
        for (let i = 0; i < sampleRanges.length; i += 2) {
          let p = sampleRanges[i]!;
          const e = sampleRanges[i + 1]!;
          let v = 0;
          let ts = 0;
          // Sample{value=1 fixed64 double, timestamp=2 varint}
          if (raw[p] === 9 && e - p >= 9) {
            v = dv.getFloat64(p + 1, true);
            p += 9;
            if (p < e && raw[p] === 16) {
              const sr = new PbReader(raw, p + 1, e);
              ts = sr.int64();
            }
          } else {
            const sr = new PbReader(raw, p, e);
            while (sr.pos < e) {
              const f = sr.uvarint();
              if (f === 9) v = sr.double();
              else if (f === 16) ts = sr.int64();
              else sr.skip(f & 7);
            }
          }
          w.sample(ts, v);
          stats.samplesDecoded++;
        }
        r.pos = te;
        w.end();
      }
    }
  } catch (err) {
    if (err instanceof Error && 'code' in err) throw err;
    throw promError(PromErrorCode.badResponse, `${where(ctx)}: malformed remote-read ReadResponse: ${(err as Error).message}`, err);
  }
  return stats;
}
