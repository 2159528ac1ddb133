import { type WasmSource, instantiate } from './wasmInstance.js';

interface LocalCorrExports {
  readonly memory: { readonly buffer: ArrayBuffer };
  init(w: number, h: number, block: number): number;
  framePtr(): number;
  centredPtr(): number;
  arrayPtr(i: number): number;
  sums(): void;
}

/**
 * Where rigid registration is not enough: Pearson's r between the registered
 * frame and the template in B×B blocks, from block sums in one pass over the
 * frame. Low-r blocks mark local deformation, focus loss or a moving specimen.
 *
 * Numerics: both images are centred on the template's own block mean before
 * the sums (the frame, once registered, is close to the template), so the
 * one-pass formulas Σab − ΣaΣb/n do not cancel catastrophically on bright,
 * flat blocks. Blocks at the right and bottom edges may be smaller; a block
 * with fewer than 2 finite pixel pairs or no variance gives NaN (null).
 *
 * The template is set rarely, so its centred copy and its per-block sums are
 * cached and a frame only adds Σf, Σf², Σft per block. The centred copy is
 * float32: a frame reads it whole, and at 512² 1 MB instead of 2 is a third
 * of this pass's memory traffic; its rounding (2⁻²⁴ relative) moves r by at
 * most 2⁻²³; measured, about 1e-9, below the float32 rounding of the map
 * itself. Given the compiled `localcorr` kernel
 * (src/kernels/wasm/assembly/localcorr.ts), float32 frames are summed there
 * with SIMD in float64 (the same sums up to the order of the additions);
 * without it, or for other arrays, the TypeScript pass below is used, which
 * is the reference.
 */
export class LocalCorrelation {
  readonly cols: number;
  readonly rows: number;
  /** r per block, row-major (cols × rows), overwritten by each `compute`. */
  readonly map: Float32Array;
  /** The template minus its block means, rounded to float32: half the bytes to read per frame. */
  private readonly centred: Float32Array;
  private readonly tMean: Float64Array;
  private readonly sf: Float64Array;
  private readonly sff: Float64Array;
  private readonly sft: Float64Array;
  private readonly st: Float64Array;
  private readonly stt: Float64Array;
  private readonly n: Float64Array;
  private readonly sorted: Float64Array;
  /** The template's Σt, Σt², count over its finite pixels, per block (centred values). */
  private readonly tSum: Float64Array;
  private readonly tSumSq: Float64Array;
  private readonly tCount: Float64Array;
  /** Blocks of the current frame with a non-finite pixel, summed pixel by pixel. */
  private readonly dirty: Uint8Array;
  /** The WebAssembly instance and its frame buffer, when a kernel was given. */
  private readonly wasm: LocalCorrExports | null = null;
  private readonly wasmFrame: Float32Array | null = null;
  private hasTemplate = false;

  constructor(
    readonly width: number,
    readonly height: number,
    readonly block = 32,
    kernel?: WasmSource,
  ) {
    this.cols = Math.ceil(width / block);
    this.rows = Math.ceil(height / block);
    const nb = this.cols * this.rows;
    this.map = new Float32Array(nb);
    this.sorted = new Float64Array(nb);
    this.dirty = new Uint8Array(nb);
    let perBlock = (_i: number): Float64Array => new Float64Array(nb);
    if (kernel === undefined) {
      this.centred = new Float32Array(width * height);
    } else {
      const ex = instantiate(kernel) as unknown as LocalCorrExports;
      if (ex.init(width, height, block) !== 0) throw new Error(`WebAssembly local correlation: out of memory for ${width}×${height}`);
      // Memory is sized once by init() and never grows, so the views stay valid.
      const buf = ex.memory.buffer;
      this.wasm = ex;
      this.wasmFrame = new Float32Array(buf, ex.framePtr(), width * height);
      this.centred = new Float32Array(buf, ex.centredPtr(), width * height);
      perBlock = (i) => new Float64Array(buf, ex.arrayPtr(i), nb);
    }
    // The order of the kernel's per-block arrays (ARRAY_* in localcorr.ts).
    this.tMean = perBlock(0);
    this.tSum = perBlock(1);
    this.tSumSq = perBlock(2);
    this.tCount = perBlock(3);
    this.sf = perBlock(4);
    this.sff = perBlock(5);
    this.sft = perBlock(6);
    this.st = perBlock(7);
    this.stt = perBlock(8);
    this.n = perBlock(9);
  }

  /** Block b's sums over the pixels finite in both images. */
  private sumBlock(frame: ArrayLike<number>, b: number): void {
    const { width, height, block, cols, centred } = this;
    const by = Math.floor(b / cols);
    const bx = b - by * cols;
    const m = this.tMean[b];
    let a = 0;
    let aa = 0;
    let at = 0;
    let t = 0;
    let tt = 0;
    let k = 0;
    for (let y = by * block; y < Math.min(height, (by + 1) * block); y++) {
      for (let i = y * width + bx * block, end = y * width + Math.min(width, (bx + 1) * block); i < end; i++) {
        const tv = centred[i];
        const fv = frame[i] - m;
        if (fv * 0 !== 0 || tv * 0 !== 0) continue;
        a += fv;
        aa += fv * fv;
        at += fv * tv;
        t += tv;
        tt += tv * tv;
        k++;
      }
    }
    this.sf[b] = a;
    this.sff[b] = aa;
    this.sft[b] = at;
    this.st[b] = t;
    this.stt[b] = tt;
    this.n[b] = k;
  }

