/**
 * Line-protocol encoding, two comparisons on one thread, runs interleaved so background load hits
 * both sides alike:
 *  1. promflux's LineWriter against @influxdata/influxdb-client's Point, the peer a user would
 *     otherwise pick (same seeded rows, same output bytes, asserted before timing);
 *  2. the worker's encode step (SeriesEncoder over a batch: the WebAssembly row loop, and the JS
 *     LineWriter it falls back to) against native-bench's fmt-based C++ encoder, the physical
 *     limit, on the shared benchmark file, on both shapes users run: one field per line (the
 *     backfill shape) and value + the 14 default features.
 */
import { spawnSync } from 'node:child_process';
import { Point } from '@influxdata/influxdb-client';
import { LineWriter, encodeFieldKey, encodeSeriesKey, sortKeys } from '../src/encode/lineprotocol.js';
import { createSeriesEncoder } from '../src/encode/series.js';
import { useWasmLines, wasmLines } from '../src/encode/wasm-lines.js';
import { viewBatch } from '../src/batch/layout.js';
import { BatchContext } from '../src/transform/context.js';
import { compileTransforms } from '../src/transform/registry.js';
import { defaultFeatureSet } from '../src/transform/kernels/index.js';
import { NATIVE_SEMANTICS } from './kernels-native.js';
import { dataFile, mulberry32, readData, toBatch } from './lib/data.js';
import { baselineFigure, comparedFigure, perSecond } from './lib/figures.js';
import { buildNative, haveCompiler, nativeArgs, type NativeResult } from './lib/native.js';
import { dataDir } from './lib/paths.js';
import type { Figure, Scenario, ScenarioResult } from './lib/scenario.js';

const FEATURES = ['mean_5', 'std_5', 'min_5', 'max_5', 'rate', 'zscore'] as const;
const FIELDS = sortKeys(['value', ...FEATURES]); // Point writes fields sorted; LineWriter in call order
const WINDOW = 5;
const STEP_MS = 15_000;

const METRICS = [
  { name: 'node_cpu_seconds_total', counter: true, extra: ['cpu', 'mode'] },
  { name: 'node_memory_MemAvailable_bytes', counter: false, extra: [] },
  { name: 'http_requests_total', counter: true, extra: ['method', 'code', 'handler'] },
  { name: 'http_request_duration_seconds_sum', counter: true, extra: ['method', 'handler'] },
  { name: 'process_resident_memory_bytes', counter: false, extra: [] },
  { name: 'node_network_receive_bytes_total', counter: true, extra: ['device'] },
  { name: 'go_goroutines', counter: false, extra: [] },
  { name: 'node_filesystem_avail_bytes', counter: false, extra: ['device', 'mountpoint'] },
] as const;
const LABEL_VALUES: Record<string, readonly string[]> = {
  cpu: Array.from({ length: 16 }, (_, i) => String(i)),
  mode: ['idle', 'user', 'system', 'iowait', 'steal'],
  method: ['GET', 'POST', 'PUT'],
  code: ['200', '404', '500', '503'],
  handler: ['/api/v1/query', '/api/v1/query_range', '/metrics', '/-/healthy'],
  device: ['eth0', 'sda1', 'nvme0n1p2', 'lo'],
  mountpoint: ['/', '/var/lib/data', '/boot/efi'],
};

/** Rows grouped per series (as in a batch): series index, ms timestamp, value and 6 features. */
interface Rows {
  n: number;
  measurements: string[];
  tags: Record<string, string>[];
  series: Uint32Array;
  ts: Float64Array;
  value: Float64Array;
  features: Float64Array[];
}

