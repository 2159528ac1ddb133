/**
 * Segmentation: optional Gaussian smoothing → Otsu or Sauvola threshold →
 * connected components → area / border filters → labels 1..N in raster
 * order of each object's first pixel (as skimage.measure.label). See
 * docs/segmentation.md for the exact scikit-image 0.19 equivalents.
 *
 * `Segmenter` owns every buffer for one image size; `segment()` keeps one
 * cached Segmenter per size for convenience.
 */
import { gaussianKernel } from './gaussian.js';
import { type Connectivity, Labeller } from './label.js';
import { RunLabeller, type Runs, runsFromMask } from './runs.js';
import { otsuThreshold, Sauvola } from './threshold.js';
import { WasmBlur } from './wasmBlur.js';
import type { WasmSource } from './wasmInstance.js';

export interface SegmentOptions {
  /** Gaussian σ in pixels (scipy gaussian_filter, mode 'nearest', truncate 4); 0 or absent: none. */
  sigma?: number;
  /** Threshold method (default 'otsu'). Foreground is `value > threshold`. */
  method?: 'otsu' | 'sauvola';
  /** Otsu bins for float data (default 256; integer data without smoothing uses one bin per value). */
  nbins?: number;
  /** Sauvola window (odd, default 15), k (default 0.2), R (default: skimage's half dtype range — 1 for smoothed/float data). */
  window?: number;
  k?: number;
  r?: number;
  /** 1 = 4-connectivity (default), 2 = 8-connectivity. */
  connectivity?: Connectivity;
  /** Keep objects with minArea ≤ area ≤ maxArea (defaults 0 and Infinity). */
  minArea?: number;
  maxArea?: number;
  /** Remove objects with a pixel on the image border (default false). */
  excludeBorder?: boolean;
}

export interface SegmentResult {
  /** Number of objects after filtering (labels 1..count in `labels`). */
  count: number;
  /** The `out` array passed in. */
  labels: Int32Array;
  /** Otsu threshold; NaN for Sauvola (see `Segmenter.thresholdMap`). */
  threshold: number;
  /** Components before the area/border filters. */
  rawCount: number;
}

/**
 * Separable float64 Gaussian with scipy.ndimage's order of operations
 * (axis 0 then axis 1, symmetric taps paired), border mode 'nearest'.
 *
 * Per output pixel the additions are scipy's, in its order: x·w0, then
 * + (x[−j] + x[+j])·w[j] for j = r … 1 (JavaScript never fuses a multiply
 * and an add), so the result is bit-identical to scikit-image's. Only the
 * loop order is free: eight neighbouring outputs are accumulated at once in
 * locals, the taps in the inner loop, instead of one pass over a whole row of
 * accumulators per tap — half the memory traffic, and eight independent
 * chains of additions instead of one.
 *
 * `line` holds ≥ width + 2r values, `offs` ≥ 2r + 2 (both scratch).
 */
export function gaussianBlur64(
  src: ArrayLike<number>,
  width: number,
  height: number,
  kernel: Float64Array,
  out: Float64Array,
  scratch: Float64Array,
  line: Float64Array,
  offs: Int32Array = new Int32Array(kernel.length + 1),
): void {
  const n = width * height;
  // Work on float64 copies only (monomorphic loops): src → out, axis 0 out → scratch, axis 1 scratch → out.
  // Each pass is a function of its own, so that V8 optimises each loop on its own.
  if (src !== out) copyToFloat64(src, out, n);
  blurAxis0(out, width, height, kernel, scratch, offs);
  blurAxis1(scratch, width, height, kernel, out, line, offs);
}

function copyToFloat64(src: ArrayLike<number>, out: Float64Array, n: number): void {
  for (let i = 0; i < n; i++) out[i] = src[i];
}

/** Vertical pass, src → dst: the taps of row y are rows y ± j, clamped ('nearest'). */
function blurAxis0(src: Float64Array, width: number, height: number, kernel: Float64Array, dst: Float64Array, offs: Int32Array): void {
  const r = (kernel.length - 1) >> 1;
  for (let y = 0; y < height; y++) {
    for (let j = 1; j <= r; j++) {
      offs[2 * j] = (Math.max(0, y - j) - y) * width;
      offs[2 * j + 1] = (Math.min(height - 1, y + j) - y) * width;
    }
    convolveLine(src, y * width, dst, y * width, width, kernel, offs);
  }
}

