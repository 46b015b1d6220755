/**
 * Seeded benchmark data, written once to a binary file that both the JS benchmarks and the C++
 * reference (native-bench/) read, so every comparison runs on byte-identical input.
 *
 * File format v1, little-endian (documented in native-bench/README.md):
 *   header, 64 bytes:
 *     0  char[8]  magic "PFXBNCH1"
 *     8  u32      version = 1
 *     12 u32      series count S
 *     16 f64      row count R (an integer)
 *     24 f64      seed
 *     32 u32      byte length K of the series-key table
 *     36 ..63     zero
 *   f64[S+1]  row offsets: series s owns rows [off[s], off[s+1]) (time-ascending)
 *   f64[R]    ts     epoch milliseconds
 *   f64[R]    value  raw samples; NaN, ±Inf and Prometheus stale markers included
 *   f64[S]    zMean  per-series mean of the finite values (the "given" z-score parameters)
 *   f64[S]    zStd   per-series sample std (ddof 1) of the finite values
 *   u8[K]     series keys, canonical `name{a="x",b="y"}`, each terminated by '\n'
 * Every f64 section starts 8-byte aligned (the header is 64 bytes and sections are multiples of 8).
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { allocBatch, RUN_STRIDE, seriesKey, viewBatch, type BatchDescriptor } from '../../src/batch/layout.js';
import { mulberry32 } from '../../src/util/random.js';

export const MAGIC = 'PFXBNCH1';
export const FORMAT_VERSION = 1;
export const HEADER_BYTES = 64;
/** Prometheus staleness marker: a NaN with this exact bit pattern. */
export const STALE_NAN_BITS = 0x7ff0000000000002n;

export { mulberry32 };

export interface DataSpec {
  series: number;
  samplesPerSeries: number;
  seed: number;
  /** Fraction of samples replaced by NaN (default 0.001). */
  nanRate?: number;
  /** Fraction replaced by ±Inf (default 0.0002). */
  infRate?: number;
  /** Fraction replaced by stale markers (default 0.0002). */
  staleRate?: number;
  stepMs?: number;
  startMs?: number;
}

export interface BenchData {
  spec: Required<DataSpec>;
  seriesCount: number;
  rows: number;
  offsets: Float64Array;
  ts: Float64Array;
  value: Float64Array;
  zMean: Float64Array;
  zStd: Float64Array;
  seriesKeys: string[];
}

const JOBS = ['api', 'db', 'cache', 'queue'];
const METRICS = ['cpu_usage_percent', 'http_request_duration_seconds', 'memory_used_bytes', 'queue_depth'];

/** Generate a data set in memory: per-series random walks with noise, rounded like real exporters. */
export function generate(spec: DataSpec): BenchData {
  const s: Required<DataSpec> = {
    nanRate: 0.001,
    infRate: 0.0002,
    staleRate: 0.0002,
    stepMs: 15_000,
    startMs: 1_700_000_000_000,
    ...spec,
  };
  const rnd = mulberry32(s.seed);
  const S = s.series;
  const N = s.samplesPerSeries;
  const R = S * N;
  const offsets = new Float64Array(S + 1);
  const ts = new Float64Array(R);
  const value = new Float64Array(R);
  const zMean = new Float64Array(S);
  const zStd = new Float64Array(S);
  // stale markers are written through an integer view: a NaN passed through a JS number may lose its payload
  const bits = new BigUint64Array(value.buffer);
  const keys: string[] = [];
  for (let k = 0; k < S; k++) {
    const metric = METRICS[k % METRICS.length]!;
    keys.push(seriesKey(metric, { instance: `host-${k}:9100`, job: JOBS[k % JOBS.length]!, region: k % 2 ? 'eu-west' : 'us-east' }));
    offsets[k] = k * N;
    const level = 10 + rnd() * 90;
    const vol = 0.05 + rnd() * 2;
    let x = level;
    let n = 0;
    let mean = 0;
    let m2 = 0;
    for (let i = 0; i < N; i++) {
      const r = k * N + i;
      ts[r] = s.startMs + i * s.stepMs;
      // random walk pulled back to its level, plus a daily-ish cycle; 3 decimals like most exporters
      x += (rnd() - 0.5) * vol + (level - x) * 0.01;
      let v = Math.round((x + Math.sin(i / 240) * vol * 3) * 1000) / 1000;
      const u = rnd();
      if (u < s.nanRate) v = NaN;
      else if (u < s.nanRate + s.infRate) v = u < s.nanRate + s.infRate / 2 ? Infinity : -Infinity;
      value[r] = v;
      if (u >= s.nanRate + s.infRate && u < s.nanRate + s.infRate + s.staleRate) {
        bits[r] = STALE_NAN_BITS;
        v = NaN;
      }
      if (Number.isFinite(v)) {
        n++;
        const d = v - mean;
        mean += d / n;
        m2 += d * (v - mean);
      }
    }
    zMean[k] = n > 0 ? mean : NaN;
    zStd[k] = n > 1 ? Math.sqrt(m2 / (n - 1)) : NaN;
  }
  offsets[S] = R;
  return { spec: s, seriesCount: S, rows: R, offsets, ts, value, zMean, zStd, seriesKeys: keys };
}

