/**
 * Small HTTP client for the non-write APIs (setup, verify): InfluxQL over POST /query (1.x) and
 * JSON/CSV calls to the v2 API. Not on the hot path; one connection is enough.
 */
import { SinkError } from '../../errors.js';
import type { InfluxSinkConfig } from './config.js';
import { authHeaders, createPool } from './endpoint.js';

export interface InfluxQLSeries {
  name?: string;
  tags?: Record<string, string>;
  columns: string[];
  values: unknown[][];
}

export interface InfluxQLResult {
  statement_id?: number;
  error?: string;
  series?: InfluxQLSeries[];
}

export class AdminClient {
  private readonly pool;
  private readonly prefix: string;
  private readonly headers: Record<string, string>;

  constructor(readonly cfg: InfluxSinkConfig) {
    this.pool = createPool(cfg, 1);
    this.prefix = new URL(cfg.url).pathname.replace(/\/+$/, '');
    this.headers = authHeaders(cfg);
  }

  /** Run InfluxQL statements (';'-separated allowed); throws on HTTP or statement errors. */
  async influxql(q: string, db?: string): Promise<InfluxQLResult[]> {
    const form = new URLSearchParams({ q, epoch: 'ms' });
    if (db) form.set('db', db);
    const { status, text } = await this.call('POST', '/query', form.toString(), 'application/x-www-form-urlencoded');
    if (status >= 300) throw this.httpError('InfluxQL query', status, text, q);
    const json = JSON.parse(text) as { results?: InfluxQLResult[]; error?: string };
    if (json.error) throw new SinkError('PROMFLUX_SINK_QUERY', `InfluxQL "${q.slice(0, 200)}" failed: ${json.error}`);
    for (const r of json.results ?? []) {
      if (r.error) throw new SinkError('PROMFLUX_SINK_QUERY', `InfluxQL "${q.slice(0, 200)}" failed: ${r.error}`);
    }
    return json.results ?? [];
  }

  async json<T>(method: string, path: string, body?: unknown): Promise<{ status: number; data: T | null; text: string }> {
    const { status, text } = await this.call(method, path, body === undefined ? undefined : JSON.stringify(body), 'application/json');
    let data: T | null = null;
    try {
      data = text ? (JSON.parse(text) as T) : null;
    } catch {
      data = null;
    }
    return { status, data, text };
  }

  async call(method: string, path: string, body: string | undefined, contentType: string, accept?: string): Promise<{ status: number; text: string }> {
    try {
      const res = await this.pool.request({
        method: method as 'GET',
        path: this.prefix + path,
        headers: { ...this.headers, 'content-type': contentType, ...(accept ? { accept } : {}) },
        body,
      });
      return { status: res.statusCode, text: await res.body.text() };
    } catch (err) {
      throw new SinkError(
        'PROMFLUX_SINK_UNREACHABLE',
        `cannot reach InfluxDB at ${this.cfg.url} (${method} ${path}): ${(err as Error).message}. Is the server up and sink.url right?`,
        { cause: err },
      );
    }
  }

  httpError(what: string, status: number, text: string, detail = ''): SinkError {
    const hint =
      status === 401 || status === 403
        ? ' Check sink.token (or username/password) and its permissions.'
        : status === 404
          ? ' Check sink.url and sink.version (1 = /query, 2 = /api/v2).'
          : '';
    return new SinkError(
      status === 401 || status === 403 ? 'PROMFLUX_SINK_AUTH' : 'PROMFLUX_SINK_HTTP',
      `${what} at ${this.cfg.url} failed with HTTP ${status}: ${text.trim().slice(0, 300)}${detail ? ` (${detail.slice(0, 200)})` : ''}.${hint}`,
    );
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

/** Quote an InfluxQL identifier. */
export function ident(name: string): string {
  return '"' + name.replace(/\\/g, '\\\\').replace(/"/g, '\\"') + '"';
}

/** Quote a Flux string literal. */
export function fluxString(s: string): string {
  return '"' + s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\$\{/g, '\\${') + '"';
}
