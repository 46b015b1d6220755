/**
 * `promflux plan` against a real Prometheus: the plan (ranges, series, samples, halo overhead,
 * series keys after schema mapping) agrees with what a real run of the same config then does,
 * nothing is written, and a completed checkpoint shows as "a rerun does nothing".
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PlanReport } from '../src/cli/plan.js';
import { runCli } from './harness/cli.js';
import { dataset, startPrometheus, T0, T_END, type PromServer } from './harness/prometheus.js';

let prom: PromServer;
let dir: string;
before(async () => {
  prom = await startPrometheus();
  dir = mkdtempSync(join(tmpdir(), 'promflux-plan-'));
});
after(async () => {
  await prom?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

function writeConfig(name: string): { file: string; out: string; ckpt: string } {
  const out = join(dir, `${name}.lp`);
  const ckpt = join(dir, `${name}-ckpt`);
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    `pipelines:
  - name: ${name}
    source:
      kind: prometheus
      url: ${prom.url}
      mode: backfill
      extraction: remote-read
      start: "${new Date(T0).toISOString()}"
      end: "${new Date(T_END).toISOString()}"
      step: 15s
      queries:
        - { name: gauge, expr: test_gauge }
        - { name: reqs, expr: test_requests_total }
    transform:
      - kind: rolling
        windows: [5]
        stats: [mean]
    schema:
      measurement: { rename: { test_gauge: gauge } }
      tags: { rename: { instance: host } }
    sink: { kind: file, path: ${out} }
    checkpoint: ${ckpt}
    engine: { workers: 1, batchSize: 500 }
`,
  );
  return { file, out, ckpt };
}

describe('promflux plan', () => {
  it('prints the plan a run then follows, writes nothing, and shows a finished checkpoint as nothing to do', async () => {
    const { file, out, ckpt } = writeConfig('p1');
    const r = await runCli(['plan', '--config', file, '--json', '--examples', '50']);
    assert.equal(r.code, 0, r.stderr);
    const plan = JSON.parse(r.stdout) as PlanReport;
    assert.equal(existsSync(out), false, 'no output written');
    assert.equal(existsSync(ckpt), false, 'no checkpoint written');

    const data = dataset();
    const of = (n: string) => data.filter((s) => s.name === n);
    const byName = Object.fromEntries(plan.queries.map((q) => [q.name, q]));
    assert.equal(byName.gauge!.series, of('test_gauge').length);
    assert.equal(byName.reqs!.series, of('test_requests_total').length);
    for (const q of plan.queries) {
      assert.equal(q.start, new Date(T0).toISOString());
      assert.equal(q.end, new Date(T_END).toISOString());
      assert.ok(q.chunks >= Math.ceil(q.samples / 500), `${q.name}: ${q.chunks} chunks for ${q.samples} samples at 500 rows`);
      assert.equal(q.requests, q.chunks);
      assert.equal(q.firstChunk?.startsWith(`${q.name}:${T0}-`), true);
      assert.equal(q.lastChunk?.endsWith(`-${T_END}`), true);
    }
    // the data set scrapes every 15 s = sampleInterval: the estimate is the stored sample count
    const stored = [...of('test_gauge'), ...of('test_requests_total')].reduce((a, s) => a + s.ts.length, 0);
    assert.equal(plan.totals.samples, stored);
    assert.ok(plan.totals.haloOverheadPct > 0, 'rolling over 5 samples carries halo rows');
    assert.equal(plan.totals.haloOverheadPct, Math.round((10_000 * (plan.totals.rows - plan.totals.samples)) / plan.totals.samples) / 100);
    assert.ok(plan.totals.lineProtocolBytes > 0 && plan.totals.responseBytes > 0);
    assert.deepEqual(plan.target.measurements, ['gauge', 'test_requests_total']);
    assert.ok(plan.target.fields.includes('value'));
    assert.equal(plan.checkpoint?.exists, false);

    // the real run: every series key it writes is one the plan listed, and it reads what was estimated
    const run = await runCli(['run', '--config', file, '--json']);
    assert.equal(run.code, 0, run.stderr);
    const summary = JSON.parse(run.stdout) as { samplesIn: number; linesOut: number };
    assert.equal(summary.samplesIn, plan.totals.samples);
    const keys = new Set(readFileSync(out, 'utf8').split('\n').filter(Boolean).map((l) => l.slice(0, l.indexOf(' '))));
    assert.deepEqual([...keys].sort(), [...plan.target.examples].sort());
    assert.equal(plan.target.seriesKeys, keys.size);
    const lpBytes = readFileSync(out).length;
    assert.ok(plan.totals.lineProtocolBytes > lpBytes / 3 && plan.totals.lineProtocolBytes < lpBytes * 3, `estimate ${plan.totals.lineProtocolBytes} vs ${lpBytes} bytes written`);

    // after the run: the checkpoint is done, a rerun skips everything
    const again = await runCli(['plan', '--config', file, '--json']);
    assert.equal(again.code, 0, again.stderr);
    const p2 = JSON.parse(again.stdout) as PlanReport;
    assert.equal(p2.checkpoint?.exists, true);
    assert.equal(p2.checkpoint?.done, true);
    assert.match(p2.checkpoint!.rerun, /does nothing/);
    assert.deepEqual(Object.keys(p2.checkpoint!.coveredQueries).sort(), ['gauge', 'reqs']);
    assert.equal(p2.totals.chunks, 0);

    // the human form names the same things
    const text = await runCli(['plan', '--config', file]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /plan of pipeline "p1" \(dry run/);
    assert.match(text.stdout, /checkpoint: .*p1\.ckpt \(done\)/);
    assert.match(text.stdout, /a rerun does nothing/);
    assert.match(text.stdout, /measurement\(s\): gauge, test_requests_total/);
    assert.match(text.stdout, /gauge,host=a,job=node/);
  });

  it('fails with exit 1 and the source error when Prometheus is unreachable, writing nothing', async () => {
    const { file, out, ckpt } = writeConfig('p2');
    writeFileSync(file, readFileSync(file, 'utf8').replace(prom.url, 'http://127.0.0.1:1').replace('step: 15s', 'step: 15s\n      retry: { attempts: 2, baseMs: 5, maxMs: 10 }'));
    const r = await runCli(['plan', '--config', file]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /PROMFLUX_PROM_UNAVAILABLE: series lookup test_(gauge|requests_total).*after 2 attempts/);
    assert.equal(existsSync(out), false);
    assert.equal(existsSync(ckpt), false);
  });
});
