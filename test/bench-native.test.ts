/**
 * Cross-check: the C++ reference (native-bench/) and the JS kernels compute the same thing on the
 * same input file — every feature of the default feature set within 1e-9, the same dropped rows,
 * and line protocol that parses back to the same rows. Without this the "×native" ratio would
 * compare different work.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeData, fromSeries, generate, readData, toBatch, STALE_NAN_BITS, type BenchData } from '../benchmarks/lib/data.js';
import { nativeArgs } from '../benchmarks/lib/native.js';
import { GROUPS, NATIVE_SEMANTICS, ZSCORE_GIVEN_SPEC, zscoreState } from '../benchmarks/kernels-native.js';
import { compileTransforms } from '../src/transform/registry.js';
import { defaultFeatureSet } from '../src/transform/kernels/index.js';
import { BatchContext } from '../src/transform/context.js';
import { FLAG_DROPPED, parseSeriesKey, viewBatch } from '../src/batch/layout.js';
import { ensureNativeBench } from './harness/native.js';

const native = ensureNativeBench();
const skip = native.bin === null ? native.reason : false;

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'pfx-native-'));
});
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A data set with the awkward cases: gaps of NaN, ±Inf, stale markers, duplicate and out-of-order
 * timestamps, a constant series, an all-NaN series, a 1-sample series, uneven lengths, and label
 * values that need line-protocol escaping. */
function awkwardData(): BenchData {
  const g = generate({ series: 24, samplesPerSeries: 400, seed: 7, nanRate: 0.01, infRate: 0.002, staleRate: 0.002 });
  // Float64Arrays throughout: a plain JS array may canonicalize NaN payloads (losing stale markers)
  const list: { key: string; ts: Float64Array; value: Float64Array }[] = [];
  for (let s = 0; s < g.seriesCount; s++) {
    const a = g.offsets[s]!;
    const b = g.offsets[s + 1]!;
    const ts = g.ts.slice(a, b);
    const value = g.value.slice(a, b);
    if (s % 5 === 1) for (let i = 10; i < ts.length; i += 37) ts[i] = ts[i - 1]!; // duplicates
    if (s % 5 === 2) for (let i = 20; i < ts.length; i += 41) ts[i] = ts[i - 1]! - 7_000; // out of order
    if (s % 7 === 3) for (let i = 50; i < 120; i++) value[i] = NaN; // a long gap
    list.push({ key: g.seriesKeys[s]!, ts, value });
  }
  const t0 = g.ts[0]!;
  const steps = (n: number, step: number): Float64Array => Float64Array.from({ length: n }, (_, i) => t0 + i * step);
  list.push({ key: 'const_metric{job="c"}', ts: steps(200, 15_000), value: new Float64Array(200).fill(42.5) });
  list.push({ key: 'nan_metric{job="n"}', ts: steps(80, 15_000), value: new Float64Array(80).fill(NaN) });
  list.push({ key: 'one_metric{job="o"}', ts: steps(1, 15_000), value: Float64Array.of(3) });
  const weird = Float64Array.from({ length: 150 }, (_, i) => Math.sin(i / 7) * 1e-3 + i * 1e6);
  const bits = new BigUint64Array(weird.buffer);
  for (let i = 0; i < 150; i += 17) bits[i] = STALE_NAN_BITS;
  list.push({ key: 'weird_metric{path="/a b,c=d",quote="say \\"hi\\"",empty="",uni="żółw🐢"}', ts: steps(150, 30_000), value: weird });
  return fromSeries(list, 7);
}

const close = (a: number, b: number): boolean =>
  (Number.isNaN(a) && Number.isNaN(b)) || a === b || Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b)) + 1e-12;

/** Expected line-protocol prefix for a canonical key (spec escaping; empty tag values skipped). */
function lpPrefix(key: string): string {
  const { name, labels } = parseSeriesKey(key);
  const esc = (s: string, chars: RegExp): string => s.replace(chars, (c) => '\\' + c).replace(/\n/g, '\\n');
  let out = esc(name, /[, ]/g);
  for (const k of Object.keys(labels).sort()) if (labels[k] !== '') out += ',' + esc(k, /[,= ]/g) + '=' + esc(labels[k]!, /[,= ]/g);
  return out;
}

