/**
 * `calendar`: date features from each row's timestamp in an IANA time zone
 * (docs/TRANSFORMS.md#calendar): hour, minute of day, day of week (ISO: Monday = 1 … Sunday = 7),
 * day of month, month, ISO week, weekend flag, and optional sin/cos cyclical encodings.
 *
 * DST-correct without per-sample Intl calls (Intl.DateTimeFormat costs microseconds per call): the
 * zone's UTC-offset transitions are found once per worker per zone and UTC year (offset sampled
 * every 6 hours, each change located to the second by bisection) and cached; per row the kernel
 * moves a pointer through that sorted table (timestamps ascend within a run) and does integer
 * civil-date arithmetic (Hinnant's days_from_civil inverse). No objects per sample.
 */
import { RUN_STRIDE } from '../../batch/layout.js';
import type { Kernel, KernelContext, KernelFactory } from '../kernel.js';
import { checkKnown, TransformOptionError } from './options.js';

const K = 'calendar';
const DAY = 86_400_000;

export const CALENDAR_FIELDS = ['hour', 'minute_of_day', 'day_of_week', 'day_of_month', 'month', 'iso_week', 'weekend'] as const;
export type CalendarField = (typeof CALENDAR_FIELDS)[number];
/** Fields with a cyclical encoding and their period. */
const CYCLE: Partial<Record<CalendarField, number>> = { hour: 24, minute_of_day: 1440, day_of_week: 7, month: 12, day_of_month: 31, iso_week: 53 };

export interface CalendarOptions {
  fields: CalendarField[];
  cyclical: CalendarField[];
  timezone: string;
  prefix: string;
}

function fieldList(v: unknown, key: string, def: readonly CalendarField[]): CalendarField[] {
  if (v === true) return [...def];
  if (v === false) return [];
  if (!Array.isArray(v) || v.some((f) => !CALENDAR_FIELDS.includes(f as CalendarField))) {
    throw new TransformOptionError(K, key, `must be a list of ${CALENDAR_FIELDS.join(', ')}, got ${JSON.stringify(v)}`);
  }
  return v as CalendarField[];
}

export function parseCalendarOptions(o: Record<string, unknown>): CalendarOptions {
  checkKnown(o, K, ['fields', 'cyclical', 'timezone', 'prefix']);
  const fields = o['fields'] === undefined ? [...CALENDAR_FIELDS] : fieldList(o['fields'], 'fields', CALENDAR_FIELDS);
  const cyc = o['cyclical'] === undefined ? [] : fieldList(o['cyclical'], 'cyclical', ['hour', 'day_of_week', 'month']);
  for (const f of cyc) if (CYCLE[f] === undefined) throw new TransformOptionError(K, 'cyclical', `"${f}" has no cyclical encoding`);
  const timezone = o['timezone'] === undefined ? 'UTC' : String(o['timezone']);
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
  } catch {
    throw new TransformOptionError(K, 'timezone', `is not an IANA time zone: ${JSON.stringify(timezone)} (e.g. "UTC", "Europe/Berlin", "America/New_York")`);
  }
  if (fields.length + cyc.length === 0) throw new TransformOptionError(K, 'fields', 'nothing to compute');
  return { fields, cyclical: cyc, timezone, prefix: o['prefix'] === undefined ? '' : String(o['prefix']) };
}

/** UTC offset transitions of one zone: offset[i] applies from at[i] (ms) until at[i + 1]. */
export class ZoneOffsets {
  private readonly fmt: Intl.DateTimeFormat;
  private readonly years = new Map<number, { at: number[]; off: number[] }>();
  /** Flattened sorted table over the years loaded so far. */
  at = new Float64Array(0);
  off = new Float64Array(0);

  constructor(readonly timezone: string) {
    this.fmt = new Intl.DateTimeFormat('en-US', {
      timeZone: timezone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric', era: 'short',
    });
  }

