#!/usr/bin/env node
/**
 * Start-up A/B (docs/SCALING.md#start-up): run CLI entries interleaved (A, B, A, B, …) and print
 * medians with the load average, so a busy shared machine shifts both sides alike.
 *
 *   node scripts/startup-ab.mjs [--runs 7] [--only version,run1,run2] NAME=ENTRY[@CWD] …
 *
 * ENTRY is a CLI file (dist/bundle/promflux.mjs, dist/src/cli/main.js, or another checkout's);
 * CWD (default: this repository) is where `run --config config/default.yaml` runs, so each side
 * reads its own config and writes its own out/. Measures, per entry:
 * - `version`: `--version` wall and own CPU (user+sys of the child, from /usr/bin/time);
 * - `run1`, `run2`: `run --config config/default.yaml --workers N --json --sink null`: wall, CPU,
 *   and the summary's startup.processToFirstBatchMs and wallMs.
 */
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';

const args = process.argv.slice(2);
let runs = 7;
let only = ['version', 'run1', 'run2'];
const sides = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--runs') runs = Number(args[++i]);
  else if (args[i] === '--only') only = args[++i].split(',');
  else {
    const m = /^([^=]+)=([^@]+)(?:@(.+))?$/.exec(args[i]);
    if (!m) throw new Error(`expected NAME=ENTRY[@CWD], got ${args[i]}`);
    sides.push({ name: m[1], entry: resolve(m[2]), cwd: resolve(m[3] ?? '.') });
  }
}
if (sides.length === 0) throw new Error('name at least one NAME=ENTRY');

const sinkArgs = (process.env.AB_SINK ?? 'null') === 'file' ? [] : ['--sink', process.env.AB_SINK ?? 'null'];
const shapes = {
  version: () => ['--version'],
  run1: () => ['run', '--config', 'config/default.yaml', '--workers', '1', '--json', '--log-level', 'warn', ...sinkArgs],
  run2: () => ['run', '--config', 'config/default.yaml', '--workers', '2', '--json', '--log-level', 'warn', ...sinkArgs],
};

function once(side, shape) {
  const t0 = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', 'CPU %U %S', process.execPath, side.entry, ...shapes[shape]()], { cwd: side.cwd, encoding: 'utf8', env: { ...process.env, CI: '1' }, maxBuffer: 64 << 20 });
  const wall = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${side.name} ${shape} exited ${r.status}: ${r.stderr.slice(-2000)}`);
  const cpu = /CPU ([\d.]+) ([\d.]+)/.exec(r.stderr);
  const out = { wall, cpu: cpu ? (Number(cpu[1]) + Number(cpu[2])) * 1000 : NaN };
  if (shape !== 'version') {
    const s = JSON.parse(r.stdout.slice(r.stdout.indexOf('{'), r.stdout.lastIndexOf('}') + 1));
    out.firstBatch = s.startup?.processToFirstBatchMs;
    out.runWall = s.wallMs;
    out.counts = `${s.samplesIn}/${s.linesOut}/${JSON.stringify(s.dropped)}`;
  }
  return out;
}

const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const res = {};
const loads = [];
for (let r = 0; r < runs; r++) {
  for (const shape of only) {
    // Alternate which side goes first, so neither always runs on a warmer cache.
    const order = r % 2 ? [...sides].reverse() : sides;
    for (const side of order) {
      loads.push(loadavg()[0]);
      ((res[shape] ??= {})[side.name] ??= []).push(once(side, shape));
    }
  }
}

console.log(`node ${process.version}, ${runs} interleaved runs per side, load average (1 min) median ${median(loads).toFixed(2)} (min ${Math.min(...loads).toFixed(2)}, max ${Math.max(...loads).toFixed(2)})`);
for (const shape of only) {
  console.log(`\n${shape}:`);
  for (const side of sides) {
    const xs = res[shape][side.name];
    const f = (k) => median(xs.map((x) => x[k])).toFixed(0);
    const counts = [...new Set(xs.map((x) => x.counts).filter(Boolean))].join(' | ');
    console.log(`  ${side.name.padEnd(10)} wall ${f('wall')} ms, cpu ${f('cpu')} ms` + (shape === 'version' ? '' : `, firstBatch ${f('firstBatch')} ms, summary wall ${f('runWall')} ms, counts ${counts}`));
  }
}
if (only.includes('run1') && only.includes('run2')) {
  console.log('\n2w/1w (median process wall of run1 / run2):');
  for (const side of sides) console.log(`  ${side.name.padEnd(10)} ${(median(res.run1[side.name].map((x) => x.wall)) / median(res.run2[side.name].map((x) => x.wall))).toFixed(2)}×`);
}
