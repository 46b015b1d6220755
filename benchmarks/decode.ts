/**
 * Scenario "decode": Prometheus query_range JSON → typed columns.
 *
 * Same bytes for both contenders, already in a SharedArrayBuffer as the source delivers them:
 *  - promflux: the byte scanner (src/extract/prometheus/decode/json.ts) through the real filler
 *    into a BatchBuilder (series keys, runs, ts and value columns);
 *  - baseline: what one would write otherwise — TextDecoder + JSON.parse of the whole body, then a
 *    walk that builds the same series keys and fills preallocated Float64Arrays (Number() per
 *    value string, "+Inf"/"-Inf" mapped, timestamps × 1000 rounded).
 * Both run on one thread, same process, alternating, after warm-up. Two bodies: "typical" (gauges
 * and counters, short decimals as Prometheus prints them) and "rates" (17-significant-digit
 * values, which take the scanner's Number() fallback). Seeded data; the figure is samples/s.
 */
import { pathToFileURL } from 'node:url';
import os from 'node:os';
import { BatchBuilder } from '../src/batch/builder.js';
import { allocBatch, seriesKey } from '../src/batch/layout.js';
import { fillPromMatrix, type PromMatrixFill } from '../src/extract/prometheus/fillers.js';
import { median, type Figure, type Scenario, type ScenarioOptions, type ScenarioResult } from './lib/scenario.js';
import { mulberry32 } from '../src/util/random.js';

const rng = mulberry32;

/** A query_range body shaped like Prometheus' output (compact JSON, values as Go prints them). */
export function makeBody(series: number, points: number, kind: 'typical' | 'rates', seed = 42): Uint8Array {
  const r = rng(seed);
  const t0 = 1_700_000_000;
  const parts: string[] = ['{"status":"success","data":{"resultType":"matrix","result":['];
  for (let s = 0; s < series; s++) {
    if (s > 0) parts.push(',');
    parts.push(`{"metric":{"__name__":"node_cpu_seconds_total","cpu":"${s % 16}","instance":"host-${s >> 4}:9100","job":"node","mode":"user"},"values":[`);
    let c = Math.floor(r() * 1e6);
    for (let i = 0; i < points; i++) {
      let v: string;
      if (kind === 'rates') v = String(r() * 1000);
      else if (s % 3 === 0) v = String((c += Math.floor(r() * 100)));
      else if (s % 3 === 1) v = (Math.round(r() * 100000) / 100).toString();
      else v = i % 500 === 7 ? 'NaN' : (Math.round(r() * 1000) / 1000).toString();
      parts.push(i > 0 ? ',' : '', `[${t0 + i * 15}${i % 97 === 3 ? '.5' : ''},"${v}"]`);
    }
    parts.push(']}');
  }
  parts.push(']}}');
  const buf = Buffer.from(parts.join(''), 'utf8');
  const sab = new Uint8Array(new SharedArrayBuffer(buf.length));
  sab.set(buf);
  return sab;
}

const decoder = new TextDecoder();

/** Baseline: JSON.parse + walk into preallocated typed arrays (same outputs as the scanner). */
export function baselineDecode(body: Uint8Array, ts: Float64Array, val: Float64Array, sid: Uint32Array): number {
  // TextDecoder refuses SharedArrayBuffer views; copy out first (part of the baseline's real cost)
  const doc = JSON.parse(decoder.decode(body.slice())) as { data: { result: Array<{ metric: Record<string, string>; values: Array<[number, string]> }> } };
  const keys = new Map<string, number>();
  let n = 0;
  for (const s of doc.data.result) {
    const key = seriesKey(s.metric.__name__ ?? 'q', s.metric);
    let id = keys.get(key);
    if (id === undefined) keys.set(key, (id = keys.size));
    for (const [t, v] of s.values) {
      ts[n] = Math.round(t * 1000);
      val[n] = v === '+Inf' ? Infinity : v === '-Inf' ? -Infinity : Number(v);
      sid[n] = id;
      n++;
    }
  }
  return n;
}