  /** Offset (ms) of the zone at UTC instant t, via Intl (slow; used to build the table only). */
  offsetAt(t: number): number {
    const t0 = Math.floor(t / 1000) * 1000;
    let y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0, bc = false;
    for (const p of this.fmt.formatToParts(new Date(t0))) {
      switch (p.type) {
        case 'year': y = Number(p.value); break;
        case 'month': mo = Number(p.value); break;
        case 'day': d = Number(p.value); break;
        case 'hour': h = Number(p.value); break;
        case 'minute': mi = Number(p.value); break;
        case 'second': s = Number(p.value); break;
        case 'era': bc = p.value.startsWith('B'); break;
      }
    }
    const yy = bc ? 1 - y : y;
    const local = daysFromCivil(yy, mo, d) * DAY + ((h * 60 + mi) * 60 + s) * 1000;
    return local - t0;
  }

  /** Make sure the table covers [t0, t1]. */
  cover(t0: number, t1: number): void {
    const y0 = new Date(t0).getUTCFullYear();
    const y1 = new Date(t1).getUTCFullYear();
    let added = false;
    for (let y = y0; y <= y1; y++) {
      if (this.years.has(y)) continue;
      this.years.set(y, this.scanYear(y));
      added = true;
    }
    if (!added) return;
    const at: number[] = [];
    const off: number[] = [];
    for (const y of [...this.years.keys()].sort((a, b) => a - b)) {
      const e = this.years.get(y)!;
      for (let i = 0; i < e.at.length; i++) {
        if (off.length > 0 && off[off.length - 1] === e.off[i] && at.length > 0) continue;
        at.push(e.at[i]!);
        off.push(e.off[i]!);
      }
    }
    this.at = Float64Array.from(at);
    this.off = Float64Array.from(off);
  }

  private scanYear(y: number): { at: number[]; off: number[] } {
    const a = Date.UTC(y, 0, 1);
    const b = Date.UTC(y + 1, 0, 1);
    const step = 6 * 3_600_000;
    const at = [a];
    const off = [this.offsetAt(a)];
    let prev = off[0]!;
    for (let t = a + step; t <= b; t += step) {
      const o = this.offsetAt(t);
      if (o !== prev) {
        // bisect (t - step, t] to the second: the first second with the new offset
        let lo = t - step;
        let hi = t;
        while (hi - lo > 1000) {
          const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
          if (this.offsetAt(mid) === prev) lo = mid;
          else hi = mid;
        }
        if (hi < b) {
          at.push(hi);
          off.push(o);
        }
        prev = o;
      }
    }
    return { at, off };
  }
}

