/**
 * deploy/: the Prometheus alert rules pass `promtool check rules` and their unit tests
 * (`promtool test rules`, every alert once firing and once not), and every metric the Grafana
 * dashboard and the alert rules name is one the code exports — taken from a real registry filled by
 * a real pipeline run plus the extraction and load metrics, not from a list kept by hand.
 */
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Registry } from 'prom-client';
import { parse as parseYaml } from 'yaml';
import { createEngineMetrics } from '../src/observe/metrics.js';
import { createExtractMetrics } from '../src/extract/prometheus/metrics.js';
import { LoadMetrics } from '../src/load/influx/metrics.js';
import { createPipeline } from '../src/pipeline/run.js';
import { ensurePrometheus } from './harness/prometheus.js';

const run = promisify(execFile);
const here = fileURLToPath(new URL('.', import.meta.url));
const root = [resolve(here, '..'), resolve(here, '../..')].find((d) => {
  try {
    return readdirSync(d).includes('deploy');
  } catch {
    return false;
  }
})!;
const rulesFile = join(root, 'deploy/prometheus/promflux-alerts.yml');
const rulesTestFile = join(root, 'deploy/prometheus/promflux-alerts.test.yml');
const dashboardFile = join(root, 'deploy/grafana/promflux-dashboard.json');

interface Panel {
  id: number;
  title: string;
  type: string;
  targets?: Array<{ refId: string; expr: string }>;
}
interface Rule {
  alert: string;
  expr: string;
  for?: string;
}

const rules = (): Rule[] => (parseYaml(readFileSync(rulesFile, 'utf8')) as { groups: Array<{ rules: Rule[] }> }).groups.flatMap((g) => g.rules);
const dashboard = (): { panels: Panel[]; templating: { list: Array<{ name: string; query?: unknown }> } } => JSON.parse(readFileSync(dashboardFile, 'utf8'));

/** Metric names an expression refers to (promflux's own; label values in quotes are skipped). */
function metricNames(expr: string): string[] {
  const unquoted = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  return [...new Set(unquoted.match(/\bpromflux_[a-z0-9_]+\b/g) ?? [])];
}

/** Names a scrape of the registry shows, histograms expanded to _bucket/_sum/_count. */
async function exportedNames(registry: Registry): Promise<Set<string>> {
  const names = new Set<string>();
  for (const line of (await registry.metrics()).split('\n')) {
    const m = /^# TYPE (\S+) (\S+)/.exec(line);
    if (!m) continue;
    const [, name, type] = m as unknown as [string, string, string];
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(name + s);
    else if (type === 'summary') for (const s of ['', '_sum', '_count']) names.add(name + s);
    else names.add(name);
  }
  return names;
}

/** Panel/rule metric names missing from `exported`, as "where: name" strings. */
function unknownMetrics(exprs: Array<{ where: string; expr: string }>, exported: Set<string>): string[] {
  const out: string[] = [];
  for (const { where, expr } of exprs) for (const n of metricNames(expr)) if (!exported.has(n)) out.push(`${where}: ${n}`);
  return out;
}

const panelExprs = (d = dashboard()) => d.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: `panel "${p.title}" ${t.refId}`, expr: t.expr })));

describe('deploy/prometheus alert rules', () => {
  before(async () => {
    await ensurePrometheus();
  });

  test('promtool check rules accepts the rules file', async () => {
    const { stdout } = await run('promtool', ['check', 'rules', rulesFile]);
    assert.match(stdout, new RegExp(`SUCCESS: ${rules().length} rules found`));
  });

  test('promtool test rules passes every unit test of every alert', async () => {
    const { stdout, stderr } = await run('promtool', ['test', 'rules', rulesTestFile]).catch((err: { stdout: string; stderr: string }) => {
      assert.fail(`promtool test rules failed:\n${err.stdout}\n${err.stderr}`);
    });
    assert.match(stdout + stderr, /SUCCESS/);
  });

  test('each alert has a unit test where it fires and one where it does not', () => {
    const t = parseYaml(readFileSync(rulesTestFile, 'utf8')) as { tests: Array<{ alert_rule_test: Array<{ alertname: string; exp_alerts: unknown[] }> }> };
    const cases = t.tests.flatMap((x) => x.alert_rule_test);
    for (const r of rules()) {
      const mine = cases.filter((c) => c.alertname === r.alert);
      assert.ok(mine.some((c) => c.exp_alerts.length > 0), `${r.alert}: no case where it fires`);
      assert.ok(mine.some((c) => c.exp_alerts.length === 0), `${r.alert}: no case where it stays silent`);
    }
  });

  test('the thresholds of the monitoring plan each have an alert', () => {
    const byName = new Map(rules().map((r) => [r.alert, r]));
    const expect: Array<[string, RegExp]> = [
      ['PromfluxFailureRateHigh', /promflux_errors_total[\s\S]*> 0\.01/], // failure rate > 1 %
      ['PromfluxRunsFailing', /promflux_runs_total\{status="failed"\}[\s\S]*> 0\.01/],
      ['PromfluxDataStale', /promflux_data_freshness_seconds\) > 600/], // staleness > 10 min
      ['PromfluxProcessingLatencyHigh', /promflux_batch_duration_seconds_bucket[\s\S]*> 60/], // latency > 60 s
      ['PromfluxQualityDegraded', /metric="score"\}\) < 0\.95/], // quality degradation > 5 %
      ['PromfluxDeadLetters', /dead_letter:[\s\S]*> 0/], // dead letters > 0
      ['PromfluxStalled', /promflux_stalled_seconds\) > 120/], // stalled > 2 min
    ];
    for (const [name, re] of expect) {
      const r = byName.get(name);
      assert.ok(r, `alert ${name} exists`);
      assert.match(r.expr, re, name);
    }
  });
});

