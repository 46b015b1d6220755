import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { dataFile, encodeData, generate, mulberry32, readData, toBatch, STALE_NAN_BITS } from '../benchmarks/lib/data.js';
import { comparedFigure, baselineFigure, formatValue, timeRuns } from '../benchmarks/lib/figures.js';
import { lineChart, niceTicks } from '../benchmarks/lib/svg.js';
import { consoleTable, resultsMarkdown, targetSummary } from '../benchmarks/lib/report.js';
import { machineInfo } from '../benchmarks/lib/machine.js';
import { engineConfig } from '../benchmarks/lib/engine.js';
import { median, type ScenarioResult } from '../benchmarks/lib/scenario.js';
import { serialFraction } from '../benchmarks/engine-scaling.js';
import { onCpuShare } from '../benchmarks/dispatcher-ceiling.js';
import { scenarioFiles } from '../benchmarks/run.js';
import { parse } from 'yaml';
import { viewBatch } from '../src/batch/layout.js';

test('mulberry32 is deterministic and uniform-ish', () => {
  const a = mulberry32(42);
  const b = mulberry32(42);
  const xs = Array.from({ length: 10_000 }, () => a());
  assert.deepEqual(xs.slice(0, 5), Array.from({ length: 5 }, () => b()));
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  assert.ok(Math.abs(mean - 0.5) < 0.02, `mean ${mean}`);
  assert.notEqual(mulberry32(43)(), mulberry32(42)());
});

