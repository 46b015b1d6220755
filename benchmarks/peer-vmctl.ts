/**
 * Snapshot backfill side by side (issue 16): vmctl's `prometheus` mode vs promflux's
 * prometheus-tsdb source on the same snapshot (500 series × 5 760 samples made with `promtool tsdb
 * create-blocks-from openmetrics`), each into a fresh VictoriaMetrics, interleaved, median of the
 * runs; VictoriaMetrics must hold exactly the expected sample count after every run. Also
 * promflux's remote-read path from a Prometheus serving a copy of the same blocks. Own CPU is the
 * child's user+sys (`/usr/bin/time`, which waits for the tool and counts its threads; vmctl runs
 * under `script -qec` because it needs a terminal). Then "decode at the limit": the tsdb source's
 * plan + worker fill (positioned reads + CRC + XOR decode into batch columns, no kernels, no
 * encoding) on 1 and 2 threads, and the C++ XOR chunk decoder of native-bench on the same chunks.
 */
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import pino from 'pino';
import { BatchBuilder } from '../src/batch/builder.js';
import { allocBatch } from '../src/batch/layout.js';
import { fillTsdb, type TsdbFill } from '../src/extract/tsdb/fill.js';
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

/**
 * Plan once; fill every chunk `runs` times (after one warm-up) on `threads` threads. Samples per
 * wall second, and per CPU second of this process (all its threads): the machine may be shared,
 * and CPU time is what a loaded machine does not inflate.
 */
async function decodeRate(blocks: string, threads: number, runs: number): Promise<{ wall: number[]; cpu: number[] }> {
  const src = createTsdbSource({ kind: 'prometheus-tsdb', path: blocks, selectors: [] }, { logger: pino({ level: 'silent' }) });
  await src.open({ haloSamples: 0, haloMs: 0, signal: new AbortController().signal, logger: pino({ level: 'silent' }) });
  const fills: TsdbFill[] = [];
  for (;;) {
    const c = await src.next(100_000);
    if (!c) break;
    fills.push(c.fill as TsdbFill);
  }
  const total = SERIES * PER_SERIES;
  if (threads === 1) {
    const b = allocBatch(0, 'x', 200_000, 1024);
    const out = { wall: [] as number[], cpu: [] as number[] };
    for (let r = 0; r < runs + 1; r++) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      for (const f of fills) fillTsdb(f, new BatchBuilder(b));
      const ms = performance.now() - t0;
      const c = process.cpuUsage(c0);
      if (r > 0) {
        out.wall.push((total * 1000) / ms);
        out.cpu.push((total * 1e6) / (c.user + c.system));
      }
    }
    return out;
  }
  // N threads, each filling its share of the chunks into its own batch buffers
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

