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
import { otsuThreshold, Sauvola } from './threshold.js';

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
 */
export function gaussianBlur64(
  src: ArrayLike<number>,
  width: number,
  height: number,
  kernel: Float64Array,
  out: Float64Array,
  scratch: Float64Array,
  line: Float64Array,
): void {
  const r = (kernel.length - 1) >> 1;
  const w0 = kernel[r];
  const n = width * height;
  // Work on float64 copies only (monomorphic loops): src → out, axis 0 out → scratch, axis 1 scratch → out.
  if (src !== out) for (let i = 0; i < n; i++) out[i] = src[i];
  // Axis 0 (vertical), one output row at a time; per pixel the same order as scipy:
  // x·w0, then + (x[−j] + x[+j])·w[j] for j = r … 1.
  for (let y = 0; y < height; y++) {
    const o = y * width;
    for (let x = 0; x < width; x++) scratch[o + x] = out[o + x] * w0;
    for (let j = r; j >= 1; j--) {
      const a = Math.max(0, y - j) * width;
      const b = Math.min(height - 1, y + j) * width;
      const wj = kernel[r + j];
      for (let x = 0; x < width; x++) scratch[o + x] += (out[a + x] + out[b + x]) * wj;
    }
  }
  // Axis 1 (horizontal), through a padded line buffer (length ≥ width + 2r), same order.
  for (let y = 0; y < height; y++) {
    const o = y * width;
    const first = scratch[o];
    const last = scratch[o + width - 1];
    for (let i = 0; i < r; i++) {
      line[i] = first;
      line[r + width + i] = last;
    }
    for (let x = 0; x < width; x++) line[r + x] = scratch[o + x];
    for (let x = 0; x < width; x++) out[o + x] = line[r + x] * w0;
    for (let j = r; j >= 1; j--) {
      const wj = kernel[r + j];
      const a = r - j;
      const b = r + j;
      for (let x = 0; x < width; x++) out[o + x] += (line[a + x] + line[b + x]) * wj;
    }
  }
}

export class Segmenter {
  private readonly smooth: Float64Array;
  private readonly scratch: Float64Array;
  private line: Float64Array;
  private readonly mask: Uint8Array;
  private readonly labeller: Labeller;
  private areas: Int32Array;
  private remap: Int32Array;
  private tmap: Float64Array | null = null;
  private sauvola: Sauvola | null = null;
  private kernel: Float64Array | null = null;
  private kernelSigma = NaN;

  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    const n = width * height;
    this.smooth = new Float64Array(n);
    this.scratch = new Float64Array(n);
    this.line = new Float64Array(width + 64);
    this.mask = new Uint8Array(n);
    this.labeller = new Labeller(width, height);
    this.areas = new Int32Array(1024);
    this.remap = new Int32Array(1024);
  }

  /** The last Sauvola threshold map (null before the first Sauvola run). */
  get thresholdMap(): Float64Array | null {
    return this.tmap;
  }

  /** The image that was thresholded in the last run (smoothed, or null if not smoothed). */
  get smoothed(): Float64Array {
    return this.smooth;
  }

  segment(image: ArrayLike<number>, opts: SegmentOptions, out: Int32Array): SegmentResult {
    const W = this.width;
    const H = this.height;
    const n = W * H;
    if (image.length < n) throw new RangeError(`segment: image has ${image.length} pixels, expected ${W}×${H}`);
    if (out.length < n) throw new RangeError(`segment: out has ${out.length} pixels, expected ${W}×${H}`);
    const sigma = opts.sigma ?? 0;
    if (!(sigma >= 0)) throw new RangeError(`segment: sigma must be ≥ 0, got ${sigma}`);
    let img: ArrayLike<number> = image;
    if (sigma > 0) {
      if (this.kernelSigma !== sigma) {
        this.kernel = gaussianKernel(sigma);
        this.kernelSigma = sigma;
      }
      const k = this.kernel as Float64Array;
      const r = (k.length - 1) >> 1;
      if (this.line.length < W + 2 * r) this.line = new Float64Array(W + 2 * r);
      gaussianBlur64(image, W, H, k, this.smooth, this.scratch, this.line);
      img = this.smooth;
    }
    const mask = this.mask;
    let threshold = NaN;
    const method = opts.method ?? 'otsu';
    if (method === 'otsu') {
      threshold = otsuThreshold(img, opts.nbins ?? 256, n);
      for (let i = 0; i < n; i++) mask[i] = img[i] > threshold ? 1 : 0;
    } else if (method === 'sauvola') {
      const w = opts.window ?? 15;
      if (!this.sauvola || this.sauvola.window !== w) this.sauvola = new Sauvola(W, H, w);
      if (!this.tmap) this.tmap = new Float64Array(n);
      const t = this.tmap;
      this.sauvola.apply(img, opts.k ?? 0.2, opts.r, t);
      for (let i = 0; i < n; i++) mask[i] = img[i] > t[i] ? 1 : 0;
    } else {
      throw new RangeError(`segment: unknown method ${String(method)}`);
    }
    const rawCount = this.labeller.label(mask, opts.connectivity ?? 1, out);
    const count = this.filter(out, rawCount, opts.minArea ?? 0, opts.maxArea ?? Infinity, opts.excludeBorder ?? false);
    return { count, labels: out, threshold, rawCount };
  }

  /** Area/border filters and consecutive renumbering (order preserved). */
  private filter(labels: Int32Array, count: number, minArea: number, maxArea: number, excludeBorder: boolean): number {
    if (count === 0) return 0;
    if (minArea <= 1 && maxArea >= this.width * this.height && !excludeBorder) return count;
    const W = this.width;
    const H = this.height;
    const n = W * H;
    if (this.areas.length < count + 1) {
      this.areas = new Int32Array(count + 1);
      this.remap = new Int32Array(count + 1);
    }
    const areas = this.areas;
    const remap = this.remap;
    areas.fill(0, 0, count + 1);
    for (let i = 0; i < n; i++) areas[labels[i]]++;
    remap.fill(0, 0, count + 1);
    if (excludeBorder) {
      // remap[l] = −1 marks a border object.
      const last = (H - 1) * W;
      for (let x = 0; x < W; x++) {
        remap[labels[x]] = -1;
        remap[labels[last + x]] = -1;
      }
      for (let y = 0; y < H; y++) {
        remap[labels[y * W]] = -1;
        remap[labels[y * W + W - 1]] = -1;
      }
    }
    let kept = 0;
    for (let l = 1; l <= count; l++) {
      const a = areas[l];
      remap[l] = remap[l] === -1 || a < minArea || a > maxArea ? 0 : ++kept;
    }
    remap[0] = 0;
    if (kept === count) return count;
    for (let i = 0; i < n; i++) labels[i] = remap[labels[i]];
    return kept;
  }
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
