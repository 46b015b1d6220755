/**
 * The stop deadline in the library (createPipeline + an AbortSignal), with sinks the engine does
 * not know: a sink whose writes never answer and that cannot cancel them, and one that can. The
 * CLI and real-server side is test/ops-stop.test.ts.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { createPipeline } from '../src/pipeline/run.js';
import { StopDeadline, StopRequested } from '../src/pipeline/stop.js';
import type { EncodedBatch, Sink, SinkWriteResult } from '../src/load/sink.js';

const synthetic = { kind: 'synthetic' as const, series: 7, samplesPerSeries: 50_000, nanRate: 0.01 };
const silent = pino({ level: 'silent' });
const tmp = mkdtempSync(join(tmpdir(), 'promflux-ops-stop-lib-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A sink that acknowledges its first `ok` writes, then never answers; `cancel` (optional) rejects the waiting ones. */
function hangingSink(ok: number, withCancel: boolean) {
  const pending: Array<{ lines: number; reject: (e: Error) => void }> = [];
  const state = { acked: 0, ackedLines: 0, cancels: 0, writes: 0 };
  const sink: Sink = {
    kind: 'hanging',
    needs: { lineProtocol: true, columns: false },
    resume: 'idempotent',
    async open() {},
    write(b: EncodedBatch): Promise<SinkWriteResult> {
      state.writes++;
      if (state.acked < ok) {
        state.acked++;
        state.ackedLines += b.lines;
        return Promise.resolve({ written: b.lines });
      }
      return new Promise((_resolve, reject) => pending.push({ lines: b.lines, reject }));
    },
    async close() {},
    ...(withCancel
      ? {
          cancel() {
            state.cancels++;
            for (const p of pending.splice(0)) p.reject(new Error('cancelled'));
          },
        }
      : {}),
  };
  return { sink, state, pending };
}

