/**
 * Child process of test/embed-io.test.ts: runs one small pipeline into the sink given as JSON in
 * argv[2] and prints the summary (plus anything that would have crashed a host) as JSON. Started
 * as an unprivileged user so a read-only directory really refuses the write (EACCES).
 */
import { createPipeline } from '../../src/index.js';

const crashes: string[] = [];
process.on('unhandledRejection', (e) => crashes.push(String((e as Error)?.message ?? e)));
process.on('uncaughtException', (e) => crashes.push(String(e?.message ?? e)));
const sink = JSON.parse(process.argv[2]!) as { kind: string; path: string };
const p = createPipeline(
  { name: 'child', source: { kind: 'synthetic', series: 5, samplesPerSeries: 1000 }, transform: [{ kind: 'validate' }], sink } as never,
  { workers: 1 },
);
const summary = await p.run();
await new Promise((r) => setTimeout(r, 50));
process.stdout.write(JSON.stringify({ ...summary, crashes }));
