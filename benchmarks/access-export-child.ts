/**
 * Child process of the access-export benchmark's memory figure: one `runExport` to Parquet in a
 * fresh process, so its peak RSS (getrusage maxrss) is that export's alone. Prints one JSON line.
 *   node dist/benchmarks/access-export-child.js <influx url> <db> <start ms> <end ms> <out.parquet>
 */
import { runExport } from '../src/access/export.js';

const [url, db, start, end, out] = process.argv.slice(2);
const t0 = performance.now();
const res = await runExport({
  source: { influx: { url: url!, db: db! } },
  start: Number(start),
  end: Number(end),
  entity: ['instance'],
  features: [
    { name: 'cpu', measurement: 'cpu', tolerance: '30s' },
    { name: 'mem', measurement: 'mem', tolerance: '30s' },
  ],
  spine: { feature: 'cpu' },
  output: { path: out!, format: 'parquet', compression: 'zstd' },
  cache: { enabled: false },
});
process.stdout.write(
  JSON.stringify({ maxRssMiB: process.resourceUsage().maxRSS / 1024, rows: res.rows, pointsRead: res.pointsRead, windows: res.windows, ms: performance.now() - t0 }) + '\n',
);
