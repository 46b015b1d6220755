/**
 * Peak RSS vs run size: a 10× longer run must not need (much) more memory — the engine streams
 * batches, it does not hold the run. Target: RSS(large) ≤ 1.2 × RSS(small).
 * Long windows (issue 13): a 1 d window over 1 s samples (86 400 halo rows per series, the case
 * docs/ARCHITECTURE.md#memory-of-long-windows prices): peak RSS within the documented estimate
 * for the largest batch the run chose (target ≤ 1×), and against a run half as long (no target).
 */
import { median, type Figure, type Scenario, type ScenarioResult } from './lib/scenario.js';
import { baselineFigure, comparedFigure } from './lib/figures.js';
import { runLogged, type EngineRun } from './lib/engine.js';

const scenario: Scenario = {
  name: 'memory',
  quick: true,
  async run({ quick, runs, log }): Promise<ScenarioResult> {
    // full: 5M vs 50M samples (the sizes); quick: 2M vs 20M (the same 10× ratio; 2M is
    // about where the adaptive batch size, and so RSS, reaches its plateau on this workload)
    const series = 1000;
    const small = quick ? 2000 : 5000;
    const large = small * 10;
    const fmt = (n: number): string => `${(series * n) / 1e6}M samples`;
    const a: EngineRun[] = [];
    const b: EngineRun[] = [];
    for (let i = 0; i < runs; i++) {
      a.push(await runLogged(`${fmt(small)} run ${i + 1}/${runs}`, { series, samplesPerSeries: small, workers: 2, batchSize: 'auto' }, log));
      b.push(await runLogged(`${fmt(large)} run ${i + 1}/${runs}`, { series, samplesPerSeries: large, workers: 2, batchSize: 'auto' }, log));
    }
    const base = baselineFigure(`peak RSS, ${fmt(small)}`, a.map((r) => r.rssBytes), 'bytes');
    const big = comparedFigure(`peak RSS, ${fmt(large)}`, b.map((r) => r.rssBytes), 'bytes', base, {
      target: 1.2,
      lowerIsBetter: true,
      note: 'ratio = RSS(large) / RSS(small)',
    });
    const figures: Figure[] = [base, big];
    const tA = baselineFigure(`throughput, ${fmt(small)}`, a.map((r) => r.samplesPerSec), 'samples/s');
    figures.push(tA, comparedFigure(`throughput, ${fmt(large)}`, b.map((r) => r.samplesPerSec), 'samples/s', tA));
    figures.push(...(await longWindow(quick, runs, log)));
    const sumA = median(a.map((r) => r.peakRssBytes));
    const sumB = median(b.map((r) => r.peakRssBytes));
    return {
      name: 'memory',
      title: `Memory vs run size (${fmt(small)} vs ${fmt(large)})`,
      method:
        `Same seeded synthetic source, ${series} series, ${small} vs ${large} samples per series, validate + rolling mean/std ` +
        '5/15/60 → null sink, 2 workers, adaptive batch size, default memory budget; each run in a fresh process, runs alternated. ' +
        'Peak RSS is the child process\'s high-water mark, /proc/<pid>/status VmHWM (all threads; polled every 20 ms, the kernel keeps the maximum).',
      figures,
      notes: [
        `the engine's own summary peakRssBytes (VmHWM read by the process itself) said ${(sumA / 2 ** 20).toFixed(1)} MiB vs ${(sumB / 2 ** 20).toFixed(1)} MiB (median)`,
        ...(quick ? ['quick mode uses 2M vs 20M samples; `npm run bench:full` measures the 5M vs 50M the target is stated for'] : []),
      ],
    };
  },
};

/**
 * Bytes per batch row of a 1 d mean/std/min/max window, as docs/ARCHITECTURE.md#memory-of-long-windows
 * itemises them: batch columns 24 (per in-flight batch), worker scratch of the rolling kernel and
 * its feature columns 180 (per worker, one batch at a time).
 */
// docs/ARCHITECTURE.md#memory-of-long-windows: batch columns 24 B/row; worker scratch for mean/std/min/max
// = base 28 (values, flags, timestamps) + moments 72 + min/max suffix extremes 16 + 4 outputs × 16 = 180 B/row.
const LONG_BYTES_PER_ROW = { batch: 24, worker: 180 };

export async function longWindow(quick: boolean, runs: number, log?: (l: string) => void): Promise<Figure[]> {
  const series = quick ? 2 : 16;
  const day = 86_400;
  const small = Math.round(day * 1.5);
  const large = small * 2;
  const transform = [{ kind: 'validate' }, { kind: 'rolling', windows: ['1d'], stats: ['mean', 'std', 'min', 'max'] }];
  const a: EngineRun[] = [];
  const b: EngineRun[] = [];
  for (let i = 0; i < runs; i++) {
    a.push(await runLogged(`1d@1s, ${series} series × ${small} s, run ${i + 1}/${runs}`, { series, samplesPerSeries: small, stepMs: 1000, nanRate: 0, workers: 2, batchSize: 'auto', transform }, log));
    b.push(await runLogged(`1d@1s, ${series} series × ${large} s, run ${i + 1}/${runs}`, { series, samplesPerSeries: large, stepMs: 1000, nanRate: 0, workers: 2, batchSize: 'auto', transform }, log));
  }
  // Documented estimate (docs/ARCHITECTURE.md#memory-of-long-windows) for the largest batch the
  // run chose: in-flight batch columns (maxInFlight = 2 × workers, + 1 idle set, × 2 buffer
  // classes) and each worker's scratch for one batch, over an engine holding no data (~120 MiB).
  const rows = Math.max(...b.map((r) => r.batchSize.max)) + series * day;
  const estimate = 120 * 2 ** 20 + rows * (LONG_BYTES_PER_ROW.batch * 5 * 2 + LONG_BYTES_PER_ROW.worker * 2);
  const est = baselineFigure(`documented estimate, 1d window @ 1 s, largest batch (${rows} rows incl. ${day} halo rows per series)`, [estimate], 'bytes');
  const small1 = baselineFigure(`peak RSS, 1d window @ 1 s, ${series} series × 1.5 d`, a.map((r) => r.rssBytes), 'bytes');
  return [
    est,
    comparedFigure(`peak RSS, 1d window @ 1 s, ${series} series × 3 d`, b.map((r) => r.rssBytes), 'bytes', est, {
      target: 1,
      lowerIsBetter: true,
      note: 'ratio = measured / documented estimate',
    }),
    small1,
    comparedFigure(`peak RSS, 1d window @ 1 s, ${series} series × 3 d (vs 1.5 d)`, b.map((r) => r.rssBytes), 'bytes', small1, {
      lowerIsBetter: true,
      note: 'no target: the longer run reaches a larger batch (halo floor, docs/ARCHITECTURE.md rule 4), so this ratio follows batch size, not run length',
    }),
  ];
}

export default scenario;
