/**
 * Training-set export from InfluxDB: promflux's trainingSet() over the chunked typed-array
 * read-back vs @influxdata/influxdb-client (its transport, InfluxQL /query — influxd 1.6 has no
 * Flux) plus a naive JS pivot and as-of join, and the transfer ceiling: curl of the same chunked
 * queries to /dev/null. Same seeded points, same local influxd, points read per second.
 * Full mode only (writes ~1M points first).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InfluxDB } from '@influxdata/influxdb-client';
import { influxReader } from '../src/access/query.js';
import { buildInfluxQL } from '../src/access/query.js';
import { trainingSet, trainingWindows, type TrainingSpec, type WindowTotals } from '../src/access/training.js';
import { lpLine, startInfluxd, type Influxd } from '../test/harness/influxdb.js';
import { baselineFigure, comparedFigure } from './lib/figures.js';
import { mulberry32 } from './lib/data.js';
import type { Figure, Scenario, ScenarioResult } from './lib/scenario.js';

const T0 = Date.UTC(2024, 0, 1);
const STEP = 15_000;

async function load(influxd: Influxd, series: number, perSeries: number, db = 'bench'): Promise<void> {
  await influxd.query(`CREATE DATABASE ${db}`);
  const rand = mulberry32(11);
  // Time-major blocks of 100 000 lines (influxd ingests those fastest), two writes in flight.
  const block = Math.max(1, Math.floor(100_000 / series));
  const inflight = new Set<Promise<void>>();
  for (const m of ['cpu', 'mem']) {
    for (let i0 = 0; i0 < perSeries; i0 += block) {
      const lines: string[] = [];
      for (let i = i0; i < Math.min(perSeries, i0 + block); i++) {
        for (let s = 0; s < series; s++) lines.push(lpLine(m, { instance: `host-${s}:9100` }, { value: Math.round(rand() * 1e6) / 1e3 }, T0 + i * STEP + (m === 'mem' ? 4000 : 0)));
      }
      const p: Promise<void> = fetch(`${influxd.url}/write?db=${db}&precision=ms`, { method: 'POST', body: lines.join('\n') }).then(async (res) => {
        if (res.status !== 204) throw new Error(`write: ${res.status} ${await res.text()}`);
      });
      const tracked = p.finally(() => inflight.delete(tracked));
      inflight.add(tracked);
      if (inflight.size >= 2) await Promise.race(inflight);
    }
  }
  await Promise.all(inflight);
}

/** One export to Parquet in a fresh process (benchmarks/access-export-child.ts): its peak RSS and time. */
function exportInChild(influxd: Influxd, db: string, perSeries: number, out: string): { maxRssMiB: number; rows: number; pointsRead: number; windows: number; ms: number } {
  const child = fileURLToPath(new URL('./access-export-child.js', import.meta.url));
  const text = execFileSync(process.execPath, [child, influxd.url, db, String(T0), String(T0 + perSeries * STEP), out], { encoding: 'utf8', maxBuffer: 1 << 20 });
  return JSON.parse(text.trim().split('\n').pop()!) as { maxRssMiB: number; rows: number; pointsRead: number; windows: number; ms: number };
}

function spec(perSeries: number): TrainingSpec {
  return {
    start: T0,
    end: T0 + perSeries * STEP,
    entity: ['instance'],
    features: [
      { name: 'cpu', measurement: 'cpu', tolerance: '30s' },
      { name: 'mem', measurement: 'mem', tolerance: '30s' },
    ],
    spine: { feature: 'cpu' },
  };
}

