/**
 * `promflux serve` as a real long-lived process against a real Prometheus: a 6-field cron
 * (every 2 s) whose runs take longer than the period never overlap; /metrics carries the
 * self-observability metrics; /healthz and /readyz answer; SIGTERM drains, writes the checkpoint
 * and exits 0. Also: scheduled incremental runs keep loading new data run after run, and health
 * thresholds are logged as warnings.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unpack } from 'msgpackr';
import pino from 'pino';
import { startPrometheus, T0, T_END, type PromServer } from './harness/prometheus.js';
import { runCli, sleep, startCli } from './harness/cli.js';
import { createPipeline } from '../src/index.js';
import { HealthMonitor } from '../src/observe/health.js';

const tmp = mkdtempSync(join(tmpdir(), 'promflux-ops-serve-'));
let prom: PromServer;

before(async () => {
  prom = await startPrometheus();
});
after(async () => {
  await prom?.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

const iso = (ms: number) => new Date(ms).toISOString();

/** Metric families that must carry at least one sample once batches have run. */
const METRICS = [
  'promflux_samples_in_total',
  'promflux_lines_out_total',
  'promflux_batches_total',
  'promflux_dropped_total',
  'promflux_batch_duration_seconds_bucket',
  'promflux_batch_size_rows',
  'promflux_inflight_batches',
  'promflux_queue_depth',
  'promflux_worker_utilization_ratio',
  'promflux_rss_bytes',
  'promflux_heap_used_bytes',
  'promflux_checkpoint_lag_seconds',
  'promflux_data_freshness_seconds',
  'promflux_health_ok',
  'promflux_extract_requests_total',
  'promflux_process_resident_memory_bytes',
];

