/**
 * Every error promflux raises on purpose, declared once (undici's lib/core/errors.js habit): one
 * base class, a few classes by stage, and the registry of stable codes below with a default message
 * and what to do. Callers and tests switch on `code`; messages say what failed, where, and what to
 * do. docs/ERRORS.md is generated from ERRORS, and test/errors.test.ts fails when code in src/
 * uses a PROMFLUX_* code that is not here (and so not in the doc).
 *
 * Kept free of imports so any thread (workers included) can use it.
 */

export type ErrorStage = 'config' | 'extract' | 'transform' | 'encode' | 'load' | 'engine' | 'access' | 'cli';

export interface ErrorInfo {
  readonly stage: ErrorStage;
  /** Default message, and the doc's "what it means". */
  readonly message: string;
  /** What the operator can do about it. */
  readonly action: string;
}

export const ERRORS = {
  // configuration and usage (the CLI exits 2)
  PROMFLUX_CONFIG: { stage: 'config', message: 'invalid configuration or usage', action: 'the message names the file, line and key; fix that key (see README "Configuration")' },
  // extract: the Prometheus source
  PROMFLUX_PROM_BAD_QUERY: { stage: 'extract', message: 'Prometheus rejected the query (400 bad_data / 422 execution)', action: 'fix the PromQL named in the message, or the limits (docs/EXTRACT.md)' },
  PROMFLUX_PROM_HTTP: { stage: 'extract', message: 'Prometheus answered a status that retrying cannot fix (401, 403, 404, …)', action: 'check source.url (path prefix), credentials and TLS settings' },
  PROMFLUX_PROM_UNAVAILABLE: { stage: 'extract', message: 'Prometheus stayed unreachable (network errors, 5xx, 429) through every retry', action: 'check that Prometheus is up and reachable; raise source.retry.attempts for longer outages; rerun to resume' },
  PROMFLUX_PROM_TIMEOUT: { stage: 'extract', message: 'every attempt at a Prometheus request exceeded source.timeoutMs', action: 'raise source.timeoutMs, or lower the chunk size (source.maxSamplesPerQuery, source.maxChunk)' },
  PROMFLUX_PROM_BAD_RESPONSE: { stage: 'extract', message: 'the response is not what Prometheus sends (HTML from a proxy, truncated JSON, bad protobuf or CRC)', action: 'check source.url points at Prometheus itself, not a login page or proxy' },
  PROMFLUX_PROM_QUERY_ERROR: { stage: 'extract', message: 'Prometheus answered 200 with "status":"error"', action: 'read Prometheus\' error text in the message; fix the query' },
  PROMFLUX_PROM_LIMITS: { stage: 'extract', message: 'no chunk size satisfies the Prometheus limits (too many series for maxSamplesPerQuery)', action: 'narrow the selector, or raise source.maxSamplesPerQuery if your Prometheus allows it' },
  PROMFLUX_PROM_HTTP_STATUS: { stage: 'extract', message: 'a retryable HTTP status (5xx, 429) from Prometheus', action: 'internal retry signal: retried, and reported as PROMFLUX_PROM_UNAVAILABLE once retries run out' },
  PROMFLUX_PROM_ATTEMPT_TIMEOUT: { stage: 'extract', message: 'one attempt at a Prometheus request timed out', action: 'internal retry signal: retried, and reported as PROMFLUX_PROM_TIMEOUT once retries run out' },
  PROMFLUX_TSDB_NOT_FOUND: { stage: 'extract', message: 'the prometheus-tsdb source found no block (or a file a block lists) at source.path', action: 'point source.path at a snapshot directory, a copy of a data directory, or one block directory' },
  PROMFLUX_TSDB_CORRUPT: { stage: 'extract', message: 'a TSDB index, chunk or tombstone file is corrupt or truncated (the message names the file and byte offset)', action: 'take a fresh snapshot (POST /api/v1/admin/tsdb/snapshot) or copy the block again; nothing of the broken block was written' },
  PROMFLUX_TSDB_UNSUPPORTED: { stage: 'extract', message: 'a TSDB file uses a format version or chunk encoding this promflux does not read', action: 'the message names the file and what it found; use remote read for that range' },
  PROMFLUX_PROM_HALO_UNAVAILABLE: { stage: 'extract', message: 'a chunk fetched without its history found the previous chunk\'s tail (its halo) unpublished', action: 'internal signal: the chunk is fetched again with its history (counter halo_refetch); nothing to do' },
  PROMFLUX_PROM_TRUNCATED: { stage: 'extract', message: 'a planning request\'s JSON body (series, labels, metadata, instant query) ended before the document did', action: 'internal retry signal: retried, and reported as PROMFLUX_PROM_BAD_RESPONSE ("truncated JSON body") once retries run out' },
  PROMFLUX_WATERMARK_READ: { stage: 'extract', message: 'the incremental/stream watermark file cannot be read or has an unknown format', action: 'check the file\'s permissions; delete it to restart from the configured start' },
  PROMFLUX_WATERMARK_WRITE: { stage: 'extract', message: 'the incremental/stream watermark file cannot be written', action: 'check that its directory exists and is writable' },
  // transform
  PROMFLUX_KERNEL_FAILED: { stage: 'transform', message: 'a transform kernel threw on a batch', action: 'the message names kernel, batch and chunk; engine.onError: skip counts the batch as batch_failed:<kernel> instead of failing' },
  PROMFLUX_PIPELINE_COMPILE: { stage: 'transform', message: 'a worker could not build the transform pipeline', action: 'the message names the transform entry; fix its options' },
  PROMFLUX_KERNEL_LOAD: { stage: 'transform', message: 'a kernel registered by module (registerKernel(kind, URL)) cannot be imported, or its default export is not a kernel factory', action: 'the message names the kind, the module URL and the thread; check the URL (resolve it with new URL(\'./x.js\', import.meta.url)) and that the module default-exports the factory' },
  PROMFLUX_WASM_MISSING: { stage: 'transform', message: 'the rolling kernel\'s WebAssembly module is missing', action: 'run npm run build' },
  PROMFLUX_WORKER_MISSING: { stage: 'engine', message: 'the worker entry the pool starts is missing (dist/src/pool/worker.js, or dist/bundle/worker-boot.cjs beside the CLI bundle)', action: 'run npm run build (tsc, then scripts/bundle.mjs)' },
  PROMFLUX_WASM_MEMORY: { stage: 'transform', message: 'a batch needs more WebAssembly memory than the host gives', action: 'use a smaller engine.batchSize (the message names the MiB needed)' },
  PROMFLUX_SCALING_STATE_READ: { stage: 'transform', message: 'the scaling state file cannot be read', action: 'run the pipeline with the scale step in mode "fit" first, or fix the path' },
  PROMFLUX_SCALING_STATE_CORRUPT: { stage: 'transform', message: 'the scaling state file is not a promflux scaling state', action: 'refit it' },
  PROMFLUX_SCALING_STATE_VERSION: { stage: 'transform', message: 'the scaling state file has a version this promflux does not read', action: 'refit with this version' },
  PROMFLUX_SCALING_STATE_SERIES: { stage: 'transform', message: 'no scaling parameters for a series (the fit never saw it)', action: 'refit including the series, or scale.missing: pass / drop' },
  PROMFLUX_SCALING_STATE_WRITE: { stage: 'transform', message: 'the scaling state file cannot be written', action: 'check that its directory exists and is writable' },
  // extract/encode in the worker
  PROMFLUX_FILL_FAILED: { stage: 'engine', message: 'a worker could not fill a batch (generate or decode its samples)', action: 'the message names batch and chunk; usually a bad response (see PROMFLUX_PROM_BAD_RESPONSE)' },
  PROMFLUX_ENCODE_FAILED: { stage: 'encode', message: 'a worker could not encode a batch', action: 'the message names batch and chunk; please report it with the chunk id' },
  PROMFLUX_ENCODE_OPTIONS: { stage: 'encode', message: 'invalid line-protocol writer options (precision, floatDigits)', action: 'fix encode.precision / encode.floatDigits' },
  PROMFLUX_ENCODE_TIMESTAMP: { stage: 'encode', message: 'a timestamp is not a finite epoch-ms value', action: 'a source or kernel bug: please report it with the chunk id' },
  PROMFLUX_ENCODE_UNENCODABLE: { stage: 'encode', message: 'a series key cannot be written as line protocol', action: 'counted as unencodable_<reason> (docs/ACCOUNTING.md); map the name or label with sink.schema' },
  // load
  PROMFLUX_SINK_AUTH: { stage: 'load', message: 'InfluxDB refused the credentials (401/403)', action: 'check sink.token (or username/password) and that it may write to the database/bucket' },
  PROMFLUX_SINK_NOT_FOUND: { stage: 'load', message: 'InfluxDB answered 404 for the database/bucket', action: 'create it with promflux setup --config FILE, or fix sink.db/rp/org/bucket' },
  PROMFLUX_SINK_HTTP: { stage: 'load', message: 'InfluxDB answered an HTTP status retrying cannot fix', action: 'check sink.url, sink.version and sink.precision' },
  PROMFLUX_SINK_OUTAGE: { stage: 'load', message: 'InfluxDB kept failing for longer than sink.retry.maxOutageMs', action: 'bring the server back and rerun (the checkpoint skips completed chunks), or raise sink.retry.maxOutageMs; no line was lost' },
  PROMFLUX_SINK_CLOSED: { stage: 'load', message: 'a write reached the InfluxDB sink after it was closed', action: 'expected after a stop or timeout: rerun to resume' },
  PROMFLUX_SINK_CANCELLED: { stage: 'load', message: 'a stop cancelled a write still in flight (engine.stopTimeoutMs passed, or a second signal); its lines are unacknowledged, not lost', action: 'rerun the same command: the checkpoint holds only what was acknowledged, and the resume writes the rest' },
  PROMFLUX_SINK_BAD_BATCH: { stage: 'load', message: 'a batch\'s line count does not match its line protocol; nothing was written', action: 'an encoder bug: please report it with the chunk id' },
  PROMFLUX_SINK_DEAD_LETTER: { stage: 'load', message: 'rejected lines cannot be appended to the dead-letter file; the run stops rather than lose them', action: 'check that sink.deadLetter is writable' },
  PROMFLUX_SINK_CARDINALITY: { stage: 'load', message: 'a measurement would exceed the cardinality limit; nothing of the batch was written', action: 'drop high-cardinality labels with schema.tags.deny/allow, raise sink.cardinality.limit, or set sink.cardinality.action: warn' },
  PROMFLUX_SINK_QUERY: { stage: 'load', message: 'an InfluxQL statement (setup, verify) failed', action: 'read InfluxDB\'s error in the message' },
  PROMFLUX_SINK_SETUP: { stage: 'load', message: 'promflux setup cannot reach the configured state (missing retention policy or organization)', action: 'add the retention policy to sink.setup.retentionPolicies, or create the organization' },
  PROMFLUX_SINK_UNREACHABLE: { stage: 'load', message: 'InfluxDB cannot be reached (setup, verify)', action: 'check that the server is up and sink.url is right' },
  PROMFLUX_SINK_VERIFY: { stage: 'load', message: 'promflux verify was called with an invalid range', action: 'give --start before --end' },
  PROMFLUX_SINK_NOT_OPEN: { stage: 'load', message: 'a sink was written before it was opened', action: 'a library-use bug: call open() first' },
  PROMFLUX_SINK_NO_COLUMNS: { stage: 'load', message: 'the Arrow sink got a batch without feature columns', action: 'a library-use bug: run columnar sinks through the pipeline' },
  PROMFLUX_SERIES_COLLISION: { stage: 'load', message: 'two source series map to one InfluxDB series (measurement + tag set) and sink.onCollision is fail', action: 'the message names both label sets; fix the schema mapping that merges them, or set sink.onCollision: drop (docs/LOAD.md "Series keys")' },
  PROMFLUX_VERIFY_MISMATCH: { stage: 'load', message: 'run --verify found the target short of (or beyond) what the run wrote or what the source holds', action: 'the message names the measurements, series or metrics and the likely cause (docs/LOAD.md "run --verify"); rerun the range after fixing it' },
  PROMFLUX_VERIFY_FAILED: { stage: 'load', message: 'run --verify could not read the target back', action: 'check that the target answers InfluxQL /query (1.x) or Flux (2.x); VictoriaMetrics answers neither: use --no-verify there' },
  PROMFLUX_SINK_WRITE: { stage: 'load', message: 'the file or Arrow sink could not append a batch (disk full, permissions, a pipe whose reader closed, I/O error)', action: 'the message names the file and batch; free space or fix permissions and rerun — with a checkpoint the resume cuts the file back to its last committed byte' },
  PROMFLUX_SINK_OPEN: { stage: 'load', message: 'the file or Arrow sink cannot open its output (a directory, no permission, a read-only filesystem, a path under a file)', action: 'the message names the path and the system error; point the sink at a writable file path' },
  PROMFLUX_SINK_CLOSE: { stage: 'load', message: 'a sink failed while closing (the last bytes or the Arrow footer could not be written); the run fails', action: 'the output is incomplete: fix the cause in the message (disk space, permissions) and rerun' },
  PROMFLUX_SINK_REUSED: { stage: 'load', message: 'a file or Arrow sink object was opened again after a run closed it; these sinks are single-use', action: 'create a new sink object for each run (or give the sink in the config and let the pipeline build one per run)' },
  PROMFLUX_SINK_ACCOUNTING: { stage: 'load', message: 'a sink accounted for fewer or more lines than the batch had', action: 'a sink bug: please report it with the batch and chunk ids' },
  // engine: dispatcher, run, checkpoint
  PROMFLUX_WORKER_FAILED: { stage: 'engine', message: 'a worker thread died on a batch through every retry', action: 'the message names batch and chunk; check memory (engine.memoryBudgetMb) and the logs above' },
  PROMFLUX_ERROR_RATE: { stage: 'engine', message: 'more than engine.maxErrorRate.ratio of the recent batch attempts failed', action: 'see the errors logged above' },
  PROMFLUX_INVALID_RATIO: { stage: 'engine', message: 'more than engine.maxInvalidRatio of the samples were dropped', action: 'see "dropped" in the summary for the reasons (docs/ACCOUNTING.md)' },
  PROMFLUX_RUN_FAILED: { stage: 'engine', message: 'the run failed with an error that has no code of its own', action: 'read the message; please report it so it gets a code' },
  PROMFLUX_CHECKPOINT_VERSION: { stage: 'engine', message: 'the checkpoint has a version this promflux does not read', action: 'move the checkpoint away to start over' },
  PROMFLUX_CHECKPOINT_CORRUPT: { stage: 'engine', message: 'the checkpoint cannot be read', action: 'move the checkpoint away to start over' },
  PROMFLUX_CHECKPOINT_SINK_MISMATCH: { stage: 'engine', message: 'the checkpoint was written by a run with another sink (kind or path)', action: 'resume with the same sink, or move the checkpoint away to start over' },
  PROMFLUX_CHECKPOINT_COMMIT: { stage: 'engine', message: 'a file/Arrow sink\'s last commit could not be recorded in the checkpoint', action: 'run the same command again: it finishes from the last recorded commit' },
  PROMFLUX_RESUME_OUTPUT_MISSING: { stage: 'engine', message: 'the output a checkpoint lists as committed is missing or shorter than recorded', action: 'restore the file (or part files), or move the checkpoint away to start over' },
  // access: read-back, training sets, feature serving (src/access/, docs/ACCESS.md)
  PROMFLUX_ACCESS_UNREACHABLE: { stage: 'access', message: 'InfluxDB cannot be reached for a read-back query', action: 'check that the server is up and the read url is right' },
  PROMFLUX_ACCESS_AUTH: { stage: 'access', message: 'InfluxDB refused the read-back credentials (401/403)', action: 'check token or username/password; on 2.x/3.x check the DBRP mapping of the db (docs/ACCESS.md)' },
  PROMFLUX_ACCESS_QUERY: { stage: 'access', message: 'InfluxDB rejected a read-back query or answered an error', action: 'read InfluxDB\'s error in the message; check measurement, field and tag names' },
  PROMFLUX_ACCESS_BAD_RESPONSE: { stage: 'access', message: 'the /query response is not InfluxDB\'s chunked JSON', action: 'check that the url points at InfluxDB itself, not a proxy or login page' },
  PROMFLUX_ACCESS_NON_NUMERIC: { stage: 'access', message: 'a read-back column holds strings', action: 'select numeric fields only' },
  PROMFLUX_ACCESS_RANGE: { stage: 'access', message: 'a read-back or export range is empty or inverted', action: 'give a start before the end' },
  PROMFLUX_ACCESS_SPEC: { stage: 'access', message: 'a training-set or export spec is invalid (features, target, split, sampling)', action: 'the message names the key; see docs/ACCESS.md' },
  PROMFLUX_ACCESS_ARROW: { stage: 'access', message: 'an Arrow file cannot be read back (not promflux\'s Arrow layout)', action: 'read files written by the arrow sink; the message names the missing column' },
  PROMFLUX_ACCESS_WRITE: { stage: 'access', message: 'the training set or its schema file cannot be written', action: 'check that the output directory is writable and has space' },
  PROMFLUX_ACCESS_CACHE: { stage: 'access', message: 'the query cache directory cannot be written', action: 'check the cache directory\'s permissions, or run with --no-cache' },
  // cli
  PROMFLUX_BENCH_MISSING: { stage: 'cli', message: 'the benchmark runner is not built', action: 'run promflux bench from a repository checkout after npm run build' },
} as const satisfies Record<string, ErrorInfo>;

