import { checkBins, histogramEdges, otsuFromCounts } from './threshold.js';
import { type WasmSource, instantiate } from './wasmInstance.js';

interface BlurExports {
  readonly memory: { readonly buffer: ArrayBuffer };
  init(w: number, h: number, r: number): number;
  histogramLayout(bins: number): number;
  imagePtr(): number;
  tapsPtr(): number;
  maskPtr(): number;
  countsPtr(): number;
  edgesPtr(): number;
  blur(): void;
  minMax(): void;
  minValue(): number;
  maxValue(): number;
  histogram(first: number, norm: number, bins: number): void;
  mask(threshold: number): void;
  fillNonFinite(): void;
}

/**
 * The SIMD float64 Gaussian blur (src/kernels/wasm/assembly/blur.ts) for one
 * image size: bit-identical to `gaussianBlur64` (the reference), which it
 * replaces in `Segmenter` when given; and Otsu's threshold of the blurred
 * image with its mask, equal to `otsuThreshold` and `image > threshold`. The
 * image is converted to float64 into the instance's memory and blurred there;
 * the results are views on that memory, valid until the next call.
 */
export class WasmBlur {
  private readonly ex: BlurExports;
  private radius = -1;
  private bins = -1;
  private image = new Float64Array(0);
  private taps = new Float64Array(0);
  private maskView = new Uint8Array(0);
  private counts = new Int32Array(0);
  private edges = new Float64Array(0);
  private tapsOf: Float64Array | null = null;

  constructor(
    source: WasmSource,
    readonly width: number,
    readonly height: number,
  ) {
    this.ex = instantiate(source) as unknown as BlurExports;
  }

  /**
   * Blurs `src` (width × height) with `kernel` (2r + 1 symmetric taps, gaussianKernel); returns
   * the result. `fillNonFinite`: first replace NaN/±Infinity by the smallest finite value (see
   * Segmenter.segment).
   */
  blur(src: ArrayLike<number>, kernel: Float64Array, fillNonFinite = false): Float64Array {
    const r = (kernel.length - 1) >> 1;
    if (r !== this.radius) {
      // The layout depends on the radius (a new σ).
      this.check(this.ex.init(this.width, this.height, r));
      this.radius = r;
      this.bins = -1;
      this.tapsOf = null;
      this.views();
    }
    if (this.tapsOf !== kernel) {
      for (let j = 0; j <= r; j++) this.taps[j] = kernel[r + j];
      this.tapsOf = kernel;
    }
    const img = this.image;
    const n = this.width * this.height;
    // Float32 → float64 is exact, as in the reference's copy.
    if (src instanceof Float64Array || src instanceof Float32Array) img.set(src.subarray(0, n));
    else for (let i = 0; i < n; i++) img[i] = src[i];
    if (fillNonFinite) this.ex.fillNonFinite();
    this.ex.blur();
    return img;
  }

  /**
   * Otsu's threshold of the last blurred image with `nbins` bins (as
   * otsuThreshold on it), and the mask image > threshold (see `mask`).
   */
  otsu(nbins: number): number {
    if (this.radius < 0) throw new Error('WasmBlur.otsu called before blur');
    const ex = this.ex;
    ex.minMax();
    const min = ex.minValue();
    const max = ex.maxValue();
    let threshold: number;
    if (min === max) {
      threshold = this.image[0];
    } else {
      const bins = checkBins(nbins);
      if (bins !== this.bins) {
        this.check(ex.histogramLayout(bins));
        this.bins = bins;
        this.views();
      }
      histogramEdges(min, max, bins, this.edges);
      ex.histogram(min, bins / (max - min), bins);
      threshold = otsuFromCounts(this.counts, this.edges, bins);
    }
    ex.mask(threshold);
    return threshold;
  }

  /** image > threshold of the last `otsu`, one byte per pixel. */
  get mask(): Uint8Array {
    return this.maskView;
  }

  private check(rc: number): void {
    if (rc !== 0) throw new Error(`WebAssembly blur: out of memory for ${this.width}×${this.height}`);
  }

  /** Views on the instance's memory, made again whenever the layout changes (a grown memory has a new buffer). */
  private views(): void {
    const ex = this.ex;
    const buf = ex.memory.buffer;
    const n = this.width * this.height;
    this.image = new Float64Array(buf, ex.imagePtr(), n);
    this.taps = new Float64Array(buf, ex.tapsPtr(), this.radius + 1);
    this.maskView = new Uint8Array(buf, ex.maskPtr(), n);
    if (this.bins > 0) {
      this.counts = new Int32Array(buf, ex.countsPtr(), this.bins);
      this.edges = new Float64Array(buf, ex.edgesPtr(), this.bins + 1);
    }
  }
}
