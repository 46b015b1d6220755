/**
 * Engine end to end, synthetic source → null sink, with 1 and 2 workers: the speedup, the
 * in-process efficiency against two independent 1-worker processes measured in the same run, the
 * default config's (config/default.yaml) 2-worker/1-worker ratio, and start-up: process start →
 * first batch and the fixed cost per run (issue #18). How far past 2 cores this goes is measured by
 * the dispatcher-ceiling scenario, not projected from these figures.
 */
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { median, type Figure, type Scenario, type ScenarioResult } from './lib/scenario.js';
import { baselineFigure, comparedFigure } from './lib/figures.js';
import { runEngine, runLogged, type EngineRun, type EngineRunSpec } from './lib/engine.js';
import { repoRoot } from './lib/paths.js';
import { lineChart, shortNumber } from './lib/svg.js';

/** Amdahl: speedup S on 2 workers ⇒ serial fraction s = 2/S − 1 (clamped to [0, 1]); shown for comparison with older reports only. */
export function serialFraction(speedup2: number): number {
  return Math.min(1, Math.max(0, 2 / speedup2 - 1));
}

/** Wall time between start-up and close: the rate a longer run approaches. */
function steadyRate(r: EngineRun): number {
  const st = r.startup;
  if (!st || r.batches < 2) return NaN;
  const window = r.wallMs - (st.runToFirstBatchMs ?? 0) - (st.lastBatchToEndMs ?? 0);
  return window > 0 ? ((r.samplesIn * (r.batches - 1)) / r.batches / window) * 1000 : NaN;
}

/** Run start → first batch + last batch → end: what a run costs whatever its length. */
function fixedCostMs(r: EngineRun): number {
  const st = r.startup;
  return st ? (st.runToFirstBatchMs ?? 0) + (st.lastBatchToEndMs ?? 0) : NaN;
}