async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!cond()) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('stop deadline (library)', () => {
  test('a sink that never answers and cannot cancel: its writes are abandoned at stopTimeoutMs; status stopped, the batches listed as unacknowledged, nothing of them accounted', async () => {
    const { sink, state, pending } = hangingSink(2, false);
    const p = createPipeline(
      { name: 'hang', source: synthetic, transform: [{ kind: 'validate' }], engine: { workers: 1, batchSize: 5000, maxInFlight: 2, stopTimeoutMs: 300 } },
      { sink, logger: silent },
    );
    const ac = new AbortController();
    const run = p.run({ signal: ac.signal });
    await until(() => pending.length === 2, 'two writes waiting');
    const t0 = performance.now();
    ac.abort(new StopRequested('SIGTERM'));
    const s = await run;
    const took = performance.now() - t0;
    assert.ok(took >= 280 && took < 3_000, `the stop waited for the deadline, then ended (${Math.round(took)} ms)`);
    assert.equal(s.status, 'stopped');
    assert.equal(s.stop?.ending, 'deadline');
    assert.equal(s.stop?.requestedBy, 'SIGTERM');
    const u = s.stop!.unacknowledged;
    assert.equal(u.batches, 2);
    assert.equal(u.inSink.batches, 2);
    assert.equal(u.inWorkers, 0);
    assert.equal(u.inSink.lines, pending.reduce((a, w) => a + w.lines, 0), 'the lines of the writes left waiting');
    assert.equal(u.chunks.length, 2);
    assert.equal(s.linesOut, state.ackedLines, 'only acknowledged writes are counted');
    assert.equal(s.batches, 2);
    assert.equal(s.samplesIn, s.linesOut + Object.values(s.dropped).reduce((a, b) => a + b, 0));
    assert.equal(s.stop?.remaining, true);
  });

  test('stopNow() (a second signal) cancels at once, long before stopTimeoutMs, and calls the sink\'s cancel() once', async () => {
    const { sink, state, pending } = hangingSink(1, true);
    const p = createPipeline(
      { name: 'now', source: synthetic, transform: [{ kind: 'validate' }], engine: { workers: 1, batchSize: 5000, maxInFlight: 2, stopTimeoutMs: 60_000 } },
      { sink, logger: silent },
    );
    const ac = new AbortController();
    const run = p.run({ signal: ac.signal });
    await until(() => pending.length === 2, 'two writes waiting');
    ac.abort(new StopRequested('SIGINT'));
    await new Promise((r) => setTimeout(r, 100));
    const t0 = performance.now();
    p.stopNow('second SIGINT');
    const s = await run;
    assert.ok(performance.now() - t0 < 2_000);
    assert.equal(state.cancels, 1);
    assert.equal(s.status, 'stopped', 'cancelled writes are unacknowledged, not a failure');
    assert.equal(s.stop?.ending, 'immediate');
    assert.equal(s.stop?.unacknowledged.batches, 2);
    assert.equal(s.linesOut, state.ackedLines);
  });

  test('a healthy sink drains well before the deadline: ending drained, nothing unacknowledged; a non-stop abort is "aborted" with the same report', async () => {
    const { sink } = hangingSink(Number.MAX_SAFE_INTEGER, true);
    const p = createPipeline(
      { name: 'drain', source: { ...synthetic, samplesPerSeries: 400_000 }, transform: [{ kind: 'validate' }], engine: { workers: 1, batchSize: 5000, stopTimeoutMs: 60_000 } },
      { sink, logger: silent },
    );
    const ac = new AbortController();
    p.once('batch', () => ac.abort());
    const t0 = performance.now();
    const s = await p.run({ signal: ac.signal });
    assert.ok(performance.now() - t0 < 30_000);
    assert.equal(s.status, 'aborted');
    assert.equal(s.stop?.requestedBy, 'abort');
    assert.equal(s.stop?.ending, 'drained');
    assert.equal(s.stop?.unacknowledged.batches, 0);
    assert.equal(s.stop?.remaining, true, 'the synthetic plan was not read to its end');
    assert.equal(s.samplesIn, s.linesOut + Object.values(s.dropped).reduce((a, b) => a + b, 0));
  });

  test('a file sink under a checkpoint, stopped and cancelled at once (stopNow while the next batch is in flight): the resume leaves every line exactly once, as an uninterrupted run', async (t) => {
    const base = { name: 'filestop', source: { ...synthetic, samplesPerSeries: 200_000 }, transform: [{ kind: 'validate' }], engine: { workers: 1, batchSize: 5000, maxInFlight: 2, stopTimeoutMs: 0 } };
    const out = join(tmp, 'stopped.lp');
    const cfg = { ...base, sink: { kind: 'file' as const, path: out }, checkpoint: { dir: join(tmp, 'ck'), intervalMs: 10 } };
    const ac = new AbortController();
    const p1 = createPipeline(cfg, { logger: silent });
    let batches = 0;
    p1.on('batch', () => {
      if (++batches !== 5) return;
      ac.abort(new StopRequested('SIGTERM'));
      // cancel now, while batch 6 is in a worker or with the sink (the deadline alone could find it drained)
      p1.stopNow('second SIGTERM');
    });
    const s1 = await p1.run({ signal: ac.signal });
    t.diagnostic(`stop ${s1.stop?.ending}: ${JSON.stringify(s1.stop?.unacknowledged)}; ${s1.samplesIn} samples accounted before the stop`);
    assert.equal(s1.status, 'stopped');
    assert.equal(s1.stop?.ending, 'immediate');
    assert.equal(s1.checkpoint?.done, false);
    const s2 = await createPipeline(cfg, { logger: silent }).run();
    assert.equal(s2.status, 'ok');
    assert.equal(s2.checkpoint?.done, true);
    const ref = join(tmp, 'ref.lp');
    const s3 = await createPipeline({ ...base, name: 'fileref', sink: { kind: 'file' as const, path: ref } }, { logger: silent }).run();
    assert.equal(s3.status, 'ok');
    const lines = (f: string) => readFileSync(f, 'utf8').split('\n').filter((l) => l).sort();
    const got = lines(out);
    const want = lines(ref);
    assert.equal(got.length, want.length, `lines: ${got.length} after stop + resume, ${want.length} uninterrupted (stop ${s1.stop?.ending}, ${s1.stop?.unacknowledged.batches} unacknowledged)`);
    assert.deepEqual(got, want);
  });

  test('StopDeadline: armed by the abort, fires once at the deadline; disposed before it, never', async () => {
    let fired = 0;
    const ac = new AbortController();
    const d = new StopDeadline(ac.signal, 50, silent, () => fired++);
    await new Promise((r) => setTimeout(r, 80));
    assert.equal(fired, 0, 'not armed before the stop');
    ac.abort();
    await new Promise((r) => setTimeout(r, 120));
    assert.equal(fired, 1);
    assert.equal(d.cancel.aborted, true);
    assert.equal(d.ending, 'deadline');
    d.now('again');
    assert.equal(fired, 1, 'once');
    const ac2 = new AbortController();
    const d2 = new StopDeadline(ac2.signal, 50, silent, () => fired++);
    ac2.abort();
    d2.dispose();
    await new Promise((r) => setTimeout(r, 120));
    assert.equal(fired, 1, 'a disposed deadline never fires');
    assert.equal(d2.ending, 'drained');
  });
});
