/**
 * Exact reference for window moments: every double is an integer multiple of 2^-S for the series'
 * smallest exponent S, so sums of values, squares and time × value products are exact BigInt
 * integers. Prefix sums of those give each window's Σv, Σv², Σt, Σt², Σt·v exactly, and mean,
 * sample variance and least-squares slope are exact rationals, rounded once to the nearest double.
 * No floating-point operation touches the data before that final rounding.
 */

const view = new DataView(new ArrayBuffer(8));

/** x = mant · 2^exp exactly (mant an integer < 2^53). */
function decompose(x: number): { mant: bigint; exp: number } {
  view.setFloat64(0, x);
  const hi = view.getUint32(0);
  const lo = view.getUint32(4);
  const e = (hi >>> 20) & 0x7ff;
  const m = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  const sign = hi >>> 31 ? -1n : 1n;
  if (e === 0) return { mant: sign * m, exp: -1074 };
  return { mant: sign * (m | (1n << 52n)), exp: e - 1075 };
}

/** The smallest S such that every finite x · 2^S is an integer. */
export function scaleOf(xs: readonly number[]): number {
  let s = 0;
  for (const x of xs) if (Number.isFinite(x) && x !== 0) s = Math.max(s, -decompose(x).exp);
  return s;
}

export function scaled(x: number, S: number): bigint {
  if (x === 0) return 0n;
  const { mant, exp } = decompose(x);
  return mant << BigInt(exp + S);
}

function bitLength(a: bigint): number {
  return a === 0n ? 0 : (a < 0n ? -a : a).toString(2).length;
}

/** p / q (q > 0) rounded to a double (relative error ≤ 2^-53 + 2^-64). */
export function ratio(p: bigint, q: bigint): number {
  if (p === 0n) return 0;
  const neg = p < 0n;
  const a = neg ? -p : p;
  const shift = 70 - (bitLength(a) - bitLength(q)); // quotient keeps ~70 significant bits
  const quo = shift >= 0 ? (a << BigInt(shift)) / q : a / (q << BigInt(-shift));
  const r = Number(quo) * 2 ** -shift;
  return neg ? -r : r;
}

export interface ExactWindowStats {
  mean: number[];
  variance: number[];
  /** least squares slope per second (timestamps in ms) */
  slope: number[];
  /**
   * sqrt(Σ(v − v̄)² / Σ(t − t̄)²) per second: the largest |slope| the window's spread allows
   * (Cauchy–Schwarz). Slope errors are measured against it: a slope near 0 relative to the noise
   * is ill-conditioned for any floating-point algorithm.
   */
  slopeScale: number[];
  /** exact variance is zero */
  zeroVar: boolean[];
}

/**
 * Exact mean, sample variance (ddof 1) and slope of the valid (non-NaN) values of the windows
 * [lo(i), i] of one series, for every row i. `lo` gives each row's first window row. Rows whose
 * window has fewer than 2 valid values get NaN.
 */
export function exactWindows(ts: readonly number[], v: readonly number[], lo: (i: number) => number): ExactWindowStats {
  const N = v.length;
  const S = scaleOf(v);
  const t0 = ts[0] ?? 0;
  const dts = ts.map((t) => t - t0); // exact: both are epoch ms of similar size
  const ST = scaleOf(dts); // 0 for integer ms
  const cn = new Int32Array(N + 1);
  const s1: bigint[] = [0n];
  const s2: bigint[] = [0n];
  const st: bigint[] = [0n];
  const stt: bigint[] = [0n];
  const stv: bigint[] = [0n];
  for (let i = 0; i < N; i++) {
    const ok = !Number.isNaN(v[i]!);
    const x = ok ? scaled(v[i]!, S) : 0n;
    const t = ok ? scaled(dts[i]!, ST) : 0n; // ms · 2^ST
    cn[i + 1] = cn[i]! + (ok ? 1 : 0);
    s1.push(s1[i]! + x);
    s2.push(s2[i]! + x * x);
    st.push(st[i]! + t);
    stt.push(stt[i]! + t * t);
    stv.push(stv[i]! + t * x);
  }
  const out: ExactWindowStats = { mean: [], variance: [], slope: [], slopeScale: [], zeroVar: [] };
  const scale = 1n << BigInt(S);
  for (let i = 0; i < N; i++) {
    const l = lo(i);
    const n = BigInt(cn[i + 1]! - cn[l]!);
    if (n < 2n) {
      out.mean.push(NaN);
      out.variance.push(NaN);
      out.slope.push(NaN);
      out.slopeScale.push(NaN);
      out.zeroVar.push(false);
      continue;
    }
    const a = s1[i + 1]! - s1[l]!;
    const q = s2[i + 1]! - s2[l]!;
    const ta = st[i + 1]! - st[l]!;
    const tq = stt[i + 1]! - stt[l]!;
    const tv = stv[i + 1]! - stv[l]!;
    const m2n = n * q - a * a; // n · Σ(v − mean)² · 2^2S
    out.mean.push(ratio(a, n * scale));
    out.variance.push(ratio(m2n, n * (n - 1n) * scale * scale));
    out.zeroVar.push(m2n === 0n);
    const sxy = n * tv - ta * a; // · 2^(S + ST), t in ms
    const sxx = n * tq - ta * ta; // · 2^(2 ST)
    const tScale = 1n << BigInt(ST);
    out.slope.push(sxx > 0n ? ratio(sxy * 1000n * tScale, sxx * scale) : NaN);
    out.slopeScale.push(sxx > 0n ? Math.sqrt(ratio(m2n * 1_000_000n * tScale * tScale, sxx * scale * scale)) : NaN);
  }
  return out;
}
