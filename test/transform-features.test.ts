/**
 * ML feature kernels (lags, calendar, autocorr, correlate, spectral, group): each compared with a
 * plain reference (test/oracle/features.ts) on random series, and bit-identical under random
 * batch splits (test/oracle/batch.ts runSplit). Polars as oracle: test/transform-polars-features.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RUN_STRIDE } from '../src/batch/layout.js';
import { compileTransforms } from '../src/transform/registry.js';
import { collectRun, firstDifference, firstMismatch, runSpecs, runSplit } from './oracle/batch.js';
import { seriesWithCuts } from './oracle/arbitraries.js';
import { refAsOf, refAutocorr, refAutocorrTime, refCalendar, refDftMagnitudes, refDiff, refGroupDev, refLag, refPairWindow, refPairWindowTime, refPctChange } from './oracle/features.js';

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

// ---- autocorr ----

test('autocorrelation at lags 1 and 5 over 8 and 30 rows equals the reference (NaN dropped, and kept as null slots)', () => {
  const spec = { kind: 'autocorr', lags: [1, 5], windows: [8, 30] };
  fc.assert(
    fc.property(seriesWithCuts, ({ s }) => {
      for (const nan of ['drop', 'flag']) {
        const { ctx } = runSpecs([{ kind: 'validate', nan }, spec], [{ key: KEY, ts: s.ts, v: s.v, halo: 0 }]);
        const got = collectRun(ctx, 0, compileTransforms([spec])[0]!.outputs);
        const keep = s.v.map((v) => nan === 'flag' || Number.isFinite(v));
        const x = s.v.filter((_, i) => keep[i]);
        for (const w of [8, 30]) for (const k of [1, 5]) {
          const bad = firstMismatch(got.features[`autocorr_${k}_${w}`]!, refAutocorr(x, w, k, w), 1e-9, 1e-12);
          assert.equal(bad, null, `nan ${nan} autocorr_${k}_${w}: ${bad}`);
        }
      }
    }),
    { numRuns: Math.max(10, RUNS / 2) },
  );
});

test('autocorrelation is bit-identical under random batch splits', () => {
  fc.assert(
    fc.property(seriesWithCuts, ({ s, cuts }) => splitInvariant([{ kind: 'validate' }, { kind: 'autocorr', lags: [1, 3], windows: [20], minPeriods: 4 }], s, cuts)),
    { numRuns: RUNS },
  );
});

// ---- cross-series (correlate, group): several series in one batch, split at common timestamps ----

interface Member { key: string; ts: number[]; v: number[] }

/** Members sharing a timestamp grid (some rows missing per member), random values with NaN. */
const membersOf = (dense: boolean) => fc
  .tuple(fc.integer({ min: 2, max: 4 }), fc.integer({ min: 20, max: 160 }), fc.integer({ min: 0, max: 2 ** 31 - 1 }))
  .map(([m, n, seed]) => {
    let s = seed >>> 0;
    const rnd = (): number => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 4294967296;
    const grid = Array.from({ length: n }, (_, i) => 1_700_000_000_000 + i * 15_000);
    const out: Member[] = [];
    for (let k = 0; k < m; k++) {
      const ts: number[] = [];
      const v: number[] = [];
      const level = rnd() < 0.5 ? 5e4 : 1;
      for (const t of grid) {
        if (!dense && rnd() < 0.1) continue;
        ts.push(t);
        const r = rnd();
        v.push(r < 0.05 ? NaN : r < 0.15 ? level : level + rnd() * (k + 1) + Math.sin(t / 6e4));
      }
      out.push({ key: k === 0 ? `x_total{job="a",instance="${k}"}` : k === 1 ? `y_total{job="a",instance="0"}` : `x_total{job="a",instance="${k}"}`, ts, v });
    }
    return out;
  });
const membersArb = membersOf(false);

