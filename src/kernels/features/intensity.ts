/**
 * Per-object intensity features (CellProfiler MeasureObjectIntensity names),
 * one pass per feature family over the CSR pixel index (ObjectIndex): no
 * per-object masks, no full-image scan per object. Every formula is defined in
 * docs/features.md.
 *
 * All buffers (columns, per-pixel coordinates, the selection scratch of the
 * largest object's size) are allocated in the constructor; `compute` allocates
 * nothing. Accumulation is in float64. Non-finite pixels (NaN, ±Inf) are left
 * out of every statistic. A value that is undefined for an object (no finite
 * pixel, Σx = 0 for a centre of mass, no edge pixel) is NaN (null in records).
 */
import type { ObjectIndex } from '../objectIndex.js';
import { WasmQuantiles } from '../wasmQuantiles.js';
import type { WasmSource } from '../wasmInstance.js';
import { allocColumns, type FeatureColumns } from './columns.js';

export type IntensityImage = Float32Array | Uint16Array | Uint8Array;

export interface IntensityOptions {
  /** Allocate and (by default) compute the median, quartiles and MAD. Default true. */
  quartiles?: boolean;
  /**
   * The compiled `quantiles` WebAssembly module (src/kernels/wasm/assembly/quantiles.ts): median,
   * quartiles and MAD computed there, the same numbers as the TypeScript path (the reference),
   * which is used without it.
   */
  kernel?: WasmSource;
}

const BASE_NAMES = [
  'Intensity_IntegratedIntensity',
  'Intensity_MeanIntensity',
  'Intensity_StdIntensity',
  'Intensity_MinIntensity',
  'Intensity_MaxIntensity',
  'Intensity_IntegratedIntensityEdge',
  'Intensity_MeanIntensityEdge',
  'Intensity_StdIntensityEdge',
  'Intensity_MinIntensityEdge',
  'Intensity_MaxIntensityEdge',
  'Intensity_MassDisplacement',
  'Location_CenterMassIntensity_X',
  'Location_CenterMassIntensity_Y',
  'Location_MaxIntensity_X',
  'Location_MaxIntensity_Y',
] as const;

const QUARTILE_NAMES = [
  'Intensity_MedianIntensity',
  'Intensity_LowerQuartileIntensity',
  'Intensity_UpperQuartileIntensity',
  'Intensity_MADIntensity',
] as const;

export class IntensityFeatures {
  readonly columns: FeatureColumns;
  readonly quartiles: boolean;
  private readonly index: ObjectIndex;
  /** Column and row of every entry of index.pixels (same order). */
  private readonly px: Int32Array;
  private readonly py: Int32Array;
  /** Plain (unweighted) centroid of every object, over all its pixels. */
  private readonly cx: Float64Array;
  private readonly cy: Float64Array;
  private readonly scratch: Float64Array;
  private readonly scratch2: Float64Array;
  private readonly counts: Int32Array;
  private readonly keys: Int32Array;
  private readonly keys2: Int32Array;
  /** Float path: the gathered float32 values and their bits (same buffer). */
  private readonly fvals: Float32Array;
  private readonly fbits: Int32Array;
  /** The WebAssembly quantiles, when a kernel was given: pass 1 gathers into its memory instead. */
  private readonly wq: WasmQuantiles | null;
  private readonly oneVal = new Float32Array(1);
  private readonly oneBits = new Int32Array(this.oneVal.buffer);
  /**
   * floatQuartiles: the values of each bucket as a linked list (head per bucket, next per value,
   * −1 ends), so that the few buckets needed are gathered without a pass over all values; and the
   * marked buckets.
   */
  private readonly head = new Int32Array((1 << BUCKET_BITS) + 2);
  private readonly next: Int32Array;
  private readonly marked = new Int32Array(6);
  /** floatQuartiles ↔ madOf: median, bound, MAD. */
  private readonly madIo = new Float64Array(3);
  /** The value buckets of the current object: ⌊(x − bucketLo)·bucketScale⌋, clamped. */
  private bucketLo = 0;
  private bucketScale = 1;
  private nMarked = 0;
  // Columns, held directly so that compute() does no property lookups by string.
  private readonly cInt: Float64Array;
  private readonly cMean: Float64Array;
  private readonly cStd: Float64Array;
  private readonly cMin: Float64Array;
  private readonly cMax: Float64Array;
  private readonly cIntE: Float64Array;
  private readonly cMeanE: Float64Array;
  private readonly cStdE: Float64Array;
  private readonly cMinE: Float64Array;
  private readonly cMaxE: Float64Array;
  private readonly cDisp: Float64Array;
  private readonly cCmX: Float64Array;
  private readonly cCmY: Float64Array;
  private readonly cMaxX: Float64Array;
  private readonly cMaxY: Float64Array;
  private readonly cMed: Float64Array;
  private readonly cLq: Float64Array;
  private readonly cUq: Float64Array;
  private readonly cMad: Float64Array;
  /** What touchLines read (kept, so that the pass is not optimised away). */
  touched = 0;

