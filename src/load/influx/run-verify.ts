/**
 * `promflux run --verify`: points landed, not lines sent (docs/LOAD.md#run---verify).
 *
 * During the run the workers report, per batch (src/encode/verify-collect.ts): the points
 * written per measurement and field, the source samples per metric name, and the written values of
 * a seeded-hash sample of series. The main thread only merges these per measurement / per series.
 * After the run (sink closed, every write acknowledged):
 *  1. counts: COUNT of every field per measurement over the run's time range, read back from
 *     InfluxDB, must equal what the run wrote (minus dead letters, which are allowed to be absent);
 *  2. values: each sampled series is read back and every point must be present, bit-equal;
 *  3. source: for raw extractions, Prometheus' own count_over_time per metric over the run's
 *     windows must equal the samples the workers decoded. Combined with the run's accounting
 *     (samplesIn = linesOut + Σ dropped) and check 1, every stored sample is landed or dropped
 *     with a named reason.
 * Under a checkpoint the counts are cumulative over attempts (persisted with the coverage, in the
 * same durable write); the sampled values cover this attempt only and are checked as a subset.
 */
import type { Logger } from 'pino';
import { PromfluxError } from '../../errors.js';
import { AdminClient, ident } from './admin.js';
import type { InfluxSinkConfig } from './config.js';
import { parseCsv, verifyInflux } from './verify.js';
import { fluxString } from './admin.js';
import type { BatchVerify } from '../../encode/verify-collect.js';

export interface VerifySettings {
  seed: number;
  sampleRate: number;
  maxSampledSeries: number;
  sourceCounts: boolean;
  /** How long to keep re-reading counts that are still short (eventual visibility), ms. */
  settleMs: number;
}

export interface VerifyMismatch {
  check: 'points' | 'field' | 'sample' | 'source';
  measurement?: string;
  field?: string;
  series?: string;
  metric?: string;
  expected: number;
  found: number;
  cause: string;
}

export interface VerifiedSummary {
  ok: boolean;
  /** Measurements whose counts were read back. */
  measurements: number;
  /** Points found in InfluxDB over those measurements (and the run's range). */
  points: number;
  /** Points the run (all attempts) wrote there, dead letters excluded. */
  expectedPoints: number;
  sampledSeries: number;
  sampledPoints: number;
  /** Σ count_over_time over the run's raw queries and windows; null when not checked (see sourceCountsSkipped). */
  sourceCounts: number | null;
  sourceCountsSkipped?: string;
  /** Why the point counts were not compared (a shard: its time range holds other shards' points too). */
  countsSkipped?: string;
  /** Samples the workers decoded (what sourceCounts is compared with). */
  sourceSamples?: number;
  range: { startMs: number; endMs: number } | null;
  /** Counts cover earlier attempts too (restored from the checkpoint). */
  resumed: boolean;
  mismatches: VerifyMismatch[];
}

/** What the checkpoint keeps across attempts (msgpack-friendly plain data). */
export interface PersistedVerify {
  v: 1;
  fields: Record<string, Record<string, number>>;
  lines: Record<string, number>;
  deadLettered: Record<string, number>;
  sourceByMetric: Record<string, number>;
  oldestMs: number | null;
  newestMs: number | null;
}

interface Sampled {
  hash: number;
  measurement: string;
  key: string;
  field: string;
  int: boolean;
  ts: Float64Array[];
  values: Float64Array[];
}

const add = (o: Record<string, number>, k: string, n: number): void => {
  o[k] = (o[k] ?? 0) + n;
};

/** Per-run accumulator on the main thread: per measurement, per metric, per sampled series. */
export class RunVerifyState {
  readonly fields: Record<string, Record<string, number>> = {};
  readonly lines: Record<string, number> = {};
  readonly sourceByMetric: Record<string, number> = {};
  private priorDead: Record<string, number> = {};
  private dead: Record<string, number> = {};
  oldestMs = Infinity;
  newestMs = -Infinity;
  readonly samples = new Map<string, Sampled>();
  /** Counts restored from an earlier attempt. */
  resumed = false;

  constructor(readonly settings: VerifySettings) {}

  restore(p: PersistedVerify): void {
    for (const [m, f] of Object.entries(p.fields)) for (const [k, n] of Object.entries(f)) add((this.fields[m] ??= {}), k, n);
    for (const [m, n] of Object.entries(p.lines)) add(this.lines, m, n);
    for (const [m, n] of Object.entries(p.sourceByMetric)) add(this.sourceByMetric, m, n);
    this.priorDead = { ...p.deadLettered };
    if (p.oldestMs !== null) this.oldestMs = Math.min(this.oldestMs, p.oldestMs);
    if (p.newestMs !== null) this.newestMs = Math.max(this.newestMs, p.newestMs);
    this.resumed = true;
  }

