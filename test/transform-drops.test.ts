/**
 * A dropped row is gone: later kernels' windows see only surviving rows (as `dropna()` then
 * `rolling(w)`), a kept NaN is a null slot, and both stay bit-identical for any batch split and
 * worker count — including when rows dropped in the halo force the dispatcher to widen it.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { tableFromIPC } from 'apache-arrow';
import { createPipeline, droppedTotal, loadConfigFile, selectPipeline, type RunSummary } from '../src/index.js';
import { rand01, syntheticSeries, syntheticValue } from '../src/extract/synthetic-data.js';
import { SyntheticSource, syntheticSourceSchema } from '../src/extract/synthetic.js';
import type { Source, SourceChunk, SourceOpenOptions } from '../src/extract/source.js';
import { close, firstDifference, runSplit } from './oracle/batch.js';
import type { TransformSpec } from '../src/transform/kernel.js';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { DropLog } from '../src/observe/drop-log.js';
import { DROP_SERIES_PER_REASON } from '../src/transform/context.js';
import { buildContext } from './oracle/batch.js';

/** A real pino logger whose JSON lines are collected. */
function captureLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level: 'info' }, stream) as unknown as Logger, lines };
}
import { refRolling } from './oracle/reference.js';
import { seriesWithCuts } from './oracle/arbitraries.js';

const RUNS = Number(process.env.PROMFLUX_PROPERTY_RUNS ?? 60);
const ENGINE_RUNS = Math.max(2, Math.ceil(RUNS / 20));
const here = dirname(fileURLToPath(import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'promflux-drops-'));

function assertAccounted(s: RunSummary): void {
  assert.equal(s.status, 'ok', s.error?.message);
  assert.equal(s.samplesIn, s.linesOut + droppedTotal(s), `samplesIn ${s.samplesIn} != linesOut ${s.linesOut} + dropped ${droppedTotal(s)}`);
}

function sortedLines(path: string): string[] {
  return readFileSync(path, 'utf8').split('\n').filter(Boolean).sort();
}

describe('kernel chains over one series (the worker\'s compaction, halo check and widening)', () => {
  // Values above 500 violate the range rule, NaN is dropped: both leave the series.
  const validate: TransformSpec = { kind: 'validate', ranges: [{ match: 'm', max: 500, name: 'too_high' }] };
  const chains: Record<string, TransformSpec[]> = {
    rolling: [{ kind: 'rolling', windows: [5, 20, '10m'], stats: ['mean', 'std', 'p50', 'slope', 'ewma'], alpha: 0.3 }],
    outliers: [{ kind: 'outliers', method: 'zscore', window: 15, minPeriods: 4, action: 'drop' }, { kind: 'rolling', windows: [10], stats: ['mean', 'max'] }],
    impute: [{ kind: 'impute', method: 'mean', window: 10, maxGap: '1h' }, { kind: 'rolling', windows: [8], stats: ['mean', 'std'] }],
    completeness: [{ kind: 'rolling', windows: [3, 12], stats: ['mean'] }, { kind: 'completeness', threshold: 0.9 }, { kind: 'rolling', windows: [6], stats: ['mean', 'min'] }],
  };
  for (const [name, rest] of Object.entries(chains)) {
    test(`${name}: validate's drops leave the series, and the chain is bit-identical under any split`, () => {
      const specs = [validate, ...rest];
      fc.assert(
        fc.property(seriesWithCuts, ({ s, cuts }) => {
          const series = { key: 'm', ts: s.ts, v: s.v };
          const whole = runSplit(specs, series, []);
          const split = runSplit(specs, series, cuts);
          assert.deepEqual(split.dropped, whole.dropped);
          assert.equal(firstDifference(split.rows.ts, whole.rows.ts), null, 'rows');
          assert.equal(firstDifference(split.rows.value, whole.rows.value), null, 'values');
          assert.equal(firstDifference(split.rows.flags, whole.rows.flags), null, 'flags');
          for (const [f, col] of Object.entries(whole.rows.features)) assert.equal(firstDifference(split.rows.features[f]!, col), null, f);
          // The same as removing validate's drops first and running the rest of the chain.
          const keep = s.v.map((v) => !Number.isNaN(v) && v <= 500);
          const clean = { key: 'm', ts: s.ts.filter((_, i) => keep[i]), v: s.v.filter((_, i) => keep[i]) };
          const pre = runSplit(rest, clean, []);
          assert.equal(firstDifference(whole.rows.ts, pre.rows.ts), null, 'dropna first: rows');
          for (const [f, col] of Object.entries(pre.rows.features)) assert.equal(firstDifference(whole.rows.features[f]!, col), null, `dropna first: ${f}`);
        }),
        { numRuns: RUNS },
      );
    });
  }

  test('a run whose halo rows were mostly dropped is widened until exact (the halo check at work)', () => {
    // 200 rows; in the first 150 every other value is out of range: a piece starting at 150 has
    // half of its halo dropped and needs a wider one.
    const ts = Array.from({ length: 200 }, (_, i) => 1_700_000_000_000 + i * 15_000);
    const v = ts.map((_, i) => (i < 150 && i % 2 === 1 ? 1000 : Math.sin(i) * 10));
    const specs = [validate, { kind: 'rolling', windows: [30], stats: ['mean', 'std'] }];
    const whole = runSplit(specs, { key: 'm', ts, v }, []);
    const split = runSplit(specs, { key: 'm', ts, v }, [150]);
    assert.ok(split.refills > 0, 'the halo was widened');
    for (const [f, col] of Object.entries(whole.rows.features)) assert.equal(firstDifference(split.rows.features[f]!, col), null, f);
    // and the features after the cut come from full windows of surviving rows
    const at = whole.rows.ts.indexOf(ts[150]!);
    assert.ok(!Number.isNaN(whole.rows.features['mean_30']![at]!));
  });
});

