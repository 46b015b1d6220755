/**
 * Plain, obviously-correct reference implementations of the kernels' semantics
 * (docs/TRANSFORMS.md). Slow on purpose: each window is rebuilt from scratch with arrays and
 * sort(); nothing is incremental. Property tests compare the kernels with these.
 */

/** Values as the windows see them: NaN where the row is missing or dropped. */
export type Vals = readonly number[];

export interface RefWindow {
  samples: number; // > 0 for sample windows
  ms: number; // > 0 for time windows
}

/** Row indices in the window of row i (positions within the series). */
export function windowRows(ts: readonly number[], i: number, w: RefWindow): number[] {
  const rows: number[] = [];
  if (w.samples > 0) {
    for (let j = Math.max(0, i - w.samples + 1); j <= i; j++) rows.push(j);
  } else {
    for (let j = 0; j <= i; j++) if (ts[j]! > ts[i]! - w.ms) rows.push(j);
  }
  return rows;
}

export function quantileLinear(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const idx = q * (sorted.length - 1);
  const lo = Math.floor(idx);
  const hi = Math.ceil(idx);
  return sorted[lo]! + (idx - lo) * (sorted[hi]! - sorted[lo]!);
}

function mean(a: readonly number[]): number {
  let s = 0;
  for (const v of a) s += v;
  return s / a.length;
}

function sampleVar(a: readonly number[]): number {
  if (a.length < 2) return NaN;
  const m = mean(a);
  let s = 0;
  for (const v of a) s += (v - m) * (v - m);
  return s / (a.length - 1);
}

export interface RefRollingOpts {
  minPeriods?: number;
  alpha?: number;
  counter?: boolean;
  counterAware?: boolean;
}

/** Reference for one rolling stat over one window, for every row of one series. */
export function refRolling(ts: readonly number[], x: Vals, w: RefWindow, stat: string, o: RefRollingOpts = {}): number[] {
  const minP = w.samples > 0 ? Math.min(o.minPeriods ?? w.samples, w.samples) : (o.minPeriods ?? 1);
  const out: number[] = [];
  for (let i = 0; i < ts.length; i++) {
    const rows = windowRows(ts, i, w);
    const valid = rows.filter((j) => !Number.isNaN(x[j]!));
    const vals = valid.map((j) => x[j]!);
    const n = vals.length;
    const ok = n > 0 && n >= minP;
    let r = NaN;
    if (stat === 'mean') r = ok ? mean(vals) : NaN;
    else if (stat === 'sum') r = ok ? vals.reduce((a, b) => a + b, 0) : NaN;
    else if (stat === 'count') r = n;
    else if (stat === 'var') r = ok ? sampleVar(vals) : NaN;
    else if (stat === 'std') r = ok ? Math.sqrt(sampleVar(vals)) : NaN;
    else if (stat === 'min') r = ok ? Math.min(...vals) : NaN;
    else if (stat === 'max') r = ok ? Math.max(...vals) : NaN;
    else if (stat === 'median' || /^p[\d.]+$/.test(stat)) {
      const q = stat === 'median' ? 0.5 : Number(stat.slice(1)) / 100;
      r = ok ? quantileLinear([...vals].sort((a, b) => a - b), q) : NaN;
    } else if (stat === 'zscore') {
      if (ok && n >= 2 && !Number.isNaN(x[i]!)) {
        const sd = Math.sqrt(sampleVar(vals));
        r = sd === 0 ? 0 : (x[i]! - mean(vals)) / sd;
      }
    } else if (stat === 'slope') {
      if (ok && n >= 2) {
        // seconds relative to the current row: epoch seconds (~1.7e9) would lose ~1e-7 s to rounding
        const tt = valid.map((j) => (ts[j]! - ts[i]!) / 1000);
        const mt = mean(tt);
        const mv = mean(vals);
        let sxy = 0;
        let sxx = 0;
        for (let k = 0; k < n; k++) {
          sxy += (tt[k]! - mt) * (vals[k]! - mv);
          sxx += (tt[k]! - mt) ** 2;
        }
        r = sxx > 0 ? sxy / sxx : NaN;
      }
    } else if (stat === 'ewma') {
      const alpha = o.alpha ?? 2 / (w.samples + 1);
      let num = 0;
      let den = 0;
      for (const j of valid) {
        const wt = (1 - alpha) ** (i - j);
        num += wt * x[j]!;
        den += wt;
      }
      r = ok ? num / den : NaN;
    } else if (stat === 'momentum') {
      r = i - w.samples >= 0 ? x[i]! - x[i - w.samples]! : NaN;
    } else if (stat === 'rate' || stat === 'increase') {
      const counter = o.counter ?? false;
      const aware = o.counterAware ?? true;
      if ((!aware || counter) && n >= 2) {
        let delta = vals[n - 1]! - vals[0]!;
        if (counter || !aware) for (let k = 1; k < n; k++) if (vals[k]! < vals[k - 1]!) delta += vals[k - 1]!;
        const firstT = ts[valid[0]!]!;
        const lastT = ts[valid[n - 1]!]!;
        if (w.samples > 0) {
          r = stat === 'increase' ? delta : lastT > firstT ? delta / ((lastT - firstT) / 1000) : NaN;
        } else {
          r = refExtrapolated(delta, n, firstT, vals[0]!, lastT, ts[i]! - w.ms, ts[i]!, counter || !aware);
          if (stat === 'rate') r /= w.ms / 1000;
        }
      }
    } else throw new Error(`no reference for ${stat}`);
    out.push(r);
  }
  return out;
}