  /** One accepted batch: its worker report, emitted lines per measurement, time span. */
  add(v: BatchVerify | undefined, perMeasurement: Record<string, number>, oldestMs: number, newestMs: number): void {
    for (const [m, n] of Object.entries(perMeasurement)) add(this.lines, m, n);
    if (oldestMs < this.oldestMs) this.oldestMs = oldestMs;
    if (newestMs > this.newestMs) this.newestMs = newestMs;
    if (!v) return;
    for (const [m, f] of Object.entries(v.fields)) for (const [k, n] of Object.entries(f)) add((this.fields[m] ??= {}), k, n);
    for (const [m, n] of Object.entries(v.sourceByMetric)) add(this.sourceByMetric, m, n);
    for (const s of v.samples) {
      let e = this.samples.get(s.series);
      if (!e) {
        // Keep the maxSampledSeries smallest hashes: the same series whatever the batch order.
        if (this.samples.size >= this.settings.maxSampledSeries) {
          let worst: string | undefined;
          let wh = -1;
          for (const [k, x] of this.samples) if (x.hash > wh) [worst, wh] = [k, x.hash];
          if (s.hash >= wh) continue;
          this.samples.delete(worst!);
        }
        e = { hash: s.hash, measurement: s.measurement, key: s.key, field: s.field, int: s.int, ts: [], values: [] };
        this.samples.set(s.series, e);
      }
      e.ts.push(s.ts);
      e.values.push(s.values);
    }
  }

  /** Dead-lettered lines per measurement of this attempt so far (the sink's cumulative stats). */
  setDeadLettered(d: Record<string, number> | undefined): void {
    this.dead = { ...(d ?? {}) };
  }

  deadLettered(): Record<string, number> {
    const out = { ...this.priorDead };
    for (const [m, n] of Object.entries(this.dead)) add(out, m, n);
    return out;
  }

  persisted(): PersistedVerify {
    return {
      v: 1,
      fields: this.fields,
      lines: this.lines,
      deadLettered: this.deadLettered(),
      sourceByMetric: this.sourceByMetric,
      oldestMs: Number.isFinite(this.oldestMs) ? this.oldestMs : null,
      newestMs: Number.isFinite(this.newestMs) ? this.newestMs : null,
    };
  }
}

/**
 * Split a line-protocol series key (`m,k=v,…`, escaped) into what InfluxDB 1.x stores. Its parser
 * (models/points.go, checked against influxd) takes a `,` or `=` as escaped when the byte before it
 * is a backslash (not pair-aware: `k=a\\\,b` stores `a\\,b`), then replaces `\,` `\ ` (and `\=` in tags)
 * by the character. Keys where a label value's own backslash precedes such a character are
 * ambiguous in line protocol; #11's tag-value policy keeps promflux from writing them.
 */
export function parseLineKey(key: string): { measurement: string; tags: Record<string, string> } {
  const parts: string[] = [];
  let from = 0;
  for (let i = 0; i < key.length; i++) {
    if (key[i] === ',' && key[i - 1] !== '\\') {
      parts.push(key.slice(from, i));
      from = i + 1;
    }
  }
  parts.push(key.slice(from));
  const unesc = (s: string, tag: boolean): string => s.replace(tag ? /\\([, =])/g : /\\([, ])/g, '$1');
  const tags: Record<string, string> = {};
  for (const p of parts.slice(1)) {
    let eq = -1;
    for (let i = 0; i < p.length; i++) {
      if (p[i] === '=' && p[i - 1] !== '\\') {
        eq = i;
        break;
      }
    }
    tags[unesc(p.slice(0, eq), true)] = unesc(p.slice(eq + 1), true);
  }
  return { measurement: unesc(parts[0]!, false), tags };
}

/** InfluxQL single-quoted string literal (the scanner knows \\ \' \n). */
function influxqlString(s: string): string {
  return "'" + s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n') + "'";
}

const PRECISION_MS: Record<string, number> = { s: 1000, ms: 1, us: 1, ns: 1 };

