/**
 * Per-series state shared read-only with kernels (scaling parameters fitted by an earlier run).
 * Loaded once per worker per pipeline; format and version are checked (clear errors otherwise).
 */
import { loadScalingState, scalingStateMap } from '../transform/scaling-state.js';

export async function loadStateForWorker(path: string): Promise<ReadonlyMap<string, unknown>> {
  return scalingStateMap(await loadScalingState(path));
}
