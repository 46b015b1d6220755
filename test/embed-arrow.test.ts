/**
 * Issue #20, point 9: the Arrow sink's output as a data scientist reads it. The `series` column is
 * dictionary-encoded (one dictionary per file), `sort: batch` orders each record batch by
 * (series, timestamp), nodejs-polars reads the file with the documented dtypes, and write() waits
 * for the disk (a fifo nobody reads holds it back).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { DataType, tableFromIPC, type Table } from 'apache-arrow';
import pl from 'nodejs-polars';
import { ArrowSink, createPipeline, type EncodedBatch } from '../src/index.js';
import { ARROW_HIGH_WATER_BYTES } from '../src/load/arrow.js';

const tmp = mkdtempSync(join(tmpdir(), 'promflux-embed-arrow-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const source = { kind: 'synthetic', series: 140, samplesPerSeries: 600 } as const;
const transform = [{ kind: 'validate' }, { kind: 'rolling', windows: [5], stats: ['mean'] }];

async function runTo(path: string, sort: 'none' | 'batch', batchSize: number) {
  const s = await createPipeline({ name: 'arrow', source, transform, sink: { kind: 'arrow', path, sort } } as never, { workers: 2, batchSize }).run();
  assert.equal(s.status, 'ok', JSON.stringify(s.error));
  return s;
}

/** Rows as "series|timestamp|value" strings, in file order. */
function rowsOf(t: Table): string[] {
  const series = t.getChild('series')!;
  const ts = t.getChild('timestamp')!;
  const value = t.getChild('value')!;
  const out: string[] = [];
  for (let i = 0; i < t.numRows; i++) out.push(`${series.get(i)}|${Number(ts.get(i))}|${value.get(i)}`);
  return out;
}

describe('Arrow sink: dictionary-encoded series, sorted batches, polars dtypes, backpressure', () => {
  test('the series column is Dictionary<Int32, Utf8> with one dictionary for the file, and the file is far smaller than the keys as plain strings', async () => {
    const path = join(tmp, 'dict.arrow');
    const s = await runTo(path, 'none', 3000);
    const buf = readFileSync(path);
    const t = tableFromIPC(buf);
    const field = t.schema.fields.find((f) => f.name === 'series')!;
    assert.ok(DataType.isDictionary(field.type), `series is ${field.type}`);
    assert.equal(String(field.type.indices), 'Int32');
    assert.equal(String(field.type.dictionary), 'Utf8');
    assert.equal(t.numRows, s.linesOut);
    assert.ok(t.batches.length > 3, 'several record batches share the dictionary');
    const keys = new Set(rowsOf(t).map((r) => r.split('|')[0]));
    assert.equal(keys.size, source.series);
    // plain Utf8 would need every row's key bytes; the dictionary holds each key once
    let keyBytes = 0;
    for (const r of rowsOf(t)) keyBytes += Buffer.byteLength(r.split('|')[0]!);
    assert.ok(statSync(path).size < keyBytes / 2, `file ${statSync(path).size} B vs ${keyBytes} B of series keys as Utf8`);
  });

  test('nodejs-polars reads it with the documented dtypes: series Categorical, timestamp Datetime(ms, UTC), value Float64, features Float64', async () => {
    const path = join(tmp, 'polars.arrow');
    const s = await runTo(path, 'batch', 3000);
    const df = pl.readIPC(readFileSync(path));
    assert.equal(df.height, s.linesOut);
    const dtypes = Object.fromEntries(df.columns.map((c, i) => [c, String(df.dtypes[i])]));
    assert.match(dtypes.series!, /Categorical/);
    assert.match(dtypes.timestamp!, /Datetime/);
    assert.match(dtypes.timestamp!, /ms|Milli/i);
    assert.match(dtypes.timestamp!, /UTC/);
    assert.match(dtypes.value!, /Float64/);
    assert.match(dtypes.flags!, /UInt32/);
    for (const f of s.features) assert.match(dtypes[f]!, /Float64/, f);
    assert.equal(df.getColumn('series').nUnique(), source.series);
  });

  test('sort: batch orders every record batch by (series, timestamp) and keeps exactly the rows of an unsorted run', async () => {
    const plainPath = join(tmp, 'plain.arrow');
    const sortedPath = join(tmp, 'sorted.arrow');
    await runTo(plainPath, 'none', 3000);
    await runTo(sortedPath, 'batch', 3000);
    const plain = tableFromIPC(readFileSync(plainPath));
    const sorted = tableFromIPC(readFileSync(sortedPath));
    assert.equal(sorted.schema.metadata.get('promflux.sort'), 'batch');
    let unsortedBatches = 0;
    for (const b of sorted.batches) {
      const series = b.getChild('series')!;
      const ts = b.getChild('timestamp')!;
      for (let i = 1; i < b.numRows; i++) {
        const k0 = String(series.get(i - 1));
        const k1 = String(series.get(i));
        assert.ok(k0 < k1 || (k0 === k1 && Number(ts.get(i - 1)) < Number(ts.get(i))), `batch rows ${i - 1}, ${i}: ${k0}@${ts.get(i - 1)} then ${k1}@${ts.get(i)}`);
      }
    }
    for (const b of plain.batches) {
      const series = b.getChild('series')!;
      for (let i = 1; i < b.numRows; i++) if (String(series.get(i - 1)) > String(series.get(i))) unsortedBatches++;
    }
    assert.ok(unsortedBatches > 0, 'the synthetic source\'s batch order is not key order, so the sort did something');
    assert.deepEqual(rowsOf(sorted).sort(), rowsOf(plain).sort(), 'same rows, only their order differs');
  });

  test('write() waits for the disk: into a fifo whose reader waits 1.5 s, a 9 MB batch resolves only once the reader drains it', async () => {
    const fifo = join(tmp, 'slow.fifo');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
    // opens the read end at once (so the sink's open() completes), reads nothing for 1.5 s, then everything
    const reader = spawn('sh', ['-c', `exec 3< '${fifo}'; sleep 1.5; cat <&3 > /dev/null`], { stdio: 'ignore' });
    // listen at once: the reader may exit while close() is still awaiting (a listener added after
    // that never fires, and the test ended as "event loop resolved with a promise pending")
    const readerExit = new Promise((res) => reader.on('exit', res));
    const sink = new ArrowSink(fifo, []);
    await sink.open();
    const n = 400_000;
    const sab = (bytes: number) => new SharedArrayBuffer(bytes);
    const ts64 = new Int32Array(sab(n * 8));
    for (let i = 0; i < n; i++) ts64[2 * i] = i;
    const batch: EncodedBatch = {
      batchId: 1,
      chunkId: 'fifo',
      lp: null,
      lines: n,
      seriesKeys: ['m{a="1"}'],
      columns: {
        rows: n,
        series: sab(n * 4),
        seriesKeys: ['m{a="1"}'],
        seriesOffsets: sab((n + 1) * 4),
        seriesData: sab(8),
        ts: sab(n * 8),
        ts64: ts64.buffer as SharedArrayBuffer,
        value: sab(n * 8),
        flags: sab(n * 4),
        featureNames: [],
        features: [],
      },
    };
    assert.ok(n * 24 > ARROW_HIGH_WATER_BYTES + 1024 * 1024, 'the batch is larger than what may wait in memory');
    const t0 = performance.now();
    const r = await sink.write(batch);
    const waited = performance.now() - t0;
    assert.equal(r.written, n);
    assert.ok(waited >= 1000, `write() resolved after ${waited.toFixed(0)} ms, before the reader read anything`);
    await sink.close();
    await readerExit;
  });
});