const CAUSE = {
  short:
    'InfluxDB holds fewer points than the run wrote: writes acknowledged but not stored (a proxy or load balancer that drops requests, a server that lost its WAL), points deleted or expired by a retention policy shorter than the data\'s age, or several source samples mapped to one series key and timestamp (they overwrite each other: series-key collisions, precision coarser than the samples)',
  extra:
    'InfluxDB holds more points than this run wrote in its time range: other writers or earlier runs with different data in these measurements, or a changed schema mapping; verify compares exact counts, so load into a database or time range only this pipeline writes',
  value: 'a point read back differs from the value written: a value the encoding does not carry exactly (e.g. -0, encode.floatDigits), a field type conflict, or another writer overwriting the series',
  missing: 'points of a sampled series are missing in InfluxDB (see the count mismatches for the likely cause)',
  sourceShort:
    'the run decoded fewer samples than Prometheus stores in the run\'s windows: a response cut short without an error (a remote-read body cut between frames looks complete), a proxy or limit truncating results, or series deleted from Prometheus during the run; rerun (without the checkpoint) to reload',
  sourceExtra:
    'the run decoded more samples than Prometheus stores in the run\'s windows: queries that select the same series more than once, or samples added to Prometheus inside the window during the run (out-of-order or backfilled ingestion)',
};

export interface VerifyRunContext {
  sink: InfluxSinkConfig;
  precision: 's' | 'ms' | 'us' | 'ns';
  floatDigits: number;
  logger: Logger;
  /** Raw-extraction source counts; undefined = not applicable (with the reason). */
  sourceCounts: (() => Promise<{ byMetric: Record<string, number> }>) | undefined;
  sourceCountsSkipped?: string;
  /** Do not compare point counts (and why). */
  countsSkipped?: string;
}