function runMembers(specs: Record<string, unknown>[], members: readonly Member[], cutTs: readonly number[]): Record<string, Record<string, number[]>> {
  const kernels = compileTransforms(specs as never);
  const halo = kernels.reduce((a, k) => a + k.haloSamples, 0);
  const haloMs = kernels.reduce((a, k) => Math.max(a, k.haloMs), 0);
  const names = kernels.flatMap((k) => [...k.outputs]);
  const bounds = [-Infinity, ...cutTs, Infinity];
  const out: Record<string, Record<string, number[]>> = {};
  for (const m of members) out[m.key] = Object.fromEntries(names.map((n) => [n, [] as number[]]));
  for (let p = 0; p + 1 < bounds.length; p++) {
    const pieces = members.map((m) => {
      const a = m.ts.findIndex((t) => t >= bounds[p]!);
      const a0 = a < 0 ? m.ts.length : a;
      let b = m.ts.findIndex((t) => t >= bounds[p + 1]!);
      if (b < 0) b = m.ts.length;
      // halo as the sources give it: rows within haloMs of the piece's start, plus `halo` rows before those
      let e = a0;
      while (e > 0 && m.ts[e - 1]! >= bounds[p]! - haloMs) e--;
      const h = Math.max(0, e - halo);
      return { key: m.key, ts: m.ts.slice(h, b), v: m.v.slice(h, b), halo: a0 - h };
    });
    const { ctx } = runSpecs(specs as never, pieces.filter((x) => x.ts.length > 0));
    pieces.filter((x) => x.ts.length > 0).forEach((pc) => {
      // a run whose rows were all dropped is compacted away: find runs by series key
      let r = 0;
      while (r < ctx.runCount && ctx.seriesKeys[ctx.runs[r * RUN_STRIDE]!] !== pc.key) r++;
      const got = collectRun(ctx, r, names);
      for (const n of names) out[pc.key]![n]!.push(...got.features[n]!);
    });
  }
  return out;
}

const CORR_SPEC = { kind: 'correlate', x: 'x_total', y: 'y_total', on: ['job'], windows: [10], stats: ['corr', 'cov'], lags: [-2, 0, 3], minPeriods: 3 };

test('correlate: rolling Pearson correlation, covariance and lead/lag cross-correlation equal the reference', () => {
  fc.assert(
    fc.property(membersArb, (members) => {
      const got = runMembers([CORR_SPEC], members, []);
      const y = members[1]!;
      for (const x of members.filter((m) => m.key.startsWith('x_'))) {
        const g = got[x.key]!;
        const chk = (name: string, want: number[]): void => {
          const bad = firstMismatch(g[name]!, want, 1e-9, 1e-9);
          assert.equal(bad, null, `${x.key} ${name}: ${bad}`);
        };
        chk('xy_corr_10', refPairWindow(x.ts, x.v, y.ts, y.v, 10, 0, 3, 'corr'));
        chk('xy_cov_10', refPairWindow(x.ts, x.v, y.ts, y.v, 10, 0, 3, 'cov'));
        for (const l of [-2, 0, 3]) chk(`xy_xcorr_${l}_10`, refPairWindow(x.ts, x.v, y.ts, y.v, 10, l, 3, 'corr'));
      }
      // the y series gets nothing
      assert.ok(got[y.key]!['xy_corr_10']!.every(Number.isNaN));
    }),
    { numRuns: RUNS },
  );
});

const GROUP_SPEC = { kind: 'group', metric: 'x_total', by: ['job'], stats: ['deviation', 'zscore', 'size'] };

test('group: each member\'s deviation from its peers\' mean at equal timestamps equals the reference', () => {
  fc.assert(
    fc.property(membersArb, (members) => {
      const got = runMembers([GROUP_SPEC], members, []);
      const xs = members.filter((m) => m.key.startsWith('x_'));
      xs.forEach((m, k) => {
        const want = refGroupDev(xs, k, 2);
        const g = got[m.key]!;
        assert.equal(firstMismatch(g['group_dev']!, want.dev, 1e-9, 1e-9), null, `${m.key} dev`);
        assert.equal(firstMismatch(g['group_z']!, want.z, 1e-9, 1e-9), null, `${m.key} z`);
        assert.deepEqual(g['group_size'], want.size.map((s, i) => (Number.isNaN(m.v[i]!) && s === 0 ? 0 : s)));
      });
    }),
    { numRuns: RUNS },
  );
});

