/**
 * Typed `transform` entries of the ML feature kernels, for library users: what YAML takes, as
 * TypeScript (docs/TRANSFORMS.md defines each option). Any of them can go into
 * `createPipeline({ transform: [...] })`; the factories validate them exactly as they do YAML.
 *
 * Windows are a sample count (`60`) or a duration string (`'1h'`, the grammar of
 * src/util/duration.ts).
 */
import type { CalendarField } from './calendar.js';

export type WindowInput = number | string;
/** A duration: "30s", "5m", "1h30m", or a number of seconds. */
export type DurationInput = string | number;

export type LagsSpec = {
  kind: 'lags';
  lags?: number[];
  asOf?: DurationInput[];
  tolerance?: DurationInput;
  diffs?: number[];
  pctChanges?: number[];
  prefix?: string;
};

export type CalendarSpec = {
  kind: 'calendar';
  /** IANA zone, default UTC. */
  timezone?: string;
  fields?: CalendarField[];
  cyclical?: CalendarField[] | boolean;
  prefix?: string;
};

export type AutocorrSpec = {
  kind: 'autocorr';
  lags?: number[];
  windows?: WindowInput[];
  minPeriods?: number;
  prefix?: string;
};

export type CorrelateSpec = {
  kind: 'correlate';
  /** Metric-name regex of the series the features go on. */
  x: string;
  y: string;
  on?: string[];
  ignoring?: string[];
  windows?: WindowInput[];
  stats?: ('corr' | 'cov')[];
  /** Lead/lag cross-correlation lags in rows (negative: x leads). */
  lags?: number[];
  minPeriods?: number;
  output?: string;
};

export type SpectralSpec = {
  kind: 'spectral';
  window?: WindowInput;
  /** FFT size (power of two) for a duration window; default 64. */
  size?: number;
  bins?: number;
  /** Band name → [shortest period, longest period]. */
  bands?: Record<string, [DurationInput, DurationInput]>;
  stats?: ('period' | 'entropy')[];
  minPeriods?: number;
  prefix?: string;
};

export type GroupSpec = {
  kind: 'group';
  metric?: string;
  by: string[];
  stats?: ('deviation' | 'zscore' | 'size')[];
  minMembers?: number;
  prefix?: string;
};

/** Any ML feature kernel entry. */
export type FeatureKernelSpec = LagsSpec | CalendarSpec | AutocorrSpec | CorrelateSpec | SpectralSpec | GroupSpec;