export async function verifyRun(state: RunVerifyState, ctx: VerifyRunContext): Promise<VerifiedSummary> {
  const mismatches: VerifyMismatch[] = [];
  const dead = state.deadLettered();
  const unit = PRECISION_MS[ctx.precision] ?? 1;
  const expected: Record<string, number> = {};
  for (const [m, n] of Object.entries(state.lines)) if (n - (dead[m] ?? 0) > 0 || n > 0) expected[m] = n - (dead[m] ?? 0);
  const measurements = Object.keys(expected).sort();
  const range = Number.isFinite(state.oldestMs) && Number.isFinite(state.newestMs) ? { startMs: Math.floor(state.oldestMs / unit) * unit, endMs: state.newestMs + 1 } : null;
  let points = 0;
  let expectedPoints = 0;

  // 1. counts per measurement and field
  if (range && measurements.length && !ctx.countsSkipped) {
    const deadline = Date.now() + state.settings.settleMs;
    for (;;) {
      mismatches.length = 0;
      points = 0;
      expectedPoints = 0;
      const r = await verifyInflux(ctx.sink, { ...range, expected, fieldCounts: true });
      let short = false;
      for (const m of measurements) {
        const found = r.perMeasurement[m]?.fields ?? {};
        const want = state.fields[m] ?? {};
        const dl = dead[m] ?? 0;
        const lines = state.lines[m] ?? 0;
        // The field every line carries (the value column, unless kernels left NaN values with features).
        const everyLine = Object.entries(want).find(([, n]) => n === lines)?.[0];
        const foundPoints = everyLine !== undefined ? (found[everyLine] ?? 0) : Math.max(0, ...Object.values(found));
        points += foundPoints;
        expectedPoints += lines - dl;
        for (const f of [...new Set([...Object.keys(want), ...Object.keys(found)])].sort()) {
          const w = want[f] ?? 0;
          const got = found[f] ?? 0;
          // Dead-lettered lines are in the dead-letter file, not in InfluxDB: allow up to dl fewer.
          if (got <= w && got >= w - dl) continue;
          if (got < w) short = true;
          mismatches.push({
            check: f === everyLine ? 'points' : 'field',
            measurement: m,
            ...(f === everyLine ? {} : { field: f }),
            expected: w - dl,
            found: got,
            cause: got < w ? CAUSE.short : CAUSE.extra,
          });
        }
      }
      // InfluxDB 1.x answers queries from its cache right after a 204; 2.x and VictoriaMetrics
      // may take a moment: re-read short counts until settleMs has passed.
      if (!short || Date.now() >= deadline) break;
      await new Promise((res) => setTimeout(res, 250));
    }
  }

  // 2. sampled series' values
  const sampled = [...state.samples.entries()].sort((a, b) => a[1].hash - b[1].hash);
  let sampledPoints = 0;
  const admin = new AdminClient(ctx.sink);
  try {
    for (const [series, s] of sampled) {
      const n = s.ts.reduce((a, t) => a + t.length, 0);
      const ts = new Float64Array(n);
      const vs = new Float64Array(n);
      let o = 0;
      for (let i = 0; i < s.ts.length; i++) {
        ts.set(s.ts[i]!, o);
        vs.set(s.values[i]!, o);
        o += s.ts[i]!.length;
      }
      sampledPoints += n;
      let lo = Infinity;
      let hi = -Infinity;
      for (let i = 0; i < n; i++) {
        if (ts[i]! < lo) lo = ts[i]!;
        if (ts[i]! > hi) hi = ts[i]!;
      }
      // In time windows of ~5,000 expected points: a server's max-row-limit must not cut the answer.
      const got = new Map<number, number>();
      const windows = Math.max(1, Math.ceil(n / 5000));
      const from = Math.floor(lo / unit) * unit;
      const span = hi + 1 - from;
      for (let w = 0; w < windows; w++) {
        const a = from + Math.floor((span * w) / windows);
        const b = w === windows - 1 ? hi + 1 : from + Math.floor((span * (w + 1)) / windows);
        if (b > a) for (const [t, v] of await readSeries(ctx.sink, admin, s.key, s.field, a, b)) got.set(t, v);
      }
      let missing = 0;
      let differ = 0;
      let firstDiff = '';
      for (let i = 0; i < n; i++) {
        const t = Math.floor(ts[i]! / unit) * unit;
        const v = got.get(t);
        if (v === undefined) {
          missing++;
          continue;
        }
        const want = vs[i]!;
        const same = s.int || ctx.floatDigits === 0 ? Object.is(v, want) : Math.abs(v - want) <= Math.abs(want) * 10 ** (1 - ctx.floatDigits);
        if (!same) {
          differ++;
          if (!firstDiff) firstDiff = ` (first at ${new Date(t).toISOString()}: wrote ${Object.is(want, -0) ? '-0' : want}, read ${Object.is(v, -0) ? '-0' : v})`;
        }
      }
      if (missing && (dead[s.measurement] ?? 0) >= missing) missing = 0; // dead-lettered, accounted for
      if (missing || differ) {
        mismatches.push({
          check: 'sample',
          measurement: s.measurement,
          series,
          field: s.field,
          expected: n,
          found: n - missing - differ,
          cause: (differ ? CAUSE.value + firstDiff : CAUSE.missing) + (missing && differ ? `; ${missing} missing` : ''),
        });
      }
    }
  } finally {
    await admin.close();
  }

  // 3. the source's own counts
  let sourceCounts: number | null = null;
  let sourceSamples: number | undefined;
  let skipped = ctx.sourceCountsSkipped;
  if (ctx.sourceCounts && !skipped) {
    const { byMetric } = await ctx.sourceCounts();
    sourceCounts = Object.values(byMetric).reduce((a, b) => a + b, 0);
    const seen = state.sourceByMetric;
    sourceSamples = Object.values(seen).reduce((a, b) => a + b, 0);
    const unplaced = seen['(unplaced)'] ?? 0;
    for (const m of [...new Set([...Object.keys(byMetric), ...Object.keys(seen)])].sort()) {
      if (m === '(unplaced)') continue;
      const want = byMetric[m] ?? 0;
      const got = seen[m] ?? 0;
      if (want === got) continue;
      mismatches.push({ check: 'source', metric: m, expected: want, found: got, cause: got < want ? CAUSE.sourceShort : CAUSE.sourceExtra });
    }
    if (unplaced && !mismatches.some((x) => x.check === 'source')) {
      // Decoded but unplaceable samples (duplicate timestamps, out of order) are not in count_over_time.
      mismatches.push({ check: 'source', metric: '(unplaced)', expected: 0, found: unplaced, cause: CAUSE.sourceExtra });
    }
  } else if (!ctx.sourceCounts) skipped ??= 'not a raw extraction';

  return {
    ok: mismatches.length === 0,
    measurements: range && !ctx.countsSkipped ? measurements.length : 0,
    points,
    expectedPoints,
    sampledSeries: sampled.length,
    sampledPoints,
    sourceCounts,
    ...(skipped ? { sourceCountsSkipped: skipped } : {}),
    ...(ctx.countsSkipped ? { countsSkipped: ctx.countsSkipped } : {}),
    ...(sourceSamples !== undefined ? { sourceSamples } : {}),
    range,
    resumed: state.resumed,
    mismatches,
  };
}

