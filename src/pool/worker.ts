/**
 * The Piscina worker: one task = fill a batch from its chunk (generate or decode), run the
 * pipeline's kernels over it, encode line protocol and/or compact feature columns. Everything that
 * touches individual samples happens here, never on the main thread.
 *
 * Errors never escape as exceptions: Piscina would clone only the message, so a failure is returned
 * as `result.error` naming the stage, kernel and batch, and the worker stays alive for the next task.
 */
import { BatchBuilder } from '../batch/builder.js';
import { FLAG_HALO, viewBatch, type BatchDescriptor } from '../batch/layout.js';
import { BatchContext, flagNames } from '../transform/context.js';
import { compileTransforms, loadKernelModules, outputsOf } from '../transform/registry.js';
import type { Kernel } from '../transform/kernel.js';
import { fillerFor } from './fillers.js';
import { createSeriesEncoder, type SeriesEncoder } from '../encode/series.js';
import { compactColumns } from '../encode/columns.js';
import { latestRows } from '../encode/latest.js';
import { LineWriter } from '../encode/lineprotocol.js';
import type { ProcessResult, ProcessTask, WorkerPipelineSpec } from './task.js';
import { loadStateForWorker } from './state.js';
import { collectWritten, countSourceSamples, type BatchVerify } from '../encode/verify-collect.js';
import { HaloCheck } from '../transform/halo-check.js';
import { threadId } from 'node:worker_threads';
import { eluNow, threadCpu } from './thread-cpu.js';
import { rollingArena } from '../transform/kernels/wasm/arena.js';
import { wasmLines } from '../encode/wasm-lines.js';
import { keysDigest } from '../encode/keys-digest.js';
import { isKnown } from './known-keys.js';

interface Compiled {
  kernels: Kernel[];
  features: string[];
  encoder: SeriesEncoder;
  writer: LineWriter;
  state: ReadonlyMap<string, unknown>;
}

const compiled = new Map<string, Compiled>();

async function compile(spec: WorkerPipelineSpec): Promise<Compiled> {
  let c = compiled.get(spec.key);
  if (!c) {
    await loadKernelModules(spec.kernelModules);
    const kernels = compileTransforms(spec.transforms);
    const features = outputsOf(kernels);
    const encoder = createSeriesEncoder(spec.encode, features);
    const writer = new LineWriter({ precision: spec.encode.precision, floatDigits: spec.encode.floatDigits, initialBytes: 1 << 20 });
    const state = spec.stateFile ? await loadStateForWorker(spec.stateFile) : new Map<string, unknown>();
    c = { kernels, features, encoder, writer, state };
    compiled.set(spec.key, c);
  }
  return c;
}

function emptyResult(task: ProcessTask, batch: BatchDescriptor): ProcessResult {
  return {
    batchId: task.batch.id,
    chunkId: task.batch.chunkId,
    batch,
    samplesIn: 0,
    rowsOut: 0,
    dropped: {},
    counters: {},
    reports: {},
    lp: null,
    columns: null,
    seriesKeys: [],
    targetKeys: [],
    perMeasurement: {},
    newestMs: NaN,
    oldestMs: NaN,
    timings: { fillMs: 0, kernelMs: {}, encodeMs: 0, totalMs: 0 },
  };
}

/**
 * Warm-up (WorkerPool `warm`, issue #18 start-up): compile and instantiate this thread's
 * WebAssembly modules (rolling arena, line-protocol encoder) before the first batch arrives, so
 * the first batch does not pay for them. A failure here is ignored: the first batch that needs the
 * module reports it with its stage and batch (e.g. PROMFLUX_WASM_MISSING).
 */
export function warmup(): { threadId: number; ms: number } {
  const t0 = performance.now();
  try {
    rollingArena();
  } catch {
    /* reported by the first rolling batch */
  }
  try {
    wasmLines();
  } catch {
    /* reported by the first encode */
  }
  return { threadId, ms: performance.now() - t0 };
}

