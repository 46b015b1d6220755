/**
 * Messages between the dispatcher and the workers. Plain data + SharedArrayBuffers only.
 */
import type { BatchDescriptor } from '../batch/layout.js';
import type { FillSpec } from '../extract/source.js';
import type { FeatureColumns } from '../encode/columns.js';
import type { LatestRows } from '../encode/latest.js';
import type { RequestCuts, RequestLimits } from '../encode/request-cuts.js';
import type { EncodeSpec } from '../encode/series.js';
import type { TransformSpec } from '../transform/kernel.js';
import type { BatchVerify, VerifyTaskSpec } from '../encode/verify-collect.js';

export type { EncodeSpec } from '../encode/series.js';

/** What a worker needs to run one pipeline (compiled once per worker, cached by `key`). */
export interface WorkerPipelineSpec {
  key: string;
  transforms: TransformSpec[];
  encode: EncodeSpec;
  /** Scaling/other per-series state file to load (msgpackr), if any. */
  stateFile?: string;
  /** Kernel kinds registered by module (registerKernel(kind, URL)): kind → module URL each worker imports. */
  kernelModules?: Record<string, string>;
  /** `run --verify`: report per-batch verification counts and sampled values (src/encode/verify-collect.ts). */
  verify?: VerifyTaskSpec;
}

export interface ProcessTask {
  batch: BatchDescriptor;
  /** How to fill the batch; null when the batch arrives already filled. */
  fill: FillSpec | null;
  pipeline: WorkerPipelineSpec;
  nowMs: number;
  /**
   * `sorted`: columns ordered by (series key, timestamp) within the batch. `latest`: also return the
   * newest written row per series (online feature serving, src/encode/latest.ts). `cuts`: also
   * return the sink's request boundaries of the line protocol (src/encode/request-cuts.ts).
   */
  want: { lp: boolean; columns: boolean; sorted?: boolean; latest?: boolean; cuts?: RequestLimits };
  /** Buffer to write line protocol into (the worker allocates a larger one if it does not fit). */
  out?: SharedArrayBuffer;
  /**
   * The halo the fill provides (from the chunk's fill spec and start): lets the worker check that
   * rows dropped in the halo leave enough context (src/transform/halo-check.ts). Absent: no check.
   */
  halo?: { samples: number; ms: number; startMs: number };
  /** Test builds only (PROMFLUX_FAULTS=1): make this task throw or kill its worker. */
  fault?: 'throw' | 'exit';
  /**
   * Source series keys not to write (counted as `series_collision`): the dispatcher found them
   * colliding with another series' target key and re-runs the batch without them.
   */
  exclude?: string[];
  /**
   * Benchmarks only (dispatcher-ceiling, issue #18): skip fill, kernels and encode, so the main
   * thread is the only limit. The worker reports `samples` rows in and out and, when line protocol
   * is wanted, writes that many copies of one fixed line into `out` so the sink handles real bytes.
   * `series`: the result also carries that many series keys (with target keys and their digest for
   * line-protocol tasks), numbered from `firstSeries`, as a real result does: the main thread's
   * per-series work (deserialising them, the collision check, sink guards) is then in the figure.
   */
  noop?: { samples: number; lineBytes?: number; series?: number; firstSeries?: number };
  /**
   * Line-protocol tasks: the dispatcher's table of series sets it has already handled
   * (src/pool/known-keys.ts). A result whose keys digest is in it carries the digest alone
   * (`keysOmitted`), not its series and target keys.
   */
  knownKeys?: SharedArrayBuffer;
}

/** What a worker thread reports with every result: its own CPU and event-loop figures (src/pool/thread-cpu.ts). */
export interface WorkerThreadSample {
  /** worker_threads threadId. */
  threadId: number;
  /** CPU ns this task took on the worker thread (fill + kernels + encode + result building). */
  taskCpuNs: number;
  /** CPU ns the thread has used since it started (start-up, module loading and idle work included). */
  threadCpuNs: number;
  cpuSource: 'schedstat' | 'stat' | 'process';
  /** Cumulative event-loop active / idle ms of the worker thread. */
  eluActiveMs: number;
  eluIdleMs: number;
  /**
   * The process's RSS, read by the worker at most every 50 ms (else absent): a /proc read costs
   * 20–200 µs, which the main thread should not pay per batch (issue #18).
   */
  rssBytes?: number;
}

export interface TaskError {
  code: string;
  message: string;
  kernel?: string;
  stage: 'fill' | 'transform' | 'encode';
}

export interface ProcessResult {
  batchId: number;
  chunkId: string;
  /**
   * Filled batch (a grown buffer set when the estimate was short). Its seriesKeys/seriesKinds come
   * back empty: the main thread needs the buffers, and the emitted series travel in `seriesKeys`.
   */
  batch: BatchDescriptor;
  /** Non-halo rows seen. */
  samplesIn: number;
  /** Rows emitted (lines in lp / rows in columns). */
  rowsOut: number;
  /** Context rows of the filled batch (halo and look-ahead, never emitted): for the sizer's halo rule. */
  haloRows?: number;
  dropped: Record<string, number>;
  counters: Record<string, number>;
  reports: Record<string, unknown>;
  lp: Uint8Array | null;
  /** With want.cuts: request boundaries of `lp` under those limits (from the encoder's line ends). */
  requests?: RequestCuts;
  columns: FeatureColumns | null;
  /** With want.latest: the newest written row of each series of this batch. */
  latest?: LatestRows;
  /** Series keys of emitted rows. */
  seriesKeys: string[];
  /**
   * Per entry of seriesKeys (line-protocol tasks only, else empty): the target series key as
   * line-protocol text (measurement + tag set after schema mapping and key policy).
   */
  targetKeys: string[];
  /**
   * Line-protocol tasks: a SHA-1 digest of the (seriesKeys, targetKeys) pairs, so the dispatcher
   * skips its per-series collision check for a series set it already checked (src/pipeline/collisions.ts).
   */
  keysDigest?: string;
  /**
   * The digest was in the task's `knownKeys` table: seriesKeys and targetKeys are left empty (the
   * dispatcher already holds that series set) although the batch emitted series.
   */
  keysOmitted?: boolean;
  /** Emitted rows per measurement (after schema mapping). */
  perMeasurement: Record<string, number>;
  /** Newest / oldest non-halo timestamp (ms), NaN when none. */
  newestMs: number;
  oldestMs: number;
  timings: { fillMs: number; kernelMs: Record<string, number>; encodeMs: number; totalMs: number };
  /** With pipeline.verify: field counts, source samples per metric, sampled series' values. */
  verify?: BatchVerify;
  /**
   * Drop reason → series keys that had rows dropped for it in this batch (at most a few per reason;
   * per series, never per sample). The dispatcher logs each (reason, series) once per run.
   */
  dropSeries?: Record<string, string[]>;
  /** Reasons whose `dropSeries` list was capped (more series had drops for them in this batch). */
  dropSeriesCapped?: string[];
  /** Set when rows dropped in the halo left some series' first rows short of context (see halo-check). */
  haloShort?: { runs: number; rows: number };
  error?: TaskError;
  /** The worker thread's CPU and event-loop figures at the end of this task. */
  thread?: WorkerThreadSample;
}
