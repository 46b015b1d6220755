/**
 * The load-test report: JSON (the whole object), a table (formatReport), an SVG chart of rate and
 * latency over time (chartSvg, drawn by the benchmarks' renderer in src/util/svg.ts), and the
 * verdict against the SLO.
 */
import { lineChart, shortNumber } from '../util/svg.js';
import type { StepRaw } from './direct.js';
import type { PipelineStepRaw } from './pipeline.js';
import { Recorder, type TimelineBucket } from './recorder.js';
import { formatRate, type LoadShape, type SloTerm } from './spec.js';

export interface VerifiedPoints {
  /** Points counted back from InfluxDB over the step's time range. */
  found: number;
  expected: number;
  ok: boolean;
  /** Why nothing was read back (--no-verify, or the read failed: its message). */
  skipped?: string;
}

export interface SloCheck {
  term: string;
  actual: number;
  met: boolean;
}

export interface StepReport {
  /** `lines`: line protocol straight to the sink; `pipeline`: the synthetic source through the whole pipeline. */
  mode: 'lines' | 'pipeline';
  target: { rate: number; durationMs: number; rampMs: number; fromRate: number; points: number };
  achieved: { rate: number; ratio: number; targetOverSpan: number };
  /**
   * Points (pipeline mode: samples in; `written` counts lines out). Every one is accounted:
   * target = sent + unsent, sent = written + Σdropped + ΣdeadLettered + failed.
   */
  points: { target: number; sent: number; written: number; dropped: Record<string, number>; deadLettered: Record<string, number>; failed: number; unsent: number; verified: VerifiedPoints };
  /** Pipeline mode: what ran between the source and the sink. */
  pipeline?: { features: number; workers: number; batches: number; runStatus: string };
  latencyMs: { p50: number; p90: number; p99: number; 'p99.9': number; max: number; mean: number; count: number; unsentLowerBounds: number };
  requests: { total: number; byStatus: Record<string, number>; errorsByStatus: Record<string, number>; errorRatio: number; retries: Record<string, number>; failedByCode: Record<string, number>; firstError?: string };
  shape: LoadShape & { tagCardinalities: number[]; batchLines: number; maxInFlight: number; timestampRange: { startMs: number; endMs: number } };
  engineCpu: { userS: number; systemS: number; cores: number; shareOfMachine: number };
  machine: { cpus: number; loadavg1: number };
  elapsedMs: number;
  timeline: TimelineBucket[];
  slo: { terms: SloCheck[]; met: boolean };
  verdict: 'met' | 'missed';
}

export function buildStepReport(raw: StepRaw | PipelineStepRaw, shape: LoadShape, opts: { batchLines: number; maxInFlight: number; slo: SloTerm[] }, verified: VerifiedPoints): StepReport {
  const spec = raw.schedule.spec;
  const ach = raw.recorder.achievedRate();
  const targetOverSpan = Recorder.targetOver(raw.intended) || spec.rate;
  // The ratio is the lower of: the acknowledgement rate ÷ the target over the same span, and the
  // points written ÷ the points the schedule made due (unsent or failed points count against it).
  const spanRatio = targetOverSpan > 0 ? ach.rate / targetOverSpan : 0;
  const dropped = 'dropped' in raw ? raw.dropped : {};
  // Samples a kernel dropped with a named reason were handled; lost, failed or unsent ones were not.
  const completeness = raw.points.target > 0 ? (raw.points.written + sum(dropped)) / raw.points.target : 0;
  const rateRatio = Math.min(spanRatio, completeness);
  const lat = raw.recorder.percentilesMs();
  const byStatus = (raw.sinkStats.requests ?? {}) as Record<string, number>;
  const errorsByStatus: Record<string, number> = {};
  let total = 0;
  let errs = 0;
  for (const [s, n] of Object.entries(byStatus)) {
    total += n;
    if (!/^2\d\d$/.test(s)) {
      errorsByStatus[s] = n;
      errs += n;
    }
  }
  const cores = raw.elapsedMs > 0 ? (raw.cpu.userMs + raw.cpu.systemMs) / raw.elapsedMs : 0;
  const report: Omit<StepReport, 'slo' | 'verdict'> = {
    mode: 'dropped' in raw ? 'pipeline' : 'lines',
    target: { rate: spec.rate, durationMs: spec.durationMs, rampMs: spec.rampMs, fromRate: spec.fromRate, points: raw.points.target },
    achieved: { rate: Math.round(ach.rate), ratio: round4(rateRatio), targetOverSpan: Math.round(targetOverSpan) },
    points: { ...raw.points, dropped, verified },
    ...('dropped' in raw ? { pipeline: { features: raw.features, workers: raw.workers, batches: raw.batches, runStatus: raw.runStatus } } : {}),
    latencyMs: { ...lat, unsentLowerBounds: raw.recorder.censored },
    requests: {
      total,
      byStatus,
      errorsByStatus,
      errorRatio: total > 0 ? round4(errs / total) : 0,
      retries: (raw.sinkStats.retries ?? {}) as Record<string, number>,
      failedByCode: raw.errorsByCode,
      ...(raw.firstError ? { firstError: raw.firstError } : {}),
    },
    shape: { ...shape, spreadMs: raw.spreadMs, tagCardinalities: raw.cardinalities, batchLines: opts.batchLines, maxInFlight: opts.maxInFlight, timestampRange: raw.range },
    engineCpu: { userS: round3(raw.cpu.userMs / 1000), systemS: round3(raw.cpu.systemMs / 1000), cores: round3(cores), shareOfMachine: round3(cores / raw.machine.cpus) },
    machine: raw.machine,
    elapsedMs: Math.round(raw.elapsedMs),
    timeline: raw.recorder.timeline(Math.max(1000, Math.ceil(spec.durationMs / 60 / 1000) * 1000), (t) => raw.schedule.rateAt(t), raw.elapsedMs),
  };
  const terms = opts.slo.map((t) => checkTerm(t, report));
  // Points lost or miscounted never meet an SLO: what was acknowledged must be what is there.
  if (!verified.skipped) terms.push({ term: 'verified == written', actual: verified.found, met: verified.ok });
  if (raw.points.failed > 0) terms.push({ term: 'failed == 0', actual: raw.points.failed, met: false });
  const met = terms.every((t) => t.met);
  return { ...report, slo: { terms, met }, verdict: met ? 'met' : 'missed' };
}

