/**
 * Issue #20: a library that never crashes or hangs its host. Every I/O failure of a built-in sink
 * (ENOSPC on /dev/full, EISDIR on a directory, EACCES in a read-only directory, ENOTDIR under a
 * file, EPIPE on a fifo whose reader closed) ends `run()` with a failed summary and a coded error:
 * no unhandled rejection, no unhandled 'error' event, no hang. Real failing paths, no mocks.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cliPath } from './harness/cli.js';
import { after, describe, test } from 'node:test';
import { tableFromIPC } from 'apache-arrow';
import { ArrowSink, createPipeline, type EncodedBatch, type RunSummary, type Sink, type SinkWriteResult } from '../src/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'promflux-embed-io-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

// Anything the host would see as a crash is collected here and asserted empty after every run.
const crashes: unknown[] = [];
process.on('unhandledRejection', (e) => crashes.push(e));
process.on('uncaughtException', (e) => crashes.push(e));

const source = { kind: 'synthetic', series: 20, samplesPerSeries: 3000 } as const;

/** Run with a deadline: a hang fails the test instead of stalling the suite. */
async function runWith(sink: Record<string, unknown> | Sink, opts: { batchSize?: number } = {}): Promise<RunSummary> {
  const injected = typeof (sink as Sink).write === 'function';
  const p = createPipeline(
    { name: 'io', source, transform: [{ kind: 'validate' }, { kind: 'rolling', windows: [5], stats: ['mean'] }], ...(injected ? {} : { sink }) } as never,
    { workers: 1, batchSize: opts.batchSize ?? 4000, ...(injected ? { sink: sink as Sink } : {}) },
  );
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('run() did not settle within 60 s')), 60_000);
  });
  try {
    return await Promise.race([p.run(), hang]);
  } finally {
    clearTimeout(timer);
    // Let late stream events surface before asserting nothing crashed.
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(crashes, [], 'no unhandled rejection or uncaught error reached the host');
  }
}

function assertFailed(s: RunSummary, code: string, pattern: RegExp): void {
  assert.equal(s.status, 'failed');
  assert.equal(s.error?.code, code, s.error?.message);
  assert.match(s.error!.message, pattern);
  // A summary, not a bare exception: the counters are there for the host to report.
  assert.equal(typeof s.samplesIn, 'number');
  assert.equal(typeof s.wallMs, 'number');
}

describe('sink I/O failures become failed runs', () => {
  for (const kind of ['file', 'file-gzip', 'arrow'] as const) {
    const sinkCfg = (path: string) => (kind === 'arrow' ? { kind: 'arrow', path } : { kind: 'file', path, ...(kind === 'file-gzip' ? { gzip: true } : {}) });

    test(`a full disk (ENOSPC on /dev/full) fails a ${kind} run with PROMFLUX_SINK_WRITE or _CLOSE and a summary`, async () => {
      const s = await runWith(sinkCfg('/dev/full'));
      assert.equal(s.status, 'failed');
      assert.ok(['PROMFLUX_SINK_WRITE', 'PROMFLUX_SINK_CLOSE'].includes(s.error!.code), s.error!.code);
      assert.match(s.error!.message, /ENOSPC/);
    });

    test(`a directory as the path (EISDIR) fails a ${kind} run with PROMFLUX_SINK_OPEN instead of hanging`, async () => {
      const dir = join(tmp, `${kind}-isdir`);
      mkdirSync(dir, { recursive: true });
      assertFailed(await runWith(sinkCfg(dir)), 'PROMFLUX_SINK_OPEN', /EISDIR/);
    });

    test(`a path under a regular file (ENOTDIR) fails a ${kind} run with PROMFLUX_SINK_OPEN`, async () => {
      const file = join(tmp, `${kind}-plain`);
      writeFileSync(file, 'x');
      assertFailed(await runWith(sinkCfg(join(file, 'out.lp'))), 'PROMFLUX_SINK_OPEN', /ENOTDIR|EEXIST/);
    });

    test(`a fifo whose reader closes early (EPIPE) fails a ${kind} run with PROMFLUX_SINK_WRITE or _CLOSE`, async () => {
      const fifo = join(tmp, `${kind}.fifo`);
      assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
      // The reader takes 1 KiB and exits: every later write hits a pipe with no reader.
      const reader = spawn('head', ['-c', '1024', fifo], { stdio: ['ignore', 'ignore', 'inherit'] });
      try {
        const s = await runWith(sinkCfg(fifo), { batchSize: 2000 });
        assert.equal(s.status, 'failed');
        assert.ok(['PROMFLUX_SINK_WRITE', 'PROMFLUX_SINK_CLOSE'].includes(s.error!.code), s.error!.code);
        assert.match(s.error!.message, /EPIPE/);
      } finally {
        reader.kill();
      }
    });
  }

  test('a read-only directory (EACCES, as an unprivileged user) fails file and arrow runs with PROMFLUX_SINK_OPEN', async () => {
    // Root ignores permission bits, so when the tests run as root the run happens in a child
    // process started as uid/gid 65534 (nobody) against a root-owned 0555 directory.
    const dir = join(tmp, 'readonly');
    mkdirSync(dir, { recursive: true });
    chmodSync(tmp, 0o755);
    chmodSync(dir, 0o555);
    const asRoot = process.getuid?.() === 0;
    if (!asRoot) chownSync(dir, process.getuid!(), process.getgid!());
    const script = join(here, 'harness', 'embed-run-child.js');
    for (const [kind, file] of [['file', 'out.lp'], ['arrow', 'out.arrow']] as const) {
      const r = spawnSync(process.execPath, [script, JSON.stringify({ kind, path: join(dir, file) })], {
        encoding: 'utf8',
        timeout: 120_000,
        ...(asRoot ? { uid: 65534, gid: 65534 } : {}),
      });
      assert.equal(r.status, 0, r.stderr);
      const s = JSON.parse(r.stdout) as RunSummary & { crashes: string[] };
      assert.deepEqual(s.crashes, []);
      assertFailed(s, 'PROMFLUX_SINK_OPEN', /EACCES/);
    }
  });
});