export function makeRows(seriesCount: number, perSeries: number, seed = 20240601): Rows {
  const rnd = mulberry32(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const n = seriesCount * perSeries;
  const rows: Rows = {
    n,
    measurements: [],
    tags: [],
    series: new Uint32Array(n),
    ts: new Float64Array(n),
    value: new Float64Array(n),
    features: FEATURES.map(() => new Float64Array(n)),
  };
  const t0 = 1_717_200_000_000;
  let i = 0;
  for (let s = 0; s < seriesCount; s++) {
    const m = METRICS[s % METRICS.length]!;
    const tags: Record<string, string> = { instance: `10.0.${s % 7}.${10 + (s % 50)}:9100`, job: pick(['node', 'api', 'prometheus']) };
    for (const l of m.extra) tags[l] = pick(LABEL_VALUES[l]!);
    rows.measurements.push(m.name);
    rows.tags.push(tags);
    // counters: growing by integers or by centiseconds; gauges: random walks with 2-decimal readings
    let v = m.counter ? Math.floor(rnd() * 1e6) : Math.round(rnd() * 1e10) / 100;
    const start = i;
    for (let k = 0; k < perSeries; k++, i++) {
      if (m.counter) v += m.name.endsWith('seconds_total') || m.name.endsWith('_sum') ? Math.round(rnd() * 1500) / 100 : Math.floor(rnd() * 500);
      else v = Math.max(0, Math.round((v + (rnd() - 0.5) * v * 0.02) * 100) / 100);
      rows.series[i] = s;
      rows.ts[i] = t0 + k * STEP_MS;
      rows.value[i] = v;
      // rolling features over the last WINDOW values (NaN until the window fills: omitted fields)
      const lo = Math.max(start, i - WINDOW + 1);
      const cnt = i - lo + 1;
      let sum = 0;
      let mn = Infinity;
      let mx = -Infinity;
      for (let j = lo; j <= i; j++) {
        const x = rows.value[j]!;
        sum += x;
        if (x < mn) mn = x;
        if (x > mx) mx = x;
      }
      const mean = sum / cnt;
      let ss = 0;
      for (let j = lo; j <= i; j++) ss += (rows.value[j]! - mean) ** 2;
      const std = cnt > 1 ? Math.sqrt(ss / (cnt - 1)) : NaN;
      const full = cnt === WINDOW;
      rows.features[0]![i] = full ? mean : NaN;
      rows.features[1]![i] = full ? std : NaN;
      rows.features[2]![i] = full ? mn : NaN;
      rows.features[3]![i] = full ? mx : NaN;
      rows.features[4]![i] = k > 0 ? ((v - rows.value[i - 1]!) * 1000) / STEP_MS : NaN;
      rows.features[5]![i] = full && std > 0 ? (v - mean) / std : NaN;
    }
  }
  return rows;
}

/** promflux: series keys encoded once per series (as the worker caches them), then bytes per row. */
export function encodeLineWriter(rows: Rows, w: LineWriter): Uint8Array {
  const keys = rows.measurements.map((m, s) => encodeSeriesKey(m, rows.tags[s]!));
  const fieldKeys = FIELDS.map((f) => encodeFieldKey(f));
  // columns in field order (sorted): 'max_5','mean_5','min_5','rate','std_5','value','zscore'
  const cols = FIELDS.map((f) => (f === 'value' ? rows.value : rows.features[FEATURES.indexOf(f as (typeof FEATURES)[number])]!));
  const nf = cols.length;
  const { series, ts } = rows;
  for (let i = 0; i < rows.n; i++) {
    w.begin(keys[series[i]!]!);
    for (let f = 0; f < nf; f++) w.float(fieldKeys[f]!, cols[f]![i]!);
    w.end(ts[i]!);
  }
  return w.take();
}

/** The peer: a Point per row, toLineProtocol(), lines joined and UTF-8 encoded as the client's WriteApi sends them. */
export function encodePoint(rows: Rows): Uint8Array {
  const lines: string[] = new Array(rows.n);
  const { series, ts, value, features } = rows;
  for (let i = 0; i < rows.n; i++) {
    const s = series[i]!;
    const p = new Point(rows.measurements[s]!);
    const tags = rows.tags[s]!;
    for (const k in tags) p.tag(k, tags[k]!);
    if (Number.isFinite(value[i]!)) p.floatField('value', value[i]!);
    for (let f = 0; f < FEATURES.length; f++) {
      const x = features[f]![i]!;
      if (Number.isFinite(x)) p.floatField(FEATURES[f]!, x); // Point throws on NaN
    }
    p.timestamp(ts[i]!);
    lines[i] = p.toLineProtocol()!;
  }
  return Buffer.from(lines.join('\n') + '\n', 'utf8');
}

function timeOnce(fn: () => unknown): number {
  const t = performance.now();
  fn();
  return performance.now() - t;
}

/** One native run (line-protocol rows only), its two line-protocol timings in ms. */
function nativeLineProtocol(file: string): { wide: number; one: number; res: NativeResult } {
  const r = spawnSync(buildNative(), [...nativeArgs(file, { ...NATIVE_SEMANTICS, runs: 1 }), '--lp-only'], { encoding: 'utf8', maxBuffer: 16 * 2 ** 20 });
  if (r.error || r.status !== 0) throw new Error(`promflux-native failed (${r.error?.message ?? 'exit ' + r.status}): ${(r.stderr ?? '').trim()}`);
  const res = JSON.parse(r.stdout) as NativeResult & { lineprotocolValue?: { lines: number } };
  const ms = (name: string): number => {
    const k = res.kernels.find((x) => x.name === name);
    if (!k) throw new Error(`promflux-native printed no "${name}" timing: rebuild native-bench (make -C native-bench)`);
    return k.ms[0]!;
  };
  return { wide: ms('lineprotocol'), one: ms('lineprotocol_value'), res };
}

/**
 * The worker's encode step over one batch of the benchmark file with the default feature set
 * computed (untimed): `wide` writes value + every feature, `one` only value.
 */
function workerEncoders(file: string) {
  const d = readData(file);
  const ctx = new BatchContext(viewBatch(toBatch(d)));
  for (const k of compileTransforms(defaultFeatureSet())) k.run(ctx);
  const view = ctx.batch;
  const names = [...ctx.features.keys()];
  const cols = names.map((n) => ctx.features.get(n)!);
  const spec = { precision: 'ms' as const, floatDigits: 0, valueField: 'value', flagsField: false };
  const wide = createSeriesEncoder(spec, names);
  const one = createSeriesEncoder(spec, []);
  const w = new LineWriter({ precision: 'ms', initialBytes: 1 << 20 });
  const emitted = new Uint8Array(view.desc.seriesKeys.length);
  const run = (shape: 'wide' | 'one', wasm: boolean): { lines: number; bytes: Uint8Array | null; ms: number } => {
    const was = useWasmLines(wasm);
    w.reset();
    const t = performance.now();
    const lines = shape === 'wide' ? wide.encode(w, view, cols, {}, emitted) : one.encode(w, view, [], {}, emitted);
    const ms = performance.now() - t;
    useWasmLines(was);
    return { lines, bytes: null, ms };
  };
  const bytesOf = (shape: 'wide' | 'one', wasm: boolean): Uint8Array => {
    run(shape, wasm);
    return w.bytes().slice();
  };
  return { rows: d.rows, features: names.length, run, bytesOf };
}

async function versusNative(quick: boolean, runs: number, log?: (m: string) => void): Promise<{ figures: Figure[]; method: string; notes: string[] }> {
  if (!haveCompiler()) return { figures: [], method: '', notes: ['native comparison skipped: no g++/libfmt (apt-get install -y g++ make libfmt-dev)'] };
  const spec = quick ? { series: 300, samplesPerSeries: 2000, seed: 42 } : { series: 1000, samplesPerSeries: 5000, seed: 42 };
  const file = dataFile(dataDir(), spec);
  const enc = workerEncoders(file);
  const haveWasm = wasmLines() !== null;
  const notes: string[] = [];
  // Byte-identical output from both promflux paths, before any timing.
  for (const shape of ['wide', 'one'] as const) {
    if (!haveWasm) break;
    const a = enc.bytesOf(shape, true);
    const b = enc.bytesOf(shape, false);
    if (Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) !== 0) {
      throw new Error(`encoder benchmark: WebAssembly and JS encoders differ on the ${shape} shape (${a.byteLength} vs ${b.byteLength} bytes)`);
    }
  }
  const bytesWide = enc.bytesOf('wide', haveWasm).byteLength;
  const bytesOne = enc.bytesOf('one', haveWasm).byteLength;
  const ms: Record<string, number[]> = { nWide: [], nOne: [], wWide: [], wOne: [], jWide: [], jOne: [] };
  let lines = { wide: 0, one: 0 };
  let native: NativeResult | undefined;
  for (let r = 0; r < runs + 1; r++) {
    const n = nativeLineProtocol(file);
    native = n.res;
    const wWide = haveWasm ? enc.run('wide', true) : null;
    const wOne = haveWasm ? enc.run('one', true) : null;
    const jWide = enc.run('wide', false);
    const jOne = enc.run('one', false);
    lines = { wide: jWide.lines, one: jOne.lines };
    if (r === 0) continue; // warm-up round
    ms.nWide!.push(n.wide);
    ms.nOne!.push(n.one);
    if (wWide && wOne) {
      ms.wWide!.push(wWide.ms);
      ms.wOne!.push(wOne.ms);
    }
    ms.jWide!.push(jWide.ms);
    ms.jOne!.push(jOne.ms);
    log?.(`native round ${r}/${runs} done`);
  }
  const nl = native!.lineprotocol.lines;
  if (nl !== lines.wide) notes.push(`line protocol: promflux wrote ${lines.wide} lines, C++ ${nl}`);
  const nativeWide = baselineFigure(`native C++ (fmt): value + ${enc.features} features`, perSecond(nl, ms.nWide!), 'lines/s');
  nativeWide.note = `${(native!.lineprotocol.bytes / nl).toFixed(0)} B/line`;
  const nativeOne = baselineFigure('native C++ (fmt): 1 field (value)', perSecond(nl, ms.nOne!), 'lines/s');
  const figures: Figure[] = [nativeWide];
  if (haveWasm) {
    figures.push(comparedFigure(`promflux worker encode (WebAssembly): value + ${enc.features} features`, perSecond(lines.wide, ms.wWide!), 'lines/s', nativeWide, { target: 0.8, note: `${(bytesWide / lines.wide).toFixed(0)} B/line` }));
  }
  figures.push(comparedFigure(`promflux worker encode (JS fallback): value + ${enc.features} features`, perSecond(lines.wide, ms.jWide!), 'lines/s', nativeWide, {}));
  figures.push(nativeOne);
  if (haveWasm) {
    figures.push(comparedFigure('promflux worker encode (WebAssembly): 1 field', perSecond(lines.one, ms.wOne!), 'lines/s', nativeOne, { target: 0.8, note: `${(bytesOne / lines.one).toFixed(0)} B/line` }));
  } else notes.push('the WebAssembly encoder is not built (npm run build): JS fallback only');
  figures.push(comparedFigure('promflux worker encode (JS fallback): 1 field', perSecond(lines.one, ms.jOne!), 'lines/s', nativeOne, {}));
  const method =
    ` Versus native: the shared benchmark file (${spec.series} series × ${spec.samplesPerSeries} samples, seed 42) with the default ` +
    `feature set computed once (untimed), so ${enc.features} feature columns; C++: native-bench ${native!.compiler} -O3 -march=native, ` +
    `fmt ${native!.fmt} \`{}\` (Dragonbox shortest) into a presized buffer, series prefixes built once, one process per round ` +
    `(--lp-only); promflux: the worker's encode step (createSeriesEncoder(...).encode over the batch, series keys cached per ` +
    `series, into one reused LineWriter buffer), the WebAssembly row loop and the JS fallback, outputs asserted byte-identical ` +
    `before timing. ${runs} rounds after one warm-up round, each round: native once, then each promflux path once.`;
  return { figures, method, notes };
}