/** One sampled series' points of `field` in [startMs, endMs): timestamp (ms) → value. */
async function readSeries(cfg: InfluxSinkConfig, admin: AdminClient, key: string, field: string, startMs: number, endMs: number): Promise<Map<number, number>> {
  const { measurement, tags } = parseLineKey(key);
  const out = new Map<number, number>();
  const tagKeys = Object.keys(tags);
  if (cfg.version === 1) {
    const src = cfg.rp ? `${ident(cfg.rp)}.${ident(measurement)}` : ident(measurement);
    const where = [...tagKeys.map((k) => `${ident(k)} = ${influxqlString(tags[k]!)}`), `time >= ${startMs}ms`, `time < ${endMs}ms`].join(' AND ');
    // GROUP BY *: series with more tags than ours also match the WHERE; keep only the exact tag set.
    const res = await admin.influxql(`SELECT ${ident(field)} FROM ${src} WHERE ${where} GROUP BY *`, cfg.db!);
    for (const s of res[0]?.series ?? []) {
      const st = (s as { tags?: Record<string, string> }).tags ?? {};
      if (!Object.entries(st).every(([k, v]) => (tags[k] ?? '') === v)) continue;
      const ti = s.columns.indexOf('time');
      const vi = s.columns.indexOf(field);
      for (const row of s.values) if (row[vi] !== null && row[vi] !== undefined) out.set(Number(row[ti]), Number(row[vi]));
    }
    return out;
  }
  const filter = [`r._measurement == ${fluxString(measurement)}`, `r._field == ${fluxString(field)}`, ...tagKeys.map((k) => `r[${fluxString(k)}] == ${fluxString(tags[k]!)}`)].join(' and ');
  const q =
    `from(bucket: ${fluxString(cfg.bucket!)})\n  |> range(start: time(v: ${startMs}000000), stop: time(v: ${endMs}000000))\n` +
    `  |> filter(fn: (r) => ${filter})\n  |> map(fn: (r) => ({ r with _t: int(v: r._time) / 1000000 }))`;
  const path = `/api/v2/query${cfg.org ? `?org=${encodeURIComponent(cfg.org)}` : ''}`;
  const { status, text } = await admin.call('POST', path, JSON.stringify({ query: q, type: 'flux', dialect: { header: true, annotations: [] } }), 'application/json', 'application/csv');
  if (status >= 300) throw admin.httpError('Flux query', status, text);
  const fixed = new Set(['', 'result', 'table', '_start', '_stop', '_time', '_value', '_field', '_measurement', '_t']);
  for (const row of parseCsv(text)) {
    // Exact tag set: a table whose extra tag columns are non-empty is another series.
    if (Object.entries(row).some(([k, v]) => !fixed.has(k) && v !== '' && tags[k] !== v)) continue;
    if (row._t !== undefined && row._value !== undefined) out.set(Number(row._t), Number(row._value));
  }
  return out;
}

/** The error a failed verification ends the run with (exit 1). */
export function verifyError(v: VerifiedSummary): PromfluxError {
  const by = (c: VerifyMismatch['check']) => v.mismatches.filter((m) => m.check === c);
  const parts: string[] = [];
  const counts = [...by('points'), ...by('field')];
  if (counts.length) {
    const ms = [...new Set(counts.map((m) => m.measurement!))];
    const first = counts[0]!;
    parts.push(`point counts differ in ${ms.length} measurement(s): ${ms.slice(0, 10).join(', ')}${ms.length > 10 ? ', …' : ''} (e.g. ${first.measurement}${first.field ? `.${first.field}` : ''}: wrote ${first.expected}, found ${first.found}) — likely cause: ${first.cause}`);
  }
  const samples = by('sample');
  if (samples.length) {
    const first = samples[0]!;
    parts.push(`${samples.length} of ${v.sampledSeries} sampled series differ (e.g. ${first.series} in ${first.measurement}: ${first.found} of ${first.expected} points match) — ${first.cause}`);
  }
  const src = by('source');
  if (src.length) {
    const first = src[0]!;
    parts.push(`source counts differ for ${src.map((m) => m.metric).slice(0, 10).join(', ')} (e.g. ${first.metric}: Prometheus stores ${first.expected}, the run read ${first.found}) — likely cause: ${first.cause}`);
  }
  return new PromfluxError('PROMFLUX_VERIFY_MISMATCH', `verify: ${parts.join('; ')}. The summary's "verified.mismatches" lists every difference`);
}
