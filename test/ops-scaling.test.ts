/**
 * Beyond one machine, as docs/SCALING.md runs it: N processes each take `--shard i/N` of one
 * backfill plan (as the pods of a Kubernetes Indexed Job would, in parallel), each with its own
 * checkpoint, into one InfluxDB. Then `promflux verify` checks the union against the shards'
 * summaries, and InfluxQL checks it point by point against the data set.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPrometheus, T0, T_END, dataset, type PromServer } from './harness/prometheus.js';
import { startInfluxd, type Influxd } from './harness/influxdb.js';
import { runCli } from './harness/cli.js';
import { diffPoints, expectedPoints, influxPoints } from './harness/expected.js';

const tmp = mkdtempSync(join(tmpdir(), 'promflux-ops-scaling-'));
let prom: PromServer;
let influxd: Influxd;
const N = 3;

before(async () => {
  [prom, influxd] = await Promise.all([startPrometheus(), startInfluxd()]);
  await influxd.query('CREATE DATABASE "sharded"');
});
after(async () => {
  await Promise.allSettled([prom?.dispose(), influxd?.stop()]);
  rmSync(tmp, { recursive: true, force: true });
});

describe('sharded backfill (--shard i/N) into one InfluxDB', () => {
  test('3 shards in parallel: disjoint, own checkpoints, union verified by promflux verify and InfluxQL', async () => {
    const config = join(tmp, 'backfill.yaml');
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
      maxChunk: 30m
      shardBlock: 1h
      queries:
        - { name: all, expr: '{__name__=~"test_.+"}' }
    transform:
      - kind: validate
    sink:
      kind: influx
      url: ${influxd.url}
      db: sharded
      deadLetter: ${join(tmp, 'dead.${SHARD:-0}.lp')}
    engine:
      workers: 1
`,
    );
    const ck = join(tmp, 'state');
    const summaries = Array.from({ length: N }, (_, i) => join(tmp, `shard-${i}.json`));
    const shardRun = (i: number) =>
      runCli(['run', '--config', config, '--shard', `${i}/${N}`, '--checkpoint', ck, '--summary-json', summaries[i]!], { SHARD: String(i) });
    const range = ['--start', new Date(T0).toISOString(), '--end', new Date(T_END).toISOString()];

    // Shards 0 and 1 run in parallel (two pods); the union is not complete yet.
    const first = await Promise.all([shardRun(0), shardRun(1)]);
    for (const r of first) assert.equal(r.code, 0, r.stderr.slice(-2000));
    const partial = await runCli(['verify', '--config', config, ...range, '--summary', ...summaries, '--json'].filter((a) => a !== summaries[2]));
    assert.equal(partial.code, 0, `verify of the shards that ran: ${partial.stdout}${partial.stderr}`);

    const last = await shardRun(2);
    assert.equal(last.code, 0, last.stderr.slice(-2000));

    const s = summaries.map((f) => JSON.parse(readFileSync(f, 'utf8')) as { shard: string; samplesIn: number; linesOut: number; checkpoint: { path: string; done: boolean } });
    s.forEach((x, i) => {
      assert.equal(x.shard, `${i}/${N}`);
      assert.equal(x.checkpoint.done, true);
      assert.ok(x.checkpoint.path.endsWith(`backfill.shard-${i}-of-${N}.ckpt`), x.checkpoint.path);
      assert.ok(existsSync(x.checkpoint.path));
    });
    // Disjoint and complete: the shards' samples add up to every stored sample, once.
    assert.equal(s.reduce((a, x) => a + x.samplesIn, 0), dataset().reduce((a, d) => a + d.ts.length, 0));
    assert.ok(s.filter((x) => x.samplesIn > 0).length >= 2, `work was spread: ${s.map((x) => x.samplesIn).join(', ')}`);

    const v = await runCli(['verify', '--config', config, ...range, '--summary', ...summaries, '--json']);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    const vr = JSON.parse(v.stdout) as { ok: boolean; perMeasurement: Record<string, { expected: number; found: number }> };
    assert.equal(vr.ok, true);
    assert.deepEqual(Object.keys(vr.perMeasurement).sort(), ['test_gauge', 'test_irregular', 'test_requests_total']);

    const d = diffPoints(expectedPoints(), await influxPoints(influxd, 'sharded'));
    assert.deepEqual({ missing: d.missing, extra: d.extra, wrong: d.wrong }, { missing: 0, extra: 0, wrong: 0 }, JSON.stringify(d.examples));

    // A shard missing from the database is caught: verify against counts of the whole plan taken
    // with a counting run (null sink, no shard), after deleting one measurement's points.
    const count = join(tmp, 'count.json');
    const c = await runCli(['run', '--config', config, '--sink', 'null', '--summary-json', count]);
    assert.equal(c.code, 0, c.stderr.slice(-2000));
    assert.equal((await runCli(['verify', '--config', config, ...range, '--summary', count])).code, 0);
    await influxd.query(`DELETE FROM "test_gauge" WHERE time >= ${T0}ms AND time < ${T0 + 3_600_000}ms`, 'sharded');
    const bad = await runCli(['verify', '--config', config, ...range, '--summary', count]);
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /✗ test_gauge: found \d+, expected \d+/);
    assert.match(bad.stdout, /verify: MISMATCH/);
  });
});