  static names(quartiles: boolean): string[] {
    return quartiles ? [...BASE_NAMES, ...QUARTILE_NAMES] : [...BASE_NAMES];
  }

  constructor(index: ObjectIndex, opts: IntensityOptions = {}) {
    this.index = index;
    this.quartiles = opts.quartiles ?? true;
    const count = index.count;
    this.columns = allocColumns(IntensityFeatures.names(this.quartiles), count);
    const c = this.columns;
    this.cInt = c.Intensity_IntegratedIntensity;
    this.cMean = c.Intensity_MeanIntensity;
    this.cStd = c.Intensity_StdIntensity;
    this.cMin = c.Intensity_MinIntensity;
    this.cMax = c.Intensity_MaxIntensity;
    this.cIntE = c.Intensity_IntegratedIntensityEdge;
    this.cMeanE = c.Intensity_MeanIntensityEdge;
    this.cStdE = c.Intensity_StdIntensityEdge;
    this.cMinE = c.Intensity_MinIntensityEdge;
    this.cMaxE = c.Intensity_MaxIntensityEdge;
    this.cDisp = c.Intensity_MassDisplacement;
    this.cCmX = c.Location_CenterMassIntensity_X;
    this.cCmY = c.Location_CenterMassIntensity_Y;
    this.cMaxX = c.Location_MaxIntensity_X;
    this.cMaxY = c.Location_MaxIntensity_Y;
    const none = new Float64Array(0);
    this.cMed = c.Intensity_MedianIntensity ?? none;
    this.cLq = c.Intensity_LowerQuartileIntensity ?? none;
    this.cUq = c.Intensity_UpperQuartileIntensity ?? none;
    this.cMad = c.Intensity_MADIntensity ?? none;
    // Until the first compute() with quartiles, those columns are undefined.
    this.cMed.fill(NaN);
    this.cLq.fill(NaN);
    this.cUq.fill(NaN);
    this.cMad.fill(NaN);

    const { pixels, offsets, width } = index;
    const total = pixels.length;
    this.px = new Int32Array(total);
    this.py = new Int32Array(total);
    this.cx = new Float64Array(count);
    this.cy = new Float64Array(count);
    let maxSize = 0;
    for (let k = 0; k < count; k++) {
      const a = offsets[k];
      const b = offsets[k + 1];
      if (b - a > maxSize) maxSize = b - a;
      let sx = 0;
      let sy = 0;
      for (let p = a; p < b; p++) {
        const i = pixels[p];
        const y = (i / width) | 0;
        const x = i - y * width;
        this.px[p] = x;
        this.py[p] = y;
        sx += x;
        sy += y;
      }
      this.cx[k] = b > a ? sx / (b - a) : NaN;
      this.cy[k] = b > a ? sy / (b - a) : NaN;
    }
    this.scratch = new Float64Array(this.quartiles ? maxSize : 0);
    this.scratch2 = new Float64Array(this.quartiles ? maxSize : 0);
    this.counts = new Int32Array(1 << 16); // counting tables (≤ 2^16 bins)
    this.keys = new Int32Array(this.quartiles ? maxSize : 0);
    this.next = new Int32Array(this.quartiles ? maxSize : 0);
    this.keys2 = new Int32Array(this.quartiles ? maxSize : 0);
    this.fvals = new Float32Array(this.quartiles ? maxSize : 0);
    this.fbits = new Int32Array(this.fvals.buffer);
    this.wq = this.quartiles && opts.kernel !== undefined ? new WasmQuantiles(opts.kernel, offsets, count) : null;
  }

