/**
 * Benchmark scenario contract. One file per scenario under benchmarks/, each exporting a Scenario.
 * benchmarks/run.ts runs them, prints a table per scenario with machine info, and regenerates
 * benchmarks/RESULTS.md. Every figure is the median of >= 5 runs and is reported as a ratio to a
 * baseline measured in the same run.
 */
export interface Figure {
  /** What was measured, e.g. "promflux encoder". */
  label: string;
  /** Median of the runs. */
  value: number;
  /** Unit, e.g. "lines/s", "samples/s", "MiB". */
  unit: string;
  /** Label of the baseline figure this one is compared against (same scenario). */
  baseline?: string;
  /** value / baseline value (or baseline/value where lower is better: say so in `note`). */
  ratio?: number;
  /** Target ratio from the issues, e.g. 10 for ">= 10x". */
  target?: number;
  /** Whether the target is met (undefined when no target). */
  pass?: boolean;
  /** Lower is better (memory, latency): `pass` means ratio <= target instead of >= target. */
  lowerIsBetter?: boolean;
  /** All run values (for spread). */
  samples?: number[];
  note?: string;
}

export interface ScenarioResult {
  name: string;
  title: string;
  /** How the comparison was made fair: data, sizes, cores. */
  method: string;
  figures: Figure[];
  /** Optional SVG chart (complete <svg> document) saved next to RESULTS.md. */
  svg?: { file: string; content: string };
  notes?: string[];
}

export interface ScenarioOptions {
  quick: boolean;
  /** Runs per figure (>= 5). */
  runs: number;
  /** Progress lines for long scenarios (the runner indents and prints them). Optional. */
  log?: (line: string) => void;
}

export interface Scenario {
  name: string;
  /** Included in `npm run bench` (quick, whole command < 5 min). */
  quick: boolean;
  run(opts: ScenarioOptions): Promise<ScenarioResult>;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
