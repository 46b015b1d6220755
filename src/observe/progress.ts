/**
 * Progress reporting: a bar with ETA on a TTY (cli-progress), periodic log lines otherwise (CI, pipes).
 */
import { lazyRequire } from '../util/lazy.js';
import { groupDigits } from '../util/format.js';

/** Loaded only for a TTY bar (issue #18, start-up): a CI or piped run logs lines instead. */
const cliProgress = lazyRequire<typeof import('cli-progress')>('cli-progress');
import type { Logger } from 'pino';
import type { ProgressEvent } from '../pipeline/run.js';

export interface ProgressReporter {
  update(p: ProgressEvent): void;
  stop(): void;
}

export function createProgressReporter(logger: Logger, opts: { tty?: boolean; intervalMs?: number } = {}): ProgressReporter {
  const tty = opts.tty ?? (process.stderr.isTTY === true && !process.env.CI);
  if (tty) {
    const bar = new (cliProgress().SingleBar)(
      {
        format: ' {bar} {percentage}% | ETA {eta_formatted} | {value}/{total} samples | {rate} samples/s | batch {batch}',
        hideCursor: true,
        stream: process.stderr,
        etaBuffer: 50,
      },
      cliProgress().Presets.shades_classic,
    );
    let started = false;
    return {
      update(p) {
        const total = p.totalSamples ?? Math.max(p.doneSamples, 1);
        const payload = { rate: groupDigits(Math.round(p.samplesPerSec)), batch: p.batchSize };
        if (!started) {
          bar.start(total, p.samplesIn, payload);
          started = true;
        } else {
          bar.setTotal(total);
          bar.update(p.samplesIn, payload);
        }
      },
      stop() {
        if (started) bar.stop();
      },
    };
  }
  const every = opts.intervalMs ?? 10_000;
  let last = 0;
  return {
    update(p) {
      const now = Date.now();
      if (now - last < every) return;
      last = now;
      const pct = p.totalSamples ? (100 * p.samplesIn) / p.totalSamples : undefined;
      const etaS = pct !== undefined && p.samplesPerSec > 0 ? Math.round((p.totalSamples! - p.samplesIn) / p.samplesPerSec) : undefined;
      logger.info(
        { samplesIn: p.samplesIn, totalSamples: p.totalSamples, percent: pct !== undefined ? Number(pct.toFixed(1)) : undefined, etaSeconds: etaS, samplesPerSec: Math.round(p.samplesPerSec), batchSize: p.batchSize },
        'progress',
      );
    },
    stop() {},
  };
}