describe('whole runs: random data with NaN and range violations, random batch sizes, 1 and 2 workers', () => {
  const validate: TransformSpec = { kind: 'validate', ranges: [{ match: 'node_cpu_usage_percent', max: 55, name: 'cpu_high' }] };
  const chains: Record<string, TransformSpec[]> = {
    rolling: [validate, { kind: 'rolling', windows: [5, 30, '10m'], stats: ['mean', 'std', 'p95', 'slope'] }],
    outliers: [validate, { kind: 'outliers', method: 'robust', window: 20, action: 'drop' }, { kind: 'rolling', windows: [10], stats: ['mean'] }],
    impute: [{ ...validate, nan: 'flag' }, { kind: 'impute', method: 'linear', maxGap: '2m' }, { kind: 'rolling', windows: [12], stats: ['mean', 'std'] }],
    completeness: [validate, { kind: 'rolling', windows: [5, 20], stats: ['mean'] }, { kind: 'completeness', threshold: 0.95 }, { kind: 'rolling', windows: [8], stats: ['mean'] }],
    ratio: [
      validate,
      { kind: 'ratio', numerator: 'application_errors_total', denominator: 'application_requests_total', on: ['service', 'instance'], window: 10, output: 'error_ratio' },
      { kind: 'rolling', windows: [6], stats: ['mean'] },
    ],
  };
  for (const [name, transform] of Object.entries(chains)) {
    test(`${name}: byte-identical output for any batch size and worker count, every sample accounted for`, async () => {
      let refills = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 1, max: 1_000_000 }),
          fc.constantFrom(0.005, 0.02, 0.05),
          fc.constantFrom(700, 1_500, 4_000),
          fc.constantFrom(1, 2),
          async (seed, nanRate, batchSize, workers) => {
            const source = { kind: 'synthetic' as const, series: 14, samplesPerSeries: 900, stepMs: 15_000, seed, nanRate, gapRate: 0.01, infRate: 0.002, outlierRate: 0.002 };
            const outs: string[][] = [];
            const sums: RunSummary[] = [];
            for (const [w, bs] of [[1, 100_000], [workers, batchSize]] as const) {
              const path = join(tmp, `${name}-${seed}-${w}-${bs}.lp`);
              const s = await createPipeline({ name: `drops-${name}`, source, transform, sink: { kind: 'file', path } }, { workers: w, batchSize: bs }).run();
              assertAccounted(s);
              assert.equal(s.counters['halo_short'], undefined, 'no series was left short of context');
              sums.push(s);
              outs.push(sortedLines(path));
            }
            refills += sums[1]!.counters['halo_refill'] ?? 0;
            assert.ok(droppedTotal(sums[0]!) > 0, 'rows were dropped');
            assert.deepEqual(sums[1]!.dropped, sums[0]!.dropped);
            assert.equal(outs[1]!.length, outs[0]!.length);
            for (let i = 0; i < outs[0]!.length; i++) if (outs[1]![i] !== outs[0]![i]) assert.fail(`line ${i} differs:\n  ${outs[1]![i]}\n  ${outs[0]![i]}`);
          },
        ),
        // seed 11: cpu_high drops whole stretches of some cpu series, so halos come up short
        { numRuns: ENGINE_RUNS, examples: [[11, 0.005, 700, 1]] },
      );
      assert.ok(refills > 0, 'some batch was re-run with a wider halo');
    });
  }
});

