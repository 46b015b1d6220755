/**
 * Resume never loses output (issue #11): the real CLI with the synthetic source (no server needed)
 * into the file sink (plain and gzip) and the Arrow sink, under --checkpoint, killed with SIGKILL at
 * seeded moments (before the first commit, and at seeded delays after a commit), then the same
 * command again until it completes. The result must equal an uninterrupted run's: every line or row
 * present exactly once, none torn. After each kill, what the checkpoint claims must be intact on
 * disk (whole lines / whole gzip members / readable Arrow parts, each line one of the reference's).
 * Also: sinks that cannot resume refuse a checkpoint, a checkpoint cannot be resumed into another
 * sink or a vanished file, and a run without a checkpoint still truncates its output.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { unpack } from 'msgpackr';
import { tableFromIPC } from 'apache-arrow';
import { mulberry32, runCli, sleep, startCli } from './harness/cli.js';
import { createPipeline, droppedTotal } from '../src/pipeline/run.js';
import type { EncodedBatch, Sink, SinkWriteResult } from '../src/load/sink.js';

const require = createRequire(import.meta.url);
const pl = require('nodejs-polars') as typeof import('nodejs-polars');

const tmp = mkdtempSync(join(tmpdir(), 'promflux-resume-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

// 350 000 rows in 350 batches of 1 000 rows, about 1 s of batches on one worker when the machine is
// idle; commits every 100 ms (checkpoint.intervalMs), so SIGKILLs land before, between and after them.
const PIPELINE = `pipelines:
  - name: resume
    source: { kind: synthetic, series: 70, samplesPerSeries: 5000, seed: 7, nanRate: 0.001, gapRate: 0.001, outlierRate: 0.0005 }
    transform:
      - kind: validate
      - kind: rolling
        windows: [5, 30]
        stats: [mean]
    sink: { kind: "null" }
    engine: { workers: 1, batchSize: 1000, maxInFlight: 1 }
`;
/** The same pipeline without a checkpoint (the references), and with one written every 100 ms. */
const CONFIG_REF = join(tmp, 'reference.yaml');
const CONFIG = join(tmp, 'resume.yaml');
writeFileSync(CONFIG_REF, PIPELINE);
writeFileSync(CONFIG, `${PIPELINE}    checkpoint: { dir: ${join(tmp, 'unused')}, intervalMs: 100 }\n`);

interface Checkpoint {
  version: number;
  done: boolean;
  covered: Record<string, Array<[number, number]>>;
  sink?: { kind: string; state?: Record<string, unknown> };
}

function readCheckpoint(dir: string): Checkpoint | undefined {
  const f = join(dir, 'resume.ckpt');
  return existsSync(f) ? (unpack(readFileSync(f)) as Checkpoint) : undefined;
}

/** Multiset comparison with the reference: lines/rows missing, extra (incl. torn) and repeated. */
function compare(ref: readonly string[], got: readonly string[]): { missing: number; extra: number; repeated: number; examples: string[] } {
  const want = new Map<string, number>();
  for (const l of ref) want.set(l, (want.get(l) ?? 0) + 1);
  const seen = new Map<string, number>();
  let extra = 0;
  let repeated = 0;
  const examples: string[] = [];
  for (const l of got) {
    const n = (seen.get(l) ?? 0) + 1;
    seen.set(l, n);
    const w = want.get(l) ?? 0;
    if (w === 0) {
      extra++;
      if (examples.length < 3) examples.push(`extra: ${l.slice(0, 160)}`);
    } else if (n > w) {
      repeated++;
      if (examples.length < 3) examples.push(`repeated: ${l.slice(0, 160)}`);
    }
  }
  let missing = 0;
  for (const [l, w] of want) {
    const n = seen.get(l) ?? 0;
    if (n < w) {
      missing += w - n;
      if (examples.length < 6) examples.push(`missing: ${l.slice(0, 160)}`);
    }
  }
  return { missing, extra, repeated, examples };
}

const linesOf = (text: string): string[] => {
  assert.ok(text.length === 0 || text.endsWith('\n'), 'the text ends with a whole line');
  return text.split('\n').slice(0, -1);
};

