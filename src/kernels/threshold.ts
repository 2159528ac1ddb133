/**
 * Global and local thresholds, matching scikit-image 0.19 (docs/segmentation.md):
 *
 * - `otsuThreshold`: `skimage.filters.threshold_otsu(image, nbins)`. Integer
 *   typed arrays use one bin per integer value between min and max (skimage's
 *   bincount path; `nbins` is ignored); float arrays use `nbins` equal bins
 *   over [min, max] exactly as `np.histogram` assigns them, and the threshold
 *   is a bin centre. Foreground is `image > threshold`.
 * - `Sauvola`: `skimage.filters.threshold_sauvola(image, window_size, k, r)`,
 *   local mean and standard deviation from float64 integral images of the
 *   image padded with numpy's `mode='reflect'` (w//2 + 1 before, w//2 after),
 *   so the cost per pixel does not depend on the window.
 *
 * All arithmetic is float64 and follows skimage's order of operations, so the
 * results agree to the last bit or nearly (float32 input: see the docs).
 */

export type PixelArray =
  | Uint8Array
  | Uint8ClampedArray
  | Uint16Array
  | Uint32Array
  | Int8Array
  | Int16Array
  | Int32Array
  | Float32Array
  | Float64Array;

/** True for typed arrays that skimage would see as an integer dtype. */
export function isIntegerArray(a: ArrayLike<number>): boolean {
  return (
    a instanceof Uint8Array ||
    a instanceof Uint8ClampedArray ||
    a instanceof Uint16Array ||
    a instanceof Uint32Array ||
    a instanceof Int8Array ||
    a instanceof Int16Array ||
    a instanceof Int32Array
  );
}

/** skimage's default Sauvola R: half the dtype range (`dtype_limits`); float → 1. */
export function defaultSauvolaR(a: ArrayLike<number>): number {
  if (a instanceof Uint8Array || a instanceof Uint8ClampedArray) return 127.5;
  if (a instanceof Int8Array) return 127.5;
  if (a instanceof Uint16Array || a instanceof Int16Array) return 32767.5;
  if (a instanceof Uint32Array || a instanceof Int32Array) return 2147483647.5;
  return 1;
}

/** Largest integer range (max − min + 1) histogrammed with one bin per value. */
const MAX_INTEGER_BINS = 1 << 24;

// Scratch reused across calls (grown on demand): counts, centres, cumulative sums.
let sCounts = new Float64Array(256);
let sCentres = new Float64Array(256);
let sW2 = new Float64Array(256);
let sM2 = new Float64Array(256);
let sIntCounts = new Int32Array(256);

function ensureScratch(bins: number): void {
  if (sCounts.length < bins) {
    sCounts = new Float64Array(bins);
    sCentres = new Float64Array(bins);
    sW2 = new Float64Array(bins);
    sM2 = new Float64Array(bins);
  }
}

/**
 * Otsu's threshold of the first `n` pixels of `image` (default: all), as
 * `skimage.filters.threshold_otsu(image, nbins)` in scikit-image 0.19.
 * A constant image returns its value. NaN pixels are not supported.
 */
export function otsuThreshold(image: ArrayLike<number>, nbins = 256, n = image.length): number {
  if (n <= 0) throw new RangeError('otsuThreshold: empty image');
  minMax(image, n);
  const min = sMinMax[0];
  const max = sMinMax[1];
  if (min === max) return image[0];
  let bins: number;
  if (isIntegerArray(image)) {
    bins = max - min + 1;
    if (bins > MAX_INTEGER_BINS) throw new RangeError(`otsuThreshold: integer range ${bins} too large`);
    ensureScratch(bins);
    const counts = sCounts;
    counts.fill(0, 0, bins);
    for (let i = 0; i < n; i++) counts[image[i] - min]++;
    for (let b = 0; b < bins; b++) sCentres[b] = min + b;
  } else {
    bins = checkBins(nbins);
    ensureScratch(bins + 1);
    histogramUniform(image, n, min, max, bins, sCounts, sCentres);
  }
  return otsuFromHistogram(sCounts, sCentres, bins);
}