/**
 * Build a data set from explicit series (tests: uneven lengths, special label values, constant or
 * all-NaN series). z-score parameters are computed like generate() does.
 */
export function fromSeries(list: ReadonlyArray<{ key: string; ts: ArrayLike<number>; value: ArrayLike<number> }>, seed = 0): BenchData {
  const S = list.length;
  const R = list.reduce((n, s) => n + s.ts.length, 0);
  const offsets = new Float64Array(S + 1);
  const ts = new Float64Array(R);
  const value = new Float64Array(R);
  const zMean = new Float64Array(S);
  const zStd = new Float64Array(S);
  let o = 0;
  list.forEach((s, k) => {
    offsets[k] = o;
    ts.set(s.ts, o);
    value.set(s.value, o);
    let n = 0;
    let mean = 0;
    let m2 = 0;
    for (let i = 0; i < s.value.length; i++) {
      const v = s.value[i]!;
      if (!Number.isFinite(v)) continue;
      n++;
      const d = v - mean;
      mean += d / n;
      m2 += d * (v - mean);
    }
    zMean[k] = n > 0 ? mean : NaN;
    zStd[k] = n > 1 ? Math.sqrt(m2 / (n - 1)) : NaN;
    o += s.ts.length;
  });
  offsets[S] = R;
  return {
    spec: { series: S, samplesPerSeries: S ? R / S : 0, seed, nanRate: NaN, infRate: NaN, staleRate: NaN, stepMs: NaN, startMs: ts[0] ?? 0 },
    seriesCount: S,
    rows: R,
    offsets,
    ts,
    value,
    zMean,
    zStd,
    seriesKeys: list.map((s) => s.key),
  };
}

/** Serialize to the v1 file format. */
export function encodeData(d: BenchData): Buffer {
  const keyBytes = Buffer.from(d.seriesKeys.map((k) => k + '\n').join(''), 'utf8');
  const S = d.seriesCount;
  const R = d.rows;
  const f64Count = S + 1 + R + R + S + S;
  const out = Buffer.alloc(HEADER_BYTES + f64Count * 8 + keyBytes.length);
  out.write(MAGIC, 0, 'latin1');
  out.writeUInt32LE(FORMAT_VERSION, 8);
  out.writeUInt32LE(S, 12);
  out.writeDoubleLE(R, 16);
  out.writeDoubleLE(d.spec.seed, 24);
  out.writeUInt32LE(keyBytes.length, 32);
  const f = new Float64Array(out.buffer, out.byteOffset + HEADER_BYTES, f64Count);
  let o = 0;
  f.set(d.offsets, o);
  o += S + 1;
  f.set(d.ts, o);
  o += R;
  f.set(d.value, o);
  o += R;
  f.set(d.zMean, o);
  o += S;
  f.set(d.zStd, o);
  keyBytes.copy(out, HEADER_BYTES + f64Count * 8);
  return out;
}