  /**
   * Computes every feature of `image` (width × height of the index, raster
   * order) into `columns`. `quartiles` (default: the constructor's option)
   * says whether the median, quartiles and MAD are recomputed this frame; when
   * false they keep their last values. Allocates nothing.
   */
  compute(image: IntensityImage, quartiles: boolean = this.quartiles): void {
    const index = this.index;
    if (image.length < index.width * index.height) {
      throw new RangeError(`image has ${image.length} pixels, expected ${index.width}×${index.height}`);
    }
    if (quartiles && !this.quartiles) {
      throw new RangeError('quartiles were not enabled when these IntensityFeatures were built');
    }
    const count = index.count;
    const pixels = index.pixels;
    const offsets = index.offsets;
    const edgePixels = index.edgePixels;
    const edgeOffsets = index.edgeOffsets;
    const px = this.px;
    const py = this.py;
    const width = index.width;
    const wq = quartiles ? this.wq : null;
    // The passes below visit an object's pixels row by row, jumping a whole image row each time,
    // which the hardware prefetcher does not follow: on a frame not in the cache most of their
    // loads wait on memory. One sequential pass first (a load per 64-byte line) brings the image in
    // at memory bandwidth (0.5–0.65 → 0.26–0.4 ms at 512² with 170 objects, measured).
    this.touched = touchLines(image);
    for (let k = 0; k < count; k++) {
      const a = offsets[k];
      const b = offsets[k + 1];
      // Pass 1: count, Σx, min, max (first in raster order), Σx·X, Σx·Y; with quartiles, the finite
      // values are gathered into fvals on the way, so that pass 2 reads them contiguously — or,
      // with the WebAssembly kernel, into its memory at the object's offset, where it reads them.
      const fv = wq === null ? this.fvals : wq.values;
      const base = wq === null ? 0 : a;
      let n = 0;
      let sum = 0;
      let min = Infinity;
      let max = -Infinity;
      let argmax = -1;
      let sxX = 0;
      let sxY = 0;
      let sq = 0;
      for (let p = a; p < b; p++) {
        const i = pixels[p];
        const v = image[i];
        if (v - v !== 0) continue; // NaN or ±Inf
        const y = py[p];
        if (quartiles) {
          fv[base + n] = v;
          sq += v * v;
        }
        n++;
        sum += v;
        if (v < min) min = v;
        if (v > max) {
          max = v;
          argmax = p;
        }
        sxX += v * (i - y * width);
        sxY += v * y;
      }
      if (n === 0) {
        this.cInt[k] = NaN;
        this.cMean[k] = NaN;
        this.cStd[k] = NaN;
        this.cMin[k] = NaN;
        this.cMax[k] = NaN;
        this.cMaxX[k] = NaN;
        this.cMaxY[k] = NaN;
        this.cCmX[k] = NaN;
        this.cCmY[k] = NaN;
        this.cDisp[k] = NaN;
      } else {
        const mean = sum / n;
        // Pass 2: Σ(x − mean)² (two-pass variance, population).
        let ss = 0;
        if (quartiles && wq === null && n > SMALL && max > min && image instanceof Float32Array) {
          // Also floatQuartiles' first pass: the values into buckets (counts and lists).
          const counts = this.counts;
          const head = this.head;
          const next = this.next;
          const size = bucketCount(n);
          const top = size - 1;
          // The buckets span mean ± 4σ within [min, max] (σ roughly, from Σx²: the range only has
          // to be monotone, not exact), so that a few far values do not crowd the rest into a few
          // buckets; the values beyond go to the first and last bucket.
          const sd = Math.sqrt(sq / n - mean * mean);
          const lo = sd > 0 ? Math.max(min, mean - 4 * sd) : min;
          const hi = sd > 0 ? Math.min(max, mean + 4 * sd) : max;
          const scale = hi > lo ? size / (hi - lo) : size / (max - min);
          const origin = hi > lo ? lo : min;
          this.bucketLo = origin;
          this.bucketScale = scale;
          counts.fill(0, 0, size + 1);
          head.fill(-1, 0, size);
          for (let j = 0; j < n; j++) {
            const v = fv[j];
            const u = (v - origin) * scale;
            const c = u < 0 ? 0 : u < top ? u | 0 : top;
            counts[c]++;
            next[j] = head[c];
            head[c] = j;
            const d = v - mean;
            ss += d * d;
          }
        } else if (quartiles) {
          for (let j = base; j < base + n; j++) {
            const d = fv[j] - mean;
            ss += d * d;
          }
        } else {
          for (let p = a; p < b; p++) {
            const v = image[pixels[p]];
            if (v - v !== 0) continue;
            const d = v - mean;
            ss += d * d;
          }
        }
        this.cInt[k] = sum;
        this.cMean[k] = mean;
        this.cStd[k] = Math.sqrt(ss / n);
        this.cMin[k] = min;
        this.cMax[k] = max;
        this.cMaxX[k] = px[argmax];
        this.cMaxY[k] = py[argmax];
        if (sum === 0) {
          this.cCmX[k] = NaN;
          this.cCmY[k] = NaN;
          this.cDisp[k] = NaN;
        } else {
          const mx = sxX / sum;
          const my = sxY / sum;
          this.cCmX[k] = mx;
          this.cCmY[k] = my;
          const dx = mx - this.cx[k];
          const dy = my - this.cy[k];
          this.cDisp[k] = Math.sqrt(dx * dx + dy * dy);
        }
      }
      // Edge pixels.
      const ea = edgeOffsets[k];
      const eb = edgeOffsets[k + 1];
      let en = 0;
      let esum = 0;
      let emin = Infinity;
      let emax = -Infinity;
      for (let p = ea; p < eb; p++) {
        const v = image[edgePixels[p]];
        if (v - v !== 0) continue;
        en++;
        esum += v;
        if (v < emin) emin = v;
        if (v > emax) emax = v;
      }
      if (en === 0) {
        this.cIntE[k] = NaN;
        this.cMeanE[k] = NaN;
        this.cStdE[k] = NaN;
        this.cMinE[k] = NaN;
        this.cMaxE[k] = NaN;
      } else {
        const emean = esum / en;
        let ess = 0;
        for (let p = ea; p < eb; p++) {
          const v = image[edgePixels[p]];
          if (v - v !== 0) continue;
          const d = v - emean;
          ess += d * d;
        }
        this.cIntE[k] = esum;
        this.cMeanE[k] = emean;
        this.cStdE[k] = Math.sqrt(ess / en);
        this.cMinE[k] = emin;
        this.cMaxE[k] = emax;
      }
      if (wq !== null) wq.counts[k] = n;
      else if (quartiles) this.quartilesOf(image, k, n);
    }
    if (wq !== null) {
      wq.run();
      this.cMed.set(wq.median);
      this.cLq.set(wq.lower);
      this.cUq.set(wq.upper);
      this.cMad.set(wq.mad);
    }
  }

