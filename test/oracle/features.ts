/**
 * Plain references for the ML feature kernels (lags, calendar, autocorrelation, pair
 * correlation/covariance, spectral features, group deviation) — docs/TRANSFORMS.md. Slow on
 * purpose: every window rebuilt from arrays, calendar fields from Intl per sample, the DFT summed
 * directly (O(N²)).
 */

export function refLag(x: readonly number[], k: number): number[] {
  return x.map((_, i) => (i >= k ? x[i - k]! : NaN));
}
export function refDiff(x: readonly number[], k: number): number[] {
  return x.map((v, i) => (i >= k ? v - x[i - k]! : NaN));
}
export function refPctChange(x: readonly number[], k: number): number[] {
  return x.map((v, i) => (i >= k && x[i - k] !== 0 ? (v - x[i - k]!) / x[i - k]! : NaN));
}
/** As-of: the latest row with ts <= t − d, if within tolerance; scanned from scratch for every row. */
export function refAsOf(ts: readonly number[], x: readonly number[], d: number, tol: number): number[] {
  return ts.map((t) => {
    let best = -1;
    for (let j = 0; j < ts.length; j++) if (ts[j]! <= t - d && (best < 0 || ts[j]! >= ts[best]!)) best = j;
    return best >= 0 && ts[best]! >= t - d - tol ? x[best]! : NaN;
  });
}

const WD: Record<string, number> = { Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6, Sun: 7 };

/** Calendar fields of one instant via Intl (per call), ISO week by the Thursday rule on the local date. */
export function refCalendar(t: number, timeZone: string): Record<string, number> {
  const f = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', weekday: 'short' });
  const p = Object.fromEntries(f.formatToParts(new Date(t)).map((x) => [x.type, x.value]));
  const y = Number(p['year']);
  const month = Number(p['month']);
  const day = Number(p['day']);
  const hour = Number(p['hour']);
  const minute = Number(p['minute']);
  const dow = WD[p['weekday']!]!;
  const local = Date.UTC(y, month - 1, day);
  const thu = new Date(local + (4 - dow) * 86_400_000);
  const jan1 = Date.UTC(thu.getUTCFullYear(), 0, 1);
  const week = Math.floor((thu.getTime() - jan1) / 86_400_000 / 7) + 1;
  return { hour, minute_of_day: hour * 60 + minute, day_of_week: dow, day_of_month: day, month, iso_week: week, weekend: dow >= 6 ? 1 : 0 };
}

/** Pearson correlation and sample covariance (ddof 1) of paired arrays; NaN when undefined. */
export function refCorrCov(a: readonly number[], b: readonly number[]): { corr: number; cov: number } {
  const n = a.length;
  if (n < 2) return { corr: NaN, cov: NaN };
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i]!;
    mb += b[i]!;
  }
  ma /= n;
  mb /= n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (a[i]! - ma) * (b[i]! - mb);
    saa += (a[i]! - ma) ** 2;
    sbb += (b[i]! - mb) ** 2;
  }
  return { corr: saa > 0 && sbb > 0 ? sab / Math.sqrt(saa * sbb) : NaN, cov: sab / (n - 1) };
}

/** Autocorrelation at lag k over sample window w: Pearson of (x_j, x_{j−k}), j in the window, both valid. */
export function refAutocorr(x: readonly number[], w: number, k: number, minPairs: number): number[] {
  return x.map((_, i) => {
    if (i - w + 1 < 0) return NaN;
    const a: number[] = [];
    const b: number[] = [];
    for (let j = i - w + 1; j <= i; j++) {
      if (j - k < 0) continue;
      if (Number.isNaN(x[j]!) || Number.isNaN(x[j - k]!)) continue;
      a.push(x[j]!);
      b.push(x[j - k]!);
    }
    return a.length >= minPairs ? refCorrCov(a, b).corr : NaN;
  });
}

/** Direct DFT magnitudes |X_b| for b = 0..N/2 of the mean-removed window zero-padded to N. */
export function refDftMagnitudes(win: readonly number[], n: number): number[] {
  const m = win.reduce((s, v) => s + v, 0) / win.length;
  const out: number[] = [];
  for (let b = 0; b <= n / 2; b++) {
    let re = 0;
    let im = 0;
    for (let j = 0; j < win.length; j++) {
      const a = (-2 * Math.PI * b * j) / n;
      re += (win[j]! - m) * Math.cos(a);
      im += (win[j]! - m) * Math.sin(a);
    }
    out.push(Math.hypot(re, im));
  }
  return out;
}

