/**
 * Progress reporting of `promflux run`: on a terminal a cli-progress bar with percentage and ETA
 * (the CLI runs under `script`, which gives it a pseudo-terminal); in CI and pipes, JSON log lines
 * with percent, ETA and rate instead, never terminal control codes.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { progressTotal } from '../src/pipeline/run.js';
import pino from 'pino';
import { cliPath, runCli } from './harness/cli.js';
import { ensureDebianPackage } from './harness/influxdb.js';
import { createProgressReporter } from '../src/observe/progress.js';

const run = promisify(execFile);
const tmp = mkdtempSync(join(tmpdir(), 'promflux-ops-progress-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const cfg = join(tmp, 'p.yaml');
writeFileSync(
  cfg,
  `pipelines:
  - name: prog
    source: { kind: synthetic, series: 70, samplesPerSeries: 6000 }
    transform: [{ kind: validate }, { kind: rolling, windows: [5, 15], stats: [mean, std] }]
    sink: { kind: "null" }
    engine: { workers: 1, batchSize: 7000 }
`,
);

describe('progress', () => {
  test('on a TTY: a progress bar with percentage and ETA on stderr', async () => {
    const script = ensureDebianPackage('script', 'bsdutils');
    const env = { ...process.env };
    delete env.CI;
    const cmd = `${JSON.stringify(process.execPath)} ${JSON.stringify(cliPath())} run --config ${JSON.stringify(cfg)}`;
    const { stdout } = await run(script, ['-qfec', cmd, '/dev/null'], { env, maxBuffer: 64 << 20, timeout: 120_000 });
    assert.match(stdout, /\d+% \| ETA \d+s \| [\d,]+\/420000 samples \| [\d,]+ samples\/s/);
    assert.match(stdout, /100% \| ETA 0s \| 420000\/420000 samples/);
    assert.match(stdout, /promflux run "prog": OK/);
  });

  test('in CI / pipes: periodic JSON progress lines (percent, ETA, rate), no control codes', async () => {
    const r = await runCli(['run', '--config', cfg]);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /\u001b\[/);
    const progress = r.stderr
      .split('\n')
      .filter((l) => l.includes('"msg":"progress"'))
      .map((l) => JSON.parse(l) as { samplesIn: number; totalSamples: number; percent: number; samplesPerSec: number });
    assert.ok(progress.length >= 1);
    for (const p of progress) {
      assert.equal(p.totalSamples, 420_000);
      assert.equal(typeof p.percent, 'number');
      assert.equal(typeof p.samplesPerSec, 'number');
    }
  });

  test('log-line reporter: rate-limited, with percent and ETA', () => {
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
    const rep = createProgressReporter(logger, { tty: false, intervalMs: 60_000 });
    const ev = (samplesIn: number) => ({ samplesIn, linesOut: samplesIn, batches: 1, doneSamples: samplesIn, totalSamples: 1000, batchSize: 100, elapsedMs: 1000, samplesPerSec: 100 });
    rep.update(ev(250));
    rep.update(ev(500)); // within the interval: not logged
    rep.stop();
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!.percent, 25);
    assert.equal(lines[0]!.etaSeconds, 8);
  });

  test('progress total = processed + what the source says is left: never past 100 % when its estimate is low', () => {
    // a remote-read source estimated 1000 samples; the chunks it has handed out held 1500
    assert.equal(progressTotal({ doneSamples: 600, totalSamples: 1000 }, 900), 1300); // 900 processed + 400 left
    assert.equal(progressTotal({ doneSamples: 1000, totalSamples: 1000 }, 1500), 1500); // done: exactly 100 %
    assert.equal(progressTotal({ doneSamples: 300, totalSamples: 1000 }, 200), 1000); // estimate not low: unchanged
    assert.equal(progressTotal({ doneSamples: 5, totalSamples: null }, 5), null); // open-ended (stream)
  });
});
