import { type WasmSource, instantiate } from './wasmInstance.js';

interface BlurExports {
  readonly memory: { readonly buffer: ArrayBuffer };
  init(w: number, h: number, r: number): number;
  imagePtr(): number;
  tapsPtr(): number;
  blur(): void;
}

/**
 * The SIMD float64 Gaussian blur (src/kernels/wasm/assembly/blur.ts) for one
 * image size: bit-identical to `gaussianBlur64` (the reference), which it
 * replaces in `Segmenter` when given. The image is converted to float64 into
 * the instance's memory, blurred there, and the result is a view on that
 * memory, valid until the next `blur`.
 */
export class WasmBlur {
  private readonly ex: BlurExports;
  private radius = -1;
  private image: Float64Array;
  private taps: Float64Array;
  private tapsOf: Float64Array | null = null;

  constructor(
    source: WasmSource,
    readonly width: number,
    readonly height: number,
  ) {
    this.ex = instantiate(source) as unknown as BlurExports;
    this.image = new Float64Array(0);
    this.taps = new Float64Array(0);
  }

  /** Blurs `src` (width × height) with `kernel` (2r + 1 symmetric taps, gaussianKernel); returns the result. */
  blur(src: ArrayLike<number>, kernel: Float64Array): Float64Array {
    const r = (kernel.length - 1) >> 1;
    if (r !== this.radius) {
      // The layout depends on the radius (a new σ): memory grows if needed and the views follow.
      if (this.ex.init(this.width, this.height, r) !== 0) throw new Error(`WebAssembly blur: out of memory for ${this.width}×${this.height}`);
      const buf = this.ex.memory.buffer;
      this.image = new Float64Array(buf, this.ex.imagePtr(), this.width * this.height);
      this.taps = new Float64Array(buf, this.ex.tapsPtr(), r + 1);
      this.radius = r;
      this.tapsOf = null;
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
    this.ex.blur();
    return img;
  }
}
