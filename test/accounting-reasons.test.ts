/**
 * Every drop reason and counter is in one documented table (docs/ACCOUNTING.md), generated from
 * src/observe/reasons.ts; and every reason the code can count is in that list. Regenerate the doc
 * section with `PROMFLUX_WRITE_DOCS=1 node --test dist/test/accounting-reasons.test.js`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { COUNTERS, DROP_REASONS, reasonPattern, renderReasonTables } from '../src/observe/reasons.js';

const root = join(import.meta.dirname, '..', '..');
const BEGIN = '<!-- reasons:begin (generated from src/observe/reasons.ts; see test/accounting-reasons.test.ts) -->';
const END = '<!-- reasons:end -->';

async function srcFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await srcFiles(p)));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.as.ts')) out.push(p);
  }
  return out;
}

const matches = (list: readonly { name: string }[], name: string): boolean =>
  list.some((r) => !r.name.startsWith('<') && reasonPattern(r.name).test(name));

test('docs/ACCOUNTING.md holds exactly the generated table of drop reasons and counters', async () => {
  const path = join(root, 'docs', 'ACCOUNTING.md');
  const doc = await readFile(path, 'utf8');
  const a = doc.indexOf(BEGIN);
  const b = doc.indexOf(END);
  assert.ok(a >= 0 && b > a, `docs/ACCOUNTING.md must contain the markers ${BEGIN} … ${END}`);
  const want = `${BEGIN}\n${renderReasonTables()}\n${END}`;
  const have = doc.slice(a, b + END.length);
  if (have !== want && process.env.PROMFLUX_WRITE_DOCS === '1') {
    await writeFile(path, doc.slice(0, a) + want + doc.slice(b + END.length));
    return;
  }
  assert.equal(have, want, 'docs/ACCOUNTING.md is out of date: rerun this test with PROMFLUX_WRITE_DOCS=1 to regenerate it');
});

test('every drop reason and counter named in src/ is in the documented list', async () => {
  const files = await srcFiles(join(root, 'src'));
  const drops = new Map<string, string>();
  const counters = new Map<string, string>();
  const templates = new Map<string, string>();
  for (const f of files) {
    const text = await readFile(f, 'utf8');
    const rel = f.slice(root.length + 1);
    const add = (m: Map<string, string>, name: string) => { if (!m.has(name)) m.set(name, rel); };
    for (const m of text.matchAll(/\.drop\([^,()]+,\s*'([^']+)'\)/g)) add(drops, m[1]!);
    for (const m of text.matchAll(/dropSource\(([^;]*?)\)/g)) for (const s of m[1]!.matchAll(/'([^']+)'/g)) add(drops, s[1]!);
    for (const m of text.matchAll(/actionTarget\('([^']+)'/g)) add(drops, m[1]!);
    for (const m of text.matchAll(/\bdropped\.(\w+)\s*=/g)) add(drops, m[1]!);
    for (const m of text.matchAll(/\bdropped\['([^']+)'\]\s*=/g)) add(drops, m[1]!);
    for (const m of text.matchAll(/_REASON\s*=\s*'([^']+)'/g)) add(drops, m[1]!);
    for (const m of text.matchAll(/counters\['([^']+)'\]\s*=/g)) add(counters, m[1]!);
    for (const m of text.matchAll(/\.count\([^,()]+,\s*'([^']+)'/g)) add(counters, m[1]!);
    // families built with a template: `dead_letter:${reason}`, `flagged:${name}`, …
    for (const m of text.matchAll(/`([a-z_]+[:_])\$\{/g)) if (/dropped|reason|Counter|key =/.test(text.slice(Math.max(0, m.index! - 120), m.index!))) add(templates, m[1]! + 'x');
  }
  assert.ok(drops.size >= 10, `the scan found only ${drops.size} drop reasons: the patterns no longer match the code`);
  for (const [name, file] of drops) assert.ok(matches(DROP_REASONS, name), `drop reason "${name}" (${file}) is not in src/observe/reasons.ts DROP_REASONS / docs/ACCOUNTING.md`);
  for (const [name, file] of counters) assert.ok(matches(COUNTERS, name), `counter "${name}" (${file}) is not in src/observe/reasons.ts COUNTERS / docs/ACCOUNTING.md`);
  for (const [name, file] of templates) {
    assert.ok(matches(DROP_REASONS, name) || matches(COUNTERS, name), `reason family "${name.slice(0, -1)}<…>" (${file}) is not in src/observe/reasons.ts`);
  }
});

test('the unencodable and dead-letter families list every reason the encoder and the loader define', async () => {
  const unionOf = async (file: string, type: string): Promise<string[]> => {
    const text = await readFile(join(root, file), 'utf8');
    const m = new RegExp(`export type ${type} =([^;]+);`).exec(text);
    assert.ok(m, `${file} no longer declares ${type}`);
    return [...m[1]!.matchAll(/'([a-z_]+)'/g)].map((x) => x[1]!);
  };
  const unenc = DROP_REASONS.find((r) => r.name === 'unencodable_<reason>')!;
  for (const r of await unionOf('src/encode/lineprotocol.ts', 'UnencodableReason')) assert.ok(unenc.meaning.includes(`\`${r}\``), `unencodable_${r} is not described in src/observe/reasons.ts`);
  const dead = DROP_REASONS.find((r) => r.name === 'dead_letter:<reason>')!;
  for (const r of await unionOf('src/load/influx/rejections.ts', 'RejectReason')) assert.ok(dead.meaning.includes(`\`${r}\``), `dead_letter:${r} is not described in src/observe/reasons.ts`);
});
