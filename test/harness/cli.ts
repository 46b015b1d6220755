/**
 * Test harness: the promflux CLI as a child process (the way operators run it), with its stdout
 * and stderr captured, helpers to wait for a log line, and a seeded PRNG for fault timings.
 * The CLI runs from the bundle users run (dist/bundle/promflux.mjs, built by `npm run build`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
// Compiled tests live in dist/test/harness; under tsx this file is test/harness. Either way the CLI
// runs from the bundle (package.json `bin`), the way `npm start` and an installed promflux run it.
const root = existsSync(resolve(here, '../../package.json')) ? resolve(here, '../..') : resolve(here, '../../..');
const bundled = resolve(root, 'dist/bundle/promflux.mjs');

/** Path of the bundled CLI (scripts/bundle.mjs); throws, saying what to run, when it is missing. */
export function cliPath(): string {
  if (!existsSync(bundled)) throw new Error(`the CLI bundle ${bundled} is missing: run \`npm run build\` (tsc, then scripts/bundle.mjs)`);
  return bundled;
}

/** The tsc output's CLI entry (dist/src/cli/main.js): for tests that compare it with the bundle. */
export function unbundledCliPath(): string {
  return resolve(root, 'dist/src/cli/main.js');
}

export interface CliExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliProcess {
  child: ChildProcess;
  readonly stdout: string;
  readonly stderr: string;
  /** Resolves when the process has exited (never rejects). */
  exited: Promise<CliExit>;
  /** Resolve when a line of stderr matches (pino JSON logs), or reject if the process exits first. */
  waitForStderr(re: RegExp, timeoutMs?: number): Promise<string>;
  /** Parsed pino JSON log lines seen so far on stderr. */
  logs(): Array<Record<string, unknown>>;
}

/** Start `promflux <args>` with CI=1 (plain JSON logs, no progress bar). */
export function startCli(args: string[], env: Record<string, string | undefined> = {}): CliProcess {
  const child = spawn(process.execPath, [cliPath(), ...args], {
    env: { ...process.env, CI: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const waiters: Array<{ re: RegExp; resolve: (l: string) => void }> = [];
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    const before = stderr.length;
    stderr += d;
    if (waiters.length === 0) return;
    // only complete lines, starting from the last line break before the new data
    const from = stderr.lastIndexOf('\n', before - 1) + 1;
    const lines = stderr.slice(from).split('\n').slice(0, -1);
    for (const l of lines) {
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (waiters[i]!.re.test(l)) {
          waiters[i]!.resolve(l);
          waiters.splice(i, 1);
        }
      }
    }
  });
  const exited = new Promise<CliExit>((res) => {
    child.once('close', (code, signal) => res({ code, signal, stdout, stderr }));
  });
  return {
    child,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    exited,
    waitForStderr(re, timeoutMs = 60_000) {
      const seen = stderr.split('\n').slice(0, -1).find((l) => re.test(l));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise<string>((res, rej) => {
        const t = setTimeout(() => rej(new Error(`no stderr line matching ${re} within ${timeoutMs} ms; stderr:\n${stderr.slice(-3000)}`)), timeoutMs);
        const w = {
          re,
          resolve: (l: string) => {
            clearTimeout(t);
            res(l);
          },
        };
        waiters.push(w);
        void exited.then((e) => {
          clearTimeout(t);
          const i = waiters.indexOf(w);
          if (i >= 0) {
            waiters.splice(i, 1);
            rej(new Error(`CLI exited (code ${e.code}, signal ${e.signal}) before a stderr line matched ${re}; stderr:\n${stderr.slice(-3000)}`));
          }
        });
      });
    },
    logs() {
      const out: Array<Record<string, unknown>> = [];
      for (const l of stderr.split('\n')) {
        if (!l.startsWith('{')) continue;
        try {
          out.push(JSON.parse(l) as Record<string, unknown>);
        } catch {
          // a partial line at the end
        }
      }
      return out;
    },
  };
}

/** Run `promflux <args>` to completion. */
export async function runCli(args: string[], env: Record<string, string | undefined> = {}, timeoutMs = 180_000): Promise<CliExit> {
  const p = startCli(args, env);
  const t = setTimeout(() => p.child.kill('SIGKILL'), timeoutMs);
  const r = await p.exited;
  clearTimeout(t);
  return r;
}

/** Seeded PRNG (mulberry32): the same seed gives the same fault timings on every machine. */
export { mulberry32 } from '../../src/util/random.js';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
