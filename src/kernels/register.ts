import type { PixelArray } from '../ingest/frame.js';
import { type Correlator, type Normalization, fastSize } from './correlator.js';

/** Sections 2–5 of docs/registration.md. */
export type WindowKind = 'hann' | 'tukey' | 'none';

export interface RegistrationParams {
  window: WindowKind;
  /** Fraction of each axis tapered by the Tukey window (0..1]. */
  windowFraction: number;
  normalization: Normalization;
  phaseSigma: number;
  /** Largest |shift| searched, in pixels; null: 10 % of the smaller side. */
  maxShift: number | null;
  /** Divide the three refinement samples by the window's autocorrelation (removes the pull toward 0). */
  windowCorrection: boolean;
  /** Quality gate; null: the default of the normalization (see `qualityGate`). */
  minPeak: number | null;
  minQuality: number | null;
}

export const defaultRegistrationParams: RegistrationParams = {
  window: 'tukey',
  windowFraction: 0.25,
  normalization: 'none',
  phaseSigma: 1,
  maxShift: null,
  windowCorrection: true,
  minPeak: null,
  minQuality: null,
};

/** One frame's measurement against the template, before any hold of the last good shift. */
export interface ShiftEstimate {
  dy: number;
  dx: number;
  /** Integer peak, signed. */
  iy: number;
  ix: number;
  /** Normalised peak value (null: undefined, e.g. a constant frame). */
  peak: number | null;
  /** Peak-to-sidelobe ratio (null: undefined). */
  quality: number | null;
  /** Passed the quality check. */
  ok: boolean;
}

export function newShiftEstimate(): ShiftEstimate {
  return { dy: 0, dx: 0, iy: 0, ix: 0, peak: null, quality: null, ok: false };
}

/** The per-axis apodising profile of length n (padded: the axis will be zero-padded). */
export function windowProfile(n: number, kind: WindowKind, fraction: number, padded: boolean): Float64Array {
  const w = new Float64Array(n).fill(1);
  let r = 0;
  if (kind === 'hann') {
    for (let i = 0; i < n; i++) w[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * (i + 0.5)) / n);
    return w;
  }
  if (kind === 'tukey') r = Math.max(1, Math.round((fraction * n) / 2));
  else if (padded) r = Math.min(8, Math.floor(n / 4));
  r = Math.min(r, n >> 1);
  for (let i = 0; i < r; i++) {
    const v = 0.5 - 0.5 * Math.cos((Math.PI * (i + 0.5)) / r);
    w[i] = v;
    w[n - 1 - i] = v;
  }
  return w;
}

/**
 * The quality gate's defaults, measured on the test movies: with plain
 * correlation the normalised peak is 0.4–0.99 on good frames and below 0.03
 * for unrelated noise, while the peak-to-sidelobe ratio of smooth images is
 * 2–3 even for perfect matches (it cannot tell good from bad there); with
 * phase normalization the peak is lower (0.12 on the low-SNR movie, 0.5 at
 * moderate noise, 0.03 for noise) and the ratio very telling (≥ 21 vs ≤ 4.5).
 */
export function qualityGate(p: RegistrationParams): { minPeak: number; minQuality: number } {
  const phase = p.normalization === 'phase';
  return { minPeak: p.minPeak ?? (phase ? 0.06 : 0.1), minQuality: p.minQuality ?? (phase ? 8 : 0) };
}

export function defaultMaxShift(width: number, height: number): number {
  return Math.floor(0.1 * Math.min(width, height));
}

const EXCLUDE_RADIUS = 2;
const MIN_SIDELOBE_SAMPLES = 16;

/**
 * Registers float images of one size against a template, through a
 * `Correlator` (TypeScript or WebAssembly). Holds no per-frame state: the
 * last-good-shift hold belongs to the caller.
 */
export class Registrar {
  readonly width: number;
  readonly height: number;
  readonly maxShift: number;
  readonly params: RegistrationParams;
  private readonly corr: Correlator;
  private readonly wy: Float64Array;
  private readonly wx: Float64Array;
  /** Window autocorrelation per axis at lags −(M+1)…M+1, index lag + M + 1 (all 1 when off). */
  private readonly ay: Float64Array;
  private readonly ax: Float64Array;
  private readonly gate: { minPeak: number; minQuality: number };
  /** Surface offsets of the search window's rows and columns (lag −M…M), so no modulo per sample. */
  private readonly rowOffset: Int32Array;
  private readonly colIndex: Int32Array;
  private templateEnergy = 0;
  private hasTemplate = false;

