/**
 * The zod form of the duration grammar (src/util/duration.ts), for config schemas. Kept apart from
 * duration.ts so that worker code can parse durations without loading zod.
 */
import { z } from 'zod';
import { DURATION_HINT, isDuration } from './duration.js';

/** A config key holding a duration; `what` names the key in the error. Resolve it with parseDuration. */
export function durationSchema(what: string) {
  return z.union([z.string(), z.number()]).refine(isDuration, { message: `${what}: invalid duration (use ${DURATION_HINT})` });
}
