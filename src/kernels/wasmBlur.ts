import { checkBins, histogramEdges, otsuFromCounts } from './threshold.js';
import type { Runs } from './runs.js';
import { type WasmSource, instantiate } from './wasmInstance.js';

interface BlurExports {
  readonly memory: { readonly buffer: ArrayBuffer };
  init(w: number, h: number, r: number): number;
  histogramLayout(bins: number): number;
  imagePtr(): number;
  resultPtr(): number;
  tapsPtr(): number;
  maskPtr(): number;
  rowStartPtr(): number;
  runsPtr(): number;
  countsPtr(): number;
  edgesPtr(): number;
  blur(): void;
  minMax(): void;
  minValue(): number;
  maxValue(): number;
  histogram(first: number, norm: number, bins: number): void;
  mask(threshold: number): void;
  runs(threshold: number): number;
  fillNonFinite(): void;
}

/**
 * The SIMD float64 Gaussian blur (src/kernels/wasm/assembly/blur.ts) for one
 * image size: bit-identical to `gaussianBlur64` (the reference), which it
 * replaces in `Segmenter` when given; and Otsu's threshold of the blurred
 * image with its mask, equal to `otsuThreshold` and `image > threshold`. The
 * image is converted to float64 into the instance's memory and blurred there;
 * the results are views on that memory, valid until the next call. It also
 * finds the runs of foreground pixels along the rows for the run-based
 * labelling (`runs`), equal to `runsFromMask` of the mask.
 */
export class WasmBlur {
  private readonly ex: BlurExports;
  private radius = -1;
  private bins = -1;
  private image = new Float64Array(0);
  private result = new Float64Array(0);
  private rowStartView = new Int32Array(0);
  private runsView = new Int32Array(0);
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
    return this.result;
  }

  /**
   * Otsu's threshold of the last blurred image with `nbins` bins (as
   * otsuThreshold on it), and the mask image > threshold (see `mask`).
   */
  otsu(nbins: number): number {
    const threshold = this.otsuThreshold(nbins);
    this.ex.mask(threshold);
    return threshold;
  }

  /** Otsu's threshold of the last blurred image with `nbins` bins, as otsuThreshold on it (no mask). */
  otsuThreshold(nbins: number): number {
    if (this.radius < 0) throw new Error('WasmBlur.otsu called before blur');
    const ex = this.ex;
    ex.minMax();
    const min = ex.minValue();
    const max = ex.maxValue();
    let threshold: number;
    if (min === max) {
      threshold = this.result[0];
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
    return threshold;
  }

  /**
   * The runs of last blurred image > threshold along the rows, into `out`
   * (labels 0: not labelled yet); as runsFromMask of the mask.
   */
  runs(threshold: number, out: Runs): void {
    if (this.radius < 0) throw new Error('WasmBlur.runs called before blur');
    const nr = this.ex.runs(threshold);
    out.reserve(nr);
    out.rowStart.set(this.rowStartView);
    const pairs = this.runsView;
    const { x0, x1, label } = out;
    for (let r = 0; r < nr; r++) {
      x0[r] = pairs[2 * r];
      x1[r] = pairs[2 * r + 1];
    }
    label.fill(0, 0, nr);
    out.count = nr;
  }

  /** Writes `mask`: the last blurred image > threshold. */
  maskAt(threshold: number): void {
    if (this.radius < 0) throw new Error('WasmBlur.maskAt called before blur');
    this.ex.mask(threshold);
  }

  /** image > threshold of the last `otsu` or `maskAt`, one byte per pixel. */
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
    this.result = new Float64Array(buf, ex.resultPtr(), n);
    this.rowStartView = new Int32Array(buf, ex.rowStartPtr(), this.height + 1);
    this.runsView = new Int32Array(buf, ex.runsPtr(), ((this.width + 1) >> 1) * this.height * 2);
    this.taps = new Float64Array(buf, ex.tapsPtr(), this.radius + 1);
    this.maskView = new Uint8Array(buf, ex.maskPtr(), n);
    if (this.bins > 0) {
      this.counts = new Int32Array(buf, ex.countsPtr(), this.bins);
      this.edges = new Float64Array(buf, ex.edgesPtr(), this.bins + 1);
    }
  }
}
