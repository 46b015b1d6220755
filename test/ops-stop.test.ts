/**
 * Stopping during a sink outage, against real servers: real Prometheus → promflux CLI → fault
 * proxy → real InfluxDB 1.x. The proxy answers 503 to every write, or swallows them (a blackhole),
 * and the CLI gets SIGTERM in the middle of it. The stop must not wait out sink.retry.maxOutageMs
 * (300 s by default): it gives in-flight writes engine.stopTimeoutMs, cancels them, writes a
 * checkpoint of exactly what InfluxDB acknowledged, lists what it did not, and exits 3. The same
 * command then completes the data set exactly. Also: a second SIGTERM cancels at once, and the
 * stall heartbeat (engine.heartbeatMs) names the sink's state and last error while writes hang.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unpack } from 'msgpackr';
import { startPrometheus, T0, T_END, dataset, type PromServer } from './harness/prometheus.js';
import { startInfluxd, type Influxd } from './harness/influxdb.js';
import { startFaultProxy, type FaultProxy } from './harness/faultproxy.js';
import { runCli, sleep, startCli, type CliProcess } from './harness/cli.js';
import { countPoints, diffPoints, expectedPoints, influxPoints } from './harness/expected.js';

const tmp = mkdtempSync(join(tmpdir(), 'promflux-ops-stop-'));
let prom: PromServer;
let influxd: Influxd;
let proxy: FaultProxy;
const expected = expectedPoints();
const STORED = dataset().reduce((a, s) => a + s.ts.length, 0);
/** Exit after the deadline: closing the pool, sink and source, the checkpoint, the summary (a loaded 2-core host). */
const SLACK_MS = 6_000;

before(async () => {
  [prom, influxd] = await Promise.all([startPrometheus(), startInfluxd()]);
  proxy = await startFaultProxy(influxd.url);
});
after(async () => {
  await Promise.allSettled([proxy?.close(), prom?.dispose(), influxd?.stop()]);
  rmSync(tmp, { recursive: true, force: true });
});

interface Case {
  name: string;
  db: string;
  checkpoint: string;
  summary: string;
  args: string[];
}

/** A backfill of the whole data set into `db` through the proxy: 72 chunks of 5 min at 20/s, one in flight at the source. */
async function stopCase(db: string, engine: string, sinkExtra = ''): Promise<Case> {
  await influxd.query(`DROP DATABASE "${db}"`);
  await influxd.query(`CREATE DATABASE "${db}"`);
  const config = join(tmp, `${db}.yaml`);
  writeFileSync(
    config,
    `pipelines:
  - name: ${db}
    source:
      kind: prometheus
      url: ${prom.url}
      extraction: remote-read
      start: "${new Date(T0).toISOString()}"
      end: "${new Date(T_END).toISOString()}"
      maxChunk: 5m
      concurrency: 1
      rateLimit: 20
      rateBurst: 1
      queries:
        - { name: all, expr: '{__name__=~"test_.+"}' }
    transform:
      - kind: validate
    sink:
      kind: influx
      url: ${proxy.url}
      db: ${db}
      deadLetter: ${join(tmp, `${db}.dead.lp`)}
      retry: { baseMs: 200, maxMs: 1000 }
${sinkExtra}    engine: { workers: 1, ${engine} }
`,
  );
  const checkpoint = join(tmp, `${db}.ckpt`);
  const summary = join(tmp, `${db}.summary.json`);
  return { name: db, db, checkpoint, summary, args: ['run', '--config', config, '--checkpoint', checkpoint, '--summary-json', summary, '--no-verify'] };
}

function readSummary(c: Case): Record<string, any> {
  return JSON.parse(readFileSync(c.summary, 'utf8')) as Record<string, any>;
}

interface CheckpointDoc {
  done: boolean;
  covered: Record<string, Array<[number, number]>>;
  totals: { samplesIn: number; linesOut: number };
}

function readCheckpoint(c: Case): CheckpointDoc {
  const file = join(c.checkpoint, `${c.name}.ckpt`);
  assert.ok(existsSync(file), `checkpoint ${file} written`);
  return unpack(readFileSync(file)) as CheckpointDoc;
}

