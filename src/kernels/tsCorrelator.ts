import { type Correlator, type CorrelatorOptions, phasePeakScale, spectralGaussian } from './correlator.js';
import { RealFft2d } from './fft.js';

/** The float64 reference correlator (docs/registration.md, section 3). */
export class TsCorrelator implements Correlator {
  readonly hp: number;
  readonly wp: number;
  readonly input: Float64Array;
  readonly surface: Float64Array;
  readonly phasePeakScale: number;
  private readonly fft: RealFft2d;
  private readonly tRe: Float64Array;
  private readonly tIm: Float64Array;
  private readonly fRe: Float64Array;
  private readonly fIm: Float64Array;
  private readonly opts: CorrelatorOptions;
  private readonly gy: Float64Array;
  private readonly gx: Float64Array;

  constructor(hp: number, wp: number, opts: CorrelatorOptions) {
    this.hp = hp;
    this.wp = wp;
    this.opts = { ...opts };
    this.fft = new RealFft2d(hp, wp);
    this.input = new Float64Array(hp * wp);
    this.surface = new Float64Array(hp * wp);
    ({ re: this.tRe, im: this.tIm } = this.fft.allocSpectrum());
    ({ re: this.fRe, im: this.fIm } = this.fft.allocSpectrum());
    this.gy = spectralGaussian(hp, opts.phaseSigma);
    this.gx = spectralGaussian(wp, opts.phaseSigma);
    this.phasePeakScale = phasePeakScale(hp, wp, opts.phaseSigma);
  }

  setTemplate(): void {
    this.fft.forward(this.input, this.tRe, this.tIm);
  }

  correlate(): void {
    const { fRe, fIm, tRe, tIm } = this;
    this.fft.forward(this.input, fRe, fIm);
    const n = fRe.length;
    for (let i = 0; i < n; i++) {
      const r = fRe[i] * tRe[i] + fIm[i] * tIm[i];
      fIm[i] = fIm[i] * tRe[i] - fRe[i] * tIm[i];
      fRe[i] = r;
    }
    if (this.opts.normalization === 'phase') this.whiten();
    this.fft.inverse(fRe, fIm, this.surface);
  }

  /** R = C / (|C| + ε) · G, ε = 1e-6 · mean |C| over the full spectrum. */
  private whiten(): void {
    const { fRe, fIm, gy, gx, hp, wp } = this;
    const cols = this.fft.cols;
    // Columns whose mirror kx' = wp − kx is not stored count twice in the full spectrum.
    let total = 0;
    for (let y = 0; y < hp; y++) {
      for (let k = 0; k < cols; k++) {
        const i = y * cols + k;
        const mag = Math.hypot(fRe[i], fIm[i]);
        total += k === 0 || 2 * k === wp ? mag : 2 * mag;
      }
    }
    const eps = (1e-6 * total) / (hp * wp);
    for (let y = 0; y < hp; y++) {
      const g = gy[y];
      for (let k = 0; k < cols; k++) {
        const i = y * cols + k;
        const s = (g * gx[k]) / (Math.hypot(fRe[i], fIm[i]) + eps);
        fRe[i] *= s;
        fIm[i] *= s;
      }
    }
  }

  dispose(): void {
    // Nothing native to free.
  }
}
