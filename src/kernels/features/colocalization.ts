/**
 * Per-object colocalization of two channels (CellProfiler MeasureColocalization
 * names), one pass per statistic family over the CSR pixel index (ObjectIndex):
 * no per-object masks, no full-image scan per object. Every formula, and every
 * place where it departs from CellProfiler, is defined in docs/features.md
 * ("## Colocalization").
 *
 * All buffers (columns and, with `rwc`, the rank scratch of the largest
 * object's size) are allocated in the constructor; `compute` allocates nothing.
 * Accumulation is in float64. A pixel whose value is non-finite (NaN, ±Inf) in
 * either channel is left out of every statistic (the pair is dropped). A value
 * that is undefined for an object (Pearson of fewer than 2 pairs or of a
 * constant channel, a ratio with a zero denominator) is NaN (null in records).
 */
import type { ObjectIndex } from '../objectIndex.js';
import { allocColumns, type FeatureColumns } from './columns.js';

export type ColocalizationImage = Float32Array | Uint16Array | Uint8Array;

export interface ColocalizationOptions {
  /**
   * Threshold of each channel as a fraction of that channel's maximum over the
   * object (CellProfiler: "Set threshold as percentage of maximum intensity",
   * 15 %). In [0, 1]. Default 0.15.
   */
  thresholdFraction?: number;
  /** Allocate and compute the rank-weighted coefficients RWC1/RWC2. Default false. */
  rwc?: boolean;
}

const BASE_NAMES = [
  'Correlation_Pearson',
  'Correlation_Slope',
  'Correlation_M1',
  'Correlation_M2',
  'Correlation_Overlap',
  'Correlation_K1',
  'Correlation_K2',
] as const;

const RWC_NAMES = ['Correlation_RWC1', 'Correlation_RWC2'] as const;

/** √(a·b) for a, b ≥ 0: exact when a = b (√(a²) = a in IEEE arithmetic), without overflow. */
function root(a: number, b: number): number {
  const r = Math.sqrt(a * b);
  return r === Infinity ? Math.sqrt(a) * Math.sqrt(b) : r;
}

/** Objects with at most this many pairs are rank-sorted by insertion, larger ones by radix. */
const SMALL = 32;

export class ColocalizationFeatures {
  readonly columns: FeatureColumns;
  readonly rwc: boolean;
  readonly thresholdFraction: number;
  private readonly index: ObjectIndex;
  private readonly cPearson: Float64Array;
  private readonly cSlope: Float64Array;
  private readonly cM1: Float64Array;
  private readonly cM2: Float64Array;
  private readonly cOverlap: Float64Array;
  private readonly cK1: Float64Array;
  private readonly cK2: Float64Array;
  private readonly cRwc1: Float64Array;
  private readonly cRwc2: Float64Array;
  // Rank scratch (length = largest object's pixel count; empty without rwc).
  private readonly v1: Float64Array;
  private readonly v2: Float64Array;
  private readonly key1: Uint32Array;
  private readonly key2: Uint32Array;
  private readonly rank1: Int32Array;
  private readonly rank2: Int32Array;
  private readonly order: Int32Array;
  private readonly order2: Int32Array;
  private readonly counts: Int32Array;
  /** One float32 and its bits, for the sortable key of a float32 value. */
  private readonly f32: Float32Array;
  private readonly u32: Uint32Array;

  static names(rwc: boolean): string[] {
    return rwc ? [...BASE_NAMES, ...RWC_NAMES] : [...BASE_NAMES];
  }

  constructor(index: ObjectIndex, opts: ColocalizationOptions = {}) {
    const fraction = opts.thresholdFraction ?? 0.15;
    if (!(fraction >= 0 && fraction <= 1)) {
      throw new RangeError(`thresholdFraction must be a number in [0, 1], got ${fraction}`);
    }
    this.index = index;
    this.thresholdFraction = fraction;
    this.rwc = opts.rwc ?? false;
    const count = index.count;
    this.columns = allocColumns(ColocalizationFeatures.names(this.rwc), count);
    for (const col of Object.values(this.columns)) col.fill(NaN); // undefined until the first compute()
    const c = this.columns;
    this.cPearson = c.Correlation_Pearson;
    this.cSlope = c.Correlation_Slope;
    this.cM1 = c.Correlation_M1;
    this.cM2 = c.Correlation_M2;
    this.cOverlap = c.Correlation_Overlap;
    this.cK1 = c.Correlation_K1;
    this.cK2 = c.Correlation_K2;
    const none = new Float64Array(0);
    this.cRwc1 = c.Correlation_RWC1 ?? none;
    this.cRwc2 = c.Correlation_RWC2 ?? none;
    let maxSize = 0;
    for (let k = 0; k < count; k++) maxSize = Math.max(maxSize, index.offsets[k + 1] - index.offsets[k]);
    const m = this.rwc ? maxSize : 0;
    this.v1 = new Float64Array(m);
    this.v2 = new Float64Array(m);
    this.key1 = new Uint32Array(m);
    this.key2 = new Uint32Array(m);
    this.rank1 = new Int32Array(m);
    this.rank2 = new Int32Array(m);
    this.order = new Int32Array(m);
    this.order2 = new Int32Array(m);
    this.counts = new Int32Array(256);
    this.f32 = new Float32Array(1);
    this.u32 = new Uint32Array(this.f32.buffer);
  }