  /**
   * Median, quartiles and MAD of object k's n finite values (docs/features.md).
   * Up to SMALL values: insertion sort. Larger objects of integer images:
   * counting / two-pass radix sort of x − min (no data-dependent branches); the
   * MAD then comes from merging the deviations on both sides of the median.
   * Larger objects of float32 images: bucket selection (floatQuartiles); skewed
   * objects (a crowded bucket, all values equal): in-place selection.
   * Selection: MAD by a second selection.
   */
  private quartilesOf(image: IntensityImage, k: number, n: number): void {
    if (n === 0) {
      this.cMed[k] = NaN;
      this.cLq[k] = NaN;
      this.cUq[k] = NaN;
      this.cMad[k] = NaN;
      return;
    }
    const s = this.scratch;
    const pixels = this.index.pixels;
    const a = this.index.offsets[k];
    const b = this.index.offsets[k + 1];
    if (n > SMALL && !(image instanceof Float32Array)) {
      // Integer image: radix-sort the offsets from the minimum as int32 keys.
      const lo = this.cMin[k] | 0; // small integers: keep the key arithmetic in int32
      const keys = this.radixSort(image, a, b, n, lo, this.cMax[k] | 0);
      for (let j = 0; j < n; j++) s[j] = keys[j] + lo;
      this.fromSorted(s, k, n);
      return;
    }
    if (n > SMALL && image instanceof Float32Array) {
      if (!this.floatQuartiles(n, k)) this.bySelection(k, n);
      return;
    }
    let m = 0;
    for (let p = a; p < b; p++) {
      const v = image[pixels[p]];
      if (v - v !== 0) continue;
      s[m++] = v;
    }
    if (n <= SMALL) {
      insertionSort(s, 0, n - 1);
      this.fromSorted(s, k, n);
    } else {
      this.bySelection(k, n);
    }
  }