/** No interval of the checkpoint overlaps a chunk the stop left unacknowledged ("all:<start>-<end>"). */
function assertNotCovered(ck: CheckpointDoc, chunks: string[]): void {
  const covered = ck.covered['query:all'] ?? [];
  for (const id of chunks) {
    const m = /^all:(\d+)-(\d+)$/.exec(id);
    assert.ok(m, `chunk id ${id}`);
    const [s, e] = [Number(m[1]), Number(m[2])];
    const hit = covered.find(([a, b]) => a < e && b > s);
    assert.equal(hit, undefined, `unacknowledged chunk ${id} is inside the checkpoint's covered interval ${JSON.stringify(hit)}`);
  }
}

async function assertExact(db: string): Promise<void> {
  const d = diffPoints(expected, await influxPoints(influxd, db));
  assert.deepEqual(
    { missing: d.missing, extra: d.extra, wrong: d.wrong, found: d.found },
    { missing: 0, extra: 0, wrong: 0, found: expected.size },
    `InfluxDB content differs from the data set: ${JSON.stringify(d.examples)}`,
  );
}

/** The stopped run's own books: what it counted is what InfluxDB acknowledged, and the checkpoint agrees. */
async function assertStoppedBooks(c: Case, s1: Record<string, any>): Promise<CheckpointDoc> {
  const dropped = Object.values(s1.dropped as Record<string, number>).reduce((a, b) => a + b, 0);
  assert.equal(s1.samplesIn, s1.linesOut + dropped, 'accounting holds for what was acknowledged');
  assert.ok(s1.samplesIn > 0 && s1.samplesIn < STORED, `stopped mid-run (${s1.samplesIn} of ${STORED})`);
  const u = s1.stop.unacknowledged;
  assert.ok(u.batches >= 1, `the stop left batches unacknowledged: ${JSON.stringify(u)}`);
  assert.equal(u.chunks.length, u.batches);
  assert.equal(u.inSink.batches + u.inWorkers, u.batches);
  assert.ok(u.inSink.lines > 0, 'lines were with the sink when it was cancelled');
  assert.equal(s1.stop.remaining, true);
  const ck = readCheckpoint(c);
  assert.equal(ck.done, false, 'a stopped run is not done');
  assert.equal(ck.totals.samplesIn, s1.samplesIn, 'the checkpoint holds exactly what the summary counts as acknowledged');
  assertNotCovered(ck, u.chunks as string[]);
  // Every write since the fault was refused, and a batch is one request here (≈130 lines < batchLines):
  // InfluxDB holds exactly the acknowledged lines, nothing of the cancelled batches.
  assert.equal(await countPoints(influxd, c.db), s1.linesOut);
  return ck;
}

/** The same command with the proxy passing: completes the data set exactly, reading exactly the rest. */
async function assertResumeExact(c: Case, s1: Record<string, any>): Promise<void> {
  proxy.rule = null;
  const r = await runCli(c.args);
  assert.equal(r.code, 0, r.stderr.slice(-3000));
  const s2 = readSummary(c);
  assert.equal(s2.status, 'ok');
  assert.equal(s2.checkpoint.done, true);
  assert.equal(s1.samplesIn + s2.samplesIn, STORED, 'the stopped run and its resume read the data set exactly once between them');
  await assertExact(c.db);
}

