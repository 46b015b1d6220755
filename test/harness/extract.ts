/** Helpers for extraction tests: build a source from a partial config, drain it, decode chunks. */
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { BatchBuilder } from '../../src/batch/builder.js';
import { allocBatch, FLAG_HALO } from '../../src/batch/layout.js';
import type { SourceChunk, SourceOpenOptions } from '../../src/extract/source.js';
import { prometheusSourceSchema, type PrometheusSourceInput } from '../../src/extract/prometheus/config.js';
import { promFillers } from '../../src/extract/prometheus/fillers.js';
import { createPrometheusSource, type PrometheusSource, type PrometheusSourceDeps } from '../../src/extract/prometheus/source.js';

export const silent = pino({ level: 'silent' });

export function makeSource(input: Omit<PrometheusSourceInput, 'kind'>, deps: Partial<PrometheusSourceDeps> = {}): PrometheusSource {
  const cfg = prometheusSourceSchema.parse({ kind: 'prometheus', ...input });
  return createPrometheusSource(cfg, { logger: silent, metrics: new Registry(), ...deps });
}

export function openOpts(o: Partial<SourceOpenOptions> = {}): SourceOpenOptions {
  return { haloSamples: 0, haloMs: 0, signal: new AbortController().signal, logger: silent, ...o };
}

/** Draw every chunk; each is decoded once as drawn, as the engine fills chunk k before asking for k+1 (halo hand-off). */
export async function drain(src: PrometheusSource, targetRows: number, max = 100_000): Promise<SourceChunk[]> {
  const out: SourceChunk[] = [];
  for (let i = 0; i < max; i++) {
    const c = await src.next(targetRows);
    if (!c) return out;
    decodeChunk(c);
    out.push(c);
  }
  throw new Error(`more than ${max} chunks`);
}

export interface DecodedRow {
  chunk: string;
  key: string;
  t: number;
  v: number;
  halo: boolean;
}

/** Run the worker filler of a chunk on this thread. */
export function decodeChunk(c: SourceChunk): { rows: DecodedRow[]; runs: number; kinds: number[]; keys: string[] } {
  const b = new BatchBuilder(allocBatch(0, c.id, Math.max(1, c.estRows), Math.max(1, c.estRuns)));
  const fill = promFillers[c.fill.kind];
  if (!fill) throw new Error(`no filler for ${c.fill.kind}`);
  fill(c.fill, b);
  const d = b.finish();
  const series = new Uint32Array(d.series, 0, d.length);
  const ts = new Float64Array(d.ts, 0, d.length);
  const val = new Float64Array(d.value, 0, d.length);
  const flags = new Uint32Array(d.flags, 0, d.length);
  const rows: DecodedRow[] = [];
  for (let i = 0; i < d.length; i++) rows.push({ chunk: c.id, key: d.seriesKeys[series[i]!]!, t: ts[i]!, v: val[i]!, halo: (flags[i]! & FLAG_HALO) !== 0 });
  return { rows, runs: d.runCount, kinds: d.seriesKinds, keys: d.seriesKeys };
}

/** Non-halo rows of all chunks, grouped by series key, in chunk order. */
export function bySeries(chunks: readonly SourceChunk[]): Map<string, Array<{ t: number; v: number }>> {
  const m = new Map<string, Array<{ t: number; v: number }>>();
  for (const c of chunks) {
    for (const r of decodeChunk(c).rows) {
      if (r.halo) continue;
      if (!m.has(r.key)) m.set(r.key, []);
      m.get(r.key)!.push({ t: r.t, v: r.v });
    }
  }
  return m;
}
