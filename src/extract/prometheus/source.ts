/**
 * The Prometheus Source. `next()` plans chunks (planner.ts), keeps up to `concurrency` requests
 * in flight (prefetch), and hands back chunks in plan order whose fill carries the response bytes
 * in a SharedArrayBuffer; a worker decodes them (fillers.ts). The main thread never looks at a
 * sample.
 *
 * Modes:
 *  - backfill:    fixed [start, end); any failure after retries ends the run with a clear error.
 *  - incremental: [watermark or start, now − safetyLag), then done.
 *  - stream:      like incremental, then polls every pollInterval for new data. When Prometheus is
 *                 unreachable it keeps trying; the position does not move, so the next successful
 *                 poll back-fills the whole gap (counted in promflux_extract_gaps_total).
 * Watermarks advance on ack() over the contiguous acked prefix only (acks may come out of order).
 */
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { SeriesKindName } from '../../batch/layout.js';
import type { Source, SourceChunk, SourceOpenOptions, SourceProgress } from '../source.js';
import { ConfigError, SourceError } from '../../errors.js';
import { kindFromMetadataType, PrometheusApi } from './api.js';
import { PromClient, type HttpResult } from './client.js';
import { resolveConfig, type PrometheusSourceConfig, type ResolvedConfig } from './config.js';
import { preview, promError, PromErrorCode } from './errors.js';
import type { PromGroupFill, PromMatrixFill, PromRemoteReadFill } from './fillers.js';
import { coscheduleGroups, isUnit, membersOf, toUnits } from './coschedule.js';
import { createExtractMetrics, type ExtractMetrics } from './metrics.js';
import { chunkDuration, completedIntervals, haloRowsPerSeries, historyStartAfter, planNext, remainingSamples, withoutHistory, type PlanLimits, type PlannedChunk, type QueryState } from './planner.js';
import { sliceCount, sliceMatchers } from './slices.js';
import { failTail, newTailBuffer, tailBytes, tailSettled } from './tail.js';
import { buildReadRequest } from './remote-read.js';
import { extractSelectors, parseSelector, withMatcher, type Selector } from './selector.js';
import { alignDown, alignUp, parseTime } from './time.js';
import { formatDuration } from '../../util/duration.js';
import { FileWatermarkStore, MemoryWatermarkStore, type WatermarkStore } from './watermarks.js';
import { sleep } from '../../util/retry.js';
import type { CountPlanQuery } from './counts.js';

export interface PrometheusSourceDeps {
  logger: Logger;
  metrics?: Registry;
  watermarks?: WatermarkStore;
  /** Clock (tests). */
  now?: () => number;
}

interface Inflight {
  plan: LinkedPlan;
  ctl: AbortController;
  promise: Promise<SourceChunk>;
}

/**
 * A planned chunk with its halo hand-off ends: `tailIn` the previous chunk's tail (the chunk is
 * fetched without history; `history` is the plan that fetches it, the fallback), `tailOut` where
 * its own tail goes.
 */
interface LinkedPlan extends PlannedChunk {
  tailIn?: SharedArrayBuffer;
  tailOut?: SharedArrayBuffer;
  tailFromMs?: number;
  history?: PlannedChunk;
}

interface AckState {
  pending: Array<{ id: string; endMs: number; acked: boolean }>;
}

const STREAM_SERIES_WINDOW_MS = 3_600_000;
/**
 * Longest wait for the previous chunk's tail before fetching this chunk's history instead. The
 * engine fills chunk k before it asks for k+1, so the tail comes within a few batch times; the
 * bound only keeps another consumer (one that never fills k) from waiting forever.
 */
const TAIL_WAIT_MS = 60_000;