  /**
   * Computes every feature of the pair (ch1, ch2) (width × height of the
   * index, raster order) into `columns`. Allocates nothing.
   */
  compute(ch1: ColocalizationImage, ch2: ColocalizationImage): void {
    const index = this.index;
    const n0 = index.width * index.height;
    if (ch1.length < n0 || ch2.length < n0) {
      throw new RangeError(
        `channels have ${ch1.length} and ${ch2.length} pixels, expected ${index.width}×${index.height}`,
      );
    }
    const count = index.count;
    const pixels = index.pixels;
    const offsets = index.offsets;
    const fraction = this.thresholdFraction;
    for (let k = 0; k < count; k++) {
      const a = offsets[k];
      const b = offsets[k + 1];
      // Pass 1: pair count, Σc1, Σc2, min and max of each channel.
      let n = 0;
      let s1 = 0;
      let s2 = 0;
      let min1 = Infinity;
      let max1 = -Infinity;
      let min2 = Infinity;
      let max2 = -Infinity;
      for (let p = a; p < b; p++) {
        const i = pixels[p];
        const x = ch1[i];
        const y = ch2[i];
        if (x - x !== 0 || y - y !== 0) continue; // NaN or ±Inf in either channel
        n++;
        s1 += x;
        s2 += y;
        if (x < min1) min1 = x;
        if (x > max1) max1 = x;
        if (y < min2) min2 = y;
        if (y > max2) max2 = y;
      }
      if (n === 0) {
        this.cPearson[k] = NaN;
        this.cSlope[k] = NaN;
        this.cM1[k] = NaN;
        this.cM2[k] = NaN;
        this.cOverlap[k] = NaN;
        this.cK1[k] = NaN;
        this.cK2[k] = NaN;
        if (this.rwc) {
          this.cRwc1[k] = NaN;
          this.cRwc2[k] = NaN;
        }
        continue;
      }
      const m1 = s1 / n;
      const m2 = s2 / n;
      const t1 = fraction * max1;
      const t2 = fraction * max2;
      // Pass 2: centred second moments (two-pass) and the thresholded sums.
      let sxx = 0;
      let syy = 0;
      let sxy = 0;
      let tot1 = 0; // Σ c1 over c1 ≥ t1
      let tot2 = 0; // Σ c2 over c2 ≥ t2
      let both1 = 0; // Σ c1 over c1 ≥ t1 and c2 ≥ t2
      let both2 = 0;
      let q1 = 0; // Σ c1² over both
      let q2 = 0;
      let pr = 0; // Σ c1·c2 over both
      for (let p = a; p < b; p++) {
        const i = pixels[p];
        const x = ch1[i];
        const y = ch2[i];
        if (x - x !== 0 || y - y !== 0) continue;
        const dx = x - m1;
        const dy = y - m2;
        sxx += dx * dx;
        syy += dy * dy;
        sxy += dx * dy;
        const above1 = x >= t1;
        const above2 = y >= t2;
        if (above1) tot1 += x;
        if (above2) tot2 += y;
        if (above1 && above2) {
          both1 += x;
          both2 += y;
          q1 += x * x;
          q2 += y * y;
          pr += x * y;
        }
      }
      const const1 = min1 === max1;
      const const2 = min2 === max2;
      if (n < 2 || const1 || const2) {
        this.cPearson[k] = NaN;
      } else {
        const r = sxy / root(sxx, syy);
        this.cPearson[k] = r > 1 ? 1 : r < -1 ? -1 : r;
      }
      this.cSlope[k] = const1 ? NaN : sxy / sxx;
      this.cM1[k] = tot1 === 0 ? NaN : both1 / tot1;
      this.cM2[k] = tot2 === 0 ? NaN : both2 / tot2;
      const qq = root(q1, q2);
      this.cOverlap[k] = qq === 0 ? NaN : pr / qq;
      this.cK1[k] = q1 === 0 ? NaN : pr / q1;
      this.cK2[k] = q2 === 0 ? NaN : pr / q2;
      if (this.rwc) this.rwcOf(ch1, ch2, k, n, t1, t2, tot1, tot2);
    }
  }

