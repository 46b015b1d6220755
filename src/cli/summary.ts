/** Human-readable run summary (the JSON form is the RunSummary object itself). */
import type { RunSummary } from '../pipeline/run.js';

const fmt = (n: number): string => n.toLocaleString('en-US');

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
  const sinkDesc = Object.entries(s.sink).map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join(' ');
  lines.push(`  sink            ${sinkDesc}`);
  return lines.join('\n');
}
