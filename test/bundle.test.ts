/**
 * Issue #18, start-up: `promflux` runs from an esbuild bundle (dist/bundle/, scripts/bundle.mjs),
 * not from tsc's dist/src. The bundle must do what dist/src does: same summary counts and the same
 * line-protocol lines on the default config, every file it names by `new URL(…, import.meta.url)`
 * present beside it, and a clear error when part of it is missing. Its worker loads through V8's
 * code cache (scripts/code-cache.cjs): a cache that is stale, damaged, from another V8 or missing
 * is ignored, and the worker then compiles from source and does the same work.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, createReadStream, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Worker } from 'node:worker_threads';
import { describe, test } from 'node:test';
import { cliPath, unbundledCliPath } from './harness/cli.js';

const bundleDir = dirname(cliPath());
const root = resolve(bundleDir, '../..');
const tmp = mkdtempSync(join(tmpdir(), 'promflux-bundle-'));

function run(cli: string, args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, CI: '1' }, timeout: 300_000, maxBuffer: 64 << 20 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * An order-free digest of a line-protocol file: line count and the sum of the lines' sha256
 * prefixes. Batches land in completion order, which differs run to run; the set of lines does not.
 */
async function linesDigest(path: string): Promise<string> {
  let lines = 0;
  let sum = 0n;
  for await (const line of createInterface({ input: createReadStream(path), crlfDelay: Infinity })) {
    lines++;
    sum = (sum + createHash('sha256').update(line).digest().readBigUInt64BE(0)) & 0xffffffffffffffffn;
  }
  return `${lines} lines, ${sum.toString(16)}`;
}

interface Summary {
  status: string;
  samplesIn: number;
  linesOut: number;
  dropped: Record<string, number>;
  batches: number;
  linesByMeasurement: Record<string, number>;
  features: string[];
}