/** The XOR payloads of every chunk, as the C++ decoder's input: u32le length + bytes, repeated. */
function dumpChunks(blocks: string, file: string): Promise<number> {
  return (async () => {
    const src = createTsdbSource({ kind: 'prometheus-tsdb', path: blocks, selectors: [] }, { logger: pino({ level: 'silent' }) });
    await src.open({ haloSamples: 0, haloMs: 0, signal: new AbortController().signal, logger: pino({ level: 'silent' }) });
    const bufs: Buffer[] = [];
    const cache = new Map<string, Buffer>();
    let n = 0;
    for (;;) {
      const c = await src.next(100_000);
      if (!c) break;
      const f = c.fill as TsdbFill;
      for (let i = 0; i < f.chunks.length / 9; i++) {
        const file = f.files[f.chunks[i * 9]!]!;
        const off = f.chunks[i * 9 + 1]!;
        const bytes = f.chunks[i * 9 + 2]!;
        let whole = cache.get(file);
        if (!whole) cache.set(file, (whole = readFileSync(file)));
        const all = whole.subarray(off, off + bytes);
        let q = 0;
        while (all[q]! & 0x80) q++;
        q++;
        const data = all.subarray(q + 1, all.length - 4);
        const h = Buffer.alloc(4);
        h.writeUInt32LE(data.length);
        bufs.push(h, data);
        n += f.chunks[i * 9 + 5]!;
      }
    }
    writeFileSync(file, Buffer.concat(bufs));
    return n;
  })();
}

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
    const prom = await startPromOn(blocks);
    const end = new Date((T0 + PER_SERIES * STEP) * 1000).toISOString();
    const start = new Date(T0 * 1000).toISOString();
    const yTsdb = promfluxYaml('tsdb', { kind: 'prometheus-tsdb', path: snap });
    // start-up and planning without samples: a selector that matches nothing (fixed cost per run)
    const yEmpty = promfluxYaml('empty', { kind: 'prometheus-tsdb', path: snap, selectors: ['{__name__="peer_vmctl_no_such_metric"}'] });
    const yRr = promfluxYaml('rr', { kind: 'prometheus', url: prom.url, extraction: 'remote-read', start, end, step: '15s', queries: [{ name: 'b', expr: '{__name__="bench_gauge"}' }] });
    const who3 = ['vmctl', 'tsdb', 'rr', 'tsdbGzip', 'tsdbEmpty'] as const;
    const res: Record<string, { wall: number[]; cpu: number[]; count: number[] }> = Object.fromEntries(who3.map((k) => [k, { wall: [], cpu: [], count: [] }]));
    // sink defaults (gzip auto: off on loopback); tsdbGzip forces gzip on as vmctl does by default (-vm-compress)
    const yamlOf = { tsdb: yTsdb, tsdbGzip: yTsdb, tsdbEmpty: yEmpty, rr: yRr } as const;
    const expected = (who: (typeof who3)[number]) => (who === 'tsdbEmpty' ? 0 : total);
    const notes: string[] = [];
    try {
      for (let r = 0; r < runs; r++) {
        for (const who of who3) {
          const vm = await startVictoria();
          try {
            const sink = `influx:${vm.url}?version=2&org=peer&bucket=peer&token=x${who === 'tsdbGzip' ? '&gzip=true' : ''}`;
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
    const one = await decodeRate(snap, 1, runs);
    const two = await decodeRate(snap, Math.min(2, cpus().length), runs);
    let nativeBase: Figure | undefined;
    let nativeCpu: Figure | undefined;
    if (haveCompiler()) {
      buildNative();
      const input = join(tmpdir(), `promflux-xor-${process.pid}.bin`);
      const n = await dumpChunks(snap, input);
      const out = JSON.parse(execFileSync(join(nativeDir(), 'build', 'promflux-xor'), ['--input', input, '--runs', String(runs)], { encoding: 'utf8' })) as { samples: number; runsMs: number[]; cpuMs?: number[] };
      rmSync(input, { force: true });
      if (out.samples !== n) notes.push(`native XOR decoder decoded ${out.samples} samples, expected ${n}`);
      nativeBase = baselineFigure('native C++ XOR chunk decoder, 1 core', out.runsMs.map((ms) => (n * 1000) / ms), 'samples/s');
      if (out.cpuMs) nativeCpu = baselineFigure('native C++ XOR chunk decoder, per CPU-second', out.cpuMs.map((ms) => (n * 1000) / ms), 'samples/s');
    }
    const d2: Figure = { label: 'promflux tsdb read + CRC + XOR decode into columns, 2 threads', value: median(two.wall), unit: 'samples/s', samples: two.wall, baseline: 'the issue\'s 10M samples/s', ratio: median(two.wall) / 10e6, target: 1, pass: median(two.wall) >= 10e6 };
    if (nativeBase) figures.push(nativeBase, comparedFigure('promflux tsdb read + CRC + XOR decode into columns, 1 thread', one.wall, 'samples/s', nativeBase, { target: 0.8 }));
    else figures.push(baselineFigure('promflux tsdb read + CRC + XOR decode into columns, 1 thread', one.wall, 'samples/s'));
    figures.push(d2);
    // The same runs per CPU-second (process user+sys): what a shared machine does not inflate.
    if (nativeCpu) {
      figures.push(
        nativeCpu,
        comparedFigure('promflux tsdb read + CRC + XOR decode into columns, 1 thread, per CPU-second', one.cpu, 'samples/s', nativeCpu, { note: 'diagnostic: the target is on wall time' }),
        comparedFigure('promflux tsdb read + CRC + XOR decode into columns, 2 threads, per CPU-second', two.cpu, 'samples/s', nativeCpu, { note: 'both workers\' CPU together' }),
      );
    }
    rmSync(snap, { recursive: true, force: true });
    return {
      name: 'peer-vmctl',
      title: 'Snapshot backfill: promflux prometheus-tsdb vs vmctl prometheus (issue 16)',
      method: `${SERIES} series × ${PER_SERIES} samples (${total.toLocaleString('en-US')}; promtool blocks, ${STEP} s apart). Each run starts a fresh VictoriaMetrics; vmctl (\`vmctl prometheus -s --prom-snapshot\`, under \`script -qec\`), promflux's prometheus-tsdb source and promflux remote read (from a Prometheus serving a copy of the blocks) run interleaved, ${runs} runs each, median. promflux: default engine (workers auto, adaptive batches), no kernels, v2 line protocol to VM's /api/v2/write. Own CPU = the tool process' user+sys from /usr/bin/time (VictoriaMetrics and Prometheus not counted). Decode at the limit: plan once, then fill every planned chunk (positioned reads, CRC-32C, XOR decode into SharedArrayBuffer columns; no kernels, no encoding) on 1 thread and on 2 worker threads, timed by wall clock and by the process' CPU time; native: g++ -O3 decoder of the same XOR payloads (no CRC, no batch columns), 1 core, wall and CPU time. promflux workers decode with the WebAssembly CRC-32C + XOR reader (src/extract/tsdb/wasm/xor.as.ts) and hand each decoded chunk to the batch's RunWriter in bulk (RunWriter.sampleRun: window rules per stretch, columns copied with TypedArray.set). The promflux runs use the sink defaults: \`gzip: auto\`, which is off for VM on loopback; "gzip forced on" repeats the tsdb run with \`gzip=true\` (level 1), since vmctl compresses its requests by default. "Start-up" is a promflux run whose selector matches nothing (process start, module loading, two workers, reading the block indexes); its median CPU is subtracted in the "start-up run subtracted" row. The promflux worker encoder records each line's end, and the worker returns the sink's request cuts with the batch, so the main thread only slices the line protocol.`,
      figures,
      notes,
    };
  },
};

export default scenario;
