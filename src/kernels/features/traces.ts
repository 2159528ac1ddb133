/**
 * Incremental per-object time series (`Trace_` features, DESIGN.md): running
 * mean/std (Welford), min/max, an exponential moving average with a time
 * constant, a causal baseline F0 (trailing-window percentile or maximin),
 * ΔF/F = (F − F0)/F0 and event detection on ΔF/F. Every formula and the cost
 * of each step is in docs/traces.md.
 *
 * State is kept between frames, nothing re-scans an object's history. All
 * per-object state lives in flat typed arrays allocated in the constructor;
 * `update` allocates nothing except one plain object per event fired.
 *
 * A NaN value in `update` means "no measurement for this object this frame":
 * its state is left unchanged, its columns keep their values, except
 * Trace_DeltaFOverF, which is NaN for that frame (there is no F to relate).
 */
import { allocColumns, type FeatureColumns } from './columns.js';

export type TraceBaseline = 'percentile' | 'maximin';

export interface TraceOptions {
  /** EMA time constant in ms; α = 1 − exp(−Δt/τ) with Δt the object's actual gap. Default 2000. */
  tauMs?: number;
  /** Baseline F0 method. Default 'percentile'. */
  baseline?: TraceBaseline;
  /** Trailing baseline window in ms: samples with t > tNow − window. Default 30000. */
  baselineWindowMs?: number;
  /** Percentile (0..100) of the trailing window, numpy 'linear' interpolation. Default 8. */
  baselinePercentile?: number;
  /** Cap on the samples per object in the baseline window (ring capacity). Default 1024. */
  maxWindowFrames?: number;
  /** Event threshold: median + k·σ of recent ΔF/F. Default 3. */
  eventK?: number;
  /** Number of recent ΔF/F samples for the median and the MAD. Default 200. */
  eventWindowFrames?: number;
  /** No event within this many ms after the previous one of the same object. Default 1000. */
  refractoryMs?: number;
  /** No event before this many ΔF/F samples are in the window. Default 20. */
  minEventSamples?: number;
}

export interface TraceEvent {
  /** Object index (position in the ObjectIndex / columns). */
  object: number;
  tMs: number;
  /** ΔF/F at the crossing. */
  amplitude: number;
}

export const TRACE_NAMES = [
  'Trace_RunningMean',
  'Trace_RunningStd',
  'Trace_Min',
  'Trace_Max',
  'Trace_EMA',
  'Trace_Baseline',
  'Trace_DeltaFOverF',
  'Trace_EventCount',
] as const;

/** 1/Φ⁻¹(3/4): MAD → σ for Gaussian noise. */
const MAD_TO_SIGMA = 1.482602218505602;

/**
 * numpy.percentile(x, q) ('linear': position (n−1)·q/100) of the sorted
 * values s[base .. base+n). n ≥ 1.
 */
export function percentileSorted(s: Float64Array, base: number, n: number, q: number): number {
  const h = ((n - 1) * q) / 100;
  const lo = Math.floor(h);
  const hi = lo + 1 < n ? lo + 1 : n - 1;
  const a = s[base + lo];
  return a + (h - lo) * (s[base + hi] - a);
}

/** numpy.median of the sorted values s[base .. base+n). n ≥ 1. */
export function medianSorted(s: Float64Array, base: number, n: number): number {
  const h = n >> 1;
  return n & 1 ? s[base + h] : 0.5 * (s[base + h - 1] + s[base + h]);
}

/**
 * median(|x − med|) of the sorted values s[base .. base+n) with med their
 * median, without a scratch array: the distances left of the median (read
 * right to left) and right of it (left to right) are two sorted lists; a merge
 * walk of ⌊n/2⌋+1 steps reaches the middle one(s). O(n/2).
 */
export function madSorted(s: Float64Array, base: number, n: number, med: number): number {
  const kLo = (n - 1) >> 1;
  const kHi = n >> 1;
  let l = base + ((n + 1) >> 1) - 1;
  let r = l + 1;
  const lEnd = base - 1;
  const rEnd = base + n;
  let dLo = 0;
  let d = 0;
  for (let k = 0; k <= kHi; k++) {
    if (r >= rEnd || (l > lEnd && med - s[l] <= s[r] - med)) {
      d = med - s[l];
      l--;
    } else {
      d = s[r] - med;
      r++;
    }
    if (k === kLo) dLo = d;
  }
  return kLo === kHi ? d : 0.5 * (dLo + d);
}