/** otsuThreshold's nbins for float data, checked. */
export function checkBins(nbins: number): number {
  if (!(nbins >= 1) || !Number.isInteger(nbins)) throw new RangeError(`otsuThreshold: nbins must be a positive integer, got ${nbins}`);
  return nbins;
}

/** np.linspace(first, last, bins + 1), the histogram's edges: edge[i] = i·step + first, edge[bins] = last. */
export function histogramEdges(first: number, last: number, bins: number, edges: Float64Array): void {
  const step = (last - first) / bins;
  for (let i = 0; i <= bins; i++) edges[i] = i * step + first;
  edges[bins] = last;
}

/**
 * Otsu's threshold from the counts of a float image's histogram over
 * `edges` (histogramEdges; the counts made as histogramUniform makes them,
 * e.g. by the WebAssembly blur's `histogram`): the last step of otsuThreshold.
 */
export function otsuFromCounts(counts: ArrayLike<number>, edges: Float64Array, bins: number): number {
  ensureScratch(bins + 1);
  for (let i = 0; i < bins; i++) {
    sCounts[i] = counts[i];
    sCentres[i] = (edges[i] + edges[i + 1]) / 2;
  }
  return otsuFromHistogram(sCounts, sCentres, bins);
}

const sMinMax = new Float64Array(2);

/**
 * The extremes of the first n pixels into sMinMax. A function of its own: inlined in
 * otsuThreshold, whose other paths use min and max as integers, V8 kept them boxed (a heap
 * number per new extreme), several times slower.
 */
function minMax(image: ArrayLike<number>, n: number): void {
  let min = image[0];
  let max = image[0];
  for (let i = 1; i < n; i++) {
    const v = image[i];
    if (v < min) min = v;
    else if (v > max) max = v;
  }
  sMinMax[0] = min;
  sMinMax[1] = max;
}

/**
 * `np.histogram(a, bins, range=(min, max))` (numpy 1.24, float64) and the
 * centres `(edge[i] + edge[i+1]) / 2`, edges from `np.linspace`.
 */
function histogramUniform(
  image: ArrayLike<number>,
  n: number,
  first: number,
  last: number,
  bins: number,
  counts: Float64Array,
  centres: Float64Array,
): void {
  const edges = sM2; // borrow (length ≥ bins + 1)
  histogramEdges(first, last, bins, edges);
  const norm = bins / (last - first);
  // Integer counts (exact, and cheaper to increment than float64 ones); 0 ≤ (v − first)·norm ≤ bins,
  // so `| 0` truncates as np.histogram's floor does.
  if (sIntCounts.length < bins) sIntCounts = new Int32Array(bins);
  const c = sIntCounts;
  c.fill(0, 0, bins);
  const lastBin = bins - 1;
  for (let i = 0; i < n; i++) {
    const v = image[i];
    let k = ((v - first) * norm) | 0;
    if (k === bins) k--;
    if (v < edges[k]) k--;
    else if (k !== lastBin && v >= edges[k + 1]) k++;
    c[k]++;
  }
  for (let i = 0; i < bins; i++) counts[i] = c[i];
  for (let i = 0; i < bins; i++) centres[i] = (edges[i] + edges[i + 1]) / 2;
}

function otsuFromHistogram(counts: Float64Array, centres: Float64Array, bins: number): number {
  // weight2[i] = Σ_{j ≥ i} counts[j]; mean2 likewise (reverse cumulative sums, as numpy).
  const w2 = sW2;
  const m2 = sM2;
  let accW = 0;
  let accM = 0;
  for (let i = bins - 1; i >= 0; i--) {
    accW += counts[i];
    accM += counts[i] * centres[i];
    w2[i] = accW;
    m2[i] = accM / accW;
  }
  let w1 = 0;
  let c1 = 0;
  let best = -Infinity;
  let bestIdx = 0;
  for (let i = 0; i < bins - 1; i++) {
    w1 += counts[i];
    c1 += counts[i] * centres[i];
    const d = c1 / w1 - m2[i + 1];
    const v = w1 * w2[i + 1] * (d * d);
    // np.argmax: first maximum; NaN (0/0 in an empty class) wins as numpy does.
    if (v > best || (Number.isNaN(v) && !Number.isNaN(best))) {
      best = v;
      bestIdx = i;
      if (Number.isNaN(v)) break;
    }
  }
  return centres[bestIdx];
}

