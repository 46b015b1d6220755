/**
 * Issue #20: promflux as a dependency. Packs the tarball, installs it into a temporary project,
 * compiles a strict-mode TypeScript consumer (a Source, a Sink and a kernel module, importing only
 * from 'promflux') and runs it: the plugin kernel reaches the workers by module URL.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const work = mkdtempSync(join(tmpdir(), 'promflux-consumer-'));
after(() => rmSync(work, { recursive: true, force: true }));

function sh(cmd: string, args: string[], cwd: string): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 300_000, env: { ...process.env, npm_config_update_notifier: 'false' } });
  return { status: r.status, out: `${r.stdout}\n${r.stderr}` };
}

describe('the packed package, installed and used by a strict TypeScript consumer', () => {
  let tarball = '';
  before(() => {
    const pack = sh('npm', ['pack', '--ignore-scripts', '--pack-destination', work], root);
    assert.equal(pack.status, 0, pack.out);
    tarball = join(work, readdirSync(work).find((f) => f.endsWith('.tgz'))!);
    const app = join(work, 'app');
    cpSync(join(root, 'test', 'fixtures', 'consumer'), join(app, 'src'), { recursive: true });
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', type: 'module', private: true }));
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noImplicitAny: true, outDir: 'dist', rootDir: 'src',
          // @types/node from this repository (a dev dependency of promflux, not installed with it)
          typeRoots: [join(root, 'node_modules', '@types')], types: ['node'],
        },
        include: ['src/*.ts'],
      }),
    );
    // The shared npm cache first; the registry only for what the cache lacks.
    let inst = sh('npm', ['install', '--offline', '--no-audit', '--no-fund', tarball], app);
    if (inst.status !== 0) inst = sh('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], app);
    assert.equal(inst.status, 0, inst.out);
  });

  test('the tarball ships LICENSE, docs/ and source maps that carry their sources, and declares a repository', () => {
    const pkgDir = join(work, 'app', 'node_modules', 'promflux');
    assert.match(readFileSync(join(pkgDir, 'LICENSE'), 'utf8'), /Apache License\s+Version 2\.0/);
    for (const doc of ['ARCHITECTURE.md', 'ERRORS.md', 'LOAD.md', 'OPERATIONS.md']) assert.ok(existsSync(join(pkgDir, 'docs', doc)), `docs/${doc} shipped`);
    const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { repository?: { url?: string }; dependencies: Record<string, string> };
    assert.match(pkg.repository?.url ?? '', /^git\+https:\/\//);
    assert.ok(!('tinybench' in pkg.dependencies), 'tinybench is a dev dependency (benchmarks only)');
    const map = JSON.parse(readFileSync(join(pkgDir, 'dist', 'src', 'index.js.map'), 'utf8')) as { sources: string[]; sourcesContent?: string[] };
    assert.equal(map.sourcesContent?.length, map.sources.length);
    assert.match(map.sourcesContent![0]!, /createPipeline/);
  });

  test('a strict consumer implementing Source, Sink and a kernel compiles against promflux alone and its kernel runs in every worker', () => {
    const app = join(work, 'app');
    const tsc = sh(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], app);
    assert.equal(tsc.status, 0, tsc.out);
    const run = sh(process.execPath, ['dist/consumer.js'], app);
    assert.equal(run.status, 0, run.out);
    const r = JSON.parse(run.out.slice(0, run.out.lastIndexOf('}') + 1)) as Record<string, unknown> & {
      error: unknown; missing: string; workerFail: { code: string; message: string } | null; fnFail: { code: string; message: string } | null;
    };
    assert.equal(r.status, 'ok', JSON.stringify(r.error));
    assert.equal(r.samplesIn, 20_000);
    assert.equal(r.linesOut, 20_000);
    assert.equal(r.sinkLines, 20_000);
    assert.equal(r.resultRows, 20_000, 'ProcessResult (exported type) carries the rows of each batch');
    assert.deepEqual(r.features, ['double']);
    assert.equal(r.sawDouble, true, 'the double field is in the line protocol the workers wrote');
    assert.ok((r.chunks as number) > 0);
    assert.equal(r.healthOk, true);
    assert.match(r.missing, /^PROMFLUX_KERNEL_LOAD: kernel "nope" is registered from module file:.*missing\.js, which cannot be loaded in this thread \(main\)/);
    assert.equal(r.workerFail?.code, 'PROMFLUX_KERNEL_LOAD');
    assert.match(r.workerFail!.message, /kernel "mainonly" is registered from module file:.*mainonly\.js, which cannot be loaded in this thread \(worker\): this module only loads in the main thread/);
    assert.equal(r.fnFail?.code, 'PROMFLUX_PIPELINE_COMPILE');
    assert.match(r.fnFail!.message, /unknown kind "fnonly" in this worker thread .*register it by module, registerKernel\('fnonly', new URL/);
  });
});
