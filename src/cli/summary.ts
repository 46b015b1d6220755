/** Human-readable run summary (the JSON form is the RunSummary object itself). */
import type { RunSummary } from '../pipeline/run.js';
import { groupDigits as fmt } from '../util/format.js';

export function formatSummary(s: RunSummary): string {
  const lines: string[] = [];
  lines.push(`promflux run "${s.pipeline}": ${s.status.toUpperCase()}${s.error ? ` — ${s.error.code}: ${s.error.message}` : ''}`);
  lines.push(`  samples in      ${fmt(s.samplesIn)}`);
  lines.push(`  lines out       ${fmt(s.linesOut)}`);
  const dropped = Object.entries(s.dropped);
  const dt = dropped.reduce((a, [, n]) => a + n, 0);
  lines.push(`  dropped         ${fmt(dt)}${dropped.length ? ' (' + dropped.map(([k, n]) => `${k}: ${fmt(n)}`).join(', ') + ')' : ''}`);
  lines.push(`  batches         ${fmt(s.batches)}${s.failedBatches ? `, ${s.failedBatches} failed` : ''}${s.retries ? `, ${s.retries} retried` : ''}`);
  lines.push(`  batch size      min ${fmt(s.batchSize.min)} / median ${fmt(s.batchSize.median)} / max ${fmt(s.batchSize.max)} rows (${s.adaptive ? 'adaptive' : 'fixed'})`);
  lines.push(`  wall time       ${(s.wallMs / 1000).toFixed(2)} s`);
  lines.push(`  throughput      ${fmt(s.samplesPerSec)} samples/s on ${s.workers} worker${s.workers === 1 ? '' : 's'}`);
  lines.push(`  peak RSS        ${(s.peakRssBytes / 1048576).toFixed(0)} MiB`);
  lines.push(`  main thread     ${mainThreadLine(s)}`);
  if (s.startup.processToFirstBatchMs !== null) lines.push(`  first batch     ${s.startup.processToFirstBatchMs.toFixed(0)} ms after process start (run start +${(s.startup.runToFirstBatchMs ?? 0).toFixed(0)} ms)`);
  const sinkDesc = Object.entries(s.sink).map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join(' ');
  lines.push(`  sink            ${sinkDesc}`);
  const st = s.stop;
  if (st) {
    const u = st.unacknowledged;
    const left = u.batches === 0
      ? 'nothing unacknowledged'
      : `${fmt(u.batches)} batch${u.batches === 1 ? '' : 'es'} unacknowledged (${fmt(u.inSink.batches)} with the sink: ${fmt(u.inSink.lines)} lines, ${fmt(u.inSink.samples)} samples; ${fmt(u.inWorkers)} in workers), chunks ${u.chunks.slice(0, 5).join(', ')}${u.chunks.length > 5 ? ` and ${u.chunks.length - 5} more` : ''}`;
    const how = st.ending === 'drained' ? 'drained' : st.ending === 'deadline' ? `deadline ${fmt(st.stopTimeoutMs)} ms passed, writes cancelled` : 'cancelled at once (second signal)';
    lines.push(`  stop            ${st.requestedBy} after ${(st.stopMs / 1000).toFixed(1)} s, ${how}: ${left}${st.remaining ? '; resumable: run the same command' : ''}`);
  }
  const v = s.verified;
  if (v) {
    const src = v.sourceCounts !== null ? `, source ${fmt(v.sourceCounts)} samples (Prometheus) vs ${fmt(v.sourceSamples ?? 0)} read` : v.sourceCountsSkipped ? `, source counts skipped (${v.sourceCountsSkipped})` : '';
    lines.push(
      `  verified        ${v.ok ? 'OK' : `MISMATCH (${v.mismatches.length})`}: ${fmt(v.points)} of ${fmt(v.expectedPoints)} points in ${fmt(v.measurements)} measurement${v.measurements === 1 ? '' : 's'}, ${fmt(v.sampledSeries)} sampled series (${fmt(v.sampledPoints)} values)${src}${v.resumed ? ', counts include earlier attempts' : ''}`,
    );
    for (const m of v.mismatches.slice(0, 10)) {
      const what = m.check === 'source' ? `source ${m.metric}` : m.check === 'sample' ? `sample ${m.series}` : `${m.measurement}${m.field ? `.${m.field}` : ''}`;
      lines.push(`    ✗ ${what}: expected ${fmt(m.expected)}, found ${fmt(m.found)}`);
    }
  }
  return lines.join('\n');
}

/** Main-thread CPU per batch and per sample, its event-loop utilisation, and the workers' CPU beside it. */
function mainThreadLine(s: RunSummary): string {
  const m = s.mainThread;
  const per = m.perBatchUs !== null ? `, ${fmt(Math.round(m.perBatchUs))} µs/batch, ${m.perSampleNs!.toFixed(1)} ns/sample` : '';
  const workerCpu = s.workerThreads.reduce((a, w) => a + w.taskCpuMs, 0);
  return `${fmt(Math.round(m.cpuMs))} ms CPU${per}, event loop ${(100 * m.elu).toFixed(0)}% busy; workers ${fmt(Math.round(workerCpu))} ms CPU in tasks`;
}