const scenario: Scenario = {
  name: 'engine-scaling',
  quick: true,
  async run({ quick, runs, log }): Promise<ScenarioResult> {
    const size = quick ? { series: 1000, samplesPerSeries: 4000 } : { series: 2000, samplesPerSeries: 10_000 };
    const spec = (workers: number): EngineRunSpec => ({ ...size, workers, batchSize: 'auto' });
    const half = { series: size.series / 2, samplesPerSeries: size.samplesPerSeries };
    const halfSpec: EngineRunSpec = { ...half, workers: 1, batchSize: 'auto' };
    const one: EngineRun[] = [];
    const two: EngineRun[] = [];
    // Control: two independent 1-worker processes at once. Their slowdown against a lone 1-worker
    // process is contention in the machine itself (memory bandwidth, shared caches, host), which no
    // engine design removes; it bounds the 2-worker speedup this machine can show.
    const pair: EngineRun[] = [];
    // Second control: the same job split in two, one half per 1-worker process, both at once (what
    // `--shard 0/2` and `1/2` on one host would do). Each process then has the 2-worker process's
    // work per worker, so its fixed costs (start-up, ramp of the adaptive size, end) weigh as much;
    // the first control gives each process the whole job, twice the wall time to amortise them.
    const split: EngineRun[] = [];
    // All four kinds run in every round (order reversed every other round), so a burst of load
    // from other processes hits them alike: the in-process figures divide one round's runs.
    const pairOf = async (s: EngineRunSpec, into: EngineRun[], what: string): Promise<void> => {
      const [a, b] = await Promise.all([runEngine(s), runEngine(s)]);
      into.push(a!, b!);
      log?.(`${what}: ${Math.round(a!.samplesPerSec)} + ${Math.round(b!.samplesPerSec)} samples/s`);
    };
    for (let i = 0; i < runs; i++) {
      const steps = [
        async () => void one.push(await runLogged(`1 worker run ${i + 1}/${runs}`, spec(1), log)),
        async () => void two.push(await runLogged(`2 workers run ${i + 1}/${runs}`, spec(2), log)),
        () => pairOf(spec(1), pair, `two 1-worker processes at once ${i + 1}/${runs}`),
        () => pairOf(halfSpec, split, `the job split over two 1-worker processes at once ${i + 1}/${runs}`),
      ];
      if (i % 2 === 1) steps.reverse();
      for (const step of steps) await step();
    }
    // The default config (config/default.yaml, 1M samples, file sink) 1 vs 2 workers, interleaved.
    const defSpec = (workers: number): EngineRunSpec => ({
      series: 0,
      samplesPerSeries: 0,
      workers,
      batchSize: 'auto',
      configFile: join(repoRoot(), 'config', 'default.yaml'),
      sink: `file:${join(tmpdir(), `promflux-bench-default-${process.pid}.lp`)}`,
    });
    const def1: EngineRun[] = [];
    const def2: EngineRun[] = [];
    for (let i = 0; i < runs; i++) {
      def1.push(await runLogged(`default config, 1 worker, run ${i + 1}/${runs}`, defSpec(1), log));
      def2.push(await runLogged(`default config, 2 workers, run ${i + 1}/${runs}`, defSpec(2), log));
    }
    const t1 = baselineFigure('1 worker', one.map((r) => r.samplesPerSec), 'samples/s');
    const t2 = comparedFigure('2 workers', two.map((r) => r.samplesPerSec), 'samples/s', t1, {
      target: 1.8,
      note: 'speedup over 1 worker (target ≥ 1.8×, i.e. ≥ 90% efficiency)',
    });
    const control = comparedFigure('1 worker, while another 1-worker process runs', pair.map((r) => r.samplesPerSec), 'samples/s', t1, {
      note: 'machine contention control: 2 × this ratio is the speedup two perfectly independent workers reach here',
    });
    // In-process efficiency: the 2-worker process against two independent 1-worker processes (their sum), same round.
    const sums = (rs: EngineRun[]): number[] => {
      const out: number[] = [];
      for (let i = 0; i + 1 < rs.length; i += 2) out.push(rs[i]!.samplesPerSec + rs[i + 1]!.samplesPerSec);
      return out;
    };
    const pairSums = sums(pair);
    const splitSums = sums(split);
    const pairFig = baselineFigure('two independent 1-worker processes, together', pairSums, 'samples/s');
    const inProcess = comparedFigure('2 workers in one process', two.map((r) => r.samplesPerSec), 'samples/s', pairFig, {
      target: 0.95,
      note: 'in-process efficiency: one 2-worker process ÷ the sum of two 1-worker processes running at once, each on the whole job (target ≥ 0.95)',
    });
    const splitFig = baselineFigure('the same job split over two 1-worker processes, together', splitSums, 'samples/s', `${half.series} series each (${((half.series * half.samplesPerSeries) / 1e6).toFixed(1)}M samples), both at once, summed rates`);
    const inProcessSplit = comparedFigure('2 workers in one process, against the split job', two.map((r) => r.samplesPerSec), 'samples/s', splitFig, {
      note: 'one 2-worker process ÷ the job split in two 1-worker processes at once: equal work per worker, so equal fixed costs per worker (the shard alternative)',
    });
    const perRound = (base: number[]): string => two.map((r, i) => (r.samplesPerSec / base[i]!).toFixed(2)).join(', ');
    const steady1 = baselineFigure('1 worker, steady state', one.map(steadyRate), 'samples/s', 'first batch accepted → end of dispatch (start-up and close excluded)');
    const steady2 = comparedFigure('2 workers, steady state', two.map(steadyRate), 'samples/s', steady1, { note: 'speedup without the fixed costs' });
    const d1 = baselineFigure('default config, 1 worker', def1.map((r) => r.samplesPerSec), 'samples/s', 'config/default.yaml: 700 series × 1440 = 1.0M samples, file sink');
    const d2 = comparedFigure('default config, 2 workers', def2.map((r) => r.samplesPerSec), 'samples/s', d1, { target: 1.6, note: 'default config 2-worker/1-worker (target ≥ 1.6×; 1.21× before issue #18)' });
    const ttfbTarget: Figure = { label: 'first-batch target', value: 250, unit: 'ms' };
    const ttfb = comparedFigure('process start → first batch, default config, 2 workers', def2.map((r) => r.startup?.processToFirstBatchMs ?? NaN), 'ms', ttfbTarget, {
      target: 1,
      lowerIsBetter: true,
      note: 'ratio to the 250 ms target (≤ 1× = met); Node\'s performance.now() counts from process start',
    });
    const ttfb1 = baselineFigure('process start → first batch, default config, 1 worker', def1.map((r) => r.startup?.processToFirstBatchMs ?? NaN), 'ms');
    const toRun = baselineFigure('process start → run start (module loading, config), default config', [...def1, ...def2].map((r) => r.startup?.processToRunMs ?? NaN), 'ms');
    const fixed = baselineFigure('fixed cost per run (run start → first batch + last batch → end), default config, 2 workers', def2.map(fixedCostMs), 'ms');
    const mainFixed = baselineFigure('main-thread CPU outside steady state, default config, 2 workers', def2.map((r) => r.mainThread?.fixedCpuMs ?? NaN), 'ms');
    const speedup = t2.ratio!;
    const figures: Figure[] = [t1, t2, control, pairFig, inProcess, splitFig, inProcessSplit, steady1, steady2, d1, d2, ttfb, ttfb1, toRun, fixed, mainFixed];
    figures.push({ label: 'scaling efficiency (2 workers)', value: speedup / 2, unit: '', note: 'efficiency = t2 / (2 · t1)' });
    figures.push({ label: 'Amdahl serial fraction s (for comparison with older reports; not a projection)', value: serialFraction(speedup), unit: '', note: 's = 2/S − 1; the many-core figure is the dispatcher-ceiling scenario\'s measured projection' });
    const svg = lineChart({
      title: 'Engine throughput vs workers (synthetic → null sink)',
      xLabel: 'workers',
      yLabel: 'samples/s',
      series: [
        { name: 'two independent processes (sum)', points: [[1, t1.value], [2, pairFig.value]], color: '#e08a00', dashed: true },
        { name: 'one process (median)', points: [[1, t1.value], [2, t2.value]], color: '#1f5fbf' },
      ],
      formatY: shortNumber,
    });
    const batchMedian = median(two.map((r) => r.batchSize.median));
    const mainNs = median(two.map((r) => r.mainThread?.perSampleNs ?? NaN));
    const taskNs = (rs: EngineRun[]): number => median(rs.map((r) => ((r.workerThreads ?? []).reduce((a, w) => a + w.taskCpuMs, 0) * 1e6) / r.samplesIn));
    const workerNs = taskNs(two);
    const batchOf = (rs: EngineRun[]): number => Math.round(median(rs.map((r) => r.batchSize.median)));
    return {
      name: 'engine-scaling',
      title: 'Engine scaling: 1 vs 2 workers, in-process efficiency, start-up',
      method:
        `Both configurations run the same seeded synthetic source (${size.series} series × ${size.samplesPerSeries} samples = ` +
        `${(size.series * size.samplesPerSeries / 1e6).toFixed(1)}M samples, NaN rate 0.001) through validate + rolling mean/std over ` +
        `5/15/60 into the null sink, adaptive batch size, each run in a fresh \`promflux run\` process; 1- and 2-worker runs are ` +
        'interleaved so background load affects both alike. Throughput is the engine\'s own samplesIn / wall time, measured from pipeline ' +
        'start (worker start-up included, Node process start-up excluded); steady state excludes start-up and close. The control runs two 1-worker ' +
        'processes at once: their sum is what two perfectly independent workers reach on this machine, the in-process efficiency divides by it. ' +
        `A second control splits the job (${half.series} series each) over two 1-worker processes at once, so each worker has the 2-worker process's share of the work and of its fixed costs. ` +
        'Every round runs 1 worker, 2 workers, the pair and the split pair (reversed every other round), so the controls see the same background load as the runs they divide. ' +
        'The default config runs config/default.yaml as shipped (file sink to a temp file). Start-up figures come from the summary JSON (`startup`, `mainThread`).',
      figures,
      svg: { file: 'engine-scaling.svg', content: svg },
      notes: [
        `median adaptive batch size with 2 workers: ${Math.round(batchMedian)} rows`,
        `in-process efficiency per round (2-worker run ÷ that round's control): whole-job pair ${perRound(pairSums)}; split job ${perRound(splitSums)}`,
        `2-worker runs, CPU per sample: main thread ${mainNs.toFixed(1)} ns (steady state), workers ${workerNs.toFixed(0)} ns in tasks`,
        `in-process efficiency, where it goes: worker CPU per sample in tasks is ${taskNs(one).toFixed(0)} ns (1 worker), ${workerNs.toFixed(0)} ns (2 workers, one process), ${taskNs(pair).toFixed(0)} ns (two 1-worker processes at once); median batch ${batchOf(one)} / ${batchOf(two)} / ${batchOf(pair)} rows (split job: ${taskNs(split).toFixed(0)} ns, ${batchOf(split)} rows). Equal CPU per sample means the gap is wall time (scheduling on 2 cores), higher means the work itself grew (smaller batches carry more halo rows per sample, caches are shared)`,
        'The machine has 2 cores; the 2-worker run also shares them with the main thread (source planning, sink), so the measured speedup is a lower bound for machines with spare cores.',
        `contention control: two independent 1-worker processes each run at ${(control.ratio! * 100).toFixed(0)}% of a lone one, so ${(2 * control.ratio!).toFixed(2)}× is the ceiling for 2 workers on this machine; the engine reached ${speedup.toFixed(2)}× (${((100 * speedup) / (2 * control.ratio!)).toFixed(0)}% of that ceiling)`,
        'Figures were taken while other work ran on the machine (2 vCPU, 24 GiB, Node 20, shared with other sessions).',
      ],
    };
  },
};

export default scenario;