describe('a source that cannot widen its halo', () => {
  test('short halos are counted as halo_short and warned about, never passed silently', async () => {
    // The synthetic source without its widenHalo capability (as a Prometheus range query).
    const inner = new SyntheticSource(syntheticSourceSchema.parse({ kind: 'synthetic', series: 14, samplesPerSeries: 900, seed: 11, nanRate: 0.005, gapRate: 0.01, infRate: 0.002, outlierRate: 0.002 }));
    const source: Source = {
      kind: 'synthetic',
      open: (o: SourceOpenOptions) => inner.open(o),
      next: (n: number): Promise<SourceChunk | null> => inner.next(n),
      progress: () => inner.progress(),
      close: () => inner.close(),
    };
    const { logger, lines } = captureLogger();
    const transform: TransformSpec[] = [
      { kind: 'validate', ranges: [{ match: 'node_cpu_usage_percent', max: 55, name: 'cpu_high' }] },
      { kind: 'rolling', windows: [30], stats: ['mean'] },
    ];
    const s = await createPipeline({ name: 'nowiden', source: { kind: 'synthetic' }, transform, sink: { kind: 'null' } }, { source, workers: 1, batchSize: 700, logger }).run();
    assertAccounted(s);
    assert.equal(s.counters['halo_refill'], undefined);
    assert.ok((s.counters['halo_short'] ?? 0) > 0, 'short runs counted');
    const warned = lines.filter((l) => l['level'] === 40 && /counter halo_short/.test(String(l['msg'])));
    assert.ok(warned.length > 0, 'and warned about, naming the batch and chunk');
    assert.match(String(warned[0]!['msg']), /^batch \d+ \(chunk syn:/);
  });
});

describe('the default config with an Arrow sink', () => {
  test('every feature value at full windows equals a plain reference computed after removing dropped rows', async () => {
    const { config } = loadConfigFile(resolve(here, '../../config/default.yaml'));
    const base = selectPipeline(config);
    const src = base.source as Record<string, unknown>;
    // Fewer series, more NaN than the default, so many windows contain a dropped row.
    const source = { ...src, series: 70, nanRate: 0.01 } as typeof base.source;
    const path = join(tmp, 'default.arrow');
    const s = await createPipeline({ ...base, source, sink: { kind: 'arrow', path } }, { workers: 2, batchSize: 5_000 }).run();
    assertAccounted(s);
    assert.ok((s.dropped['nan'] ?? 0) > 500, `NaN samples were dropped (${s.dropped['nan']})`);

    const rolling = base.transform.find((t) => t.kind === 'rolling') as unknown as { windows: number[]; stats: string[] };
    const table = tableFromIPC(readFileSync(path));
    assert.equal(table.numRows, s.linesOut);
    const seriesCol = table.getChild('series')!;
    const tsCol = table.getChild('timestamp')!;
    const byKey = new Map<string, number[]>();
    for (let r = 0; r < table.numRows; r++) {
      const k = String(seriesCol.get(r));
      let a = byKey.get(k);
      if (!a) byKey.set(k, (a = []));
      a.push(r);
    }
    const p = { seed: src['seed'] as number, nanRate: 0.01, gapRate: src['gapRate'] as number, outlierRate: src['outlierRate'] as number, infRate: 0, resetEvery: 5000 };
    const start = Date.parse(String(src['start']));
    const step = src['stepMs'] as number;
    let checked = 0;
    let fullChecked = 0;
    for (let i = 0; i < 70; i++) {
      // The plain reference: the series as generated, minus what validate drops (NaN), then rolling.
      const ts: number[] = [];
      const v: number[] = [];
      for (let k = 0; k < (src['samplesPerSeries'] as number); k++) {
        if (p.gapRate > 0 && rand01(p.seed, i, k, 1) < p.gapRate) continue;
        const x = syntheticValue(p, i, k);
        if (!Number.isFinite(x)) continue;
        ts.push(start + k * step);
        v.push(x);
      }
      const rows = byKey.get(syntheticSeries(i).key) ?? [];
      // rows are in time order within a batch; sort by timestamp across batches
      rows.sort((a, b) => Number(tsCol.get(a)) - Number(tsCol.get(b)));
      assert.deepEqual(rows.map((r) => Number(tsCol.get(r))), ts, `series ${i}: the surviving rows`);
      for (const w of rolling.windows) {
        for (const stat of rolling.stats) {
          const col = table.getChild(`${stat}_${w}`)!;
          const ref = refRolling(ts, v, { samples: w, ms: 0 }, stat);
          for (let j = 0; j < ts.length; j++) {
            const got = col.get(rows[j]!) as number;
            checked++;
            if (j >= w - 1) {
              fullChecked++;
              assert.ok(!Number.isNaN(got), `series ${i} ${stat}_${w} row ${j}: a full window has a value`);
              assert.ok(close(got, ref[j]!, 1e-9, 1e-12), `series ${i} ${stat}_${w} row ${j}: ${got} vs reference ${ref[j]}`);
            } else assert.ok(Number.isNaN(got), `series ${i} ${stat}_${w} row ${j}: fewer than ${w} rows, no value`);
          }
        }
      }
    }
    assert.ok(fullChecked > 0.9 * checked, `${fullChecked} of ${checked} feature values come from full windows`);
  });
});

describe('per-series drop logging', () => {
  test('a batch records the first series per drop reason, bounded, and never halo rows', () => {
    const pieces = Array.from({ length: DROP_SERIES_PER_REASON + 4 }, (_, i) => ({ key: `m{i="${i}"}`, ts: [0, 1000, 2000], v: [NaN, NaN, 1], halo: i === 0 ? 2 : 0 }));
    const ctx = buildContext(pieces);
    for (let row = 0; row < ctx.length; row++) if (Number.isNaN(ctx.value[row]!)) ctx.drop(row, 'nan');
    ctx.drop(2, 'other');
    const keys = ctx.dropSeriesKeys();
    // series 0's NaN rows are halo: dropped but neither counted nor recorded
    assert.equal(ctx.dropped['nan'], 2 * (pieces.length - 1));
    assert.deepEqual(keys['nan'], pieces.slice(1, 1 + DROP_SERIES_PER_REASON).map((p) => p.key));
    assert.deepEqual(keys['other'], [pieces[0]!.key], 'row 2 is series 0\'s own row');
    assert.deepEqual([...ctx.dropSeriesCapped], ['nan'], 'more series than recorded: the list says it was capped');
  });

  test('each (reason, series) is logged once per run at warn with the series key, at most N lines per reason, then a summary', () => {
    const { logger, lines } = captureLogger();
    const log = new DropLog(logger, { linesPerReason: 3 });
    log.observe({ nan: ['a', 'b'], range: ['a'] }, 'c1');
    log.observe({ nan: ['a', 'b', 'c'] }, 'c2'); // a, b again: not logged again
    log.observe({ nan: ['d', 'e'] }, 'c3'); // over the limit: counted
    log.finish();
    const warns = lines.filter((l) => l['level'] === 40);
    const perSeries = warns.filter((l) => typeof l['series'] === 'string');
    assert.deepEqual(perSeries.map((l) => `${String(l['reason'])}:${String(l['series'])}`), ['nan:a', 'nan:b', 'range:a', 'nan:c']);
    assert.match(String(perSeries[0]!['msg']), /samples dropped \(nan\) in series a/);
    const summary = warns.find((l) => l['unloggedSeries'] !== undefined);
    assert.ok(summary, 'a summary line');
    assert.equal(summary['reason'], 'nan');
    assert.equal(summary['unloggedSeries'], 2);
    assert.equal(summary['atLeast'], false, 'every series was reported');
    assert.deepEqual(log.seriesCounts(), { nan: 5, range: 1 });
    // A worker that capped its per-batch list makes the count a lower bound, and says so.
    const capped = captureLogger();
    const log2 = new DropLog(capped.logger, { linesPerReason: 1 });
    log2.observe({ nan: ['a', 'b'] }, 'c1', ['nan']);
    log2.finish();
    const s2 = capped.lines.find((l) => l['unloggedSeries'] !== undefined)!;
    assert.equal(s2['atLeast'], true);
    assert.match(String(s2['msg']), /at least 1 more series/);
  });

  test('series-level drops of the encoder (schema_excluded) are warned once per series too, naming it', async () => {
    const { logger, lines } = captureLogger();
    const source = { kind: 'synthetic' as const, series: 7, samplesPerSeries: 1500, seed: 3 };
    const excluded = Array.from({ length: 7 }, (_, i) => syntheticSeries(i)).filter((x) => x.key.startsWith('node_cpu_usage_percent'));
    assert.ok(excluded.length > 0, 'the synthetic set has node_cpu_usage_percent series');
    const path = join(tmp, 'droplog-schema.lp');
    const s = await createPipeline(
      { name: 'droplog2', source, transform: [], schema: { measurement: { exclude: ['node_cpu_usage_percent'] } }, sink: { kind: 'file', path } } as never,
      { workers: 1, batchSize: 1_000, logger },
    ).run();
    assertAccounted(s);
    assert.ok((s.dropped['schema_excluded'] ?? 0) > 0);
    const warned = lines.filter((l) => l['level'] === 40 && l['reason'] === 'schema_excluded' && typeof l['series'] === 'string').map((l) => String(l['series']));
    assert.equal(new Set(warned).size, warned.length, 'once per series');
    assert.deepEqual([...warned].sort(), excluded.map((x) => x.key).sort());
  });

  test('a whole run warns once per series that lost NaN samples, naming it', async () => {
    const { logger, lines } = captureLogger();
    const source = { kind: 'synthetic' as const, series: 7, samplesPerSeries: 2000, seed: 3, nanRate: 0.01 };
    const path = join(tmp, 'droplog.lp');
    const s = await createPipeline({ name: 'droplog', source, transform: [{ kind: 'validate' }, { kind: 'rolling', windows: [5], stats: ['mean'] }], sink: { kind: 'file', path } }, { workers: 1, batchSize: 1_000, logger }).run();
    assertAccounted(s);
    const warned = lines.filter((l) => l['level'] === 40 && l['reason'] === 'nan' && typeof l['series'] === 'string').map((l) => String(l['series']));
    assert.equal(new Set(warned).size, warned.length, 'once per series');
    assert.deepEqual([...warned].sort(), Array.from({ length: 7 }, (_, i) => syntheticSeries(i).key).sort(), 'every series with NaN samples, by key');
  });
});
