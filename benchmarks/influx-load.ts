/**
 * InfluxDB loading: promflux's sink vs @influxdata/influxdb-client's WriteApi (defaults) vs the
 * ingest ceiling of the same local influxd (pre-encoded, pre-gzipped line protocol pushed with raw
 * undici at the best of concurrency 1, 2, 4, 8). Same seeded points for all three.
 */
import { gzipSync } from 'node:zlib';
import { InfluxDB } from '@influxdata/influxdb-client';
import pino from 'pino';
import { Pool } from 'undici';
import { createInfluxSink, parseInfluxSinkConfig } from '../src/load/influx/index.js';
import type { EncodedBatch } from '../src/load/sink.js';
import { lpLine, startInfluxd, type Influxd } from '../test/harness/influxdb.js';
import { baselineFigure, comparedFigure } from './lib/figures.js';
import { median, type Scenario, type ScenarioResult } from './lib/scenario.js';
import { mulberry32 } from './lib/data.js';

/** mulberry32: a small seeded PRNG so every run and every contender writes the same points. */
const rng = mulberry32;

interface Data {
  lines: string[];
  /** Engine-sized batches (50k lines) as the dispatcher hands them to the sink. */
  batches: EncodedBatch[];
  /** 5 000-line request bodies, gzipped ahead of time (level 1, as the sink does) for the ceiling. */
  gzBodies: Buffer[];
  bytes: number;
}

function makeData(points: number, series: number): Data {
  const rand = rng(42);
  const perSeries = Math.ceil(points / series);
  const t0 = Date.UTC(2024, 0, 1);
  const lines: string[] = [];
  // time-major like a real scrape backfill: every series at t, then t+15s …
  for (let i = 0; i < perSeries && lines.length < points; i++) {
    for (let s = 0; s < series && lines.length < points; s++) {
      const v = Math.round(rand() * 1e6) / 100;
      lines.push(
        lpLine(
          'node_cpu_seconds_total',
          { instance: `host-${s >> 3}:9100`, job: 'node', cpu: String(s & 7), mode: ['idle', 'user', 'system', 'iowait'][(s >> 3) & 3]! },
          { value: v, mean_5: v * 0.98, std_15: Math.round(rand() * 1000) / 1000 },
          t0 + i * 15_000,
        ),
      );
    }
  }
  const enc = new TextEncoder();
  const batches: EncodedBatch[] = [];
  for (let i = 0, id = 0; i < lines.length; i += 50_000, id++) {
    const part = lines.slice(i, i + 50_000);
    batches.push({ batchId: id, chunkId: `b${id}`, lp: enc.encode(part.join('\n') + '\n'), lines: part.length, columns: null, seriesKeys: [] });
  }
  const gzBodies: Buffer[] = [];
  for (let i = 0; i < lines.length; i += 5000) gzBodies.push(gzipSync(lines.slice(i, i + 5000).join('\n') + '\n', { level: 1 }));
  return { lines, batches, gzBodies, bytes: batches.reduce((n, b) => n + b.lp!.length, 0) };
}

async function freshDb(influxd: Influxd, name: string, firstLine: string): Promise<void> {
  await influxd.query(`CREATE DATABASE "${name}"`);
  // influxd 1.6 answers 500 "write failed" when concurrent first writes race to create a shard:
  // create it untimed with the data's own first point (rewritten identically by every contender).
  const res = await fetch(`${influxd.url}/write?db=${name}&precision=ms`, { method: 'POST', body: firstLine });
  if (res.status !== 204) throw new Error(`seeding ${name}: HTTP ${res.status} ${await res.text()}`);
}

async function countPoints(influxd: Influxd, db: string): Promise<number> {
  const r = await influxd.rows('SELECT COUNT(value) AS n FROM node_cpu_seconds_total', db);
  return Number(r[0]?.n ?? 0);
}

/** (a) ceiling: pre-encoded gzip bodies, raw undici, `concurrency` connections. */
async function pushRaw(influxd: Influxd, db: string, data: Data, concurrency: number): Promise<number> {
  const pool = new Pool(influxd.url, { connections: concurrency, pipelining: 1 });
  const path = `/write?db=${db}&precision=ms`;
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < data.gzBodies.length) {
        const body = data.gzBodies[next++]!;
        const res = await pool.request({ method: 'POST', path, body, headers: { 'content-encoding': 'gzip' } });
        await res.body.dump();
        if (res.statusCode !== 204) throw new Error(`ceiling write: HTTP ${res.statusCode}`);
      }
    }),
  );
  const ms = performance.now() - t0;
  await pool.close();
  return ms;
}

