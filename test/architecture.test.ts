/**
 * The import rule of docs/ARCHITECTURE.md, kept by a test: walk every import in src/ (static,
 * `export … from`, type-only, and dynamic `import()` with a literal specifier) and fail on a cycle
 * between files or on an import against the flow. Type-only imports count: a type that closes a
 * cycle lives in the wrong file.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import ts from 'typescript';

const root = join(import.meta.dirname, '..', '..');
const src = join(root, 'src');

/** Folder (first path segment under src/) → folders it must not import. `*` = every folder. */
const FORBIDDEN: Record<string, readonly string[]> = {
  pool: ['load', 'pipeline', 'cli'],
  encode: ['pool', 'load', 'pipeline', 'cli'],
  transform: ['extract', 'load', 'pipeline', 'cli'],
};
/** Only cli/ and the front door (src/index.ts) may import cli/. */
const MAY_IMPORT_CLI = new Set(['cli', 'index.ts']);

/**
 * Known violations, each with the reason it is tolerated. Empty since phase 2 of issue #12 (the
 * encoder, compaction and the column type moved to encode/, schema mapping became a pure function
 * there). The test fails when a listed one no longer exists, so the list can only shrink.
 */
const ALLOWED: ReadonlyArray<{ from: string; to: string; why: string }> = [];

interface Edge {
  from: string;
  to: string;
  line: number;
  /** `import('…')`: loaded only when that code runs. */
  dynamic: boolean;
}

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...tsFiles(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.as.ts')) out.push(p);
  }
  return out;
}

// import x from '…'; import type { x } from '…'; import '…'; export { x } from '…'; export * from '…'; import('…')
const IMPORT_RE = /(?:^|[\s;])(?:import|export)\s+(?:type\s+)?(?:[\w*{}\s,$]+?\s+from\s+)?['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

function stripComments(text: string): string {
  // keep line numbers: replace comment bodies with spaces, leave newlines
  return text.replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*/g, (c) => c.replace(/[^\n]/g, ' '));
}

function importsOf(file: string): Edge[] {
  const text = stripComments(readFileSync(file, 'utf8'));
  const edges: Edge[] = [];
  for (const m of text.matchAll(IMPORT_RE)) {
    const spec = m[1] ?? m[2]!;
    if (!spec.startsWith('.')) continue; // packages and node: built-ins
    let target = resolve(dirname(file), spec);
    if (target.endsWith('.js')) target = target.slice(0, -3) + '.ts';
    if (!existsSync(target) && existsSync(join(target, 'index.ts'))) target = join(target, 'index.ts');
    if (!existsSync(target)) continue; // e.g. the compiled .wasm next to its loader
    edges.push({ from: relative(root, file), to: relative(root, target), line: text.slice(0, m.index).split('\n').length, dynamic: m[2] !== undefined });
  }
  return edges;
}

const folderOf = (file: string): string => relative(src, join(root, file)).split('/')[0]!;

function graph(): Map<string, Edge[]> {
  const g = new Map<string, Edge[]>();
  for (const f of tsFiles(src)) g.set(relative(root, f), importsOf(f));
  return g;
}

/** Strongly connected components with more than one file (or a self-import): the cycles. */
function cycles(g: Map<string, Edge[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const { to: w } of g.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1 || (g.get(v) ?? []).some((e) => e.to === v)) out.push(comp.sort());
    }
  };
  for (const v of g.keys()) if (!idx.has(v)) visit(v);
  return out;
}

