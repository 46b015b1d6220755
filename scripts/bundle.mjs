#!/usr/bin/env node
/**
 * Bundle the run path (issue #18, start-up): the CLI and the worker entry as ESM bundles under
 * dist/bundle/, CommonJS dependencies inlined. Loading ~1,000 files through Node's resolver cost
 * ~400 ms of a 0.68 s `promflux --version` (CPU profile, docs/SCALING.md#start-up); one bundle
 * plus a few lazily imported chunks costs a fraction of that.
 *
 * Run after tsc (`npm run build` does both): assets are taken from dist/src (the wasm modules are
 * compiled there), and dist/src stays the library API and what the unit tests import.
 *
 * Three rewrites make the bundle behave like dist/src:
 * - `new URL('./x', import.meta.url)` in a source file names a file beside its dist/src twin. In
 *   the bundle, import.meta.url is the chunk's URL, so the file is copied beside the chunks (wasm)
 *   or the URL is made relative to dist/bundle (anything else that exists, e.g. dist/benchmarks);
 *   a URL naming another bundle entry (src/pool/worker.ts) names that entry's output.
 * - `lazyRequire<T>('pkg')` (src/util/lazy.ts) requires by a runtime id, which esbuild cannot see.
 *   Each such package is bundled on its own into dist/bundle/vendor/pkg.cjs and the call is given
 *   a `() => require('./vendor/pkg.cjs')` loader: one file, read on first use only. Inlining it in
 *   the chunks instead would make every run parse it (undici alone is 1 MB; V8 parses a module's
 *   whole text before running any of it: the CPU profile's esm/utils compile time). A package
 *   also imported statically (apache-arrow, undici by src/access/) gets a second copy in the
 *   chunk of that command, as dist/src already loads apache-arrow twice (CJS and ESM builds).
   undici's vendor file holds only Pool (VENDOR_PARTS below), which is all the run path uses.
 * - prom-client's index requires its Pushgateway (http, https, zlib), default metrics
 *   (@opentelemetry/api) and cluster aggregator at load: ~20 ms of a run's start-up (CPU profile)
 *   for code a run never calls. In the bundle each is a function that loads the real module on its
 *   first call (`collectDefaultMetrics` under `promflux serve`); nothing else changes.
 * - `import { z } from 'zod'` becomes `import * as z from 'zod'`. zod's `z` is one namespace object
 *   holding all of zod, so esbuild keeps all of it (734 kB, the largest input of the run path's
 *   chunk); through `import * as z` each `z.object`, `z.string` … is a static reference and esbuild
 *   drops the rest (toJSONSchema, fromJSONSchema, locales, the codecs). Same names, same objects.
 * - piscina is bundled. Loaded from node_modules it was ~12 CommonJS files through Node's resolver,
 *   plus cjs-module-lexer over each for the ESM import: about as much CPU at start-up as the whole
 *   run-path chunk (CPU profile of `promflux --version`, docs/SCALING.md#start-up). It finds the
 *   thread entry of each worker as `resolve(__dirname, 'worker.js')`; that file (piscina's
 *   dist/worker.js, which then requires our worker-boot.cjs) is bundled on its own into
 *   dist/bundle/vendor/piscina-worker.cjs and the path points there, so each worker thread also
 *   reads one file instead of piscina's modules one by one.
 * - The worker (src/pool/worker.ts) is not an ESM entry but one CommonJS file, worker.cjs
 *   (`import.meta.url` defined as the file's URL), which Piscina's task file worker-boot.cjs
 *   compiles through V8's code cache, worker.cjs.cache, written here after a warm-up in a worker
 *   thread (scripts/worker-boot.cjs, scripts/code-cache.cjs: when a cache is used or ignored).
 * - A banner defines `require` (createRequire), which bundled CommonJS code uses for node built-ins,
 *   and `__promfluxBundleDir`, the folder of the bundle (for piscina's thread entry).
 */
import { build } from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
// PROMFLUX_BUNDLE_OUT=dist/bundle-x builds a second bundle beside the real one (start-up A/B runs).
const outdir = process.env.PROMFLUX_BUNDLE_OUT ? resolve(root, process.env.PROMFLUX_BUNDLE_OUT) : join(root, 'dist', 'bundle');
const distSrc = join(root, 'dist', 'src');

