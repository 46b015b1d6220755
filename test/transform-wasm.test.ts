import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { rollingArena, wasmPath, WasmArena } from '../src/transform/kernels/wasm/arena.js';
import { PromfluxError } from '../src/errors.js';
import { runSpecs } from './oracle/batch.js';

test('the rolling WebAssembly module is built and found; a missing one is a clear error naming the fix', () => {
  assert.match(wasmPath(), /rolling\.wasm$/);
  const dir = mkdtempSync(join(tmpdir(), 'pfx-wasm-'));
  try {
    const missing = join(dir, 'src', 'transform', 'kernels', 'wasm', 'rolling.wasm');
    assert.throws(
      () => wasmPath(missing),
      (e: unknown) => e instanceof PromfluxError && e.code === 'PROMFLUX_WASM_MISSING' && e.message.includes(missing) && e.message.includes('npm run build'),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the per-thread arena grows for a large batch and a later small batch reuses it with the same results', () => {
  const specs = [{ kind: 'rolling', windows: [5, 15, 60], stats: ['mean', 'std', 'p50', 'p95', 'slope', 'zscore'] }];
  const series = (n: number) => ({ key: 'm{a="1"}', ts: Array.from({ length: n }, (_, i) => 1.7e12 + i * 15_000), v: Array.from({ length: n }, (_, i) => Math.sin(i / 7) * 10 + (i % 13)), halo: 0 });
  const small = runSpecs(specs, [series(300)]).ctx;
  const before = rollingArena().bytes;
  runSpecs(specs, [series(200_000)]);
  const grown = rollingArena().bytes;
  assert.ok(grown > before, `arena grew (${before} → ${grown} bytes)`);
  const again = runSpecs(specs, [series(300)]).ctx;
  assert.equal(rollingArena().bytes, grown, 'memory is kept, not reallocated');
  for (const [name, col] of small.features) assert.deepEqual(Array.from(again.features.get(name)!), Array.from(col), name);
});

test('a batch too large for WebAssembly memory is a clear error naming the fix, not a RangeError', () => {
  // a separate arena (not this thread's): ask for more than wasm32's 4 GiB
  const arena = new WasmArena(new (globalThis as unknown as { WebAssembly: { Module: new (b: Uint8Array) => object } }).WebAssembly.Module(readFileSync(wasmPath())));
  arena.alloc(5 * 2 ** 30);
  assert.throws(
    () => arena.commit(),
    (e: unknown) => e instanceof PromfluxError && e.code === 'PROMFLUX_WASM_MEMORY' && /engine\.batchSize/.test(e.message) && /5121 MiB/.test(e.message),
  );
});