export class PrometheusSource implements Source {
  readonly kind = 'prometheus';
  readonly rc: ResolvedConfig;
  readonly metrics: ExtractMetrics;
  readonly api: PrometheusApi;
  private readonly client: PromClient;
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly store: WatermarkStore;
  private queries: QueryState[] = [];
  private selectors = new Map<string, Selector>();
  private kinds: Record<string, SeriesKindName> = {};
  private limits!: PlanLimits;
  private inflight: Inflight[] = [];
  private readonly ackState = new Map<string, AckState>();
  private readonly recorded = new Set<string>();
  private readonly abort = new AbortController();
  private serial: Promise<unknown> = Promise.resolve();
  private doneSamples = 0;
  private lastPoll = 0;
  private readonly behind = new Set<string>();
  private flushTimer: NodeJS.Timeout | undefined;
  private opened = false;
  private closed = false;
  private failed: unknown;
  /** Halo time requested at open (raw modes keep rows within it). */
  private haloMs = 0;
  /** [start, end) of each query as planned at open (`run --verify` counts the source over it). */
  private readonly openWindows = new Map<string, [number, number]>();
  /** The queries as planned at open, before series slicing (`run --verify` counts these). */
  private planned: QueryState[] = [];
  /** Series slicing (slices.ts): the engine's batching, the series label sets per query, done time per slice name. */
  private batching: { workers: number; adaptive: boolean } | undefined;
  private readonly seriesLists = new Map<string, Array<Record<string, string>>>();
  private openDone: ReadonlyMap<string, Array<[number, number]>> = new Map();
  private sliced = false;
  /** Halo hand-off: per query, the last planned chunk's tail buffer and end (the next chunk's start). */
  private readonly lastTail = new Map<string, { buf: SharedArrayBuffer; endMs: number }>();

  constructor(cfg: PrometheusSourceConfig, deps: PrometheusSourceDeps) {
    try {
      this.rc = resolveConfig(cfg);
    } catch (err) {
      throw new ConfigError((err as Error).message, { key: 'source' });
    }
    this.logger = deps.logger.child({ component: 'extract.prometheus' });
    this.now = deps.now ?? Date.now;
    this.metrics = createExtractMetrics(deps.metrics);
    this.client = new PromClient(cfg, this.logger, this.metrics);
    this.api = new PrometheusApi(this.client);
    this.store = deps.watermarks ?? (cfg.watermarkFile ? new FileWatermarkStore(cfg.watermarkFile) : new MemoryWatermarkStore());
  }

  private get cfg(): PrometheusSourceConfig {
    return this.rc.cfg;
  }

  async open(opts: SourceOpenOptions): Promise<void> {
    if (this.opened) throw new Error('PrometheusSource.open() called twice');
    this.opened = true;
    opts.signal.addEventListener('abort', () => this.abort.abort(opts.signal.reason), { once: true });
    const { cfg, stepMs } = this.rc;
    const raw = cfg.extraction !== 'range';
    const haloPoints = raw ? 0 : opts.haloSamples + Math.ceil(opts.haloMs / stepMs);
    const lookbackMs = raw ? (this.rc.rawLookbackMs ?? opts.haloMs + opts.haloSamples * this.rc.sampleIntervalMs * 2) : 0;
    this.limits = {
      extraction: cfg.extraction,
      stepMs,
      maxPointsPerSeries: cfg.maxPointsPerSeries,
      maxSamplesPerQuery: cfg.maxSamplesPerQuery,
      haloPoints,
      lookbackMs,
      haloSamples: opts.haloSamples,
      haloMs: raw ? opts.haloMs : 0,
      haloFloor: opts.batching?.adaptive === true,
      sampleIntervalMs: this.rc.sampleIntervalMs,
      lookaheadMs: opts.lookaheadMs ?? 0,
      maxChunkMs: this.rc.maxChunkMs,
      shard:
        opts.shard && opts.shard.count > 1
          ? { index: opts.shard.index, count: opts.shard.count, blockMs: alignUp(this.rc.shardBlockMs, stepMs) }
          : undefined,
    };
    this.haloMs = opts.haloMs;
    this.batching = opts.batching;

    // windows
    const now = this.now();
    const done = completedIntervals(opts.completed ?? []);
    // Interval coverage from the engine's checkpoint store (key `query:<name>`) counts as done too.
    for (const [key, ivs] of opts.covered ?? []) {
      if (!key.startsWith('query:')) continue;
      const name = key.slice(6);
      const merged = [...(done.get(name) ?? []), ...ivs.map(([a, b]) => [a, b] as [number, number])].sort((x, y) => x[0] - y[0]);
      const out: Array<[number, number]> = [];
      for (const iv of merged) {
        const last = out[out.length - 1];
        if (last && iv[0] <= last[1]) last[1] = Math.max(last[1], iv[1]);
        else out.push([iv[0], iv[1]]);
      }
      done.set(name, out);
    }
    for (const q of this.rc.queries) {
      const [start, end] = this.initialWindow(q.name, now);
      this.openWindows.set(q.name, [start, end]);
      // Exported at 0 from the start, so dashboards and increase() see the first gap.
      this.metrics.gaps.inc({ query: q.name }, 0);
      if (cfg.mode === 'stream' && this.store.get(q.name) !== undefined && end - start > 2 * this.rc.pollMs + 2 * this.rc.stepMs) {
        // A restart back-fills its own downtime from the watermark: a gap like one seen in poll().
        this.metrics.gaps.inc({ query: q.name });
        this.behind.add(q.name);
        this.logger.info({ query: q.name, from: new Date(start).toISOString(), behind: formatDuration(end - start) }, 'restart: back-filling the downtime since the last watermark');
      }
      this.queries.push({ name: q.name, expr: q.expr.trim(), series: 1, cursor: start, end, done: done.get(q.name) ?? [] });
      if (raw) this.selectors.set(q.name, parseSelector(q.expr));
    }
    this.lastPoll = now;

    // series counts and metric types, in parallel under the client's limits
    const signal = this.abort.signal;
    await Promise.all([...this.queries.map((q) => this.countSeries(q, signal)), this.loadKinds(signal)]);
    this.coschedule(opts, done);
    this.planned = this.queries;
    this.openDone = done;
    // slicing needs the label sets only where it may apply (sliceable below)
    if (!this.sliceable(opts)) this.seriesLists.clear();
    this.logger.info(
      {
        mode: cfg.mode,
        extraction: cfg.extraction,
        queries: this.queries.map((q) => ({ name: q.name, series: q.series, from: new Date(q.cursor).toISOString(), to: new Date(q.end).toISOString() })),
        haloPoints,
        lookback: formatDuration(lookbackMs),
      },
      'prometheus source planned',
    );
  }