describe('deploy/grafana dashboard and the metrics the code exports', () => {
  let exported: Set<string>;
  before(async () => {
    // A real registry: engine metrics (with Node defaults, as serve does), a real pipeline run on it
    // (health, runs, stall gauges), and the extraction and load metrics a Prometheus → InfluxDB run adds.
    const registry = new Registry();
    const metrics = createEngineMetrics(registry, true);
    createExtractMetrics(registry);
    new LoadMetrics(registry);
    const s = await createPipeline(
      { name: 'deploy', source: { kind: 'synthetic', series: 7, samplesPerSeries: 200 }, transform: [{ kind: 'validate' }], sink: { kind: 'null' }, engine: { workers: 1 } },
      { metrics },
    ).run();
    assert.equal(s.status, 'ok');
    assert.ok(s.samplesIn > 0 && s.batches > 0, 'the run moved data (batch metrics were touched)');
    exported = await exportedNames(registry);
  });

  test('every metric a dashboard panel names is exported by the code', () => {
    assert.deepEqual(unknownMetrics(panelExprs(), exported), []);
  });

  test('every metric an alert rule names is exported by the code', () => {
    assert.deepEqual(unknownMetrics(rules().map((r) => ({ where: `alert ${r.alert}`, expr: r.expr })), exported), []);
  });

  test('the check catches a panel naming a metric that does not exist', () => {
    const d = dashboard();
    d.panels[0]!.targets![0]!.expr = 'rate(promflux_sampels_in_total[5m])';
    assert.deepEqual(unknownMetrics(panelExprs(d), exported), [`panel "${d.panels[0]!.title}" A: promflux_sampels_in_total`]);
  });

  test('the dashboard covers throughput, lag, batches, workers, drops, sink, quality and stalls', () => {
    const used = new Set(panelExprs().flatMap((e) => metricNames(e.expr)));
    for (const m of [
      'promflux_samples_in_total',
      'promflux_data_freshness_seconds',
      'promflux_batch_duration_seconds_bucket',
      'promflux_batch_size_rows',
      'promflux_worker_utilization_ratio',
      'promflux_inflight_batches',
      'promflux_dropped_total',
      'promflux_load_retries_total',
      'promflux_load_dead_letter_total',
      'promflux_quality_ratio',
      'promflux_stalled_seconds',
    ]) {
      assert.ok(used.has(m), `a panel shows ${m}`);
    }
  });

  test('panels are well formed: unique ids, each with PromQL targets promtool parses', async () => {
    const d = dashboard();
    const ids = d.panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, 'unique panel ids');
    for (const p of d.panels) {
      assert.ok(p.targets && p.targets.length > 0, `panel "${p.title}" has targets`);
      assert.equal(new Set(p.targets.map((t) => t.refId)).size, p.targets.length, `panel "${p.title}" refIds unique`);
    }
    await ensurePrometheus();
    // Grafana's variables replaced by what Grafana would send; then every expression must parse.
    const dir = mkdtempSync(join(tmpdir(), 'promflux-dash-'));
    try {
      const exprs = panelExprs(d).map((e) => e.expr.replace(/\$__rate_interval|\$__range/g, '5m').replace(/\$pipeline/g, '.*'));
      const file = join(dir, 'panels.yml');
      writeFileSync(file, JSON.stringify({ groups: [{ name: 'panels', rules: exprs.map((expr, i) => ({ record: `panel:expr${i}`, expr })) }] }));
      const { stdout } = await run('promtool', ['check', 'rules', file]);
      assert.match(stdout, new RegExp(`SUCCESS: ${exprs.length} rules found`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
