/** The load test (`promflux loadtest`, issue #19): open-loop writes at a target rate, measured from the intended time. */
export { runLoadtest, runLoadtestStep, defaultBatchLines } from './run.js';
export type { LoadtestOptions, FindMaxReport } from './run.js';
export { buildStepReport, formatReport, chartSvg } from './report.js';
export type { StepReport, VerifiedPoints, SloCheck } from './report.js';
export { parseRate, parseSlo, formatRate, tagCardinalities, DEFAULT_SLO } from './spec.js';
export type { LoadShape, SloTerm } from './spec.js';
export { Schedule } from './schedule.js';
export { LineGenerator } from './generator.js';