export type ErrorCode = keyof typeof ERRORS;

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERRORS, code);
}

/** The base of every promflux error: a stable `code` and a message that defaults to the code's. */
export class PromfluxError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string = ERRORS[code].message, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'PromfluxError';
  }
}

/** Bad configuration or usage: the CLI exits 2. `file`, `line`, `key` locate the problem. */
export class ConfigError extends PromfluxError {
  constructor(
    message: string,
    readonly where: { file?: string; line?: number; column?: number; key?: string } = {},
  ) {
    const loc = [where.file, where.line !== undefined ? `line ${where.line}` : undefined, where.key ? `key "${where.key}"` : undefined]
      .filter(Boolean)
      .join(', ');
    super('PROMFLUX_CONFIG', loc ? `${loc}: ${message}` : message);
    this.name = 'ConfigError';
  }
}

/** The source failed (HTTP error, bad response, query error). */
export class SourceError extends PromfluxError {
  constructor(code: ErrorCode, message?: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'SourceError';
  }
}

/** The sink failed beyond what retries could fix. */
export class SinkError extends PromfluxError {
  constructor(code: ErrorCode, message?: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'SinkError';
  }
}

/** The scaling-state file (src/transform/scaling-state.ts) cannot be read, trusted or written. */
export class ScalingStateError extends PromfluxError {
  constructor(
    code: 'PROMFLUX_SCALING_STATE_READ' | 'PROMFLUX_SCALING_STATE_CORRUPT' | 'PROMFLUX_SCALING_STATE_VERSION' | 'PROMFLUX_SCALING_STATE_SERIES' | 'PROMFLUX_SCALING_STATE_WRITE',
    message?: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
    this.name = 'ScalingStateError';
  }
}