describe('promflux serve', () => {
  test('cron every 2 s with ~4 s runs: no overlap; /metrics, /healthz, /readyz; SIGTERM drains, checkpoints, exits 3 (a backfill cut short)', async () => {
    const ckDir = join(tmp, 'serve-ck');
    const cfg = join(tmp, 'serve.yaml');
    writeFileSync(
      cfg,
      `pipelines:
  - name: slow
    schedule: "*/2 * * * * *"
    timeout: 60s
    source:
      kind: prometheus
      url: ${prom.url}
      start: "${iso(T0)}"
      end: "${iso(T0 + 3_600_000)}"
      step: 15s
      maxChunk: 5m
      concurrency: 1
      rateLimit: 3
      rateBurst: 1
      queries: [{ name: gauge, expr: test_gauge }]
    transform: [{ kind: validate }]
    sink: { kind: file, path: ${join(tmp, 'slow.lp')} }
    engine: { workers: 1 }
  - name: long
    schedule: "*/2 * * * * *"
    checkpoint: ${ckDir}
    source:
      kind: prometheus
      url: ${prom.url}
      extraction: remote-read
      start: "${iso(T0)}"
      end: "${iso(T_END)}"
      maxChunk: 5m
      concurrency: 1
      rateLimit: 3
      rateBurst: 1
      queries: [{ name: all, expr: '{__name__=~"test_.+"}' }]
    transform: [{ kind: validate }]
    sink: { kind: file, path: ${join(tmp, 'long.lp')} }
    engine: { workers: 1 }
`,
    );
    const p = startCli(['serve', '--config', cfg, '--metrics-listen', '127.0.0.1:0']);
    try {
      const url = (JSON.parse(await p.waitForStderr(/"msg":"metrics endpoint listening"/)) as { url: string }).url;
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/, 'loopback');
      await p.waitForStderr(/"pipeline":"long".*"msg":"scheduled"/);
      assert.equal((await fetch(`${url}/readyz`)).status, 200);

      // Two complete runs of `slow` (≥ 3.7 s each: 12 requests at 3/s) span several periods: ticks in between are skipped.
      const deadline = Date.now() + 40_000;
      const finished = () => p.logs().filter((l) => l.pipeline === 'slow' && l.trigger && l.msg === 'run finished');
      while (finished().length < 2) {
        assert.ok(Date.now() < deadline, `two runs of "slow" within 40 s; stderr:\n${p.stderr.slice(-3000)}`);
        assert.equal(p.child.exitCode, null, p.stderr.slice(-3000));
        await sleep(200);
      }
      const metrics = await (await fetch(`${url}/metrics`)).text();
      for (const name of METRICS) assert.match(metrics, new RegExp(`^${name}(\\{[^}]*\\})? `, 'm'), `/metrics has samples of ${name}`);
      assert.match(metrics, /^promflux_samples_in_total\{pipeline="slow"\} [1-9]/m);
      assert.match(metrics, /^promflux_checkpoint_lag_seconds\{pipeline="long"\} /m);
      // Labelled counters exist at 0 before their first increment (dashboards show 0, not "no data").
      assert.match(metrics, /^promflux_dropped_total\{pipeline="slow",reason="nan"\} 0$/m);
      assert.match(metrics, /^promflux_errors_total\{pipeline="slow",stage="transform",code="PROMFLUX_KERNEL_FAILED"\} 0$/m);
      assert.match(metrics, /^promflux_extract_gaps_total\{query="gauge"\} 0$/m);
      assert.match(metrics, /^promflux_runs_total\{pipeline="slow",status="ok"\} [1-9]/m);
      // serve wires the progress reporter (a line in pipes), and a cron run logs when the next one is.
      assert.ok(p.logs().some((l) => l.pipeline === 'long' && l.msg === 'progress'), 'serve logs progress lines');
      const nextLines = p.logs().filter((l) => l.pipeline === 'slow' && typeof l.msg === 'string' && l.msg.startsWith('next run at '));
      assert.ok(nextLines.length >= 2, 'each cron run logs the next run time');
      assert.ok(Number.isFinite(Date.parse(String(nextLines[0]!.next))));

      const health = await fetch(`${url}/healthz`);
      assert.equal(health.status, 200);
      const hb = (await health.json()) as { status: string; detail: { running: string[]; consecutiveFailures: number } };
      assert.equal(hb.status, 'ok');
      assert.ok(hb.detail.running.includes('long'), `long is still running: ${JSON.stringify(hb)}`);
      assert.equal(hb.detail.consecutiveFailures, 0);
    } finally {
      p.child.kill('SIGTERM');
    }
    const e = await p.exited;
    // `long` was cut short mid-backfill: exit 3, "stopped before completion, resumable".
    assert.equal(e.code, 3, e.stderr.slice(-3000));
    const logs = p.logs();
    assert.ok(logs.some((l) => typeof l.msg === 'string' && l.msg.startsWith('shutting down: no new chunks')));
    const stoppedLine = logs.find((l) => l.msg === 'stopped');
    // (`slow` is cut short too when a tick of it was running at the signal.)
    const cut = (stoppedLine?.cutShort ?? []) as string[];
    assert.ok(cut.includes('long') && cut.every((n) => n === 'long' || n === 'slow'), `the stop names the runs it cut short: ${JSON.stringify(cut)}`);

    // Never two runs of one pipeline at once: its start/finish lines alternate.
    for (const name of ['slow', 'long']) {
      const seq = logs.filter((l) => l.pipeline === name && l.trigger && (l.msg === 'run starting' || l.msg === 'run finished')).map((l) => l.msg);
      seq.forEach((m, i) => assert.equal(m, i % 2 === 0 ? 'run starting' : 'run finished', `${name}: ${seq.join(' → ')}`));
      // Logged once per run: no second, untagged pair.
      const all = logs.filter((l) => l.pipeline === name && (l.msg === 'run starting' || l.msg === 'run finished'));
      assert.equal(all.length, seq.length, `${name}: every "run starting"/"run finished" line is the run's own (once per run)`);
    }
    const skipped = logs.filter((l) => l.pipeline === 'slow' && l.msg === 'previous run still in progress; skipping this trigger');
    assert.ok(skipped.length >= 1, 'overlapping ticks were skipped');
    const slowRuns = logs.filter((l) => l.pipeline === 'slow' && l.trigger && l.msg === 'run finished');
    for (const r of slowRuns.slice(0, 2)) assert.equal(r.status, 'ok');

    // SIGTERM stopped `long` mid-backfill: its checkpoint was written, partial, resumable.
    const long = logs.filter((l) => l.pipeline === 'long' && l.trigger && l.msg === 'run finished');
    assert.equal(long.length, 1);
    assert.equal(long[0]!.status, 'stopped', 'a graceful SIGTERM is "stopped" (aborted is for a real abort)');
    const ckFile = join(ckDir, 'long.ckpt');
    assert.ok(existsSync(ckFile), 'checkpoint file written');
    const ck = unpack(readFileSync(ckFile)) as { done: boolean; covered: Record<string, Array<[number, number]>>; totals: { samplesIn: number } };
    assert.equal(ck.done, false);
    assert.ok(ck.covered['query:all']!.length > 0);
    assert.equal(ck.totals.samplesIn, long[0]!.samplesIn, 'the checkpoint holds what the drained run loaded');
  });

  test('SIGINT with nothing running: exits 0 promptly', async () => {
    const cfg = join(tmp, 'idle.yaml');
    writeFileSync(
      cfg,
      `pipelines:
  - name: nightly
    schedule: "0 2 * * *"
    timezone: Europe/Berlin
    source: { kind: synthetic, series: 7, samplesPerSeries: 10 }
    sink: { kind: "null" }
`,
    );
    const p = startCli(['serve', '--config', cfg, '--metrics-listen', '127.0.0.1:0']);
    const sched = JSON.parse(await p.waitForStderr(/"msg":"scheduled"/)) as { timezone: string; next: string };
    assert.equal(sched.timezone, 'Europe/Berlin');
    const hm = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Berlin', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(new Date(sched.next));
    assert.equal(hm, '02:00', 'the next run is at 02:00 Berlin time');
    const t = Date.now();
    p.child.kill('SIGINT');
    const e = await p.exited;
    assert.equal(e.code, 0, e.stderr);
    assert.ok(Date.now() - t < 5000, 'prompt');
  });
});

