/**
 * RunWriter.sampleRun (the tsdb reader's bulk hand-off of one decoded chunk) against the
 * per-sample RunWriter.sample path: for random series of chunks (steps, duplicates, backward
 * timestamps, chunks straddling the window's start and end) and random windows (halo by count and
 * by time, range mode, look-ahead, fromMs), both paths must leave byte-identical batches (rows,
 * flags, runs, series table) and the same counters and source drops — also when the caller says a
 * chunk's timestamps strictly increase (`increasing`: the window's end is then found by binary search).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BatchBuilder } from '../src/batch/builder.js';
import { allocBatch, RUN_STRIDE, type BatchDescriptor } from '../src/batch/layout.js';
import { RunWriter, type WindowSpec } from '../src/extract/prometheus/decode/runs.js';

interface Case {
  win: WindowSpec;
  /** Per series, its chunks; each chunk a list of [t, v]. */
  series: Array<Array<Array<[number, number]>>>;
}

function snapshot(b: BatchBuilder, w: RunWriter) {
  const d: BatchDescriptor = b.finish();
  const bytes = (sab: SharedArrayBuffer, n: number) => Buffer.from(new Uint8Array(sab, 0, n)).toString('hex');
  return {
    series: bytes(d.series, d.length * 4),
    ts: bytes(d.ts, d.length * 8),
    value: bytes(d.value, d.length * 8),
    flags: bytes(d.flags, d.length * 4),
    runs: bytes(d.runs, d.runCount * RUN_STRIDE * 4),
    keys: d.seriesKeys.join('|'),
    length: d.length,
    counters: [w.rows, w.haloRows, w.duplicates, w.series],
    dropped: JSON.stringify(b.sourceDropped),
    droppedSeries: JSON.stringify(b.sourceDroppedSeries),
  };
}

/** bulk: sampleRun per chunk; tellIncreasing: also pass `increasing` for chunks whose timestamps strictly increase (as the WebAssembly decoder reports it). */
function run(c: Case, bulk: boolean, tellIncreasing = false) {
  // small capacities so the builder's grow paths run too
  const b = new BatchBuilder(allocBatch(1, 'c', 3, 1));
  const w = new RunWriter(b, c.win);
  const ts = new Float64Array(4096);
  const vs = new Float64Array(4096);
  c.series.forEach((chunks, s) => {
    w.begin(`s${s}`, s % 3);
    for (const chunk of chunks) {
      if (bulk) {
        chunk.forEach(([t, v], i) => {
          ts[i] = t;
          vs[i] = v;
        });
        const increasing = tellIncreasing && chunk.every(([t], i) => i === 0 || t > chunk[i - 1]![0]);
        w.sampleRun(ts, vs, chunk.length, increasing);
      } else for (const [t, v] of chunk) w.sample(t, v);
    }
  });
  w.end();
  return snapshot(b, w);
}

/** A chunk: a start and steps, mostly positive, sometimes 0 (duplicate) or negative (backward). */
const chunkArb = fc
  .tuple(fc.integer({ min: 0, max: 400 }), fc.array(fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 1, max: 20 }) }, { weight: 1, arbitrary: fc.integer({ min: -15, max: 0 }) }), { maxLength: 60 }), fc.double({ noNaN: false }))
  .map(([t0, steps, v0]) => {
    const out: Array<[number, number]> = [[t0, v0]];
    let t = t0;
    for (const [i, d] of steps.entries()) {
      t += d;
      out.push([t, v0 + i]);
    }
    return out;
  });

const winArb: fc.Arbitrary<WindowSpec> = fc
  .record({
    startMs: fc.integer({ min: 0, max: 500 }),
    len: fc.integer({ min: 0, max: 500 }),
    haloAll: fc.boolean(),
    haloSamples: fc.integer({ min: 0, max: 10 }),
    haloMs: fc.integer({ min: 0, max: 100 }),
    lookaheadMs: fc.option(fc.integer({ min: 0, max: 100 }), { nil: undefined }),
    fromMs: fc.option(fc.integer({ min: 0, max: 500 }), { nil: undefined }),
  })
  .map(({ len, ...r }) => ({ ...r, endMs: r.startMs + len }));

describe('RunWriter.sampleRun (bulk hand-off)', () => {
  it('leaves the same batch, counters and drops as sample() per sample', () => {
    fc.assert(
      fc.property(winArb, fc.array(fc.array(chunkArb, { maxLength: 5 }), { minLength: 1, maxLength: 6 }), (win, series) => {
        const c: Case = { win, series };
        assert.deepEqual(run(c, true), run(c, false));
      }),
      { numRuns: 2000 },
    );
  });

  it('with `increasing` for strictly increasing chunks: the same batch, counters and drops as sample() per sample', () => {
    const increasingChunk = fc
      .tuple(fc.integer({ min: 0, max: 400 }), fc.array(fc.integer({ min: 1, max: 20 }), { maxLength: 80 }), fc.double({ noNaN: false }))
      .map(([t0, steps, v0]) => {
        const out: Array<[number, number]> = [[t0, v0]];
        let t = t0;
        for (const [i, d] of steps.entries()) out.push([(t += d), v0 + i]);
        return out;
      });
    fc.assert(
      fc.property(winArb, fc.array(fc.array(fc.oneof({ weight: 4, arbitrary: increasingChunk }, { weight: 1, arbitrary: chunkArb }), { maxLength: 5 }), { minLength: 1, maxLength: 6 }), (win, series) => {
        const c: Case = { win, series };
        assert.deepEqual(run(c, true, true), run(c, false));
      }),
      { numRuns: 2000 },
    );
  });

  it('copies a whole in-window chunk at once and still applies the window at both ends', () => {
    const win: WindowSpec = { startMs: 100, endMs: 200, haloAll: false, haloSamples: 2, haloMs: 0, lookaheadMs: 15 };
    const chunk: Array<[number, number]> = [];
    for (let t = 80; t < 230; t += 10) chunk.push([t, t / 10]);
    const c: Case = { win, series: [[chunk]] };
    const got = run(c, true);
    assert.deepEqual(got, run(c, false));
    // halo 80, 90 (2 samples), rows 100..190 (10), look-ahead 200, 210 (< 215)
    assert.equal(got.length, 14);
    assert.deepEqual(got.counters, [10, 2, 0, 1]);
  });
});
