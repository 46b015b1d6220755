/**
 * Line-protocol generator of the load test. Point n of a run belongs to series n mod S and is the
 * k-th point of that series (k = ⌊n / S⌋); its timestamp is start + k × step and its fields are
 * small integers derived from (series, k, field), written as floats. Every point is distinct, so
 * the count read back from InfluxDB must equal the count written.
 *
 * Hand-written hot path (the reason): this runs on the main thread for every generated point at up
 * to millions of points per second, next to the sender it must not slow down. It writes bytes into
 * one preallocated buffer per request with index loops: each series' "measurement,tags " prefix is
 * built once, digits are written directly, and no per-point string or object is made.
 */
import type { LoadShape } from './spec.js';
import { tagCardinalities } from './spec.js';

const enc = new TextEncoder();

/** Suffix that turns an epoch-ms timestamp into the sink's precision (ms → us: "000", ns: "000000"). */
function precisionSuffix(precision: 's' | 'ms' | 'us' | 'ns'): { suffix: Uint8Array; unitMs: number } {
  switch (precision) {
    case 's':
      return { suffix: new Uint8Array(0), unitMs: 1000 };
    case 'ms':
      return { suffix: new Uint8Array(0), unitMs: 1 };
    case 'us':
      return { suffix: enc.encode('000'), unitMs: 1 };
    case 'ns':
      return { suffix: enc.encode('000000'), unitMs: 1 };
  }
}

export interface GeneratorPlan {
  /** First timestamp (epoch ms, a whole number of precision units). */
  startMs: number;
  /** Distance between two points of one series, ms (>= one precision unit). */
  stepMs: number;
  /** The spread the run's timestamps really cover (wider than asked when the asked one cannot hold every point distinctly). */
  spreadMs: number;
  /** Last timestamp + 1 ms: the read-back range is [startMs, endMs). */
  endMs: number;
}

export class LineGenerator {
  readonly plan: GeneratorPlan;
  readonly cardinalities: number[];
  private readonly prefixes: Uint8Array;
  private readonly prefixStart: Uint32Array;
  private readonly fieldKeys: Uint8Array[];
  private readonly suffix: Uint8Array;
  private readonly unitMs: number;
  private readonly maxLine: number;

  constructor(
    readonly shape: LoadShape,
    totalPoints: number,
    startMs: number,
    precision: 's' | 'ms' | 'us' | 'ns',
  ) {
    const { suffix, unitMs } = precisionSuffix(precision);
    this.suffix = suffix;
    this.unitMs = unitMs;
    const perSeries = Math.max(1, Math.ceil(totalPoints / shape.series));
    let step = Math.floor(shape.spreadMs / perSeries / unitMs) * unitMs;
    if (step < unitMs) step = unitMs;
    const start = Math.ceil(startMs / unitMs) * unitMs;
    this.plan = { startMs: start, stepMs: step, spreadMs: step * perSeries, endMs: start + step * (perSeries - 1) + 1 };
    this.cardinalities = tagCardinalities(shape.series, shape.tags);

    // per-series prefixes, built once (per series, not per point)
    const parts: Uint8Array[] = [];
    let bytes = 0;
    const meas = enc.encode(shape.measurement);
    for (let s = 0; s < shape.series; s++) {
      let str = '';
      let rest = s;
      for (let t = 0; t < this.cardinalities.length; t++) {
        const c = this.cardinalities[t]!;
        str += `,t${t}=v${rest % c}`;
        rest = Math.floor(rest / c);
      }
      const p = enc.encode(str + ' ');
      parts.push(p);
      bytes += meas.length + p.length;
    }
    this.prefixes = new Uint8Array(bytes);
    this.prefixStart = new Uint32Array(shape.series + 1);
    let o = 0;
    for (let s = 0; s < shape.series; s++) {
      this.prefixStart[s] = o;
      this.prefixes.set(meas, o);
      o += meas.length;
      this.prefixes.set(parts[s]!, o);
      o += parts[s]!.length;
    }
    this.prefixStart[shape.series] = o;
    let longest = 0;
    for (let s = 0; s < shape.series; s++) longest = Math.max(longest, this.prefixStart[s + 1]! - this.prefixStart[s]!);
    this.fieldKeys = [];
    let fieldBytes = 0;
    for (let f = 0; f < shape.fields; f++) {
      const k = enc.encode(`${f === 0 ? '' : ','}f${f}=`);
      this.fieldKeys.push(k);
      fieldBytes += k.length + 6; // values < 100000
    }
    this.maxLine = longest + fieldBytes + 1 + 16 + suffix.length + 1;
  }

  /** Bytes a request of `lines` lines needs at most. */
  maxBytes(lines: number): number {
    return lines * this.maxLine;
  }

  /** Write points [from, to) as line protocol into `out`; returns the bytes written. */
  write(from: number, to: number, out: Uint8Array): number {
    const S = this.shape.series;
    const F = this.shape.fields;
    const pre = this.prefixes;
    const ps = this.prefixStart;
    const { startMs, stepMs } = this.plan;
    const unit = this.unitMs;
    const suf = this.suffix;
    let o = 0;
    for (let n = from; n < to; n++) {
      const s = n % S;
      const k = (n - s) / S;
      const a = ps[s]!;
      const b = ps[s + 1]!;
      for (let i = a; i < b; i++) out[o++] = pre[i]!;
      for (let f = 0; f < F; f++) {
        const key = this.fieldKeys[f]!;
        for (let i = 0; i < key.length; i++) out[o++] = key[i]!;
        o = writeUint(out, o, (k + s * 7 + f * 13) % 100000);
      }
      out[o++] = 0x20;
      o = writeUint(out, o, (startMs + k * stepMs) / unit);
      for (let i = 0; i < suf.length; i++) out[o++] = suf[i]!;
      out[o++] = 0x0a;
    }
    return o;
  }
}

/** Decimal digits of a non-negative integer (< 2^53) at `o`; returns the new offset. */
function writeUint(out: Uint8Array, o: number, v: number): number {
  if (v < 10) {
    out[o] = 0x30 + v;
    return o + 1;
  }
  let digits = 1;
  for (let x = v; x >= 10; x = Math.floor(x / 10)) digits++;
  let x = v;
  for (let i = o + digits - 1; i >= o; i--) {
    const q = Math.floor(x / 10);
    out[i] = 0x30 + (x - q * 10);
    x = q;
  }
  return o + digits;
}
