/**
 * PromQL's extrapolated rate/increase (Prometheus 3.x `extrapolatedRate`) for one window of
 * samples, given the window's first/last valid sample and the reset-corrected delta. Inputs are
 * plain numbers so the rolling kernel can call it per row without building sample objects.
 */
export function extrapolatedDelta(
  delta: number,
  n: number,
  firstT: number,
  firstV: number,
  lastT: number,
  rangeStartMs: number,
  rangeEndMs: number,
  isCounter: boolean,
): number {
  if (n < 2) return NaN;
  const sampledInterval = (lastT - firstT) / 1000;
  if (!(sampledInterval > 0)) return NaN;
  let durationToStart = (firstT - rangeStartMs) / 1000;
  let durationToEnd = (rangeEndMs - lastT) / 1000;
  const avg = sampledInterval / (n - 1);
  // Extrapolate to the range boundaries only when the samples come close to them (within 1.1 ×
  // the average spacing); otherwise assume the series starts/ends half an interval away.
  const threshold = avg * 1.1;
  if (durationToStart >= threshold) durationToStart = avg / 2;
  if (isCounter && delta > 0 && firstV >= 0) {
    // A counter cannot go below zero: do not extrapolate past the point where it would be 0.
    const durationToZero = sampledInterval * (firstV / delta);
    if (durationToZero < durationToStart) durationToStart = durationToZero;
  }
  if (durationToEnd >= threshold) durationToEnd = avg / 2;
  return delta * ((sampledInterval + durationToStart + durationToEnd) / sampledInterval);
}