test('correlate and group are bit-identical under random batch splits (all members in every batch, rows on one step grid)', () => {
  fc.assert(
    fc.property(membersOf(true), fc.uniqueArray(fc.integer({ min: 1, max: 150 }), { maxLength: 4 }), (members, cutIdx) => {
      const cutTs = cutIdx.sort((a, b) => a - b).map((i) => 1_700_000_000_000 + i * 15_000);
      for (const specs of [[CORR_SPEC], [{ kind: 'validate' }, GROUP_SPEC], [{ kind: 'validate', nan: 'flag' }, CORR_SPEC]]) {
        const whole = runMembers(specs, members, []);
        const split = runMembers(specs, members, cutTs);
        for (const [key, cols] of Object.entries(whole)) {
          for (const [n, col] of Object.entries(cols)) assert.equal(firstDifference(split[key]![n]!, col), null, `${key} ${n}`);
        }
      }
    }),
    { numRuns: RUNS },
  );
});

// ---- spectral ----

test('spectral bin magnitudes, band energy, dominant period and entropy equal a direct DFT of the window', () => {
  const spec = { kind: 'spectral', window: 24, bins: 3, bands: { fast: ['30s', '2m'] }, stats: ['period', 'entropy'] };
  fc.assert(
    fc.property(seriesWithCuts, ({ s }) => {
      const { ctx } = runSpecs([{ kind: 'validate' }, spec], [{ key: KEY, ts: s.ts, v: s.v, halo: 0 }]);
      const got = collectRun(ctx, 0, compileTransforms([spec])[0]!.outputs);
      const keep = s.v.map((v) => Number.isFinite(v));
      const x = s.v.filter((_, i) => keep[i]);
      const ts = s.ts.filter((_, i) => keep[i]);
      const N = 32;
      for (let i = 0; i < x.length; i++) {
        const f = (n: string): number => got.features[n]![i]!;
        if (i < 23) {
          assert.ok(Number.isNaN(f('fft_mag_1_24')) && Number.isNaN(f('fft_entropy_24')));
          continue;
        }
        const win = x.slice(i - 23, i + 1);
        const mag = refDftMagnitudes(win, N);
        const scale = Math.max(1e-300, ...mag);
        for (let b = 1; b <= 3; b++) assert.ok(Math.abs(f(`fft_mag_${b}_24`) - mag[b]!) <= 1e-9 * scale + 1e-9, `row ${i} bin ${b}: ${f(`fft_mag_${b}_24`)} vs ${mag[b]}`);
        const pw = mag.slice(1).map((m) => m * m);
        const total = pw.reduce((a, b) => a + b, 0);
        const dt = (ts[i]! - ts[i - 23]!) / 23;
        let e = 0;
        for (let b = 1; b <= N / 2; b++) if ((N * dt) / b >= 30_000 && (N * dt) / b < 120_000) e += pw[b - 1]!;
        assert.ok(Math.abs(f('fft_band_fast_24') - e / N) <= 1e-9 * (total / N) + 1e-9, `row ${i} band`);
        if (total <= 1e-18 * scale * scale || scale < 1e-6 * Math.max(...win.map(Math.abs))) continue; // numerically constant window: only noise
        const sorted = [...pw].sort((a, b) => b - a);
        if (sorted[0]! - sorted[1]! > 1e-6 * sorted[0]!) {
          const best = pw.indexOf(sorted[0]!) + 1;
          assert.ok(Math.abs(f('fft_period_24') - (N * dt) / best / 1000) <= 1e-9 * f('fft_period_24'), `row ${i} period`);
        }
        const h = -pw.reduce((a, p) => (p > 0 ? a + (p / total) * Math.log(p / total) : a), 0) / Math.log(N / 2);
        assert.ok(Math.abs(f('fft_entropy_24') - h) <= 1e-6, `row ${i} entropy ${f('fft_entropy_24')} vs ${h}`);
      }
    }),
    { numRuns: Math.max(10, RUNS / 3) },
  );
});

