/**
 * Series-key collisions, checked per series (never per sample) over the whole run: target series
 * key (line-protocol text of measurement + tags, after schema mapping and key policy) → the source
 * series key that holds it. The first batch to reach the sink with a target key claims it; within
 * one batch the smallest source key (JS string order) wins.
 *
 * Issue #18: the full check sorts the batch's series keys and probes a map per series, on the main
 * thread, for every batch. Most batches of a backfill carry a series set already checked (the same
 * block of series, a later time range). Workers send a digest of the batch's (source, target) key
 * pairs (ProcessResult.keysDigest); a digest whose batch claimed all its keys without a collision
 * is remembered, and a later batch with the same digest is collision-free without any per-series
 * work: claims are never revoked, so each of its targets is still held by the same source.
 *
 * Once such a batch has also been accepted by the sink (whose cardinality guard then saw its keys),
 * its digest is published to the workers (src/pool/known-keys.ts): later batches with that series
 * set send the digest without the keys (`keysOmitted`), and `known` tells whether the main thread
 * still holds that set; when it does not (a stale hint), the batch is run again with its keys.
 */
import { KnownKeysTable } from '../pool/known-keys.js';

export type Collision = { source: string; holder: string; target: string };

/** Remembered collision-free digests (bounded: cleared when full, which only costs re-checks). */
const MAX_DIGESTS = 4096;

export class SeriesClaims {
  private readonly claims = new Map<string, string>();
  private readonly clean = new Set<string>();
  /** Digests published to the workers: collision-free and accepted by the sink. */
  private readonly published = new Set<string>();
  /** The workers' view of `published` (ProcessTask.knownKeys). */
  readonly table = new KnownKeysTable();
  /** Batches checked series by series (the rest took the digest path): tests and diagnostics. */
  fullChecks = 0;

  /**
   * Pairs of source series whose target key another series holds; claims the batch's keys when
   * there are none. `targetKeys[i]` belongs to `seriesKeys[i]` ('' = not written, no claim).
   */
  check(seriesKeys: readonly string[], targetKeys: readonly string[], digest?: string): Collision[] {
    const n = seriesKeys.length;
    if (targetKeys.length !== n) return [];
    if (digest !== undefined && this.clean.has(digest)) return [];
    this.fullChecks++;
    const order = [...seriesKeys.keys()].sort((a, b) => (seriesKeys[a]! < seriesKeys[b]! ? -1 : seriesKeys[a]! > seriesKeys[b]! ? 1 : 0));
    const local = new Map<string, string>();
    const found: Collision[] = [];
    for (const i of order) {
      const source = seriesKeys[i]!;
      const target = targetKeys[i]!;
      if (!target) continue;
      const holder = this.claims.get(target) ?? local.get(target);
      if (holder === undefined) local.set(target, source);
      else if (holder !== source) found.push({ source, holder, target });
    }
    if (found.length > 0) return found;
    for (const [t, s] of local) this.claims.set(t, s);
    if (digest !== undefined) {
      if (this.clean.size >= MAX_DIGESTS) this.clean.clear();
      this.clean.add(digest);
    }
    return found;
  }

  /** A batch of this (collision-free) series set was accepted by the sink: workers may omit its keys from now on. */
  delivered(digest: string): void {
    if (this.published.has(digest)) return;
    if (this.published.size >= MAX_DIGESTS) {
      this.published.clear();
      this.table.clear();
    }
    this.published.add(digest);
    this.table.publish(digest);
  }

  /** True when a result that omitted its keys (digest only) belongs to a series set already handled. */
  known(digest: string | undefined): boolean {
    return digest !== undefined && this.published.has(digest);
  }
}