/** Piscina's entry: one task, with this thread's CPU and event-loop figures attached to the result. */
export default async function runTask(task: ProcessTask): Promise<unknown> {
  const cpu0 = threadCpu().ns;
  const res = task.noop ? noopResult(task) : await processBatch(task);
  const cpu = threadCpu();
  const elu = eluNow();
  res.thread = { threadId, taskCpuNs: cpu.ns - cpu0, threadCpuNs: cpu.ns, cpuSource: cpu.source, eluActiveMs: elu.activeMs, eluIdleMs: elu.idleMs };
  const rss = rssSampled();
  if (rss !== undefined) res.thread.rssBytes = rss;
  // The main thread needs the batch's buffers back, not its series table (per-series strings to
  // deserialise on the main thread per batch, issue #18): the emitted keys travel in seriesKeys.
  if (res.batch.seriesKeys.length > 0 || res.batch.seriesKinds.length > 0) res.batch = { ...res.batch, seriesKeys: [], seriesKinds: [] };
  return res;
}

let rssAt = -Infinity;
/** The process's RSS at most every 50 ms per worker (ProcessResult.thread.rssBytes). */
function rssSampled(): number | undefined {
  const now = performance.now();
  if (now - rssAt < 50) return undefined;
  rssAt = now;
  return process.memoryUsage.rss();
}

/**
 * Per emitted series (not per row): source keys, what they are written as, and their digest, for
 * the dispatcher's collision check. A series set the dispatcher already handled (its digest in
 * task.knownKeys) travels as the digest alone.
 */
function attachKeys(res: ProcessResult, task: ProcessTask, keys: string[], targetKey: (k: string) => string): void {
  if (!task.want.lp) {
    res.seriesKeys = keys;
    return;
  }
  const targets = keys.map(targetKey);
  res.keysDigest = keysDigest(keys, targets);
  if (keys.length > 0 && task.knownKeys && isKnown(task.knownKeys, res.keysDigest)) {
    res.keysOmitted = true;
    return;
  }
  res.seriesKeys = keys;
  res.targetKeys = targets;
}

/** The no-op line (`lineBytes`: padded in the tag value to that length, e.g. the real pipeline's bytes per line). */
const noopLines = new Map<number, Uint8Array>();
function noopLine(lineBytes: number | undefined): Uint8Array {
  const key = lineBytes ?? 0;
  let l = noopLines.get(key);
  if (!l) {
    const base = 'promflux_noop,bench=dispatcher_ceiling v=1 1700000000000\n';
    const pad = Math.max(0, key - base.length);
    l = new TextEncoder().encode(pad ? `promflux_noop,bench=dispatcher_ceiling_${'x'.repeat(pad - 1)} v=1 1700000000000\n` : base);
    noopLines.set(key, l);
  }
  return l;
}

/**
 * A recycled output buffer (the dispatcher's ByteBufferPool) usually still holds the no-op lines a
 * previous no-op task wrote: its last 16 bytes record which line and how many bytes of copies
 * (past any batch's `need`, so never part of the bytes a sink reads).
 */
const NOOP_MARK_BYTES = 16;
const NOOP_MAGIC = 0x6e6f6f70;

function holdsNoopLines(buf: SharedArrayBuffer, line: Uint8Array, need: number): boolean {
  const mark = new Uint32Array(buf, buf.byteLength - NOOP_MARK_BYTES, 4);
  if (mark[0] !== NOOP_MAGIC || mark[1] !== line.byteLength || mark[2]! < need) return false;
  // Spot-check the first and the last line the batch will hand on (a sink never writes into lp).
  const bytes = new Uint8Array(buf, 0, need);
  const last = need - line.byteLength;
  for (let i = 0; i < line.byteLength; i++) if (bytes[i] !== line[i] || bytes[last + i] !== line[i]) return false;
  return true;
}

function markNoopLines(buf: SharedArrayBuffer, line: Uint8Array, filled: number): void {
  const mark = new Uint32Array(buf, buf.byteLength - NOOP_MARK_BYTES, 4);
  mark[0] = NOOP_MAGIC;
  mark[1] = line.byteLength;
  mark[2] = filled;
}