describe('architecture: imports run one way, downstream', () => {
  const g = graph();
  const edges = [...g.values()].flat();

  it('the walk sees the code (static, type-only, re-export and dynamic imports)', () => {
    assert.ok(g.size >= 100, `only ${g.size} files under src/`);
    assert.ok(edges.length >= 300, `only ${edges.length} imports found: the pattern no longer matches the code`);
    assert.ok(edges.some((e) => e.from === 'src/index.ts' && e.to === 'src/pipeline/run.ts'), 'export … from is seen');
    assert.ok(edges.some((e) => e.from === 'src/pipeline/run.ts' && e.to === 'src/extract/prometheus/counts.ts' && e.dynamic), 'a dynamic import() is seen');
    assert.ok(edges.some((e) => e.from === 'src/pool/task.ts' && e.to === 'src/encode/columns.ts'), 'import type is seen');
  });

  it('there is no import cycle between files, not even a type-only one', () => {
    const found = cycles(g);
    assert.deepEqual(found, [], `import cycles:\n${found.map((c) => '  ' + c.join(' ↔ ')).join('\n')}`);
  });

  it('no folder imports against the flow (pool/encode/transform → load/pipeline/extract; anything → cli)', () => {
    const bad: string[] = [];
    const allowedUsed = new Set<(typeof ALLOWED)[number]>();
    for (const e of edges) {
      const from = folderOf(e.from);
      const to = folderOf(e.to);
      if (from === to) continue;
      const forbidden = (FORBIDDEN[from] ?? []).includes(to) || (to === 'cli' && !MAY_IMPORT_CLI.has(from));
      if (!forbidden) continue;
      const ok = ALLOWED.find((a) => a.from === e.from && a.to === e.to);
      if (ok) allowedUsed.add(ok);
      else bad.push(`  ${e.from}:${e.line} imports ${e.to} (${from}/ must not import ${to}/)`);
    }
    assert.deepEqual(bad, [], `imports against the flow:\n${bad.join('\n')}`);
    const stale = ALLOWED.filter((a) => !allowedUsed.has(a));
    assert.deepEqual(stale, [], 'allow-listed violations that no longer exist: remove them from ALLOWED');
  });

  it('a worker loads no zod: nothing the worker entry imports, statically or by import(), imports zod', () => {
    // Config schemas stay on the main thread; the worker only needs the validated values (the
    // schema mapping is validated there and compiled in the worker by src/encode/schema-map.ts).
    const zod = new Set([...g.keys()].filter((f) => /from\s+['"]zod['"]/.test(readFileSync(join(root, f), 'utf8'))));
    assert.ok(zod.has('src/config/schema.ts'), 'the zod scan sees the config schema');
    const seen = new Map<string, string>([['src/pool/worker.ts', '']]);
    const queue = ['src/pool/worker.ts'];
    while (queue.length > 0) {
      const f = queue.shift()!;
      for (const e of g.get(f) ?? []) {
        if (seen.has(e.to)) continue;
        seen.set(e.to, f);
        queue.push(e.to);
      }
    }
    const path = (f: string): string => (seen.get(f) ? `${path(seen.get(f)!)} → ${f}` : f);
    const hits = [...seen.keys()].filter((f) => zod.has(f)).map(path);
    assert.deepEqual(hits, [], `the worker loads zod through:\n  ${hits.join('\n  ')}`);
  });
});

/** Longest function body allowed in src/pipeline/ (lines from the opening to the closing brace). */
const MAX_PIPELINE_FUNCTION_LINES = 60;

describe('architecture: pipeline/ orchestrates in small named steps', () => {
  it(`no function in src/pipeline/*.ts is longer than ${MAX_PIPELINE_FUNCTION_LINES} lines`, () => {
    const dir = join(src, 'pipeline');
    const long: string[] = [];
    let functions = 0;
    for (const name of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
      const file = join(dir, name);
      const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
      const visit = (node: ts.Node): void => {
        if (ts.isFunctionLike(node) && 'body' in node && node.body && ts.isBlock(node.body as ts.Node)) {
          functions++;
          const body = node.body as ts.Block;
          const first = sf.getLineAndCharacterOfPosition(body.getStart(sf)).line;
          const last = sf.getLineAndCharacterOfPosition(body.getEnd()).line;
          const lines = last - first + 1;
          const fname = (node as { name?: ts.Node }).name?.getText(sf) ?? '(anonymous)';
          if (lines > MAX_PIPELINE_FUNCTION_LINES) long.push(`  src/pipeline/${name}:${first + 1} ${fname}: ${lines} lines`);
        }
        ts.forEachChild(node, visit);
      };
      visit(sf);
    }
    assert.ok(functions >= 40, `only ${functions} function bodies found in src/pipeline/: the walk no longer sees the code`);
    assert.deepEqual(long, [], `functions over ${MAX_PIPELINE_FUNCTION_LINES} lines (split them into named steps):\n${long.join('\n')}`);
  });
});
