/**
 * Adaptive vs fixed batch sizes: a sweep of fixed sizes against `auto` (throughput and peak RSS),
 * then a run under a tight memory budget that the largest fixed size exceeds.
 */
import { median, type Figure, type Scenario, type ScenarioResult } from './lib/scenario.js';
import { baselineFigure, comparedFigure, formatBytes } from './lib/figures.js';
import { runLogged, type EngineRun, type EngineRunSpec } from './lib/engine.js';
import { lineChart, shortNumber } from './lib/svg.js';

export const FIXED_SIZES = [1_000, 10_000, 100_000, 1_000_000] as const;
/** Quick mode skips 1k: it is never the best size and is the slowest to run (noted in the report). */
export const QUICK_FIXED_SIZES = [10_000, 100_000, 1_000_000] as const;

/**
 * The tight budget sits halfway between what auto and fixed 1M peaked at without one, so the
 * largest fixed size exceeds it by construction whatever the engine's baseline footprint is.
 */
export function tightBudgetMb(autoRssBytes: number, fixedMaxRssBytes: number): number {
  return Math.max(64, Math.round((autoRssBytes + fixedMaxRssBytes) / 2 / 2 ** 20));
}

const label = (n: number | 'auto'): string => (n === 'auto' ? 'auto' : n >= 1e6 ? `${n / 1e6}M` : `${n / 1e3}k`);

