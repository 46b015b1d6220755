/**
 * A real Prometheus serving a seeded TSDB made with `promtool tsdb create-blocks-from openmetrics`
 * (cached in the bench data dir: promtool takes a while). The same recipe as peer-vmctl's blocks,
 * with the size as a parameter.
 */
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../test/harness/influxdb.js';
import { ensurePrometheus } from '../../test/harness/prometheus.js';
import { mulberry32 } from './data.js';
import { dataDir } from './paths.js';

/** First sample (s, hour-aligned) and spacing of the blocks. */
export const BLOCKS_T0_S = 1_699_995_600;
export const BLOCKS_STEP_S = 15;

/** `bench_gauge` with `series` series × `perSeries` samples, random walks, seed 7. Returns the blocks dir. */
export function ensureBlocks(series: number, perSeries: number): string {
  const dir = join(dataDir(), `tsdb-${series}x${perSeries}`);
  const blocks = join(dir, 'blocks');
  if (existsSync(join(dir, 'done'))) return blocks;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const rand = mulberry32(7);
  const om = join(dir, 'data.om');
  const parts: string[] = ['# TYPE bench_gauge gauge\n'];
  for (let s = 0; s < series; s++) {
    const lbl = `instance="host-${s >> 3}:9100",job="node",cpu="${s & 7}"`;
    let v = rand() * 100;
    const lines: string[] = [];
    for (let i = 0; i < perSeries; i++) {
      v = Math.round((v + rand() - 0.5) * 1000) / 1000;
      lines.push(`bench_gauge{${lbl}} ${v} ${BLOCKS_T0_S + i * BLOCKS_STEP_S}`);
    }
    parts.push(lines.join('\n') + '\n');
  }
  parts.push('# EOF\n');
  writeFileSync(om, parts.join(''));
  execFileSync('promtool', ['tsdb', 'create-blocks-from', 'openmetrics', om, blocks], { stdio: 'ignore' });
  rmSync(om);
  writeFileSync(join(dir, 'done'), '');
  return blocks;
}

/** Prometheus on a copy of `blocks`, loopback, free port. */
export async function startPromOn(blocks: string): Promise<{ url: string; stop: () => Promise<void> }> {
  await ensurePrometheus();
  const dir = mkdtempSync(join(tmpdir(), 'promflux-bench-prom-'));
  cpSync(blocks, join(dir, 'tsdb'), { recursive: true });
  writeFileSync(join(dir, 'p.yml'), 'global:\n  scrape_interval: 1h\nscrape_configs: []\n');
  const port = await freePort();
  const p = spawn('prometheus', [`--config.file=${join(dir, 'p.yml')}`, `--storage.tsdb.path=${join(dir, 'tsdb')}`, '--storage.tsdb.retention.time=100y', `--web.listen-address=127.0.0.1:${port}`, '--log.level=error'], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${url}/-/ready`)).ok) break;
    } catch {
      /* starting */
    }
    if (i > 600) {
      p.kill('SIGKILL');
      throw new Error(`prometheus on ${url} not ready after 60 s`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    stop: async () => {
      const done = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      await done;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