test('spectral features of a constant window are NaN (no spectrum), a pure tone gives its period and entropy 0', () => {
  const ts = Array.from({ length: 200 }, (_, i) => 1_700_000_000_000 + i * 15_000);
  const tone = ts.map((_, i) => 7 + Math.sin((2 * Math.PI * i) / 16));
  const { ctx } = runSpecs([{ kind: 'spectral', window: 64, bins: 4 }], [{ key: 'a', ts, v: tone, halo: 0 }, { key: 'b', ts, v: ts.map(() => 5), halo: 0 }]);
  const a = collectRun(ctx, 0, ['fft_period_64', 'fft_entropy_64', 'fft_mag_4_64']).features;
  const b = collectRun(ctx, 1, ['fft_period_64', 'fft_entropy_64', 'fft_mag_1_64']).features;
  for (let i = 63; i < 200; i++) {
    assert.ok(Math.abs(a['fft_period_64']![i]! - 16 * 15) < 1e-9, `row ${i}: period ${a['fft_period_64']![i]}`);
    assert.ok(a['fft_entropy_64']![i]! < 1e-9);
    assert.ok(Math.abs(a['fft_mag_4_64']![i]! - 32) < 1e-9);
    assert.ok(Number.isNaN(b['fft_period_64']![i]!) && Number.isNaN(b['fft_entropy_64']![i]!));
    assert.equal(b['fft_mag_1_64']![i], 0);
  }
});

test('spectral features are bit-identical under random batch splits', () => {
  fc.assert(
    fc.property(seriesWithCuts, ({ s, cuts }) => splitInvariant([{ kind: 'validate', nan: 'flag' }, { kind: 'spectral', window: 20, bins: 2, minPeriods: 10 }], s, cuts)),
    { numRuns: RUNS },
  );
});

test('cross-series and spectral kernels reject bad options with the option named', () => {
  assert.throws(() => compileTransforms([{ kind: 'group' }]), /option "by" is required/);
  assert.throws(() => compileTransforms([{ kind: 'correlate', x: 'a' }]), /option "y"/);
  assert.throws(() => compileTransforms([{ kind: 'autocorr', windows: [1] }]), /option "windows"/);
  assert.throws(() => compileTransforms([{ kind: 'spectral', bands: { slow: ['1h', '1m'] } }]), /longest period must exceed/);
  assert.throws(() => compileTransforms([{ kind: 'spectral', window: 2 }]), /option "window"/);
});

// ---- duration windows (autocorr, correlate, spectral) ----

test('autocorrelation over a duration window equals the reference: rows in (t − W, t], both rows of a pair inside it', () => {
  const spec = { kind: 'autocorr', lags: [1, 3], windows: ['5m', 20], minPeriods: 3 };
  fc.assert(
    fc.property(seriesWithCuts, ({ s }) => {
      const { ctx } = runSpecs([{ kind: 'validate', nan: 'flag' }, spec], [{ key: KEY, ts: s.ts, v: s.v, halo: 0 }]);
      const got = collectRun(ctx, 0, compileTransforms([spec])[0]!.outputs);
      const keep = s.v.map((v) => !(v === Infinity || v === -Infinity));
      const x = s.v.filter((_, i) => keep[i]);
      const ts = s.ts.filter((_, i) => keep[i]);
      for (const k of [1, 3]) {
        const bad = firstMismatch(got.features[`autocorr_${k}_5m`]!, refAutocorrTime(ts, x, 300_000, k, 3), 1e-9, 1e-12);
        assert.equal(bad, null, `autocorr_${k}_5m: ${bad}`);
        assert.equal(firstMismatch(got.features[`autocorr_${k}_20`]!, refAutocorr(x, 20, k, 3), 1e-9, 1e-12), null, `autocorr_${k}_20`);
      }
    }),
    { numRuns: Math.max(10, RUNS / 2) },
  );
});

test('duration-window autocorrelation and spectral features are bit-identical under random batch splits', () => {
  fc.assert(
    fc.property(seriesWithCuts, ({ s, cuts }) => {
      splitInvariant([{ kind: 'validate' }, { kind: 'autocorr', lags: [1, 2], windows: ['5m', 10], minPeriods: 3 }], s, cuts);
      splitInvariant([{ kind: 'validate', nan: 'flag' }, { kind: 'spectral', window: '10m', size: 32, bins: 2, minPeriods: 4 }], s, cuts);
    }),
    { numRuns: RUNS },
  );
});