test('C++ reference matches the JS default feature set on the same file', { skip }, () => {
  const d = awkwardData();
  const file = join(dir, 'awkward.bin');
  writeFileSync(file, encodeData(d));
  const dump = join(dir, 'dump');
  spawnSync('mkdir', ['-p', dump]);
  const r = spawnSync(native.bin!, nativeArgs(file, { ...NATIVE_SEMANTICS, runs: 1, dump }), { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout) as {
    features: string[];
    dropped: Record<string, number>;
    lineprotocol: { lines: number };
    kernels: { name: string; ms: number[]; samplesPerSec: number }[];
  };
  // every timing the benchmark scenario reads is there
  for (const name of [...GROUPS.map((g) => g.native), 'lineprotocol']) {
    const k = report.kernels.find((x) => x.name === name);
    assert.ok(k && k.ms.length === 1 && k.samplesPerSec > 0, `native timing ${name}`);
  }

  // JS: the registered kernels over one batch built from the same file
  const rd = readData(file);
  const view = viewBatch(toBatch(rd));
  const ctx = new BatchContext(view);
  for (const k of compileTransforms(defaultFeatureSet())) k.run(ctx);

  assert.deepEqual(report.features, [...ctx.features.keys()], 'same feature columns in the same order');
  const flags = new Uint32Array(readFileSync(join(dump, 'flags.u32')).buffer.slice(0));
  let dropped = 0;
  for (let i = 0; i < rd.rows; i++) {
    const jsDrop = (view.flags[i]! & FLAG_DROPPED) !== 0;
    assert.equal((flags[i]! & FLAG_DROPPED) !== 0, jsDrop, `dropped flag differs at row ${i}`);
    if (jsDrop) dropped++;
  }
  const nativeDropped = Object.values(report.dropped).reduce((a, b) => a + b, 0);
  assert.equal(nativeDropped, dropped);
  for (const r of ['duplicate', 'out_of_order', 'stale', 'inf', 'nan']) assert.ok(report.dropped[r]! > 0, `no ${r} drops in ${JSON.stringify(report.dropped)}`);
  for (const reason of Object.keys(report.dropped)) {
    assert.equal(report.dropped[reason], ctx.dropped[reason] ?? 0, `drop reason ${reason}`);
  }

  let compared = 0;
  for (const [name, js] of ctx.features) {
    const buf = readFileSync(join(dump, `${name}.f64`));
    const cpp = new Float64Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
    assert.equal(cpp.length, rd.rows, name);
    let finite = 0;
    for (let i = 0; i < rd.rows; i++) {
      if (!close(cpp[i]!, js[i]!)) assert.fail(`${name}[${i}]: C++ ${cpp[i]} vs JS ${js[i]} (series ${rd.seriesKeys[view.series[i]!]})`);
      if (Number.isFinite(js[i]!)) finite++;
    }
    assert.ok(finite > rd.rows / 5, `${name}: only ${finite} finite values: the check would be vacuous`);
    compared++;
  }
  assert.equal(compared, 14);

  // z-score with given per-series parameters = the JS `scale` kernel in apply mode (kept rows)
  const zb = readFileSync(join(dump, 'zscore_given.f64'));
  const z = new Float64Array(zb.buffer.slice(zb.byteOffset, zb.byteOffset + zb.byteLength));
  const zctx = new BatchContext(view, zscoreState(rd));
  for (const k of compileTransforms([ZSCORE_GIVEN_SPEC])) k.run(zctx);
  const zjs = zctx.features.get('zscore_given')!;
  let zFinite = 0;
  for (let i = 0; i < rd.rows; i++) {
    if (view.flags[i]! & FLAG_DROPPED) continue;
    assert.ok(close(z[i]!, zjs[i]!), `zscore_given[${i}]: C++ ${z[i]} vs JS ${zjs[i]}`);
    if (Number.isFinite(zjs[i]!)) zFinite++;
  }
  assert.ok(zFinite > rd.rows / 2);

  // line protocol: one line per kept row, escaped keys, every field parses back to the column value
  const lines = readFileSync(join(dump, 'lines.lp'), 'utf8').split('\n');
  assert.equal(lines.pop(), '');
  assert.equal(lines.length, rd.rows - dropped);
  assert.equal(report.lineprotocol.lines, lines.length);
  const names = [...ctx.features.keys()];
  let li = 0;
  for (let i = 0; i < rd.rows; i++) {
    if (view.flags[i]! & FLAG_DROPPED) continue;
    const line = lines[li++]!;
    const s = view.series[i]!;
    const prefix = lpPrefix(rd.seriesKeys[s]!);
    assert.ok(line.startsWith(prefix + ' value='), `line ${li}: ${line.slice(0, 120)} should start with ${prefix}`);
    const rest = line.slice(prefix.length + 1);
    const sp = rest.lastIndexOf(' ');
    assert.equal(rest.slice(sp + 1), String(view.ts[i]), 'timestamp (ms precision)');
    const fields = rest.slice(0, sp).split(',').map((f) => f.split('='));
    assert.equal(fields[0]![0], 'value');
    assert.equal(Number(fields[0]![1]), view.value[i], `value field, line ${li}`);
    const want = names.filter((n) => Number.isFinite(ctx.features.get(n)![i]!));
    assert.deepEqual(fields.slice(1).map((f) => f[0]), want, `field keys, line ${li}`);
    for (const [k, v] of fields.slice(1)) assert.ok(close(Number(v), ctx.features.get(k!)![i]!), `${k} on line ${li}: ${v}`);
  }
});

test('C++ reference rejects a file that is not benchmark data, naming it', { skip }, () => {
  const bad = join(dir, 'bad.bin');
  writeFileSync(bad, Buffer.alloc(128));
  const r = spawnSync(native.bin!, ['--input', bad], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /bad\.bin: not a promflux benchmark data file/);
  const r2 = spawnSync(native.bin!, ['--bogus'], { encoding: 'utf8' });
  assert.equal(r2.status, 1);
  assert.match(r2.stderr, /unknown option --bogus/);
});