  /** Plan the queries that cross-series kernels join as units (coschedule.ts); logs the groups. */
  private coschedule(opts: SourceOpenOptions, done: ReadonlyMap<string, Array<[number, number]>>): void {
    if (!opts.crossSeries?.length || this.queries.length < 2) return;
    const metricsOf = (q: QueryState): string[] => {
      try {
        return (this.rc.cfg.extraction === 'range' ? extractSelectors(q.expr) : [this.selectors.get(q.name)!]).flatMap((sel) => (sel.name ? [sel.name] : []));
      } catch {
        return []; // see countSeries
      }
    };
    const groups = coscheduleGroups(this.queries.map((q) => ({ name: q.name, metrics: metricsOf(q) })), opts.crossSeries);
    if (groups.length === 0) return;
    this.queries = toUnits(this.queries, groups, done);
    this.logger.info({ groups }, 'queries joined by cross-series kernels are co-scheduled: their chunks share batches');
  }

  /** [start, end) for a query at open time, step-aligned. */
  private initialWindow(name: string, now: number): [number, number] {
    const { cfg, stepMs } = this.rc;
    const parse = (v: string | number, key: string) => {
      try {
        return parseTime(v, now);
      } catch (err) {
        throw new ConfigError((err as Error).message, { key: `source.${key}` });
      }
    };
    if (cfg.mode === 'backfill') {
      if (cfg.start === undefined) throw new ConfigError('backfill mode needs "start"', { key: 'source.start' });
      const s = alignUp(parse(cfg.start, 'start'), stepMs);
      const e = alignUp(parse(cfg.end ?? 'now', 'end'), stepMs);
      return [s, Math.max(s, e)];
    }
    const live = alignDown(now - this.rc.safetyLagMs, stepMs);
    const wm = this.store.get(name);
    let s: number;
    if (wm !== undefined) s = wm;
    else if (cfg.start !== undefined) s = alignUp(parse(cfg.start, 'start'), stepMs);
    else if (cfg.mode === 'stream') s = live;
    else throw new ConfigError(`incremental mode: query "${name}" has no watermark yet and "start" is not set`, { key: 'source.start' });
    return [s, Math.max(s, live)];
  }

  private async countSeries(q: QueryState, signal: AbortSignal): Promise<void> {
    let sels: Selector[];
    try {
      sels = this.rc.cfg.extraction === 'range' ? extractSelectors(q.expr) : [this.selectors.get(q.name)!];
    } catch {
      sels = []; // unparsable here: Prometheus will say why on the first query
    }
    if (sels.length === 0) {
      q.series = 1;
      return;
    }
    const from = (this.rc.cfg.mode === 'stream' ? Math.min(q.cursor, q.end - STREAM_SERIES_WINDOW_MS) : q.cursor) - this.limits.haloPoints * this.rc.stepMs - this.limits.lookbackMs;
    const to = Math.max(q.end, q.cursor + 1);
    try {
      const list = await this.api.series(sels.map((s) => s.text), from, to, signal);
      if (!Array.isArray(list)) {
        throw promError(PromErrorCode.badResponse, `query "${q.name}": /api/v1/series did not return a list; is ${this.cfg.url} a Prometheus API?`);
      }
      q.series = Math.max(1, list.length);
      if (this.rc.cfg.extraction !== 'range' && this.rc.cfg.mode === 'backfill') this.seriesLists.set(q.name, list);
    } catch (err) {
      if (err instanceof SourceError && err.code === PromErrorCode.badQuery) {
        throw promError(PromErrorCode.badQuery, `query "${q.name}" (${clip(q.expr)}): ${err.message}`, err);
      }
      throw err;
    }
  }