/** Pair statistic over sample window w of x's rows, joined to y on equal timestamps, y (lag >= 0) or x (lag < 0) shifted. */
export function refPairWindow(
  tx: readonly number[], x: readonly number[], ty: readonly number[], y: readonly number[], w: number, lag: number, minP: number, stat: 'corr' | 'cov',
): number[] {
  return tx.map((_, i) => {
    if (i - w + 1 < 0) return NaN;
    const a: number[] = [];
    const b: number[] = [];
    for (let j = i - w + 1; j <= i; j++) {
      const pj = ty.indexOf(tx[j]!);
      if (pj < 0) continue;
      const xi = lag >= 0 ? j : j + lag;
      const yi = lag >= 0 ? pj - lag : pj;
      if (xi < 0 || yi < 0) continue;
      if (Number.isNaN(x[xi]!) || Number.isNaN(y[yi]!)) continue;
      a.push(x[xi]!);
      b.push(y[yi]!);
    }
    return a.length >= minP ? refCorrCov(a, b)[stat] : NaN;
  });
}

/** Group deviation of member `k` at each of its rows: x − mean of the valid members at that timestamp. */
export function refGroupDev(members: readonly { ts: readonly number[]; v: readonly number[] }[], k: number, minMembers: number): { dev: number[]; z: number[]; size: number[] } {
  const me = members[k]!;
  const dev: number[] = [];
  const z: number[] = [];
  const size: number[] = [];
  for (let i = 0; i < me.ts.length; i++) {
    const vals: number[] = [];
    for (const m of members) {
      const j = m.ts.indexOf(me.ts[i]!);
      if (j >= 0 && !Number.isNaN(m.v[j]!)) vals.push(m.v[j]!);
    }
    size.push(vals.length);
    const x = me.v[i]!;
    if (vals.length < minMembers || Number.isNaN(x)) {
      dev.push(NaN);
      z.push(NaN);
      continue;
    }
    const mean = vals.reduce((s, v) => s + v, 0) / vals.length;
    const sd = vals.length >= 2 ? Math.sqrt(vals.reduce((s, v) => s + (v - mean) ** 2, 0) / (vals.length - 1)) : NaN;
    dev.push(x - mean);
    z.push(sd > 0 ? (x - mean) / sd : NaN);
  }
  return { dev, z, size };
}

/** Autocorrelation at lag k over a time window W: rows j with ts in (t − W, t] whose j − k is in it too. */
export function refAutocorrTime(ts: readonly number[], x: readonly number[], wms: number, k: number, minPairs: number): number[] {
  return ts.map((t, i) => {
    const a: number[] = [];
    const b: number[] = [];
    for (let j = 0; j <= i; j++) {
      if (j - k < 0 || !(ts[j - k]! > t - wms)) continue;
      if (Number.isNaN(x[j]!) || Number.isNaN(x[j - k]!)) continue;
      a.push(x[j]!);
      b.push(x[j - k]!);
    }
    return a.length >= minPairs ? refCorrCov(a, b).corr : NaN;
  });
}

/** As refPairWindow over a time window W of x's rows: the shifted row must be inside (t − W, t] too. */
export function refPairWindowTime(
  tx: readonly number[], x: readonly number[], ty: readonly number[], y: readonly number[], wms: number, lag: number, minP: number, stat: 'corr' | 'cov',
): number[] {
  return tx.map((t, i) => {
    const a: number[] = [];
    const b: number[] = [];
    for (let j = 0; j <= i; j++) {
      if (!(tx[j]! > t - wms)) continue;
      const pj = ty.indexOf(tx[j]!);
      if (pj < 0) continue;
      const xi = lag >= 0 ? j : j + lag;
      const yi = lag >= 0 ? pj - lag : pj;
      if (xi < 0 || yi < 0 || !(tx[xi]! > t - wms) || !(ty[yi]! > t - wms)) continue;
      if (Number.isNaN(x[xi]!) || Number.isNaN(y[yi]!)) continue;
      a.push(x[xi]!);
      b.push(y[yi]!);
    }
    return a.length >= minP ? refCorrCov(a, b)[stat] : NaN;
  });
}
