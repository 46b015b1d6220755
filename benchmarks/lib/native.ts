/** Builds and runs native-bench/build/promflux-native (the C++ reference). */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { nativeDir } from './paths.js';

export interface NativeKernelTiming {
  name: string;
  medianMs: number;
  bestMs: number;
  samplesPerSec: number;
  bestSamplesPerSec: number;
  ms: number[];
}

export interface NativeResult {
  input: string;
  rows: number;
  series: number;
  runs: number;
  compiler: string;
  fmt: number;
  minPeriods: number;
  dropped: Record<'nan' | 'inf' | 'stale' | 'duplicate' | 'out_of_order' | 'future', number>;
  lineprotocol: { lines: number; bytes: number };
  features: string[];
  kernels: NativeKernelTiming[];
}

export interface NativeOptions {
  runs?: number;
  windows?: readonly number[];
  quantiles?: readonly number[];
  minPeriods?: number;
  /** Window of the slope + z-score step (default 60). */
  slopeWindow?: number;
  /** Windows for the O(1) sliding physical-limit rows (`60`, `5760`, `3600s`). */
  o1Windows?: readonly string[];
  /** Also time the O(w) rescan at each sample window of o1Windows (diagnostic). */
  ow?: boolean;
  /** Directory to write every output column (raw f64), flags.u32 and lines.lp into. */
  dump?: string;
}

export function nativeBinary(): string {
  return join(nativeDir(), 'build', 'promflux-native');
}

/** Is a C++ compiler on PATH? (The Makefile uses g++ unless CXX is set.) */
export function haveCompiler(): boolean {
  return spawnSync(process.env.CXX ?? 'g++', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** `make -C native-bench` (a no-op when up to date). Throws with make's output on failure. */
export function buildNative(): string {
  const r = spawnSync('make', ['-C', nativeDir(), '--no-print-directory'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new Error(
      `building native-bench failed (${r.error?.message ?? 'exit ' + r.status}): ${(r.stderr || r.stdout || '').trim().slice(-2000)}\n` +
        'needs g++ and libfmt-dev: apt-get install -y g++ make libfmt-dev',
    );
  }
  if (!existsSync(nativeBinary())) throw new Error(`make succeeded but ${nativeBinary()} is missing`);
  return nativeBinary();
}

export function nativeArgs(input: string, o: NativeOptions = {}): string[] {
  const a = ['--input', input, '--runs', String(o.runs ?? 5)];
  if (o.windows) a.push('--windows', o.windows.join(','));
  if (o.quantiles) a.push('--quantiles', o.quantiles.join(','));
  if (o.minPeriods !== undefined) a.push('--min-periods', String(o.minPeriods));
  if (o.slopeWindow !== undefined) a.push('--slope-window', String(o.slopeWindow));
  if (o.o1Windows?.length) a.push('--o1-windows', o.o1Windows.join(','));
  if (o.ow) a.push('--ow');
  if (o.dump) a.push('--dump', o.dump);
  return a;
}

/** Run the reference on a data file (builds it first if needed). */
export function runNative(input: string, o: NativeOptions = {}): NativeResult {
  const bin = buildNative();
  const r = spawnSync(bin, nativeArgs(input, o), { encoding: 'utf8', maxBuffer: 16 * 2 ** 20 });
  if (r.error || r.status !== 0) {
    throw new Error(`promflux-native failed (${r.error?.message ?? 'exit ' + r.status}): ${(r.stderr ?? '').trim()}`);
  }
  return JSON.parse(r.stdout) as NativeResult;
}