describe('the CLI bundle', () => {
  test('promflux run on config/default.yaml prints the same summary counts and writes the same lines as dist/src', async () => {
    const out: Record<string, { s: Summary; sha: string }> = {};
    for (const [name, cli] of [['bundle', cliPath()], ['dist/src', unbundledCliPath()]] as const) {
      const file = join(tmp, `${name.replace('/', '-')}.lp`);
      const r = run(cli, ['run', '--config', 'config/default.yaml', '--workers', '2', '--sink', `file:${file}`, '--json', '--log-level', 'warn']);
      assert.equal(r.code, 0, `${name}: ${r.stderr.slice(-2000)}`);
      const s = JSON.parse(r.stdout) as Summary;
      out[name] = { s, sha: await linesDigest(file) };
      rmSync(file);
    }
    const a = out['bundle']!;
    const b = out['dist/src']!;
    assert.equal(a.s.status, 'ok');
    assert.ok(a.s.samplesIn > 1_000_000, `default config reads ~1M samples, got ${a.s.samplesIn}`);
    assert.equal(a.s.samplesIn, b.s.samplesIn);
    assert.equal(a.s.linesOut, b.s.linesOut);
    assert.deepEqual(a.s.dropped, b.s.dropped);
    assert.deepEqual(a.s.linesByMeasurement, b.s.linesByMeasurement);
    assert.deepEqual(a.s.features, b.s.features);
    assert.equal(a.s.samplesIn, a.s.linesOut + Object.values(a.s.dropped).reduce((x, y) => x + y, 0));
    assert.equal(a.sha, b.sha, 'the lines written by the bundle differ from dist/src');
  });

  test('every file the bundle names with new URL(…, import.meta.url) is beside it', () => {
    const named: string[] = [];
    for (const f of readdirSync(bundleDir).filter((x) => x.endsWith('.mjs') || x === 'worker.cjs')) {
      // Rewritten URLs are double-quoted by esbuild; single-quoted ones are examples inside messages.
      // (worker.cjs is CommonJS: its import.meta.url is __promfluxImportMetaUrl, the file's URL.)
      for (const m of readFileSync(join(bundleDir, f), 'utf8').matchAll(/new URL\("([^"]+)", (?:import\.meta\.url|__promfluxImportMetaUrl)\)/g)) {
        const target = resolve(bundleDir, m[1]!);
        named.push(target);
        assert.ok(existsSync(target), `${f} names ${m[1]}, which is not at ${target}`);
      }
    }
    for (const asset of ['rolling.wasm', 'lineprotocol.wasm', 'xor.wasm', 'worker-boot.cjs']) {
      assert.ok(named.includes(join(bundleDir, asset)), `the bundle loads ${asset} by URL`);
    }
  });

  test('--version answers from the bundle without loading the other commands', () => {
    const r = run(cliPath(), ['--version']);
    assert.equal(r.code, 0, r.stderr);
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string; bin: Record<string, string> };
    assert.equal(r.stdout.trim(), pkg.version);
    assert.equal(resolve(root, pkg.bin['promflux']!), cliPath(), 'package.json bin is the bundle');
  });

  test('a bundle without its worker entry fails with PROMFLUX_WORKER_MISSING, naming the file and `npm run build`', () => {
    // A copy beside the real bundle, so its external packages (piscina, pino) still resolve.
    const copy = join(root, 'dist', `bundle-test-${process.pid}`);
    try {
      cpSync(bundleDir, copy, { recursive: true });
      rmSync(join(copy, 'worker-boot.cjs'));
      const r = run(join(copy, 'promflux.mjs'), ['run', '--config', 'config/default.yaml', '--sink', 'null', '--workers', '1']);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /PROMFLUX_WORKER_MISSING|worker entry .*worker-boot\.cjs is missing/);
      assert.match(r.stderr, /npm run build/);
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });

  test('the build wrote a worker code cache that V8 accepts in a worker thread, as the pool loads it', async () => {
    const r = await loadInWorker(join(bundleDir, 'worker.cjs'), join(bundleDir, 'worker.cjs.cache'));
    assert.deepEqual(r, { codeCache: 'used', task: 'function', warmup: 'ok' });
  });

  test('a stale, damaged, foreign or missing worker code cache is ignored: the worker compiles from source and runs', async () => {
    const copy = join(root, 'dist', `bundle-cache-test-${process.pid}`);
    try {
      cpSync(bundleDir, copy, { recursive: true });
      const worker = join(copy, 'worker.cjs');
      const good = readFileSync(join(copy, 'worker.cjs.cache'));
      const cases: Array<[string, string, (p: string) => void]> = [
        ['missing', 'missing', () => undefined],
        ['empty', 'stale', (p) => writeFileSync(p, '')],
        ['truncated header', 'stale', (p) => writeFileSync(p, good.subarray(0, 100))],
        ['truncated data', 'corrupt', (p) => writeFileSync(p, good.subarray(0, good.length >> 1))],
        ['one data byte changed', 'corrupt', (p) => writeFileSync(p, Buffer.concat([good.subarray(0, 200), Buffer.from([good[200]! ^ 0x40]), good.subarray(201)]))],
        // Data that is not V8's, with matching hashes: V8's own checks reject it.
        ['foreign data', 'rejected', (p) => {
          const data = Buffer.alloc(4096, 7);
          writeFileSync(p, Buffer.concat([good.subarray(0, 64), Buffer.from(createHash('sha256').update(data).digest('hex'), 'latin1'), data]));
        }],
      ];
      for (const [name, expected, make] of cases) {
        const p = join(copy, `cache-${name.replace(/ /g, '-')}`);
        make(p);
        assert.deepEqual(await loadInWorker(worker, p), { codeCache: expected, task: 'function', warmup: 'ok' }, name);
      }
      // An edited source of the same length (V8 compares lengths only): the cache is stale.
      const src = readFileSync(worker, 'utf8');
      const at = src.indexOf('// src/pool/worker.ts');
      assert.ok(at > 0);
      writeFileSync(worker, src.slice(0, at) + '// src/pool/worker.tS' + src.slice(at + '// src/pool/worker.ts'.length));
      assert.deepEqual(await loadInWorker(worker, join(copy, 'worker.cjs.cache')), { codeCache: 'stale', task: 'function', warmup: 'ok' });
      // The CLI with a damaged cache: the same counts as the real bundle.
      writeFileSync(join(copy, 'worker.cjs'), src);
      writeFileSync(join(copy, 'worker.cjs.cache'), good.subarray(0, good.length - 1000));
      const a = run(join(copy, 'promflux.mjs'), ['run', '--config', 'config/default.yaml', '--sink', 'null', '--workers', '2', '--json', '--log-level', 'error']);
      const b = run(cliPath(), ['run', '--config', 'config/default.yaml', '--sink', 'null', '--workers', '2', '--json', '--log-level', 'error']);
      assert.equal(a.code, 0, a.stderr);
      assert.equal(b.code, 0, b.stderr);
      const sa = JSON.parse(a.stdout) as Summary;
      const sb = JSON.parse(b.stdout) as Summary;
      assert.deepEqual([sa.samplesIn, sa.linesOut, sa.dropped, sa.linesByMeasurement], [sb.samplesIn, sb.linesOut, sb.dropped, sb.linesByMeasurement]);
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });
});

/** Load a worker file through the bundle's code-cache loader in a worker thread (as Piscina's worker does); what it reports. */
function loadInWorker(file: string, cache: string): Promise<{ codeCache: string; task: string; warmup: string }> {
  const code = `const { parentPort } = require('node:worker_threads');
const { loadWithCodeCache } = require(${JSON.stringify(join(bundleDir, 'code-cache.cjs'))});
const l = loadWithCodeCache(${JSON.stringify(file)}, ${JSON.stringify(cache)});
const w = l.exports.warmup();
parentPort.postMessage({ codeCache: l.codeCache, task: typeof l.exports.default, warmup: typeof w.threadId === 'number' ? 'ok' : 'no' });`;
  return new Promise((ok, fail) => {
    const w = new Worker(code, { eval: true, execArgv: ['--no-experimental-require-module'] });
    w.once('message', (m: { codeCache: string; task: string; warmup: string }) => {
      ok(m);
      void w.terminate();
    });
    w.once('error', fail);
  });
}