/** Horizontal pass, src → dst, through a padded line buffer (edge values repeated r times on each side). */
function blurAxis1(src: Float64Array, width: number, height: number, kernel: Float64Array, dst: Float64Array, line: Float64Array, offs: Int32Array): void {
  const r = (kernel.length - 1) >> 1;
  for (let j = 1; j <= r; j++) {
    offs[2 * j] = -j;
    offs[2 * j + 1] = j;
  }
  for (let y = 0; y < height; y++) {
    const o = y * width;
    const first = src[o];
    const last = src[o + width - 1];
    for (let i = 0; i < r; i++) {
      line[i] = first;
      line[r + width + i] = last;
    }
    for (let x = 0; x < width; x++) line[r + x] = src[o + x];
    convolveLine(line, r, dst, o, width, kernel, offs);
  }
}

/**
 * dst[d0 + x] = src[s + x]·w0 + Σ_{j=r…1} (src[s + x + offs[2j]] + src[s + x + offs[2j+1]])·w[j]
 * for x < width: scipy's operations per output, eight outputs at a time in locals.
 */
function convolveLine(src: Float64Array, s0: number, dst: Float64Array, d0: number, width: number, kernel: Float64Array, offs: Int32Array): void {
  const r = (kernel.length - 1) >> 1;
  const w0 = kernel[r];
  const x8 = width & ~7;
  let x = 0;
  for (; x < x8; x += 8) {
    const p = s0 + x;
    let a0 = src[p] * w0;
    let a1 = src[p + 1] * w0;
    let a2 = src[p + 2] * w0;
    let a3 = src[p + 3] * w0;
    let a4 = src[p + 4] * w0;
    let a5 = src[p + 5] * w0;
    let a6 = src[p + 6] * w0;
    let a7 = src[p + 7] * w0;
    for (let j = r; j >= 1; j--) {
      const pa = p + offs[2 * j];
      const pb = p + offs[2 * j + 1];
      const wj = kernel[r + j];
      a0 += (src[pa] + src[pb]) * wj;
      a1 += (src[pa + 1] + src[pb + 1]) * wj;
      a2 += (src[pa + 2] + src[pb + 2]) * wj;
      a3 += (src[pa + 3] + src[pb + 3]) * wj;
      a4 += (src[pa + 4] + src[pb + 4]) * wj;
      a5 += (src[pa + 5] + src[pb + 5]) * wj;
      a6 += (src[pa + 6] + src[pb + 6]) * wj;
      a7 += (src[pa + 7] + src[pb + 7]) * wj;
    }
    const q = d0 + x;
    dst[q] = a0;
    dst[q + 1] = a1;
    dst[q + 2] = a2;
    dst[q + 3] = a3;
    dst[q + 4] = a4;
    dst[q + 5] = a5;
    dst[q + 6] = a6;
    dst[q + 7] = a7;
  }
  for (; x < width; x++) {
    const p = s0 + x;
    let a = src[p] * w0;
    for (let j = r; j >= 1; j--) a += (src[p + offs[2 * j]] + src[p + offs[2 * j + 1]]) * kernel[r + j];
    dst[d0 + x] = a;
  }
}

export class Segmenter {
  /** The smoothed image: the reference's buffer, or a view on the WebAssembly blur's memory. */
  private smooth: Float64Array;
  private readonly scratch: Float64Array;
  private line: Float64Array;
  private offs: Int32Array;
  private readonly mask: Uint8Array;
  private readonly labeller: Labeller;
  private readonly runLabeller = new RunLabeller();
  /** The last threshold() left the smoothed image, unmasked, in the WebAssembly instance. */
  private wasmOtsu = false;
  private tmap: Float64Array | null = null;
  private sauvola: Sauvola | null = null;
  private kernel: Float64Array | null = null;
  private kernelSigma = NaN;
  private readonly wasmBlur: WasmBlur | null;
  /** The image with its non-finite pixels filled (segment with fillNonFinite, reference path). */
  private filled: Float64Array | null = null;

