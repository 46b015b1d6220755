/**
 * Engine end to end, synthetic source → null sink, with 1 and 2 workers: scaling efficiency, the
 * Amdahl serial fraction implied by the measured speedup, and what 4–32 cores would give.
 */
import { median, type Figure, type Scenario, type ScenarioResult } from './lib/scenario.js';
import { baselineFigure, comparedFigure } from './lib/figures.js';
import { runEngine, runLogged, type EngineRun, type EngineRunSpec } from './lib/engine.js';
import { lineChart, shortNumber } from './lib/svg.js';

/** Amdahl: speedup S on 2 workers ⇒ serial fraction s = 2/S − 1 (clamped to [0, 1]). */
export function serialFraction(speedup2: number): number {
  return Math.min(1, Math.max(0, 2 / speedup2 - 1));
}

/** Amdahl's projected speedup on n cores for serial fraction s. */
export function amdahl(s: number, n: number): number {
  return 1 / (s + (1 - s) / n);
}

export const PROJECTED_CORES = [4, 8, 16, 32] as const;

const scenario: Scenario = {
  name: 'engine-scaling',
  quick: true,
  async run({ quick, runs, log }): Promise<ScenarioResult> {
    const size = quick ? { series: 1000, samplesPerSeries: 4000 } : { series: 2000, samplesPerSeries: 10_000 };
    const spec = (workers: number): EngineRunSpec => ({ ...size, workers, batchSize: 'auto' });
    const one: EngineRun[] = [];
    const two: EngineRun[] = [];
    // interleave 1- and 2-worker runs so a burst of load from other processes hits both alike
    for (let i = 0; i < runs; i++) {
      one.push(await runLogged(`1 worker run ${i + 1}/${runs}`, spec(1), log));
      two.push(await runLogged(`2 workers run ${i + 1}/${runs}`, spec(2), log));
    }
    // Control: two independent 1-worker processes at once. Their slowdown against a lone 1-worker
    // process is contention in the machine itself (memory bandwidth, shared caches, host), which no
    // engine design removes; it bounds the 2-worker speedup this machine can show.
    const pair: EngineRun[] = [];
    for (let i = 0; i < runs; i++) {
      const [a, b] = await Promise.all([runEngine(spec(1)), runEngine(spec(1))]);
      pair.push(a!, b!);
      log?.(`two 1-worker processes at once ${i + 1}/${runs}: ${Math.round(a!.samplesPerSec)} + ${Math.round(b!.samplesPerSec)} samples/s`);
    }
    const t1 = baselineFigure('1 worker', one.map((r) => r.samplesPerSec), 'samples/s');
    const t2 = comparedFigure('2 workers', two.map((r) => r.samplesPerSec), 'samples/s', t1, {
      target: 1.8,
      note: 'speedup over 1 worker (target ≥ 1.8×, i.e. ≥ 90% efficiency)',
    });
    const control = comparedFigure('1 worker, while another 1-worker process runs', pair.map((r) => r.samplesPerSec), 'samples/s', t1, {
      note: 'machine contention control: 2 × this ratio is the speedup two perfectly independent workers reach here',
    });
    const speedup = t2.ratio!;
    const s = serialFraction(speedup);
    const figures: Figure[] = [t1, t2, control];
    figures.push({
      label: 'scaling efficiency (2 workers)',
      value: speedup / 2,
      unit: '',
      note: 'efficiency = t2 / (2 · t1)',
    });
    figures.push({ label: 'Amdahl serial fraction s', value: s, unit: '', note: 's = 2/S − 1 from the measured 2-worker speedup S' });
    for (const n of PROJECTED_CORES) {
      const sp = amdahl(s, n);
      figures.push({
        label: `projected ${n} cores`,
        value: t1.value * sp,
        unit: 'samples/s',
        baseline: t1.label,
        ratio: sp,
        note: `Amdahl projection from s = ${s.toFixed(3)}, not measured`,
      });
    }
    const proj: Array<[number, number]> = [1, 2, ...PROJECTED_CORES].map((n) => [n, t1.value * amdahl(s, n)]);
    const svg = lineChart({
      title: 'Engine throughput vs workers (synthetic → null sink)',
      xLabel: 'workers / cores (log scale)',
      yLabel: 'samples/s',
      xLog: true,
      series: [
        { name: `Amdahl projection (s=${s.toFixed(3)})`, points: proj, color: '#e08a00', dashed: true },
        { name: 'measured (median)', points: [[1, t1.value], [2, t2.value]], color: '#1f5fbf' },
      ],
      formatY: shortNumber,
    });
    const batchMedian = median(two.map((r) => r.batchSize.median));
    return {
      name: 'engine-scaling',
      title: 'Engine scaling: 1 vs 2 workers',
      method:
        `Both configurations run the same seeded synthetic source (${size.series} series × ${size.samplesPerSeries} samples = ` +
        `${(size.series * size.samplesPerSeries / 1e6).toFixed(1)}M samples, NaN rate 0.001) through validate + rolling mean/std over ` +
        `5/15/60 into the null sink, adaptive batch size, each run in a fresh \`promflux run\` process; 1- and 2-worker runs are ` +
        'interleaved so background load affects both alike. Throughput is the engine\'s own samplesIn / wall time, measured from pipeline ' +
        'start (worker start-up included, Node process start-up excluded). ' +
        'The N-core figures are Amdahl projections from the measured serial fraction, not measurements.',
      figures,
      svg: { file: 'engine-scaling.svg', content: svg },
      notes: [
        `median adaptive batch size with 2 workers: ${Math.round(batchMedian)} rows`,
        'The machine has 2 cores; the 2-worker run also shares them with the main thread (source planning, sink), so the measured speedup is a lower bound for machines with spare cores.',
        `contention control: two independent 1-worker processes each run at ${(control.ratio! * 100).toFixed(0)}% of a lone one, so ${(2 * control.ratio!).toFixed(2)}× is the ceiling for 2 workers on this machine; the engine reached ${speedup.toFixed(2)}× (${((100 * speedup) / (2 * control.ratio!)).toFixed(0)}% of that ceiling)`,
      ],
    };
  },
};

export default scenario;
