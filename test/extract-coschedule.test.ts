/**
 * Co-scheduling (src/extract/prometheus/coschedule.ts, docs/EXTRACT.md "Co-scheduling"): queries a
 * cross-series kernel joins are planned as one unit, so both metrics land in every batch. Against
 * a real Prometheus (test/harness/prometheus.ts): chunk contents, and a correlate pipeline over two
 * queries equal to the same pipeline over one query selecting both metrics.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPipeline, droppedTotal, type RunSummary } from '../src/index.js';
import { coscheduleGroups } from '../src/extract/prometheus/coschedule.js';
import { decodeChunk, drain, makeSource, openOpts } from './harness/extract.js';
import { dataset, startPrometheus, T0, T_END, type PromServer } from './harness/prometheus.js';

const tmp = mkdtempSync(join(tmpdir(), 'promflux-cosched-'));
let prom: PromServer;

before(async () => {
  prom = await startPrometheus();
});
after(async () => {
  await prom?.dispose();
});

const need = (kernel: string, ...names: string[]) => ({ kernel, metrics: names.map((n) => new RegExp(`^(?:${n})$`)) });

test('groups: queries whose selector names match one cross-series need are joined; needs sharing a query merge; unknown names take no part', () => {
  const qs = [
    { name: 'cpu', metrics: ['node_cpu'] },
    { name: 'req', metrics: ['http_requests_total'] },
    { name: 'err', metrics: ['http_errors_total'] },
    { name: 'mem', metrics: ['node_mem'] },
    { name: 'expr', metrics: [] },
  ];
  assert.deepEqual(coscheduleGroups(qs, []), []);
  assert.deepEqual(coscheduleGroups(qs, [need('correlate', 'node_cpu', 'http_requests_total')]), [['cpu', 'req']]);
  assert.deepEqual(coscheduleGroups(qs, [need('correlate', 'node_cpu', 'http_requests_total'), need('ratio', 'http_errors_total', 'http_requests_total')]), [['cpu', 'req', 'err']]);
  assert.deepEqual(coscheduleGroups(qs, [need('group', 'node_.*')]), [['cpu', 'mem']]);
  // a need met within one query asks for nothing
  assert.deepEqual(coscheduleGroups(qs, [need('correlate', 'node_cpu', 'nothing_here')]), []);
});

describe('co-scheduled Prometheus queries (real server)', () => {
  const window = { start: new Date(T0).toISOString(), end: new Date(T0 + 2 * 3_600_000).toISOString() };

  test('every chunk of the unit holds both queries over the same window; together the rows are those of the separate queries', async () => {
    const base = { url: prom.url, extraction: 'range' as const, step: '60s', ...window, queries: [{ name: 'gauge', expr: 'test_gauge' }, { name: 'req', expr: 'test_requests_total' }] };
    const co = makeSource(base);
    await co.open(openOpts({ crossSeries: [need('correlate', 'test_gauge', 'test_requests_total')] }));
    const chunks = await drain(co, 100);
    await co.close();
    assert.ok(chunks.length > 3, `several chunks (${chunks.length})`);
    const rowsCo: string[] = [];
    let prevEnd = T0;
    for (const c of chunks) {
      assert.equal(c.fill.kind, 'prom-group');
      assert.match(c.id, /^gauge\+req:/);
      assert.equal(c.startMs, prevEnd, 'chunks tile the window');
      prevEnd = c.endMs;
      const d = decodeChunk(c);
      const metrics = new Set(d.keys.map((k) => k.slice(0, k.indexOf('{'))));
      assert.deepEqual([...metrics].sort(), ['test_gauge', 'test_requests_total'], `chunk ${c.id} has both metrics`);
      for (const r of d.rows) if (!r.halo) rowsCo.push(`${r.key} ${r.t} ${r.v}`);
    }
    const sep = makeSource(base);
    await sep.open(openOpts());
    const rowsSep: string[] = [];
    for (const c of await drain(sep, 100)) {
      assert.notEqual(c.fill.kind, 'prom-group');
      for (const r of decodeChunk(c).rows) if (!r.halo) rowsSep.push(`${r.key} ${r.t} ${r.v}`);
    }
    await sep.close();
    assert.equal(rowsCo.length, 5 * 120, '5 series × 120 steps');
    assert.deepEqual(rowsCo.sort(), rowsSep.sort());
  });

  test('resume: time the unit completed is skipped; time only one member completed is planned again for both', async () => {
    const base = { url: prom.url, extraction: 'range' as const, step: '60s', ...window, queries: [{ name: 'gauge', expr: 'test_gauge' }, { name: 'req', expr: 'test_requests_total' }] };
    const crossSeries = [need('correlate', 'test_gauge', 'test_requests_total')];
    const first = makeSource(base);
    await first.open(openOpts({ crossSeries }));
    const all = await drain(first, 100);
    await first.close();
    const half = all.slice(0, Math.floor(all.length / 2));
    // by completed chunk ids (unit name) and by checkpoint coverage of the unit
    for (const opts of [{ completed: new Set(half.map((c) => c.id)) }, { covered: new Map([['query:gauge+req', half.map((c) => [c.startMs, c.endMs] as [number, number])]]) }]) {
      const again = makeSource(base);
      await again.open(openOpts({ crossSeries, ...opts }));
      const rest = await drain(again, 100);
      await again.close();
      assert.equal(rest[0]!.startMs, half[half.length - 1]!.endMs, 'resumes where the unit stopped');
      assert.equal(rest[rest.length - 1]!.endMs, all[all.length - 1]!.endMs);
    }
    // one member's coverage alone does not cover the unit
    const partial = makeSource(base);
    await partial.open(openOpts({ crossSeries, covered: new Map([['query:gauge', [[T0, T0 + 3_600_000]]]]) }));
    const planned = await drain(partial, 100);
    await partial.close();
    assert.equal(planned[0]!.startMs, T0);
  });

  function accounted(s: RunSummary): void {
    assert.equal(s.status, 'ok', s.error?.message);
    assert.equal(s.samplesIn, s.linesOut + droppedTotal(s));
  }

  test('correlate over two queries equals correlate over one query selecting both (bit for bit, any batch size); unpaired rows counted', async () => {
    const corr = { kind: 'correlate', x: 'test_gauge', y: 'test_requests_total', on: ['instance'], windows: [10, '15m'], stats: ['corr', 'cov'], lags: [2], minPeriods: 3 };
    const run = async (name: string, queries: { name: string; expr: string }[], batchSize: number): Promise<{ s: RunSummary; lines: string[] }> => {
      const path = join(tmp, `${name}-${batchSize}.lp`);
      const s = await createPipeline(
        { name, source: { kind: 'prometheus', url: prom.url, extraction: 'range', step: '60s', ...window, queries }, transform: [{ kind: 'validate' }, corr], sink: { kind: 'file', path } },
        { workers: 2, batchSize },
      ).run();
      accounted(s);
      return { s, lines: readFileSync(path, 'utf8').split('\n').filter(Boolean).sort() };
    };
    const one = await run('one', [{ name: 'both', expr: '{__name__=~"test_gauge|test_requests_total"}' }], 100_000);
    const gaugeC = one.lines.filter((l) => l.startsWith('test_gauge,instance=c,'));
    assert.equal(gaugeC.length, 120);
    assert.equal(one.s.counters['unpaired:correlate'], 120, 'test_gauge{instance="c"} has no partner: its rows are counted');
    const withCorr = one.lines.filter((l) => l.startsWith('test_gauge,instance=a,') && /xy_corr_10=/.test(l));
    assert.ok(withCorr.length > 100, `the pair features are there (${withCorr.length} rows)`);
    for (const bs of [150, 2_000]) {
      const two = await run('two', [{ name: 'gauge', expr: 'test_gauge' }, { name: 'req', expr: 'test_requests_total' }], bs);
      assert.deepEqual(two.lines, one.lines, `batch ${bs}: same lines as one query`);
      assert.equal(two.s.counters['unpaired:correlate'], 120);
    }
  });

  test('a pair kernel whose partner is in no batch: every x row is counted unpaired, and still lands', async () => {
    const data = dataset().filter((d) => d.name === 'test_gauge');
    const path = join(tmp, 'apart.lp');
    // y matches no metric of any query: nothing to co-schedule, no partner in any batch
    const s = await createPipeline(
      {
        name: 'apart',
        source: { kind: 'prometheus', url: prom.url, extraction: 'range', step: '60s', ...window, queries: [{ name: 'gauge', expr: 'test_gauge' }, { name: 'req', expr: 'rate(test_requests_total[5m])' }] },
        transform: [{ kind: 'correlate', x: 'test_gauge', y: 'nothing_total', windows: [10] }],
        sink: { kind: 'file', path },
      },
      { workers: 1, batchSize: 5_000 },
    ).run();
    accounted(s);
    assert.equal(s.counters['unpaired:correlate'], data.length * 120);
  });
});
