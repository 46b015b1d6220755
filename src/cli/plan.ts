/**
 * `promflux plan --config F [--json]`: a dry run. Opens the source's plan (Prometheus: series lookup
 * and metadata, the same planning requests a run makes) and prints, without fetching data or writing
 * anything (no checkpoint, watermark, output or database is touched):
 *   - the chunk plan per query: time range, chunks, requests, shard;
 *   - estimated samples (the series API's series count × the window) and bytes (response, line protocol);
 *   - the halo overhead (context rows fetched beyond the samples written);
 *   - the checkpoint state: what a rerun would skip;
 *   - the target measurements and series-key examples after schema mapping and the key policy.
 * Everything it calls is read-only: the pipeline's planning pieces, not Pipeline.run().
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { Registry } from 'prom-client';
import { loadConfigFile, selectPipeline } from '../config/load.js';
import type { PipelineConfig } from '../config/schema.js';
import { ConfigError } from '../errors.js';
import { createLogger } from '../observe/logger.js';
import { collectSecrets, registerSecrets, scrubSecrets } from '../observe/redact.js';
import { compileTransforms, crossSeriesOf, haloOf, outputsOf, type TransformSpec } from '../transform/registry.js';
import { haloMargin } from '../transform/halo-check.js';
import { BatchSizer } from '../pipeline/adaptive.js';
import { CheckpointStore } from '../pipeline/checkpoint.js';
import { createSource } from '../pipeline/components.js';
import { PrometheusSource } from '../extract/prometheus/source.js';
import { extractSelectors, parseSelector } from '../extract/prometheus/selector.js';
import { compileSchemaMapping, schemaMappingSchema } from '../load/schema.js';
import { mapSeriesKey, seriesKeyText } from '../encode/lineprotocol.js';
import { formatDuration } from '../util/duration.js';

/** Rough bytes per sample in a Prometheus response (JSON matrix point; remote-read protobuf sample). */
const RESPONSE_BYTES_PER_SAMPLE = { range: 28, 'range-vector': 28, 'remote-read': 16 } as const;
/** Line protocol: a field `name=value` (shortest float ≈ 18 chars) and the separators. */
const FIELD_BYTES = 19;
/** Timestamp (ns: 19 digits) plus space and newline. */
const TS_BYTES = { s: 12, ms: 15, us: 18, ns: 21 } as const;

export interface PlanReport {
  pipeline: string;
  source: { kind: string; mode?: string; extraction?: string; url?: string };
  shard: string | null;
  batchRows: number;
  adaptive: boolean;
  halo: { haloSamples: number; haloMs: number; lookaheadMs: number };
  queries: Array<{
    name: string;
    expr: string;
    series: number;
    start: string;
    end: string;
    skipped: string;
    chunks: number;
    requests: number;
    samples: number;
    rows: number;
    firstChunk: string | null;
    lastChunk: string | null;
  }>;
  totals: { chunks: number; requests: number; samples: number; rows: number; haloOverheadPct: number; responseBytes: number; lineProtocolBytes: number };
  checkpoint: { path: string; exists: boolean; done: boolean; coveredQueries: Record<string, Array<[string, string]>>; rerun: string } | null;
  target: { sink: string; fields: string[]; measurements: string[]; seriesKeys: number; examples: string[]; excluded: number; unencodable: number };
  notes: string[];
}

interface PlanFlags {
  config: string;
  pipeline?: string;
  shard?: string;
  checkpoint?: string;
  json?: boolean;
  examples?: number;
  logLevel?: string;
}

export function registerPlan(program: Command): void {
  program
    .command('plan')
    .description('dry run: print the chunk plan, estimated samples and bytes, halo overhead, checkpoint state and target series keys, writing nothing')
    .requiredOption('-c, --config <file>', 'pipeline config (YAML)')
    .option('-p, --pipeline <name>', 'pipeline to plan (default: the first)')
    .option('--shard <i/N>', 'plan shard i of N (0-based)')
    .option('--checkpoint <dir>', 'checkpoint directory to read (default: the pipeline\'s checkpoint)')
    .option('--examples <n>', 'series-key examples to show', (v) => Number(v), 5)
    .option('--json', 'print the plan as JSON')
    .option('--log-level <level>', 'trace|debug|info|warn|error|silent', 'warn')
    .action(async (opts: PlanFlags) => {
      const report = await planPipeline(opts);
      process.stdout.write(scrubSecrets(opts.json ? JSON.stringify(report, null, 2) + '\n' : formatPlan(report)));
      process.exitCode = 0;
    });
}