/** Parse a v1 file. Throws with the path when the file is not a valid benchmark data file. */
export function readData(path: string): BenchData {
  const buf = readFileSync(path);
  if (buf.length < HEADER_BYTES || buf.toString('latin1', 0, 8) !== MAGIC) {
    throw new Error(`${path}: not a promflux benchmark data file (bad magic); delete it and rerun to regenerate`);
  }
  const version = buf.readUInt32LE(8);
  if (version !== FORMAT_VERSION) throw new Error(`${path}: data format v${version}, expected v${FORMAT_VERSION}; delete it and rerun`);
  const S = buf.readUInt32LE(12);
  const R = buf.readDoubleLE(16);
  const seed = buf.readDoubleLE(24);
  const K = buf.readUInt32LE(32);
  const f64Count = S + 1 + R + R + S + S;
  if (buf.length !== HEADER_BYTES + f64Count * 8 + K) throw new Error(`${path}: truncated benchmark data file; delete it and rerun`);
  // copy into an aligned buffer (Buffer pool slices may not be 8-aligned)
  const f = new Float64Array(f64Count);
  new Uint8Array(f.buffer).set(buf.subarray(HEADER_BYTES, HEADER_BYTES + f64Count * 8));
  let o = 0;
  const offsets = f.subarray(o, (o += S + 1));
  const ts = f.subarray(o, (o += R));
  const value = f.subarray(o, (o += R));
  const zMean = f.subarray(o, (o += S));
  const zStd = f.subarray(o, (o += S));
  const seriesKeys = buf.toString('utf8', HEADER_BYTES + f64Count * 8).split('\n').slice(0, S);
  const samplesPerSeries = S > 0 ? R / S : 0;
  return {
    spec: { series: S, samplesPerSeries, seed, nanRate: NaN, infRate: NaN, staleRate: NaN, stepMs: S > 0 && R > S ? ts[1]! - ts[0]! : 0, startMs: ts[0] ?? 0 },
    seriesCount: S,
    rows: R,
    offsets,
    ts,
    value,
    zMean,
    zStd,
    seriesKeys,
  };
}

/** Bump when generate() changes what a spec produces, so cached files are not reused. */
export const GENERATOR_VERSION = 1;

/** Path of the cached data file for a spec under `dir` (created on first use). */
export function dataFile(dir: string, spec: DataSpec): string {
  const name =
    `s${spec.series}-n${spec.samplesPerSeries}-seed${spec.seed}` +
    (spec.nanRate !== undefined ? `-nan${spec.nanRate}` : '') +
    `-g${GENERATOR_VERSION}.bin`;
  const path = join(dir, name);
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true });
    const tmp = path + '.' + process.pid + '.tmp';
    writeFileSync(tmp, encodeData(generate(spec)));
    // rename is atomic: a concurrent reader never sees a half-written file
    renameSync(tmp, path);
  }
  return path;
}

/**
 * Build one batch holding the whole data set (one run per series, no halo rows), as the engine's
 * workers would see it. Setup only, not timed; `length` rows in SharedArrayBuffer columns.
 */
export function toBatch(d: BenchData, id = 0): BatchDescriptor {
  const desc = allocBatch(id, `bench-${d.spec.seed}`, d.rows, d.seriesCount);
  const series = new Uint32Array(desc.series);
  new Float64Array(desc.ts).set(d.ts);
  new Float64Array(desc.value).set(d.value);
  new Uint32Array(desc.flags).fill(0);
  const runs = new Uint32Array(desc.runs);
  for (let k = 0; k < d.seriesCount; k++) {
    const a = d.offsets[k]!;
    const b = d.offsets[k + 1]!;
    series.fill(k, a, b);
    const o = k * RUN_STRIDE;
    runs[o] = k;
    runs[o + 1] = a;
    runs[o + 2] = 0;
    runs[o + 3] = b - a;
  }
  desc.length = d.rows;
  desc.runCount = d.seriesCount;
  desc.seriesKeys = d.seriesKeys.slice();
  desc.seriesKinds = d.seriesKeys.map(() => 1);
  return desc;
}

/** Reset a batch's mutable columns (value, flags) from the data so repeated timed runs start equal. */
export function resetBatch(desc: BatchDescriptor, d: BenchData): void {
  new Float64Array(desc.value, 0, d.rows).set(d.value);
  new Uint32Array(desc.flags, 0, d.rows).fill(0);
}

export { viewBatch };