const zones = new Map<string, ZoneOffsets>();
export function zoneOffsets(tz: string): ZoneOffsets {
  let z = zones.get(tz);
  if (!z) zones.set(tz, (z = new ZoneOffsets(tz)));
  return z;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (Hinnant). */
export function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

export class CalendarKernel implements Kernel {
  readonly name = K;
  readonly outputs: readonly string[];
  readonly haloSamples = 0;
  readonly haloMs = 0;
  private readonly utc: boolean;

  constructor(readonly opts: CalendarOptions) {
    const p = opts.prefix;
    this.outputs = [...opts.fields.map((f) => p + f), ...opts.cyclical.flatMap((f) => [`${p}${f}_sin`, `${p}${f}_cos`])];
    this.utc = opts.timezone === 'UTC' || opts.timezone === 'Etc/UTC';
  }

  run(ctx: KernelContext): void {
    const len = ctx.length;
    if (len === 0) return;
    const { ts, runs } = ctx;
    const fields = new Set<CalendarField>([...this.opts.fields, ...this.opts.cyclical]);
    // Per-row fields into scratch columns (one per field), then outputs.
    const p = this.opts.prefix;
    const col = (f: CalendarField): Float64Array | undefined => (this.opts.fields.includes(f) ? ctx.feature(p + f) : fields.has(f) ? ctx.scratchF64(len, 10 + CALENDAR_FIELDS.indexOf(f)) : undefined);
    const hour = col('hour');
    const mod = col('minute_of_day');
    const dow = col('day_of_week');
    const dom = col('day_of_month');
    const mon = col('month');
    const wk = col('iso_week');
    const we = col('weekend');
    const z = this.utc ? undefined : zoneOffsets(this.opts.timezone);
    for (let r = 0; r < ctx.runCount; r++) {
      const start = runs[r * RUN_STRIDE + 1]!;
      const end = start + runs[r * RUN_STRIDE + 3]!;
      if (end <= start) continue;
      let seg = 0;
      let at: Float64Array | undefined;
      let off: Float64Array | undefined;
      if (z) {
        let lo = Infinity;
        let hi = -Infinity;
        for (let i = start; i < end; i++) {
          const t = ts[i]!;
          if (t < lo) lo = t;
          if (t > hi) hi = t;
        }
        z.cover(lo, hi);
        at = z.at;
        off = z.off;
      }
      for (let i = start; i < end; i++) {
        const t = ts[i]!;
        let o = 0;
        if (at && off) {
          // pointer through the transition table; moves back only for unsorted input
          while (seg + 1 < at.length && at[seg + 1]! <= t) seg++;
          while (seg > 0 && at[seg]! > t) seg--;
          o = off[seg]!;
        }
        const local = t + o;
        const days = Math.floor(local / DAY);
        const msOfDay = local - days * DAY;
        const minute = Math.floor(msOfDay / 60_000);
        const wd = ((((days + 3) % 7) + 7) % 7) + 1; // 1970-01-01 was a Thursday (4)
        if (hour) hour[i] = Math.floor(minute / 60);
        if (mod) mod[i] = minute;
        if (dow) dow[i] = wd;
        if (we) we[i] = wd >= 6 ? 1 : 0;
        if (dom || mon) {
          // civil_from_days (Hinnant)
          const zz = days + 719468;
          const era = Math.floor(zz / 146097);
          const doe = zz - era * 146097;
          const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
          const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
          const mp = Math.floor((5 * doy + 2) / 153);
          if (dom) dom[i] = doy - Math.floor((153 * mp + 2) / 5) + 1;
          if (mon) mon[i] = mp < 10 ? mp + 3 : mp - 9;
        }
        if (wk) {
          // ISO week: the week's Thursday decides the year; week = 1 + (days since that year's Jan 1) / 7
          const thu = days - wd + 4;
          const zz = thu + 719468;
          const era = Math.floor(zz / 146097);
          const doe = zz - era * 146097;
          const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
          const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
          const mp = Math.floor((5 * doy + 2) / 153);
          const y = yoe + era * 400 + (mp >= 10 ? 1 : 0);
          wk[i] = Math.floor((thu - daysFromCivil(y, 1, 1)) / 7) + 1;
        }
      }
    }
    for (const f of this.opts.cyclical) {
      const src = f === 'hour' ? hour : f === 'minute_of_day' ? mod : f === 'day_of_week' ? dow : f === 'day_of_month' ? dom : f === 'month' ? mon : wk;
      const period = CYCLE[f]!;
      // 0-based phase: day_of_week, day_of_month, month and iso_week start at 1
      const base = f === 'hour' || f === 'minute_of_day' ? 0 : 1;
      const s = ctx.feature(`${p}${f}_sin`);
      const c = ctx.feature(`${p}${f}_cos`);
      const w = (2 * Math.PI) / period;
      for (let r = 0; r < ctx.runCount; r++) {
        const start = runs[r * RUN_STRIDE + 1]!;
        const end = start + runs[r * RUN_STRIDE + 3]!;
        for (let i = start; i < end; i++) {
          const a = w * (src![i]! - base);
          s[i] = Math.sin(a);
          c[i] = Math.cos(a);
        }
      }
    }
  }
}

export const calendarKernel: KernelFactory = (options) => new CalendarKernel(parseCalendarOptions(options));