  private async loadKinds(signal: AbortSignal): Promise<void> {
    const names = new Set<string>();
    for (const q of this.queries) {
      try {
        for (const s of this.rc.cfg.extraction === 'range' ? extractSelectors(q.expr) : [this.selectors.get(q.name)!]) if (s.name) names.add(s.name);
      } catch {
        /* see countSeries */
      }
    }
    if (names.size === 0) return;
    try {
      const lists = names.size <= 20 ? await Promise.all([...names].map((n) => this.api.metadata(n, signal))) : [await this.api.metadata(undefined, signal)];
      for (const md of lists) {
        for (const [name, entries] of Object.entries(md ?? {})) {
          if (Array.isArray(entries) && entries[0]) this.kinds[name] = kindFromMetadataType(String(entries[0].type));
        }
      }
    } catch (err) {
      if (signal.aborted) throw err;
      // metadata is a nicety (older servers, proxies may not have it): name conventions still apply
      this.logger.warn({ err: (err as Error).message }, 'prometheus metadata unavailable; metric kinds inferred from names');
    }
  }

  /**
   * `run --verify`: each query's selector and [start, end) window as planned at open, for counting
   * the stored samples in Prometheus (src/extract/prometheus/counts.ts). null when the extraction
   * does not read stored samples (range) or the window is open-ended (stream).
   */
  countPlan(): CountPlanQuery[] | null {
    if (this.rc.cfg.extraction === 'range' || this.rc.cfg.mode === 'stream') return null;
    return this.planned.flatMap(membersOf).map((q) => {
      const [startMs, endMs] = this.openWindows.get(q.name)!;
      return { name: q.name, selector: this.selectors.get(q.name)!, startMs, endMs, series: q.series };
    });
  }

  /**
   * `promflux plan`: the chunks the opened plan would fetch, each query planned to its end at
   * `targetRows` rows per chunk, without fetching anything (planned on copies of the query states,
   * so the source's own plan is untouched). `skippedMs`: time of the window a checkpoint or the
   * watermarks already cover.
   */
  planPreview(targetRows: number): {
    limits: PlanLimits;
    queries: Array<{ name: string; expr: string; series: number; members: number; startMs: number; endMs: number; skippedMs: number; chunks: PlannedChunk[] }>;
  } {
    if (!this.opened) throw new Error('PrometheusSource.planPreview() before open()');
    this.slice(targetRows);
    return {
      limits: this.limits,
      queries: this.queries.map((q) => {
        const copy: QueryState = { ...q, done: q.done.map(([a, b]) => [a, b] as [number, number]) };
        const chunks: PlannedChunk[] = [];
        for (let c = planNext(copy, Math.max(1, targetRows), this.limits); c; c = planNext(copy, Math.max(1, targetRows), this.limits)) chunks.push({ ...c, query: q });
        let skippedMs = 0;
        for (const [a, b] of q.done) skippedMs += Math.max(0, Math.min(b, q.end) - Math.max(a, q.cursor));
        return { name: q.name, expr: q.expr, series: q.series, members: membersOf(q).length, startMs: q.cursor, endMs: q.end, skippedMs, chunks };
      }),
    };
  }

  next(targetRows: number): Promise<SourceChunk | null> {
    // serialize callers: chunks come out in plan order
    const p = this.serial.then(() => this.nextInner(Math.max(1, targetRows)));
    this.serial = p.catch(() => undefined);
    return p;
  }

