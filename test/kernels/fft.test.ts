import { describe, expect, it } from 'vitest';
import { FftPlan, RealFft2d } from '../../src/kernels/fft.js';
import { randomArray } from '../helpers/random.js';

/** O(n²) DFT in float64: the definition the FFT must reproduce. */
function naiveDft(re: Float64Array, im: Float64Array, sign = -1): [Float64Array, Float64Array] {
  const n = re.length;
  const or = new Float64Array(n);
  const oi = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    let sr = 0;
    let si = 0;
    for (let t = 0; t < n; t++) {
      const a = (sign * 2 * Math.PI * ((t * k) % n)) / n;
      sr += re[t] * Math.cos(a) - im[t] * Math.sin(a);
      si += re[t] * Math.sin(a) + im[t] * Math.cos(a);
    }
    or[k] = sr;
    oi[k] = si;
  }
  return [or, oi];
}

function naiveDft2dReal(x: Float64Array, h: number, w: number): [Float64Array, Float64Array] {
  const re = new Float64Array(h * w);
  const im = new Float64Array(h * w);
  for (let ky = 0; ky < h; ky++) {
    for (let kx = 0; kx < w; kx++) {
      let sr = 0;
      let si = 0;
      for (let y = 0; y < h; y++) {
        for (let xx = 0; xx < w; xx++) {
          const a = -2 * Math.PI * (((ky * y) % h) / h + ((kx * xx) % w) / w);
          sr += x[y * w + xx] * Math.cos(a);
          si += x[y * w + xx] * Math.sin(a);
        }
      }
      re[ky * w + kx] = sr;
      im[ky * w + kx] = si;
    }
  }
  return [re, im];
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

// Sizes cover every code path: radix 4, 2, 3, 5, direct odd radices 7..13,
// Bluestein (primes > 13 and products with them), and 1.
const SIZES = [1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 15, 16, 17, 20, 23, 30, 31, 45, 49, 60, 64, 97, 100, 120, 127, 128, 210, 256, 289];

describe('FftPlan (complex, any length)', () => {
  for (const n of SIZES) {
    it(`matches the naive DFT at n = ${n}`, () => {
      const re = randomArray(n, n * 7 + 1);
      const im = randomArray(n, n * 7 + 2);
      const [er, ei] = naiveDft(re, im);
      const ar = re.slice();
      const ai = im.slice();
      new FftPlan(n).forward(ar, ai);
      // Float64 round-off of an O(n log n) transform vs an O(n²) sum: 1e-12·n relative to the largest value.
      const tol = 1e-12 * Math.max(1, n) * Math.max(1, maxAbs(er), maxAbs(ei));
      for (let k = 0; k < n; k++) {
        expect(Math.abs(ar[k] - er[k])).toBeLessThanOrEqual(tol);
        expect(Math.abs(ai[k] - ei[k])).toBeLessThanOrEqual(tol);
      }
      new FftPlan(n).inverse(ar, ai);
      for (let k = 0; k < n; k++) {
        expect(Math.abs(ar[k] - re[k])).toBeLessThanOrEqual(1e-12 * Math.max(1, n));
        expect(Math.abs(ai[k] - im[k])).toBeLessThanOrEqual(1e-12 * Math.max(1, n));
      }
    });
  }

  it('refuses a non-positive length', () => {
    expect(() => new FftPlan(0)).toThrow(/positive integer/);
  });
});

describe('RealFft2d', () => {
  const CASES: [number, number][] = [
    [1, 1], [1, 7], [7, 1], [2, 2], [3, 5], [4, 4], [5, 3], [7, 11], [8, 12], [13, 17], [16, 9], [17, 19], [12, 20], [31, 24],
  ];
  for (const [h, w] of CASES) {
    it(`forward matches the naive 2-D DFT and inverts at ${h}×${w}`, () => {
      const x = randomArray(h * w, h * 100 + w);
      const fft = new RealFft2d(h, w);
      const { re, im } = fft.allocSpectrum();
      fft.forward(x, re, im);
      const [er, ei] = naiveDft2dReal(x, h, w);
      const tol = 1e-12 * h * w * Math.max(1, maxAbs(er), maxAbs(ei));
      for (let ky = 0; ky < h; ky++) {
        for (let kx = 0; kx < fft.cols; kx++) {
          expect(Math.abs(re[ky * fft.cols + kx] - er[ky * w + kx])).toBeLessThanOrEqual(tol);
          expect(Math.abs(im[ky * fft.cols + kx] - ei[ky * w + kx])).toBeLessThanOrEqual(tol);
        }
      }
      const back = new Float64Array(h * w);
      fft.inverse(re, im, back);
      for (let i = 0; i < h * w; i++) expect(Math.abs(back[i] - x[i])).toBeLessThanOrEqual(1e-12 * h * w);
    });
  }
});
