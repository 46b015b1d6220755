'use strict';
/**
 * Loading a CommonJS file through V8's code cache (issue #18/#16, start-up), for the bundle's
 * worker (scripts/worker-boot.cjs; copied to dist/bundle/code-cache.cjs by scripts/bundle.mjs,
 * which also writes the cache at build time with `cacheBytes`).
 *
 * The cache is only an optimisation, never trusted blindly:
 * - its first 64 bytes are the SHA-256 (hex) of the source it was made from; another source
 *   (a rebuilt or edited file) makes it 'stale' and it is not handed to V8 at all (V8's own
 *   check compares the source's length only);
 * - the next 64 bytes are the SHA-256 (hex) of V8's data after them; a file that does not match
 *   (truncated, damaged) is 'corrupt' and not handed to V8 either (release builds of V8 do not
 *   verify a code cache's checksum);
 * - V8 rejects data from another V8 version or other V8 flags, or data that fails its sanity
 *   checks (`cachedDataRejected`, 'rejected'): the source is then compiled as without a cache;
 * - a missing or unreadable cache file ('missing'): compiled without one.
 * Every case runs the same source; only the compile time differs.
 */
const { readFileSync } = require('node:fs');
const { createHash } = require('node:crypto');
const { dirname } = require('node:path');
const Module = require('node:module');
const vm = require('node:vm');

const HASH_HEX = 64;

/** sha256 as 64 ASCII hex bytes (the cache file's two header fields). */
function sourceHash(source) {
  return createHash('sha256').update(source).digest('hex');
}

/**
 * Load `file` (CommonJS) with the code cache at `cacheFile`; returns { exports, codeCache: 'used'
 * | 'missing' | 'stale' | 'corrupt' | 'rejected', script, source }.
 */
function loadWithCodeCache(file, cacheFile) {
  const source = readFileSync(file, 'utf8');
  let cachedData;
  let codeCache = 'missing';
  let raw;
  try {
    raw = readFileSync(cacheFile);
  } catch {
    raw = undefined;
  }
  if (raw) {
    if (raw.length < 2 * HASH_HEX || raw.toString('latin1', 0, HASH_HEX) !== sourceHash(source)) codeCache = 'stale';
    else if (raw.toString('latin1', HASH_HEX, 2 * HASH_HEX) !== sourceHash(raw.subarray(2 * HASH_HEX))) codeCache = 'corrupt';
    else cachedData = raw.subarray(2 * HASH_HEX);
  }
  // import() inside the file (user kernel modules, src/transform/registry.ts) goes to Node's own loader, as from a module.
  const script = new vm.Script(Module.wrap(source), { filename: file, importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER, ...(cachedData ? { cachedData } : {}) });
  if (cachedData) codeCache = script.cachedDataRejected ? 'rejected' : 'used';
  const mod = { exports: {}, filename: file, id: file, loaded: false };
  script.runInThisContext().call(mod.exports, mod.exports, Module.createRequire(file), mod, file, dirname(file));
  mod.loaded = true;
  return { exports: mod.exports, codeCache, script, source };
}

/** The cache file's bytes for a script loaded (and, ideally, run) in this thread. */
function cacheBytes(script, source) {
  const data = script.createCachedData();
  return Buffer.concat([Buffer.from(sourceHash(source), 'latin1'), Buffer.from(sourceHash(data), 'latin1'), data]);
}

module.exports = { loadWithCodeCache, cacheBytes, sourceHash };