/** Source entry → bundle file name (without .mjs). */
const entries = { promflux: 'src/cli/main.ts' };
/**
 * The worker (Piscina's task file) is one CommonJS file, dist/bundle/worker.cjs, loaded by
 * worker-boot.cjs through V8's code cache (scripts/worker-boot.cjs, scripts/code-cache.cjs): each
 * worker thread of each run skips parsing and compiling it.
 */
const WORKER_SRC = 'src/pool/worker.ts';
const WORKER_BOOT = 'worker-boot.cjs';
/** The dist/src file of each entry: a `new URL()` naming it is pointed at the bundle's file. */
const entryTwins = new Map([
  ...Object.entries(entries).map(([name, src]) => [join(root, 'dist', src.replace(/\.ts$/, '.js')), `./${name}.mjs`]),
  [join(root, 'dist', WORKER_SRC.replace(/\.ts$/, '.js')), `./${WORKER_BOOT}`],
]);

/**
 * Not bundled: they find their own files from `__dirname` (piscina's and pino's worker threads,
 * pino-pretty through pino's transport), load native or wasm code (msgpackr-extract,
 * parquet-wasm), or are benchmark-only peers.
 */
const external = ['pino', 'pino-pretty', 'thread-stream', 'msgpackr-extract', 'parquet-wasm', 'nodejs-polars', '@influxdata/influxdb-client'];

/** `lazyRequire` ids seen while bundling → their vendor file name. */
const vendored = new Map();

/**
 * Vendor files that hold only the part of a package the code uses (see the head comment): the
 * exports `lazyRequire` callers may name, and the vendor file's source. undici's index loads
 * every dispatcher, fetch, WebSocket, the mock agents and the SQLite cache store: ≈ 65 ms of CPU
 * to require its bundle, against ≈ 30 ms for Pool (what the Prometheus client and the InfluxDB
 * sink construct). The index also mixes the request API into Dispatcher.prototype, so this does
 * too (`pool.request`). A source calling `undici().Agent` (anything not listed) fails the build.
 */
const VENDOR_PARTS = {
  undici: {
    exports: ['Pool'],
    contents: `Object.assign(require('undici/lib/dispatcher/dispatcher.js').prototype, require('undici/lib/api/index.js'));
module.exports = { Pool: require('undici/lib/dispatcher/pool.js') };`,
  },
};

/** `const NAME = lazyRequire<…>('id')`: every use of NAME must be `NAME().X` with X in VENDOR_PARTS[id].exports. */
function checkVendorParts(text, path) {
  for (const [id, part] of Object.entries(VENDOR_PARTS)) {
    const decl = new RegExp(`const (\\w+) = lazyRequire<[^;]*>\\((['"])${id.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\2`, 'g');
    for (const m of text.matchAll(decl)) {
      const name = m[1];
      for (const use of text.matchAll(new RegExp(`\\b${name}\\(\\)(\\.(\\w+))?`, 'g'))) {
        if (!use[2] || !part.exports.includes(use[2])) {
          throw new Error(`scripts/bundle.mjs: ${relative(root, path)} uses ${use[0]}, but the bundle's ${id} vendor file holds only ${part.exports.join(', ')}; add it to VENDOR_PARTS.${id}`);
        }
      }
    }
  }
}

