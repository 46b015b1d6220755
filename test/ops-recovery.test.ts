/**
 * Fault tests of the whole CLI against a real Prometheus and a real InfluxDB 1.x (Debian's
 * packages): SIGKILL at seeded random moments then the same command again, SIGTERM then resume,
 * and InfluxDB down for 20 s in the middle of a run. After each, InfluxQL must read back every
 * expected point with its exact value, and nothing else.
 *
 * The backfill is made long enough to interrupt by slowing extraction (rateLimit, 5 min chunks,
 * one request at a time), not by adding data: 6 series × 6 h, ~9 300 points.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { unpack } from 'msgpackr';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPrometheus, T0, T_END, dataset, type PromServer } from './harness/prometheus.js';
import { startInfluxd, type Influxd } from './harness/influxdb.js';
import { mulberry32, runCli, sleep, startCli } from './harness/cli.js';
import { countPoints, diffPoints, expectedPoints, influxPoints } from './harness/expected.js';

const tmp = mkdtempSync(join(tmpdir(), 'promflux-ops-recovery-'));
let prom: PromServer;
let influxd: Influxd;
const expected = expectedPoints();
const STORED = dataset().reduce((a, s) => a + s.ts.length, 0);

before(async () => {
  [prom, influxd] = await Promise.all([startPrometheus(), startInfluxd()]);
});
after(async () => {
  await Promise.allSettled([prom?.dispose(), influxd?.stop()]);
  rmSync(tmp, { recursive: true, force: true });
});

interface Case {
  db: string;
  config: string;
  checkpoint: string;
  summary: string;
  args: string[];
}

/** A backfill of the whole data set into `db`, slowed to `rate` chunks/s (72 chunks of 5 min, no burst). */
async function backfillCase(db: string, rate: number, sinkExtra = ''): Promise<Case> {
  await influxd.query(`DROP DATABASE "${db}"`);
  await influxd.query(`CREATE DATABASE "${db}"`);
  const config = join(tmp, `${db}.yaml`);
  writeFileSync(
    config,
    `pipelines:
  - name: backfill
    source:
      kind: prometheus
      url: ${prom.url}
      extraction: remote-read
      start: "${new Date(T0).toISOString()}"
      end: "${new Date(T_END).toISOString()}"
      step: 15s
      maxChunk: 5m
      concurrency: 1
      rateLimit: ${rate}
      rateBurst: 1
      queries:
        - { name: all, expr: '{__name__=~"test_.+"}' }
    transform:
      - kind: validate
    sink:
      kind: influx
      url: ${influxd.url}
      db: ${db}
      deadLetter: ${join(tmp, `${db}.dead.lp`)}
${sinkExtra}    engine:
      workers: 1
`,
  );
  const checkpoint = join(tmp, `${db}.ckpt`);
  const summary = join(tmp, `${db}.summary.json`);
  return { db, config, checkpoint, summary, args: ['run', '--config', config, '--checkpoint', checkpoint, '--summary-json', summary, '--log-level', 'debug'] };
}

async function assertExact(db: string, context = ''): Promise<void> {
  const d = diffPoints(expected, await influxPoints(influxd, db));
  const exact = d.missing === 0 && d.extra === 0 && d.wrong === 0 && d.found === expected.size;
  // on failure, say where the points went (dead letters)
  let why = '';
  if (!exact) {
    const dead = join(tmp, `${db}.dead.lp`);
    why += existsSync(dead) ? ` dead letters: ${readFileSync(dead, 'utf8').slice(0, 1500)}` : ' no dead-letter file.';
  }
  assert.deepEqual(
    { missing: d.missing, extra: d.extra, wrong: d.wrong, found: d.found },
    { missing: 0, extra: 0, wrong: 0, found: expected.size },
    `${context}InfluxDB content differs from the data set: ${JSON.stringify(d.examples)}.${why}`,
  );
}

/** What a checkpoint directory claims (for failure messages): coverage and totals per file. */
function describeCheckpoint(dir: string): string {
  if (!existsSync(dir)) return 'no checkpoint';
  return readdirSync(dir)
    .map((f) => {
      try {
        const doc = unpack(readFileSync(join(dir, f))) as { covered?: unknown; totals?: unknown };
        return `${f}: covered ${JSON.stringify(doc.covered)} totals ${JSON.stringify(doc.totals)}`;
      } catch {
        return `${f}: unreadable`;
      }
    })
    .join('; ');
}

function readSummary(c: Case): Record<string, any> {
  return JSON.parse(readFileSync(c.summary, 'utf8')) as Record<string, any>;
}