/** Every row of an Arrow IPC file as one string (bit-exact floats via their hex). */
function arrowRows(buf: Uint8Array): string[] {
  const t = tableFromIPC(buf);
  const names = t.schema.fields.map((f) => f.name);
  const cols = names.map((n) => t.getChild(n)!.toArray() as ArrayLike<unknown>);
  const f64 = new Float64Array(1);
  const u32 = new Uint32Array(f64.buffer);
  const out: string[] = new Array(t.numRows);
  for (let i = 0; i < t.numRows; i++) {
    let s = '';
    for (let c = 0; c < cols.length; c++) {
      const v = cols[c]![i];
      if (typeof v === 'number' && names[c] !== 'flags') {
        f64[0] = v;
        s += `${u32[1]!.toString(16)}:${u32[0]!.toString(16)}|`;
      } else s += `${String(v)}|`;
    }
    out[i] = s;
  }
  return out;
}

interface Trial {
  /** SIGKILL delays (ms) and whether the kill hit a running process. */
  kills: Array<{ after: string; delay: number; hit: boolean; claimed: string }>;
  final: Record<string, any>;
}

/**
 * Three attempts killed with SIGKILL (the first at a seeded moment after its first batch, the
 * others at a seeded delay after a commit was recorded), `check` run on what each kill left, then
 * the same command until it exits 0.
 */
async function killAndResume(sinkFlag: string, seed: number, check: (ck: Checkpoint | undefined, label: string) => string): Promise<Trial> {
  const rnd = mulberry32(seed);
  const ck = join(tmp, `ck-${seed}`);
  const summary = join(tmp, `summary-${seed}.json`);
  const args = ['run', '--config', CONFIG, '--sink', sinkFlag, '--checkpoint', ck, '--summary-json', summary, '--log-level', 'debug'];
  const kills: Trial['kills'] = [];
  for (let attempt = 0; attempt < 3; attempt++) {
    const p = startCli(args);
    const first = attempt === 0;
    // (a commit that recorded chunks of this attempt, not the empty one before its first batch)
    const waitFor = first ? /"msg":"batch written"/ : /"chunks":[1-9].*"msg":"sink commit recorded"/;
    const delay = first ? 20 + Math.floor(rnd() * 300) : Math.floor(rnd() * 150);
    let hit = false;
    try {
      await p.waitForStderr(waitFor, 30_000);
      await Promise.race([sleep(delay), p.exited]);
      hit = p.child.exitCode === null;
    } catch {
      // it finished before the moment came
    }
    p.child.kill('SIGKILL');
    const e = await p.exited;
    if (hit) assert.equal(e.signal, 'SIGKILL');
    else assert.equal(e.code, 0, `attempt ${attempt} ended on its own but failed: ${e.stderr.slice(-2000)}`);
    const label = `${sinkFlag} attempt ${attempt} (killed ${delay} ms after ${first ? 'its first batch' : 'a commit'})`;
    kills.push({ after: first ? 'first batch' : 'commit', delay, hit, claimed: check(readCheckpoint(ck), label) });
  }
  const r = await runCli(args);
  assert.equal(r.code, 0, `the resumed run failed: ${r.stderr.slice(-2000)}`);
  const final = JSON.parse(readFileSync(summary, 'utf8')) as Record<string, any>;
  assert.equal(final.status, 'ok');
  assert.equal(final.checkpoint.done, true);
  assert.equal(readCheckpoint(ck)?.done, true);
  return { kills, final };
}

let refLines: string[] = [];
let refRows: string[] = [];

before(async () => {
  // Uninterrupted runs without a checkpoint: the references.
  const lp = join(tmp, 'ref.lp');
  const arrow = join(tmp, 'ref.arrow');
  const [a, b] = [await runCli(['run', '--config', CONFIG_REF, '--sink', `file:${lp}`, '--json']), await runCli(['run', '--config', CONFIG_REF, '--sink', `arrow:${arrow}`, '--json'])];
  assert.equal(a.code, 0, a.stderr.slice(-2000));
  assert.equal(b.code, 0, b.stderr.slice(-2000));
  refLines = linesOf(readFileSync(lp, 'utf8'));
  refRows = arrowRows(readFileSync(arrow));
  assert.ok(refLines.length > 300_000, `reference has ${refLines.length} lines`);
  assert.equal(refRows.length, refLines.length, 'the Arrow reference has as many rows as the line-protocol one');
});