export function promfluxDecode(body: Uint8Array, batch: ReturnType<typeof allocBatch>): number {
  const fill: PromMatrixFill = {
    kind: 'prom-matrix',
    body,
    query: 'bench',
    chunkId: 'bench:0-1',
    startMs: 0,
    endMs: 4e12,
    haloAll: true,
    haloSamples: 0,
    haloMs: 0,
    kinds: { node_cpu_seconds_total: 'counter' },
  };
  const b = new BatchBuilder(batch);
  fillPromMatrix(fill, b);
  return b.finish().length;
}

function time(fn: () => number, iters: number): { ms: number; n: number } {
  const t0 = performance.now();
  let n = 0;
  for (let i = 0; i < iters; i++) n += fn();
  return { ms: performance.now() - t0, n };
}

async function run(opts: ScenarioOptions): Promise<ScenarioResult> {
  const series = opts.quick ? 100 : 200;
  const points = opts.quick ? 1000 : 2000;
  const total = series * points;
  const ts = new Float64Array(total);
  const val = new Float64Array(total);
  const sid = new Uint32Array(total);
  const batch = allocBatch(0, 'bench', total, series);
  const figures: Figure[] = [];
  let mb = 0;
  for (const kind of ['typical', 'rates'] as const) {
    const body = makeBody(series, points, kind);
    mb = body.length / 1e6;
    // sanity: both produce the same rows
    if (promfluxDecode(body, batch) !== total || baselineDecode(body, ts, val, sid) !== total) throw new Error('decoders disagree on row count');
    const vals = new Float64Array(batch.value, 0, total);
    for (let i = 0; i < total; i++) {
      if (!Object.is(vals[i], val[i])) throw new Error(`decoders disagree at row ${i}: ${vals[i]} vs ${val[i]}`);
    }
    for (let w = 0; w < 3; w++) {
      promfluxDecode(body, batch);
      baselineDecode(body, ts, val, sid);
    }
    const ours: number[] = [];
    const base: number[] = [];
    const iters = opts.quick ? 3 : 5;
    for (let r = 0; r < opts.runs; r++) {
      const a = time(() => promfluxDecode(body, batch), iters);
      const b = time(() => baselineDecode(body, ts, val, sid), iters);
      ours.push((a.n / a.ms) * 1000);
      base.push((b.n / b.ms) * 1000);
    }
    const baseLabel = `JSON.parse + walk (${kind})`;
    const bm = median(base);
    const om = median(ours);
    figures.push({ label: baseLabel, value: Math.round(bm), unit: 'samples/s', samples: base.map(Math.round) });
    figures.push({
      label: `promflux byte scanner (${kind})`,
      value: Math.round(om),
      unit: 'samples/s',
      baseline: baseLabel,
      ratio: om / bm,
      target: kind === 'typical' ? 3 : undefined,
      pass: kind === 'typical' ? om / bm >= 3 : undefined,
      samples: ours.map(Math.round),
      note: `${((om * mb) / total).toFixed(0)} MB/s of JSON`,
    });
  }
  return {
    name: 'decode',
    title: 'Prometheus query_range JSON → typed columns',
    method:
      `Same ${series}×${points} = ${total} sample body (~${mb.toFixed(1)} MB, seeded) in a SharedArrayBuffer for both; one thread; ` +
      `baseline = TextDecoder + JSON.parse + walk into preallocated Float64Arrays with the same series keys; ` +
      `promflux = the worker filler into a BatchBuilder. Outputs checked equal. Median of ${opts.runs} runs, alternating, after warm-up. ` +
      `${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}.`,
    figures,
  };
}

export const scenario: Scenario = { name: 'decode', quick: true, run };
export default scenario;

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const quick = process.argv.includes('--quick');
  const res = await run({ quick, runs: 7 });
  console.log(res.title + '\n' + res.method);
  for (const f of res.figures) {
    console.log(`  ${f.label.padEnd(40)} ${f.value.toLocaleString().padStart(14)} ${f.unit}${f.ratio ? `   ×${f.ratio.toFixed(2)} vs baseline${f.target ? ` (target ×${f.target}: ${f.pass ? 'PASS' : 'FAIL'})` : ''}` : ''}${f.note ? `  [${f.note}]` : ''}`);
  }
}
