/**
 * A plain iterative radix-2 FFT (bit-reversal permutation, then log2 N butterfly passes with
 * precomputed twiddles), written the textbook way. Only a *reference* for benchmarks/features-polars.ts:
 * the spectral kernel uses fft.js, and this file says by how much that choice is faster.
 */
export class Radix2Fft {
  readonly size: number;
  private readonly rev: Uint32Array;
  private readonly cos: Float64Array;
  private readonly sin: Float64Array;
  private readonly re: Float64Array;
  private readonly im: Float64Array;

  constructor(size: number) {
    if (size < 2 || (size & (size - 1)) !== 0) throw new Error(`radix-2 FFT size must be a power of two, got ${size}`);
    this.size = size;
    const bits = Math.log2(size);
    this.rev = new Uint32Array(size);
    for (let i = 0; i < size; i++) {
      let r = 0;
      for (let b = 0; b < bits; b++) r |= ((i >> b) & 1) << (bits - 1 - b);
      this.rev[i] = r;
    }
    this.cos = new Float64Array(size / 2);
    this.sin = new Float64Array(size / 2);
    for (let k = 0; k < size / 2; k++) {
      this.cos[k] = Math.cos((-2 * Math.PI * k) / size);
      this.sin[k] = Math.sin((-2 * Math.PI * k) / size);
    }
    this.re = new Float64Array(size);
    this.im = new Float64Array(size);
  }

  /** Real input → out[2b], out[2b+1] = re, im of bin b for b = 0..N/2 (fft.js' realTransform layout). */
  realTransform(out: Float64Array, input: Float64Array): void {
    const n = this.size;
    const { re, im, rev, cos, sin } = this;
    for (let i = 0; i < n; i++) {
      re[rev[i]!] = input[i]!;
      im[rev[i]!] = 0;
    }
    for (let len = 2; len <= n; len <<= 1) {
      const half = len >> 1;
      const step = n / len;
      for (let s = 0; s < n; s += len) {
        for (let k = 0; k < half; k++) {
          const wr = cos[k * step]!;
          const wi = sin[k * step]!;
          const a = s + k;
          const b = a + half;
          const xr = re[b]! * wr - im[b]! * wi;
          const xi = re[b]! * wi + im[b]! * wr;
          re[b] = re[a]! - xr;
          im[b] = im[a]! - xi;
          re[a] = re[a]! + xr;
          im[a] = im[a]! + xi;
        }
      }
    }
    for (let b = 0; b <= n / 2; b++) {
      out[2 * b] = re[b]!;
      out[2 * b + 1] = im[b]!;
    }
  }
}
