/**
 * The synthetic data itself: every sample a pure function of (seed, series, index), and the worker
 * filler that generates a chunk (with its halo and look-ahead). Kept apart from the config schema
 * and planner (synthetic.ts) so workers do not load zod.
 */
import { SeriesKind, seriesKey } from '../batch/layout.js';
import type { BatchBuilder } from '../batch/builder.js';
import type { FillSpec } from './source.js';

export const GROUP_SIZE = 7;

// ---- deterministic random access -------------------------------------------------------------

/** 32-bit avalanche hash of (seed, a, b, salt) → [0, 1). Pure integer math, no allocation. */
export function rand01(seed: number, a: number, b: number, salt: number): number {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(a + 0x7f4a7c15, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) ^ Math.imul(b + 0x165667b1, 0x27d4eb2f);
  h = Math.imul(h ^ (h >>> 13), 0x297a2d39) ^ Math.imul(salt + 1, 0x9e3779b1);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 4294967296;
}

interface SeriesDef {
  key: string;
  kind: number;
  role: number; // 0 req, 1 err, 2 p50, 3 p95, 4 p99, 5 cpu, 6 mem
}

const ROLE_NAMES = [
  'application_requests_total',
  'application_errors_total',
  'application_response_time_seconds',
  'application_response_time_seconds',
  'application_response_time_seconds',
  'node_cpu_usage_percent',
  'node_memory_usage_percent',
];

export function syntheticSeries(i: number): SeriesDef {
  const g = Math.floor(i / GROUP_SIZE);
  const role = i % GROUP_SIZE;
  const labels: Record<string, string> = {
    service: `svc-${g % 50}`,
    instance: `10.0.${(g >> 8) & 255}.${g & 255}:9100`,
    job: role >= 5 ? 'node' : 'app',
  };
  if (role >= 2 && role <= 4) labels.quantile = role === 2 ? '0.5' : role === 3 ? '0.95' : '0.99';
  const kind = role <= 1 ? SeriesKind.counter : role <= 4 ? SeriesKind.summary : SeriesKind.gauge;
  return { key: seriesKey(ROLE_NAMES[role]!, labels), kind, role };
}

interface GenParams {
  seed: number;
  nanRate: number;
  gapRate: number;
  outlierRate: number;
  infRate: number;
  resetEvery: number;
}

/** Is sample k of series i present (not a gap)? */
function present(p: GenParams, i: number, k: number): boolean {
  return p.gapRate === 0 || rand01(p.seed, i, k, 1) >= p.gapRate;
}

/** Monotone counter value since the last reset. Closed form so any index is O(1). */
function counterValue(p: GenParams, group: number, k: number, scale: number): number {
  const period = p.resetEvery;
  const seg = Math.floor(k / period);
  // reset points jitter deterministically inside each period
  const off = Math.floor(rand01(p.seed, group, seg, 7) * (period >> 1));
  let segStart = seg * period + off;
  if (k < segStart) segStart = Math.max(0, (seg - 1) * period + Math.floor(rand01(p.seed, group, seg - 1, 7) * (period >> 1)));
  const j = k - segStart;
  const rate = 5 + 20 * rand01(p.seed, group, 0, 11);
  const w = 0.05;
  const amp = (rate / w) * 0.9; // amp*w <= rate keeps the derivative >= 0: monotone
  return Math.floor(scale * (rate * j + amp * (1 - Math.cos(w * j))));
}

/** Value of sample k of series i (NaN/Inf/outliers injected by rate). */
export function syntheticValue(p: GenParams, i: number, k: number): number {
  if (p.nanRate > 0 && rand01(p.seed, i, k, 2) < p.nanRate) return NaN;
  if (p.infRate > 0 && rand01(p.seed, i, k, 5) < p.infRate) return Infinity;
  const g = Math.floor(i / GROUP_SIZE);
  const role = i % GROUP_SIZE;
  const noise = rand01(p.seed, i, k, 3) - 0.5;
  let v: number;
  switch (role) {
    case 0:
      return counterValue(p, g, k, 1);
    case 1:
      return counterValue(p, g, k, 0.02 + 0.03 * rand01(p.seed, g, 0, 13));
    case 2:
    case 3:
    case 4: {
      const base = 0.05 + 0.2 * rand01(p.seed, g, 0, 17);
      const wave = 1 + 0.3 * Math.sin((2 * Math.PI * k) / 240 + g);
      const q = role === 2 ? 1 : role === 3 ? 1.8 : 2.6;
      v = base * wave * q * (1 + 0.05 * noise);
      break;
    }
    default: {
      const base = 20 + 50 * rand01(p.seed, i, 0, 19);
      v = base + 15 * Math.sin((2 * Math.PI * k) / 1440 + i) + 6 * noise;
      if (v < 0) v = 0;
      if (v > 100) v = 100;
    }
  }
  if (p.outlierRate > 0 && rand01(p.seed, i, k, 4) < p.outlierRate) v *= 10;
  return v;
}

// ---- worker-side filler ------------------------------------------------------------------------

export interface SyntheticFill extends FillSpec {
  kind: 'synthetic';
  seed: number;
  nanRate: number;
  gapRate: number;
  outlierRate: number;
  infRate: number;
  resetEvery: number;
  startMs: number;
  stepMs: number;
  s0: number;
  s1: number;
  k0: number;
  k1: number;
  haloSamples: number;
  haloMs: number;
  lookaheadMs: number;
  /** Samples per series (look-ahead never goes past the end of the data). */
  samples: number;
}

/** Generate a chunk (with its halo) into a batch. Runs in a worker. */
export function fillSynthetic(spec: FillSpec, b: BatchBuilder): void {
  const f = spec as SyntheticFill;
  const p: GenParams = f;
  const haloSteps = Math.ceil(f.haloMs / f.stepMs);
  for (let i = f.s0; i < f.s1; i++) {
    const def = syntheticSeries(i);
    const idx = b.seriesIndexOf(def.key, def.kind);
    b.beginRun(idx);
    // Halo (halos add up along the kernel chain): every present sample within haloMs before k0,
    // plus `haloSamples` more present samples before those.
    let h0 = Math.max(0, f.k0 - haloSteps);
    let found = 0;
    while (h0 > 0 && found < f.haloSamples) {
      h0--;
      if (present(p, i, h0)) found++;
    }
    b.reserve(f.k1 - h0);
    for (let k = h0; k < f.k0; k++) {
      if (present(p, i, k)) b.pushHalo(f.startMs + k * f.stepMs, syntheticValue(p, i, k));
    }
    for (let k = f.k0; k < f.k1; k++) {
      if (present(p, i, k)) b.push(f.startMs + k * f.stepMs, syntheticValue(p, i, k));
    }
    // Look-ahead: samples after the chunk, as trailing context (only when a kernel asks for it).
    const kEnd = Math.min(f.samples, f.k1 + Math.ceil(f.lookaheadMs / f.stepMs));
    for (let k = f.k1; k < kEnd; k++) {
      if (present(p, i, k)) b.pushTrail(f.startMs + k * f.stepMs, syntheticValue(p, i, k));
    }
  }
}