  /**
   * Sorts the keys x − lo of object pixels a … b (n values, all finite: integer
   * image; lo = min, hi = max, hi − lo < 2¹⁶) by counting: one pass with a
   * 2^bits table when the range is small (bits ≤ 7 or 2^bits ≤ n), else an LSD
   * radix sort in two passes of ⌈bits/2⌉ ≤ 8 bits (the copy fills both tables).
   * Returns the int32 buffer that holds the sorted keys.
   */
  private radixSort(image: Uint8Array | Uint16Array, a: number, b: number, n: number, lo: number, hi: number): Int32Array {
    const src = this.keys;
    const dst = this.keys2;
    const pixels = this.index.pixels;
    const counts = this.counts;
    const range = (hi - lo) | 0;
    let bits = 1;
    while (range >>> bits > 0) bits++;
    if (bits <= 7 || 1 << bits <= n) {
      const size = 1 << bits;
      counts.fill(0, 0, size);
      for (let p = a; p < b; p++) counts[(image[pixels[p]] - lo) | 0]++;
      let j = 0;
      for (let c = 0; c < size; c++) {
        const end = j + counts[c];
        while (j < end) src[j++] = c;
      }
      return src;
    }
    const d = (bits + 1) >>> 1;
    const size = 1 << d;
    const mask = size - 1;
    counts.fill(0, 0, 2 * size);
    let m = 0;
    for (let p = a; p < b; p++) {
      const key = (image[pixels[p]] - lo) | 0;
      src[m++] = key;
      counts[key & mask]++;
      counts[size + (key >>> d)]++;
    }
    let a0 = 0;
    let a1 = 0;
    for (let c = 0; c < size; c++) {
      const t0 = counts[c];
      counts[c] = a0;
      a0 += t0;
      const t1 = counts[size + c];
      counts[size + c] = a1;
      a1 += t1;
    }
    for (let j = 0; j < n; j++) {
      const key = src[j];
      dst[counts[key & mask]++] = key;
    }
    for (let j = 0; j < n; j++) {
      const key = dst[j];
      src[counts[size + (key >>> d)]++] = key;
    }
    return src;
  }

  /**
   * Median, quartiles and MAD of object k's n finite values of a float32 image
   * (gathered into fvals by compute), without sorting them all (docs/features.md, "Performance").
   * One pass puts the values into 2^d (≈ n … 2n) equal-width buckets
   * ⌊(x − min)·scale⌋, monotone in x (floating-point rounding is monotone), and
   * counts them; the bucket starts give each bucket's ranks. A second pass
   * scatters only the values of the buckets that hold the ranks needed
   * (quartiles, median, the next rank of each) to their global positions, as
   * int32 keys b ^ ((b >> 31) & 0x7fffffff) of their bits b (float order, −0
   * before +0 as TypedArray sort), sorted there by insertion. The MAD likewise,
   * over the float64 deviations |x − median| (max: at the min or the max). The
   * values picked are exactly those of a full sort. Returns false when a needed
   * bucket holds more than BUCKET_MAX values (skewed values, all values equal):
   * scratch then holds the values and the caller selects instead. Allocates nothing.
   */
  private floatQuartiles(n: number, k: number): boolean {
    const fb = this.fbits;
    const head = this.head;
    const next = this.next;
    const sorted = this.keys2;
    const counts = this.counts;
    const vmin = this.cMin[k];
    const vmax = this.cMax[k];
    const last = n - 1;
    const pm = last * 0.5;
    const mid = Math.floor(pm);
    const pl = last * 0.25;
    const il = Math.floor(pl);
    const pu = last * 0.75;
    const iu = Math.floor(pu);
    const size = bucketCount(n);
    if (!(vmax > vmin)) return this.unsorted(n);
    // The finite values were gathered into fvals, their buckets ⌊(x − min)·size / (max − min)⌋ into
    // keys and counted (compute, pass 2).
    if (!this.markRanks(size, il, il < last ? il + 1 : il, mid, mid < last ? mid + 1 : mid, iu, iu < last ? iu + 1 : iu)) return this.unsorted(n);
    for (let t = 0; t < this.nMarked; t++) {
      const c = this.marked[t];
      let q = counts[c];
      for (let j = head[c]; j >= 0; j = next[j]) {
        const bits = fb[j];
        sorted[q++] = bits ^ ((bits >> 31) & 0x7fffffff);
      }
      insertionSortInt(sorted, counts[c], q - 1);
    }
    const l0 = this.decode(sorted[il]);
    const l1 = this.decode(sorted[il < last ? il + 1 : il]);
    const m0 = this.decode(sorted[mid]);
    const m1 = this.decode(sorted[mid < last ? mid + 1 : mid]);
    const u0 = this.decode(sorted[iu]);
    const u1 = this.decode(sorted[iu < last ? iu + 1 : iu]);
    const median = lerp(m0, m1, pm - mid);
    // MAD over the float64 deviations |x − median|, as the sort-based path computes them. The
    // values from rank il to iu + 1 (iu − il + 2 ≥ mid + 2 of them) lie within D of the median, so
    // the deviations of rank mid and mid + 1 are ≤ D: only [0, D] is bucketed (finely, in few
    // buckets), the rest goes to one overflow bucket that is never sorted.
    // madOf is not inlined: its float64 arguments and result go through madIo, since a call
    // boxes each float64 it passes or returns in a heap number (garbage on every object).
    const io = this.madIo;
    io[0] = median;
    io[1] = Math.max(median - l0, u1 - median);
    if (!this.madOf(n, size >> 2)) return this.unsorted(n);
    this.cMed[k] = median;
    this.cLq[k] = lerp(l0, l1, pl - il);
    this.cUq[k] = lerp(u0, u1, pu - iu);
    this.cMad[k] = io[2];
    return true;
  }