  private async nextInner(targetRows: number): Promise<SourceChunk | null> {
    if (!this.opened) throw new Error('PrometheusSource.next() before open()');
    // after a fatal error the plan has moved past the failed chunk: never hand out what follows
    if (this.failed) throw this.failed;
    for (;;) {
      if (this.closed || this.abort.signal.aborted) return null;
      this.topUp(targetRows);
      const head = this.inflight.shift();
      if (head) {
        try {
          const chunk = await this.settleHalo(head.plan, await head.promise);
          this.onReturned(this.returnedPlan.get(head.plan.id) ?? head.plan, chunk);
          this.returnedPlan.delete(head.plan.id);
          return chunk;
        } catch (err) {
          if (this.abort.signal.aborted) return null;
          if (this.cfg.mode === 'stream' && isTransient(err)) {
            this.rewind(head);
            this.metrics.errors.inc({ reason: 'stream_outage' });
            this.logger.warn(
              { err: (err as Error).message, resumeFrom: new Date(head.plan.startMs).toISOString() },
              'prometheus unavailable; stream keeps polling and will fill the gap',
            );
            await this.pause(this.rc.pollMs);
            continue;
          }
          this.cancelInflight();
          this.failed = err;
          throw err;
        }
      }
      if (this.cfg.mode !== 'stream') return null;
      await this.poll();
    }
  }

  /**
   * Series slicing applies to backfills (the whole plan is known up front) in raw modes, with the
   * engine's adaptive batch size, no cross-series kernel (they join the series of one batch) and no
   * sharding (shards hash chunk ids, which name the slice).
   */
  private sliceable(opts: SourceOpenOptions): boolean {
    const { cfg } = this.rc;
    return cfg.extraction !== 'range' && cfg.mode === 'backfill' && opts.batching?.adaptive === true && !opts.crossSeries?.length && !this.limits.shard;
  }

  /**
   * Once, before the first chunk is planned (the first batch size is known then): replace each query
   * that wants it by its series slices (docs/ARCHITECTURE.md#series-slices). A slice is a query of its
   * own for planning, prefetch and hand-off (`<name>#k/n`, in chunk ids and checkpoint coverage);
   * a resumed run with the same series and batching slices the same way and skips what each slice
   * completed; otherwise slices re-read what only slices of the earlier run covered.
   */
  private slice(targetRows: number): void {
    if (this.sliced) return;
    this.sliced = true;
    if (this.seriesLists.size === 0 || !this.batching) return;
    const L = this.limits;
    const h = haloRowsPerSeries(L);
    const out: QueryState[] = [];
    for (const q of this.queries) {
      const list = this.seriesLists.get(q.name);
      const ms = remainingSamples(q, L) / Math.max(1, q.series) * L.sampleIntervalMs;
      const chunksFor = (s: number): number => Math.ceil(ms / chunkDuration({ ...q, series: s }, targetRows, L));
      const g = list && !isUnit(q) && ms > 0 ? sliceCount(q.series, h, q.series * (ms / L.sampleIntervalMs + h), this.batching.workers, chunksFor) : 1;
      const parts = g > 1 ? sliceMatchers(list!, g) : null;
      if (!parts) {
        out.push(q);
        continue;
      }
      const n = parts.matchers.length;
      parts.matchers.forEach((ms, k) => {
        const name = `${q.name}#${k + 1}/${n}`;
        this.selectors.set(name, ms.reduce(withMatcher, this.selectors.get(q.name)!));
        out.push({ ...q, name, series: Math.max(1, parts.counts[k]!), done: mergeIntervals([...q.done, ...(this.openDone.get(name) ?? [])]), parent: q.name });
      });
      this.logger.info({ query: q.name, slices: n, by: [...new Set(parts.matchers.flat().map((m) => m.name))], series: parts.counts }, 'query planned as series slices (rows per series per batch keep the halo a small share)');
    }
    this.queries = out;
    this.seriesLists.clear();
  }

  /** The configured query a (slice) name belongs to, for metric labels. */
  private queryOf(name: string): string {
    return this.queries.find((q) => q.name === name)?.parent ?? name;
  }

  /** Start fetches until `concurrency` are in flight or the plan is exhausted. */
  private topUp(targetRows: number): void {
    this.slice(targetRows);
    while (this.inflight.length < this.cfg.concurrency) {
      // the query furthest behind goes first, so queries advance together
      let q: QueryState | undefined;
      for (const c of this.queries) if (c.cursor < c.end && (!q || c.cursor < q.cursor)) q = c;
      if (!q) return;
      const next = planNext(q, targetRows, this.limits);
      if (!next) continue;
      const plan = this.linkHalo(next);
      const ctl = new AbortController();
      const signal = AbortSignal.any([this.abort.signal, ctl.signal]);
      const promise = this.fetch(plan, signal);
      promise.catch(() => undefined); // handled when it reaches the head of the queue
      this.inflight.push({ plan, ctl, promise });
    }
  }

