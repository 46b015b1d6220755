/**
 * Digit grouping for human output (issue #18/#16, start-up): `n.toLocaleString('en-US')` costs
 * ≈ 20–30 ms on its first call in a process (ICU number-format data is loaded and set up), paid by
 * every run that prints its summary table. Integers (all counts) are grouped here; anything else
 * (fractions, -0, non-finite, beyond 2^53) still goes through toLocaleString, so the text is the same.
 */
export function groupDigits(n: number): string {
  if (!Number.isSafeInteger(n) || Object.is(n, -0)) return n.toLocaleString('en-US');
  const neg = n < 0;
  const s = String(neg ? -n : n);
  let out = '';
  let i = s.length % 3 || 3;
  out = s.slice(0, i);
  for (; i < s.length; i += 3) out += ',' + s.slice(i, i + 3);
  return neg ? '-' + out : out;
}