  /**
   * floatQuartiles' MAD: the median of the n float64 deviations |x − median| of fvals, given a
   * bound dlim ≥ the deviations of rank mid and mid + 1 (the values from rank il to iu + 1, at
   * least mid + 2 of them, lie within dlim of the median). One pass counts the deviations in
   * `buckets` buckets over [0, dlim] (beyond: one overflow bucket, never needed); the values of the
   * bucket(s) holding rank mid and mid + 1 are then found through the value buckets of compute's
   * pass 2 (head, next) that can hold such a deviation, both sides of the median, and sorted.
   * Reads median and dlim from madIo[0], madIo[1], writes the MAD to madIo[2]; false when a
   * deviation bucket to sort is crowded.
   */
  private madOf(n: number, buckets: number): boolean {
    const io = this.madIo;
    const median = io[0];
    const dlim = io[1];
    io[2] = 0;
    if (!(dlim > 0)) return true;
    const fv = this.fvals;
    const counts = this.counts;
    const last = n - 1;
    const pm = last * 0.5;
    const mid = Math.floor(pm);
    const msize = Math.max(1, buckets);
    const scale = msize / dlim;
    const lim = msize + 1;
    // Bucket ⌊dev·scale⌋, monotone in dev, at most lim; dev ≤ dlim gives at most msize. Four tables
    // (one per value of each group of four), added at the end: about half the values go to the
    // overflow bucket, and with one table each of those increments would wait for the last one's store.
    const stride = msize + 2;
    counts.fill(0, 0, 4 * stride);
    const n4 = n & ~3;
    let j = 0;
    for (; j < n4; j += 4) {
      counts[Math.min(Math.abs(fv[j] - median) * scale, lim) | 0]++;
      counts[stride + (Math.min(Math.abs(fv[j + 1] - median) * scale, lim) | 0)]++;
      counts[2 * stride + (Math.min(Math.abs(fv[j + 2] - median) * scale, lim) | 0)]++;
      counts[3 * stride + (Math.min(Math.abs(fv[j + 3] - median) * scale, lim) | 0)]++;
    }
    for (; j < n; j++) counts[Math.min(Math.abs(fv[j] - median) * scale, lim) | 0]++;
    for (let c = 0; c < stride; c++) counts[c] += counts[stride + c] + counts[2 * stride + c] + counts[3 * stride + c];
    if (!this.markRanks(lim, mid, mid < last ? mid + 1 : mid, mid, mid, mid, mid)) return false;
    const ds = this.scratch2;
    for (let t = 0; t < this.nMarked; t++) {
      const c = this.marked[t];
      // Deviations in [c, c + 1) / scale: values in [median − (c + 1)/scale, median − c/scale] and
      // [median + c/scale, median + (c + 1)/scale], give or take a rounding — so one more value
      // bucket on each side of each range. Each value found is tested by the same expression.
      let q = counts[c];
      const lo = this.valueBucket(n, median - (c + 1) / scale) - 1;
      const hi = this.valueBucket(n, median + (c + 1) / scale) + 1;
      const innerLo = this.valueBucket(n, median - c / scale) + 1;
      const innerHi = this.valueBucket(n, median + c / scale) - 1;
      const size = bucketCount(n);
      for (let b = Math.max(0, lo); b <= Math.min(size - 1, hi); b++) {
        // Value buckets strictly between the two ranges hold deviations below c/scale only.
        if (b > innerLo && b < innerHi) b = innerHi;
        for (let j = this.head[b]; j >= 0; j = this.next[j]) {
          const dev = Math.abs(fv[j] - median);
          if ((Math.min(dev * scale, lim) | 0) === c) ds[q++] = dev;
        }
      }
      // Every value of the bucket was found (else a rounding defeated the margins: select instead).
      if (q !== counts[c + 1]) return false;
      insertionSort(ds, counts[c], q - 1);
    }
    io[2] = lerp(ds[mid], mid < last ? ds[mid + 1] : ds[mid], pm - mid);
    return true;
  }