describe('resume keeps the output of killed attempts (real CLI, SIGKILL)', () => {
  for (const gzip of [false, true]) {
    test(`the ${gzip ? 'gzip ' : ''}file sink: three kills, then the same command; every line once, none torn, as uninterrupted`, async (t) => {
      const path = join(tmp, gzip ? 'out.lp.gz' : 'out.lp');
      const ref = new Set(refLines);
      // (an empty prefix is no gzip stream at all: a commit recorded before the first write claims 0 bytes)
      const read = (buf: Buffer): string => (gzip && buf.byteLength > 0 ? gunzipSync(buf) : buf).toString('utf8');
      const trial = await killAndResume(`file:${path}`, gzip ? 0x5eed_0b02 : 0x5eed_0b01, (ck, label) => {
        const state = ck?.sink?.state as { offset: number; gzip: boolean } | undefined;
        const file = existsSync(path) ? readFileSync(path) : Buffer.alloc(0);
        if (!state) return `no commit (file ${file.byteLength} bytes)`;
        assert.equal(ck!.sink!.kind, 'file');
        assert.equal(state.gzip, gzip);
        assert.ok(state.offset <= file.byteLength, `${label}: the checkpoint claims ${state.offset} bytes, the file has ${file.byteLength}`);
        // The committed prefix is whole: whole lines (plain) or whole gzip members, each line a reference line, none twice.
        const lines = linesOf(read(file.subarray(0, state.offset)));
        assert.equal(new Set(lines).size, lines.length, `${label}: a line repeated in the committed prefix`);
        for (const l of lines) assert.ok(ref.has(l), `${label}: committed line not in the reference: ${l.slice(0, 200)}`);
        return `${lines.length} lines in ${state.offset} of ${file.byteLength} bytes`;
      });
      const d = compare(refLines, linesOf(read(readFileSync(path))));
      t.diagnostic(`kills: ${JSON.stringify(trial.kills)}; resumed run: ${trial.final.samplesIn} samples, sink ${JSON.stringify(trial.final.sink)}`);
      assert.deepEqual({ missing: d.missing, extra: d.extra, repeated: d.repeated }, { missing: 0, extra: 0, repeated: 0 }, `${JSON.stringify(trial.kills)}: ${d.examples.join('; ')}`);
      assert.ok(trial.kills.filter((k) => k.hit).length >= 2, `the kills hit a running process only ${trial.kills.filter((k) => k.hit).length} times`);
      assert.ok(trial.final.sink.resumedAtByte > 0, 'the last run resumed from committed output');
      assert.ok(trial.final.samplesIn < 70 * 5_000, 'the last run read only the rest');
    });
  }

  test('the Arrow sink: three kills, then the same command; every row once as uninterrupted, each committed part readable by apache-arrow and nodejs-polars', async (t) => {
    const path = join(tmp, 'out.arrow');
    const partsDir = `${path}.parts`;
    const ref = new Set(refRows);
    let partsChecked = 0;
    const trial = await killAndResume(`arrow:${path}`, 0x5eed_0b03, (ck, label) => {
      const state = ck?.sink?.state as { parts: string[]; partRows: number[]; merged: boolean } | undefined;
      if (!state) return 'no commit';
      assert.equal(ck!.sink!.kind, 'arrow');
      if (state.merged) return 'complete';
      const seen = new Set<string>();
      for (let i = 0; i < state.parts.length; i++) {
        const buf = readFileSync(join(partsDir, state.parts[i]!));
        const rows = arrowRows(buf);
        assert.equal(rows.length, state.partRows[i], `${label}: part ${state.parts[i]} rows`);
        // nodejs-polars reads a buffer (a string argument is taken as a path only when it ends in .ipc)
        const df = pl.readIPC(buf);
        assert.equal(df.height, rows.length, `${label}: polars reads part ${state.parts[i]}`);
        assert.deepEqual(df.columns.slice(0, 4), ['series', 'timestamp', 'value', 'flags']);
        for (const r of rows) {
          assert.ok(ref.has(r), `${label}: committed row not in the reference: ${r.slice(0, 200)}`);
          assert.ok(!seen.has(r), `${label}: committed row twice: ${r.slice(0, 200)}`);
          seen.add(r);
        }
        partsChecked++;
      }
      const onDisk = existsSync(partsDir) ? readdirSync(partsDir).length : 0;
      return `${state.parts.length} parts listed (${seen.size} rows), ${onDisk} on disk`;
    });
    const buf = readFileSync(path);
    const d = compare(refRows, arrowRows(buf));
    t.diagnostic(`kills: ${JSON.stringify(trial.kills)}; resumed run: ${trial.final.samplesIn} samples, sink ${JSON.stringify(trial.final.sink)}; ${partsChecked} parts checked`);
    assert.deepEqual({ missing: d.missing, extra: d.extra, repeated: d.repeated }, { missing: 0, extra: 0, repeated: 0 }, `${JSON.stringify(trial.kills)}: ${d.examples.join('; ')}`);
    assert.equal(pl.readIPC(buf).height, refRows.length, 'nodejs-polars reads the merged file');
    assert.ok(!existsSync(partsDir), 'the parts are removed once merged');
    assert.ok(partsChecked > 0, 'some kill left committed parts to check');
    assert.ok(trial.kills.filter((k) => k.hit).length >= 2, `the kills hit a running process only ${trial.kills.filter((k) => k.hit).length} times`);
    assert.ok(trial.final.samplesIn < 70 * 5_000, 'the last run read only the rest');
  });
});

