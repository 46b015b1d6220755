/**
 * Every drop reason and every named counter promflux can report, declared once. The table in
 * docs/ACCOUNTING.md is checked against this list by test/accounting-reasons.test.ts, and that test
 * also scans src/ for reasons used in code, so a new reason cannot go undocumented.
 *
 * Names with a `<…>` part are families: `dead_letter:<reason>` matches `dead_letter:invalid_line`.
 * Kept free of imports so any thread can use it.
 */

export interface ReasonInfo {
  /** The name as it appears in `dropped` / `counters`, or a family pattern with one `<part>`. */
  readonly name: string;
  /** Pipeline stage that counts it. */
  readonly stage: 'extract' | 'transform' | 'encode' | 'load' | 'engine';
  /** What happened to the sample. */
  readonly meaning: string;
  /** What the operator can do about it. */
  readonly action: string;
}

/** Samples removed from the output, each counted under exactly one of these. */
export const DROP_REASONS: readonly ReasonInfo[] = [
  // extract: the decoder, before any kernel
  { name: 'duplicate_timestamp', stage: 'extract', meaning: 'the source returned a second sample of a series at a timestamp it already had (only the first is kept)', action: 'usually overlapping blocks or a federation loop upstream; nothing to do unless it is frequent' },
  { name: 'out_of_order', stage: 'extract', meaning: 'a sample older than the previous one of its series, in the source response or (validate `order`) within the lookback', action: 'check clocks and relabelling upstream; `validate.order: flag` keeps them flagged' },
  { name: 'tombstoned', stage: 'extract', meaning: 'prometheus-tsdb: a sample inside a deleted range (tombstone from /api/v1/admin/tsdb/delete_series), not exported, as Prometheus no longer returns it', action: 'expected after delete_series; clean_tombstones before the snapshot removes them from the files' },
  { name: 'native_histogram', stage: 'extract', meaning: 'prometheus-tsdb: a native-histogram sample (histogram / float-histogram chunk), not decoded; counted by its chunk\'s sample count in the batch holding the chunk\'s first timestamp', action: 'export native histograms another way (remote read also skips them); classic histograms (_bucket/_sum/_count) are exported' },
  // transform: validate's rules (a rule's `action: drop`)
  { name: 'nan', stage: 'transform', meaning: 'NaN sample value (`validate.nan: drop`, the default)', action: '`validate.nan: flag` keeps it as a null slot' },
  { name: 'inf', stage: 'transform', meaning: '±Inf sample value (`validate.inf: drop`)', action: '`validate.inf: clip` or `flag`' },
  { name: 'stale', stage: 'transform', meaning: 'a Prometheus staleness marker (`validate.stale: drop`)', action: 'expected when targets disappear' },
  { name: 'type', stage: 'transform', meaning: 'a value impossible for the metric type, e.g. a negative counter (`validate.types`)', action: '`validate.types: clip` or `flag`' },
  { name: 'duplicate', stage: 'transform', meaning: 'a repeated timestamp within `validate.order.lookback` rows', action: '`validate.order: flag`' },
  { name: 'future', stage: 'transform', meaning: 'a timestamp later than now + `validate.future.tolerance`', action: 'check the clock of the exporting host' },
  { name: 'gap', stage: 'transform', meaning: 'the sample after a gap longer than `validate.gap.max` (`action: drop`)', action: '`validate.gap.action: flag`' },
  { name: 'range', stage: 'transform', meaning: 'outside a `validate.ranges` entry that has no `name`', action: 'widen the range or use `action: clip` / `flag`' },
  { name: '<range rule name>', stage: 'transform', meaning: 'outside a named `validate.ranges` entry (the reason is its `name`)', action: 'widen the range or use `action: clip` / `flag`' },
  { name: '<business rule name>', stage: 'transform', meaning: 'failed a `validate.business` rule (its `name`)', action: 'fix the rule or use `action: flag`' },
  { name: 'outlier', stage: 'transform', meaning: 'an outlier by the `outliers` kernel with `action: drop`', action: '`outliers.action: flag` or `clip`' },
  { name: 'missing', stage: 'transform', meaning: 'a missing value `impute` could not fill, with `impute.dropUnfilled: true`', action: 'raise `impute.limit` / `impute.maxGap`, or choose another method' },
  { name: 'incomplete', stage: 'transform', meaning: 'the row\'s share of present values (sample value and listed features) was below `completeness.threshold`', action: 'lower `completeness.threshold`' },
  { name: 'unscaled', stage: 'transform', meaning: '`scale` with `missing: drop` met a series with no fitted parameters', action: 'fit first (`scale.fit`), or `missing: pass`' },
  // encode: a series' rows that cannot be written
  { name: 'schema_excluded', stage: 'encode', meaning: 'the series is excluded by `sink.schema` (a `drop`/`include` rule)', action: 'change the schema mapping' },
  { name: 'no_fields', stage: 'encode', meaning: 'the row has no finite value and no feature left to write (a point needs one field)', action: 'expected for kept NaN rows without features' },
  { name: 'unencodable_<reason>', stage: 'encode', meaning: 'the series cannot be written to InfluxDB: `series_key` (with `sink.tagValues: drop`, the measurement, a tag key or a tag value holds what line protocol cannot carry: LF, a trailing backslash, a leading `#`, the tag key `time`), `empty_name`, `trailing_backslash` / `reserved_key` (a field key ending in a backslash, or `time`), `key_too_long` (> 65535 bytes)', action: 'keep the default `sink.tagValues: escape` (reversible, see docs/LOAD.md), or map the name with `sink.schema`' },
  { name: 'series_collision', stage: 'encode', meaning: 'with `sink.onCollision: drop`, the series maps to the same InfluxDB series (measurement + tag set) as another source series that reached the sink first; both label sets are logged', action: 'fix the schema mapping that merges them (a renamed or removed label), or `sink.tagValues: escape`' },
  // load
  { name: 'dead_letter:<reason>', stage: 'load', meaning: 'InfluxDB rejected the line; it is in the dead-letter file with its reason: `invalid_line`, `outside_retention`, `field_type_conflict`, `limit_exceeded`, `line_too_large`, `rejected`', action: 'read the dead-letter file (`sink.deadLetter`), fix, re-send' },
  // engine
  { name: 'batch_failed:<stage or kernel>', stage: 'engine', meaning: 'a batch failed (a kernel threw, or fill/encode failed) and `engine.onError: skip` skipped it', action: 'read the logged error; `engine.onError: fail` stops instead' },
];