/**
 * A batch failed for good (after the dispatcher's retries): names batch, chunk, stage and kernel.
 * `code` comes from the worker's structured error (pool/task.ts) as a plain string. A fill error
 * can carry a foreign code (a Node system error's `ERR_…`); it is kept as `originalCode` and the
 * batch reports PROMFLUX_FILL_FAILED, so every code a run reports is in the registry.
 */
export class BatchFailedError extends PromfluxError {
  readonly originalCode: string;
  constructor(
    readonly batchId: number,
    readonly chunkId: string,
    readonly stage: string,
    readonly kernel: string | undefined,
    message: string,
    code: string,
  ) {
    super(isErrorCode(code) ? code : stage === 'fill' ? 'PROMFLUX_FILL_FAILED' : 'PROMFLUX_RUN_FAILED', message);
    this.originalCode = code;
    this.name = 'BatchFailedError';
  }
}

/** Markdown tables of every code, grouped by stage, for docs/ERRORS.md. */
export function renderErrorTables(): string {
  const stages: ErrorStage[] = ['config', 'extract', 'transform', 'encode', 'load', 'engine', 'access', 'cli'];
  const out: string[] = [];
  for (const stage of stages) {
    const rows = Object.entries(ERRORS as Record<string, ErrorInfo>).filter(([, e]) => e.stage === stage);
    if (rows.length === 0) continue;
    out.push(`### ${stage}`, '', '| code | what it means | what to do |', '| --- | --- | --- |');
    for (const [code, e] of rows) out.push(`| \`${code}\` | ${e.message} | ${e.action} |`);
    out.push('');
  }
  return out.join('\n').trimEnd();
}