describe('sinks and checkpoints', () => {
  const small = (sink: Record<string, unknown>, checkpoint?: string) => ({
    name: 'small',
    source: { kind: 'synthetic' as const, series: 14, samplesPerSeries: 500, seed: 5 },
    transform: [{ kind: 'validate' }],
    sink: sink as { kind: 'null' },
    engine: { batchSize: 1000 },
    ...(checkpoint ? { checkpoint } : {}),
  });

  test('a sink that can neither rewrite idempotently nor keep its output refuses a checkpoint, naming the sink and what to do', async () => {
    /** A real custom sink (library plugin API) that keeps lines in memory and declares no resume support. */
    class MemorySink implements Sink {
      readonly kind = 'memory';
      readonly needs = { lineProtocol: true, columns: false };
      lines = 0;
      async open(): Promise<void> {}
      async write(b: EncodedBatch): Promise<SinkWriteResult> {
        this.lines += b.lines;
        return { written: b.lines };
      }
      async close(): Promise<void> {}
    }
    const sink = new MemorySink();
    await assert.rejects(
      createPipeline(small({ kind: 'null' }), { sink, checkpointDir: join(tmp, 'ck-memory') }).run(),
      (e: Error & { code?: string }) => e.code === 'PROMFLUX_CONFIG' && /sink "memory" cannot resume from a checkpoint/.test(e.message) && /run without --checkpoint/.test(e.message),
    );
    assert.equal(sink.lines, 0, 'nothing was written');
    // Without a checkpoint the same sink runs.
    const s = await createPipeline(small({ kind: 'null' }), { sink }).run();
    assert.equal(s.status, 'ok');
    assert.equal(sink.lines, s.linesOut);
  });

  test('the null sink runs under a checkpoint, and the same run again finds it done', async () => {
    const dir = join(tmp, 'ck-null');
    const s1 = await createPipeline(small({ kind: 'null' }, dir)).run();
    assert.equal(s1.status, 'ok');
    assert.equal(s1.checkpoint?.done, true);
    assert.equal(s1.samplesIn, 14 * 500);
    const s2 = await createPipeline(small({ kind: 'null' }, dir)).run();
    assert.equal(s2.status, 'ok');
    assert.equal(s2.samplesIn, 0);
    assert.equal(droppedTotal(s2), 0);
  });

  test('a checkpoint of a file sink is not resumed into another file or sink, nor into a vanished file: clear errors, output untouched', async () => {
    const dir = join(tmp, 'ck-mismatch');
    const a = join(tmp, 'mm-a.lp');
    const ac = new AbortController();
    const p = createPipeline(small({ kind: 'file', path: a }, dir), { workers: 1 });
    let n = 0;
    p.on('batch', () => {
      if (++n === 2) ac.abort();
    });
    const s1 = await p.run({ signal: ac.signal });
    assert.equal(s1.status, 'aborted');
    const before = readFileSync(a, 'utf8');
    assert.equal(linesOf(before).length, s1.linesOut);

    const other = await createPipeline(small({ kind: 'file', path: join(tmp, 'mm-b.lp') }, dir)).run();
    assert.equal(other.status, 'failed');
    assert.equal(other.error?.code, 'PROMFLUX_CHECKPOINT_SINK_MISMATCH');
    assert.match(other.error!.message, /mm-a\.lp.*mm-b\.lp.*move the checkpoint away/);
    const toNull = await createPipeline(small({ kind: 'null' }, dir)).run();
    assert.equal(toNull.error?.code, 'PROMFLUX_CHECKPOINT_SINK_MISMATCH');
    assert.match(toNull.error!.message, /file sink.*null sink/);
    assert.equal(readFileSync(a, 'utf8'), before, 'the first run\'s output is untouched');

    rmSync(a);
    const gone = await createPipeline(small({ kind: 'file', path: a }, dir)).run();
    assert.equal(gone.error?.code, 'PROMFLUX_RESUME_OUTPUT_MISSING');
    assert.match(gone.error!.message, /holds \d+ committed bytes, but it does not exist/);
  });

  test('a run resumed with another batch size keeps the checkpoint\'s blocks: the file still holds every line once', async () => {
    const dir = join(tmp, 'ck-batch');
    const out = join(tmp, 'batch.lp');
    const cfg = (batchSize: number, path: string, checkpoint?: string) => ({
      name: 'batch',
      source: { kind: 'synthetic' as const, series: 70, samplesPerSeries: 2000, seed: 9 },
      transform: [{ kind: 'validate' }, { kind: 'rolling', windows: [5], stats: ['mean'] }],
      sink: { kind: 'file' as const, path },
      engine: { batchSize, maxInFlight: 1 },
      ...(checkpoint ? { checkpoint } : {}),
    });
    const ac = new AbortController();
    const p = createPipeline(cfg(1000, out, dir), { workers: 1 });
    let n = 0;
    p.on('batch', () => {
      if (++n === 30) ac.abort();
    });
    const s1 = await p.run({ signal: ac.signal });
    assert.equal(s1.status, 'aborted');
    const s2 = await createPipeline(cfg(50_000, out, dir), { workers: 1 }).run();
    assert.equal(s2.status, 'ok');
    const ref = await createPipeline(cfg(50_000, join(tmp, 'batch-ref.lp')), { workers: 1 }).run();
    assert.equal(s1.samplesIn + s2.samplesIn, ref.samplesIn, 'the resumed run read only the rest');
    const d = compare(linesOf(readFileSync(join(tmp, 'batch-ref.lp'), 'utf8')), linesOf(readFileSync(out, 'utf8')));
    assert.deepEqual({ missing: d.missing, extra: d.extra, repeated: d.repeated }, { missing: 0, extra: 0, repeated: 0 }, d.examples.join('; '));
  });

  test('without a checkpoint the file and Arrow sinks truncate what was there, as before', async () => {
    const lp = join(tmp, 'trunc.lp');
    const arrow = join(tmp, 'trunc.arrow');
    writeFileSync(lp, 'stale line that must go\n'.repeat(1000));
    writeFileSync(arrow, 'not an arrow file');
    const s1 = await createPipeline(small({ kind: 'file', path: lp })).run();
    const s2 = await createPipeline(small({ kind: 'arrow', path: arrow })).run();
    assert.equal(s1.status, 'ok');
    assert.equal(s2.status, 'ok');
    const lines = linesOf(readFileSync(lp, 'utf8'));
    assert.equal(lines.length, s1.linesOut);
    assert.ok(!lines.some((l) => l.startsWith('stale')));
    assert.equal(tableFromIPC(readFileSync(arrow)).numRows, s2.linesOut);
    assert.ok(!existsSync(`${arrow}.parts`), 'no part files without a checkpoint');
  });
});

