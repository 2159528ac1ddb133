/**
 * Separable Gaussian blur, truncated at 4σ, border mode 'nearest' (edge
 * pixels repeated), as scipy.ndimage.gaussian_filter(…, truncate=4,
 * mode='nearest'). Kernels are built once per σ; the caller owns the buffers.
 */
export function gaussianKernel(sigma: number): Float64Array {
  const r = Math.max(0, Math.floor(4 * sigma + 0.5));
  const k = new Float64Array(2 * r + 1);
  if (sigma <= 0) {
    k[r] = 1;
    return k;
  }
  let s = 0;
  for (let i = -r; i <= r; i++) {
    const v = Math.exp((-0.5 * i * i) / (sigma * sigma));
    k[i + r] = v;
    s += v;
  }
  for (let i = 0; i < k.length; i++) k[i] /= s;
  return k;
}

/** Blurs `src` (h×w) into `out`, using `scratch` (h·w) for the intermediate pass. */
export function gaussianBlur(
  src: ArrayLike<number>,
  width: number,
  height: number,
  kernel: Float64Array,
  out: Float32Array,
  scratch: Float32Array,
): void {
  const r = (kernel.length - 1) >> 1;
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      let acc = 0;
      if (x >= r && x + r < width) {
        for (let k = -r; k <= r; k++) acc += kernel[k + r] * src[row + x + k];
      } else {
        for (let k = -r; k <= r; k++) {
          const xx = Math.min(width - 1, Math.max(0, x + k));
          acc += kernel[k + r] * src[row + xx];
        }
      }
      scratch[row + x] = acc;
    }
  }
  for (let y = 0; y < height; y++) {
    const row = y * width;
    const inner = y >= r && y + r < height;
    for (let x = 0; x < width; x++) {
      let acc = 0;
      for (let k = -r; k <= r; k++) {
        const yy = inner ? y + k : Math.min(height - 1, Math.max(0, y + k));
        acc += kernel[k + r] * scratch[yy * width + x];
      }
      out[row + x] = acc;
    }
  }
}

/** Difference of Gaussians G(σlow) * f − G(σhigh) * f, a band-pass for one-photon data. */
export class DogFilter {
  private readonly kLow: Float64Array;
  private readonly kHigh: Float64Array;
  private readonly low: Float32Array;
  private readonly scratch: Float32Array;
  constructor(
    readonly width: number,
    readonly height: number,
    sigmaLow: number,
    sigmaHigh: number,
  ) {
    this.kLow = gaussianKernel(sigmaLow);
    this.kHigh = gaussianKernel(sigmaHigh);
    this.low = new Float32Array(width * height);
    this.scratch = new Float32Array(width * height);
  }

  apply(src: ArrayLike<number>, out: Float32Array): Float32Array {
    const { width: w, height: h } = this;
    gaussianBlur(src, w, h, this.kLow, this.low, this.scratch);
    gaussianBlur(src, w, h, this.kHigh, out, this.scratch);
    for (let i = 0; i < w * h; i++) out[i] = this.low[i] - out[i];
    return out;
  }
}