  constructor(width: number, height: number, params: RegistrationParams, corr: Correlator) {
    if (corr.hp !== fastSize(height) || corr.wp !== fastSize(width)) {
      throw new RangeError(`correlator is ${corr.hp}×${corr.wp}, expected ${fastSize(height)}×${fastSize(width)}`);
    }
    this.width = width;
    this.height = height;
    this.params = params;
    this.corr = corr;
    this.wy = windowProfile(height, params.window, params.windowFraction, corr.hp > height);
    this.wx = windowProfile(width, params.window, params.windowFraction, corr.wp > width);
    const cap = Math.min(corr.hp >> 1, corr.wp >> 1) - 1;
    this.maxShift = Math.max(0, Math.min(params.maxShift ?? defaultMaxShift(width, height), cap));
    this.gate = qualityGate(params);
    // Peak search, refinement and sidelobes read lags up to maxShift + 1 only.
    corr.limitSurface?.(this.maxShift + 1, this.maxShift + 1);
    const m = this.maxShift;
    this.rowOffset = Int32Array.from({ length: 2 * m + 1 }, (_, i) => ((i - m + corr.hp) % corr.hp) * corr.wp);
    this.colIndex = Int32Array.from({ length: 2 * m + 1 }, (_, j) => (j - m + corr.wp) % corr.wp);
    this.ay = windowAutocorrelation(this.wy, corr.hp, this.maxShift + 1, params.windowCorrection);
    this.ax = windowAutocorrelation(this.wx, corr.wp, this.maxShift + 1, params.windowCorrection);
  }

  /** Padded sizes needed for a width×height image. */
  static paddedSize(width: number, height: number): { hp: number; wp: number } {
    return { hp: fastSize(height), wp: fastSize(width) };
  }

  setTemplate(img: ArrayLike<number>): void {
    this.templateEnergy = this.prepare(img);
    this.corr.setTemplate();
    this.hasTemplate = true;
  }

  register(img: ArrayLike<number>, out: ShiftEstimate = newShiftEstimate()): ShiftEstimate {
    if (!this.hasTemplate) throw new Error('Registrar.register called before setTemplate');
    const energy = this.prepare(img);
    const corr = this.corr;
    corr.correlate();
    const c = corr.surface;
    const { hp, wp } = corr;
    const m = this.maxShift;

    const { rowOffset, colIndex } = this;
    const span = 2 * m + 1;
    let best = -Infinity;
    let iy = 0;
    let ix = 0;
    for (let i = 0; i < span; i++) {
      const row = rowOffset[i];
      for (let j = 0; j < span; j++) {
        const v = c[row + colIndex[j]];
        if (v > best) {
          best = v;
          iy = i - m;
          ix = j - m;
        }
      }
    }
    const yr = (iy + hp) % hp;
    const xr = (ix + wp) % wp;
    const c0 = c[yr * wp + xr];
    // Refinement on c / (A_y · A_x): the window's autocorrelation A falls off with the lag and
    // would otherwise bias every estimate toward 0 (the PIV window-bias correction).
    const { ay, ax } = this;
    const oy = iy + m + 1;
    const ox = ix + m + 1;
    const n0 = c0 / (ay[oy] * ax[ox]);
    const dy =
      iy +
      parabolicOffset(c[((yr - 1 + hp) % hp) * wp + xr] / (ay[oy - 1] * ax[ox]), n0, c[((yr + 1) % hp) * wp + xr] / (ay[oy + 1] * ax[ox]));
    const dx =
      ix +
      parabolicOffset(c[yr * wp + ((xr - 1 + wp) % wp)] / (ay[oy] * ax[ox - 1]), n0, c[yr * wp + ((xr + 1) % wp)] / (ay[oy] * ax[ox + 1]));

    let peak: number | null;
    if (this.params.normalization === 'phase') peak = c0 / corr.phasePeakScale;
    else peak = energy > 0 && this.templateEnergy > 0 ? c0 / Math.sqrt(energy * this.templateEnergy) : null;
    if (peak !== null && !Number.isFinite(peak)) peak = null;
    const quality = this.sidelobeRatio(c, iy, ix, c0);

    out.dy = dy;
    out.dx = dx;
    out.iy = iy;
    out.ix = ix;
    out.peak = peak;
    out.quality = quality;
    out.ok =
      peak !== null &&
      peak >= this.gate.minPeak &&
      (this.gate.minQuality <= 0 || (quality !== null && quality >= this.gate.minQuality)) &&
      Math.abs(iy) < m &&
      Math.abs(ix) < m;
    return out;
  }