  /**
   * `blurKernel`: the compiled `blur` WebAssembly module (src/kernels/wasm/assembly/blur.ts), whose
   * SIMD blur is bit-identical to `gaussianBlur64`; without it the TypeScript blur is used.
   */
  constructor(
    readonly width: number,
    readonly height: number,
    blurKernel?: WasmSource,
  ) {
    this.wasmBlur = blurKernel === undefined ? null : new WasmBlur(blurKernel, width, height);
    const n = width * height;
    // The reference blur's buffers; the WebAssembly blur has its own.
    this.smooth = new Float64Array(this.wasmBlur === null ? n : 0);
    this.scratch = new Float64Array(this.wasmBlur === null ? n : 0);
    this.line = new Float64Array(width + 64);
    this.offs = new Int32Array(64);
    this.mask = new Uint8Array(n);
    this.labeller = new Labeller(width, height);
  }

  /** The last Sauvola threshold map (null before the first Sauvola run). */
  get thresholdMap(): Float64Array | null {
    return this.tmap;
  }

  /** The image that was thresholded in the last run (smoothed, or null if not smoothed). */
  get smoothed(): Float64Array {
    return this.smooth;
  }

  /**
   * Segments `image` into `out`. `fillNonFinite`: NaN and ±Infinity pixels (a
   * registered frame's border) are first replaced by the image's smallest
   * finite value (0 if it has none), so that no object is made of pixels that
   * were never acquired; without it, such pixels are not supported.
   */
  segment(image: ArrayLike<number>, opts: SegmentOptions, out: Int32Array, fillNonFinite = false): SegmentResult {
    const W = this.width;
    const H = this.height;
    const n = W * H;
    if (image.length < n) throw new RangeError(`segment: image has ${image.length} pixels, expected ${W}×${H}`);
    if (out.length < n) throw new RangeError(`segment: out has ${out.length} pixels, expected ${W}×${H}`);
    const threshold = this.threshold(image, opts, fillNonFinite);
    let labelMask: Uint8Array = this.mask;
    const wasm = this.wasmBlur;
    if (this.wasmOtsu && wasm !== null) {
      // The smoothed image is in the WebAssembly instance: mask it there.
      wasm.maskAt(threshold);
      labelMask = wasm.mask;
    }
    const connectivity = opts.connectivity ?? 1;
    const minArea = opts.minArea ?? 0;
    const maxArea = opts.maxArea ?? Infinity;
    const excludeBorder = opts.excludeBorder ?? false;
    if (minArea <= 1 && maxArea >= n && !excludeBorder) {
      const count = this.labeller.label(labelMask, connectivity, out);
      return { count, labels: out, threshold, rawCount: count };
    }
    // Area/border filters and consecutive renumbering (order preserved), in the labelling's passes.
    const count = this.labeller.labelFiltered(labelMask, connectivity, out, minArea, maxArea, excludeBorder);
    return { count, labels: out, threshold, rawCount: this.labeller.rawCount };
  }

  /**
   * `segment`, with the objects as runs (`out`, labels 1…count; see
   * src/kernels/runs.ts) instead of a label image: the same objects, numbered
   * the same (`paintRuns` gives segment's label image). No pass over the
   * pixels after the threshold but the one that finds the runs.
   */
  segmentRuns(image: ArrayLike<number>, opts: SegmentOptions, out: Runs, fillNonFinite = false): Omit<SegmentResult, 'labels'> {
    if (out.width !== this.width || out.height !== this.height) {
      throw new RangeError(`segmentRuns: runs are ${out.width}×${out.height}, expected ${this.width}×${this.height}`);
    }
    const threshold = this.threshold(image, opts, fillNonFinite);
    const wasm = this.wasmBlur;
    if (this.wasmOtsu && wasm !== null) wasm.runs(threshold, out);
    else runsFromMask(this.mask, out);
    const count = this.runLabeller.label(out, opts.connectivity ?? 1, opts.minArea ?? 0, opts.maxArea ?? Infinity, opts.excludeBorder ?? false);
    return { count, threshold, rawCount: this.runLabeller.rawCount };
  }

