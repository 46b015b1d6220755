/**
 * Secrets out of every output. Two layers, because path-based redaction alone misses secrets that
 * travel inside strings (a URL with `user:password@`, an error message quoting a header):
 *  1. `redactConfig` — a copy of a config object with secret-looking keys and URL passwords
 *     replaced, for logging configs on purpose;
 *  2. `secretScrubber` — replaces the *values* of the secrets found in the loaded config, wherever
 *     they appear in a string. The CLI runs every log line (pino's streamWrite hook) and the
 *     summary through it.
 */

export const REDACTED = '[redacted]';

/** Keys whose value is a secret wherever they appear. */
const SECRET_KEY = /^(password|passwd|token|bearer|secret|apikey|api_key|api-key|authorization|credentials?)$/i;
/** Header names carrying credentials. */
const SECRET_HEADER = /auth|token|key|secret|cookie|session|password/i;
/** scheme://user:password@host — the password part. */
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/[^\s/:@"']*):([^\s/@"']+)@/gi;

/** Shortest value treated as a secret: shorter strings would scrub ordinary words and digits. */
const MIN_SECRET_LENGTH = 6;

/** Copy of `obj` with secret-looking keys, credential headers and URL passwords replaced. */
export function redactConfig<T>(obj: T): T {
  return walk(obj, false) as T;
}

function walk(v: unknown, inHeaders: boolean): unknown {
  if (typeof v === 'string') return redactUrlPasswords(v);
  if (Array.isArray(v)) return v.map((x) => walk(x, false));
  if (v === null || typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (SECRET_KEY.test(k) || (inHeaders && SECRET_HEADER.test(k))) out[k] = x === undefined ? x : REDACTED;
    else if (k === 'auth') out[k] = x && typeof x === 'object' ? walkAuth(x as Record<string, unknown>) : x === undefined ? x : REDACTED;
    else out[k] = walk(x, k.toLowerCase() === 'headers');
  }
  return out;
}

/** `auth: { bearer } | { basic: { username, password } }`: keep the shape and the user name. */
function walkAuth(a: Record<string, unknown>): unknown {
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(a)) {
    if (k === 'basic' && x && typeof x === 'object') {
      const b = x as Record<string, unknown>;
      out[k] = { ...b, ...(b.password !== undefined ? { password: REDACTED } : {}) };
    } else if (k === 'username' || k === 'user') out[k] = x;
    else out[k] = REDACTED;
  }
  return out;
}

/** Replace the password of every `scheme://user:password@` in `s`. */
export function redactUrlPasswords(s: string): string {
  return s.includes('@') ? s.replace(URL_USERINFO, `$1:${REDACTED}@`) : s;
}

/** Secret values in a config object: under secret keys, credential headers, and URL passwords. */
export function collectSecrets(obj: unknown, out: Set<string> = new Set()): string[] {
  const visit = (v: unknown, secret: boolean, inHeaders: boolean): void => {
    if (typeof v === 'string') {
      if (secret) out.add(v);
      for (const m of v.matchAll(URL_USERINFO)) out.add(m[2]!);
      return;
    }
    if (Array.isArray(v)) {
      for (const x of v) visit(x, secret, false);
      return;
    }
    if (v === null || typeof v !== 'object') return;
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      const isSecret = secret || SECRET_KEY.test(k) || (inHeaders && SECRET_HEADER.test(k));
      // under `auth`, everything but the user name is a secret
      if (k === 'auth') {
        if (!x || typeof x !== 'object') {
          visit(x, true, false);
          continue;
        }
        for (const [ak, av] of Object.entries(x as Record<string, unknown>)) {
          if (ak === 'basic' && av && typeof av === 'object') visit((av as Record<string, unknown>).password, true, false);
          else visit(av, true, false);
        }
        continue;
      }
      visit(x, isSecret, k.toLowerCase() === 'headers');
    }
  };
  visit(obj, false, false);
  return [...out].filter((s) => s.length >= MIN_SECRET_LENGTH);
}

/**
 * A function replacing every occurrence of the given secrets (also JSON-escaped and URL-encoded)
 * and every URL password with `[redacted]`. Meant for log lines and summaries, not hot paths.
 */
export function secretScrubber(secrets: readonly string[]): (s: string) => string {
  const forms = new Set<string>();
  for (const s of secrets) {
    if (s.length < MIN_SECRET_LENGTH) continue;
    forms.add(s);
    forms.add(JSON.stringify(s).slice(1, -1));
    forms.add(encodeURIComponent(s));
  }
  // Longest first, so a secret containing another is replaced whole.
  const list = [...forms].sort((a, b) => b.length - a.length);
  return (s: string): string => {
    let out = redactUrlPasswords(s);
    for (const f of list) if (out.includes(f)) out = out.split(f).join(REDACTED);
    return out;
  };
}

// Process-wide: the CLI registers the secrets of the config it loaded, and every last-resort
// output (error messages in main, summaries) goes through scrubSecrets.
const known = new Set<string>();
let processScrubber = secretScrubber([]);

/** Remember secret values (e.g. collectSecrets(config)) for scrubSecrets. */
export function registerSecrets(values: readonly string[]): void {
  for (const v of values) known.add(v);
  processScrubber = secretScrubber([...known]);
}

/** Scrub every registered secret and URL password from `s`. */
export function scrubSecrets(s: string): string {
  return processScrubber(s);
}

/** Secrets registered so far (for loggers created after the config was loaded). */
export function registeredSecrets(): string[] {
  return [...known];
}