  /** The value bucket (compute's pass 2) of x for the current object of n values, clamped to [−1, size]. */
  private valueBucket(n: number, x: number): number {
    const size = bucketCount(n);
    const u = (x - this.bucketLo) * this.bucketScale;
    return u < 0 ? -1 : u >= size ? size : u | 0;
  }

  /** Fallback of floatQuartiles: the n finite values (in fvals) into scratch, unsorted; returns false. */
  private unsorted(n: number): boolean {
    const s = this.scratch;
    const fv = this.fvals;
    for (let j = 0; j < n; j++) s[j] = fv[j];
    return false;
  }

  /**
   * Turns counts[0 … size] into bucket starts and marks the buckets that hold
   * the ranks r0 ≤ … ≤ r5, listed in marked.
   * False (nothing marked) if one of them holds more than BUCKET_MAX values.
   */
  private markRanks(size: number, r0: number, r1: number, r2: number, r3: number, r4: number, r5: number): boolean {
    const counts = this.counts;
    let acc = 0;
    for (let c = 0; c <= size; c++) {
      const t = counts[c];
      counts[c] = acc;
      acc += t;
    }
    this.nMarked = 0;
    let c = 0;
    for (let t = 0; t < 6; t++) {
      const r = t === 0 ? r0 : t === 1 ? r1 : t === 2 ? r2 : t === 3 ? r3 : t === 4 ? r4 : r5;
      while (counts[c + 1] <= r) c++;
      if (this.nMarked > 0 && this.marked[this.nMarked - 1] === c) continue;
      if (counts[c + 1] - counts[c] > BUCKET_MAX) return false;
      this.marked[this.nMarked++] = c;
    }
    return true;
  }

  /** The float32 value (as float64) of an order key b ^ ((b >> 31) & 0x7fffffff). */
  private decode(key: number): number {
    this.oneBits[0] = key ^ ((key >> 31) & 0x7fffffff);
    return this.oneVal[0];
  }

  /** Quantiles of sorted s[0 … n); MAD by merging |x − median| from the median outwards. */
  private fromSorted(s: Float64Array, k: number, n: number): void {
    const last = n - 1;
    const pm = last * 0.5;
    const mid = Math.floor(pm);
    const median = lerp(s[mid], s[mid < last ? mid + 1 : mid], pm - mid);
    const pl = last * 0.25;
    const il = Math.floor(pl);
    const pu = last * 0.75;
    const iu = Math.floor(pu);
    this.cMed[k] = median;
    this.cLq[k] = lerp(s[il], s[il < last ? il + 1 : il], pl - il);
    this.cUq[k] = lerp(s[iu], s[iu < last ? iu + 1 : iu], pu - iu);
    // Deviations: left of the first value ≥ median they grow leftwards, from there rightwards.
    let r = mid;
    while (r > 0 && s[r - 1] >= median) r--;
    while (r < n && s[r] < median) r++;
    let l = r - 1;
    let d0 = 0;
    let d1 = 0;
    for (let t = 0; t <= mid + 1 && t < n; t++) {
      let d: number;
      if (l < 0) d = s[r++] - median;
      else if (r >= n) d = median - s[l--];
      else {
        const a = median - s[l];
        const c = s[r] - median;
        if (a <= c) {
          d = a;
          l--;
        } else {
          d = c;
          r++;
        }
      }
      if (t === mid) d0 = d;
      else if (t === mid + 1) d1 = d;
    }
    this.cMad[k] = lerp(d0, mid < last ? d1 : d0, pm - mid);
  }