describe('scheduled incremental runs', () => {
  test('the same incremental command, run again later, loads the new data (a done checkpoint does not stop it)', async () => {
    // Incremental, 1 s step: the window ends at now − safetyLag, so a second run a couple of seconds
    // later has a few new grid points per series (Prometheus' lookback fills them from stored samples).
    const lagS = Math.floor((Date.now() - (T0 + 1_800_000)) / 1000);
    const cfg = join(tmp, 'incr.yaml');
    const ck = join(tmp, 'incr-ck');
    writeFileSync(
      cfg,
      `pipelines:
  - name: incr
    checkpoint: ${ck}
    source:
      kind: prometheus
      url: ${prom.url}
      mode: incremental
      start: "${iso(T0 + 1_200_000)}"
      step: 1s
      safetyLag: ${lagS}s
      queries: [{ name: gauge, expr: test_gauge }]
    transform: [{ kind: validate }]
    sink: { kind: file, path: ${join(tmp, 'incr.lp')} }
    engine: { workers: 1 }
`,
    );
    const first = await runCli(['run', '--config', cfg, '--json']);
    assert.equal(first.code, 0, first.stderr.slice(-2000));
    const s1 = JSON.parse(first.stdout) as { samplesIn: number; status: string };
    assert.equal(s1.status, 'ok');
    assert.ok(s1.samplesIn >= 3 * 590, `first run loaded ~10 min × 3 series at 1 s: ${s1.samplesIn}`);
    await sleep(2500);
    const second = await runCli(['run', '--config', cfg, '--json']);
    assert.equal(second.code, 0, second.stderr.slice(-2000));
    const s2 = JSON.parse(second.stdout) as { samplesIn: number; status: string };
    assert.equal(s2.status, 'ok');
    assert.ok(s2.samplesIn >= 3, `second run loaded the new points: ${s2.samplesIn}; stderr:\n${second.stderr.slice(-3000)}`);
    assert.ok(s2.samplesIn < s1.samplesIn / 10, `and only those (watermark): ${s2.samplesIn}`);
    assert.doesNotMatch(second.stderr, /checkpoint says this run already completed/);
  });
});

describe('pipeline timeout under `run`', () => {
  test('a run past its timeout drains, writes its checkpoint and exits 1; the same command resumes', async () => {
    const cfg = join(tmp, 'timeout.yaml');
    const ck = join(tmp, 'timeout-ck');
    writeFileSync(
      cfg,
      `pipelines:
  - name: tight
    timeout: 2s
    checkpoint: ${ck}
    source:
      kind: prometheus
      url: ${prom.url}
      extraction: remote-read
      start: "${iso(T0)}"
      end: "${iso(T0 + 3_600_000)}"
      maxChunk: 5m
      concurrency: 1
      rateLimit: 3
      rateBurst: 1
      queries: [{ name: all, expr: 'test_gauge' }]
    sink: { kind: file, path: ${join(tmp, 'timeout.lp')} }
    engine: { workers: 1 }
`,
    );
    const r = await runCli(['run', '--config', cfg, '--json']);
    assert.equal(r.code, 1, r.stderr.slice(-2000));
    assert.match(r.stderr, /run exceeded its timeout \(2s\)/);
    const s1 = JSON.parse(r.stdout) as { status: string; samplesIn: number; checkpoint: { done: boolean } };
    assert.equal(s1.status, 'aborted');
    assert.equal(s1.checkpoint.done, false);
    assert.ok(s1.samplesIn > 0 && s1.samplesIn < 720, `partial: ${s1.samplesIn}`);
    // Each attempt again stops after 2 s; rerun until one completes, each resuming where the last stopped.
    let total = s1.samplesIn;
    let last;
    for (let i = 0; i < 6; i++) {
      last = await runCli(['run', '--config', cfg, '--json'], {}, 60_000);
      total += (JSON.parse(last.stdout) as { samplesIn: number }).samplesIn;
      if (last.code === 0) break;
    }
    assert.ok(last);
    assert.equal(last.code, 0, last.stderr.slice(-2000));
    assert.equal(total, 3 * 240, 'the attempts together read every sample exactly once');
  });
});

