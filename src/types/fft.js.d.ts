/** Minimal types for fft.js 4 (indutny/fft.js, radix-4, no bundled types). */
declare module 'fft.js' {
  export default class FFT {
    constructor(size: number);
    readonly size: number;
    createComplexArray(): number[];
    /** Real input of `size` values → the left half of the spectrum (bins 0..size/2) as re, im pairs. */
    realTransform(out: ArrayLike<number> & { [i: number]: number }, data: ArrayLike<number>): void;
    completeSpectrum(out: ArrayLike<number> & { [i: number]: number }): void;
    transform(out: ArrayLike<number> & { [i: number]: number }, data: ArrayLike<number>): void;
  }
}