/** First position p in s[base .. base+n) with s[p] ≥ v (relative to base). */
function lowerBound(s: Float64Array, base: number, n: number, v: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (s[base + mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function sortedInsert(s: Float64Array, base: number, n: number, v: number): void {
  const p = lowerBound(s, base, n, v);
  if (p < n) s.copyWithin(base + p + 1, base + p, base + n);
  s[base + p] = v;
}

function sortedRemove(s: Float64Array, base: number, n: number, v: number): void {
  const p = lowerBound(s, base, n, v);
  if (p + 1 < n) s.copyWithin(base + p, base + p + 1, base + n);
}

/**
 * Replace one occurrence of `old` by `v` in the sorted s[base .. base+n),
 * moving only the elements between the two positions (one memmove of |p − q|
 * instead of two of ~n/2 for a remove then an insert).
 */
function sortedReplace(s: Float64Array, base: number, n: number, old: number, v: number): void {
  const p = lowerBound(s, base, n, old);
  if (v >= old) {
    const q = lowerBound(s, base, n, v);
    if (q - 1 > p) s.copyWithin(base + p, base + p + 1, base + q);
    s[base + q - 1] = v;
  } else {
    const q = lowerBound(s, base, p, v);
    if (p > q) s.copyWithin(base + q + 1, base + q, base + p);
    s[base + q] = v;
  }
}

function positive(name: string, v: number): number {
  if (!(v > 0) || !Number.isFinite(v)) throw new RangeError(`${name} must be a positive finite number, got ${v}`);
  return v;
}

function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`);
  return v;
}

export class TraceFeatures {
  readonly columns: FeatureColumns;
  readonly count: number;
  readonly tauMs: number;
  readonly baseline: TraceBaseline;
  readonly baselineWindowMs: number;
  readonly baselinePercentile: number;
  readonly maxWindowFrames: number;
  readonly eventK: number;
  readonly eventWindowFrames: number;
  readonly refractoryMs: number;
  readonly minEventSamples: number;

  private readonly cMean: Float64Array;
  private readonly cStd: Float64Array;
  private readonly cMin: Float64Array;
  private readonly cMax: Float64Array;
  private readonly cEma: Float64Array;
  private readonly cF0: Float64Array;
  private readonly cDff: Float64Array;
  private readonly cEvents: Float64Array;

  /** Welford: valid-sample count and sum of squared deviations. */
  private readonly n: Float64Array;
  private readonly m2: Float64Array;
  /** Time of the object's last valid sample (EMA Δt). */
  private readonly lastT: Float64Array;
  /** Per-object valid-sample sequence number (count cap of the windows). */
  private readonly seq: Float64Array;

  // Percentile baseline: ring of (t, F) and the same values sorted.
  private readonly ringT: Float64Array;
  private readonly ringF: Float64Array;
  private readonly ringHead: Int32Array;
  private readonly ringLen: Int32Array;
  private readonly sortedF: Float64Array;

  // Maximin baseline: monotonic deques (ring buffers) of (t, seq, value).
  private readonly minT: Float64Array;
  private readonly minS: Float64Array;
  private readonly minV: Float64Array;
  private readonly minHead: Int32Array;
  private readonly minLen: Int32Array;
  private readonly maxT: Float64Array;
  private readonly maxS: Float64Array;
  private readonly maxV: Float64Array;
  private readonly maxHead: Int32Array;
  private readonly maxLen: Int32Array;

  // Events: ring of recent ΔF/F and the same values sorted.
  private readonly evRing: Float64Array;
  private readonly evSorted: Float64Array;
  private readonly evHead: Int32Array;
  private readonly evLen: Int32Array;
  private readonly above: Uint8Array;
  private readonly lastEventT: Float64Array;

  constructor(count: number, opts: TraceOptions = {}) {
    if (!Number.isInteger(count) || count < 0) throw new RangeError(`count must be a non-negative integer, got ${count}`);
    this.count = count;
    this.tauMs = positive('tauMs', opts.tauMs ?? 2000);
    this.baseline = opts.baseline ?? 'percentile';
    if (this.baseline !== 'percentile' && this.baseline !== 'maximin') {
      throw new RangeError(`baseline must be 'percentile' or 'maximin', got ${String(this.baseline)}`);
    }
    this.baselineWindowMs = positive('baselineWindowMs', opts.baselineWindowMs ?? 30000);
    this.baselinePercentile = opts.baselinePercentile ?? 8;
    if (!(this.baselinePercentile >= 0 && this.baselinePercentile <= 100)) {
      throw new RangeError(`baselinePercentile must be in [0, 100], got ${this.baselinePercentile}`);
    }
    this.maxWindowFrames = positiveInt('maxWindowFrames', opts.maxWindowFrames ?? 1024);
    this.eventK = positive('eventK', opts.eventK ?? 3);
    this.eventWindowFrames = positiveInt('eventWindowFrames', opts.eventWindowFrames ?? 200);
    this.refractoryMs = opts.refractoryMs ?? 1000;
    if (!(this.refractoryMs >= 0) || !Number.isFinite(this.refractoryMs)) {
      throw new RangeError(`refractoryMs must be a finite number ≥ 0, got ${this.refractoryMs}`);
    }
    this.minEventSamples = positiveInt('minEventSamples', opts.minEventSamples ?? 20);
    if (this.minEventSamples > this.eventWindowFrames) {
      throw new RangeError(`minEventSamples (${this.minEventSamples}) > eventWindowFrames (${this.eventWindowFrames}): no event could ever fire`);
    }

    this.columns = allocColumns(TRACE_NAMES, count);
    this.cMean = this.columns.Trace_RunningMean;
    this.cStd = this.columns.Trace_RunningStd;
    this.cMin = this.columns.Trace_Min;
    this.cMax = this.columns.Trace_Max;
    this.cEma = this.columns.Trace_EMA;
    this.cF0 = this.columns.Trace_Baseline;
    this.cDff = this.columns.Trace_DeltaFOverF;
    this.cEvents = this.columns.Trace_EventCount;

    this.n = new Float64Array(count);
    this.m2 = new Float64Array(count);
    this.lastT = new Float64Array(count);
    this.seq = new Float64Array(count);

    const W = this.maxWindowFrames;
    const pct = this.baseline === 'percentile';
    const wP = pct ? count * W : 0;
    const wM = pct ? 0 : count * W;
    this.ringT = new Float64Array(wP);
    this.ringF = new Float64Array(wP);
    this.sortedF = new Float64Array(wP);
    this.ringHead = new Int32Array(pct ? count : 0);
    this.ringLen = new Int32Array(pct ? count : 0);
    this.minT = new Float64Array(wM);
    this.minS = new Float64Array(wM);
    this.minV = new Float64Array(wM);
    this.maxT = new Float64Array(wM);
    this.maxS = new Float64Array(wM);
    this.maxV = new Float64Array(wM);
    this.minHead = new Int32Array(pct ? 0 : count);
    this.minLen = new Int32Array(pct ? 0 : count);
    this.maxHead = new Int32Array(pct ? 0 : count);
    this.maxLen = new Int32Array(pct ? 0 : count);

    const E = this.eventWindowFrames;
    this.evRing = new Float64Array(count * E);
    this.evSorted = new Float64Array(count * E);
    this.evHead = new Int32Array(count);
    this.evLen = new Int32Array(count);
    this.above = new Uint8Array(count);
    this.lastEventT = new Float64Array(count);
    this.reset();
  }

  /** Forget every object's history (columns back to NaN, event counts to 0). */
  reset(): void {
    for (const name of TRACE_NAMES) this.columns[name].fill(NaN);
    this.cEvents.fill(0);
    this.n.fill(0);
    this.m2.fill(0);
    this.lastT.fill(0);
    this.seq.fill(0);
    this.ringHead.fill(0);
    this.ringLen.fill(0);
    this.minHead.fill(0);
    this.minLen.fill(0);
    this.maxHead.fill(0);
    this.maxLen.fill(0);
    this.evHead.fill(0);
    this.evLen.fill(0);
    this.above.fill(0);
    this.lastEventT.fill(-Infinity);
  }

  /**
   * One frame: `values[k]` is object k's F (NaN = missing: state unchanged),
   * `tMs` the frame time (non-decreasing). Events fired this frame are pushed
   * onto `events`.
   */
  update(values: Float64Array, tMs: number, events: TraceEvent[]): void {
    if (values.length < this.count) throw new RangeError(`values has ${values.length} entries, need ${this.count}`);
    const pct = this.baseline === 'percentile';
    for (let k = 0; k < this.count; k++) {
      const x = values[k];
      if (!Number.isFinite(x)) {
        this.cDff[k] = NaN;
        continue;
      }
      // Welford, min, max, EMA.
      const n = this.n[k] + 1;
      this.n[k] = n;
      if (n === 1) {
        this.cMean[k] = x;
        this.m2[k] = 0;
        this.cMin[k] = x;
        this.cMax[k] = x;
        this.cEma[k] = x;
      } else {
        const mean = this.cMean[k];
        const d = x - mean;
        const mean2 = mean + d / n;
        this.cMean[k] = mean2;
        this.m2[k] += d * (x - mean2);
        if (x < this.cMin[k]) this.cMin[k] = x;
        if (x > this.cMax[k]) this.cMax[k] = x;
        const dt = tMs - this.lastT[k];
        const alpha = dt > 0 ? 1 - Math.exp(-dt / this.tauMs) : 0;
        this.cEma[k] += alpha * (x - this.cEma[k]);
      }
      this.cStd[k] = Math.sqrt(this.m2[k] / n);
      this.lastT[k] = tMs;
      const s = this.seq[k] + 1;
      this.seq[k] = s;

      const f0 = pct ? this.percentileStep(k, x, tMs) : this.maximinStep(k, x, tMs, s);
      this.cF0[k] = f0;
      const dff = f0 > 0 ? (x - f0) / f0 : NaN;
      this.cDff[k] = dff;
      if (Number.isFinite(dff)) this.eventStep(k, dff, tMs, events);
    }
  }

  private percentileStep(k: number, x: number, tMs: number): number {
    const W = this.maxWindowFrames;
    const base = k * W;
    let head = this.ringHead[k];
    let len = this.ringLen[k];
    const tCut = tMs - this.baselineWindowMs;
    // Drop samples older than the window, and the oldest one if the ring is full.
    // The last one dropped is replaced by x in the sorted array in one move.
    let sLen = len;
    let pending = false;
    let pv = 0;
    while (len > 0 && (len === W || this.ringT[base + head] <= tCut)) {
      if (pending) sortedRemove(this.sortedF, base, sLen--, pv);
      pv = this.ringF[base + head];
      pending = true;
      head = head + 1 === W ? 0 : head + 1;
      len--;
    }
    let tail = head + len;
    if (tail >= W) tail -= W;
    this.ringT[base + tail] = tMs;
    this.ringF[base + tail] = x;
    if (pending) sortedReplace(this.sortedF, base, sLen, pv, x);
    else sortedInsert(this.sortedF, base, sLen, x);
    len++;
    this.ringHead[k] = head;
    this.ringLen[k] = len;
    return percentileSorted(this.sortedF, base, len, this.baselinePercentile);
  }

  private maximinStep(k: number, x: number, tMs: number, s: number): number {
    const W = this.maxWindowFrames;
    const base = k * W;
    const tCut = tMs - this.baselineWindowMs;
    const sCut = s - W;
    // Stage 1: m = min of F over the trailing window (increasing deque).
    // Expire the front first: then at most W − 1 entries remain and the push fits.
    let head = this.minHead[k];
    let len = this.minLen[k];
    while (len > 0 && (this.minT[base + head] <= tCut || this.minS[base + head] <= sCut)) {
      head = head + 1 === W ? 0 : head + 1;
      len--;
    }
    while (len > 0) {
      let b = head + len - 1;
      if (b >= W) b -= W;
      if (this.minV[base + b] >= x) len--;
      else break;
    }
    let tail = head + len;
    if (tail >= W) tail -= W;
    this.minT[base + tail] = tMs;
    this.minS[base + tail] = s;
    this.minV[base + tail] = x;
    len++;
    this.minHead[k] = head;
    this.minLen[k] = len;
    const m = this.minV[base + head];
    // Stage 2: F0 = max of m over the trailing window (decreasing deque).
    head = this.maxHead[k];
    len = this.maxLen[k];
    while (len > 0 && (this.maxT[base + head] <= tCut || this.maxS[base + head] <= sCut)) {
      head = head + 1 === W ? 0 : head + 1;
      len--;
    }
    while (len > 0) {
      let b = head + len - 1;
      if (b >= W) b -= W;
      if (this.maxV[base + b] <= m) len--;
      else break;
    }
    tail = head + len;
    if (tail >= W) tail -= W;
    this.maxT[base + tail] = tMs;
    this.maxS[base + tail] = s;
    this.maxV[base + tail] = m;
    len++;
    this.maxHead[k] = head;
    this.maxLen[k] = len;
    return this.maxV[base + head];
  }

  private eventStep(k: number, dff: number, tMs: number, events: TraceEvent[]): void {
    const E = this.eventWindowFrames;
    const base = k * E;
    const len = this.evLen[k];
    // Test the new sample against the window of the previous ones.
    let above = 0;
    if (len >= this.minEventSamples) {
      const med = medianSorted(this.evSorted, base, len);
      if (dff > med) {
        const sigma = MAD_TO_SIGMA * madSorted(this.evSorted, base, len, med);
        if (sigma > 0 && dff > med + this.eventK * sigma) above = 1;
      }
    }
    if (above && !this.above[k] && tMs - this.lastEventT[k] >= this.refractoryMs) {
      this.lastEventT[k] = tMs;
      this.cEvents[k] += 1;
      events.push({ object: k, tMs, amplitude: dff });
    }
    this.above[k] = above;
    // Add it to the window (replacing the oldest when full).
    const head = this.evHead[k];
    if (len === E) {
      sortedReplace(this.evSorted, base, len, this.evRing[base + head], dff);
      this.evRing[base + head] = dff;
      this.evHead[k] = head + 1 === E ? 0 : head + 1;
    } else {
      let tail = head + len;
      if (tail >= E) tail -= E;
      this.evRing[base + tail] = dff;
      sortedInsert(this.evSorted, base, len, dff);
      this.evLen[k] = len + 1;
    }
  }
}