  /** Mean-subtract, apodise and zero-pad `img` into the correlator's input; returns Σ g². */
  private prepare(img: ArrayLike<number>): number {
    const { width: w, height: h, wy, wx } = this;
    if (this.corr.prepare && isPixelArray(img)) return this.corr.prepare(img, w, h, wy, wx);
    const input = this.corr.input;
    const wp = this.corr.wp;
    const n = w * h;
    let sum = 0;
    let finite = 0;
    for (let i = 0; i < n; i++) {
      const v = img[i];
      if (Number.isFinite(v)) {
        sum += v;
        finite++;
      }
    }
    const mean = finite > 0 ? sum / finite : 0;
    let energy = 0;
    for (let y = 0; y < h; y++) {
      const wyv = wy[y];
      const src = y * w;
      const dst = y * wp;
      for (let x = 0; x < w; x++) {
        const v = img[src + x];
        const g = Number.isFinite(v) ? (v - mean) * wyv * wx[x] : 0;
        input[dst + x] = g;
        energy += g * g;
      }
      if (wp > w) input.fill(0, dst + w, dst + wp);
    }
    if (this.corr.hp > h) input.fill(0, h * wp);
    return energy;
  }

  /** (c₀ − μ)/σ over the search window less the 5 × 5 square around the peak. */
  private sidelobeRatio(c: ArrayLike<number>, iy: number, ix: number, c0: number): number | null {
    const m = this.maxShift;
    const { rowOffset, colIndex } = this;
    const span = 2 * m + 1;
    // Excluded columns [ex0, ex1] and rows [ey0, ey1], as window indices.
    const ex0 = Math.max(0, ix + m - EXCLUDE_RADIUS);
    const ex1 = Math.min(span - 1, ix + m + EXCLUDE_RADIUS);
    const ey0 = Math.max(0, iy + m - EXCLUDE_RADIUS);
    const ey1 = Math.min(span - 1, iy + m + EXCLUDE_RADIUS);
    const n = span * span - (ex1 - ex0 + 1) * (ey1 - ey0 + 1);
    if (n < MIN_SIDELOBE_SAMPLES) return null;
    let sum = 0;
    for (let i = 0; i < span; i++) {
      const row = rowOffset[i];
      const skip = i >= ey0 && i <= ey1;
      for (let j = 0; j < span; j++) if (!skip || j < ex0 || j > ex1) sum += c[row + colIndex[j]];
    }
    const mean = sum / n;
    let acc = 0;
    for (let i = 0; i < span; i++) {
      const row = rowOffset[i];
      const skip = i >= ey0 && i <= ey1;
      for (let j = 0; j < span; j++) {
        if (skip && j >= ex0 && j <= ex1) continue;
        const d = c[row + colIndex[j]] - mean;
        acc += d * d;
      }
    }
    const sd = Math.sqrt(acc / n);
    if (!(sd > 0)) return null;
    const psr = (c0 - mean) / sd;
    return Number.isFinite(psr) ? psr : null;
  }
}

/**
 * A(s) = Σ_i w(i) · w((i − s) mod np) for lags |s| ≤ r, with w zero in the
 * padding, normalised to A(0) = 1; all ones when the correction is off.
 */
export function windowAutocorrelation(w: Float64Array, np: number, r: number, on: boolean): Float64Array {
  const a = new Float64Array(2 * r + 1).fill(1);
  if (!on) return a;
  const n = w.length;
  let a0 = 0;
  for (let i = 0; i < n; i++) a0 += w[i] * w[i];
  for (let s = -r; s <= r; s++) {
    let acc = 0;
    for (let i = 0; i < n; i++) {
      const j = (((i - s) % np) + np) % np;
      if (j < n) acc += w[i] * w[j];
    }
    a[s + r] = acc / a0;
  }
  return a;
}

function isPixelArray(a: ArrayLike<number>): a is PixelArray {
  return a instanceof Uint16Array || a instanceof Float32Array || a instanceof Uint8Array;
}

/** δ = ½(c₋ − c₊)/(c₋ − 2c₀ + c₊), 0 where the denominator is 0. */
export function parabolicOffset(cm: number, c0: number, cp: number): number {
  const den = cm - 2 * c0 + cp;
  if (den === 0 || !Number.isFinite(den)) return 0;
  const d = (0.5 * (cm - cp)) / den;
  return Number.isFinite(d) ? d : 0;
}
