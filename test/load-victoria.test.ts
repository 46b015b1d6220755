/**
 * The v2 write path (/api/v2/write, Authorization: Token, gzip forced on and gzip auto = off on
 * loopback) against a real VictoriaMetrics, checked through its export API: every series with its
 * exact label values, timestamps and values.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { createInfluxSink, parseSinkUrl } from '../src/load/influx/index.js';
import type { EncodedBatch } from '../src/load/sink.js';
import { lpLine } from './harness/influxdb.js';
import { startVictoria, type Victoria } from './harness/victoria.js';

const logger = pino({ level: 'silent' });
const LABELS = ['plain', 'with space', 'comma,inside', 'equals=sign', 'double "quotes"', 'back\\slash', 'ünïcödé ✓ 日本語'];
const T0 = 1_700_000_000_000;

describe('influx sink (v2 API) → VictoriaMetrics', () => {
  let vm: Victoria;
  before(async () => {
    vm = await startVictoria();
  });
  after(async () => {
    await vm?.stop();
  });

  for (const gzip of ['true', 'auto'] as const) {
    test(`every line lands with exact labels, timestamps and values (gzip=${gzip}: ${gzip === 'true' ? 'compressed' : 'plain on loopback'})`, async () => {
      const metric = `vm_metric_gz_${gzip}`;
      const perSeries = 300;
      let text = '';
      for (let s = 0; s < LABELS.length; s++) {
        for (let i = 0; i < perSeries; i++) {
          text += lpLine(metric, { label: LABELS[s]!, idx: String(s) }, { value: s * 10_000 + i + 0.5, mean_5: i }, T0 + i * 15_000) + '\n';
        }
      }
      const lines = LABELS.length * perSeries;
      const cfg = parseSinkUrl(`influx:${vm.url}?version=2&org=acme&bucket=metrics&token=secret&batchLines=400&concurrency=3&gzip=${gzip}`);
      assert.equal(cfg.version, 2);
      assert.equal(cfg.token, 'secret');
      const sink = createInfluxSink(cfg, { logger });
      await sink.open();
      const lp = new TextEncoder().encode(text);
      const batch: EncodedBatch = { batchId: 1, chunkId: 'vm', lp, lines, columns: null, seriesKeys: [] };
      assert.deepEqual(await sink.write(batch), { written: lines });
      const st = sink.stats() as { requests: Record<string, number>; gzip: boolean; bytesWritten: number; bytesSent: number };
      await sink.close();
      assert.deepEqual(st.requests, { '204': Math.ceil(lines / 400) });
      assert.equal(st.gzip, gzip === 'true');
      assert.equal(st.bytesWritten, lp.length);
      if (gzip === 'true') assert.ok(st.bytesSent < lp.length / 3, `gzip sent ${st.bytesSent} of ${lp.length} bytes`);
      else assert.equal(st.bytesSent, lp.length);

      const values = await vm.export(`{__name__="${metric}_value"}`);
      assert.equal(values.length, LABELS.length);
      for (const series of values) {
        const s = Number(series.metric.idx);
        assert.deepEqual(series.metric, { __name__: `${metric}_value`, label: LABELS[s], idx: String(s) });
        assert.equal(series.values.length, perSeries);
        assert.deepEqual(series.timestamps, Array.from({ length: perSeries }, (_, i) => T0 + i * 15_000));
        assert.deepEqual(series.values, Array.from({ length: perSeries }, (_, i) => s * 10_000 + i + 0.5));
      }
      const means = await vm.export(`{__name__="${metric}_mean_5"}`);
      assert.equal(means.reduce((n, x) => n + x.values.length, 0), lines);
    });
  }
});