  /**
   * Smoothing and threshold, shared by segment and segmentRuns: returns Otsu's
   * threshold (NaN for Sauvola). Sets wasmOtsu when the smoothed image is in the
   * WebAssembly instance and not masked yet; else `mask` holds the foreground.
   */
  private threshold(image: ArrayLike<number>, opts: SegmentOptions, fillNonFinite: boolean): number {
    const W = this.width;
    const H = this.height;
    const n = W * H;
    if (image.length < n) throw new RangeError(`segment: image has ${image.length} pixels, expected ${W}×${H}`);
    const sigma = opts.sigma ?? 0;
    if (!(sigma >= 0)) throw new RangeError(`segment: sigma must be ≥ 0, got ${sigma}`);
    this.wasmOtsu = false;
    let img: ArrayLike<number> = image;
    if (fillNonFinite && (sigma === 0 || this.wasmBlur === null)) {
      if (this.filled === null) this.filled = new Float64Array(n);
      fillDarkest(image, this.filled);
      img = this.filled;
    }
    if (sigma > 0) {
      if (this.kernelSigma !== sigma) {
        this.kernel = gaussianKernel(sigma);
        this.kernelSigma = sigma;
      }
      const k = this.kernel as Float64Array;
      if (this.wasmBlur !== null) {
        this.smooth = this.wasmBlur.blur(image, k, fillNonFinite);
      } else {
        const r = (k.length - 1) >> 1;
        if (this.line.length < W + 2 * r) this.line = new Float64Array(W + 2 * r);
        if (this.offs.length < 2 * r + 2) this.offs = new Int32Array(2 * r + 2);
        gaussianBlur64(img, W, H, k, this.smooth, this.scratch, this.line, this.offs);
      }
      img = this.smooth;
    }
    const mask = this.mask;
    const method = opts.method ?? 'otsu';
    if (method === 'otsu' && sigma > 0 && this.wasmBlur !== null) {
      this.wasmOtsu = true;
      return this.wasmBlur.otsuThreshold(opts.nbins ?? 256);
    }
    if (method === 'otsu') {
      const threshold = otsuThreshold(img, opts.nbins ?? 256, n);
      thresholdMask(img, threshold, mask);
      return threshold;
    }
    if (method === 'sauvola') {
      const w = opts.window ?? 15;
      if (!this.sauvola || this.sauvola.window !== w) this.sauvola = new Sauvola(W, H, w);
      if (!this.tmap) this.tmap = new Float64Array(n);
      const t = this.tmap;
      this.sauvola.apply(img, opts.k ?? 0.2, opts.r, t);
      for (let i = 0; i < n; i++) mask[i] = img[i] > t[i] ? 1 : 0;
      return NaN;
    }
    throw new RangeError(`segment: unknown method ${String(method)}`);
  }
}

/** out = image with NaN and ±Infinity replaced by its smallest finite value (0 when there is none). */
export function fillDarkest(image: ArrayLike<number>, out: Float64Array): void {
  const n = out.length;
  let lo = Infinity;
  for (let i = 0; i < n; i++) {
    const v = image[i];
    if (v - v === 0 && v < lo) lo = v;
  }
  if (lo === Infinity) lo = 0;
  for (let i = 0; i < n; i++) {
    const v = image[i];
    out[i] = v - v === 0 ? v : lo;
  }
}

/** mask = image > threshold (a function of its own, so that its loop is optimised for the image's type). */
function thresholdMask(img: ArrayLike<number>, threshold: number, mask: Uint8Array): void {
  const n = mask.length;
  for (let i = 0; i < n; i++) mask[i] = img[i] > threshold ? 1 : 0;
}

let cached: Segmenter | null = null;

/**
 * Segments `image` (width×height, any numeric typed array) into `out`
 * (Int32Array labels, 0 = background, 1..count in raster order).
 */
export function segment(image: ArrayLike<number>, width: number, height: number, opts: SegmentOptions, out: Int32Array): SegmentResult {
  if (!cached || cached.width !== width || cached.height !== height) cached = new Segmenter(width, height);
  return cached.segment(image, opts, out);
}