/** Prometheus 3.x extrapolatedRate, transcribed literally. */
export function refExtrapolated(delta: number, n: number, firstT: number, firstV: number, lastT: number, rangeStart: number, rangeEnd: number, isCounter: boolean): number {
  const sampledInterval = (lastT - firstT) / 1000;
  if (n < 2 || !(sampledInterval > 0)) return NaN;
  let durationToStart = (firstT - rangeStart) / 1000;
  let durationToEnd = (rangeEnd - lastT) / 1000;
  const averageDurationBetweenSamples = sampledInterval / (n - 1);
  const extrapolationThreshold = averageDurationBetweenSamples * 1.1;
  if (durationToStart >= extrapolationThreshold) durationToStart = averageDurationBetweenSamples / 2;
  if (isCounter && delta > 0 && firstV >= 0) {
    const durationToZero = sampledInterval * (firstV / delta);
    if (durationToZero < durationToStart) durationToStart = durationToZero;
  }
  if (durationToEnd >= extrapolationThreshold) durationToEnd = averageDurationBetweenSamples / 2;
  return delta * ((sampledInterval + durationToStart + durationToEnd) / sampledInterval);
}

/** Reference for `validate`'s per-row rules on one series: the reason each row is dropped for (or null). */
export function refValidate(
  ts: readonly number[],
  v: readonly number[],
  stale: ReadonlySet<number>,
  o: { lookback?: number; nowMs: number; toleranceMs?: number; min?: number; max?: number; counter?: boolean },
): (string | null)[] {
  const lb = o.lookback ?? 1;
  const out: (string | null)[] = [];
  for (let i = 0; i < ts.length; i++) {
    const prev = ts.slice(Math.max(0, i - lb), i);
    const maxPrev = prev.length ? Math.max(...prev) : -Infinity;
    let r: string | null = null;
    if (ts[i]! > o.nowMs + (o.toleranceMs ?? 300_000)) r = 'future';
    else if (ts[i]! === maxPrev) r = 'duplicate';
    else if (ts[i]! < maxPrev) r = 'out_of_order';
    else if (stale.has(i)) r = 'stale';
    else if (Number.isNaN(v[i]!)) r = 'nan';
    else if (!Number.isFinite(v[i]!)) r = 'inf';
    else if (o.counter && v[i]! < 0) r = 'type';
    else if (v[i]! < (o.min ?? -Infinity) || v[i]! > (o.max ?? Infinity)) r = 'range';
    out.push(r);
  }
  return out;
}

