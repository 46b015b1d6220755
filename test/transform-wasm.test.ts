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

test('the dedicated mean/std and EWMA loops (fastBody, directBody) give the general split-window loop\'s bits', () => {
  // Series shaped to reach every branch: 15 s steps with gaps, NaNs and spikes (the cancellation
  // fix-up), strictly ascending timestamps 0.01 ms apart (windows within one millisecond: direct
  // scans deferred to after the loop), duplicate and descending timestamps (runs the fast loop
  // hands back to the general one), values far from 0, and halo rows (h0 > start).
  let seed = 11;
  const rnd = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const shapes = ['plain', 'spiky', 'submilli', 'dups', 'descending', 'offset', 'sparse'] as const;
  const pieces = shapes.map((shape, s) => {
    const n = 1500;
    const ts: number[] = [];
    const v: number[] = [];
    let t = 1.7e12 + s * 7;
    for (let i = 0; i < n; i++) {
      const r = rnd();
      t += shape === 'submilli' ? (r < 0.9 ? 0.01 : 3) : shape === 'dups' && r < 0.05 ? 0 : shape === 'descending' && r < 0.03 ? -20_000 : 15_000 + (r < 0.02 ? 600_000 : 0);
      ts.push(t);
      let x = shape === 'offset' ? 1e9 + rnd() : Math.sin(i / 40) * 50 + rnd();
      if (shape === 'spiky' && rnd() < 0.02) x = 1e12;
      if (rnd() < (shape === 'sparse' ? 0.4 : 0.03)) x = NaN;
      v.push(x);
    }
    return { key: `m{s="${shape}"}`, ts, v, halo: s % 2 ? 100 : 0 };
  });
  const same = (a: Float64Array, b: Float64Array, what: string): void => {
    assert.equal(a.length, b.length);
    for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) assert.fail(`${what}: row ${i}: ${a[i]} vs ${b[i]}`);
  };
  for (const w of [5, 16, 17, 60, 333, '10m', '1h']) {
    for (const minPeriods of [1, 3]) {
      const fast = runSpecs([{ kind: 'rolling', windows: [w], stats: ['mean', 'std'], minPeriods }], pieces).ctx;
      const general = runSpecs([{ kind: 'rolling', windows: [w], stats: ['mean', 'std', 'var'], minPeriods }], pieces).ctx;
      for (const f of [`mean_${w}`, `std_${w}`]) same(fast.features.get(f)!, general.features.get(f)!, `${f} minPeriods ${minPeriods}`);
      const ewFast = runSpecs([{ kind: 'rolling', windows: [w], stats: ['ewma'], alpha: 0.05, minPeriods }], pieces).ctx;
      const ewGeneral = runSpecs([{ kind: 'rolling', windows: [w], stats: ['ewma', 'slope'], alpha: 0.05, minPeriods }], pieces).ctx;
      same(ewFast.features.get(`ewma_${w}`)!, ewGeneral.features.get(`ewma_${w}`)!, `ewma_${w} minPeriods ${minPeriods}`);
    }
  }
});