test('spectral over a duration window: the rows in (t − W, t] (the latest `size` of them) through a direct DFT', () => {
  const spec = { kind: 'spectral', window: '5m', size: 16, bins: 3, stats: ['period'], minPeriods: 4 };
  fc.assert(
    fc.property(seriesWithCuts, ({ s }) => {
      const { ctx } = runSpecs([{ kind: 'validate' }, spec], [{ key: KEY, ts: s.ts, v: s.v, halo: 0 }]);
      const got = collectRun(ctx, 0, compileTransforms([spec])[0]!.outputs);
      const keep = s.v.map((v) => Number.isFinite(v));
      const x = s.v.filter((_, i) => keep[i]);
      const ts = s.ts.filter((_, i) => keep[i]);
      for (let i = 0; i < x.length; i++) {
        let a = i;
        while (a > 0 && ts[a - 1]! > ts[i]! - 300_000 && i - a + 1 < 16) a--;
        const win = x.slice(a, i + 1);
        if (win.length < 4) {
          assert.ok(Number.isNaN(got.features['fft_mag_1_5m']![i]!), `row ${i}: ${win.length} rows give NaN`);
          continue;
        }
        const mag = refDftMagnitudes(win, 16);
        const scale = Math.max(1e-300, ...mag);
        for (let b = 1; b <= 3; b++) {
          const f = got.features[`fft_mag_${b}_5m`]![i]!;
          assert.ok(Math.abs(f - mag[b]!) <= 1e-9 * scale + 1e-9, `row ${i} bin ${b}: ${f} vs ${mag[b]}`);
        }
      }
    }),
    { numRuns: Math.max(10, RUNS / 3) },
  );
});

const CORR_TIME_SPEC = { kind: 'correlate', x: 'x_total', y: 'y_total', on: ['job'], windows: ['2m30s'], stats: ['corr', 'cov'], lags: [-2, 3], minPeriods: 3 };

test('correlate over a duration window equals the reference, and is bit-identical under random batch splits', () => {
  fc.assert(
    fc.property(membersArb, fc.uniqueArray(fc.integer({ min: 1, max: 150 }), { maxLength: 4 }), (members, cutIdx) => {
      const whole = runMembers([CORR_TIME_SPEC], members, []);
      const y = members[1]!;
      for (const x of members.filter((m) => m.key.startsWith('x_'))) {
        const g = whole[x.key]!;
        for (const st of ['corr', 'cov'] as const) assert.equal(firstMismatch(g[`xy_${st}_2m30s`]!, refPairWindowTime(x.ts, x.v, y.ts, y.v, 150_000, 0, 3, st), 1e-9, 1e-9), null, `${x.key} ${st}`);
        for (const l of [-2, 3]) assert.equal(firstMismatch(g[`xy_xcorr_${l}_2m30s`]!, refPairWindowTime(x.ts, x.v, y.ts, y.v, 150_000, l, 3, 'corr'), 1e-9, 1e-9), null, `${x.key} xcorr ${l}`);
      }
      // a duration window needs no common step grid: rows within W of the cut are the halo
      const cutTs = cutIdx.sort((a, b) => a - b).map((i) => 1_700_000_000_000 + i * 15_000);
      const split = runMembers([CORR_TIME_SPEC], members, cutTs);
      for (const [key, cols] of Object.entries(whole)) {
        for (const [n, col] of Object.entries(cols)) assert.equal(firstDifference(split[key]![n]!, col), null, `${key} ${n}`);
      }
    }),
    { numRuns: RUNS },
  );
});

test('duration windows: bad options are named', () => {
  assert.throws(() => compileTransforms([{ kind: 'spectral', window: 32, size: 64 }]), /option "size" is only for duration windows/);
  assert.throws(() => compileTransforms([{ kind: 'spectral', window: '1h', size: 48 }]), /option "size" must be a power of two/);
  assert.throws(() => compileTransforms([{ kind: 'correlate', x: 'a', y: 'b', windows: ['1h', '60m'] }]), /lists a window twice/);
  assert.throws(() => compileTransforms([{ kind: 'autocorr', windows: ['soon'] }]), /option "windows\[0\]" is not a duration/);
});