function parseShard(v: string | undefined): { index: number; count: number } | undefined {
  if (v === undefined) return undefined;
  const m = /^(\d+)\/(\d+)$/.exec(v);
  if (!m || Number(m[2]) < 1 || Number(m[1]) >= Number(m[2])) throw new ConfigError(`--shard must be i/N with 0 <= i < N, got "${v}"`, { key: '--shard' });
  return { index: Number(m[1]), count: Number(m[2]) };
}

const iso = (ms: number) => new Date(ms).toISOString();

export async function planPipeline(opts: PlanFlags): Promise<PlanReport> {
  const { config, file } = loadConfigFile(opts.config);
  registerSecrets(collectSecrets(config));
  const logger = createLogger({ level: opts.logLevel ?? 'warn', secrets: collectSecrets(config) });
  const cfg: PipelineConfig = selectPipeline(config, opts.pipeline, file);
  const shard = parseShard(opts.shard);
  const notes: string[] = [];
  const transforms = cfg.transform as TransformSpec[];
  const kernels = compileTransforms(transforms);
  const halo = haloOf(kernels);
  const features = outputsOf(kernels);
  const eng = cfg.engine;
  const bs = eng.batchSize;
  const sizer = new BatchSizer({ ...(bs === 'auto' ? {} : { fixed: bs }), min: eng.minBatchSize, max: eng.maxBatchSize });
  const batchRows = sizer.current;
  if (sizer.adaptive) notes.push(`adaptive batch size: the plan is shown at the starting size (${batchRows} rows per chunk); a run resizes chunks as it goes, so the chunk count varies, the samples do not`);

  // The checkpoint a run of this config would open (same name and plan hash as src/pipeline/run.ts).
  const ckDir = opts.checkpoint ?? (typeof cfg.checkpoint === 'string' ? cfg.checkpoint : cfg.checkpoint?.dir);
  const planHash = createHash('sha1').update(JSON.stringify([cfg.source, cfg.transform, shard ?? null])).digest('hex');
  const ckName = shard ? `${cfg.name}.shard-${shard.index}-of-${shard.count}` : cfg.name;
  const store = ckDir ? CheckpointStore.open(ckDir, ckName, planHash) : undefined;
  const unbounded = ['incremental', 'stream'].includes((cfg.source as { mode?: string }).mode ?? '');

  const report: PlanReport = {
    pipeline: cfg.name,
    source: { kind: cfg.source.kind },
    shard: shard ? `${shard.index}/${shard.count}` : null,
    batchRows,
    adaptive: sizer.adaptive,
    halo,
    queries: [],
    totals: { chunks: 0, requests: 0, samples: 0, rows: 0, haloOverheadPct: 0, responseBytes: 0, lineProtocolBytes: 0 },
    checkpoint: null,
    target: { sink: cfg.sink.kind, fields: [], measurements: [], seriesKeys: 0, examples: [], excluded: 0, unencodable: 0 },
    notes,
  };
  if (store) {
    const covered: Record<string, Array<[string, string]>> = {};
    for (const [k, ivs] of store.covered()) if (ivs.length > 0) covered[k.replace(/^query:/, '')] = ivs.map(([a, b]) => [iso(a), iso(b)]);
    const exists = existsSync(store.path);
    const rerun = !exists
      ? 'no checkpoint yet: a run plans everything'
      : store.done && !unbounded
        ? 'this plan already completed: a rerun does nothing (delete the checkpoint to redo it)'
        : Object.keys(covered).length > 0
          ? 'a rerun skips the covered intervals and plans the rest (below)'
          : 'the checkpoint covers nothing of this plan (nothing loaded yet, or the source/transform config changed since): a run plans everything';
    report.checkpoint = { path: store.path, exists, done: store.done, coveredQueries: covered, rerun };
  }

  // Target fields after schema mapping: the value column, then each feature.
  const schemaCfg = cfg.schema ?? (cfg.sink as { schema?: unknown }).schema;
  const mapping = schemaCfg !== undefined ? compileSchemaMapping(schemaMappingSchema.parse(schemaCfg)) : undefined;
  const mapField = (c: string) => (mapping ? mapping.mapField(c) : { name: c, type: 'float' as const });
  report.target.fields = [cfg.encode.valueField, ...features].flatMap((c) => {
    const f = mapField(c);
    return f ? [`${f.name}${f.type === 'int' ? ' (int)' : ''}`] : [];
  });

  if (!(cfg.source.kind === 'prometheus')) {
    notes.push(`source "${cfg.source.kind}" has no request plan to show; chunk plan, estimates and series keys are given for the prometheus source`);
    return report;
  }
  const src = createSource(cfg.source, { logger, registry: new Registry(), pipeline: cfg.name, ...(ckDir ? { stateDir: ckDir } : {}) });
  if (!(src instanceof PrometheusSource)) throw new Error('prometheus source expected');
  const alreadyDone = !unbounded && store?.done === true;
  try {
    const ac = new AbortController();
    await src.open({
      haloSamples: halo.haloSamples + haloMargin(halo.haloSamples),
      haloMs: halo.haloMs,
      lookaheadMs: halo.lookaheadMs,
      crossSeries: crossSeriesOf(kernels),
      signal: ac.signal,
      logger,
      ...(store ? { covered: store.covered() } : {}),
      ...(shard ? { shard } : {}),
    });
    const rc = src.rc;
    report.source = { kind: 'prometheus', mode: rc.cfg.mode, extraction: rc.cfg.extraction, url: rc.cfg.url };
    const preview = src.planPreview(batchRows);
    let haloRows = 0;
    for (const q of preview.queries) {
      const chunks = alreadyDone ? [] : q.chunks;
      const samples = chunks.reduce((a, c) => a + c.estSamples, 0);
      const rows = chunks.reduce((a, c) => a + c.estRows, 0);
      haloRows += rows - samples;
      report.queries.push({
        name: q.name,
        expr: q.expr,
        series: q.series,
        start: iso(q.startMs),
        end: iso(q.endMs),
        skipped: formatDuration(q.skippedMs),
        chunks: chunks.length,
        // one HTTP request per chunk and member query (query_range, instant range-vector query or
        // remote read); co-scheduled queries (name `a+b`) fetch each member for every chunk
        requests: chunks.length * q.members,
        samples,
        rows,
        firstChunk: chunks[0]?.id ?? null,
        lastChunk: chunks[chunks.length - 1]?.id ?? null,
      });
      report.totals.chunks += chunks.length;
      report.totals.samples += samples;
      report.totals.rows += rows;
    }
    report.totals.requests = report.totals.chunks;
    report.totals.haloOverheadPct = report.totals.samples > 0 ? Math.round((10_000 * haloRows) / report.totals.samples) / 100 : 0;
    report.totals.responseBytes = report.totals.rows * RESPONSE_BYTES_PER_SAMPLE[rc.cfg.extraction];
    if (rc.cfg.mode === 'stream') notes.push('stream mode: the plan covers the back-fill up to now − safetyLag; the stream then polls every pollInterval');
    if (shard) notes.push(`shard ${shard.index}/${shard.count}: only this shard's time blocks are planned`);

    // Series keys after schema mapping and the key policy, from the series API's label sets.
    const keyCfg = cfg.sink as { tagValues?: 'escape' | 'replace' | 'drop'; tagReplacement?: string };
    const keyOpts = { policy: keyCfg.tagValues ?? 'escape', ...(keyCfg.tagReplacement !== undefined ? { replacement: keyCfg.tagReplacement } : {}) } as const;
    const measurements = new Set<string>();
    const keys = new Set<string>();
    let keyBytes = 0;
    const rawExtraction = rc.cfg.extraction !== 'range';
    for (const q of preview.queries) {
      let sels: string[];
      try {
        sels = (rawExtraction ? [parseSelector(q.expr)] : extractSelectors(q.expr)).map((s) => s.text);
      } catch {
        sels = [];
      }
      if (sels.length === 0 || q.endMs <= q.startMs) continue;
      if (!rawExtraction) notes.push(`query "${q.name}" evaluates PromQL (extraction: range): its output series may differ from the selected ones shown as series-key examples`);
      const list = await src.api.series(sels, q.startMs, q.endMs, ac.signal);
      for (const labels of list) {
        const { __name__: name = q.name, ...rest } = labels;
        const m = mapping ? mapping.mapSeries(name, labels) : { measurement: name, tags: rest };
        if (!m) {
          report.target.excluded++;
          continue;
        }
        const mk = mapSeriesKey(m.measurement, m.tags, keyOpts);
        if (typeof mk === 'string') {
          report.target.unencodable++;
          continue;
        }
        const text = seriesKeyText(mk);
        measurements.add(mk.measurement);
        if (!keys.has(text)) {
          keys.add(text);
          keyBytes += Buffer.byteLength(text);
          if (report.target.examples.length < (opts.examples ?? 5)) report.target.examples.push(text);
        }
      }
    }
    report.target.measurements = [...measurements].sort();
    report.target.seriesKeys = keys.size;
    const avgKey = keys.size > 0 ? keyBytes / keys.size : 0;
    const line = avgKey + 1 + FIELD_BYTES * Math.max(1, report.target.fields.length) + TS_BYTES[cfg.encode.precision];
    report.totals.lineProtocolBytes = Math.round(report.totals.samples * line);
    if (report.target.excluded > 0) notes.push(`${report.target.excluded} series excluded by the schema mapping (their samples would be dropped as schema_excluded)`);
    if (report.target.unencodable > 0) notes.push(`${report.target.unencodable} series whose key the sink's tagValues policy refuses (dropped as unencodable_*)`);
  } finally {
    await src.close();
  }
  return report;
}