const scenario: Scenario = {
  name: 'encoder',
  quick: true,
  async run({ quick, runs, log }): Promise<ScenarioResult> {
    const seriesCount = quick ? 200 : 1000; // 50k or 250k rows
    const perSeries = 250;
    const rows = makeRows(seriesCount, perSeries);
    const shortest = new LineWriter({ precision: 'ms', initialBytes: 1 << 20 });
    const six = new LineWriter({ precision: 'ms', floatDigits: 6, initialBytes: 1 << 20 });

    // Fairness check: identical bytes from both sides, before any timing.
    const ours = encodeLineWriter(rows, shortest);
    const theirs = encodePoint(rows);
    if (Buffer.compare(Buffer.from(ours.buffer, ours.byteOffset, ours.byteLength), Buffer.from(theirs.buffer, theirs.byteOffset, theirs.byteLength)) !== 0) {
      throw new Error(`encoder benchmark: LineWriter and Point outputs differ (${ours.byteLength} vs ${theirs.byteLength} bytes); fix the encoder before timing`);
    }
    const bytesPerLine = ours.byteLength / rows.n;

    // Warm-up both, then interleave runs: A, B, A, B … so drifting background load is shared.
    for (let i = 0; i < 2; i++) {
      encodeLineWriter(rows, shortest);
      encodePoint(rows);
      encodeLineWriter(rows, six);
    }
    const msOurs: number[] = [];
    const msPoint: number[] = [];
    const msSix: number[] = [];
    for (let r = 0; r < runs; r++) {
      msOurs.push(timeOnce(() => encodeLineWriter(rows, shortest)));
      msPoint.push(timeOnce(() => encodePoint(rows)));
      msSix.push(timeOnce(() => encodeLineWriter(rows, six)));
    }
    const point = baselineFigure('Point.toLineProtocol() + UTF-8', perSecond(rows.n, msPoint), 'lines/s');
    const figures: Figure[] = [
      point,
      comparedFigure('promflux LineWriter (shortest floats)', perSecond(rows.n, msOurs), 'lines/s', point, {
        target: 10,
        note: `${bytesPerLine.toFixed(0)} B/line, byte-identical to Point`,
      }),
      comparedFigure('promflux LineWriter (floatDigits: 6)', perSecond(rows.n, msSix), 'lines/s', point, {
        note: 'shorter lines, not byte-identical (no target)',
      }),
    ];
    const vs = await versusNative(quick, runs, log);
    figures.push(...vs.figures);
    return {
      name: 'encoder',
      title: 'Line-protocol encoder vs @influxdata/influxdb-client Point and the native C++ encoder',
      method:
        `${rows.n} seeded rows (${seriesCount} series × ${perSeries} samples, 8 metric shapes, 3-5 tags, value + 6 rolling ` +
        `features mostly full-precision doubles, NaN features omitted), one thread, ${runs} interleaved runs after 2 warm-ups. ` +
        `promflux: series/field keys encoded once per series per run (as workers cache them), bytes written into one ` +
        `reused buffer, take() copies them out. Point: new Point per row with the same tags and fields, toLineProtocol(), ` +
        `lines joined and UTF-8 encoded (what its WriteApi sends). Outputs asserted byte-identical before timing.` +
        vs.method,
      figures,
      notes: [
        'LineWriter rows (vs Point): the JS writer, floats formatted exactly like String(v) without allocating (exact ' +
          'double-double scaling; String() only for |v| < 1e-6 or >= 1e17). Worker-encode rows (vs native): the WebAssembly ' +
          'row loop with Ryu shortest formatting (src/encode/wasm/lineprotocol.as.ts), which workers use by default, and the JS ' +
          'fallback; the timed region includes copying the batch columns into the module and the lines out of it.',
        ...vs.notes,
      ],
    };
  },
};

export default scenario;