  /**
   * RWC1/RWC2 of object k (n finite pairs, thresholds t1/t2, denominators
   * tot1/tot2 from compute): dense 0-based ascending ranks of each channel over
   * the object's pairs, R = max(maxRank1, maxRank2) + 1, w = (R − |r1 − r2|)/R.
   */
  private rwcOf(
    ch1: ColocalizationImage,
    ch2: ColocalizationImage,
    k: number,
    n: number,
    t1: number,
    t2: number,
    tot1: number,
    tot2: number,
  ): void {
    const pixels = this.index.pixels;
    const a = this.index.offsets[k];
    const b = this.index.offsets[k + 1];
    const v1 = this.v1;
    const v2 = this.v2;
    const key1 = this.key1;
    const key2 = this.key2;
    let j = 0;
    for (let p = a; p < b; p++) {
      const i = pixels[p];
      const x = ch1[i];
      const y = ch2[i];
      if (x - x !== 0 || y - y !== 0) continue;
      v1[j] = x;
      v2[j] = y;
      j++;
    }
    const passes1 = this.keysOf(ch1, v1, key1, n);
    const passes2 = this.keysOf(ch2, v2, key2, n);
    const r1 = this.denseRanks(v1, key1, n, passes1, this.rank1);
    const r2 = this.denseRanks(v2, key2, n, passes2, this.rank2);
    const R = (r1 > r2 ? r1 : r2) + 1;
    const rank1 = this.rank1;
    const rank2 = this.rank2;
    let num1 = 0;
    let num2 = 0;
    for (let q = 0; q < n; q++) {
      const x = v1[q];
      const y = v2[q];
      if (x >= t1 && y >= t2) {
        const d = rank1[q] - rank2[q];
        const w = (R - (d < 0 ? -d : d)) / R;
        num1 += x * w;
        num2 += y * w;
      }
    }
    this.cRwc1[k] = tot1 === 0 ? NaN : num1 / tot1;
    this.cRwc2[k] = tot2 === 0 ? NaN : num2 / tot2;
  }

  /**
   * Unsigned sort keys of v[0 … n) (same order as the values; ±0 differ in
   * key but are adjacent, and are ranked as equal by value) and the number of
   * 8-bit radix passes they need.
   */
  private keysOf(img: ColocalizationImage, v: Float64Array, key: Uint32Array, n: number): number {
    if (img instanceof Uint8Array) {
      for (let j = 0; j < n; j++) key[j] = v[j];
      return 1;
    }
    if (img instanceof Uint16Array) {
      for (let j = 0; j < n; j++) key[j] = v[j];
      return 2;
    }
    const f32 = this.f32;
    const u32 = this.u32;
    for (let j = 0; j < n; j++) {
      f32[0] = v[j];
      const u = u32[0];
      key[j] = u & 0x80000000 ? ~u >>> 0 : (u | 0x80000000) >>> 0;
    }
    return 4;
  }

  /** Dense 0-based ascending ranks of v[0 … n) into rank; returns the largest rank. */
  private denseRanks(v: Float64Array, key: Uint32Array, n: number, passes: number, rank: Int32Array): number {
    let ord = this.order;
    if (n <= SMALL) {
      for (let j = 0; j < n; j++) {
        const kj = key[j];
        let t = j - 1;
        while (t >= 0 && key[ord[t]] > kj) {
          ord[t + 1] = ord[t];
          t--;
        }
        ord[t + 1] = j;
      }
    } else {
      let src = this.order;
      let dst = this.order2;
      for (let j = 0; j < n; j++) src[j] = j;
      const counts = this.counts;
      for (let pass = 0; pass < passes; pass++) {
        const shift = pass * 8;
        counts.fill(0);
        for (let j = 0; j < n; j++) counts[(key[j] >>> shift) & 255]++;
        if (counts[(key[0] >>> shift) & 255] === n) continue; // one bucket: nothing to do
        let acc = 0;
        for (let c = 0; c < 256; c++) {
          const t = counts[c];
          counts[c] = acc;
          acc += t;
        }
        for (let j = 0; j < n; j++) {
          const e = src[j];
          dst[counts[(key[e] >>> shift) & 255]++] = e;
        }
        const t = src;
        src = dst;
        dst = t;
      }
      ord = src;
    }
    let r = 0;
    let prev = v[ord[0]];
    rank[ord[0]] = 0;
    for (let t = 1; t < n; t++) {
      const e = ord[t];
      const x = v[e];
      if (x !== prev) r++;
      rank[e] = r;
      prev = x;
    }
    return r;
  }
}