/** Named counters (summary `counters`): events that do not remove a sample. */
export const COUNTERS: readonly ReasonInfo[] = [
  { name: 'missing', stage: 'transform', meaning: 'a missing value seen (NaN kept by `validate.nan: flag`, or an absent step) — the quality score\'s completeness input', action: 'see `impute`' },
  { name: 'halo_refetch', stage: 'engine', meaning: 'a chunk fetched without its history (halo hand-off) found the previous chunk\'s tail unpublished, and was fetched again with its history (exact)', action: 'none; it follows a failed or retried previous chunk' },
  { name: 'halo_refill', stage: 'engine', meaning: 'a batch re-run with a wider halo because rows dropped in its halo left a series short of window context (exact for any batch split)', action: 'none; frequent refills mean many drops near chunk starts' },
  { name: 'halo_short', stage: 'engine', meaning: 'series runs whose first rows still lacked full window context after drops in the halo, because the source cannot widen it (Prometheus); logged at warn with the batch and chunk', action: 'their first feature values may differ from a run with other batch sizes: use larger chunks, or validate with action: flag instead of drop' },
  { name: 'unpaired:<kernel>', stage: 'transform', meaning: 'rows of an x / numerator series (`correlate`, `ratio`) whose partner series was not in the same batch, so their pair features are NaN (the sample itself is kept)', action: 'put both metrics in one query, or in queries the Prometheus planner can co-schedule (plain metric selectors; docs/EXTRACT.md "Co-scheduling")' },
  { name: 'imputed', stage: 'transform', meaning: 'a value filled by `impute`', action: 'none' },
  { name: 'fail:<flag>', stage: 'transform', meaning: 'a sample failed the rule whose flag is `<flag>`, whatever its action', action: 'none' },
  { name: 'flagged:<rule>', stage: 'transform', meaning: 'a sample flagged (kept, flag bit set) by rule `<rule>`', action: 'none' },
  { name: 'clipped:<rule>', stage: 'transform', meaning: 'a sample clipped into range by rule `<rule>`', action: 'none' },
];

function toRegExp(pattern: string): RegExp {
  const esc = pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/<[^>]+>/g, '.+');
  return new RegExp(`^${esc}$`);
}

const dropMatchers = DROP_REASONS.filter((r) => !r.name.startsWith('<')).map((r) => ({ r, re: toRegExp(r.name) }));

/**
 * The documented entry for a drop reason, or undefined. Names no fixed entry matches are
 * user-named validate rules (ranges, business), which the caller knows from the config.
 */
export function dropReasonInfo(name: string): ReasonInfo | undefined {
  for (const m of dropMatchers) if (m.re.test(name)) return m.r;
  return undefined;
}

export const reasonPattern = toRegExp;

function row(r: ReasonInfo): string {
  return `| \`${r.name}\` | ${r.stage} | ${r.meaning} | ${r.action} |`;
}

/** The two tables of docs/ACCOUNTING.md, as Markdown (the doc holds exactly this between markers). */
export function renderReasonTables(): string {
  const head = '| name | stage | meaning | what to do |\n|---|---|---|---|';
  return [
    '### Drop reasons (`dropped` in the summary, `promflux_dropped_total{reason}`)',
    '',
    head,
    ...DROP_REASONS.map(row),
    '',
    '### Counters (`counters` in the summary)',
    '',
    head,
    ...COUNTERS.map(row),
  ].join('\n');
}
