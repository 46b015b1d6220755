/**
 * Issue #18, start-up: a file sink that starts afresh over a large earlier output sets the old
 * file aside (unlinks its name, frees it in the background) instead of truncating it before the
 * first batch (src/load/file.ts `setAsideOldOutput`). The result must be what truncation gave:
 * the new lines only, the same mode; and a hard-linked file or a symlink is written through as
 * before.
 */
import assert from 'node:assert/strict';
import { chmodSync, closeSync, fstatSync, linkSync, lstatSync, mkdtempSync, openSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { FileSink } from '../src/load/file.js';

const tmp = mkdtempSync(join(tmpdir(), 'promflux-file-replace-'));
const OLD = Buffer.alloc(3 << 20, 'old line\n');

async function writeLines(path: string, lines: string[]): Promise<void> {
  const sink = new FileSink(path);
  await sink.open();
  const lp = new TextEncoder().encode(lines.map((l) => `${l}\n`).join(''));
  await sink.write({ batchId: 1, chunkId: 'c1', lp, lines: lines.length, columns: null, seriesKeys: ['m'] });
  await sink.close();
}

describe('file sink over an earlier output', () => {
  test('a large earlier output is replaced by exactly the new lines, keeping its mode', async () => {
    const path = join(tmp, 'big.lp');
    writeFileSync(path, OLD);
    chmodSync(path, 0o640);
    // A reader holding the old file: truncation would empty what it sees, setting aside does not.
    const reader = openSync(path, 'r');
    try {
      await writeLines(path, ['m v=1 1', 'm v=2 2']);
      assert.equal(readFileSync(path, 'utf8'), 'm v=1 1\nm v=2 2\n');
      assert.equal(statSync(path).mode & 0o7777, 0o640);
      assert.equal(fstatSync(reader).size, OLD.byteLength, 'the old file was set aside, not truncated');
    } finally {
      closeSync(reader);
    }
  });

  test('a hard-linked earlier output is truncated in place: the other name sees the new lines', async () => {
    const path = join(tmp, 'linked.lp');
    const other = join(tmp, 'linked-other.lp');
    writeFileSync(path, OLD);
    linkSync(path, other);
    await writeLines(path, ['m v=3 3']);
    assert.equal(readFileSync(path, 'utf8'), 'm v=3 3\n');
    assert.equal(readFileSync(other, 'utf8'), 'm v=3 3\n');
  });

  test('through a symlink the target is written and the link is kept', async () => {
    const target = join(tmp, 'target.lp');
    const link = join(tmp, 'via-link.lp');
    writeFileSync(target, OLD);
    symlinkSync(target, link);
    await writeLines(link, ['m v=4 4']);
    assert.ok(lstatSync(link).isSymbolicLink());
    assert.equal(readFileSync(target, 'utf8'), 'm v=4 4\n');
  });

  test('a small earlier output is truncated as before', async () => {
    const path = join(tmp, 'small.lp');
    writeFileSync(path, 'old\n'.repeat(100));
    const reader = openSync(path, 'r');
    try {
      await writeLines(path, ['m v=5 5']);
      assert.equal(readFileSync(path, 'utf8'), 'm v=5 5\n');
      assert.equal(fstatSync(reader).size, 8, 'truncated in place: the reader sees the new file');
    } finally {
      closeSync(reader);
    }
  });
});
