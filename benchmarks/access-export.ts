/**
 * Training-set export from InfluxDB: promflux's trainingSet() over the chunked typed-array
 * read-back vs @influxdata/influxdb-client (its transport, InfluxQL /query — influxd 1.6 has no
 * Flux) plus a naive JS pivot and as-of join, and the transfer ceiling: curl of the same chunked
 * queries to /dev/null. Same seeded points, same local influxd, points read per second.
 * Full mode only (writes ~1M points first).
 */
import { execFileSync } from 'node:child_process';
import { InfluxDB } from '@influxdata/influxdb-client';
import { influxReader } from '../src/access/query.js';
import { buildInfluxQL } from '../src/access/query.js';
import { trainingSet, type TrainingSpec } from '../src/access/training.js';
import { lpLine, startInfluxd, type Influxd } from '../test/harness/influxdb.js';
import { baselineFigure, comparedFigure } from './lib/figures.js';
import { mulberry32 } from './lib/data.js';
import type { Scenario, ScenarioResult } from './lib/scenario.js';

const T0 = Date.UTC(2024, 0, 1);
const STEP = 15_000;

async function load(influxd: Influxd, series: number, perSeries: number): Promise<void> {
  await influxd.query('CREATE DATABASE bench');
  const rand = mulberry32(11);
  for (const m of ['cpu', 'mem']) {
    for (let s0 = 0; s0 < series; s0 += 10) {
      const lines: string[] = [];
      for (let s = s0; s < Math.min(series, s0 + 10); s++) {
        for (let i = 0; i < perSeries; i++) lines.push(lpLine(m, { instance: `host-${s}:9100` }, { value: Math.round(rand() * 1e6) / 1e3 }, T0 + i * STEP + (m === 'mem' ? 4000 : 0)));
      }
      const res = await fetch(`${influxd.url}/write?db=bench&precision=ms`, { method: 'POST', body: lines.join('\n') });
      if (res.status !== 204) throw new Error(`write: ${res.status} ${await res.text()}`);
    }
  }
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
  const client = new InfluxDB({ url: influxd.url });
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

const scenario: Scenario = {
  name: 'access-export',
  quick: false,
  async run({ runs, log }): Promise<ScenarioResult> {
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
        ],
      };
    } finally {
      await influxd.stop();
    }
  },
};

export default scenario;
