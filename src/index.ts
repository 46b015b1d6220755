/**
 * promflux — library front door. Explicit named exports only (Arrow JS's habit).
 *
 * ```ts
 * import { createPipeline } from 'promflux';
 * const p = createPipeline({ name: 'x', source: { kind: 'synthetic', series: 70 }, sink: { kind: 'null' },
 *                            transform: [{ kind: 'validate' }, { kind: 'rolling' }] });
 * p.on('progress', (e) => console.log(e.samplesIn));
 * const summary = await p.run({ signal: AbortSignal.timeout(60_000) });
 * ```
 */
export { createPipeline, Pipeline, droppedTotal } from './pipeline/run.js';
export { StopRequested, type StopEnding } from './pipeline/stop.js';
export { createEngine, Engine } from './pipeline/engine.js';
export type { EngineOptions, EnginePipelineOptions } from './pipeline/engine.js';
export type { RunSummary, StopSummary, ProgressEvent, RunOptions, PipelineOptions, PipelineEvents } from './pipeline/run.js';
export type { BatchEvent, Unacknowledged } from './pipeline/dispatcher.js';
export type { ProcessResult } from './pool/task.js';
export type { HealthStatus } from './observe/health.js';
export type { StallState } from './observe/stall.js';
export { loadConfigFile, parseConfigText, validatePipeline, selectPipeline } from './config/load.js';
export type { PromfluxConfig, PipelineConfig, PipelineInput, EngineConfig, SinkConfig, SourceConfig } from './config/schema.js';
export { PromfluxError, ConfigError, SourceError, SinkError, ScalingStateError, BatchFailedError, ERRORS, isErrorCode } from './errors.js';
export type { ErrorCode, ErrorInfo } from './errors.js';
export { registerSource, registerSink, sourceKinds, sinkKinds, parseSinkFlag } from './config/components.js';
export { defineSource, defineSink } from './config/component.js';
export type { SourceDescriptor, SinkDescriptor, ComponentDeps, SinkDeps } from './config/component.js';
export { BatchSizer } from './pipeline/adaptive.js';
export type { SizerOptions } from './pipeline/adaptive.js';
export { createEngineMetrics } from './observe/metrics.js';
export type { EngineMetrics } from './observe/metrics.js';
export { createLogger } from './observe/logger.js';
export { registerKernel, kernelKinds, compileTransforms } from './transform/registry.js';
export type { Kernel, KernelContext, KernelFactory, TransformSpec } from './transform/kernel.js';
/** Batch helpers a kernel needs: walk per-series runs, test a row's HALO / DROPPED bits. */
export { forEachRun, isDropped, isHalo } from './transform/kernel.js';
export { allocBatch, viewBatch, seriesKey, parseSeriesKey, FLAG_HALO, FLAG_DROPPED, RUN_STRIDE, SeriesKind } from './batch/layout.js';
export type { BatchDescriptor, BatchView, BatchColumns, BatchSeriesTable, SeriesKindName } from './batch/layout.js';
export { BatchBuilder } from './batch/builder.js';
export type { Source, SourceChunk, FillSpec, SourceOpenOptions, SourceProgress } from './extract/source.js';
export type { Sink, SinkNeeds, EncodedBatch, SinkWriteResult, SinkCommit, SinkResumeState, FeatureColumns } from './load/sink.js';
export { SyntheticSource } from './extract/synthetic.js';
export type { SyntheticSourceConfig } from './extract/synthetic.js';
export { FileSink } from './load/file.js';
export { NullSink } from './load/null.js';
export { ArrowSink } from './load/arrow.js';
export { loadScalingState, saveScalingState, inverseTransform, transform, scalingStateMap } from './transform/scaling-state.js';
export type { ScalingState } from './transform/scaling-state.js';
export { qualityFromCounts, DEFAULT_QUALITY_WEIGHTS } from './transform/quality.js';
export type { QualityMetrics, QualityWeights } from './transform/quality.js';
export { defaultFeatureSet } from './transform/kernels/index.js';
/** Typed `transform` entries of the ML feature kernels (lags, calendar, autocorr, correlate, spectral, group). */
export type { AutocorrSpec, CalendarField, CalendarSpec, CorrelateSpec, DurationInput, FeatureKernelSpec, GroupSpec, LagsSpec, SpectralSpec, WindowInput } from './transform/kernels/index.js';
export { LineWriter, encodeSeriesKey, encodeFieldKey, mapSeriesKey, seriesKeyText } from './encode/lineprotocol.js';
export type { KeyOptions, MappedKey } from './encode/lineprotocol.js';
/** Inverse of the default key policy: readers of the data decode tag values (and keys, measurements) with it. */
export { decodeTagValue, applyKeyPolicy } from './encode/escape.js';
export type { KeyPolicy, KeyPart } from './encode/escape.js';
export { SERIES_COLLISION_REASON, UNENCODABLE_SERIES_KEY_REASON } from './load/schema.js';
export { createPrometheusSource } from './extract/prometheus/source.js';
export type { PrometheusSourceConfig } from './extract/prometheus/config.js';
export { createInfluxSink, setupInflux, verifyInflux } from './load/influx/index.js';
export type { InfluxSinkConfig } from './load/influx/index.js';
export { CheckpointStore } from './pipeline/checkpoint.js';
export { startService } from './cli/serve.js';
export { trainingSet, SPLITS } from './access/training.js';
export type { TrainingSpec, TrainingSet, FeatureSpec, TargetSpec, SampleSpec, BlockReader } from './access/training.js';
export { queryInflux, readInflux, influxReader, buildInfluxQL } from './access/query.js';
export type { InfluxReadConfig, ReadSpec } from './access/query.js';
export { decodeChunk, decodeChunkedStream } from './access/decode.js';
export type { SeriesBlock } from './access/decode.js';
export { readArrowFile, arrowReader } from './access/arrow-read.js';
export { toArrowTable, encodeTrainingSet, describeTrainingSet, writeTrainingSet } from './access/formats.js';
export type { ExportFormat, SchemaDescription } from './access/formats.js';
export { runExport, loadExportSpec, exportSpecSchema } from './access/export.js';
export type { ExportSpec, ExportOptions, ExportResult } from './access/export.js';
export { cachedInfluxReader } from './access/cache.js';
export type { CacheOptions, CacheStats } from './access/cache.js';
