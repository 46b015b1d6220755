/**
 * One registry of error codes (src/errors.ts), one generated page (docs/ERRORS.md), and no code in
 * src/ outside them. Regenerate the doc section with
 * `PROMFLUX_WRITE_DOCS=1 node --test dist/test/errors.test.js`.
 */
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  BatchFailedError,
  ConfigError,
  ERRORS,
  isErrorCode,
  PromfluxError,
  renderErrorTables,
  ScalingStateError,
  SinkError,
  SourceError,
} from '../src/errors.js';

const root = join(import.meta.dirname, '..', '..');
const BEGIN = '<!-- errors:begin (generated from src/errors.ts; see test/errors.test.ts) -->';
const END = '<!-- errors:end -->';

async function srcFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await srcFiles(p)));
    else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out;
}

test('docs/ERRORS.md holds exactly the generated table of error codes', async () => {
  const path = join(root, 'docs', 'ERRORS.md');
  const doc = await readFile(path, 'utf8');
  const a = doc.indexOf(BEGIN);
  const b = doc.indexOf(END);
  assert.ok(a >= 0 && b > a, `docs/ERRORS.md must contain the markers ${BEGIN} … ${END}`);
  const want = `${BEGIN}\n${renderErrorTables()}\n${END}`;
  const have = doc.slice(a, b + END.length);
  if (have !== want && process.env.PROMFLUX_WRITE_DOCS === '1') {
    await writeFile(path, doc.slice(0, a) + want + doc.slice(b + END.length));
    return;
  }
  assert.equal(have, want, 'docs/ERRORS.md is out of date: rerun this test with PROMFLUX_WRITE_DOCS=1 to regenerate it');
});

test('every PROMFLUX_* name in src/ is a registered, documented error code or a documented environment variable', async () => {
  const doc = await readFile(join(root, 'docs', 'ERRORS.md'), 'utf8');
  const used = new Map<string, string>();
  const env = new Set<string>();
  for (const f of await srcFiles(join(root, 'src'))) {
    const text = await readFile(f, 'utf8');
    const rel = f.slice(root.length + 1);
    for (const m of text.matchAll(/PROMFLUX_[A-Z_]+/g)) if (!used.has(m[0])) used.set(m[0], rel);
    for (const m of text.matchAll(/process\.env(?:\.|\[')(PROMFLUX_[A-Z_]+)/g)) env.add(m[1]!);
  }
  assert.ok(used.size >= 30, `the scan found only ${used.size} names: the pattern no longer matches the code`);
  for (const [name, file] of used) {
    if (env.has(name)) {
      assert.ok(doc.includes(`| \`${name}\` |`), `environment variable ${name} (${file}) is not in docs/ERRORS.md "Environment variables"`);
      continue;
    }
    assert.ok(isErrorCode(name), `error code ${name} (${file}) is not in the ERRORS registry of src/errors.ts (and so not in docs/ERRORS.md)`);
    assert.ok(doc.includes(`| \`${name}\` |`), `error code ${name} (${file}) is not in docs/ERRORS.md`);
  }
  // and nothing registered is dead: each code is used somewhere outside the registry
  const bodies = await Promise.all((await srcFiles(join(root, 'src'))).filter((f) => !f.endsWith(join('src', 'errors.ts'))).map((f) => readFile(f, 'utf8')));
  for (const code of Object.keys(ERRORS)) {
    if (code === 'PROMFLUX_CONFIG') continue; // raised by ConfigError, inside src/errors.ts
    assert.ok(bodies.some((t) => t.includes(code)), `${code} is registered but no code in src/ raises it: remove it`);
  }
});

test('errors carry their code, a default message, and their class', () => {
  const e = new SinkError('PROMFLUX_SINK_AUTH');
  assert.ok(e instanceof PromfluxError && e instanceof Error);
  assert.equal(e.code, 'PROMFLUX_SINK_AUTH');
  assert.equal(e.message, ERRORS.PROMFLUX_SINK_AUTH.message);
  assert.equal(e.name, 'SinkError');
  const s = new SourceError('PROMFLUX_PROM_LIMITS', 'query "q": too many series', { cause: new Error('x') });
  assert.equal(s.message, 'query "q": too many series');
  assert.equal((s.cause as Error).message, 'x');
  const c = new ConfigError('unknown key', { file: 'a.yaml', line: 3, key: 'sink.x' });
  assert.equal(c.code, 'PROMFLUX_CONFIG');
  assert.equal(c.message, 'a.yaml, line 3, key "sink.x": unknown key');
  assert.ok(new ScalingStateError('PROMFLUX_SCALING_STATE_READ') instanceof PromfluxError);
});

test('a failed batch reports a registered code, keeping a foreign one as originalCode', () => {
  const k = new BatchFailedError(3, 'c-3', 'transform', 'rolling', 'kernel "rolling" failed', 'PROMFLUX_KERNEL_FAILED');
  assert.equal(k.code, 'PROMFLUX_KERNEL_FAILED');
  assert.deepEqual([k.batchId, k.chunkId, k.stage, k.kernel], [3, 'c-3', 'transform', 'rolling']);
  const f = new BatchFailedError(4, 'c-4', 'fill', undefined, 'decode failed', 'ERR_OUT_OF_RANGE');
  assert.equal(f.code, 'PROMFLUX_FILL_FAILED');
  assert.equal(f.originalCode, 'ERR_OUT_OF_RANGE');
  assert.equal(new BatchFailedError(5, 'c-5', 'encode', undefined, 'x', 'WEIRD').code, 'PROMFLUX_RUN_FAILED');
});