function checkTerm(t: SloTerm, r: Omit<StepReport, 'slo' | 'verdict'>): SloCheck {
  let actual: number;
  if (t.metric === 'rate') actual = r.achieved.ratio;
  else if (t.metric === 'errors') actual = r.requests.errorRatio;
  else actual = r.latencyMs[t.metric];
  const met = t.op === '<' ? actual < t.value : t.op === '<=' ? actual <= t.value : t.op === '>=' ? actual >= t.value : actual > t.value;
  return { term: t.text, actual, met };
}

const round3 = (v: number): number => Math.round(v * 1000) / 1000;
const round4 = (v: number): number => Math.round(v * 10000) / 10000;

export function formatReport(r: StepReport): string {
  const rows: Array<[string, string]> = [
    ['verdict', `${r.verdict.toUpperCase()} (${r.slo.terms.map((t) => `${t.term}: ${t.actual}${t.met ? ' ✓' : ' ✗'}`).join(', ')})`],
    ['target rate', `${formatRate(r.target.rate)} for ${r.target.durationMs / 1000} s${r.target.rampMs ? ` (ramp from ${formatRate(r.target.fromRate || 0)} over ${r.target.rampMs / 1000} s)` : ''}`],
    ['achieved rate', `${formatRate(r.achieved.rate)} (${(r.achieved.ratio * 100).toFixed(1)} % of target)`],
    ['mode', r.mode === 'pipeline' ? `pipeline (synthetic source → ${r.pipeline!.workers} workers, ${r.pipeline!.features} features → sink; ${r.pipeline!.batches} batches, run ${r.pipeline!.runStatus})` : 'direct line protocol to the sink'],
    ['points', `target ${r.points.target}, sent ${r.points.sent}, written ${r.points.written}${r.mode === 'pipeline' ? ' lines' : ''}, dropped ${sum(r.points.dropped)}, unsent ${r.points.unsent}, failed ${r.points.failed}, dead-lettered ${sum(r.points.deadLettered)}`],
    ['verified landed', r.points.verified.skipped ? `not checked (${r.points.verified.skipped})` : `${r.points.verified.found} of ${r.points.verified.expected} ${r.points.verified.ok ? '✓' : '✗ MISMATCH'}`],
    ['latency (from intended)', `p50 ${r.latencyMs.p50} ms, p90 ${r.latencyMs.p90} ms, p99 ${r.latencyMs.p99} ms, p99.9 ${r.latencyMs['p99.9']} ms, max ${r.latencyMs.max} ms${r.latencyMs.unsentLowerBounds ? ` (${r.latencyMs.unsentLowerBounds} unsent requests as lower bounds)` : ''}`],
    ['requests', `${r.requests.total} by status ${JSON.stringify(r.requests.byStatus)}; errors ${JSON.stringify(r.requests.errorsByStatus)}; retries ${JSON.stringify(r.requests.retries)}`],
    ['shape', `${r.shape.series} series, ${r.shape.tags} tags (cardinalities ${r.shape.tagCardinalities.join('×') || '-'}), ${r.shape.fields} fields, spread ${r.shape.spreadMs / 1000} s, ${r.shape.batchLines} ${r.mode === 'pipeline' ? 'rows/batch' : 'lines/request'}, ≤ ${r.shape.maxInFlight} in flight`],
    ['engine CPU', `${r.engineCpu.cores} cores (${(r.engineCpu.shareOfMachine * 100).toFixed(0)} % of ${r.machine.cpus}); load average ${r.machine.loadavg1.toFixed(2)}`],
  ];
  if (r.requests.firstError) rows.push(['first error', r.requests.firstError.slice(0, 300)]);
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n');
}

const sum = (o: Record<string, number>): number => Object.values(o).reduce((a, b) => a + b, 0);

/** Rate (left axis) and p99/max latency (right axis) over time, one point per timeline bucket. */
export function chartSvg(r: StepReport, title = `promflux loadtest: ${formatRate(r.target.rate)} target, verdict ${r.verdict}`): string {
  const tl = r.timeline;
  const step = Math.max(1, Math.ceil(tl.length / 12));
  return lineChart({
    title,
    xLabel: 'seconds into the run',
    yLabel: 'points per second',
    y2Label: 'write latency from intended time (ms)',
    series: [
      { name: 'target rate', points: tl.map((b) => [b.t, b.targetRate] as const), color: '#888888', dashed: true },
      { name: 'achieved rate', points: tl.map((b) => [b.t, b.achievedRate] as const), color: '#1f77b4' },
      { name: 'p99 latency', points: tl.map((b) => [b.t, b.p99Ms ?? NaN] as const), color: '#d62728', right: true },
      { name: 'max latency', points: tl.map((b) => [b.t, b.maxMs ?? NaN] as const), color: '#ff9896', right: true, dashed: true },
    ],
    xTicks: tl.filter((_, i) => i % step === 0).map((b) => b.t),
    dots: tl.length <= 20,
    formatY: shortNumber,
  });
}