/** Reference outlier verdicts: -1 low, 1 high, 0 none, with the fence a clip would use. */
export function refOutliers(
  ts: readonly number[],
  x: Vals,
  o: { method: 'iqr' | 'zscore' | 'robust'; window: RefWindow; k?: number; threshold?: number; minPeriods?: number },
): { verdict: number[]; fence: number[] } {
  const k = o.k ?? 1.5;
  const thr = o.threshold ?? (o.method === 'robust' ? 3.5 : 3);
  const minP = o.minPeriods ?? (o.window.samples > 0 ? Math.min(8, o.window.samples) : 8);
  const verdict: number[] = [];
  const fence: number[] = [];
  for (let i = 0; i < ts.length; i++) {
    const rows: number[] = [];
    for (let j = 0; j < i; j++) {
      if (o.window.samples > 0 ? j >= i - o.window.samples : ts[j]! > ts[i]! - o.window.ms) rows.push(j);
    }
    const vals = rows.map((j) => x[j]!).filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
    let lo = -Infinity;
    let hi = Infinity;
    if (!Number.isNaN(x[i]!) && vals.length >= minP && vals.length > 0) {
      if (o.method === 'iqr') {
        const q1 = quantileLinear(vals, 0.25);
        const q3 = quantileLinear(vals, 0.75);
        if (q3 - q1 > 0) {
          lo = q1 - k * (q3 - q1);
          hi = q3 + k * (q3 - q1);
        }
      } else if (o.method === 'zscore') {
        if (vals.length >= 2) {
          const m = vals.reduce((a, b) => a + b, 0) / vals.length;
          const sd = Math.sqrt(vals.reduce((a, b) => a + (b - m) ** 2, 0) / (vals.length - 1));
          if (sd > 0) {
            lo = m - thr * sd;
            hi = m + thr * sd;
          }
        }
      } else {
        const med = quantileLinear(vals, 0.5);
        const mad = quantileLinear(vals.map((v) => Math.abs(v - med)).sort((a, b) => a - b), 0.5);
        const s = 1.4826 * mad;
        if (s > 0) {
          lo = med - thr * s;
          hi = med + thr * s;
        }
      }
    }
    if (x[i]! < lo) {
      verdict.push(-1);
      fence.push(lo);
    } else if (x[i]! > hi) {
      verdict.push(1);
      fence.push(hi);
    } else {
      verdict.push(0);
      fence.push(NaN);
    }
  }
  return { verdict, fence };
}

/** Reference imputation: the filled value per row (NaN = not imputed); x NaN = missing. */
export function refImpute(
  ts: readonly number[],
  x: Vals,
  o: { method: 'linear' | 'ffill' | 'bfill' | 'mean' | 'median'; limit?: number; maxGapMs?: number; window?: number },
): number[] {
  const limit = o.limit ?? Infinity;
  const maxGap = o.maxGapMs ?? 3_600_000;
  const win = o.window ?? 60;
  const out: number[] = [];
  for (let i = 0; i < ts.length; i++) {
    if (!Number.isNaN(x[i]!)) {
      out.push(NaN);
      continue;
    }
    let p = -1;
    for (let j = i - 1; j >= 0; j--) if (!Number.isNaN(x[j]!)) { p = j; break; }
    let q = -1;
    for (let j = i + 1; j < ts.length; j++) if (!Number.isNaN(x[j]!)) { q = j; break; }
    const prevOk = p >= 0 && i - p <= limit && ts[i]! - ts[p]! <= maxGap;
    let r = NaN;
    if (o.method === 'ffill' && prevOk) r = x[p]!;
    if (o.method === 'bfill' && q >= 0 && q - i <= limit && ts[q]! - ts[i]! <= maxGap) r = x[q]!;
    if (o.method === 'linear' && p >= 0 && q >= 0 && i - p <= limit && ts[q]! - ts[p]! <= maxGap) {
      r = ts[q] === ts[p] ? x[p]! : x[p]! + ((x[q]! - x[p]!) * (ts[i]! - ts[p]!)) / (ts[q]! - ts[p]!);
    }
    if ((o.method === 'mean' || o.method === 'median') && prevOk) {
      const vals: number[] = [];
      for (let j = Math.max(0, i - win); j < i; j++) if (!Number.isNaN(x[j]!)) vals.push(x[j]!);
      vals.sort((a, b) => a - b);
      if (vals.length) r = o.method === 'mean' ? vals.reduce((a, b) => a + b, 0) / vals.length : quantileLinear(vals, 0.5);
    }
    out.push(r);
  }
  return out;
}