test('data file round-trips and carries NaN, ±Inf and bit-exact stale markers', () => {
  const d = generate({ series: 7, samplesPerSeries: 3000, seed: 5, nanRate: 0.01, infRate: 0.01, staleRate: 0.01 });
  const dir = mkdtempSync(join(tmpdir(), 'pfx-bench-'));
  try {
    const path = join(dir, 'd.bin');
    const buf = encodeData(d);
    writeFileSync(path, buf);
    const r = readData(path);
    assert.equal(r.rows, 21_000);
    assert.equal(r.seriesCount, 7);
    assert.deepEqual(r.seriesKeys, d.seriesKeys);
    assert.deepEqual([...r.offsets], [...d.offsets]);
    assert.deepEqual(new Uint8Array(r.value.buffer, r.value.byteOffset, r.value.byteLength), new Uint8Array(d.value.buffer));
    const bits = new BigUint64Array(r.value.slice().buffer);
    let stale = 0;
    let nan = 0;
    let inf = 0;
    for (let i = 0; i < r.rows; i++) {
      if (bits[i] === STALE_NAN_BITS) stale++;
      else if (Number.isNaN(r.value[i])) nan++;
      else if (!Number.isFinite(r.value[i]!)) inf++;
    }
    assert.ok(stale > 100 && nan > 100 && inf > 100, `${stale} ${nan} ${inf}`);
    // timestamps ascend within each series; z-score params are the finite values' mean / sample std
    for (let s = 0; s < 7; s++) {
      const a = r.offsets[s]!;
      const b = r.offsets[s + 1]!;
      const vals: number[] = [];
      for (let i = a; i < b; i++) {
        if (i > a) assert.ok(r.ts[i]! > r.ts[i - 1]!);
        if (Number.isFinite(r.value[i]!)) vals.push(r.value[i]!);
      }
      const m = vals.reduce((x, y) => x + y, 0) / vals.length;
      const sd = Math.sqrt(vals.reduce((x, y) => x + (y - m) ** 2, 0) / (vals.length - 1));
      assert.ok(Math.abs(r.zMean[s]! - m) <= 1e-9 * Math.abs(m));
      assert.ok(Math.abs(r.zStd[s]! - sd) <= 1e-9 * sd);
    }
    // the same spec always yields the same bytes (the C++ side reads the cached file)
    assert.deepEqual(encodeData(generate({ series: 7, samplesPerSeries: 3000, seed: 5, nanRate: 0.01, infRate: 0.01, staleRate: 0.01 })), buf);
    const cached = dataFile(dir, { series: 3, samplesPerSeries: 10, seed: 1 });
    assert.equal(basename(cached), 's3-n10-seed1-g1.bin');
    assert.equal(readData(cached).rows, 30);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('readData rejects a file that is not benchmark data', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pfx-bench-'));
  try {
    const p = join(dir, 'bad.bin');
    writeFileSync(p, Buffer.alloc(100));
    assert.throws(() => readData(p), /bad magic/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('toBatch builds one run per series over SharedArrayBuffer columns', () => {
  const d = generate({ series: 4, samplesPerSeries: 50, seed: 9 });
  const desc = toBatch(d);
  const v = viewBatch(desc);
  assert.ok(desc.value instanceof SharedArrayBuffer);
  assert.equal(v.length, 200);
  assert.equal(v.runCount, 4);
  assert.deepEqual([...v.runs.subarray(4, 8)], [1, 50, 0, 50]);
  assert.equal(v.series[120], 2);
  assert.equal(desc.seriesKeys[3], d.seriesKeys[3]);
  assert.deepEqual(new Uint8Array(v.value.slice().buffer), new Uint8Array(d.value.slice().buffer));
});

test('timeRuns returns one duration per run and calls beforeEach untimed', () => {
  let resets = 0;
  let calls = 0;
  const ms = timeRuns(
    () => {
      calls++;
      let x = 0;
      for (let i = 0; i < 1e5; i++) x += i;
      return x;
    },
    { runs: 5, warmup: 1, beforeEach: () => resets++ },
  );
  assert.equal(ms.length, 5);
  assert.ok(ms.every((m) => m > 0));
  // tinybench may make one extra untimed call to detect whether fn is async
  assert.ok(calls >= 6 && calls <= 7, String(calls));
  assert.equal(resets, 6);
});

test('figures: ratios, targets and lower-is-better', () => {
  const base = baselineFigure('peer', [10, 12, 11, 9, 100], 'ops/s');
  assert.equal(base.value, 11);
  const f = comparedFigure('ours', [22, 23, 21, 25, 24], 'ops/s', base, { target: 2 });
  assert.equal(f.ratio, 23 / 11);
  assert.equal(f.pass, true);
  const rss = comparedFigure('rss big', [130, 120, 125, 121, 122], 'bytes', baselineFigure('rss small', [100, 100, 100, 100, 100], 'bytes'), {
    target: 1.2,
    lowerIsBetter: true,
  });
  assert.equal(rss.pass, false);
  assert.equal(rss.ratio, 1.22);
  assert.equal(formatValue(12_345_678, 'samples/s'), '12.3M samples/s');
  assert.equal(formatValue(3 * 2 ** 20, 'bytes'), '3.0 MiB');
  assert.equal(median([3, 1, 2, 4]), 2.5);
});

test('serial fraction from the 2-worker speedup (older reports\' figure)', () => {
  assert.equal(serialFraction(2), 0);
  assert.equal(serialFraction(1), 1);
  assert.ok(Math.abs(serialFraction(1.8) - (2 / 1.8 - 1)) < 1e-12);
  assert.equal(serialFraction(2.3), 0); // superlinear noise is clamped
});

test('dispatcher-ceiling: on-CPU share of the workers\' task wall time', () => {
  assert.equal(onCpuShare([{ taskCpuMs: 30, taskWallMs: 100 }, { taskCpuMs: 70, taskWallMs: 100 }]), 0.5);
  assert.equal(onCpuShare([{ taskCpuMs: 10, taskWallMs: 10 }]), 1);
  assert.ok(Number.isNaN(onCpuShare([])));
  assert.ok(Number.isNaN(onCpuShare([{ taskCpuMs: 0, taskWallMs: 0 }])));
});

test('SVG line chart is well-formed, escapes text and labels axes and markers', () => {
  const svg = lineChart({
    title: 'A & B <chart>',
    xLabel: 'batch size',
    yLabel: 'samples/s',
    y2Label: 'RSS',
    xLog: true,
    series: [
      { name: 'thr', points: [[1000, 5e6], [1e6, 7e6]], color: '#00f' },
      { name: 'rss', points: [[1000, 100], [1e6, 900]], color: '#f00', right: true, dashed: true },
    ],
    markers: [{ x: 20000, y: 6e6, label: 'auto', color: '#0a0' }],
    hLines: [{ y: 512, label: 'budget', color: '#999', right: true }],
  });
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.match(svg, /<\/svg>\n$/);
  assert.match(svg, /A &amp; B &lt;chart&gt;/);
  assert.equal((svg.match(/<polyline /g) ?? []).length, 2);
  assert.match(svg, /stroke-dasharray="6 4"/);
  for (const t of ['batch size', 'samples/s', 'RSS', 'auto', 'budget']) assert.ok(svg.includes(t), t);
  assert.ok(!/NaN|undefined/.test(svg));
  // balanced tags (a cheap well-formedness check)
  assert.equal((svg.match(/<text/g) ?? []).length, (svg.match(/<\/text>/g) ?? []).length);
  assert.deepEqual(niceTicks(0, 10), [0, 2, 4, 6, 8, 10]);
});

test('report: tables, plain pass/miss statements, machine and method', () => {
  const base = baselineFigure('Point', [1, 1, 1, 1, 1], 'lines/s');
  const r: ScenarioResult = {
    name: 'enc',
    title: 'Encoder | vs Point',
    method: 'same rows',
    figures: [base, comparedFigure('LineWriter', [5, 5, 5, 5, 5], 'lines/s', base, { target: 10 })],
    svg: { file: 'enc.svg', content: '<svg/>' },
    notes: ['a note'],
  };
  const text = consoleTable(r);
  assert.match(text, /LineWriter\s+5\.00 lines\/s\s+5\s+Point\s+5\.00×\s+≥ 10×\s+MISS/);
  const summary = targetSummary([{ ...r, name: 'encoder' }], [{ name: 'influx-load', reason: 'full mode only' }]);
  const enc = summary.findIndex((l) => l.includes('(`encoder`)'));
  assert.match(summary[enc]!, /\*\*1 of 1 MISSED\*\*/);
  assert.equal(summary[enc + 1], '  - LineWriter: 5.00× of Point (target ≥ 10×): **MISSED**');
  assert.ok(summary.some((l) => /Prometheus → InfluxDB .*\(`influx-load`\)\*\* — not measured in this run: full mode only/.test(l)));
  assert.ok(summary.some((l) => /\(`decode`\)\*\* — not measured in this run: no such scenario file, or excluded/.test(l)));
  assert.ok(summary.some((l) => /^- \*\*default feature set ≥ 0\.8× the native C\+\+ reference/.test(l)), 'every issue target is listed');
  const mdText = resultsMarkdown({
    results: [r],
    machine: machineInfo(),
    mode: 'quick',
    date: new Date(0),
    runs: 5,
    skipped: [{ name: 'influx-load', reason: 'full mode only' }],
    durationMs: 1000,
  });
  assert.match(mdText, /\*\*Machine:\*\* CPU: .+ × \d+ cores \| memory: [\d.]+ GiB \| Node v\d+/);
  assert.match(mdText, /❌ MISS/);
  assert.match(mdText, /!\[Encoder \\\| vs Point\]\(enc\.svg\)/);
  assert.match(mdText, /How it was made fair:\*\* same rows/);
  assert.match(mdText, /`influx-load`: full mode only/);
  assert.match(mdText, /npm run bench/);
});

test('engine config YAML has the shape the engine schema expects', () => {
  const y = parse(engineConfig({ series: 10, samplesPerSeries: 100, workers: 2, batchSize: 'auto', memoryBudgetMb: 256 })) as {
    pipelines: Array<{ source: Record<string, unknown>; sink: { kind: string }; engine: Record<string, unknown>; transform: unknown[] }>;
  };
  const p = y.pipelines[0]!;
  assert.equal(p.source.kind, 'synthetic');
  assert.equal(p.source.samplesPerSeries, 100);
  assert.equal(p.sink.kind, 'null');
  assert.deepEqual(p.engine, { workers: 2, batchSize: 'auto', memoryBudgetMb: 256 });
  assert.ok(p.transform.length >= 1);
});

test('the runner finds every scenario file beside it, but not lib/ or run.*', () => {
  const files = scenarioFiles().map((f) => basename(f).replace(/\.(js|ts)$/, ''));
  for (const name of ['adaptive-batch', 'engine-scaling', 'memory', 'kernels-native']) assert.ok(files.includes(name), `${name} in ${files}`);
  assert.ok(!files.includes('run'));
  assert.ok(!files.some((f) => f.endsWith('.d')));
});

test('runBenchmarks runs every scenario file, survives a failing one, and writes RESULTS.md + SVGs', async () => {
  const { runBenchmarks } = await import('../benchmarks/run.js');
  const dir = mkdtempSync(join(tmpdir(), 'pfx-bench-run-'));
  // scenario files must carry the runner's own extension (.ts under tsx, .js compiled)
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  const scenario = (name: string, quick: boolean, body: string): void =>
    writeFileSync(join(dir, name + ext), `export default { name: '${name}', quick: ${quick}, async run(opts) { ${body} } };\n`);
  try {
    scenario(
      'tiny',
      true,
      `const base = { label: 'peer', value: 10, unit: 'ops/s', samples: [10, 10, 10, 10, 10] };
       return { name: 'tiny', title: 'Tiny scenario', method: 'same data; runs=' + opts.runs,
         figures: [base, { label: 'ours', value: 30, unit: 'ops/s', baseline: 'peer', ratio: 3, target: 2, pass: true }],
         svg: { file: 'tiny.svg', content: '<svg xmlns="http://www.w3.org/2000/svg"/>' } };`,
    );
    scenario('broken', true, `throw new Error('server did not start');`);
    scenario('slow', false, `throw new Error('must not run in quick mode');`);
    writeFileSync(join(dir, 'not-a-scenario' + ext), 'export const x = 1;\n');
    const out = join(dir, 'out', 'RESULTS.md');
    const lines: string[] = [];
    const results = await runBenchmarks({ quick: true, out, dir, runs: 3, log: (l) => lines.push(l) });
    assert.deepEqual(results.map((r) => r.name).sort(), ['broken', 'tiny']);
    const tiny = results.find((r) => r.name === 'tiny')!;
    assert.equal(tiny.method, 'same data; runs=5', 'never fewer than 5 runs');
    assert.match(results.find((r) => r.name === 'broken')!.notes![0]!, /^FAILED: server did not start/);
    const md = readFileSync(out, 'utf8');
    assert.match(md, /## Tiny scenario/);
    assert.match(md, /\| ours \| 30\.0 ops\/s \| .* \| peer \| 3\.00× \| ≥ 2× \| ✅ PASS \|/);
    assert.match(md, /FAILED: server did not start/);
    assert.match(md, /`slow`: full mode only/);
    assert.match(md, /`not-a-scenario`: file does not `export default` a Scenario/);
    assert.equal(readFileSync(join(dir, 'out', 'tiny.svg'), 'utf8'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
    assert.ok(lines.some((l) => l.startsWith('CPU: ')), 'machine info printed');
    assert.ok(lines.some((l) => l.includes('== Tiny scenario (tiny)')), 'table printed');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('nice ticks always end at or above the maximum', () => {
  for (const hi of [1, 7.4e6, 999, 1000, 0.03, 123456789]) {
    const t = niceTicks(0, hi);
    assert.ok(t[t.length - 1]! >= hi, `${hi}: ${t}`);
    assert.ok(t.length >= 2 && t.length <= 7, `${hi}: ${t}`);
  }
});
