/**
 * `promflux verify`: read back point counts per measurement over [startMs, endMs) and compare them
 * with what a run reports having written.
 *
 * A point is counted through one field that every point carries: `field` (default "value", the
 * sample value column; pass its renamed key if the schema renames it). If a measurement has no such
 * field, the largest per-field count is used (a lower bound when fields are sparse).
 * Points written twice with the same series and timestamp are one point in InfluxDB: a count below
 * the run's lines can mean duplicates in the source, not loss.
 */
import { SinkError } from '../../errors.js';
import { AdminClient, fluxString, ident } from './admin.js';
import type { InfluxSinkConfig } from './config.js';

export interface VerifyOptions {
  startMs: number;
  endMs: number;
  /** measurement → lines the run reported written. When absent, every measurement found is listed. */
  expected?: Record<string, number>;
  /** Also read min/max/sum of the counted field. */
  values?: boolean;
  /** Field that every point has (default "value"). */
  field?: string;
  /** Also return the count of every field (`fields`). */
  fieldCounts?: boolean;
}

export interface MeasurementCheck {
  expected?: number;
  found: number;
  /** Points carrying each field (COUNT of the field), as read back. */
  fields?: Record<string, number>;
  min?: number | null;
  max?: number | null;
  sum?: number | null;
}

export interface VerifyResult {
  perMeasurement: Record<string, MeasurementCheck>;
  /** True when every expected count matches exactly (true when nothing was expected). */
  ok: boolean;
}

export async function verifyInflux(cfg: InfluxSinkConfig, opts: VerifyOptions): Promise<VerifyResult> {
  if (!(opts.endMs > opts.startMs)) {
    throw new SinkError('PROMFLUX_SINK_VERIFY', `verify needs --start before --end (got ${opts.startMs} .. ${opts.endMs})`);
  }
  const admin = new AdminClient(cfg);
  try {
    const found = cfg.version === 1 ? await readV1(cfg, admin, opts) : await readV2(cfg, admin, opts);
    const perMeasurement: Record<string, MeasurementCheck> = {};
    let ok = true;
    const names = new Set([...Object.keys(opts.expected ?? {}), ...(opts.expected ? [] : found.keys())]);
    for (const m of [...names].sort()) {
      const f = found.get(m) ?? { found: 0 };
      const check: MeasurementCheck = { ...f };
      if (opts.expected && m in opts.expected) {
        check.expected = opts.expected[m]!;
        if (check.expected !== f.found) ok = false;
      }
      if (!opts.fieldCounts) delete check.fields;
      if (!opts.values) {
        delete check.min;
        delete check.max;
        delete check.sum;
      }
      perMeasurement[m] = check;
    }
    return { perMeasurement, ok };
  } finally {
    await admin.close();
  }
}

type Found = Map<string, MeasurementCheck>;

async function readV1(cfg: InfluxSinkConfig, admin: AdminClient, opts: VerifyOptions): Promise<Found> {
  const db = cfg.db!;
  const field = opts.field ?? 'value';
  let measurements: string[];
  if (opts.expected) measurements = Object.keys(opts.expected);
  else {
    const r = await admin.influxql(`SHOW MEASUREMENTS ON ${ident(db)}`);
    measurements = (r[0]?.series?.[0]?.values ?? []).map((v) => String(v[0]));
  }
  const out: Found = new Map();
  const aggs = opts.values ? 'COUNT(*), MIN(*), MAX(*), SUM(*)' : 'COUNT(*)';
  // Several statements per request; each answers with its own statement_id.
  for (let i = 0; i < measurements.length; i += 50) {
    const part = measurements.slice(i, i + 50);
    const q = part
      .map((m) => {
        const src = cfg.rp ? `${ident(cfg.rp)}.${ident(m)}` : ident(m);
        return `SELECT ${aggs} FROM ${src} WHERE time >= ${Math.floor(opts.startMs)}ms AND time < ${Math.floor(opts.endMs)}ms`;
      })
      .join('; ');
    const results = await admin.influxql(q, db);
    part.forEach((m, j) => {
      const s = results.find((r) => r.statement_id === j)?.series?.[0];
      if (!s) {
        out.set(m, { found: 0, fields: {}, min: null, max: null, sum: null });
        return;
      }
      const row = s.values[0] ?? [];
      const get = (c: string): number | null => {
        const k = s.columns.indexOf(c);
        return k < 0 || row[k] === null || row[k] === undefined ? null : Number(row[k]);
      };
      let count = get(`count_${field}`);
      if (count === null) {
        count = 0;
        s.columns.forEach((c, k) => {
          if (c.startsWith('count_')) count = Math.max(count!, Number(row[k] ?? 0));
        });
      }
      const fields: Record<string, number> = {};
      s.columns.forEach((c, k) => {
        if (c.startsWith('count_') && row[k] !== null && row[k] !== undefined) fields[c.slice(6)] = Number(row[k]);
      });
      out.set(m, { found: count, fields, min: get(`min_${field}`), max: get(`max_${field}`), sum: get(`sum_${field}`) });
    });
  }
  return out;
}

