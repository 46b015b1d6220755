/** Console tables and the RESULTS.md document for a set of scenario results. */
import { formatMachine, type MachineInfo } from './machine.js';
import { formatPass, formatRatio, formatTarget, formatValue } from './figures.js';
import type { Figure, ScenarioResult } from './scenario.js';

const cols = ['figure', 'median', 'runs', 'baseline', 'ratio', 'target', 'result'] as const;

function row(f: Figure): string[] {
  return [
    f.label,
    formatValue(f.value, f.unit),
    String(f.samples?.length ?? ''),
    f.baseline ?? '',
    formatRatio(f),
    formatTarget(f),
    formatPass(f),
  ];
}

/** Plain-text table for the terminal. */
export function consoleTable(r: ScenarioResult): string {
  const rows = [Array.from(cols) as string[], ...r.figures.map(row)];
  const widths = cols.map((_, i) => Math.max(...rows.map((x) => x[i]!.length)));
  const line = (x: string[]): string => x.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  const out = [`== ${r.title} (${r.name})`, line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)];
  for (const n of r.notes ?? []) out.push('  note: ' + n);
  return out.join('\n');
}

const md = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function markdownTable(r: ScenarioResult): string {
  const out = ['| ' + cols.join(' | ') + ' |', '|' + cols.map((_, i) => (i === 0 || i === 3 ? ' --- ' : ' ---: ')).join('|') + '|'];
  for (const f of r.figures) {
    const cells = row(f).map(md);
    if (f.pass !== undefined) cells[6] = f.pass ? '✅ PASS' : '❌ MISS';
    out.push('| ' + cells.join(' | ') + ' |');
  }
  return out.join('\n');
}

/** The issue's targets, by the scenario (file) that measures each: the report accounts for all of them. */
export const ISSUE_TARGETS: readonly { scenario: string; target: string }[] = [
  { scenario: 'kernels-native', target: 'default feature set ≥ 0.8× the native C++ reference, per core' },
  { scenario: 'features-polars', target: 'feature set ≥ 2× nodejs-polars on the same data and cores' },
  { scenario: 'encoder', target: "encoder ≥ 10× @influxdata/influxdb-client's Point.toLineProtocol()" },
  { scenario: 'decode', target: 'Prometheus response decoding ≥ 3× JSON.parse + walk' },
  { scenario: 'engine-scaling', target: '2 workers ≥ 1.8× 1 worker; default config 2w/1w ≥ 1.6×, process start → first batch ≤ 250 ms, in-process efficiency ≥ 0.95 (issue 18)' },
  { scenario: 'dispatcher-ceiling', target: 'main thread saturates at ≥ 64 cores of the default pipeline (issue 18)' },
  { scenario: 'adaptive-batch', target: "adaptive ≥ 95% of the best fixed size's throughput; within a memory budget large fixed sizes exceed" },
  { scenario: 'memory', target: 'peak RSS at 50M samples ≤ 1.2× that at 5M' },
  { scenario: 'influx-load', target: 'Prometheus → InfluxDB ≥ 90% of the InfluxDB ingest ceiling' },
  { scenario: 'windows', target: 'rolling windows 5 … 1d: ≥ 2× nodejs-polars at every window, per-row cost at 5760 and 1d ≤ 1.3× that at 60, mean/std and min/max ≥ 0.8× native O(1)' },
];

function figureLine(r: ScenarioResult, f: Figure): string {
  const verdict = f.pass ? 'met' : 'MISSED';
  return (
    `  - ${md(f.label)}: ${formatRatio(f)} of ${md(f.baseline ?? 'baseline')} (target ${formatTarget(f)}): **${verdict}**` +
    (f.note ? ` — ${md(f.note)}` : '')
  );
}

/**
 * Every issue target, one entry each, stated plainly: the measured ratio and met/MISSED, or why it
 * was not measured in this run. Targets from scenarios not in the issue list follow.
 */
export function targetSummary(results: readonly ScenarioResult[], skipped: readonly { name: string; reason: string }[] = []): string[] {
  const lines: string[] = [];
  const seen = new Set<string>();
  const entry = (title: string, r: ScenarioResult | undefined, why: string | undefined): void => {
    const targeted = r?.figures.filter((f) => f.target !== undefined) ?? [];
    const failed = r?.notes?.find((n) => n.startsWith('FAILED'));
    if (targeted.length) {
      const missed = targeted.filter((f) => !f.pass).length;
      lines.push(`- **${md(title)}** — ${missed ? `**${missed} of ${targeted.length} MISSED**` : 'all met'}:`);
      for (const f of targeted) lines.push(figureLine(r!, f));
    } else if (failed) {
      lines.push(`- **${md(title)}** — **not measured: the scenario ${md(failed)}**`);
    } else {
      lines.push(`- **${md(title)}** — not measured in this run${why ? `: ${md(why)}` : ''}`);
    }
  };
  for (const t of ISSUE_TARGETS) {
    seen.add(t.scenario);
    const r = results.find((x) => x.name === t.scenario);
    const sk = skipped.find((x) => x.name === t.scenario);
    entry(`${t.target} (\`${t.scenario}\`)`, r, r ? 'the scenario reported no figure with a target' : (sk?.reason ?? 'no such scenario file, or excluded with --only'));
  }
  for (const r of results) {
    if (seen.has(r.name) || !r.figures.some((f) => f.target !== undefined)) continue;
    entry(`${r.title} (\`${r.name}\`)`, r, undefined);
  }
  return lines;
}

export interface ReportInput {
  results: readonly ScenarioResult[];
  machine: MachineInfo;
  mode: 'quick' | 'full';
  date: Date;
  runs: number;
  /** Scenario files found but not run (e.g. full-only in quick mode), with the reason. */
  skipped: readonly { name: string; reason: string }[];
  durationMs: number;
}

export function resultsMarkdown(inp: ReportInput): string {
  const o: string[] = [];
  o.push('# promflux benchmark results', '');
  o.push(
    `Generated by \`${inp.mode === 'quick' ? 'npm run bench' : 'npm run bench:full'}\` (${inp.mode} mode) on ` +
      `${inp.date.toISOString()} in ${(inp.durationMs / 1000).toFixed(0)} s. Do not edit by hand: rerun the command.`,
    '',
  );
  o.push(`**Machine:** ${formatMachine(inp.machine)}`, '');
  o.push(
    `Every figure is the median of ≥ ${inp.runs} runs and is compared with a baseline measured in the same run ` +
      '(ratio = figure / baseline; for lower-is-better figures such as RSS the target is a maximum). ' +
      'The machine may be shared: see the load average above.',
    '',
  );
  o.push('## Targets', '');
  o.push(...targetSummary(inp.results, inp.skipped), '');
  for (const r of inp.results) {
    o.push(`## ${md(r.title)}`, '');
    o.push(`Scenario \`${r.name}\`. **How it was made fair:** ${r.method}`, '');
    if (r.figures.length) o.push(markdownTable(r), '');
    if (r.svg) o.push(`![${md(r.title)}](${r.svg.file})`, '');
    for (const n of r.notes ?? []) o.push(`- ${n}`);
    if (r.notes?.length) o.push('');
  }
  if (inp.skipped.length) {
    o.push('## Not run', '');
    for (const s of inp.skipped) o.push(`- \`${s.name}\`: ${md(s.reason)}`);
    o.push('');
  }
  return o.join('\n');
}