/**
 * dispatcher-ceiling benchmark (task.noop): no fill, no kernels, no encode. The line-protocol
 * buffer gets `samples` copies of one line by doubling copies (O(log n) calls, no per-row loop),
 * so a sink still parses and sends real bytes; a recycled buffer that already holds them is not
 * written again.
 */
function noopResult(task: ProcessTask): ProcessResult {
  const t0 = performance.now();
  const res = emptyResult(task, { ...task.batch, length: 0 });
  const rows = task.noop!.samples;
  res.samplesIn = rows;
  res.rowsOut = rows;
  res.perMeasurement = { promflux_noop: rows };
  if (task.noop!.series) noopSeries(res, task, task.noop!.series, task.noop!.firstSeries ?? 0);
  if (task.want.lp) {
    const line = noopLine(task.noop!.lineBytes);
    const need = rows * line.byteLength;
    const fits = task.out !== undefined && task.out.byteLength >= need + NOOP_MARK_BYTES;
    const out = fits ? new Uint8Array(task.out!, 0, need) : new Uint8Array(new SharedArrayBuffer(Math.max(1024, need)), 0, need);
    if (need > 0 && !(fits && holdsNoopLines(task.out!, line, need))) {
      out.set(line, 0);
      for (let have = line.byteLength; have < need; have *= 2) out.copyWithin(have, 0, Math.min(have, need - have));
      if (fits) markNoopLines(task.out!, line, need);
    }
    res.lp = out;
  }
  res.timings.totalMs = performance.now() - t0;
  return res;
}

/**
 * Per-series keys shaped like the synthetic source's and the line-protocol encoder's (about 90 and
 * 80 bytes). The no-op worker builds a series block's keys, targets and digest once and reuses them
 * for the block's later chunks (a real worker's key work is part of its own CPU per sample, not the
 * dispatcher's): the result still carries the keys, or the digest alone once the dispatcher
 * published it, exactly as before, so the main thread's work is unchanged.
 */
