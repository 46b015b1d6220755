/** Prometheus source: public surface for the engine, CLI and config. */
export { createPrometheusSource, PrometheusSource, type PrometheusSourceDeps } from './source.js';
export { prometheusSourceSchema, resolveQueries, type PrometheusSourceConfig, type PrometheusSourceInput } from './config.js';
export { promFillers, type PromFill, type PromMatrixFill, type PromRemoteReadFill } from './fillers.js';
export { FileWatermarkStore, MemoryWatermarkStore, type WatermarkStore } from './watermarks.js';
export { PrometheusApi, type MetricMetadata, type InstantResult } from './api.js';
export { PromErrorCode } from './errors.js';
export { BUILTIN_TEMPLATES, FAMILIES } from './templates.js';
