/**
 * Halo hand-off on a real Prometheus (docs/ARCHITECTURE.md#halo-hand-off): a chunk that follows the
 * previous one of its query is fetched for its own range only and takes that chunk's decoded tail
 * as its halo. Checked: what is asked of Prometheus (request ranges, response bytes), that the
 * batches (halo rows included) and the written lines are those of a run that re-fetches history
 * and of a single-chunk run, and that resumed or failed predecessors fall back to fetching history.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { createPipeline, droppedTotal } from '../src/index.js';
import { createEngineMetrics } from '../src/observe/metrics.js';
import type { SourceChunk } from '../src/extract/source.js';
import { decodeChunk, drain, makeSource, openOpts } from './harness/extract.js';
import { dataset, startPrometheus, T0, T_END, type PromServer } from './harness/prometheus.js';

const tmp = mkdtempSync(join(tmpdir(), 'promflux-halo-'));
let prom: PromServer;

before(async () => {
  prom = await startPrometheus();
});
after(async () => {
  await prom?.dispose();
});

const WINDOW = { start: new Date(T0).toISOString(), end: new Date(T_END).toISOString(), step: '15s' };
/** Halo of a 1 h time window plus 40 samples (a sample window after it in the chain). */
const HALO = { haloMs: 3_600_000, haloSamples: 40 };

type Fill = { fetchFromMs?: number; tailIn?: unknown; tailOut?: unknown };
const fillOf = (c: SourceChunk): Fill => c.fill as Fill;

/** Every row of every chunk (halo rows included, flagged), keyed by chunk id. */
function rowsByChunk(chunks: readonly SourceChunk[]): Map<string, string> {
  return new Map(chunks.map((c) => [c.id, JSON.stringify(decodeChunk(c).rows)]));
}

async function counterValue(reg: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = (await reg.getMetricsAsJSON()).find((x) => x.name === name);
  let sum = 0;
  for (const v of (m?.values ?? []) as Array<{ value: number; labels: Record<string, string | number> }>) {
    if (Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want)) sum += v.value;
  }
  return sum;
}

for (const extraction of ['remote-read', 'range-vector', 'range'] as const) {
  describe(`halo hand-off, ${extraction}`, () => {
    const base = { url: prom?.url, ...WINDOW, extraction, maxChunk: '20m', queries: [{ name: 'all', expr: extraction === 'range' ? 'test_gauge' : '{__name__=~"test_.+"}' }] };

    test('chunks after the first are asked for their own range only; batches equal those of a run that re-fetches history', async () => {
      const reg = new Registry();
      const src = makeSource({ ...base, url: prom.url }, { metrics: reg });
      await src.open(openOpts(HALO));
      const chunks = await drain(src, 1e9);
      await src.close();
      assert.ok(chunks.length >= 10, `${chunks.length} chunks`);
      const [first, ...rest] = chunks;
      assert.ok(fillOf(first!).fetchFromMs! < first!.startMs, 'the first chunk fetches its history');
      assert.equal(fillOf(first!).tailIn, undefined);
      for (const c of rest) {
        assert.equal(fillOf(c).fetchFromMs, c.startMs, `${c.id} is asked from its own start`);
        assert.ok(fillOf(c).tailIn instanceof SharedArrayBuffer, `${c.id} takes the previous tail`);
      }
      assert.equal(await counterValue(reg, 'promflux_extract_halo_handoffs_total', { outcome: 'handed' }), rest.length);
      assert.equal(await counterValue(reg, 'promflux_extract_halo_handoffs_total', { outcome: 'refetched' }), 0);
      const handedBytes = await counterValue(reg, 'promflux_extract_bytes_total');

      const regOld = new Registry();
      const old = makeSource({ ...base, url: prom.url, haloHandoff: false }, { metrics: regOld });
      await old.open(openOpts(HALO));
      const oldChunks = await drain(old, 1e9);
      await old.close();
      assert.deepEqual(oldChunks.map((c) => c.id), chunks.map((c) => c.id));
      for (const c of oldChunks.slice(1)) assert.ok(fillOf(c).fetchFromMs! < c.startMs);
      // Bit for bit: every batch, halo rows included, as when each chunk fetched its history.
      assert.deepEqual(rowsByChunk(chunks), rowsByChunk(oldChunks));
      const refetchBytes = await counterValue(regOld, 'promflux_extract_bytes_total');
      assert.ok(handedBytes < refetchBytes * 0.5, `hand-off read ${handedBytes} bytes, re-fetching ${refetchBytes}`);
    });

    test('a resumed chunk (predecessor done in an earlier run) and a chunk whose predecessor failed fetch their history; batches unchanged', async () => {
      const full = makeSource({ ...base, url: prom.url });
      await full.open(openOpts(HALO));
      const all = await drain(full, 1e9);
      await full.close();
      const want = rowsByChunk(all);

      // resume: the first third is done
      const doneIds = new Set(all.slice(0, Math.floor(all.length / 3)).map((c) => c.id));
      const resumed = makeSource({ ...base, url: prom.url });
      await resumed.open(openOpts({ ...HALO, completed: doneIds }));
      const rest = await drain(resumed, 1e9);
      await resumed.close();
      assert.equal(rest.length, all.length - doneIds.size);
      assert.ok(fillOf(rest[0]!).fetchFromMs! < rest[0]!.startMs, 'the resumed chunk fetches its history');
      assert.equal(fillOf(rest[0]!).tailIn, undefined);
      for (const c of rest.slice(1)) assert.equal(fillOf(c).fetchFromMs, c.startMs);
      for (const c of rest) assert.equal(JSON.stringify(decodeChunk(c).rows), want.get(c.id), `${c.id} after resume`);

      // failure: chunk 2's attempt ends without publishing its tail; chunk 3 fetches its history
      const reg = new Registry();
      const src = makeSource({ ...base, url: prom.url }, { metrics: reg });
      await src.open(openOpts(HALO));
      const c1 = (await src.next(1e9))!;
      decodeChunk(c1);
      const c2 = (await src.next(1e9))!;
      src.afterAttempt(c2); // as the dispatcher does when a worker died before filling
      const c3 = (await src.next(1e9))!;
      assert.ok(fillOf(c3).fetchFromMs! < c3.startMs, 'the successor of a failed chunk fetches its history');
      assert.equal(fillOf(c3).tailIn, undefined);
      assert.equal(await counterValue(reg, 'promflux_extract_halo_handoffs_total', { outcome: 'refetched' }), 1);
      // c2's retry still has its own (published) halo; c3 publishes for c4
      for (const c of [c2, c3]) assert.equal(JSON.stringify(decodeChunk(c).rows), want.get(c.id));
      const c4 = (await src.next(1e9))!;
      assert.equal(fillOf(c4).fetchFromMs, c4.startMs, 'the chain resumes after the fallback');
      assert.equal(JSON.stringify(decodeChunk(c4).rows), want.get(c4.id));
      await src.close();
    });
  });
}

