/**
 * ML feature kernels (lags, calendar, autocorr, correlate, spectral, group): each compared with a
 * plain reference (test/oracle/features.ts) on random series, and bit-identical under random
 * batch splits (test/oracle/batch.ts runSplit). Polars as oracle: test/transform-polars-features.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compileTransforms } from '../src/transform/registry.js';
import { collectRun, firstDifference, runSpecs, runSplit } from './oracle/batch.js';
import { seriesWithCuts } from './oracle/arbitraries.js';
import { refAsOf, refCalendar, refDiff, refLag, refPctChange } from './oracle/features.js';

const KEY = 'm{job="a"}';
const RUNS = Number(process.env.PROMFLUX_PROPERTY_RUNS ?? 60);

function splitInvariant(specs: Record<string, unknown>[], s: { ts: number[]; v: number[] }, cuts: number[]): void {
  const whole = runSplit(specs as never, { key: KEY, ts: s.ts, v: s.v }, []);
  const split = runSplit(specs as never, { key: KEY, ts: s.ts, v: s.v }, cuts);
  assert.deepEqual(split.rows.ts, whole.rows.ts);
  for (const [name, col] of Object.entries(whole.rows.features)) {
    const bad = firstDifference(split.rows.features[name]!, col);
    assert.equal(bad, null, `${name} cuts ${cuts.join(',')}: ${bad}`);
  }
}

// ---- lags ----

const LAG_SPEC = { kind: 'lags', lags: [1, 3], diffs: [1, 2], pctChanges: [1], asOf: ['1m', '1h'], tolerance: '30s' };

test('lags, diffs, pct changes and as-of lags equal the reference on surviving rows (NaN dropped by validate)', () => {
  fc.assert(
    fc.property(seriesWithCuts, ({ s }) => {
      const { ctx } = runSpecs([{ kind: 'validate' }, LAG_SPEC], [{ key: KEY, ts: s.ts, v: s.v, halo: 0 }]);
      const names = compileTransforms([LAG_SPEC])[0]!.outputs;
      const got = collectRun(ctx, 0, names);
      const keep = s.v.map((v) => Number.isFinite(v));
      const ts = s.ts.filter((_, i) => keep[i]);
      const x = s.v.filter((_, i) => keep[i]);
      assert.deepEqual(got.ts, ts);
      const want: Record<string, number[]> = {
        lag_1: refLag(x, 1), lag_3: refLag(x, 3), diff_1: refDiff(x, 1), diff_2: refDiff(x, 2), pct_change_1: refPctChange(x, 1),
        lag_1m: refAsOf(ts, x, 60_000, 30_000), lag_1h: refAsOf(ts, x, 3_600_000, 30_000),
      };
      for (const n of names) assert.equal(firstDifference(got.features[n]!, want[n]!), null, n);
    }),
    { numRuns: RUNS },
  );
});

test('a NaN kept by validate (nan: flag) is a null slot for lags: it counts as a row and lags to NaN', () => {
  fc.assert(
    fc.property(seriesWithCuts, ({ s }) => {
      const { ctx } = runSpecs([{ kind: 'validate', nan: 'flag' }, LAG_SPEC], [{ key: KEY, ts: s.ts, v: s.v, halo: 0 }]);
      const got = collectRun(ctx, 0, ['lag_3', 'diff_1']);
      assert.equal(firstDifference(got.features['lag_3']!, refLag(s.v, 3)), null);
      assert.equal(firstDifference(got.features['diff_1']!, refDiff(s.v, 1)), null);
    }),
    { numRuns: Math.max(10, RUNS / 3) },
  );
});

test('lag features are bit-identical under random batch splits (with drops before them)', () => {
  fc.assert(
    fc.property(seriesWithCuts, ({ s, cuts }) => {
      splitInvariant([{ kind: 'validate' }, LAG_SPEC], s, cuts);
      splitInvariant([{ kind: 'validate', nan: 'flag' }, LAG_SPEC], s, cuts);
    }),
    { numRuns: RUNS },
  );
});

test('lags reject bad options with the option named', () => {
  assert.throws(() => compileTransforms([{ kind: 'lags' }]), /nothing to compute/);
  assert.throws(() => compileTransforms([{ kind: 'lags', lags: [0] }]), /option "lags"/);
  assert.throws(() => compileTransforms([{ kind: 'lags', lags: [2, 2] }]), /twice/);
  assert.throws(() => compileTransforms([{ kind: 'lags', asOf: ['soon'] }]), /option "asOf\[0\]" is not a duration/);
  assert.throws(() => compileTransforms([{ kind: 'lags', lags: [1], lag: 2 }]), /option "lag" is unknown/);
});

// ---- calendar ----

const CAL_FIELDS = ['hour', 'minute_of_day', 'day_of_week', 'day_of_month', 'month', 'iso_week', 'weekend'];

function calendarCheck(timezone: string, ts: number[]): void {
  const spec = { kind: 'calendar', timezone, cyclical: ['hour', 'day_of_week', 'month'] };
  const { ctx } = runSpecs([spec], [{ key: KEY, ts, v: ts.map(() => 1), halo: 0 }]);
  const names = compileTransforms([spec])[0]!.outputs;
  const got = collectRun(ctx, 0, names).features;
  for (let i = 0; i < ts.length; i++) {
    const want = refCalendar(ts[i]!, timezone);
    for (const f of CAL_FIELDS) assert.equal(got[f]![i], want[f], `${timezone} ${new Date(ts[i]!).toISOString()} ${f}`);
    assert.equal(got['hour_sin']![i], Math.sin((2 * Math.PI / 24) * want['hour']!));
    assert.equal(got['month_cos']![i], Math.cos((2 * Math.PI / 12) * (want['month']! - 1)));
  }
}

test('calendar fields equal Intl per sample across DST changes (Berlin, New York, Sydney, Kathmandu, UTC)', () => {
  // every 7 minutes through both 2024 changes of each zone, and over the 2020/2021 ISO-week-53 turn
  const spans = [
    [Date.UTC(2024, 2, 30, 12), Date.UTC(2024, 2, 31, 12)],
    [Date.UTC(2024, 9, 26, 12), Date.UTC(2024, 9, 27, 12)],
    [Date.UTC(2024, 2, 9, 18), Date.UTC(2024, 2, 10, 18)],
    [Date.UTC(2024, 10, 2, 18), Date.UTC(2024, 10, 3, 18)],
    [Date.UTC(2024, 3, 6, 6), Date.UTC(2024, 3, 7, 6)],
    [Date.UTC(2020, 11, 30), Date.UTC(2021, 0, 5)],
  ];
  for (const tz of ['Europe/Berlin', 'America/New_York', 'Australia/Sydney', 'Asia/Kathmandu', 'UTC']) {
    const ts: number[] = [];
    for (const [a, b] of spans) for (let t = a!; t < b!; t += 7 * 60_000) ts.push(t);
    calendarCheck(tz, ts);
  }
});

test('calendar fields equal Intl on random instants from 1971 to 2099 in random zones', () => {
  const zones = ['Europe/Berlin', 'America/Sao_Paulo', 'Asia/Tokyo', 'Pacific/Chatham', 'America/St_Johns', 'Africa/Casablanca', 'UTC'];
  fc.assert(
    fc.property(fc.constantFrom(...zones), fc.array(fc.integer({ min: 31_536_000_000, max: 4_070_908_800_000 }), { minLength: 1, maxLength: 40 }), (tz, raw) => {
      calendarCheck(tz, [...raw].sort((a, b) => a - b));
    }),
    { numRuns: RUNS },
  );
});

test('calendar features are bit-identical under random batch splits', () => {
  fc.assert(
    fc.property(seriesWithCuts, ({ s, cuts }) => splitInvariant([{ kind: 'validate' }, { kind: 'calendar', timezone: 'Europe/Berlin', cyclical: true }], s, cuts)),
    { numRuns: RUNS },
  );
});

test('calendar rejects an unknown time zone and a field without a cycle', () => {
  assert.throws(() => compileTransforms([{ kind: 'calendar', timezone: 'Mars/Olympus' }]), /option "timezone" is not an IANA time zone/);
  assert.throws(() => compileTransforms([{ kind: 'calendar', cyclical: ['weekend'] }]), /option "cyclical"/);
  assert.throws(() => compileTransforms([{ kind: 'calendar', fields: ['year'] }]), /option "fields"/);
});