  /**
   * Halo hand-off (docs/ARCHITECTURE.md#halo-hand-off): a chunk that starts where the query's last
   * planned chunk ended takes that chunk's tail as its halo and is fetched without history; every
   * chunk gets a tail buffer for its successor. Resumed chunks (predecessor done in an earlier run),
   * shard jumps and the first chunk keep fetching their history.
   */
  private linkHalo(plan: PlannedChunk): LinkedPlan {
    const name = plan.query.name;
    const fromMs = historyStartAfter(plan, this.limits);
    // Co-scheduled units (several member queries in one batch) keep fetching their history: one tail
    // buffer per chunk cannot hold the tails of several member decodes.
    if (!this.cfg.haloHandoff || isUnit(plan.query) || !(fromMs < plan.endMs)) return plan;
    const prev = this.lastTail.get(name);
    const tailOut = newTailBuffer();
    this.lastTail.set(name, { buf: tailOut, endMs: plan.endMs });
    const linked: LinkedPlan = { ...plan, tailOut, tailFromMs: fromMs };
    if (!prev || prev.endMs !== plan.startMs) return linked;
    return { ...withoutHistory(linked), tailIn: prev.buf, history: linked };
  }

  /**
   * Wait (without blocking the event loop) until a hand-off chunk's halo tail is published, so no
   * worker ever waits for another. A tail that failed (its chunk's attempt ended without
   * publishing) costs this chunk a fetch with its history, as without hand-off.
   */
  private async settleHalo(plan: LinkedPlan, chunk: SourceChunk): Promise<SourceChunk> {
    if (!plan.tailIn) return chunk;
    const q = plan.query.parent ?? plan.query.name;
    if (await tailSettled(plan.tailIn, this.abort.signal, TAIL_WAIT_MS)) {
      this.metrics.haloHandoffs.inc({ query: q, outcome: 'handed' });
      this.metrics.haloTailBytes.inc({ query: q }, tailBytes(plan.tailIn));
      return chunk;
    }
    if (this.abort.signal.aborted) return chunk;
    // The tail is abandoned: release it, and fail it so a late publish is a no-op.
    failTail(plan.tailIn);
    this.metrics.haloHandoffs.inc({ query: q, outcome: 'refetched' });
    this.logger.debug({ chunk: plan.id }, 'previous chunk published no tail; fetching this chunk with its history');
    const history = plan.history!;
    this.returnedPlan.set(plan.id, history);
    return this.fetch(history, this.abort.signal);
  }

  /** Called by the engine after every attempt of a chunk: a tail it did not publish fails, so its successor refetches. */
  afterAttempt(chunk: SourceChunk): void {
    const t = (chunk.fill as { tailOut?: unknown }).tailOut;
    if (t instanceof SharedArrayBuffer) failTail(t);
  }

  private async fetch(plan: LinkedPlan, signal: AbortSignal): Promise<SourceChunk> {
    const q = plan.query;
    let fill: PromGroupFill | PromMatrixFill | PromRemoteReadFill;
    if (isUnit(q)) {
      // co-scheduled: one request per member over the same window, decoded into one batch
      const parts = await Promise.all(q.members.map((m) => this.fetchFill(plan, m, signal)));
      fill = { kind: 'prom-group', parts, haloSamples: parts[0]!.haloSamples, haloMs: parts[0]!.haloMs };
    } else fill = await this.fetchFill(plan, q, signal);
    return {
      id: plan.id,
      fill,
      estRows: plan.estRows,
      estRuns: Math.max(1, q.series),
      startMs: plan.startMs,
      endMs: plan.endMs,
      estSamples: plan.estSamples,
      coverageKey: `query:${q.name}`,
    };
  }