describe('health thresholds', () => {
  const collect = () => {
    const lines: Array<{ level: number; msg: string; check?: string }> = [];
    const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
    return { logger, lines };
  };

  test('error rate, throughput floor and memory: one warning when crossed, one info when back', () => {
    const { logger, lines } = collect();
    let now = 0;
    let rss = 100 * 1048576;
    const c = { samplesIn: 0, batches: 0, errors: 0 };
    const m = new HealthMonitor(
      { window: '10s', interval: '1s', maxErrorRate: 0.1, minAttempts: 10, minSamplesPerSec: 1000, maxRssMb: 200 },
      { pipeline: 'p', logger, read: () => ({ ...c }), now: () => now, rss: () => rss },
    );
    // healthy: 20 batches/s, 2 000 samples/s
    for (let i = 0; i < 12; i++) {
      now += 1000;
      c.batches += 20;
      c.samplesIn += 2000;
      assert.equal(m.check().ok, true);
    }
    // errors: 5 failed attempts per second out of 25 → 20 % once they fill the window
    for (let i = 0; i < 10; i++) {
      now += 1000;
      c.batches += 20;
      c.errors += 5;
      c.samplesIn += 2000;
      m.check();
    }
    assert.deepEqual(m.status.breaches.map((b) => b.check), ['error_rate']);
    assert.equal(m.status.breaches[0]!.value, 0.2, 'the window holds only the failing phase now');
    // throughput collapses (sink stalled) and memory climbs; no attempts: the error verdict stands
    for (let i = 0; i < 11; i++) {
      now += 1000;
      rss = 300 * 1048576;
      m.check();
    }
    assert.deepEqual(m.status.breaches.map((b) => b.check).sort(), ['error_rate', 'memory', 'throughput']);
    // recovery
    for (let i = 0; i < 11; i++) {
      now += 1000;
      c.batches += 20;
      c.samplesIn += 5000;
      rss = 100 * 1048576;
      m.check();
    }
    assert.equal(m.status.ok, true);
    const warns = lines.filter((l) => l.level === 40);
    assert.deepEqual(warns.map((l) => l.check).sort(), ['error_rate', 'memory', 'throughput'], 'one warning per breach, no flood');
    assert.match(warns.find((l) => l.check === 'error_rate')!.msg, /error rate 1\d\.\d% of batch attempts over the last 10 s is above 10\.0%/);
    assert.match(warns.find((l) => l.check === 'throughput')!.msg, /throughput \d+ samples\/s over the last 10 s is below the floor of 1,000/);
    assert.match(warns.find((l) => l.check === 'memory')!.msg, /RSS 300 MiB is above 200 MiB/);
    assert.equal(lines.filter((l) => /back within its threshold/.test(l.msg)).length, 3);
  });

  test('wired into runs: a pipeline breaching its thresholds logs health warnings (CLI)', async () => {
    const cfg = join(tmp, 'health.yaml');
    writeFileSync(
      cfg,
      `pipelines:
  - name: strained
    source: { kind: synthetic, series: 70, samplesPerSeries: 3000 }
    transform: [{ kind: validate }, { kind: rolling, windows: [5], stats: [mean] }]
    sink: { kind: "null" }
    engine: { batchSize: 2000, workers: 1 }
    health: { window: 200ms, interval: 100ms, minSamplesPerSec: 1000000000000, maxRssMb: 1, maxErrorRate: 0.01, minAttempts: 1 }
`,
    );
    const r = await runCli(['run', '--config', cfg, '--json'], { PROMFLUX_FAULTS: '1', PROMFLUX_FAULT_BATCHES: '0:throw,1:throw,2:throw,3:throw' });
    assert.equal(r.code, 0, r.stderr.slice(-2000));
    const warns = r.stderr.split('\n').filter((l) => l.includes('"level":40') && l.includes('health: '));
    for (const check of ['throughput', 'memory', 'error_rate']) assert.ok(warns.some((l) => l.includes(`"check":"${check}"`)), `${check} warning logged: ${warns.join('\n')}`);
  });

  test('library runs expose the verdict (Pipeline.health)', async () => {
    const p = createPipeline({ name: 'h', source: { kind: 'synthetic', series: 7, samplesPerSeries: 100 }, sink: { kind: 'null' }, health: { maxRssMb: 1 } });
    assert.equal(p.health.ok, true, 'nothing judged before a run');
    await p.run();
    assert.equal(p.health.ok, false);
    assert.deepEqual(p.health.breaches.map((b) => b.check), ['memory']);
  });
});
