/**
 * The ML feature kernels from the library API, using only the public exports (src/index.ts): typed
 * transform entries (FeatureKernelSpec) into createPipeline, a synthetic source and a file sink;
 * the features are checked on the written lines.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileTransforms, createPipeline, droppedTotal, type FeatureKernelSpec, type TransformSpec } from '../src/index.js';

function parse(line: string): { series: string; fields: Record<string, number>; t: number } {
  const [head, fieldText, t] = line.split(' ');
  const fields: Record<string, number> = {};
  for (const kv of fieldText!.split(',')) {
    const [k, v] = kv.split('=');
    fields[k!] = Number(v!.replace(/i$/, ''));
  }
  return { series: head!, fields, t: Number(t) };
}

test('every ML feature kernel is configurable from createPipeline with typed entries; outputs land on the right series', async () => {
  const features: FeatureKernelSpec[] = [
    { kind: 'lags', lags: [1], asOf: ['1m'], diffs: [1] },
    { kind: 'calendar', timezone: 'Europe/Berlin', fields: ['hour', 'weekend'] },
    { kind: 'autocorr', lags: [1], windows: ['10m'] },
    { kind: 'correlate', x: 'node_cpu_usage_percent', y: 'node_memory_usage_percent', on: ['instance'], windows: [20, '5m'], stats: ['corr', 'cov'] },
    { kind: 'spectral', window: '10m', size: 64, bins: 1, stats: ['period'] },
    { kind: 'group', metric: 'node_.*_percent', by: ['job'], stats: ['deviation', 'size'] },
  ];
  const transform: TransformSpec[] = [{ kind: 'validate' }, ...features];
  const path = join(mkdtempSync(join(tmpdir(), 'promflux-embed-feat-')), 'out.lp');
  const s = await createPipeline(
    { name: 'feat', source: { kind: 'synthetic', series: 14, samplesPerSeries: 300, seed: 3 }, transform, sink: { kind: 'file', path }, encode: { precision: 'ms' } },
    // one batch holds all 14 series: the synthetic source cuts series blocks by batch size and does not co-schedule
    { workers: 2, batchSize: 5_000 },
  ).run();
  assert.equal(s.status, 'ok', s.error?.message);
  assert.equal(s.samplesIn, s.linesOut + droppedTotal(s));
  assert.equal(s.linesOut, 14 * 300);
  const names = compileTransforms(transform).flatMap((k) => [...k.outputs]);
  for (const n of ['lag_1', 'lag_1m', 'diff_1', 'hour', 'weekend', 'autocorr_1_10m', 'xy_corr_20', 'xy_cov_5m', 'fft_mag_1_10m', 'fft_period_10m', 'group_dev', 'group_size']) assert.ok(names.includes(n), n);

  const bySeries = new Map<string, { t: number; fields: Record<string, number> }[]>();
  for (const l of readFileSync(path, 'utf8').split('\n').filter(Boolean)) {
    const p = parse(l);
    if (!bySeries.has(p.series)) bySeries.set(p.series, []);
    bySeries.get(p.series)!.push(p);
  }
  assert.equal(bySeries.size, 14);
  const hourFmt = new Intl.DateTimeFormat('en-US', { timeZone: 'Europe/Berlin', hour: 'numeric', hourCycle: 'h23' });
  for (const [series, rows] of bySeries) {
    rows.sort((a, b) => a.t - b.t);
    rows.forEach((r, i) => {
      // lag_1 is the previous row's value (synthetic steps are 15 s, so lag_1m is 4 rows back)
      if (i > 0) assert.equal(r.fields['lag_1'], rows[i - 1]!.fields['value'], `${series} row ${i} lag_1`);
      else assert.equal(r.fields['lag_1'], undefined);
      if (i >= 4) assert.equal(r.fields['lag_1m'], rows[i - 4]!.fields['value'], `${series} row ${i} lag_1m`);
      assert.equal(r.fields['hour'], Number(hourFmt.format(new Date(r.t))));
    });
    const isCpu = series.startsWith('node_cpu_usage_percent');
    const isNode = series.startsWith('node_');
    assert.equal(rows.some((r) => r.fields['xy_corr_20'] !== undefined), isCpu, `${series}: pair features on the x series only`);
    assert.equal(rows.every((r) => r.fields['group_size'] === (isNode ? 2 : undefined)), true, `${series}: its metric's 2 instances of job node`);
    assert.ok(rows.slice(40).every((r) => Number.isFinite(r.fields['fft_period_10m'])), `${series}: spectral over 10 minutes`);
  }
});
