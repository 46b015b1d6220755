/**
 * Series sets the main thread already knows (issue #18). Every line-protocol result used to carry
 * its batch's source and target series keys (two strings per series, ~90 B each), structured-cloned
 * to the main thread per batch, although most batches of a backfill repeat a series set the
 * dispatcher has already checked for collisions and handed to the sink: ~250 µs of main-thread
 * deserialisation per 1000-series batch (measured with postMessage, warm).
 *
 * The main thread publishes the keys digest (src/encode/keys-digest.ts) of each series set it has
 * fully handled into this SharedArrayBuffer table; a worker whose batch has a published digest
 * sends the digest alone (ProcessResult.keysOmitted). The table is only a hint: the main thread
 * decides with its own set (src/pipeline/collisions.ts) and asks for the keys again (re-runs the
 * batch) when a hint was stale, so a torn or cleared slot costs a re-run, never a wrong result.
 *
 * Layout: SLOTS direct-mapped slots of 20 bytes (a SHA-1), the slot chosen by the digest's first
 * 4 bytes; a later digest with the same slot overwrites it (only costs keys sent again).
 */
const SLOTS = 4096;
const DIGEST_BYTES = 20;

function slotOf(d: Uint8Array): number {
  return ((d[0]! | (d[1]! << 8) | (d[2]! << 16) | (d[3]! << 24)) >>> 0) % SLOTS;
}

function raw(digest: string): Uint8Array | undefined {
  const b = Buffer.from(digest, 'base64');
  return b.byteLength === DIGEST_BYTES ? b : undefined;
}

/** Main-thread side: the table to publish into (and pass to every task as `knownKeys`). */
export class KnownKeysTable {
  readonly buffer = new SharedArrayBuffer(SLOTS * DIGEST_BYTES);
  private readonly bytes = new Uint8Array(this.buffer);

  publish(digest: string): void {
    const d = raw(digest);
    if (d) this.bytes.set(d, slotOf(d) * DIGEST_BYTES);
  }

  clear(): void {
    this.bytes.fill(0);
  }
}

/** Worker side: is this digest published in `table`? */
export function isKnown(table: SharedArrayBuffer, digest: string): boolean {
  const d = raw(digest);
  if (!d || table.byteLength !== SLOTS * DIGEST_BYTES) return false;
  const bytes = new Uint8Array(table, slotOf(d) * DIGEST_BYTES, DIGEST_BYTES);
  for (let i = 0; i < DIGEST_BYTES; i++) if (bytes[i] !== d[i]) return false;
  return true;
}