/** The baseline: the client's transport (whole JSON body parsed), objects per row, Map pivot, as-of by scan. */
async function naive(influxd: Influxd, s: TrainingSpec): Promise<{ rows: number; points: number }> {
  const client = new InfluxDB({ url: influxd.url, timeout: 600_000 });
  const byEntity = new Map<string, Record<string, Array<{ t: number; v: number }>>>();
  let points = 0;
  for (const f of s.features) {
    const q = buildInfluxQL({ measurement: f.measurement, fields: ['value'], start: s.start - 30_000, end: s.end });
    const body = new URLSearchParams({ db: 'bench', q, epoch: 'ms' }).toString();
    const json = (await client.transport.request('/query', body, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' } })) as {
      results: Array<{ series?: Array<{ tags: Record<string, string>; columns: string[]; values: Array<[number, number]> }> }>;
    };
    for (const ser of json.results[0]?.series ?? []) {
      const e = ser.tags.instance!;
      const rec = byEntity.get(e) ?? {};
      byEntity.set(e, rec);
      rec[f.name] = ser.values.map(([t, v]) => ({ t, v }));
      points += ser.values.length;
    }
  }
  let rows = 0;
  const out: Array<Record<string, number | string | null>> = [];
  for (const [e, rec] of byEntity) {
    const spine = rec.cpu ?? [];
    const ptr: Record<string, number> = {};
    for (const { t } of spine) {
      const row: Record<string, number | string | null> = { entity: e, time: t };
      for (const f of s.features) {
        const pts = rec[f.name] ?? [];
        let j = ptr[f.name] ?? -1;
        while (j + 1 < pts.length && pts[j + 1]!.t <= t) j++;
        ptr[f.name] = j;
        row[f.name] = j >= 0 && t - pts[j]!.t <= 30_000 ? pts[j]!.v : null;
      }
      out.push(row);
      rows++;
    }
  }
  return { rows, points };
}

function curlCeiling(influxd: Influxd, s: TrainingSpec): void {
  for (const f of s.features) {
    const q = buildInfluxQL({ measurement: f.measurement, fields: ['value'], start: s.start - 30_000, end: s.end });
    execFileSync('curl', ['-sS', '-o', '/dev/null', '-XPOST', `${influxd.url}/query`, '--data-urlencode', 'db=bench', '--data-urlencode', `q=${q}`, '--data-urlencode', 'epoch=ms', '--data-urlencode', 'chunked=true', '--data-urlencode', 'chunk_size=10000']);
  }
}

/**
 * Bounded memory: peak RSS of a Parquet export of N points and of 10 N points (same 500 series,
 * 10× the time range), each in a fresh process. Full mode: 5 M vs 50 M points; quick: 0.5 M vs 5 M.
 * One export per size (a 50 M export takes minutes), so no median here.
 */
export async function memoryFigures(influxd: Influxd, quick: boolean, log?: (l: string) => void): Promise<{ small: Figure; large: Figure; note: string }> {
  const series = 500;
  const small = quick ? 500 : 5000;
  const dir = mkdtempSync(join(tmpdir(), 'promflux-bench-export-'));
  try {
    const t = performance.now();
    await load(influxd, series, small * 10, 'big');
    log?.(`loaded ${2 * series * small * 10} points in ${Math.round((performance.now() - t) / 1000)} s`);
    const a = exportInChild(influxd, 'big', small, join(dir, 'small.parquet'));
    log?.(`export of ${a.pointsRead} points: peak RSS ${a.maxRssMiB.toFixed(0)} MiB, ${a.windows} windows, ${Math.round(a.ms / 1000)} s`);
    const b = exportInChild(influxd, 'big', small * 10, join(dir, 'large.parquet'));
    log?.(`export of ${b.pointsRead} points: peak RSS ${b.maxRssMiB.toFixed(0)} MiB, ${b.windows} windows, ${Math.round(b.ms / 1000)} s`);
    const smallFig = baselineFigure(`peak RSS, Parquet export of ${(2 * series * small) / 1e6} M points`, [a.maxRssMiB], 'MiB');
    const largeFig = comparedFigure(`peak RSS, Parquet export of ${(2 * series * small * 10) / 1e6} M points`, [b.maxRssMiB], 'MiB', smallFig, { target: 1.2, lowerIsBetter: true });
    return {
      small: smallFig,
      large: largeFig,
      note: `memory: ${a.rows} / ${b.rows} rows, ${a.windows} / ${b.windows} windows, ${Math.round((a.pointsRead * 1000) / a.ms)} / ${Math.round((b.pointsRead * 1000) / b.ms)} points/s end to end (query, build, Parquet zstd); one export per size`,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const scenario: Scenario = {
  name: 'access-export',
  quick: false,
  async run({ runs, log, quick }): Promise<ScenarioResult> {
    const series = 100;
    const perSeries = 5000;
    const influxd = await startInfluxd();
    try {
      await load(influxd, series, perSeries);
      const s = spec(perSeries);
      const points = 2 * series * perSeries;
      const ours: number[] = [];
      const peer: number[] = [];
      const ceil: number[] = [];
      // warm-up
      await trainingSet(influxReader({ url: influxd.url, db: 'bench' }), s);
      await naive(influxd, s);
      for (let i = 0; i < runs; i++) {
        let t = performance.now();
        const set = await trainingSet(influxReader({ url: influxd.url, db: 'bench' }), s);
        ours.push((set.pointsRead * 1000) / (performance.now() - t));
        if (set.pointsRead !== points) throw new Error(`promflux read ${set.pointsRead} points, expected ${points}`);
        t = performance.now();
        const n = await naive(influxd, s);
        peer.push((n.points * 1000) / (performance.now() - t));
        if (n.rows !== set.rows) throw new Error(`baseline built ${n.rows} rows, promflux ${set.rows}`);
        t = performance.now();
        curlCeiling(influxd, s);
        ceil.push((points * 1000) / (performance.now() - t));
        log?.(`run ${i + 1}/${runs}: promflux ${Math.round(ours.at(-1)!)}, client+pivot ${Math.round(peer.at(-1)!)}, curl ${Math.round(ceil.at(-1)!)} points/s`);
      }
      // The streamed build (what promflux export runs), without the file writes.
      const streamed: number[] = [];
      for (let i = 0; i < runs; i++) {
        const t = performance.now();
        const totals: WindowTotals = { rows: 0, candidates: 0, dropped: {}, pointsRead: 0, windows: 0 };
        for await (const w of trainingWindows(influxReader({ url: influxd.url, db: 'bench' }), s, {}, totals)) void w;
        streamed.push((points * 1000) / (performance.now() - t));
        log?.(`streamed run ${i + 1}/${runs}: ${Math.round(streamed.at(-1)!)} points/s (${totals.windows} windows)`);
      }
      const mem = await memoryFigures(influxd, quick, log);
      const peerFig = baselineFigure('influxdb-client transport + naive JS pivot/as-of', peer, 'points/s');
      const ceilFig = baselineFigure('raw /query transfer (curl, chunked, to /dev/null)', ceil, 'points/s');
      return {
        name: 'access-export',
        title: 'Training-set export from InfluxDB 1.6 (local)',
        method: `${points} points (2 measurements × ${series} series × ${perSeries}), as-of join on the cpu timestamps, one process; the baseline asks the same InfluxQL through @influxdata/influxdb-client's transport (unchunked JSON) and pivots with objects per row`,
        figures: [
          peerFig,
          ceilFig,
          comparedFigure('promflux trainingSet() (chunked, typed arrays)', ours, 'points/s', peerFig, { target: 3 }),
          comparedFigure('promflux as a fraction of the transfer ceiling', ours, 'points/s', ceilFig),
          comparedFigure('promflux trainingWindows() (streamed build, adaptive windows)', streamed, 'points/s', peerFig, { target: 3 }),
          comparedFigure('streamed build as a fraction of the transfer ceiling', streamed, 'points/s', ceilFig),
          mem.small,
          mem.large,
        ],
        notes: [mem.note],
      };
    } finally {
      await influxd.stop();
    }
  },
};

export default scenario;