describe('crash and stop recovery (real Prometheus → real InfluxDB)', () => {
  test('SIGKILL at 5 seeded random moments, then the same command: every point present with its exact value', async (t) => {
    const rnd = mulberry32(0x5eed_0006);
    const partials: number[] = [];
    const resumedSamples: number[] = [];
    const delays: number[] = [];
    for (let trial = 0; trial < 5; trial++) {
      const c = await backfillCase(`kill_${trial}`, 12);
      const p = startCli(c.args);
      // Kill at a seeded moment after the first batch landed: the rest of the run takes at least 5 s
      // (72 requests at 12/s), and measuring from the first batch (not from planning) keeps the kills
      // mid-load on a slow or busy machine too (a loaded CI host once let 3 of 5 kills land first).
      await p.waitForStderr(/"msg":"batch written"/, 60_000);
      const delay = Math.floor(rnd() * 3000);
      delays.push(delay);
      await Promise.race([sleep(delay), p.exited]);
      p.child.kill('SIGKILL');
      const killed = await p.exited;
      assert.equal(killed.signal, 'SIGKILL', `trial ${trial}: the run was still going after ${delay} ms (stdout: ${killed.stdout})`);
      const partial = await countPoints(influxd, c.db);
      partials.push(partial);
      const claimed = describeCheckpoint(c.checkpoint);
      // what the killed run said it wrote, batch by batch (debug log), for the failure message
      const wrote = killed.stderr.split('\n').filter((l) => l.includes('"msg":"batch written"')).slice(0, 8).join(' ');

      const r = await runCli(c.args);
      assert.equal(r.code, 0, `trial ${trial}: rerun failed: ${r.stderr.slice(-2000)}`);
      const s = readSummary(c);
      assert.equal(s.status, 'ok');
      assert.equal(s.checkpoint.done, true);
      assert.equal(s.samplesIn, s.linesOut + Object.values(s.dropped as Record<string, number>).reduce((a, b) => a + b, 0));
      resumedSamples.push(s.samplesIn);
      await assertExact(c.db, `trial ${trial} (killed after ${delay} ms with ${partial} points in; the rerun read ${s.samplesIn} samples, dropped ${JSON.stringify(s.dropped)}; checkpoint after the kill: ${claimed}; the killed run's first batches: ${wrote}): `);
      // The rerun resumed from the checkpoint rather than starting over (the checkpoint is written
      // at most once a second, so it trails the data by up to ~1 s of chunks).
      if (partial >= 3000) assert.ok(s.samplesIn < STORED, `trial ${trial}: ${partial} points were in before the kill, yet the rerun read all ${s.samplesIn} samples`);
    }
    t.diagnostic(`kill delays ${delays.join(', ')} ms; points in InfluxDB after each kill: ${partials.join(', ')}; samples read by each rerun: ${resumedSamples.join(', ')} (of ${STORED})`);
    const midRun = partials.filter((n) => n > 0 && n < expected.size).length;
    assert.ok(midRun >= 3, `kills landed mid-load in only ${midRun} of 5 trials (points present after each kill: ${partials.join(', ')})`);
    assert.ok(resumedSamples.some((n) => n < STORED), `no rerun resumed: ${resumedSamples.join(', ')}`);
  });

  test('SIGTERM: graceful stop (exit 3 "stopped, resumable", checkpoint written), then the same command completes the data exactly', async () => {
    const c = await backfillCase('sigterm', 12);
    const p = startCli(c.args);
    await p.waitForStderr(/"msg":"prometheus source planned"/);
    await sleep(2000);
    p.child.kill('SIGTERM');
    const e = await p.exited;
    assert.equal(e.code, 3, e.stderr.slice(-2000));
    assert.match(e.stderr, /stopping: no new chunks; in-flight batches get 20000 ms/);
    const s1 = readSummary(c);
    assert.equal(s1.status, 'stopped', 'a graceful SIGTERM is "stopped", not "aborted"');
    assert.equal(s1.stop.ending, 'drained', 'a healthy sink acknowledges everything well before the deadline');
    assert.equal(s1.stop.unacknowledged.batches, 0);
    assert.equal(s1.checkpoint.done, false);
    assert.ok(existsSync(s1.checkpoint.path), 'checkpoint file written');
    assert.ok(s1.samplesIn > 0 && s1.samplesIn < STORED, `stopped mid-run (${s1.samplesIn} of ${STORED})`);
    // Drained: what the first run counted is exactly what InfluxDB holds.
    assert.equal(await countPoints(influxd, c.db), s1.linesOut);

    const r = await runCli(c.args);
    assert.equal(r.code, 0, r.stderr.slice(-2000));
    const s2 = readSummary(c);
    assert.equal(s2.status, 'ok');
    assert.equal(s2.checkpoint.done, true);
    // A drained stop leaves the checkpoint exact: the resume reads precisely the rest.
    assert.equal(s1.samplesIn + s2.samplesIn, STORED);
    await assertExact(c.db);
    // The same command once more: the checkpoint says done, nothing is read.
    const again = await runCli(c.args);
    assert.equal(again.code, 0);
    assert.equal(readSummary(c).samplesIn, 0);
  });

  test('InfluxDB stopped for 20 s mid-run: the run waits, retries and completes with nothing lost', async () => {
    const c = await backfillCase(
      'outage',
      10,
      `      retry: { baseMs: 200, maxMs: 2000 }
      circuitBreaker: { failures: 3, cooldownMs: 1000 }
`,
    );
    const p = startCli(c.args);
    const deadline = Date.now() + 30_000;
    while ((await countPoints(influxd, c.db)) === 0) {
      assert.ok(Date.now() < deadline, `no point arrived within 30 s: ${p.stderr.slice(-2000)}`);
      assert.equal(p.child.exitCode, null, 'the run ended before the outage');
      await sleep(100);
    }
    await influxd.halt();
    const down = Date.now();
    await sleep(20_000);
    assert.equal(p.child.exitCode, null, `the run gave up during the outage: ${p.stderr.slice(-2000)}`);
    await influxd.start();
    const e = await p.exited;
    const upFor = Date.now() - down;
    assert.equal(e.code, 0, e.stderr.slice(-3000));
    const s = readSummary(c);
    assert.equal(s.status, 'ok');
    assert.ok(s.wallMs >= 20_000, `wall ${s.wallMs} ms covers the outage`);
    const retries = Object.values(s.sink.retries as Record<string, number>).reduce((a, b) => a + b, 0);
    assert.ok(retries > 0, `sink retried (${JSON.stringify(s.sink.retries)})`);
    assert.match(e.stderr, /circuit breaker open/);
    assert.equal(Object.keys(s.dropped).filter((k) => k.startsWith('dead_letter')).length, 0, 'nothing dead-lettered');
    assert.ok(upFor < 80_000, `finished ${upFor} ms after the outage began`);
    await assertExact(c.db);
  });
});
