/**
 * Test harness for native-bench/: makes sure g++, make and libfmt-dev are installed (apt-get as
 * root on a fresh CI machine), then builds the C++ reference. Returns null when no toolchain can be
 * had, so the cross-check test skips instead of failing on machines without a compiler.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { buildNative } from '../../benchmarks/lib/native.js';

const FMT_HEADER = '/usr/include/fmt/format.h';

function have(bin: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
}

function toolchainPresent(): boolean {
  return have(process.env.CXX ?? 'g++') && have('make') && existsSync(FMT_HEADER);
}

function aptInstall(pkgs: string[]): void {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = (): void => {
    execFileSync('apt-get', ['install', '-y', '-o', 'DPkg::Lock::Timeout=600', ...pkgs], { stdio: ['ignore', 'ignore', 'pipe'], env });
  };
  try {
    install();
  } catch {
    execFileSync('apt-get', ['update'], { stdio: ['ignore', 'ignore', 'pipe'], env });
    install();
  }
}

/** Path of the built promflux-native binary, or null (with the reason) when it cannot be built here. */
export function ensureNativeBench(): { bin: string | null; reason?: string } {
  if (!toolchainPresent() && process.getuid?.() === 0 && have('apt-get')) {
    try {
      aptInstall(['g++', 'make', 'libfmt-dev']);
    } catch (err) {
      return { bin: null, reason: `apt-get install g++ make libfmt-dev failed: ${(err as Error).message}` };
    }
  }
  if (!toolchainPresent()) return { bin: null, reason: 'g++, make or libfmt-dev not available (and cannot be installed)' };
  return { bin: buildNative() };
}
