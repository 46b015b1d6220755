'use strict';
/**
 * The bundle's Piscina task file (issue #18/#16, start-up; copied to dist/bundle/worker-boot.cjs
 * by scripts/bundle.mjs). It loads the worker code, dist/bundle/worker.cjs (src/pool/worker.ts as
 * one CommonJS file), through `vm.Script` with V8's code cache, dist/bundle/worker.cjs.cache,
 * which `npm run build` writes after loading the worker and running its warm-up once
 * (scripts/code-cache.cjs says when a cache is used, and when it is ignored). Node 20 has no
 * compile cache for modules (module.enableCompileCache is Node 22), and every worker thread of
 * every run would otherwise parse and compile the same ≈ 300 kB again.
 *
 * The exports are the worker module's (`default` = the task, `warmup`).
 */
const { join } = require('node:path');
const { loadWithCodeCache } = require('./code-cache.cjs');

module.exports = loadWithCodeCache(join(__dirname, 'worker.cjs'), join(__dirname, 'worker.cjs.cache')).exports;