function noopSeries(res: ProcessResult, task: ProcessTask, n: number, first: number): void {
  const id = `${first}:${n}`;
  let set = noopKeySets.get(id);
  if (!set) {
    const keys: string[] = new Array<string>(n);
    for (let i = 0; i < n; i++) keys[i] = `promflux_noop_gauge{instance="host-${first + i}.example.net:9100",job="dispatcher_ceiling",service="svc-${(first + i) % 97}"}`;
    const targets = keys.map((k) => k.replace('{', ',').replace(/"/g, '').slice(0, -1));
    set = { keys, targets, digest: keysDigest(keys, targets) };
    if (noopKeySets.size >= 256) noopKeySets.clear();
    noopKeySets.set(id, set);
  }
  if (!task.want.lp) {
    res.seriesKeys = set.keys;
    return;
  }
  res.keysDigest = set.digest;
  if (n > 0 && task.knownKeys && isKnown(task.knownKeys, set.digest)) {
    res.keysOmitted = true;
    return;
  }
  res.seriesKeys = set.keys;
  res.targetKeys = set.targets;
}
/** No-op series blocks met by this worker: (first series, count) → keys, targets, digest. */
const noopKeySets = new Map<string, { keys: string[]; targets: string[]; digest: string }>();

async function processBatch(task: ProcessTask): Promise<ProcessResult> {
  const t0 = performance.now();
  let batch = task.batch;
  const res = emptyResult(task, batch);
  if (task.fault && process.env.PROMFLUX_FAULTS === '1') {
    if (task.fault === 'exit') process.exit(70);
    throw new Error(`injected fault on batch ${batch.id}`);
  }
  let c: Compiled;
  try {
    c = await compile(task.pipeline);
  } catch (err) {
    res.error = { code: (err as { code?: string }).code ?? 'PROMFLUX_PIPELINE_COMPILE', message: msg(err), stage: 'transform' };
    return res;
  }

  // 1. Fill (generate or decode) straight into the SharedArrayBuffer columns.
  let sourceDropped: Record<string, number> | undefined;
  let sourceDroppedSeries: Record<string, string[]> | undefined;
  if (task.fill) {
    try {
      const b = new BatchBuilder(batch);
      fillerFor(task.fill.kind)(task.fill, b);
      batch = b.finish();
      res.batch = batch;
      if (Object.keys(b.sourceDropped).length > 0) sourceDropped = b.sourceDropped;
      if (Object.keys(b.sourceDroppedSeries).length > 0) sourceDroppedSeries = b.sourceDroppedSeries;
    } catch (err) {
      res.error = {
        code: (err as { code?: string }).code ?? 'PROMFLUX_FILL_FAILED',
        message: `batch ${batch.id} (chunk ${batch.chunkId}): ${msg(err)}`,
        stage: 'fill',
      };
      return res;
    }
  }
  const t1 = performance.now();
  res.timings.fillMs = t1 - t0;

  // 2. Count what came in (before kernels, so a failed batch still knows its samples).
  const view = viewBatch(batch);
  const n = view.length;
  const own = countOwnRows(view.flags, view.ts, n);
  let samplesIn = own.rows;
  const newest = own.newest;
  const oldest = own.oldest;
  res.haloRows = n - samplesIn;
  // Samples the source delivered but the filler could not place count as input and as dropped.
  if (sourceDropped) for (const n of Object.values(sourceDropped)) samplesIn += n;
  res.samplesIn = samplesIn;
  const vspec = task.pipeline.verify;
  const verify: BatchVerify | undefined = vspec ? { fields: {}, sourceByMetric: {}, samples: [] } : undefined;
  if (verify && vspec!.sourceCounts) {
    // Before kernels: they may rewrite values (a staleness marker is recognised by its bits).
    countSourceSamples(view, verify.sourceByMetric);
    if (sourceDropped) for (const n of Object.values(sourceDropped)) verify.sourceByMetric['(unplaced)'] = (verify.sourceByMetric['(unplaced)'] ?? 0) + n;
  }
  res.newestMs = samplesIn ? newest : NaN;
  res.oldestMs = samplesIn ? oldest : NaN;

  // 3. Kernels, in pipeline order. A row dropped by one kernel is gone for every later one: when a
  // kernel dropped rows, the batch is compacted in place before the next (BatchContext.compactDropped),
  // so windows over row positions are windows over surviving rows. The halo check tracks whether
  // the surviving halo still gives the batch's own rows their full context (src/transform/halo-check.ts).
  const ctx = new BatchContext(view, c.state, task.nowMs, true);
  const haloCheck = task.halo ? new HaloCheck(ctx, task.halo) : undefined;
  const nk = c.kernels.length;
  for (let ki = 0; ki < nk; ki++) {
    const k = c.kernels[ki]!;
    const tk = performance.now();
    try {
      haloCheck?.advance(k);
      k.run(ctx);
      if (ki + 1 < nk && ctx.droppedSinceCompact > 0) {
        if (haloCheck) haloCheck.compact();
        else ctx.compactDropped();
      }
    } catch (err) {
      res.error = {
        code: 'PROMFLUX_KERNEL_FAILED',
        kernel: k.name,
        message: `kernel "${k.name}" failed on batch ${batch.id} (chunk ${batch.chunkId}): ${msg(err)}`,
        stage: 'transform',
      };
      return res;
    }
    res.timings.kernelMs[k.name] = (res.timings.kernelMs[k.name] ?? 0) + performance.now() - tk;
  }
  const t2 = performance.now();
  const short = haloCheck?.shortness();
  if (short) res.haloShort = short;
  // From here on the batch is the compacted one (the descriptor's length/runCount follow it).
  batch = ctx.batch.desc;
  res.batch = batch;
  const outView = ctx.batch;

  // 4. Encode, compact.
  const featureCols: Float64Array[] = c.features.map((f) => ctx.features.get(f) ?? ctx.feature(f));

  const dropped = ctx.dropped;
  if (sourceDropped) for (const [k, n] of Object.entries(sourceDropped)) dropped[k] = (dropped[k] ?? 0) + n;
  const emitted = new Uint8Array(batch.seriesKeys.length);
  const exclude = task.exclude?.length ? new Set(task.exclude) : undefined;
  let rowsOut = 0;
  try {
    if (task.want.lp) {
      const w = c.writer;
      // Encode straight into the dispatcher's recycled SharedArrayBuffer: no per-batch allocation,
      // nothing to transfer; the main thread returns it to its pool once the sink is done.
      // (Never write into whatever buffer the writer held last: it may be back in the pool and in use.)
      const target = new Uint8Array(task.out ?? new SharedArrayBuffer(Math.max(4096, outView.length * 256)));
      w.resetInto(target);
      rowsOut = c.encoder.encode(w, outView, featureCols, dropped, emitted, res.perMeasurement, exclude);
      const bytes = w.bytes();
      if (task.want.cuts) {
        const cuts = w.cuts(task.want.cuts);
        if (cuts) res.requests = cuts;
      }
      if (w.writesInto(target)) res.lp = bytes;
      else {
        // Estimate was short: one larger shared buffer for this batch.
        const lp = new Uint8Array(new SharedArrayBuffer(Math.max(1024, Math.ceil(bytes.byteLength * 1.25))), 0, bytes.byteLength);
        lp.set(bytes);
        res.lp = lp;
      }
    } else {
      rowsOut = c.encoder.countEmittable(outView, featureCols, dropped, emitted, res.perMeasurement, exclude);
    }
    if (task.want.columns) res.columns = compactColumns(outView, featureCols, c.features, c.encoder, rowsOut, exclude, task.want.sorted === true);
    if (task.want.latest) res.latest = latestRows(outView, featureCols, c.encoder, task.pipeline.encode.floatDigits, exclude);
    if (verify) {
      collectWritten(outView, featureCols, c.encoder, vspec!, verify, exclude);
      res.verify = verify;
    }
  } catch (err) {
    res.error = { code: 'PROMFLUX_ENCODE_FAILED', message: `encoding batch ${batch.id} (chunk ${batch.chunkId}): ${msg(err)}`, stage: 'encode' };
    return res;
  }
  res.rowsOut = rowsOut;
  res.dropped = { ...dropped };
  res.counters = { ...ctx.counters };
  res.reports = { ...ctx.reports };
  if (ctx.dropSeries.size > 0) res.dropSeries = ctx.dropSeriesKeys();
  // Series-level drops of the encoder (schema, unencodable keys, collisions, no fields) are named too.
  for (const [reason, list] of Object.entries(c.encoder.lastSeriesDrops())) (res.dropSeries ??= {})[reason] = list;
  if (sourceDroppedSeries) for (const [reason, list] of Object.entries(sourceDroppedSeries)) (res.dropSeries ??= {})[reason] = [...(res.dropSeries[reason] ?? []), ...list];
  if (ctx.dropSeriesCapped.size > 0) res.dropSeriesCapped = [...ctx.dropSeriesCapped];
  const keys: string[] = [];
  for (let s = 0; s < emitted.length; s++) if (emitted[s]) keys.push(batch.seriesKeys[s]!);
  attachKeys(res, task, keys, (k) => c.encoder.targetKey(k) ?? '');
  const t3 = performance.now();
  res.timings.encodeMs = t3 - t2;
  res.timings.totalMs = t3 - t0;
  return res;
}

/** One result object per thread: countOwnRows runs once per batch. */
const ownRows = { rows: 0, newest: -Infinity, oldest: Infinity };

/**
 * The batch's own (non-halo) rows and their time range. A function of its own, not a loop inside
 * processBatch: a per-row loop there made V8 optimize the whole of processBatch (with everything
 * it inlines, ~100 ms of TurboFan per compile) several times per worker in a short run.
 */
function countOwnRows(flags: Uint32Array, ts: Float64Array, n: number): typeof ownRows {
  let rows = 0;
  let newest = -Infinity;
  let oldest = Infinity;
  for (let i = 0; i < n; i++) {
    if ((flags[i]! & FLAG_HALO) === 0) {
      rows++;
      const t = ts[i]!;
      if (t > newest) newest = t;
      if (t < oldest) oldest = t;
    }
  }
  ownRows.rows = rows;
  ownRows.newest = newest;
  ownRows.oldest = oldest;
  return ownRows;
}

function msg(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Exposed for tests: flag bit names known to this worker. */
export function workerFlagNames(): Record<string, number> {
  return flagNames();
}