  /** Fetch one query's part of a planned chunk: the response bytes and the decoder's window. */
  private async fetchFill(plan: LinkedPlan, q: QueryState, signal: AbortSignal): Promise<PromMatrixFill | PromRemoteReadFill> {
    const { cfg, stepMs } = this.rc;
    const what = `query "${q.parent ?? q.name}" (${clip(q.expr)}) chunk ${plan.id}`;
    let res: HttpResult;
    const base = {
      query: q.parent ?? q.name,
      chunkId: plan.id,
      startMs: plan.startMs,
      endMs: plan.endMs,
      haloAll: cfg.extraction === 'range',
      haloSamples: this.limits.haloSamples,
      haloMs: this.haloMs,
      lookaheadMs: this.limits.lookaheadMs ?? 0,
      kinds: this.kinds,
      fetchFromMs: plan.fetchStartMs,
      ...(plan.tailIn ? { tailIn: plan.tailIn } : {}),
      ...(plan.tailOut ? { tailOut: plan.tailOut, tailFromMs: plan.tailFromMs } : {}),
    };
    let fill: PromMatrixFill | PromRemoteReadFill;
    if (cfg.extraction === 'range') {
      res = await this.api.queryRangeBytes(q.expr, plan.fetchStartMs, plan.fetchEndMs, stepMs, what, signal);
      fill = { kind: 'prom-matrix', body: res.body, ...base };
    } else if (cfg.extraction === 'range-vector') {
      // metric[r] at t = end-1 covers [t-r, t] (Prometheus 2: closed) or (t-r, t] (3: left-open);
      // r = end - fetchStart reaches fetchStart either way; rows before the window are trimmed.
      const t = plan.fetchEndMs;
      const r = plan.fetchEndMs + 1 - plan.fetchStartMs;
      res = await this.api.queryBytes(`${this.selectors.get(q.name)!.text}[${r}ms]`, t, what, signal);
      fill = { kind: 'prom-matrix', body: res.body, ...base };
    } else {
      const sel = this.selectors.get(q.name)!;
      const body = buildReadRequest(sel.matchers, plan.fetchStartMs, plan.fetchEndMs, cfg.remoteRead.responseType);
      res = await this.client.remoteRead(body, { what, signal });
      const ct = res.contentType.toLowerCase();
      const format = ct.startsWith('application/x-streamed-protobuf') ? 'streamed' : ct.startsWith('application/x-protobuf') ? 'samples' : undefined;
      if (!format) {
        throw promError(
          PromErrorCode.badResponse,
          `${what}: /api/v1/read answered "${res.contentType}" (starts "${preview(res.body)}"), not a remote-read protobuf; is ${cfg.url} a Prometheus server with remote read?`,
        );
      }
      fill = { kind: 'prom-remote-read', body: res.body, format, fromMs: plan.fetchStartMs, ...base };
    }
    return fill;
  }

  /**
   * Fetch a returned chunk again (same id and window), e.g. when its worker found the body
   * truncated by a proxy: re-decoding the same bytes would fail the same way.
   */
  async refetch(chunk: SourceChunk): Promise<SourceChunk> {
    let plan = this.returned.get(chunk.id);
    if (!plan) throw new Error(`refetch: chunk ${chunk.id} is unknown or already acked`);
    // A hand-off chunk whose halo tail is not there (PROMFLUX_PROM_HALO_UNAVAILABLE): fetch its history.
    if (plan.history && plan.tailIn && tailBytes(plan.tailIn) === 0) {
      this.metrics.haloHandoffs.inc({ query: plan.query.parent ?? plan.query.name, outcome: 'refetched' });
      plan = plan.history;
      this.returned.set(chunk.id, plan);
    }
    return this.fetch(plan, this.abort.signal);
  }

  private readonly returned = new Map<string, LinkedPlan>();
  /** A chunk whose hand-off failed was fetched with its history: the plan it was returned with. */
  private readonly returnedPlan = new Map<string, LinkedPlan>();

  private onReturned(plan: LinkedPlan, chunk: SourceChunk): void {
    this.returned.set(chunk.id, plan);
    this.doneSamples += chunk.estSamples;
    this.metrics.chunks.inc({ query: plan.query.parent ?? plan.query.name });
    let st = this.ackState.get(plan.query.name);
    if (!st) this.ackState.set(plan.query.name, (st = { pending: [] }));
    st.pending.push({ id: chunk.id, endMs: chunk.endMs, acked: false });
  }

  ack(chunk: SourceChunk): void {
    const name = chunk.id.slice(0, chunk.id.lastIndexOf(':'));
    const st = this.ackState.get(name);
    if (!st) return;
    const e = st.pending.find((p) => p.id === chunk.id);
    if (!e || e.acked) return;
    e.acked = true;
    this.returned.delete(chunk.id);
    if (this.recorded.delete(chunk.id)) {
      /* samples already counted from decoded rows */
    } else {
      this.metrics.samples.inc({ query: this.queryOf(name) }, chunk.estSamples);
    }
    let wm: number | undefined;
    while (st.pending.length > 0 && st.pending[0]!.acked) wm = st.pending.shift()!.endMs;
    if (wm === undefined) return;
    this.metrics.freshness.set({ query: this.queryOf(name) }, Math.max(0, (this.now() - wm) / 1000));
    if (this.cfg.mode !== 'backfill') {
      // a co-scheduled unit moves every member's watermark together
      const unit = this.queries.find((q) => q.name === name);
      for (const m of unit ? membersOf(unit) : [{ name }]) this.store.set(m.name, wm);
      this.scheduleFlush();
    }
  }

