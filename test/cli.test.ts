import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tableFromIPC } from 'apache-arrow';
import { cliPath } from './harness/cli.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const cli = cliPath();
const tmp = mkdtempSync(join(tmpdir(), 'promflux-cli-'));

function run(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, CI: '1', ...env }, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function writeConfig(name: string, text: string): string {
  const p = join(tmp, name);
  writeFileSync(p, text);
  return p;
}

const GOOD = `pipelines:
  - name: small
    source:
      kind: synthetic
      series: 14
      samplesPerSeries: 300
      nanRate: 0.01
    transform:
      - kind: validate
      - kind: rolling
        windows: [5, 15]
        stats: [mean, std]
    sink:
      kind: file
      path: ${join(tmp, 'small.lp')}
`;

describe('promflux run', () => {
  test('runs, prints the summary, writes --summary-json with the documented keys, exit 0', () => {
    const cfg = writeConfig('good.yaml', GOOD);
    const sj = join(tmp, 'summary.json');
    const r = run(['run', '--config', cfg, '--workers', '2', '--batch-size', '1000', '--summary-json', sj]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /promflux run "small": OK/);
    assert.match(r.stdout, /samples in\s+4,200/);
    const s = JSON.parse(readFileSync(sj, 'utf8'));
    for (const k of ['samplesIn', 'linesOut', 'dropped', 'batches', 'batchSize', 'wallMs', 'samplesPerSec', 'workers']) assert.ok(k in s, `summary has ${k}`);
    assert.deepEqual(Object.keys(s.batchSize).sort(), ['max', 'median', 'min']);
    assert.equal(s.samplesIn, 4200);
    assert.equal(s.workers, 2);
    assert.equal(s.batchSize.max, 1000);
    assert.equal(s.samplesIn, s.linesOut + Object.values(s.dropped as Record<string, number>).reduce((a, b) => a + b, 0));
    assert.ok(s.dropped.nan > 0);
    const lines = readFileSync(join(tmp, 'small.lp'), 'utf8').trim().split('\n');
    assert.equal(lines.length, s.linesOut);
  });

  test('--sink overrides: null, and arrow readable back with apache-arrow', () => {
    const cfg = writeConfig('good2.yaml', GOOD);
    const n = run(['run', '--config', cfg, '--sink', 'null', '--json']);
    assert.equal(n.code, 0, n.stderr);
    assert.equal(JSON.parse(n.stdout).sink.kind, 'null');
    const ap = join(tmp, 'features.arrow');
    const a = run(['run', '--config', cfg, '--sink', `arrow:${ap}`, '--json']);
    assert.equal(a.code, 0, a.stderr);
    const s = JSON.parse(a.stdout);
    const table = tableFromIPC(readFileSync(ap));
    assert.equal(table.numRows, s.linesOut);
    assert.deepEqual(table.schema.fields.map((f) => f.name), ['series', 'timestamp', 'value', 'flags', 'mean_5', 'std_5', 'mean_15', 'std_15']);
    const row = table.get(20)!.toJSON() as Record<string, unknown>;
    assert.match(String(row.series), /^[a-z_]+\{.*\}$/);
    assert.equal(typeof row.value, 'number');
    // timestamps are real epoch ms from 2024-01-01
    const ts = table.getChild('timestamp')!.get(0) as number | bigint;
    assert.ok(Number(ts) >= Date.parse('2024-01-01T00:00:00Z'));
    // features match a recomputation from the values of one series
    const series = table.getChild('series')!;
    const values = table.getChild('value')!;
    const mean5 = table.getChild('mean_5')!;
    const first = String(series.get(0));
    const vs: number[] = [];
    for (let i = 0; i < table.numRows && String(series.get(i)) === first; i++) {
      vs.push(values.get(i) as number);
      if (vs.length >= 5 && i >= 4) {
        const w = vs.slice(-5);
        const exp = w.reduce((a, b) => a + b, 0) / 5;
        if (!Number.isNaN(mean5.get(i) as number)) assert.ok(Math.abs((mean5.get(i) as number) - exp) <= 1e-9 * Math.max(1, Math.abs(exp)));
      }
    }
  });

  test('unknown config key: exit 2, message names file, line and key', () => {
    const cfg = writeConfig('typo.yaml', GOOD.replace('      samplesPerSeries: 300', '      samplesPerSerie: 300'));
    const r = run(['run', '--config', cfg]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, new RegExp(`${cfg.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}, line 6, key "pipelines.0.source.samplesPerSerie": unknown key "samplesPerSerie"`));
  });

  test('wrong type: exit 2 naming the key and line', () => {
    const cfg = writeConfig('type.yaml', GOOD.replace('series: 14', 'series: many'));
    const r = run(['run', '--config', cfg]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /line 5, key "pipelines\.0\.source\.series"/);
  });

  test('YAML syntax error: exit 2 with the line', () => {
    const cfg = writeConfig('syntax.yaml', 'pipelines:\n  - name: x\n    source: {kind: synthetic\n');
    const r = run(['run', '--config', cfg]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /syntax\.yaml, line \d+: YAML syntax error/);
  });

  test('missing config file: exit 2', () => {
    const r = run(['run', '--config', join(tmp, 'nope.yaml')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /nope\.yaml: file not found/);
  });

  test('unset ${ENV} in the config: exit 2 naming the variable and key', () => {
    const cfg = writeConfig('env.yaml', GOOD.replace(`path: ${join(tmp, 'small.lp')}`, 'path: ${PROMFLUX_TEST_UNSET_VAR}'));
    const r = run(['run', '--config', cfg]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /environment variable PROMFLUX_TEST_UNSET_VAR is not set/);
    assert.match(r.stderr, /key "pipelines\.0\.sink\.path"/);
    const ok = run(['run', '--config', cfg, '--json'], { PROMFLUX_TEST_UNSET_VAR: join(tmp, 'env.lp') });
    assert.equal(ok.code, 0, ok.stderr);
  });

  test('bad usage: exit 2', () => {
    assert.equal(run(['run']).code, 2);
    assert.equal(run(['frobnicate']).code, 2);
    const cfg = writeConfig('good3.yaml', GOOD);
    assert.equal(run(['run', '--config', cfg, '--workers', 'zero']).code, 2);
    assert.equal(run(['run', '--config', cfg, '--sink', 'ftp:x']).code, 2);
  });

  test('unknown transform kind: exit 2 naming it', () => {
    const cfg = writeConfig('kind.yaml', GOOD.replace('kind: validate', 'kind: validait'));
    const r = run(['run', '--config', cfg]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown kind "validait"/);
  });

  test('the shipped default config validates and runs to the null sink', () => {
    const r = run(['run', '--config', resolve(here, '../../config/default.yaml'), '--sink', 'null', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout);
    assert.equal(s.status, 'ok');
    assert.ok(s.samplesIn > 1_000_000);
    assert.equal(s.adaptive, true);
    assert.ok(s.batchSizeHistory.length >= 1);
  });
});
