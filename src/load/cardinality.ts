/**
 * Tag-cardinality guard. Runs on the main thread, per *series* (not per sample): each batch brings
 * its distinct series keys; the guard maps them through the schema mapping and counts distinct tag
 * sets per measurement over the run. Beyond `limit` it warns once per measurement, or refuses
 * (throws a SinkError before the batch is written, so nothing of it reaches the database).
 */
import type { Logger } from 'pino';
import { parseSeriesKey } from '../batch/layout.js';
import { SinkError } from '../errors.js';
import type { CompiledSchemaMapping } from './schema.js';

export interface CardinalityOptions {
  limit: number;
  action: 'warn' | 'refuse';
}

export interface MeasurementCardinality {
  /** Distinct tag sets seen (exact up to 10× limit, then a lower bound). */
  tagSets: number;
  exceeded: boolean;
}

/** Keep exact sets up to this multiple of the limit; past it, memory matters more than the exact count. */
const TRACK_FACTOR = 10;

export class CardinalityGuard {
  private readonly seenSeries = new Set<string>();
  private readonly perMeasurement = new Map<string, { sets: Set<string>; exceeded: boolean; saturated: boolean }>();

  constructor(
    readonly opts: CardinalityOptions,
    private readonly mapping: CompiledSchemaMapping,
    private readonly logger?: Logger,
  ) {}

  /**
   * Account for one batch's series keys (canonical `name{a="x"}` keys). Throws SinkError
   * PROMFLUX_SINK_CARDINALITY when `action` is refuse and a measurement would exceed the limit;
   * in that case nothing of this batch is recorded, so a retry after changing config sees the same.
   */
  check(seriesKeys: readonly string[]): void {
    const pending: Array<{ seriesKey: string; measurement: string; tagSet: string }> = [];
    const added = new Map<string, Set<string>>();
    for (const key of seriesKeys) {
      if (this.seenSeries.has(key)) continue;
      const { name, labels } = parseSeriesKey(key);
      const mapped = this.mapping.mapSeries(name, labels);
      if (!mapped) {
        this.seenSeries.add(key);
        continue;
      }
      const tagSet = canonicalTagSet(mapped.tags);
      const entry = this.perMeasurement.get(mapped.measurement);
      if (entry?.sets.has(tagSet) || entry?.saturated) {
        this.seenSeries.add(key);
        continue;
      }
      let fresh = added.get(mapped.measurement);
      if (!fresh) added.set(mapped.measurement, (fresh = new Set()));
      if (fresh.has(tagSet)) continue;
      fresh.add(tagSet);
      pending.push({ seriesKey: key, measurement: mapped.measurement, tagSet });
    }
    if (this.opts.action === 'refuse') {
      for (const [measurement, fresh] of added) {
        const total = (this.perMeasurement.get(measurement)?.sets.size ?? 0) + fresh.size;
        if (total > this.opts.limit) {
          throw new SinkError(
            'PROMFLUX_SINK_CARDINALITY',
            `measurement "${measurement}" would have ${total} distinct tag sets, over the limit of ${this.opts.limit}; ` +
              `nothing of this batch was written. Drop high-cardinality labels with schema.tags.deny/allow, ` +
              `or raise cardinality.limit (or set cardinality.action: warn).`,
          );
        }
      }
    }
    for (const p of pending) {
      this.seenSeries.add(p.seriesKey);
      let entry = this.perMeasurement.get(p.measurement);
      if (!entry) this.perMeasurement.set(p.measurement, (entry = { sets: new Set(), exceeded: false, saturated: false }));
      if (entry.saturated) continue;
      entry.sets.add(p.tagSet);
      if (!entry.exceeded && entry.sets.size > this.opts.limit) {
        entry.exceeded = true;
        this.logger?.warn(
          { measurement: p.measurement, limit: this.opts.limit },
          `measurement "${p.measurement}" exceeds ${this.opts.limit} distinct tag sets; consider dropping labels (schema.tags.deny)`,
        );
      }
      if (entry.sets.size >= this.opts.limit * TRACK_FACTOR) entry.saturated = true;
    }
  }

  /** Distinct tag sets per measurement so far. */
  stats(): Record<string, MeasurementCardinality> {
    const out: Record<string, MeasurementCardinality> = {};
    for (const [m, e] of this.perMeasurement) out[m] = { tagSets: e.sets.size, exceeded: e.exceeded };
    return out;
  }
}

/** Order-independent identity of a tag set. */
export function canonicalTagSet(tags: Readonly<Record<string, string>>): string {
  const keys = Object.keys(tags).sort();
  let s = '';
  for (const k of keys) s += k + '\u0000' + tags[k] + '\u0001';
  return s;
}