const scenario: Scenario = {
  name: 'adaptive-batch',
  quick: true,
  async run({ quick, runs, log }): Promise<ScenarioResult> {
    // full: 10M rows, so 1M-row batches really happen (10 of them); quick: 0.6M rows, where
    // "fixed 1M" means the whole run in one batch — still the largest footprint, said in the notes
    const size = quick ? { series: 1000, samplesPerSeries: 600 } : { series: 2000, samplesPerSeries: 5000 };
    const total = size.series * size.samplesPerSeries;
    const workers = 2;
    const sizes: readonly number[] = quick ? QUICK_FIXED_SIZES : FIXED_SIZES;
    const largest = sizes[sizes.length - 1]!;
    const configs: Array<number | 'auto'> = [...sizes, 'auto'];
    const byCfg = new Map<number | 'auto', EngineRun[]>(configs.map((c) => [c, []]));
    // round-robin over the configurations so drift in background load is spread evenly
    for (let i = 0; i < runs; i++) {
      for (const c of configs) byCfg.get(c)!.push(await runLogged(`${label(c)} run ${i + 1}/${runs}`, { ...size, workers, batchSize: c }, log));
    }
    const thr = (c: number | 'auto'): number[] => byCfg.get(c)!.map((r) => r.samplesPerSec);
    const rss = (c: number | 'auto'): number[] => byCfg.get(c)!.map((r) => r.rssBytes);

    let best = sizes[0]!;
    for (const c of sizes) if (median(thr(c)) > median(thr(best))) best = c;
    const bestFig = baselineFigure(`fixed ${label(best)} (best fixed)`, thr(best), 'samples/s');
    const figures: Figure[] = [];
    for (const c of sizes) {
      figures.push(c === best ? bestFig : comparedFigure(`fixed ${label(c)}`, thr(c), 'samples/s', bestFig));
    }
    const autoFig = comparedFigure('auto (adaptive)', thr('auto'), 'samples/s', bestFig, {
      target: 0.95,
      note: `no tuning; median chosen batch size ${Math.round(median(byCfg.get('auto')!.map((r) => r.batchSize.median)))} rows`,
    });
    figures.push(autoFig);
    const autoRss = baselineFigure('peak RSS auto', rss('auto'), 'bytes');
    for (const c of sizes) figures.push(comparedFigure(`peak RSS fixed ${label(c)}`, rss(c), 'bytes', autoRss, { lowerIsBetter: true }));
    figures.push(autoRss);

    const budgetMb = tightBudgetMb(autoRss.value, median(rss(largest)));
    const budgetBytes = budgetMb * 2 ** 20;
    const tight = (c: number | 'auto'): EngineRunSpec => ({ ...size, workers, batchSize: c, memoryBudgetMb: budgetMb });
    const tightFixed: EngineRun[] = [];
    const tightAuto: EngineRun[] = [];
    for (let i = 0; i < runs; i++) {
      tightFixed.push(await runLogged(`budget ${budgetMb} MiB, ${label(largest)} run ${i + 1}/${runs}`, tight(largest), log));
      tightAuto.push(await runLogged(`budget ${budgetMb} MiB, auto run ${i + 1}/${runs}`, tight('auto'), log));
    }
    const budgetFig: Figure = { label: `memory budget ${budgetMb} MiB`, value: budgetBytes, unit: 'bytes' };
    figures.push(budgetFig);
    const fixedOver = comparedFigure(`tight budget: peak RSS fixed ${label(largest)}`, tightFixed.map((r) => r.rssBytes), 'bytes', budgetFig, {
      lowerIsBetter: true,
      note: 'expected to exceed the budget: a fixed size ignores it',
    });
    figures.push(fixedOver);
    figures.push(
      comparedFigure('tight budget: peak RSS auto', tightAuto.map((r) => r.rssBytes), 'bytes', budgetFig, {
        target: 1,
        lowerIsBetter: true,
        note: 'target: within the budget (whole-process peak RSS incl. Node heap and workers)',
      }),
    );
    const tf = baselineFigure(`tight budget: fixed ${label(largest)} throughput`, tightFixed.map((r) => r.samplesPerSec), 'samples/s');
    figures.push(tf);
    figures.push(comparedFigure('tight budget: auto throughput', tightAuto.map((r) => r.samplesPerSec), 'samples/s', tf));

    const svg = lineChart({
      title: 'Throughput and peak RSS vs batch size (2 workers)',
      xLabel: 'batch size, rows (log scale)',
      yLabel: 'samples/s',
      y2Label: 'peak RSS (MiB)',
      xLog: true,
      series: [
        { name: 'fixed: throughput', points: sizes.map((c) => [c, median(thr(c))] as [number, number]), color: '#1f5fbf' },
        { name: 'fixed: peak RSS', points: sizes.map((c) => [c, median(rss(c)) / 2 ** 20] as [number, number]), color: '#c0392b', right: true, dashed: true },
      ],
      markers: [
        { x: Math.max(1, median(byCfg.get('auto')!.map((r) => r.batchSize.median))), y: autoFig.value, label: 'auto: throughput', color: '#27ae60' },
        { x: Math.max(1, median(byCfg.get('auto')!.map((r) => r.batchSize.median))), y: autoRss.value / 2 ** 20, label: 'auto: RSS', color: '#8e44ad', right: true },
      ],
      hLines: [{ y: budgetMb, label: `tight budget ${budgetMb} MiB (right axis)`, color: '#7f7f7f', right: true }],
      formatY: shortNumber,
      formatY2: (v) => String(v),
    });
    return {
      name: 'adaptive-batch',
      title: 'Adaptive vs fixed batch size',
      method:
        `Every configuration processes the same seeded synthetic data (${size.series} series × ${size.samplesPerSeries} samples = ` +
        `${(total / 1e6).toFixed(1)}M samples) through validate + rolling mean/std 5/15/60 into the null sink with ${workers} workers, ` +
        'each run in a fresh `promflux run` process; configurations are run round-robin so background load is spread evenly. ' +
        'Fixed sizes use `--batch-size N`; auto uses the default adaptive sizer with no tuning. ' +
        "Peak RSS is the child process's high-water mark, /proc/<pid>/status VmHWM (all threads; polled every 20 ms, the kernel keeps the maximum). The tight budget " +
        `(\`engine.memoryBudgetMb: ${budgetMb}\`) is set halfway between the unbudgeted peak RSS of auto and of fixed ${label(largest)}, ` +
        'so the largest fixed size exceeds it by construction; the question is whether auto stays within it.',
      figures,
      svg: { file: 'adaptive-batch.svg', content: svg },
      notes: [
        `auto's chosen sizes (min/median/max of the per-run medians): ${Math.min(...byCfg.get('auto')!.map((r) => r.batchSize.median))}/` +
          `${median(byCfg.get('auto')!.map((r) => r.batchSize.median))}/${Math.max(...byCfg.get('auto')!.map((r) => r.batchSize.median))}`,
        `tight budget ${budgetMb} MiB: fixed ${label(largest)} peaked at ${formatBytes(fixedOver.value)}, auto at ${formatBytes(median(tightAuto.map((r) => r.rssBytes)))}`,
        ...(quick
          ? [`quick mode: ${(total / 1e6).toFixed(1)}M samples per run, so fixed 1M is a single batch (one worker busy); no 1k fixed size. Full mode: 10M samples, 1k … 1M`]
          : []),
      ],
    };
  },
};

export default scenario;
