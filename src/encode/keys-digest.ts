/**
 * Digest of one batch's series identity: its (source series key, target series key) pairs in
 * order. Workers compute it (per series, never per sample) so the main thread can recognise a
 * series set it has already checked for collisions in O(1) (src/pipeline/collisions.ts). SHA-1:
 * a false match would skip a check, so a short non-cryptographic hash will not do; ~10 µs per
 * batch of a few hundred series, in the worker.
 */
import { createHash } from 'node:crypto';

/** Each key is length-prefixed, so no two different pair lists hash the same text. */
export function keysDigest(keys: readonly string[], targets: readonly string[]): string {
  const h = createHash('sha1');
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    const t = targets[i] ?? '';
    h.update(`${k.length}:${k}${t.length}:${t}`);
  }
  return h.digest('base64');
}
