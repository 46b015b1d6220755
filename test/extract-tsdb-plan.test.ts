/**
 * Planner pieces of the prometheus-tsdb source that need no Prometheus: the series key built from
 * an index entry's label pairs (pairsKey) must be seriesKey's bytes for every input, and the
 * positioned reader (FileWindow) must serve any range of files smaller or larger than its window.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seriesKey } from '../src/batch/layout.js';
import { FileWindow } from '../src/extract/tsdb/files.js';
import { pairsKey } from '../src/extract/tsdb/source.js';

/** seriesKey of the same pairs through a label object (what the planner did before pairsKey). */
function viaObject(pairs: Array<[string, string]>): string {
  let name = '';
  const labels: Record<string, string> = {};
  for (const [n, v] of pairs) {
    if (n === '__name__') name = v;
    else labels[n] = v;
  }
  return seriesKey(name, labels);
}

describe('tsdb planner: series keys from index label pairs', () => {
  test('sorted pairs (as the index stores them) give seriesKey byte for byte', () => {
    const cases: Array<Array<[string, string]>> = [
      [['__name__', 'up']],
      [['__name__', 'bench_gauge'], ['instance', 'h:9100'], ['job', 'node']],
      // label names that sort before __name__ (upper case) and values that need escaping
      [['A', 'x'], ['__name__', 'm'], ['b', 'quote " backslash \\ newline \n tab \t'], ['c', ''], ['d', 'ünïcødé ✓']],
      // no metric name, labels only
      [['a', '1'], ['b', '2']],
      [],
    ];
    for (const pairs of cases) assert.equal(pairsKey(pairs), viaObject(pairs), JSON.stringify(pairs));
  });

  test('pairs out of order or repeated (not a valid index) fall back to seriesKey itself', () => {
    const unsorted: Array<[string, string]> = [['__name__', 'm'], ['job', 'j'], ['instance', 'i']];
    assert.equal(pairsKey(unsorted), viaObject(unsorted));
    assert.equal(pairsKey(unsorted), 'm{instance="i",job="j"}');
    const repeated: Array<[string, string]> = [['__name__', 'm'], ['a', '1'], ['a', '2']];
    assert.equal(pairsKey(repeated), viaObject(repeated));
    assert.equal(pairsKey(repeated), 'm{a="2"}');
  });

  test('random label sets: same key as seriesKey', () => {
    let seed = 12345;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed % n;
    };
    const alphabet = ['a', 'b', 'Z', '_', '0', '"', '\\', 'é', '\n', '='];
    const word = (min: number) => Array.from({ length: min + rnd(5) }, () => alphabet[rnd(alphabet.length)]).join('');
    for (let i = 0; i < 500; i++) {
      const names = new Set<string>();
      const k = rnd(6);
      while (names.size < k) names.add(String.fromCharCode(97 + rnd(26)) + word(0).replace(/[^a-zA-Z0-9_]/g, '_'));
      const pairs: Array<[string, string]> = [...names].map((n) => [n, word(0)] as [string, string]);
      if (rnd(4) > 0) pairs.push(['__name__', 'metric_' + rnd(9)]);
      if (rnd(2) === 0) pairs.sort((x, y) => (x[0] < y[0] ? -1 : 1));
      assert.equal(pairsKey(pairs), viaObject(pairs), JSON.stringify(pairs));
    }
  });
});

describe('tsdb planner: FileWindow', () => {
  const dir = mkdtempSync(join(tmpdir(), 'promflux-tsdb-plan-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + 7) & 0xff));

  test('a file smaller than the window: every range reads, a range past the end fails naming the file', () => {
    const data = bytes(1000);
    const path = join(dir, 'small');
    writeFileSync(path, data);
    const w = new FileWindow(path, 1 << 20);
    try {
      assert.deepEqual(Buffer.from(w.read(0, 1000, 'all')), data);
      assert.deepEqual(Buffer.from(w.read(990, 10, 'tail')), data.subarray(990));
      assert.deepEqual(Buffer.from(w.readUpTo(995, 64, 'up to')), data.subarray(995));
      assert.throws(() => w.read(995, 10, 'past the end'), (e: Error) => e.message.includes(path) && e.message.includes('995'));
    } finally {
      w.close();
    }
  });

  test('ranges larger than the window grow it; windows slide over a larger file', () => {
    const data = bytes(5000);
    const path = join(dir, 'large');
    writeFileSync(path, data);
    const w = new FileWindow(path, 256);
    try {
      for (const [off, n] of [[0, 100], [4000, 1000], [10, 3000], [255, 2], [4999, 1]] as const) {
        assert.deepEqual(Buffer.from(w.read(off, n, 'range')), data.subarray(off, off + n), `${off}+${n}`);
        const p = w.locate(off, n, 'range');
        assert.deepEqual(Buffer.from(w.data.subarray(p, p + n)), data.subarray(off, off + n), `locate ${off}+${n}`);
      }
    } finally {
      w.close();
    }
  });

  test('an empty file: a window exists, any read fails as truncated', () => {
    const path = join(dir, 'empty');
    writeFileSync(path, Buffer.alloc(0));
    const w = new FileWindow(path);
    try {
      assert.throws(() => w.read(0, 1, 'header'), /truncated|needs 1 bytes/);
    } finally {
      w.close();
    }
  });
});