const num = (n: number) => n.toLocaleString('en-US');

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const u = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < u.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${u[i]}`;
}

export function formatPlan(r: PlanReport): string {
  const out: string[] = [];
  const s = r.source;
  out.push(`plan of pipeline "${r.pipeline}" (dry run: planning requests only, no data fetched, nothing written)`);
  out.push(`source: ${s.kind}${s.mode ? `, mode ${s.mode}` : ''}${s.extraction ? `, extraction ${s.extraction}` : ''}${s.url ? `, ${s.url}` : ''}${r.shard ? `, shard ${r.shard}` : ''}`);
  out.push(`chunk size: ${num(r.batchRows)} rows${r.adaptive ? ' (adaptive: starting size)' : ''}; halo ${r.halo.haloSamples} samples / ${formatDuration(r.halo.haloMs)}, look-ahead ${formatDuration(r.halo.lookaheadMs)}`);
  if (r.queries.length > 0) {
    out.push('', 'queries:');
    for (const q of r.queries) {
      out.push(`  ${q.name}: ${q.expr}`);
      out.push(`    ${q.start} → ${q.end}, ${num(q.series)} series, skipped (already covered) ${q.skipped}`);
      out.push(`    ${num(q.chunks)} chunks / ${num(q.requests)} requests, ~${num(q.samples)} samples, ~${num(q.rows)} rows with halo${q.firstChunk ? `; first ${q.firstChunk}, last ${q.lastChunk}` : ''}`);
    }
    const t = r.totals;
    out.push('', `total: ${num(t.chunks)} chunks, ${num(t.requests)} requests, ~${num(t.samples)} samples, halo overhead ${t.haloOverheadPct}% (${num(t.rows - t.samples)} context rows)`);
    out.push(`estimated bytes: ~${bytes(t.responseBytes)} from Prometheus, ~${bytes(t.lineProtocolBytes)} of line protocol`);
  }
  out.push('');
  if (r.checkpoint) {
    const c = r.checkpoint;
    out.push(`checkpoint: ${c.path}${c.exists ? '' : ' (absent)'}${c.done ? ' (done)' : ''}`);
    for (const [q, ivs] of Object.entries(c.coveredQueries)) out.push(`  ${q}: covered ${ivs.map(([a, b]) => `[${a}, ${b})`).join(', ')}`);
    out.push(`  ${c.rerun}`);
  } else out.push('checkpoint: none configured (--checkpoint DIR or checkpoint: in the pipeline); every run plans everything');
  const g = r.target;
  out.push('', `target (${g.sink} sink): fields ${g.fields.join(', ') || '(none)'}`);
  if (r.source.kind === 'prometheus') {
    out.push(`  ${num(g.measurements.length)} measurement(s): ${g.measurements.slice(0, 20).join(', ')}${g.measurements.length > 20 ? ', …' : ''}`);
    out.push(`  ${num(g.seriesKeys)} series key(s), e.g.:`);
    for (const e of g.examples) out.push(`    ${e}`);
  }
  if (r.notes.length > 0) {
    out.push('', 'notes:');
    for (const n of r.notes) out.push(`  - ${n}`);
  }
  return out.join('\n') + '\n';
}