/**
 * Sauvola's local threshold T = m·(1 + k·(s/R − 1)) for a fixed image size
 * and window; buffers are allocated once. Cost per pixel is independent of w.
 */
export class Sauvola {
  readonly pw: number;
  readonly ph: number;
  private readonly padded: Float64Array;
  private readonly integral: Float64Array;
  private readonly integralSq: Float64Array;
  private readonly colSum: Float64Array;
  private readonly colSumSq: Float64Array;
  private readonly xmap: Int32Array;
  private readonly ymap: Int32Array;

  constructor(
    readonly width: number,
    readonly height: number,
    readonly window: number,
  ) {
    if (!Number.isInteger(window) || window < 1 || window % 2 === 0) {
      throw new RangeError(`Sauvola window must be an odd integer ≥ 1, got ${window}`);
    }
    const before = (window >> 1) + 1;
    this.pw = width + window;
    this.ph = height + window;
    this.padded = new Float64Array(this.pw);
    this.integral = new Float64Array(this.pw * this.ph);
    this.integralSq = new Float64Array(this.pw * this.ph);
    this.colSum = new Float64Array(this.pw);
    this.colSumSq = new Float64Array(this.pw);
    this.xmap = new Int32Array(this.pw);
    this.ymap = new Int32Array(this.ph);
    for (let i = 0; i < this.pw; i++) this.xmap[i] = reflectIndex(i - before, width);
    for (let i = 0; i < this.ph; i++) this.ymap[i] = reflectIndex(i - before, height);
  }

  /**
   * Writes the threshold map into `out` (width·height). `r` defaults to
   * skimage's half dtype range of `image` (`defaultSauvolaR`). Optionally
   * writes the local mean and standard deviation.
   */
  apply(image: ArrayLike<number>, k: number, r: number | undefined, out: Float64Array | Float32Array, mean?: Float64Array, std?: Float64Array): void {
    const { width: W, height: H, window: w, pw, ph } = this;
    const R = r ?? defaultSauvolaR(image);
    const I = this.integral;
    const I2 = this.integralSq;
    const col = this.colSum;
    const col2 = this.colSumSq;
    const row = this.padded;
    const xmap = this.xmap;
    col.fill(0);
    col2.fill(0);
    // integral_image: cumsum along axis 0, then along axis 1 (same order of additions).
    for (let y = 0; y < ph; y++) {
      const src = this.ymap[y] * W;
      for (let x = 0; x < pw; x++) row[x] = image[src + xmap[x]];
      let acc = 0;
      let acc2 = 0;
      const o = y * pw;
      for (let x = 0; x < pw; x++) {
        const v = row[x];
        col[x] += v;
        col2[x] += v * v;
        acc += col[x];
        acc2 += col2[x];
        I[o + x] = acc;
        I2[o + x] = acc2;
      }
    }
    const area = w * w;
    const dw = w * pw;
    for (let y = 0; y < H; y++) {
      const o = y * pw;
      const oo = y * W;
      for (let x = 0; x < W; x++) {
        const a = o + x;
        const m = (I[a] - I[a + w] - I[a + dw] + I[a + dw + w]) / area;
        const g2 = (I2[a] - I2[a + w] - I2[a + dw] + I2[a + dw + w]) / area;
        const vv = g2 - m * m;
        const s = Math.sqrt(vv > 0 ? vv : 0);
        out[oo + x] = m * (1 + k * (s / R - 1));
        if (mean) mean[oo + x] = m;
        if (std) std[oo + x] = s;
      }
    }
  }
}

/** numpy `mode='reflect'` (mirror without repeating the edge), any distance. */
export function reflectIndex(i: number, n: number): number {
  if (n === 1) return 0;
  const p = 2 * (n - 1);
  i = ((i % p) + p) % p;
  return i >= n ? p - i : i;
}

/** One-shot Sauvola threshold map (allocates; use `Sauvola` in loops). */
export function sauvolaThreshold(
  image: ArrayLike<number>,
  width: number,
  height: number,
  window = 15,
  k = 0.2,
  r?: number,
  out: Float64Array = new Float64Array(width * height),
): Float64Array {
  new Sauvola(width, height, window).apply(image, k, r, out);
  return out;
}