  /** Float path: quantiles by in-place selection in scratch[0 … n). */
  private bySelection(k: number, n: number): void {
    const s = this.scratch;
    const last = n - 1;
    // Median first: afterwards s[0 … mid) ≤ s[mid] ≤ s(mid … n).
    const pm = last * 0.5;
    const mid = Math.floor(pm);
    select(s, 0, last, mid);
    const vm = s[mid];
    const vm1 = mid < last ? minOf(s, mid + 1, last) : vm;
    const median = lerp(vm, vm1, pm - mid);
    // Lower quartile inside [0, mid].
    const pl = last * 0.25;
    const il = Math.floor(pl);
    let vl: number;
    let vl1: number;
    if (il < mid) {
      select(s, 0, mid - 1, il);
      vl = s[il];
      vl1 = il + 1 < mid ? minOf(s, il + 1, mid - 1) : vm;
    } else {
      vl = vm;
      vl1 = vm1;
    }
    // Upper quartile inside [mid, n).
    const pu = last * 0.75;
    const iu = Math.floor(pu);
    let vu: number;
    let vu1: number;
    if (iu > mid) {
      select(s, mid + 1, last, iu);
      vu = s[iu];
      vu1 = iu < last ? minOf(s, iu + 1, last) : vu;
    } else {
      vu = vm;
      vu1 = vm1;
    }
    this.cMed[k] = median;
    this.cLq[k] = lerp(vl, vl1, pl - il);
    this.cUq[k] = lerp(vu, vu1, pu - iu);
    // MAD: median of |x − median|.
    const d = this.scratch2;
    for (let j = 0; j < n; j++) d[j] = Math.abs(s[j] - median);
    select(d, 0, last, mid);
    const dm = d[mid];
    const dm1 = mid < last ? minOf(d, mid + 1, last) : dm;
    this.cMad[k] = lerp(dm, dm1, pm - mid);
  }
}

/** Objects of at most this many finite values are sorted by insertion. */
const SMALL = 48;

/** Reads one value per 64-byte cache line of `image`, front to back; returns their sum. */
export function touchLines(image: IntensityImage): number {
  const step = 64 / image.BYTES_PER_ELEMENT;
  let s = 0;
  for (let i = 0; i < image.length; i += step) s += image[i];
  return s;
}
/** Float32 path: when a bucket to sort holds more than this many values, selection is used instead. */
const BUCKET_MAX = 48;
/** Float32 path: at most 2^BUCKET_BITS buckets. */
const BUCKET_BITS = 15;

/**
 * Float32 path: the number of buckets for n values, a power of two in (n/2, n]: one or two values
 * per bucket keeps the buckets to sort short, while the per-bucket work (counts, starts) stays
 * below the per-value work.
 */
function bucketCount(n: number): number {
  return 1 << Math.min(31 - Math.clz32(n), BUCKET_BITS);
}

function insertionSortInt(s: Int32Array, lo: number, hi: number): void {
  for (let i = lo + 1; i <= hi; i++) {
    const v = s[i];
    let j = i - 1;
    while (j >= lo && s[j] > v) {
      s[j + 1] = s[j];
      j--;
    }
    s[j + 1] = v;
  }
}

function insertionSort(s: Float64Array, lo: number, hi: number): void {
  for (let i = lo + 1; i <= hi; i++) {
    const v = s[i];
    let j = i - 1;
    while (j >= lo && s[j] > v) {
      s[j + 1] = s[j];
      j--;
    }
    s[j + 1] = v;
  }
}

/** numpy's linear interpolation (`_lerp` in numpy 1.24's quantile). */
function lerp(a: number, b: number, t: number): number {
  const diff = b - a;
  return t >= 0.5 ? b - diff * (1 - t) : a + diff * t;
}

function minOf(s: Float64Array, lo: number, hi: number): number {
  let m = s[lo];
  for (let j = lo + 1; j <= hi; j++) if (s[j] < m) m = s[j];
  return m;
}

/**
 * In-place selection (Hoare partition, median-of-three pivot value; Wirth's
 * scheme): afterwards s[k] is the value of rank k within s[lo … hi] (inclusive),
 * s[lo … k) ≤ s[k] ≤ s(k … hi]. Values are finite. Equal values stop both scans,
 * so long runs of ties (saturated pixels) partition evenly.
 */
function select(s: Float64Array, lo: number, hi: number, k: number): void {
  while (hi - lo > 16) {
    const midIdx = (lo + hi) >>> 1;
    const a = s[lo];
    const b = s[midIdx];
    const c = s[hi];
    const x = a < b ? (b < c ? b : a < c ? c : a) : a < c ? a : b < c ? c : b;
    let i = lo;
    let j = hi;
    do {
      while (s[i] < x) i++;
      while (x < s[j]) j--;
      if (i <= j) {
        const t = s[i];
        s[i] = s[j];
        s[j] = t;
        i++;
        j--;
      }
    } while (i <= j);
    // Now s[lo … j] ≤ x, s[i … hi] ≥ x and s(j … i) = x.
    if (j < k && k < i) return;
    if (j < k) lo = i;
    else hi = j;
  }
  insertionSort(s, lo, hi); // small range
}
