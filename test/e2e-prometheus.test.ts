/**
 * End to end on a real Prometheus (Debian package, started by the harness): extraction in the
 * workers, kernels, line protocol — exact counts, exact values, and batch/worker invariance.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPipeline, droppedTotal, type RunSummary } from '../src/index.js';
import { dataset, startPrometheus, T0, T_END, type PromServer } from './harness/prometheus.js';

const tmp = mkdtempSync(join(tmpdir(), 'promflux-e2e-prom-'));
let prom: PromServer;

before(async () => {
  prom = await startPrometheus();
});
after(async () => {
  await prom?.dispose();
});

function lines(path: string): string[] {
  return readFileSync(path, 'utf8').split('\n').filter(Boolean);
}

function accounted(s: RunSummary): void {
  assert.equal(s.status, 'ok', s.error?.message);
  assert.equal(s.samplesIn, s.linesOut + droppedTotal(s));
}

describe('Prometheus → engine → line protocol', () => {
  test('raw (remote-read) backfill: every stored sample exactly once, values exact, invariant to batch size and workers', async () => {
    const data = dataset();
    const stored = data.reduce((a, s) => a + s.ts.length, 0);
    const nonFinite = data.reduce((a, s) => a + s.values.filter((v) => !Number.isFinite(v)).length, 0);
    const outs: string[][] = [];
    for (const [workers, batchSize] of [[1, 50_000], [2, 2_000], [2, 'auto']] as const) {
      const path = join(tmp, `raw-${workers}-${batchSize}.lp`);
      const s = await createPipeline(
        {
          name: 'raw',
          source: { kind: 'prometheus', url: prom.url, extraction: 'remote-read', start: new Date(T0).toISOString(), end: new Date(T_END).toISOString(), step: '15s', queries: [{ name: 'all', expr: '{__name__=~"test_.+"}' }] },
          transform: [{ kind: 'validate' }, { kind: 'rolling', windows: [5, 15], stats: ['mean', 'std'] }],
          sink: { kind: 'file', path },
        },
        { workers, batchSize },
      ).run();
      accounted(s);
      assert.equal(s.samplesIn, stored, `${workers}/${batchSize}: every stored sample read once`);
      assert.equal(droppedTotal(s), nonFinite, 'NaN/±Inf dropped with reasons');
      assert.ok(s.dropped.nan! > 0 && s.dropped.inf! > 0);
      outs.push(lines(path).sort());
    }
    for (const o of outs.slice(1)) assert.deepEqual(o, outs[0]);
    // Values are exact: check every gauge line against the data set.
    const gauge = data.find((d) => d.name === 'test_gauge' && d.labels.instance === 'b')!;
    const byTs = new Map(gauge.ts.map((t, i) => [t, gauge.values[i]!]));
    let checked = 0;
    for (const l of outs[0]!) {
      const m = /^test_gauge,instance=b,job=node value=([^,\s]+)(?:,\S*)? (\d+)$/.exec(l);
      if (!m) continue;
      assert.equal(Number(m[1]), byTs.get(Number(m[2])));
      checked++;
    }
    assert.equal(checked, gauge.ts.length);
  });

  test('range (query_range) backfill: one sample per step per series, chunk edges exact', async () => {
    const path = join(tmp, 'range.lp');
    const s = await createPipeline(
      {
        name: 'range',
        source: { kind: 'prometheus', url: prom.url, extraction: 'range', start: new Date(T0).toISOString(), end: new Date(T_END).toISOString(), step: '60s', queries: [{ name: 'gauge', expr: 'test_gauge' }], maxChunk: '20m' },
        transform: [{ kind: 'validate' }],
        sink: { kind: 'file', path },
      },
      { workers: 2, batchSize: 3_000 },
    ).run();
    accounted(s);
    const steps = (T_END - T0) / 60_000;
    assert.equal(s.samplesIn, 3 * steps, '3 series × one point per step, no duplicates at chunk edges');
    const ts = new Set(lines(path).filter((l) => l.includes('instance=a')).map((l) => l.split(' ')[2]));
    assert.equal(ts.size, steps);
  });

  test('a Prometheus that is down: the run fails with a clear error, exit status failed', async () => {
    const s = await createPipeline({
      name: 'down',
      source: { kind: 'prometheus', url: 'http://127.0.0.1:1', start: new Date(T0).toISOString(), end: new Date(T_END).toISOString(), queries: [{ name: 'g', expr: 'test_gauge' }], retry: { attempts: 2, baseMs: 10, maxMs: 20 }, timeoutMs: 2000 },
      transform: [],
      sink: { kind: 'null' },
    }).run();
    assert.equal(s.status, 'failed');
    assert.match(s.error!.message, /127\.0\.0\.1:1/);
  });
});
