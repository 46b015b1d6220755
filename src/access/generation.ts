/**
 * Write generations: a tiny file per (InfluxDB target, measurement) that a promflux run touches
 * after writing into that measurement, so cached read-backs of it are invalidated
 * (src/access/cache.ts). Only node built-ins: the run imports this and nothing else of access/.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** The cache directory: PROMFLUX_CACHE_DIR, else $XDG_CACHE_HOME/promflux, else ~/.cache/promflux. */
export function defaultCacheDir(): string {
  return process.env.PROMFLUX_CACHE_DIR || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'promflux');
}

/** Normalised target: origin + path prefix (no trailing slash) + database (1.x db, 2.x bucket/DBRP db). */
export function targetId(url: string, db: string): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname.replace(/\/+$/, '')}|${db}`;
}

function genPath(dir: string, target: string, measurement: string): string {
  return join(dir, 'generations', createHash('sha256').update(`${target}\u0000${measurement}`).digest('hex').slice(0, 32));
}

/** The current generation of a measurement ('0' when no run has written it). */
export function readGeneration(dir: string, target: string, measurement: string): string {
  try {
    return readFileSync(genPath(dir, target, measurement), 'utf8');
  } catch {
    return '0';
  }
}

/** Called by a run after writing: a new generation for each measurement. Never fails the run. */
export function touchGenerations(dir: string, target: string, measurements: readonly string[]): string | undefined {
  try {
    mkdirSync(join(dir, 'generations'), { recursive: true });
    for (const m of measurements) {
      const p = genPath(dir, target, m);
      writeFileSync(`${p}.tmp`, `${Date.now()}-${randomBytes(6).toString('hex')}`);
      renameSync(`${p}.tmp`, p);
    }
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** The run's hook: after a run into InfluxDB, new generations for the measurements it wrote into. */
export function noteInfluxWrites(sink: { url: string; db?: string | undefined; bucket?: string | undefined }, linesByMeasurement: Record<string, number>): string | undefined {
  const written = Object.keys(linesByMeasurement).filter((m) => (linesByMeasurement[m] ?? 0) > 0);
  if (written.length === 0) return undefined;
  return touchGenerations(defaultCacheDir(), targetId(sink.url, sink.db ?? sink.bucket ?? ''), written);
}
