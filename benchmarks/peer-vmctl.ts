/**
 * Snapshot backfill side by side (issue 16): vmctl's `prometheus` mode vs promflux's
 * prometheus-tsdb source on the same snapshot (500 series × 5 760 samples made with `promtool tsdb
 * create-blocks-from openmetrics`), each into a fresh VictoriaMetrics, interleaved, median of the
 * runs; VictoriaMetrics must hold exactly the expected sample count after every run. Also
 * promflux's remote-read path from a Prometheus serving a copy of the same blocks. Own CPU is the
 * child's user+sys (`/usr/bin/time`, which waits for the tool and counts its threads; vmctl runs
 * under `script -qec` because it needs a terminal). Then "decode at the limit": the tsdb source's
 * plan + worker fill (positioned reads + CRC + XOR decode into batch columns, no kernels, no
 * encoding) on 1 and 2 threads, and native-bench/xor doing the same work on the same plan (method at
 * DECODE_METHOD). PROMFLUX_BENCH_DECODE_ONLY=1 runs only that part.
 */
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import pino from 'pino';
import { BatchBuilder } from '../src/batch/builder.js';
import { allocBatch } from '../src/batch/layout.js';
import { CH, C_BYTES, C_ENC, C_FILE, C_OFF, C_SAMPLES, C_TOMB0, C_TOMB1, fillTsdb, type TsdbFill } from '../src/extract/tsdb/fill.js';
import { createTsdbSource } from '../src/extract/tsdb/source.js';
import { startVictoria } from '../test/harness/victoria.js';
import { baselineFigure, comparedFigure } from './lib/figures.js';
import { buildNative, haveCompiler } from './lib/native.js';
import { BLOCKS_STEP_S, BLOCKS_T0_S, ensureBlocks as ensurePromBlocks, startPromOn } from './lib/prom-blocks.js';
import { cliPath, nativeDir } from './lib/paths.js';
import { median, type Figure, type Scenario, type ScenarioResult } from './lib/scenario.js';

const SERIES = 500;
const PER_SERIES = 5_760;
const T0 = BLOCKS_T0_S; // s, hour-aligned
const STEP = BLOCKS_STEP_S;
/**
 * promflux's request size in this scenario: vmctl's default (-vm-batch-size=200000 samples per
 * import request). The sink's defaults (batchLines 5000, batchBytes 10 MB) are InfluxDB's
 * recommendation; with them the main thread sends ~590 requests for the 2.88M lines, and A/B
 * (interleaved, 5 runs each) the whole run took 14 % more CPU than with these (issue 16).
 */
const REQUEST_LINES = 200_000;
const REQUEST_BYTES = 16_000_000;

/** Blocks for SERIES × PER_SERIES samples, cached in the bench data dir (promtool takes a while). */
const ensureBlocks = (): string => ensurePromBlocks(SERIES, PER_SERIES);

interface Timed {
  wallMs: number;
  cpuS: number;
  stdout: string;
}

