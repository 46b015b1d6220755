/**
 * Worker faults seen from the CLI (engine-level tests are in test/engine.test.ts): a worker that
 * exits or throws once has its batch retried and the run completes with exactly the output of a
 * clean run; a fault that persists fails the run with an error naming batch, chunk and kernel;
 * `onError: skip` counts the lost batch by reason. The hooks exist only with PROMFLUX_FAULTS=1.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './harness/cli.js';

const tmp = mkdtempSync(join(tmpdir(), 'promflux-ops-faults-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function config(name: string, extraTransform = '', engine = ''): string {
  const path = join(tmp, `${name}.yaml`);
  writeFileSync(
    path,
    `pipelines:
  - name: ${name}
    source: { kind: synthetic, series: 14, samplesPerSeries: 1000, seed: 5, nanRate: 0.01 }
    transform:
      - kind: validate
      - { kind: rolling, windows: [5, 15], stats: [mean, std] }
${extraTransform}    sink: { kind: file, path: ${join(tmp, `${name}.lp`)} }
    engine: { batchSize: 700, workers: 2${engine} }
`,
  );
  return path;
}

const sorted = (p: string) => readFileSync(p, 'utf8').split('\n').filter(Boolean).sort();
const dropped = (s: { dropped: Record<string, number> }) => Object.values(s.dropped).reduce((a, b) => a + b, 0);

describe('worker faults through the CLI', () => {
  test('a worker that exits and one that throws: batches retried, exit 0, output identical to a clean run', async () => {
    const ref = await runCli(['run', '--config', config('clean'), '--json']);
    assert.equal(ref.code, 0, ref.stderr);
    const cfg = config('faulty');
    const r = await runCli(['run', '--config', cfg, '--json'], { PROMFLUX_FAULTS: '1', PROMFLUX_FAULT_BATCHES: '2:exit,5:throw' });
    assert.equal(r.code, 0, r.stderr.slice(-2000));
    const s = JSON.parse(r.stdout);
    assert.equal(s.status, 'ok');
    assert.equal(s.retries, 2, 'each faulty batch retried once');
    assert.equal(s.failedBatches, 0);
    assert.equal(s.samplesIn, 14_000);
    assert.equal(s.samplesIn, s.linesOut + dropped(s));
    assert.match(r.stderr, /worker failed on batch; retrying/);
    assert.deepEqual(sorted(join(tmp, 'faulty.lp')), sorted(join(tmp, 'clean.lp')));
  });

  test('a persistent fault: the run fails (exit 1) with an error naming the batch, the chunk and the kernel', async () => {
    const cfg = config('persistent', `      - { kind: debug_throw, chunk: ':7-14:' }\n`, ', onError: retry, retries: 2');
    const r = await runCli(['run', '--config', cfg], { PROMFLUX_FAULTS: '1' });
    assert.equal(r.code, 1, r.stderr.slice(-2000));
    assert.match(r.stdout, /promflux run "persistent": FAILED — PROMFLUX_KERNEL_FAILED: kernel "debug_throw" failed on batch \d+ \(chunk syn:7-14:/);
    // retried twice before giving up
    const retries = r.stderr.split('\n').filter((l) => l.includes('"msg":"batch failed; retrying"'));
    assert.ok(retries.length >= 2, `retries logged: ${retries.length}`);
  });

  test('onError: skip — the failing batches are counted as batch_failed:<kernel>, the rest is written, exit 0', async () => {
    const cfg = config('skipping', `      - { kind: debug_throw, chunk: ':7-14:' }\n`, ', onError: skip');
    const r = await runCli(['run', '--config', cfg, '--json'], { PROMFLUX_FAULTS: '1' });
    assert.equal(r.code, 0, r.stderr.slice(-2000));
    const s = JSON.parse(r.stdout);
    assert.equal(s.status, 'ok');
    assert.ok(s.failedBatches > 0);
    assert.ok(s.dropped['batch_failed:debug_throw'] > 0);
    assert.equal(s.samplesIn, 14_000);
    assert.equal(s.samplesIn, s.linesOut + dropped(s), 'every sample written or dropped with a reason');
  });

  test('without PROMFLUX_FAULTS the hooks do not exist: debug_throw is an unknown kernel (exit 2), fault env ignored', async () => {
    const cfg = config('prod', `      - { kind: debug_throw }\n`);
    const r = await runCli(['run', '--config', cfg], { PROMFLUX_FAULTS: undefined });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown kind "debug_throw"/);
    const ok = await runCli(['run', '--config', config('prod2'), '--json'], { PROMFLUX_FAULTS: undefined, PROMFLUX_FAULT_BATCHES: '0:exit' });
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(JSON.parse(ok.stdout).retries, 0);
  });
});
