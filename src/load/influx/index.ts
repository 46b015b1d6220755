/** InfluxDB loading: the sink, its config, setup and verify. */
export { influxSinkSchema, parseInfluxSinkConfig, parseSinkUrl } from './config.js';
export type { InfluxSinkConfig, InfluxSinkInput, RetentionPolicyConfig } from './config.js';
export { createInfluxSink } from './sink.js';
export type { InfluxSink, InfluxSinkDeps } from './sink.js';
export { setupInflux } from './setup.js';
export type { SetupReport } from './setup.js';
export { verifyInflux } from './verify.js';
export type { VerifyOptions, VerifyResult, MeasurementCheck } from './verify.js';