const URL_RE = /new URL\((['"])(\.{1,2}\/[^'"]+)\1, import\.meta\.url\)/g;
const ZOD_RE = /^import \{ z \} from (['"])zod\1;/m;
const LAZY_RE = /lazyRequire<([^>]*(?:<[^>]*>[^>]*)*)>\((['"])([^'"]+)\2\)/g;

function relUrl(to) {
  const r = relative(outdir, to).split(sep).join('/');
  return r.startsWith('.') ? r : `./${r}`;
}

/** prom-client modules deferred to their first call (see the head comment): `require('./lib/x')` in prom-client/index.js. */
const DEFERRED = /^\.\/lib\/(pushgateway|defaultMetrics|cluster)$/;

const deferPromClientExtras = {
  name: 'promflux-defer-prom-client',
  setup(b) {
    b.onResolve({ filter: DEFERRED }, async (args) => {
      if (!/prom-client[\\/]index\.js$/.test(args.importer) || args.pluginData?.real) return undefined;
      const real = await b.resolve(args.path, { resolveDir: args.resolveDir, kind: args.kind, pluginData: { real: true } });
      return { path: real.path, namespace: 'deferred' };
    });
    b.onLoad({ filter: /.*/, namespace: 'deferred' }, (args) => ({
      contents: `let real;
const load = () => (real ??= require(${JSON.stringify(args.path)}));
module.exports = function deferred(...a) { return new.target ? Reflect.construct(load(), a, new.target) : load().apply(this, a); };`,
      resolveDir: dirname(args.path),
      loader: 'js',
    }));
  },
};

/** piscina's thread entry, bundled on its own (see the head comment). */
const PISCINA_WORKER = 'vendor/piscina-worker.cjs';
const PISCINA_WORKER_PATH = /\(0, node_path_1\.resolve\)\(__dirname, 'worker\.js'\)/;

const bundlePiscina = {
  name: 'promflux-bundle-piscina',
  setup(b) {
    b.onLoad({ filter: /[\\/]piscina[\\/]dist[\\/]index\.js$/ }, (args) => {
      const text = readFileSync(args.path, 'utf8');
      if (!PISCINA_WORKER_PATH.test(text)) throw new Error(`scripts/bundle.mjs: ${args.path} no longer names its thread entry as resolve(__dirname, 'worker.js'); update PISCINA_WORKER_PATH for this piscina version`);
      return { contents: text.replace(PISCINA_WORKER_PATH, `(0, node_path_1.join)(__promfluxBundleDir, ${JSON.stringify(PISCINA_WORKER)})`), loader: 'js' };
    });
  },
};

/** The rewrites above, as an esbuild plugin over src/**.ts. */
const runPathRewrites = {
  name: 'promflux-run-path',
  setup(b) {
    b.onResolve({ filter: /^\.\/vendor\// }, (args) => ({ path: args.path, external: true }));
    b.onLoad({ filter: /[\\/]src[\\/].*\.ts$/ }, (args) => {
      let text = readFileSync(args.path, 'utf8');
      const warnings = [];
      const twinDir = dirname(join(distSrc, relative(join(root, 'src'), args.path)));
      text = text.replace(URL_RE, (whole, q, rel, at) => {
        const target = resolve(twinDir, rel);
        const entry = entryTwins.get(target);
        if (entry) return `new URL(${q}${entry}${q}, import.meta.url)`;
        const exists = existsSync(target) && statSync(target).isFile();
        if (exists && target.endsWith('.wasm')) {
          mkdirSync(outdir, { recursive: true });
          copyFileSync(target, join(outdir, basename(target)));
          return `new URL(${q}./${basename(target)}${q}, import.meta.url)`;
        }
        // Files outside dist/src (dist/benchmarks/run.js) are loaded from where tsc put them; a
        // module inside dist/src is bundled, so a URL naming one is an example in a message.
        if (exists && !target.startsWith(distSrc + sep)) return `new URL(${q}${relUrl(target)}${q}, import.meta.url)`;
        const line = text.slice(text.lastIndexOf('\n', at) + 1, at).trim();
        if (!exists && !line.startsWith('*') && !line.startsWith('//')) warnings.push({ text: `left as is (no file at ${relative(root, target)}): ${whole}` });
        return whole;
      });
      checkVendorParts(text, args.path);
      text = text.replace(LAZY_RE, (_w, type, q, id) => {
        const file = `./vendor/${id.replace(/[^\w.-]+/g, '_')}.cjs`;
        vendored.set(id, file);
        return `lazyRequire<${type}>(${q}${id}${q}, () => require(${q}${file}${q}))`;
      });
      text = text.replace(ZOD_RE, 'import * as z from $1zod$1;');
      return { contents: text, loader: 'ts', warnings };
    });
  },
};

export async function bundle({ quiet = false } = {}) {
  for (const src of [...Object.values(entries), WORKER_SRC]) {
    const twin = join(root, 'dist', src.replace(/\.ts$/, '.js'));
    if (!existsSync(twin)) throw new Error(`scripts/bundle.mjs: ${relative(root, twin)} is missing: run \`npm run build\` (tsc first, then this script)`);
  }
  rmSync(outdir, { recursive: true, force: true });
  const result = await build({
    absWorkingDir: root,
    entryPoints: entries,
    outdir,
    outExtension: { '.js': '.mjs' },
    // Chunks sit beside the entries, so every `new URL('./x', import.meta.url)` resolves in one folder.
    chunkNames: '[name]-[hash]',
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    external,
    sourcemap: 'linked',
    // Bundled CommonJS code calls require() for node built-ins; ESM has none.
    banner: {
      js: "import { createRequire as __promfluxCreateRequire } from 'node:module'; const require = __promfluxCreateRequire(import.meta.url); import { fileURLToPath as __promfluxFileURLToPath } from 'node:url'; const __promfluxBundleDir = __promfluxFileURLToPath(new URL('.', import.meta.url));",
    },
    plugins: [runPathRewrites, deferPromClientExtras, bundlePiscina],
    logLevel: quiet ? 'error' : 'warning',
    metafile: true,
  });
  // The worker as one CommonJS file: import.meta.url is the file's URL (wasm beside it).
  await build({
    absWorkingDir: root,
    entryPoints: [WORKER_SRC],
    outfile: join(outdir, 'worker.cjs'),
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    external,
    sourcemap: 'linked',
    define: { 'import.meta.url': '__promfluxImportMetaUrl' },
    banner: { js: "var __promfluxImportMetaUrl = require('node:url').pathToFileURL(__filename).href; var __promfluxBundleDir = __dirname + '/';" },
    plugins: [runPathRewrites, deferPromClientExtras],
    logLevel: quiet ? 'error' : 'warning',
  });
  for (const f of [WORKER_BOOT, 'code-cache.cjs']) copyFileSync(join(root, 'scripts', f), join(outdir, f));
  // The lazily required packages, one CommonJS file each (see the head comment), and piscina's thread entry.
  // (By path: piscina's package exports name only its main module.)
  vendored.set(join(dirname(createRequire(import.meta.url).resolve('piscina')), 'worker.js'), `./${PISCINA_WORKER}`);
  await Promise.all(
    [...vendored].map(([id, file]) =>
      build({
        absWorkingDir: root,
        stdin: { contents: VENDOR_PARTS[id]?.contents ?? `module.exports = require(${JSON.stringify(id)});`, resolveDir: root, loader: 'js' },
        outfile: join(outdir, file),
        bundle: true,
        format: 'cjs',
        platform: 'node',
        target: 'node20',
        // piscina's worker loads @napi-rs/nice only for `niceIncrement`, and only if installed.
        external: [...external, '@napi-rs/nice'],
        logLevel: quiet ? 'error' : 'warning',
      }),
    ),
  );
  await writeWorkerCodeCache();
  return result;
}

/**
 * dist/bundle/worker.cjs.cache: load worker.cjs in a worker thread (as the pool does), run its
 * warm-up (so the functions it compiles are in the cache too), and save V8's code cache with the
 * source's hash in front (scripts/code-cache.cjs). Made with this Node; another Node or other V8
 * flags reject it and compile as without one.
 */
async function writeWorkerCodeCache() {
  const cc = join(outdir, 'code-cache.cjs');
  const file = join(outdir, 'worker.cjs');
  const code = `const { parentPort } = require('node:worker_threads');
const { loadWithCodeCache, cacheBytes } = require(${JSON.stringify(cc)});
const l = loadWithCodeCache(${JSON.stringify(file)}, '');
l.exports.warmup();
parentPort.postMessage(cacheBytes(l.script, l.source));`;
  const bytes = await new Promise((ok, fail) => {
    const w = new Worker(code, { eval: true, execArgv: ['--no-experimental-require-module'] });
    w.once('message', ok);
    w.once('error', fail);
    w.once('exit', (c) => fail(new Error(`scripts/bundle.mjs: the code-cache worker exited (${c}) before answering`)));
  });
  writeFileSync(join(outdir, 'worker.cjs.cache'), bytes);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const result = await bundle();
  // What went where, for `npx esbuild --analyze`-style reading (docs/SCALING.md#start-up).
  writeFileSync(join(outdir, 'meta.json'), JSON.stringify(result.metafile));
  const outs = Object.entries(result.metafile.outputs).filter(([f]) => f.endsWith('.mjs'));
  const kb = outs.reduce((s, [, o]) => s + o.bytes, 0) / 1024;
  process.stderr.write(`bundle: ${outs.length} files, ${kb.toFixed(0)} KiB in ${relative(root, outdir)}/\n`);
}