  /** Optional: the engine reports decoded non-halo rows of a chunk, for exact sample counts. */
  recordRows(chunk: SourceChunk, rows: number): void {
    const name = chunk.id.slice(0, chunk.id.lastIndexOf(':'));
    this.metrics.samples.inc({ query: this.queryOf(name) }, rows);
    this.recorded.add(chunk.id);
  }

  /** Watermark of a query (exclusive end of the contiguous loaded range). */
  watermark(query: string): number | undefined {
    return this.store.get(query);
  }

  private scheduleFlush(): void {
    if (this.flushTimer) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      this.store.flush().catch((err: unknown) => this.logger.error({ err: (err as Error).message }, 'watermark flush failed'));
    }, 1000);
    this.flushTimer.unref();
  }

  /** Stream: wait for the next poll, then extend every window to now − safetyLag. */
  private async poll(): Promise<void> {
    const wait = this.lastPoll + this.rc.pollMs - this.now();
    if (wait > 0) await this.pause(wait);
    if (this.closed || this.abort.signal.aborted) return;
    const now = this.now();
    this.lastPoll = now;
    const live = alignDown(now - this.rc.safetyLagMs, this.rc.stepMs);
    for (const q of this.queries) {
      if (live > q.end) q.end = live;
      const lag = q.end - q.cursor;
      if (lag > 2 * this.rc.pollMs + 2 * this.rc.stepMs) {
        if (!this.behind.has(q.name)) {
          this.behind.add(q.name);
          this.metrics.gaps.inc({ query: q.name });
          this.logger.info({ query: q.name, from: new Date(q.cursor).toISOString(), behind: formatDuration(lag) }, 'gap detected; back-filling');
        }
      } else this.behind.delete(q.name);
    }
  }

  /** Put a failed chunk and everything fetched after it back into the plan. */
  private rewind(failed: Inflight): void {
    const all = [failed, ...this.inflight];
    this.inflight = [];
    for (const f of all) {
      f.ctl.abort();
      const q = f.plan.query;
      // the chain restarts: the next chunk of this query fetches its history
      this.lastTail.delete(q.name);
      if (f.plan.startMs < q.cursor) q.cursor = f.plan.startMs;
    }
  }

  private cancelInflight(): void {
    for (const f of this.inflight) f.ctl.abort();
    this.inflight = [];
  }

  private async pause(ms: number): Promise<void> {
    try {
      await sleep(ms, this.abort.signal);
    } catch {
      /* aborted: the loop checks */
    }
  }

  progress(): SourceProgress {
    if (this.cfg.mode === 'stream') return { doneSamples: this.doneSamples, totalSamples: null };
    if (!this.opened || !this.limits) return { doneSamples: 0, totalSamples: null };
    let rest = 0;
    for (const q of this.queries) rest += remainingSamples(q, this.limits);
    for (const f of this.inflight) rest += f.plan.estSamples;
    return { doneSamples: this.doneSamples, totalSamples: this.doneSamples + rest };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.abort.abort(new Error('source closed'));
    this.cancelInflight();
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    try {
      await this.store.flush();
    } finally {
      await this.client.close();
    }
  }
}

function mergeIntervals(ivs: Array<[number, number]>): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const iv of [...ivs].sort((x, y) => x[0] - y[0])) {
    const last = out[out.length - 1];
    if (last && iv[0] <= last[1]) last[1] = Math.max(last[1], iv[1]);
    else out.push([iv[0], iv[1]]);
  }
  return out;
}

function clip(s: string, n = 160): string {
  const one = s.replace(/\s+/g, ' ');
  return one.length > n ? one.slice(0, n) + '…' : one;
}

/** Outages worth waiting out in stream mode; query errors and bad responses are not. */
function isTransient(err: unknown): boolean {
  return err instanceof SourceError && (err.code === PromErrorCode.unavailable || err.code === PromErrorCode.timeout);
}

/** Create the Prometheus source (see docs/EXTRACT.md). `cfg` is the output of prometheusSourceSchema. */
export function createPrometheusSource(cfg: PrometheusSourceConfig, deps: PrometheusSourceDeps): PrometheusSource {
  return new PrometheusSource(cfg, deps);
}