describe('Arrow sink parts and base file (sink API, as an incremental pipeline uses it run after run)', () => {
  /** A batch of `n` rows for series "s", timestamps from t0, as the workers lay them out. */
  function batch(id: number, t0: number, n: number): EncodedBatch {
    const key = new TextEncoder().encode('s{a="1"}');
    const offsets = new Int32Array(new SharedArrayBuffer(4 * (n + 1)));
    const data = new Uint8Array(new SharedArrayBuffer(key.length * n));
    const ts = new Float64Array(new SharedArrayBuffer(8 * n));
    const ts64 = new BigInt64Array(new SharedArrayBuffer(8 * n));
    const value = new Float64Array(new SharedArrayBuffer(8 * n));
    const flags = new Uint32Array(new SharedArrayBuffer(4 * n));
    const f = new Float64Array(new SharedArrayBuffer(8 * n));
    for (let i = 0; i < n; i++) {
      data.set(key, i * key.length);
      offsets[i + 1] = (i + 1) * key.length;
      ts[i] = t0 + i;
      ts64[i] = BigInt(t0 + i);
      value[i] = (t0 + i) / 3;
      f[i] = -(t0 + i);
    }
    return {
      batchId: id,
      chunkId: `c${id}`,
      lp: null,
      lines: n,
      seriesKeys: ['s{a="1"}'],
      columns: {
        rows: n,
        series: new SharedArrayBuffer(4 * n),
        seriesKeys: ['s{a="1"}'],
        seriesOffsets: offsets.buffer as SharedArrayBuffer,
        seriesData: data.buffer as SharedArrayBuffer,
        ts: ts.buffer as SharedArrayBuffer,
        ts64: ts64.buffer as SharedArrayBuffer,
        value: value.buffer as SharedArrayBuffer,
        flags: flags.buffer as SharedArrayBuffer,
        featureNames: ['f'],
        features: [f.buffer as SharedArrayBuffer],
      },
    };
  }
  const values = (path: string): number[] => [...(tableFromIPC(readFileSync(path)).getChild('value')!.toArray() as Float64Array)];
  const expectedValues = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => (from + i) / 3);

  test('a completed output becomes the base: the next run adds parts and folds them after it; an unrecorded fold is adopted, not repeated', async () => {
    const { ArrowSink } = await import('../src/load/arrow.js');
    const path = join(tmp, 'base.arrow');
    // run 1: rows 0..300 in two commits, then complete
    const a = new ArrowSink(path, ['f']);
    await a.restore(undefined);
    await a.open();
    await a.write(batch(0, 0, 100));
    const c1 = await a.commit({ final: false, complete: false });
    await a.write(batch(1, 100, 200));
    const c2 = await a.commit({ final: true, complete: false });
    const c3 = await a.commit({ final: true, complete: true });
    await a.close();
    assert.equal(c1?.writes, 1);
    assert.equal(c2?.writes, 2);
    assert.deepEqual((c2!.state as { parts: string[] }).parts.length, 2);
    assert.deepEqual({ base: c3!.state.base, parts: c3!.state.parts }, { base: true, parts: [] });
    assert.deepEqual(values(path), expectedValues(0, 300));
    assert.ok(!existsSync(`${path}.parts`));

    // run 2 (a later incremental run): rows 300..350 as a part after the base; the fold's record is "lost"
    const b = new ArrowSink(path, ['f']);
    await b.restore(c3!.state);
    await b.open();
    await b.write(batch(2, 300, 50));
    const d1 = await b.commit({ final: true, complete: false });
    assert.deepEqual(values(path), expectedValues(0, 300), 'the base is untouched until the fold');
    await b.commit({ final: true, complete: true });
    await b.close();
    assert.deepEqual(values(path), expectedValues(0, 350));

    // a crash right after the fold's rename: the checkpoint still holds d1 (base + one listed part)
    const c = new ArrowSink(path, ['f']);
    await c.restore(d1!.state);
    await c.open();
    const e = await c.commit({ final: true, complete: true });
    await c.close();
    assert.deepEqual({ base: e!.state.base, parts: e!.state.parts }, { base: true, parts: [] });
    assert.deepEqual(values(path), expectedValues(0, 350), 'the folded rows are not added twice');
    assert.equal(pl.readIPC(readFileSync(path)).height, 350);
  });
});
