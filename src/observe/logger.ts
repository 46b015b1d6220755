/**
 * Logging: pino, JSON by default; human-readable (pino-pretty) when stderr is a TTY. Secrets are
 * redacted by path wherever they appear in logged objects, and by value (the config's secrets, URL
 * passwords) in every line written.
 */
import { pino, type Logger, type LoggerOptions } from 'pino';
import { registeredSecrets, secretScrubber } from './redact.js';

export const REDACT_PATHS = [
  'password',
  'token',
  'authorization',
  'auth',
  '*.password',
  '*.token',
  '*.authorization',
  '*.auth',
  '*.*.password',
  '*.*.token',
  '*.*.auth',
  'headers.authorization',
  '*.headers.authorization',
  '*.headers.Authorization',
];

export interface LoggerConfig {
  level?: string;
  /** Force pretty (true) or JSON (false); default: pretty when stderr is a TTY. */
  pretty?: boolean;
  /** Destination file descriptor (default 2 = stderr, so stdout stays for the summary). */
  fd?: number;
  /** Secret values (from the config, see collectSecrets) scrubbed from every line, whatever the path. */
  secrets?: readonly string[];
}

export function createLogger(cfg: LoggerConfig = {}): Logger {
  const opts: LoggerOptions = {
    level: cfg.level ?? process.env.PROMFLUX_LOG_LEVEL ?? 'info',
    base: { app: 'promflux' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    // Paths miss secrets inside strings (URLs with user:password@, quoted headers in errors).
    hooks: { streamWrite: secretScrubber([...(cfg.secrets ?? []), ...registeredSecrets()]) },
  };
  const pretty = cfg.pretty ?? (process.stderr.isTTY === true && !process.env.CI);
  if (pretty) {
    return pino({ ...opts, transport: { target: 'pino-pretty', options: { destination: cfg.fd ?? 2, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,app' } } });
  }
  return pino(opts, pino.destination({ fd: cfg.fd ?? 2, sync: true }));
}

/** A logger that discards everything (library default). */
export const silentLogger: Logger = pino({ level: 'silent' });
