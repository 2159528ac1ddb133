/**
 * The spectral core of registration: a cached template spectrum and, per frame,
 * one forward and one inverse 2-D real FFT giving the circular
 * cross-correlation surface (docs/registration.md, section 3).
 *
 * Two implementations share this interface: the float64 TypeScript reference
 * (`TsCorrelator`) and the float32 WebAssembly SIMD one (`WasmCorrelator`).
 * Callers write the prepared, padded image into `input`, then call
 * `setTemplate()` or `correlate()`, and read the result from `surface`.
 */
export type Normalization = 'none' | 'phase';

export interface CorrelatorOptions {
  normalization: Normalization;
  /** σ in pixels of the spectral Gaussian used with `phase`. */
  phaseSigma: number;
}

import type { PixelArray } from '../ingest/frame.js';

export interface Correlator {
  /** Padded height and width (fast sizes, multiples of 4). */
  readonly hp: number;
  readonly wp: number;
  /** hp·wp row-major: the caller writes the prepared image here. */
  readonly input: Float32Array | Float64Array;
  /** hp·wp row-major correlation surface, valid after `correlate()`. */
  readonly surface: Float32Array | Float64Array;
  /** Forward transform of `input`, kept as the template spectrum. */
  setTemplate(): void;
  /** Forward transform of `input`, cross-power with the template, inverse into `surface`. */
  correlate(): void;
  /** Σ_k G(k) / (hp·wp): the surface peak of a perfect match under `phase`. */
  readonly phasePeakScale: number;
  /**
   * Optional fast path of the preparation step: mean-subtract, apodise and
   * zero-pad a width×height plane into `input`, returning Σ g². Where absent,
   * the Registrar does it in TypeScript.
   */
  prepare?(plane: PixelArray, width: number, height: number, wy: Float64Array, wx: Float64Array): number;
  /**
   * Optional: only lags |dy| ≤ ry, |dx| ≤ rx of the surface are needed from
   * now on; the rest may be left stale (the inverse transform can skip work).
   */
  limitSurface?(ry: number, rx: number): void;
  /** Frees native memory, if any. */
  dispose(): void;
}

/** Signed frequency index of bin k of an n-point transform (numpy's fftfreq(n)·n). */
export function signedFrequency(k: number, n: number): number {
  return k < (n + 1) >> 1 ? k : k - n;
}

/**
 * The spectral Gaussian G(k) of the phase normalization, as two separable
 * factors: G(ky, kx) = gy[ky] · gx[kx].
 */
export function spectralGaussian(n: number, sigma: number): Float64Array {
  const g = new Float64Array(n);
  const c = -2 * Math.PI * Math.PI * sigma * sigma;
  for (let k = 0; k < n; k++) {
    const f = signedFrequency(k, n) / n;
    g[k] = Math.exp(c * f * f);
  }
  return g;
}

/** Σ over the full hp×wp spectrum of G, divided by hp·wp. */
export function phasePeakScale(hp: number, wp: number, sigma: number): number {
  const gy = spectralGaussian(hp, sigma);
  const gx = spectralGaussian(wp, sigma);
  let sy = 0;
  let sx = 0;
  for (let i = 0; i < hp; i++) sy += gy[i];
  for (let i = 0; i < wp; i++) sx += gx[i];
  return (sy * sx) / (hp * wp);
}

/** Smallest m ≥ n of the form 2^a 3^b 5^c with a ≥ 2. */
export function fastSize(n: number): number {
  for (let m = Math.max(4, n); ; m++) {
    if (m % 4 !== 0) continue;
    let r = m;
    for (const p of [2, 3, 5]) while (r % p === 0) r /= p;
    if (r === 1) return m;
  }
}