/** (b) promflux's sink at its defaults, fed engine batches with 2 writes in flight (the dispatcher's window). */
async function pushSink(influxd: Influxd, db: string, data: Data): Promise<number> {
  const cfg = parseInfluxSinkConfig({ kind: 'influx', url: influxd.url, version: 1, db, gzip: true, deadLetter: '/tmp/promflux-bench-dl.lp' });
  const sink = createInfluxSink(cfg, { logger: pino({ level: 'silent' }) });
  await sink.open();
  let next = 0;
  let written = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: 2 }, async () => {
      while (next < data.batches.length) {
        const r = await sink.write(data.batches[next++]!);
        written += r.written;
      }
    }),
  );
  const ms = performance.now() - t0;
  await sink.close();
  if (written !== data.lines.length) throw new Error(`sink wrote ${written} of ${data.lines.length}`);
  return ms;
}

/**
 * (c) WriteApi at its defaults (batchSize 1000, gzip above 1 KB, retries, its own node http
 * transport), given the same lines as pre-encoded strings (kinder to it than building Point
 * objects). WriteApi sends a batch as soon as 1 000 lines are buffered and its flush()/close() only
 * wait for the lines still buffered, so completion is observed through its writeSuccess callback
 * (writeFailed keeps the default retry handling). `window` = engine batches of 50 000 lines handed
 * over before waiting for them. Handing it everything at once is not an option at 1M points: it
 * opens ~1 000 requests, they time out, and it drops lines from its retry buffer.
 * influxd 1.6 predates /api/v2/write, so the client's own transport is wrapped to send the same
 * body to /write?db= — a path rewrite per request, no other change.
 */
async function pushWriteApi(influxd: Influxd, db: string, data: Data, window: number): Promise<number> {
  const base = new InfluxDB({ url: influxd.url }).transport;
  const transport: typeof base = {
    send: (path, body, options, callbacks) => base.send(toV1(path), body, options, callbacks),
    request: (path, body, options, started) => base.request(toV1(path), body, options, started),
    iterate: (path, body, options) => base.iterate(toV1(path), body, options),
    chunkCombiner: base.chunkCombiner,
  };
  let done = 0;
  let failed: Error | null = null;
  let wake: () => void = () => {};
  const writeApi = new InfluxDB({
    url: influxd.url,
    transport,
    writeOptions: {
      writeSuccess: (lines: string[]) => {
        done += lines.length;
        wake();
      },
      writeFailed: (err: Error, _lines: string[], attempt: number, expires: number) => {
        if (attempt > 5 || expires <= Date.now()) failed = err;
        wake();
        return undefined; // default retry handling
      },
      writeRetrySkipped: (entry: { lines: string[] }) => {
        failed = new Error(`WriteApi dropped ${entry.lines.length} lines from its retry buffer`);
        wake();
      },
    },
  }).getWriteApi('', db, 'ms');
  const until = async (n: number): Promise<void> => {
    while (done < n && !failed) await new Promise<void>((r) => (wake = r));
    if (failed) throw failed;
  };
  const t0 = performance.now();
  const step = 50_000 * window;
  for (let i = 0; i < data.lines.length; i += step) {
    writeApi.writeRecords(data.lines.slice(i, i + step));
    await writeApi.flush();
    await until(Math.min(i + step, data.lines.length));
  }
  const ms = performance.now() - t0;
  await writeApi.close();
  return ms;
}

function toV1(path: string): string {
  const m = /^\/api\/v2\/write\?org=[^&]*&bucket=([^&]*)&precision=(\w+)/.exec(path);
  return m ? `/write?db=${m[1]}&precision=${m[2]}` : path;
}