  /** Caches the template centred on its block means (non-finite template pixels stay NaN) and its block sums. */
  setTemplate(t: ArrayLike<number>): void {
    const { width, height, block, cols, rows, centred } = this;
    for (let by = 0; by < rows; by++) {
      const y0 = by * block;
      const y1 = Math.min(height, y0 + block);
      for (let bx = 0; bx < cols; bx++) {
        const b = by * cols + bx;
        const x0 = bx * block;
        const x1 = Math.min(width, x0 + block);
        let s = 0;
        let k = 0;
        for (let y = y0; y < y1; y++) {
          for (let i = y * width + x0, end = y * width + x1; i < end; i++) {
            const v = t[i];
            if (!Number.isFinite(v)) continue;
            s += v;
            k++;
          }
        }
        const m = k > 0 ? s / k : 0;
        let ts = 0;
        let tss = 0;
        for (let y = y0; y < y1; y++) {
          for (let i = y * width + x0, end = y * width + x1; i < end; i++) {
            const v = t[i];
            // The sums below are of the stored (float32) values, so that they agree with the per-pixel sums.
            const c = Number.isFinite(v) ? Math.fround(v - m) : NaN;
            centred[i] = c;
            if (c !== c) continue;
            ts += c;
            tss += c * c;
          }
        }
        this.tMean[b] = m;
        this.tSum[b] = ts;
        this.tSumSq[b] = tss;
        this.tCount[b] = k;
      }
    }
    this.hasTemplate = true;
  }

  /** r per block of `frame` against the template; returns the median and 10th percentile of the finite r. */
  compute(frame: ArrayLike<number>): { median: number; p10: number } {
    if (!this.hasTemplate) throw new Error('LocalCorrelation.compute called before setTemplate');
    if (this.wasm !== null && this.wasmFrame !== null && frame instanceof Float32Array) {
      this.wasmFrame.set(frame);
      this.wasm.sums();
    } else {
      this.sumsTs(frame);
    }
    const { sf, sff, sft, st, stt, n } = this;
    let m = 0;
    for (let b = 0; b < this.map.length; b++) {
      const k = n[b];
      const cov = sft[b] - (sf[b] * st[b]) / k;
      const vf = sff[b] - (sf[b] * sf[b]) / k;
      const vt = stt[b] - (st[b] * st[b]) / k;
      // A constant block leaves Σf² − (Σf)²/k as rounding residue, not 0: a variance below 1e-12 of
      // Σf² is none (Pearson's r undefined), where any real texture is many orders above it.
      const r = k >= 2 && vf > 1e-12 * sff[b] && vt > 1e-12 * stt[b] ? cov / Math.sqrt(vf * vt) : NaN;
      this.map[b] = r;
      if (r === r) this.sorted[m++] = r;
    }
    if (m === 0) return { median: NaN, p10: NaN };
    const s = this.sorted.subarray(0, m).sort();
    return { median: quantile(s, 0.5), p10: quantile(s, 0.1) };
  }

  /** The reference pass: sf, sff, sft, st, stt, n of every block. */
  private sumsTs(frame: ArrayLike<number>): void {
    const { width, height, block, cols, tMean, centred, sf, sff, sft } = this;
    // Row by row, block by block, the sums of a block's stretch of a row in locals, without a test
    // per pixel: a NaN or ±Infinity (the warp's border, a bad pixel) poisons the sums, and such a
    // block is then summed again pixel by pixel, leaving those pixels out.
    sf.fill(0);
    sff.fill(0);
    sft.fill(0);
    const dirty = this.dirty;
    dirty.fill(0);
    for (let y = 0; y < height; y++) {
      const rowBlock = Math.floor(y / block) * cols;
      const row = y * width;
      for (let bx = 0; bx < cols; bx++) {
        const b = rowBlock + bx;
        if (dirty[b]) continue;
        const m = tMean[b];
        let a = 0;
        let aa = 0;
        let at = 0;
        for (let i = row + bx * block, end = row + Math.min(width, (bx + 1) * block); i < end; i++) {
          const fv = frame[i] - m;
          a += fv;
          aa += fv * fv;
          at += fv * centred[i];
        }
        if (at * 0 !== 0 || aa * 0 !== 0) dirty[b] = 1;
        sf[b] += a;
        sff[b] += aa;
        sft[b] += at;
      }
    }
    this.st.set(this.tSum);
    this.stt.set(this.tSumSq);
    this.n.set(this.tCount);
    for (let b = 0; b < dirty.length; b++) if (dirty[b]) this.sumBlock(frame, b);
  }
}

/** Linear interpolation at (n − 1)·q of sorted values (numpy's default). */
function quantile(sorted: Float64Array, q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
}
