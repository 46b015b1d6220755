/**
 * One error base with stable codes (undici's habit): callers and tests switch on `code`, messages
 * say what failed, where, and what to do.
 */
export class PromfluxError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'PromfluxError';
  }
}

/** Bad configuration or usage: the CLI exits 2. `file`, `line`, `key` locate the problem. */
export class ConfigError extends PromfluxError {
  constructor(
    message: string,
    readonly where: { file?: string; line?: number; column?: number; key?: string } = {},
  ) {
    const loc = [where.file, where.line !== undefined ? `line ${where.line}` : undefined, where.key ? `key "${where.key}"` : undefined]
      .filter(Boolean)
      .join(', ');
    super('PROMFLUX_CONFIG', loc ? `${loc}: ${message}` : message);
    this.name = 'ConfigError';
  }
}

/** The source failed (HTTP error, bad response, query error). */
export class SourceError extends PromfluxError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'SourceError';
  }
}

/** The sink failed beyond what retries could fix. */
export class SinkError extends PromfluxError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'SinkError';
  }
}