async function firstBatch(p: CliProcess): Promise<void> {
  await p.waitForStderr(/"msg":"InfluxDB sink ready/, 60_000);
  // a first batch landed: the fault starts mid-run
  const deadline = Date.now() + 60_000;
  while (proxy.log.filter((l) => l.status === 204).length === 0) {
    assert.ok(Date.now() < deadline, `no write passed within 60 s: ${p.stderr.slice(-2000)}`);
    assert.equal(p.child.exitCode, null, `the run ended before the fault: ${p.stderr.slice(-2000)}`);
    await sleep(20);
  }
}

describe('stop during a sink outage (real Prometheus → fault proxy → real InfluxDB)', () => {
  test('SIGTERM while every write gets 503: exit 3 after stopTimeoutMs (not maxOutageMs), unacknowledged listed, checkpoint exact, the resume completes exactly', async (t) => {
    const c = await stopCase('stop_503', 'stopTimeoutMs: 3000');
    proxy.log.length = 0;
    const p = startCli(c.args);
    await firstBatch(p);
    proxy.rule = () => ({ kind: 'status', status: 503 });
    await p.waitForStderr(/write failed \(http_503\)/, 30_000);
    await sleep(1000);
    const t0 = Date.now();
    p.child.kill('SIGTERM');
    const e = await p.exited;
    const took = Date.now() - t0;
    t.diagnostic(`exit ${e.code} ${took} ms after SIGTERM; ${e.stdout.split('\n').find((l) => l.includes(' stop ')) ?? ''}`);
    assert.equal(e.code, 3, `exit 3 "stopped before completion, resumable": ${e.stderr.slice(-3000)}`);
    assert.ok(took >= 2_900, `in-flight writes were given the deadline (${took} ms)`);
    assert.ok(took < 3_000 + SLACK_MS, `exited ${took} ms after SIGTERM: stopTimeoutMs 3000 + slack, not sink.retry.maxOutageMs (300 s)`);
    assert.match(e.stderr, /stop deadline passed \(engine\.stopTimeoutMs=3000 ms\): cancelling in-flight batches/);
    const s1 = readSummary(c);
    assert.equal(s1.status, 'stopped');
    assert.equal(s1.stop.requestedBy, 'SIGTERM');
    assert.equal(s1.stop.ending, 'deadline');
    assert.equal(s1.stop.stopTimeoutMs, 3000);
    assert.equal(s1.sink.lastError.status, 503, 'the summary names the sink\'s last error');
    // The human summary says what was left unacknowledged.
    assert.match(e.stdout, /stop\s+SIGTERM after \d+\.\d s, deadline 3,000 ms passed, writes cancelled: \d+ batch(es)? unacknowledged \(\d+ with the sink: [\d,]+ lines, [\d,]+ samples; \d+ in workers\), chunks all:\d+-\d+.*; resumable: run the same command/);
    await assertStoppedBooks(c, s1);
    await assertResumeExact(c, s1);
  });

  test('a second SIGTERM cancels at once (stopTimeoutMs 60 s, writes blackholed), still writing the checkpoint; the resume completes exactly', async (t) => {
    const c = await stopCase('stop_twice', 'stopTimeoutMs: 60000', '      timeoutMs: 120000\n');
    proxy.log.length = 0;
    const p = startCli(c.args);
    await firstBatch(p);
    proxy.rule = () => ({ kind: 'hang' });
    // writes hang at the proxy now; give the in-flight set time to fill
    await sleep(1500);
    p.child.kill('SIGTERM');
    await p.waitForStderr(/stopping: no new chunks; in-flight batches get 60000 ms/);
    await sleep(1500);
    assert.equal(p.child.exitCode, null, 'after one signal the run waits for its in-flight writes (deadline 60 s)');
    const t0 = Date.now();
    p.child.kill('SIGTERM');
    const e = await p.exited;
    const took = Date.now() - t0;
    t.diagnostic(`exit ${e.code} ${took} ms after the second SIGTERM`);
    assert.equal(e.code, 3, e.stderr.slice(-3000));
    assert.ok(took < SLACK_MS, `exited ${took} ms after the second signal`);
    assert.match(e.stderr, /second SIGTERM: cancelling in-flight batches now/);
    const s1 = readSummary(c);
    assert.equal(s1.status, 'stopped');
    assert.equal(s1.stop.ending, 'immediate');
    assert.ok(s1.stop.stopMs < 60_000);
    await assertStoppedBooks(c, s1);
    await assertResumeExact(c, s1);
  });

  test('serve: SIGTERM during a 503 outage waits (stopTimeoutMs 60 s), a second SIGTERM cancels at once; exit 3, the cut-short run named, its checkpoint partial', async (t) => {
    const c = await stopCase('serve_stop', 'stopTimeoutMs: 60000');
    // the same pipeline on a 1 s cron schedule, with its checkpoint in the config (serve takes no --checkpoint)
    const cfgPath = c.args[c.args.indexOf('--config') + 1]!;
    writeFileSync(cfgPath, readFileSync(cfgPath, 'utf8').replace('    source:\n', `    schedule: "* * * * * *"\n    checkpoint: ${c.checkpoint}\n    source:\n`));
    proxy.log.length = 0;
    const p = startCli(['serve', '--config', cfgPath, '--metrics-listen', '127.0.0.1:0']);
    await firstBatch(p);
    proxy.rule = () => ({ kind: 'status', status: 503 });
    await p.waitForStderr(/write failed \(http_503\)/, 30_000);
    p.child.kill('SIGTERM');
    await p.waitForStderr(/"msg":"shutting down: no new chunks/);
    await sleep(1500);
    assert.equal(p.child.exitCode, null, 'serve waits for the in-flight writes until the deadline');
    const t0 = Date.now();
    p.child.kill('SIGTERM');
    const e = await p.exited;
    const took = Date.now() - t0;
    t.diagnostic(`serve exit ${e.code} ${took} ms after the second SIGTERM`);
    assert.equal(e.code, 3, e.stderr.slice(-3000));
    assert.ok(took < SLACK_MS, `exited ${took} ms after the second signal`);
    const logs = p.logs();
    assert.deepEqual(logs.find((l) => l.msg === 'stopped')?.cutShort, [c.name]);
    const fin = logs.find((l) => l.msg === 'run finished' && l.pipeline === c.name);
    assert.equal(fin?.status, 'stopped');
    const stopLine = logs.find((l) => typeof l.msg === 'string' && l.msg.startsWith('stop immediate after'));
    assert.ok(stopLine, 'the run logs how its stop ended');
    const ck = readCheckpoint(c);
    assert.equal(ck.done, false);
    assertNotCovered(ck, (stopLine.unacknowledged as { chunks: string[] }).chunks);
    assert.equal(await countPoints(influxd, c.db), ck.totals.linesOut, 'InfluxDB holds what the checkpoint counts');
    proxy.rule = null;
  });

  test('writes hang: a heartbeat every engine.heartbeatMs names the sink state and its last error; promflux_stalled_seconds > 0; /readyz 503 stalled', async (t) => {
    const c = await stopCase('stall_hb', 'stopTimeoutMs: 2000, heartbeatMs: 1000', '      timeoutMs: 120000\n');
    proxy.log.length = 0;
    const p = startCli([...c.args, '--metrics-listen', '127.0.0.1:0']);
    const url = (JSON.parse(await p.waitForStderr(/"msg":"metrics endpoint listening"/)) as { url: string }).url;
    await firstBatch(p);
    // three 503s (the sink's last error), then a blackhole: requests in flight, no answer
    proxy.script({ kind: 'status', status: 503 }, { kind: 'status', status: 503 }, { kind: 'status', status: 503 });
    proxy.rule = () => ({ kind: 'hang' });
    const beatRe = /"msg":"stalled \d+ s: waiting on sink influx: /;
    await p.waitForStderr(beatRe, 30_000);
    await sleep(3500);
    const beats = p.logs().filter((l) => typeof l.msg === 'string' && /^stalled \d+ s: waiting on sink influx: /.test(l.msg));
    assert.ok(beats.length >= 3, `a heartbeat about every second (${beats.length}): ${beats.map((b) => b.msg).join(' | ')}`);
    const gaps = beats.slice(1).map((b, i) => (b.time as number) - (beats[i]!.time as number));
    for (const g of gaps) assert.ok(g >= 700 && g <= 2_500, `heartbeats ${gaps.join(', ')} ms apart (heartbeatMs 1000)`);
    const last = String(beats.at(-1)!.msg);
    t.diagnostic(`${beats.length} heartbeats, ${gaps.join('/')} ms apart; last: ${last}`);
    assert.match(last, /waiting on sink influx: \d+ batch write\(s\) pending, oldest \d+ s, [1-9]\d* request\(s\) in flight/);
    assert.match(last, /last error \d+ s ago: HTTP 503 \{"error":"injected 503"\}/, 'the heartbeat names the sink\'s last error');
    assert.equal(beats.at(-1)!.waitingOn, 'sink');

    const metrics = await (await fetch(`${url}/metrics`)).text();
    const m = new RegExp(`^promflux_stalled_seconds\\{pipeline="${c.name}"\\} (\\S+)$`, 'm').exec(metrics);
    assert.ok(m && Number(m[1]) > 0, `promflux_stalled_seconds > 0 while stalled: ${m?.[0]}`);
    const ready = await fetch(`${url}/readyz`);
    assert.equal(ready.status, 503);
    const body = (await ready.json()) as { status: string; stalled: Record<string, string> };
    assert.equal(body.status, 'stalled');
    assert.match(body.stalled[c.name]!, /^stalled \d+ s: waiting on sink influx: .*request\(s\) in flight.*last error \d+ s ago: HTTP 503/);

    const t0 = Date.now();
    p.child.kill('SIGTERM');
    const e = await p.exited;
    const took = Date.now() - t0;
    t.diagnostic(`exit ${e.code} ${took} ms after SIGTERM (stopTimeoutMs 2000)`);
    assert.equal(e.code, 3, e.stderr.slice(-3000));
    assert.ok(took < 2_000 + SLACK_MS, `a hanging write is cancelled at the deadline: exited ${took} ms after SIGTERM`);
    assert.equal(readSummary(c).stop.ending, 'deadline');
    proxy.rule = null;
  });
});