describe('sink close() errors and reuse', () => {
  test('an error thrown by an injected sink\'s close() fails the run with its message (never swallowed)', async () => {
    const sink: Sink = {
      kind: 'flaky-close',
      needs: { lineProtocol: true, columns: false },
      async open() {},
      async write(b: EncodedBatch): Promise<SinkWriteResult> {
        return { written: b.lines };
      },
      async close() {
        throw new Error('flush to the remote store failed');
      },
    };
    assertFailed(await runWith(sink), 'PROMFLUX_SINK_CLOSE', /flaky-close sink failed to close: flush to the remote store failed/);
  });

  test('an ArrowSink is single-use: a second run with the same object fails with PROMFLUX_SINK_REUSED and leaves the first file readable', async () => {
    const path = join(tmp, 'reuse.arrow');
    const sink = new ArrowSink(path, ['mean_5']);
    const first = await runWith(sink);
    assert.equal(first.status, 'ok', first.error?.message);
    const rows = tableFromIPC(readFileSync(path)).numRows;
    assert.equal(rows, first.linesOut);
    const second = await runWith(sink);
    assertFailed(second, 'PROMFLUX_SINK_REUSED', /single-use/);
    assert.equal(tableFromIPC(readFileSync(path)).numRows, rows, 'the first run\'s file is untouched');
  });

  test('a file sink is single-use as well: a second run with the same object fails with PROMFLUX_SINK_REUSED', async () => {
    const { FileSink } = await import('../src/index.js');
    const path = join(tmp, 'reuse.lp');
    const sink = new FileSink(path);
    const first = await runWith(sink);
    assert.equal(first.status, 'ok', first.error?.message);
    const size = readFileSync(path).byteLength;
    assertFailed(await runWith(sink), 'PROMFLUX_SINK_REUSED', /single-use/);
    assert.equal(readFileSync(path).byteLength, size);
  });
});

describe('the CLI on a sink I/O failure', () => {
  test('promflux run --sink file:/dev/full exits 1 and still prints the summary with the coded error', () => {
    const cli = cliPath();
    const cfg = join(tmp, 'cli.yaml');
    writeFileSync(cfg, 'pipelines:\n  - name: full\n    source: { kind: synthetic, series: 5, samplesPerSeries: 2000 }\n    transform: [{ kind: validate }]\n    sink: { kind: "null" }\n');
    const r = spawnSync(process.execPath, [cli, 'run', '--config', cfg, '--sink', 'file:/dev/full', '--workers', '1', '--json'], { encoding: 'utf8', env: { ...process.env, CI: '1' }, timeout: 120_000 });
    assert.equal(r.status, 1, r.stderr);
    assert.ok(existsSync(cfg));
    assert.match(r.stdout + r.stderr, /PROMFLUX_SINK_WRITE/);
    assert.match(r.stdout + r.stderr, /"status":\s*"failed"/);
  });
});