const scenario: Scenario = {
  name: 'influx-load',
  quick: true,
  async run({ quick, runs, log }): Promise<ScenarioResult> {
    const points = quick ? 200_000 : 1_000_000;
    const series = 1000;
    const data = makeData(points, series);
    const say = log ?? (() => {});
    {
      // Every measurement gets a freshly started influxd (empty data, WAL and index; ~0.1 s to
      // start, not timed): a shared server slowed down run after run as dropped databases were
      // cleaned up in the background, which skewed whichever contender came later.
      const measure = async (name: string, fn: (influxd: Influxd, db: string) => Promise<number>): Promise<number> => {
        const influxd = await startInfluxd();
        try {
          const db = `bench_${name}`;
          await freshDb(influxd, db, data.lines[0]!);
          const ms = await fn(influxd, db);
          const n = await countPoints(influxd, db);
          if (n !== points) throw new Error(`${name}: ${n} points in influxd, expected ${points}`);
          return (points * 1000) / ms;
        } finally {
          await influxd.stop();
        }
      };
      // warm-up (JIT, influxd caches), then pick the ceiling's best concurrency
      await measure('warmup', (influxd, db) => pushRaw(influxd, db, data, 4));
      const byConc: Record<number, number> = {};
      const searchRuns = quick ? 1 : 2;
      const searchOf = async (fn: () => Promise<number>): Promise<number> => {
        const r: number[] = [];
        for (let i = 0; i < searchRuns; i++) r.push(await fn());
        return median(r);
      };
      for (const c of [1, 2, 4, 8]) {
        byConc[c] = await searchOf(() => measure(`raw${c}`, (influxd, db) => pushRaw(influxd, db, data, c)));
        say(`ceiling at concurrency ${c}: ${Math.round(byConc[c]!)} points/s`);
      }
      const best = Number(Object.entries(byConc).sort((a, b) => b[1] - a[1])[0]![0]);
      // the peer gets its best feeding too: 1, 2 or 4 engine batches handed over at a time
      const byWindow = new Map<number, number>();
      for (const w of [1, 2, 4]) {
        byWindow.set(w, await searchOf(() => measure(`wa${w}`, (influxd, db) => pushWriteApi(influxd, db, data, w))));
        say(`WriteApi with ${w} batch(es) in flight: ${Math.round(byWindow.get(w)!)} points/s`);
      }
      const bestWindow = [...byWindow.entries()].sort((a, b) => b[1] - a[1])[0]![0];
      const ceiling: number[] = [];
      const ours: number[] = [];
      const peer: number[] = [];
      for (let i = 0; i < runs; i++) {
        // rotate the order so drift in background load is spread evenly
        const order = [
          async () => ceiling.push(await measure('ceiling', (influxd, db) => pushRaw(influxd, db, data, best))),
          async () => ours.push(await measure('promflux', (influxd, db) => pushSink(influxd, db, data))),
          async () => peer.push(await measure('writeapi', (influxd, db) => pushWriteApi(influxd, db, data, bestWindow))),
        ];
        for (let k = 0; k < order.length; k++) await order[(i + k) % order.length]!();
        say(`run ${i + 1}/${runs}: ceiling ${Math.round(ceiling.at(-1)!)}, promflux ${Math.round(ours.at(-1)!)}, WriteApi ${Math.round(peer.at(-1)!)} points/s`);
      }
      const peerFig = baselineFigure('influxdb-client WriteApi (defaults)', peer, 'points/s');
      const ceilFig = baselineFigure(`ingest ceiling (raw undici, gzip, concurrency ${best})`, ceiling, 'points/s');
      return {
        name: 'influx-load',
        title: 'Loading into InfluxDB 1.6 (local)',
        method:
          `${points.toLocaleString('en')} seeded points (${series} series, 3 fields, ${(data.bytes / 2 ** 20).toFixed(1)} MiB of line protocol), ` +
          `each measurement into a freshly started local influxd 1.6 (same config; 2 cores shared with the client), point count checked after every run. ` +
          `Ceiling: the same lines pre-split into 5 000-line bodies, gzipped (level 1) before timing, pushed with raw undici at the best ` +
          `concurrency of 1/2/4/8 (${Object.entries(byConc).map(([c, v]) => `${c}: ${Math.round(v)}`).join(', ')} points/s). ` +
          `promflux: createInfluxSink at defaults (5 000 lines/request, gzip level 1 in libuv's pool, 4 in flight), fed 50 000-line ` +
          `engine batches with 2 writes in flight. WriteApi: @influxdata/influxdb-client 1.35 at its defaults, given the same lines as ` +
          `strings (writeRecords), completion observed via writeSuccess, fed at its best of 1/2/4 50 000-line batches at a time ` +
          `(${[...byWindow.entries()].map(([w, v]) => `${w}: ${Math.round(v)}`).join(', ')} points/s); its transport is wrapped only to rewrite /api/v2/write to /write (1.6 has no v2 API). ` +
          `Order rotated each run; medians of ${runs} runs.`,
        figures: [
          peerFig,
          ceilFig,
          comparedFigure('promflux sink vs WriteApi', ours, 'points/s', peerFig, { target: 1.5 }),
          comparedFigure('promflux sink vs ceiling', ours, 'points/s', ceilFig, { target: 0.9 }),
        ],
        notes: [
          `paired per-run ratios (same run, rotated order), medians: promflux/WriteApi ${median(ours.map((v, k) => v / peer[k]!)).toFixed(2)}×, ` +
            `promflux/ceiling ${median(ours.map((v, k) => v / ceiling[k]!)).toFixed(2)}×`,
        ],
      };
    }
  },
};

export default scenario;