describe('halo hand-off end to end (remote read)', () => {
  test('lines identical to a single-chunk run and to re-fetching; extraction bytes per sample within 1.1× of a 60-sample window', async (t) => {
    const stored = dataset().reduce((a, s) => a + s.ts.length, 0);
    const run = async (tag: string, window: number | string, source: Record<string, unknown>, engine: { workers: number; batchSize: number | 'auto' }) => {
      const path = join(tmp, `${tag}.lp`);
      const metrics = createEngineMetrics();
      const s = await createPipeline(
        {
          name: tag,
          source: { kind: 'prometheus', url: prom.url, ...WINDOW, extraction: 'remote-read', queries: [{ name: 'all', expr: '{__name__=~"test_.+"}' }], ...source },
          transform: [{ kind: 'validate' }, { kind: 'rolling', windows: [window], stats: ['mean', 'std', 'min', 'max'] }],
          sink: { kind: 'file', path },
        } as never,
        { ...engine, metrics },
      ).run();
      assert.equal(s.status, 'ok', s.error?.message);
      assert.equal(s.samplesIn, stored, `${tag}: every stored sample read once`);
      assert.equal(s.samplesIn, s.linesOut + droppedTotal(s));
      const bytes = await counterValue(metrics.registry, 'promflux_extract_bytes_total', { endpoint: 'read' });
      const lines = readFileSync(path, 'utf8').split('\n').filter(Boolean).sort();
      return { lines, bytes, summary: s };
    };
    const handed = await run('handed', '2h', { maxChunk: '20m' }, { workers: 2, batchSize: 'auto' });
    const single = await run('single', '2h', {}, { workers: 1, batchSize: 1_000_000 });
    const refetch = await run('refetch', '2h', { maxChunk: '20m', haloHandoff: false }, { workers: 2, batchSize: 3_000 });
    assert.equal(handed.summary.counters['halo_short'] ?? 0, 0);
    assert.deepEqual(handed.lines, single.lines, 'hand-off run = single-chunk run, line for line');
    assert.deepEqual(refetch.lines, single.lines, 're-fetch run = single-chunk run');
    const short = await run('w60', 60, { maxChunk: '20m' }, { workers: 2, batchSize: 'auto' });
    const ratio = handed.bytes / stored / (short.bytes / stored);
    t.diagnostic(`read bytes per stored sample: 2h window ${(handed.bytes / stored).toFixed(3)} (hand-off), ${(refetch.bytes / stored).toFixed(3)} (re-fetch), 60-sample window ${(short.bytes / stored).toFixed(3)}, single chunk ${(single.bytes / stored).toFixed(3)}`);
    assert.ok(ratio <= 1.1, `extraction bytes per stored sample: 2h window ${(handed.bytes / stored).toFixed(3)}, 60-sample window ${(short.bytes / stored).toFixed(3)} (×${ratio.toFixed(3)})`);
    assert.ok(refetch.bytes > handed.bytes * 2, `re-fetching history read ${refetch.bytes} bytes, hand-off ${handed.bytes}`);
  });
});