/** Run a command under /usr/bin/time; own CPU = the child's user+sys. */
function timed(argv: string[], opts: { tty?: boolean; timeoutMs?: number } = {}): Promise<Timed> {
  const tfile = join(tmpdir(), `promflux-time-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const inner = ['/usr/bin/time', '-o', tfile, '-f', '%U %S', ...argv];
  const quote = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
  const cmd = opts.tty ? ['script', '-qec', inner.map(quote).join(' '), '/dev/null'] : inner;
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn(cmd[0]!, cmd.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20000)));
    p.stderr.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20000)));
    const timer = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 300_000);
    p.on('exit', (code) => {
      clearTimeout(timer);
      const wallMs = performance.now() - t0;
      let cpuS = NaN;
      try {
        const [u, s] = readFileSync(tfile, 'utf8').trim().split(/\s+/).slice(-2).map(Number);
        cpuS = u! + s!;
        rmSync(tfile, { force: true });
      } catch {
        /* reported below */
      }
      if (code !== 0) reject(new Error(`${argv.join(' ')} exited ${code}: ${out.slice(-3000)}`));
      else resolve({ wallMs, cpuS, stdout: out });
    });
  });
}

async function countOnce(url: string): Promise<number> {
  await fetch(`${url}/internal/force_flush`);
  const res = await fetch(`${url}/api/v1/export?${new URLSearchParams({ 'match[]': '{__name__=~"bench_gauge.*"}' })}`);
  const text = await res.text();
  let n = 0;
  for (const l of text.split('\n')) if (l.trim()) n += (JSON.parse(l) as { timestamps: number[] }).timestamps.length;
  return n;
}

/**
 * Samples VictoriaMetrics holds, counted until two counts 2 s apart agree (a loaded VM can still
 * be ingesting accepted requests when the tool exits); `first` is the count right after the tool.
 */
async function countIn(url: string): Promise<{ n: number; first: number }> {
  const first = await countOnce(url);
  let prev = first;
  for (let i = 0; i < 10; i++) {
    await new Promise((r) => setTimeout(r, 2_000));
    const n = await countOnce(url);
    if (n === prev) return { n, first };
    prev = n;
  }
  return { n: prev, first };
}


function promfluxYaml(file: string, source: Record<string, unknown>): string {
  const y = join(tmpdir(), `promflux-peer-${process.pid}-${file}.yaml`);
  writeFileSync(y, `pipelines:\n  - name: peer\n    source: ${JSON.stringify(source)}\n    transform: []\n    sink: { kind: 'null' }\n`);
  return y;
}

/** The tsdb source's plan of the whole snapshot: the fills its workers get. */
async function planFills(blocks: string): Promise<TsdbFill[]> {
  const src = createTsdbSource({ kind: 'prometheus-tsdb', path: blocks, selectors: [] }, { logger: pino({ level: 'silent' }) });
  await src.open({ haloSamples: 0, haloMs: 0, signal: new AbortController().signal, logger: pino({ level: 'silent' }) });
  const fills: TsdbFill[] = [];
  for (;;) {
    const c = await src.next(100_000);
    if (!c) break;
    fills.push(c.fill as TsdbFill);
  }
  return fills;
}

/**
 * One pass of every fill on this thread into one reused batch: wall ms and this process' CPU ms
 * (user+sys: the machine may be shared, and CPU time is what a loaded machine inflates least).
 */
function fillPass(fills: readonly TsdbFill[], b: ReturnType<typeof allocBatch>): { ms: number; cpuMs: number; rows: number } {
  let rows = 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (const f of fills) {
    const builder = new BatchBuilder(b);
    fillTsdb(f, builder);
    rows += builder.length;
  }
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { ms, cpuMs: (c.user + c.system) / 1000, rows };
}

/** `threads` worker threads, each filling its share of the fills into its own batch, `runs` times after one warm-up. */
async function threadRate(fills: readonly TsdbFill[], threads: number, runs: number, total: number): Promise<{ wall: number[]; cpu: number[] }> {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    (async () => {
      const { fillTsdb } = await import(workerData.fill);
      const { BatchBuilder } = await import(workerData.builder);
      const { allocBatch } = await import(workerData.layout);
      const b = allocBatch(0, 'x', 200000, 1024);
      parentPort.on('message', (m) => { const t0 = performance.now(); for (const f of workerData.fills) fillTsdb(f, new BatchBuilder(b)); parentPort.postMessage(performance.now() - t0); });
      parentPort.postMessage('ready');
    })();`;
  const base = new URL('../src/', import.meta.url);
  const workers = Array.from({ length: threads }, (_, i) =>
    new Worker(code, { eval: true, workerData: { fills: fills.filter((_, k) => k % threads === i), fill: new URL('extract/tsdb/fill.js', base).href, builder: new URL('batch/builder.js', base).href, layout: new URL('batch/layout.js', base).href } }),
  );
  await Promise.all(workers.map((w) => new Promise((r) => w.once('message', r))));
  const out = { wall: [] as number[], cpu: [] as number[] };
  for (let r = 0; r < runs + 1; r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await Promise.all(workers.map((w) => new Promise((res) => { w.once('message', res); w.postMessage('go'); })));
    const ms = performance.now() - t0;
    const c = process.cpuUsage(c0);
    if (r > 0) {
      out.wall.push((total * 1000) / ms);
      out.cpu.push((total * 1e6) / (c.user + c.system));
    }
  }
  await Promise.all(workers.map((w) => w.terminate()));
  return out;
}

/**
 * The plan as native-bench/xor reads it (`--chunks`; format at readPlan in xor_decode.cpp): the
 * segment files, and per fill its window and chunks (file, series, offset, bytes, samples).
 */
function writePlan(fills: readonly TsdbFill[], file: string): void {
  const paths: string[] = [];
  const index = new Map<string, number>();
  const parts: Buffer[] = [Buffer.from('PFXPLAN1')];
  const u32 = (x: number) => { const h = Buffer.alloc(4); h.writeUInt32LE(x); parts.push(h); };
  const f64 = (x: number) => { const h = Buffer.alloc(8); h.writeDoubleLE(x); parts.push(h); };
  for (const f of fills) for (const p of f.files) if (!index.has(p)) index.set(p, paths.push(p) - 1);
  u32(paths.length);
  for (const p of paths) {
    u32(Buffer.byteLength(p));
    parts.push(Buffer.from(p));
  }
  u32(fills.length);
  for (const f of fills) {
    f64(f.startMs);
    f64(f.endMs);
    u32(f.keys.length);
    u32(f.chunks.length / CH);
    for (let s = 0; s < f.keys.length; s++) {
      for (let c = f.seriesStart[s]!; c < f.seriesStart[s + 1]!; c++) {
        const o = c * CH;
        if (f.chunks[o + C_ENC] !== 1 || f.chunks[o + C_TOMB1]! > f.chunks[o + C_TOMB0]!) throw new Error('decode-limit plan: the bench blocks should hold plain XOR chunks only');
        u32(index.get(f.files[f.chunks[o + C_FILE]!]!)!);
        u32(s);
        f64(f.chunks[o + C_OFF]!);
        u32(f.chunks[o + C_BYTES]!);
        u32(f.chunks[o + C_SAMPLES]!);
      }
    }
  }
  writeFileSync(file, Buffer.concat(parts));
}

/** The XOR payloads of every chunk, as the diagnostic `--input` mode's input: u32le length + bytes, repeated. */
function dumpChunks(fills: readonly TsdbFill[], file: string): number {
  const bufs: Buffer[] = [];
  const cache = new Map<string, Buffer>();
  let n = 0;
  for (const f of fills) {
    for (let i = 0; i < f.chunks.length / CH; i++) {
      const path = f.files[f.chunks[i * CH + C_FILE]!]!;
      const off = f.chunks[i * CH + C_OFF]!;
      const bytes = f.chunks[i * CH + C_BYTES]!;
      let whole = cache.get(path);
      if (!whole) cache.set(path, (whole = readFileSync(path)));
      const all = whole.subarray(off, off + bytes);
      let q = 0;
      while (all[q]! & 0x80) q++;
      q++;
      const data = all.subarray(q + 1, all.length - 4);
      const h = Buffer.alloc(4);
      h.writeUInt32LE(data.length);
      bufs.push(h, data);
      n += f.chunks[i * CH + C_SAMPLES]!;
    }
  }
  writeFileSync(file, Buffer.concat(bufs));
  return n;
}

interface NativeXorOut {
  samples: number;
  runsMs: number[];
  cpuMs: number[];
  crc?: string;
}

function runNativeXor(args: string[]): NativeXorOut {
  return JSON.parse(execFileSync(join(nativeDir(), 'build', 'promflux-xor'), args, { encoding: 'utf8' })) as NativeXorOut;
}

/**
 * Decode at the limit. Rounds interleave, one pass each: promflux's filler on this thread, the
 * native reader doing the same work (`--chunks`: pread + CRC-32C + decode into columns) and the
 * native payload-only decoder (diagnostic). Then 2 worker threads against the 10M samples/s target.
 */
async function decodeAtLimit(snap: string, runs: number, log: (l: string) => void): Promise<{ figures: Figure[]; notes: string[] }> {
  const total = SERIES * PER_SERIES;
  const notes: string[] = [];
  const fills = await planFills(snap);
  const b = allocBatch(0, 'x', 200_000, 1024);
  const native = haveCompiler();
  const plan = join(tmpdir(), `promflux-xor-plan-${process.pid}.bin`);
  const payloads = join(tmpdir(), `promflux-xor-${process.pid}.bin`);
  if (native) {
    buildNative();
    writePlan(fills, plan);
    const n = dumpChunks(fills, payloads);
    if (n !== total) notes.push(`the plan holds ${n} samples, expected ${total}`);
  }
  const one = { wall: [] as number[], cpu: [] as number[] };
  const nat = { wall: [] as number[], cpu: [] as number[] };
  const pay = { wall: [] as number[], cpu: [] as number[] };
  let crc = '';
  fillPass(fills, b); // warm-up
  try {
    for (let r = 0; r < runs; r++) {
      const p = fillPass(fills, b);
      if (p.rows !== total) notes.push(`round ${r + 1}: promflux filled ${p.rows} rows, expected ${total}`);
      one.wall.push((total * 1000) / p.ms);
      one.cpu.push((total * 1000) / p.cpuMs);
      if (native) {
        const c = runNativeXor(['--chunks', plan, '--runs', '1']);
        if (c.samples !== total) notes.push(`round ${r + 1}: native reader kept ${c.samples} samples, expected ${total}`);
        crc = c.crc ?? '';
        nat.wall.push((total * 1000) / c.runsMs[0]!);
        nat.cpu.push((total * 1000) / c.cpuMs[0]!);
        const d = runNativeXor(['--input', payloads, '--runs', '1']);
        pay.wall.push((total * 1000) / d.runsMs[0]!);
        pay.cpu.push((total * 1000) / d.cpuMs[0]!);
      }
      log(`decode round ${r + 1}/${runs}: promflux ${(one.wall.at(-1)! / 1e6).toFixed(1)}M/s${native ? `, native ${(nat.wall.at(-1)! / 1e6).toFixed(1)}M/s, payload-only ${(pay.wall.at(-1)! / 1e6).toFixed(1)}M/s` : ''}`);
    }
  } finally {
    rmSync(plan, { force: true });
    rmSync(payloads, { force: true });
  }
  const two = await threadRate(fills, Math.min(2, cpus().length), runs, total);
  const ours1 = 'promflux tsdb read + CRC + XOR decode into columns, 1 thread';
  const figures: Figure[] = [];
  const d2: Figure = { label: 'promflux tsdb read + CRC + XOR decode into columns, 2 threads', value: median(two.wall), unit: 'samples/s', samples: two.wall, baseline: "the issue's 10M samples/s", ratio: median(two.wall) / 10e6, target: 1, pass: median(two.wall) >= 10e6 };
  if (native) {
    const nBase = baselineFigure(`native C++ tsdb read + CRC-32C (${crc || 'sse4.2'}) + XOR decode into columns, 1 core`, nat.wall, 'samples/s');
    const pBase = baselineFigure('native C++ XOR payload decoder (in memory, no CRC, no columns), 1 core', pay.wall, 'samples/s', 'diagnostic: the earlier physical-limit row');
    const nCpu = baselineFigure('native C++ tsdb read + CRC-32C + XOR decode into columns, per CPU-second', nat.cpu, 'samples/s');
    figures.push(
      nBase,
      comparedFigure(ours1, one.wall, 'samples/s', nBase, { target: 0.8 }),
      d2,
      pBase,
      comparedFigure(`${ours1} vs the payload-only decoder`, one.wall, 'samples/s', pBase, { note: 'diagnostic' }),
      nCpu,
      comparedFigure(`${ours1}, per CPU-second`, one.cpu, 'samples/s', nCpu, { note: 'diagnostic: the target is on wall time' }),
      comparedFigure('promflux tsdb read + CRC + XOR decode into columns, 2 threads, per CPU-second', two.cpu, 'samples/s', nCpu, { note: "both workers' CPU together" }),
    );
  } else {
    notes.push('no C++ compiler: the native rows are missing');
    figures.push(baselineFigure(ours1, one.wall, 'samples/s'), d2);
  }
  return { figures, notes };
}

/** How the decode-at-the-limit rows are made (RESULTS.md method text). */
const DECODE_METHOD =
  'Decode at the limit: plan once, then fill every planned chunk (positioned reads, CRC-32C, XOR decode into SharedArrayBuffer batch columns; no kernels, no encoding). ' +
  'Rounds interleave one pass each of promflux on 1 thread and of the native reader (native-bench/xor, g++ -O3 -march=native -msse4.2) doing the same work on the same plan: pread of the same chunk segment files (neighbours < 64 KiB apart coalesced, as promflux reads), length and CRC-32C check of every chunk with the hardware crc32 instruction (_mm_crc32_u64, as a native reader would; Go\'s hash/crc32 uses it too), decode straight into f64 ts / f64 value / u32 series / u32 flags columns of a 200 000-row batch, keeping rows in the window that increase. ' +
  'The native bit reader is the plain one (byte refill, one bit per control branch), not the fastest a native decoder could be. The old payload-only row (XOR data in memory, no CRC, no columns) is kept as a diagnostic. Then 2 worker threads against the 10M samples/s target. Wall clock and process CPU time per pass. ' +
  'promflux decodes in WebAssembly (src/extract/tsdb/wasm/xor.as.ts; wasm has no CRC or carry-less multiply instruction, so CRC-32C is table-driven slicing-by-8): one call checks and decodes a series run\'s chunks into one region, which the RunWriter copies into the batch at once (RunWriter.sampleRun; chunk bytes are read straight into wasm memory, the decoded columns are copied once more into the batch).';

const scenario: Scenario = {
  name: 'peer-vmctl',
  quick: false,
  async run(opts): Promise<ScenarioResult> {
    const log = opts.log ?? (() => undefined);
    const runs = Math.max(3, Math.min(opts.runs, 5));
    log('preparing blocks (promtool, cached)…');
    const blocks = ensureBlocks();
    const total = SERIES * PER_SERIES;
    const snap = mkdtempSync(join(tmpdir(), 'promflux-peer-snap-'));
    cpSync(blocks, snap, { recursive: true }); // vmctl and promflux read the same copy
    if (process.env.PROMFLUX_BENCH_DECODE_ONLY === '1') {
      // the decode-at-the-limit rows alone (A/B of the decoder), no VictoriaMetrics, no vmctl
      log('decode at the limit only (PROMFLUX_BENCH_DECODE_ONLY=1)…');
      const decode = await decodeAtLimit(snap, runs, log);
      rmSync(snap, { recursive: true, force: true });
      return { name: 'peer-vmctl', title: 'Snapshot backfill: decode at the limit only (issue 16)', method: DECODE_METHOD, figures: decode.figures, notes: decode.notes };
    }
    const prom = await startPromOn(blocks);
    const end = new Date((T0 + PER_SERIES * STEP) * 1000).toISOString();
    const start = new Date(T0 * 1000).toISOString();
    const yTsdb = promfluxYaml('tsdb', { kind: 'prometheus-tsdb', path: snap });
    // start-up and planning without samples: a selector that matches nothing (fixed cost per run)
    const yEmpty = promfluxYaml('empty', { kind: 'prometheus-tsdb', path: snap, selectors: ['{__name__="peer_vmctl_no_such_metric"}'] });
    const yRr = promfluxYaml('rr', { kind: 'prometheus', url: prom.url, extraction: 'remote-read', start, end, step: '15s', queries: [{ name: 'b', expr: '{__name__="bench_gauge"}' }] });
    const who3 = ['vmctl', 'tsdb', 'rr', 'tsdbGzip', 'tsdbDefaults', 'tsdbEmpty'] as const;
    const res: Record<string, { wall: number[]; cpu: number[]; count: number[] }> = Object.fromEntries(who3.map((k) => [k, { wall: [], cpu: [], count: [] }]));
    // sink defaults (gzip auto: off on loopback); tsdbGzip forces gzip on as vmctl does by default (-vm-compress)
    // tsdbDefaults: the sink's own request size (5 000 lines), as a user who sets nothing runs it
    const yamlOf = { tsdb: yTsdb, tsdbGzip: yTsdb, tsdbDefaults: yTsdb, tsdbEmpty: yEmpty, rr: yRr } as const;
    const expected = (who: (typeof who3)[number]) => (who === 'tsdbEmpty' ? 0 : total);
    const notes: string[] = [];
    try {
      for (let r = 0; r < runs; r++) {
        for (const who of who3) {
          const vm = await startVictoria();
          try {
            // Requests the size of vmctl's (its -vm-batch-size default is 200 000 samples): the sink's
            // default 5 000 lines suits InfluxDB; VictoriaMetrics takes larger ones, which cost the
            // main thread less per sample (REQUEST_LINES).
            const sized = who === 'tsdbDefaults' ? '' : `&batchLines=${REQUEST_LINES}&batchBytes=${REQUEST_BYTES}`;
            const sink = `influx:${vm.url}?version=2&org=peer&bucket=peer&token=x${sized}${who === 'tsdbGzip' ? '&gzip=true' : ''}`;
            const t =
              who === 'vmctl'
                ? await timed(['vmctl', 'prometheus', '-s', `--prom-snapshot=${snap}`, `--vm-addr=${vm.url}`], { tty: true })
                : await timed([process.execPath, cliPath(), 'run', '--config', yamlOf[who], '--sink', sink, '--log-level', 'warn', '--no-verify']); // VM answers no InfluxQL/Flux read-back: the benchmark counts in VM itself
            const { n, first } = await countIn(vm.url);
            res[who]!.wall.push(t.wallMs);
            res[who]!.cpu.push(t.cpuS);
            res[who]!.count.push(n);
            if (first !== n) notes.push(`run ${r + 1} ${who}: VM showed ${first} samples right after the tool exited, ${n} once its count was stable`);
            log(`run ${r + 1}/${runs} ${who}: ${(t.wallMs / 1000).toFixed(2)} s wall, ${t.cpuS.toFixed(2)} CPU-s, VM holds ${n} of ${expected(who)}${first !== n ? ` (${first} right after)` : ''}`);
          } finally {
            await vm.stop();
          }
        }
      }
    } finally {
      await prom.stop();
    }
    const rate = (k: string) => res[k]!.wall.map((ms) => (total * 1000) / ms);
    const cpuPer = (k: string) => res[k]!.cpu.map((c) => (c * 1e9) / total);
    const vBase = baselineFigure('vmctl prometheus (snapshot → VM)', rate('vmctl'), 'samples/s');
    const figures: Figure[] = [
      vBase,
      comparedFigure('promflux prometheus-tsdb (snapshot → VM /api/v2/write)', rate('tsdb'), 'samples/s', vBase, { target: 1.2 }),
      comparedFigure('promflux remote read (Prometheus → VM /api/v2/write)', rate('rr'), 'samples/s', vBase),
    ];
    const cBase = baselineFigure('vmctl own CPU per sample', cpuPer('vmctl'), 'ns');
    figures.push(cBase, comparedFigure('promflux prometheus-tsdb own CPU per sample', cpuPer('tsdb'), 'ns', cBase, { target: 0.5, lowerIsBetter: true }), comparedFigure('promflux remote-read own CPU per sample (Prometheus not counted)', cpuPer('rr'), 'ns', cBase, { lowerIsBetter: true }));
    // Diagnostics: gzip forced on (vmctl compresses by default), and CPU net of start-up (the median
    // of the empty-selection runs: process start, module loading, 2 workers, block indexes).
    const startCpu = median(res.tsdbEmpty!.cpu);
    figures.push(
      comparedFigure('promflux prometheus-tsdb, sink gzip forced on (diagnostic)', rate('tsdbGzip'), 'samples/s', vBase, { note: 'vmctl gzips its requests by default' }),
      comparedFigure('promflux prometheus-tsdb own CPU per sample, sink gzip forced on (diagnostic)', cpuPer('tsdbGzip'), 'ns', cBase, { lowerIsBetter: true }),
      comparedFigure('promflux prometheus-tsdb, sink request size defaults (5 000 lines; diagnostic)', rate('tsdbDefaults'), 'samples/s', vBase),
      comparedFigure('promflux prometheus-tsdb own CPU per sample, sink request size defaults (diagnostic)', cpuPer('tsdbDefaults'), 'ns', cBase, { lowerIsBetter: true }),
      baselineFigure('promflux start-up: run on a selection matching nothing (own CPU)', res.tsdbEmpty!.cpu, 'CPU-s', 'fixed cost per run'),
      comparedFigure('promflux prometheus-tsdb own CPU per sample, start-up run subtracted (diagnostic)', res.tsdb!.cpu.map((c) => ((c - startCpu) * 1e9) / total), 'ns', cBase, { lowerIsBetter: true }),
    );
    for (const k of who3) {
      const c = res[k]!.count;
      const want = expected(k);
      notes.push(`${k}: VM held ${c.join(', ')} samples (expected ${want} each)${c.every((x) => x === want) ? ' — every sample present' : ' — MISSING samples'}`);
    }
    notes.push(`median wall: vmctl ${(median(res.vmctl!.wall) / 1000).toFixed(2)} s, tsdb ${(median(res.tsdb!.wall) / 1000).toFixed(2)} s, remote read ${(median(res.rr!.wall) / 1000).toFixed(2)} s; median own CPU: ${median(res.vmctl!.cpu).toFixed(2)} / ${median(res.tsdb!.cpu).toFixed(2)} / ${median(res.rr!.cpu).toFixed(2)} CPU-s; tsdb with gzip forced on ${(median(res.tsdbGzip!.wall) / 1000).toFixed(2)} s, ${median(res.tsdbGzip!.cpu).toFixed(2)} CPU-s; empty selection (start-up) ${(median(res.tsdbEmpty!.wall) / 1000).toFixed(2)} s, ${startCpu.toFixed(2)} CPU-s`);

    // decode at the limit
    log('decode at the limit…');
    const decode = await decodeAtLimit(snap, runs, log);
    figures.push(...decode.figures);
    notes.push(...decode.notes);
    rmSync(snap, { recursive: true, force: true });
    return {
      name: 'peer-vmctl',
      title: 'Snapshot backfill: promflux prometheus-tsdb vs vmctl prometheus (issue 16)',
      method: `${SERIES} series × ${PER_SERIES} samples (${total.toLocaleString('en-US')}; promtool blocks, ${STEP} s apart). Each run starts a fresh VictoriaMetrics; vmctl (\`vmctl prometheus -s --prom-snapshot\`, under \`script -qec\`), promflux's prometheus-tsdb source and promflux remote read (from a Prometheus serving a copy of the blocks) run interleaved, ${runs} runs each, median. promflux: default engine (workers auto, adaptive batches), no kernels, v2 line protocol to VM's /api/v2/write. Own CPU = the tool process' user+sys from /usr/bin/time (VictoriaMetrics and Prometheus not counted). ${DECODE_METHOD} The promflux runs send requests of up to ${REQUEST_LINES.toLocaleString('en-US')} lines / ${REQUEST_BYTES / 1e6} MB (\`batchLines\`, \`batchBytes\` in the sink URL), the size of vmctl's (its \`-vm-batch-size\` default is 200 000 samples); the sink's defaults (5 000 lines, InfluxDB's recommendation) are run too, as the "sink request size defaults" rows. Otherwise sink defaults: \`gzip: auto\`, which is off for VM on loopback; "gzip forced on" repeats the tsdb run with \`gzip=true\` (level 1), since vmctl compresses its requests by default. "Start-up" is a promflux run whose selector matches nothing (process start, module loading, two workers, reading the block indexes); its median CPU is subtracted in the "start-up run subtracted" row. The promflux worker encoder records each line's end, and the worker returns the sink's request cuts with the batch, so the main thread only slices the line protocol.`,
      figures,
      notes,
    };
  },
};

export default scenario;