/** v2: Flux over /api/v2/query, counting `field` per measurement. */
async function readV2(cfg: InfluxSinkConfig, admin: AdminClient, opts: VerifyOptions): Promise<Found> {
  const field = opts.field ?? 'value';
  const base =
    `from(bucket: ${fluxString(cfg.bucket!)})\n` +
    `  |> range(start: time(v: ${Math.floor(opts.startMs)}000000), stop: time(v: ${Math.floor(opts.endMs)}000000))\n` +
    `  |> filter(fn: (r) => r._field == ${fluxString(field)})\n` +
    `  |> group(columns: ["_measurement"])\n`;
  const aggs: Array<[keyof MeasurementCheck, string]> = [['found', 'count()']];
  if (opts.values) aggs.push(['min', 'min()'], ['max', 'max()'], ['sum', 'sum()']);
  const out: Found = new Map();
  const path = `/api/v2/query${cfg.org ? `?org=${encodeURIComponent(cfg.org)}` : ''}`;
  for (const [key, fn] of aggs) {
    const body = JSON.stringify({ query: `${base}  |> ${fn}`, type: 'flux', dialect: { header: true, annotations: [] } });
    const { status, text } = await admin.call('POST', path, body, 'application/json', 'application/csv');
    if (status >= 300) throw admin.httpError('Flux query', status, text);
    for (const row of parseCsv(text)) {
      const m = row._measurement;
      if (m === undefined) continue;
      const e = out.get(m) ?? { found: 0, min: null, max: null, sum: null };
      (e as unknown as Record<string, unknown>)[key] = Number(row._value);
      out.set(m, e);
    }
  }
  if (opts.fieldCounts) {
    const q =
      `from(bucket: ${fluxString(cfg.bucket!)})\n` +
      `  |> range(start: time(v: ${Math.floor(opts.startMs)}000000), stop: time(v: ${Math.floor(opts.endMs)}000000))\n` +
      `  |> group(columns: ["_measurement", "_field"])\n  |> count()`;
    const body = JSON.stringify({ query: q, type: 'flux', dialect: { header: true, annotations: [] } });
    const { status, text } = await admin.call('POST', path, body, 'application/json', 'application/csv');
    if (status >= 300) throw admin.httpError('Flux query', status, text);
    for (const row of parseCsv(text)) {
      const m = row._measurement;
      if (m === undefined || row._field === undefined) continue;
      const e = out.get(m) ?? { found: 0, min: null, max: null, sum: null };
      (e.fields ??= {})[row._field] = Number(row._value);
      out.set(m, e);
    }
  }
  return out;
}

/** Minimal RFC 4180 CSV reader for Flux results (tables separated by blank lines, header rows repeated). */
export function parseCsv(text: string): Array<Record<string, string>> {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let q = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (q) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') q = false;
      else cell += c;
    } else if (c === '"') q = true;
    else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
    } else cell += c;
  }
  if (cell !== '' || row.length) {
    row.push(cell);
    rows.push(row);
  }
  const out: Array<Record<string, string>> = [];
  let header: string[] | null = null;
  for (const r of rows) {
    if (r.length === 1 && r[0] === '') {
      header = null;
      continue;
    }
    if (!header || (r.includes('_value') && r.includes('result'))) {
      header = r;
      continue;
    }
    out.push(Object.fromEntries(header.map((h, k) => [h, r[k] ?? ''])));
  }
  return out;
}
