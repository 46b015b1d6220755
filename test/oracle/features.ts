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

const view = new DataView(new ArrayBuffer(8));
/** x = m · 2^e exactly (finite x). */
function decompose(x: number): { m: bigint; e: number } {
  view.setFloat64(0, x);
  const hi = view.getUint32(0);
  const lo = view.getUint32(4);
  const exp = (hi >>> 20) & 0x7ff;
  let m = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let e = -1074;
  if (exp !== 0) {
    m |= 1n << 52n;
    e = exp - 1075;
  }
  return { m: hi >>> 31 ? -m : m, e };
}

/**
 * Exact Pearson correlation and sample covariance (ddof 1) of paired arrays: integer arithmetic
 * (BigInt) on the doubles' exact values, rounded once at the end; NaN when undefined (n < 2, or
 * corr with zero spread on either side). sdProduct = σa·σb, the scale to judge cov's error by.
 */
export function exactCorrCov(a: readonly number[], b: readonly number[]): { corr: number; cov: number; sdProduct: number } {
  const n = a.length;
  if (n < 2) return { corr: NaN, cov: NaN, sdProduct: NaN };
  const da = a.map(decompose);
  const db = b.map(decompose);
  // common scale: the finest exponent among the non-zero values (zero has no bits to keep)
  const s = Math.max(0, ...[...da, ...db].filter((d) => d.m !== 0n).map((d) => -d.e));
  const scaled = (d: { m: bigint; e: number }): bigint => d.m << BigInt(d.e + s);
  const A = da.map(scaled);
  const B = db.map(scaled);
  let sa = 0n, sb = 0n, saa = 0n, sbb = 0n, sab = 0n;
  for (let i = 0; i < n; i++) {
    sa += A[i]!;
    sb += B[i]!;
    saa += A[i]! * A[i]!;
    sbb += B[i]! * B[i]!;
    sab += A[i]! * B[i]!;
  }
  const N = BigInt(n);
  // n² · (co)moments, scaled by 2^(2s)
  const c = N * sab - sa * sb;
  const mu = N * saa - sa * sa;
  const mv = N * sbb - sb * sb;
  // to doubles: each BigInt keeps its top ~1000 bits (shift kept even for the square roots), the
  // shifts and the 2^(2s) scale go back in through ldexp (so 1e-100 and 1e12 both stay finite)
  const top = (x: bigint): number => {
    const bits = (x < 0n ? -x : x).toString(2).length;
    const k = Math.max(0, bits - 1000);
    return k + (k & 1);
  };
  const ku = top(mu);
  const kv = top(mv);
  const kc = (ku + kv) / 2;
  const rootU = Math.sqrt(Number(mu >> BigInt(ku)));
  const rootV = Math.sqrt(Number(mv >> BigInt(kv)));
  const cTop = Number(c >> BigInt(kc));
  const den = n * (n - 1);
  return {
    corr: mu > 0n && mv > 0n ? cTop / rootU / rootV : NaN,
    cov: ldexp(Number(c >> BigInt(top(c))), top(c) - 2 * s) / den,
    sdProduct: ldexp(rootU * rootV, kc - 2 * s) / den,
  };
}

/** m · 2^e without overflow or underflow in the intermediate powers. */
function ldexp(m: number, e: number): number {
  let x = m;
  let k = e;
  while (k > 500) {
    x *= 2 ** 500;
    k -= 500;
  }
  while (k < -500) {
    x *= 2 ** -500;
    k += 500;
  }
  return x * 2 ** k;
}

/** Pearson correlation and sample covariance (ddof 1) of paired arrays, exact (exactCorrCov); NaN when undefined. */
export function refCorrCov(a: readonly number[], b: readonly number[]): { corr: number; cov: number } {
  const { corr, cov } = exactCorrCov(a, b);
  return { corr, cov };
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
