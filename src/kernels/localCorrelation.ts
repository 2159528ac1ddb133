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
 */
export class LocalCorrelation {
  readonly cols: number;
  readonly rows: number;
  /** r per block, row-major (cols × rows), overwritten by each `compute`. */
  readonly map: Float32Array;
  private readonly blockOf: Int32Array;
  private readonly centred: Float64Array;
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
  private hasTemplate = false;

  constructor(
    readonly width: number,
    readonly height: number,
    readonly block = 32,
  ) {
    this.cols = Math.ceil(width / block);
    this.rows = Math.ceil(height / block);
    const nb = this.cols * this.rows;
    this.map = new Float32Array(nb);
    this.blockOf = new Int32Array(width);
    for (let x = 0; x < width; x++) this.blockOf[x] = Math.floor(x / block);
    this.centred = new Float64Array(width * height);
    this.tMean = new Float64Array(nb);
    this.sf = new Float64Array(nb);
    this.sff = new Float64Array(nb);
    this.sft = new Float64Array(nb);
    this.st = new Float64Array(nb);
    this.stt = new Float64Array(nb);
    this.n = new Float64Array(nb);
    this.sorted = new Float64Array(nb);
    this.tSum = new Float64Array(nb);
    this.tSumSq = new Float64Array(nb);
    this.tCount = new Float64Array(nb);
    this.dirty = new Uint8Array(nb);
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

  /** Caches the template centred on its block means (non-finite template pixels stay NaN). */
  setTemplate(t: ArrayLike<number>): void {
    const { width, height, block, cols, tMean, centred, n } = this;
    tMean.fill(0);
    n.fill(0);
    for (let y = 0; y < height; y++) {
      const rowBlock = Math.floor(y / block) * cols;
      for (let x = 0; x < width; x++) {
        const v = t[y * width + x];
        if (!Number.isFinite(v)) continue;
        const b = rowBlock + this.blockOf[x];
        tMean[b] += v;
        n[b]++;
      }
    }
    for (let b = 0; b < tMean.length; b++) tMean[b] = n[b] > 0 ? tMean[b] / n[b] : 0;
    for (let y = 0; y < height; y++) {
      const rowBlock = Math.floor(y / block) * cols;
      for (let x = 0; x < width; x++) {
        const i = y * width + x;
        const v = t[i];
        centred[i] = Number.isFinite(v) ? v - tMean[rowBlock + this.blockOf[x]] : NaN;
      }
    }
    this.tSum.fill(0);
    this.tSumSq.fill(0);
    this.tCount.fill(0);
    for (let y = 0; y < height; y++) {
      const rowBlock = Math.floor(y / block) * cols;
      for (let x = 0; x < width; x++) {
        const c = centred[y * width + x];
        if (c !== c) continue;
        const b = rowBlock + this.blockOf[x];
        this.tSum[b] += c;
        this.tSumSq[b] += c * c;
        this.tCount[b]++;
      }
    }
    this.hasTemplate = true;
  }

  /** r per block of `frame` against the template; returns the median and 10th percentile of the finite r. */
  compute(frame: ArrayLike<number>): { median: number; p10: number } {
    if (!this.hasTemplate) throw new Error('LocalCorrelation.compute called before setTemplate');
    const { width, height, block, cols, tMean, centred, sf, sff, sft, st, stt, n } = this;
    // Row by row, block by block, the sums of a block's stretch of a row in locals. The template's
    // own sums per block are cached (setTemplate), so a frame adds only Σf, Σf², Σft: without a
    // test per pixel, since a NaN or ±Infinity (the warp's border, a bad pixel) poisons the sums,
    // and such a block is then summed again pixel by pixel, leaving those pixels out.
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
    st.set(this.tSum);
    stt.set(this.tSumSq);
    n.set(this.tCount);
    for (let b = 0; b < dirty.length; b++) if (dirty[b]) this.sumBlock(frame, b);
    let m = 0;
    for (let b = 0; b < this.map.length; b++) {
      const k = n[b];
      const cov = sft[b] - (sf[b] * st[b]) / k;
      const vf = sff[b] - (sf[b] * sf[b]) / k;
      const vt = stt[b] - (st[b] * st[b]) / k;
      const r = k >= 2 && vf > 0 && vt > 0 ? cov / Math.sqrt(vf * vt) : NaN;
      this.map[b] = r;
      if (r === r) this.sorted[m++] = r;
    }
    if (m === 0) return { median: NaN, p10: NaN };
    const s = this.sorted.subarray(0, m).sort();
    return { median: quantile(s, 0.5), p10: quantile(s, 0.1) };
  }
}

/** Linear interpolation at (n − 1)·q of sorted values (numpy's default). */
function quantile(sorted: Float64Array, q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
}
