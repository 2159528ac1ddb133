/**
 * Object tracking for `objects.mode: tracked`: links the objects of each
 * registered frame's label image to those of the previous frame and keeps
 * stable track ids, with births and deaths. See docs/tracking.md.
 *
 * Linking, per frame:
 *  1. Overlap. One pass over the runs of each row (src/kernels/runs.ts)
 *     counts the overlap of every (current label, previous label) pair, in an
 *     open-addressing hash of the pair keys (no N×M matrix; the previous
 *     frame's runs are kept internally).
 *     Pairs with overlap ≥ minOverlap are taken greedily by descending overlap
 *     (ties: ascending current label, then ascending previous label); each
 *     current and each previous object is used at most once. So at a split the
 *     piece with the largest overlap keeps the id, and at a merge the previous
 *     object with the largest overlap gives its id.
 *  2. Nearest centroid. The current objects still unassigned are paired with
 *     the still-unassigned previous objects whose centroid lies within
 *     maxDisplacement (Euclidean, inclusive), greedily by ascending distance
 *     (ties: ascending current label, then ascending previous label).
 *  3. The current objects still unassigned are births (new ids, never reused);
 *     the previous objects still unassigned are deaths.
 *
 * Pure numeric code: no I/O, no Node APIs.
 */
import { Runs, runsFromLabels } from './runs.js';

export interface TrackerOptions {
  /** Largest centroid displacement (px) between consecutive frames for the nearest-centroid link. */
  maxDisplacement: number;
  /** Smallest overlap (pixels) that links by overlap (default 1). */
  minOverlap?: number;
}

/**
 * The result of one `update()`. Index i is the current object with label i + 1.
 * The typed arrays are views on the tracker's buffers: valid until the next
 * `update()` or `reset()` (copy them to keep them).
 */
export interface TrackFrame {
  count: number;
  /** Track id per current object: stable across frames, new for births, never reused (from 1). */
  trackIds: Int32Array;
  /** Track ids born at this frame, ascending. */
  births: number[];
  /** Track ids that ended at this frame (present in the previous frame, not in this one), ascending. */
  deaths: number[];
  /** Centroid (mean pixel coordinates; X = column, Y = row). */
  centroidX: Float64Array;
  centroidY: Float64Array;
  /** Distance (px) of the centroid from the track's first centroid (0 on its first frame). */
  displacement: Float64Array;
  /** Centroid distance since the previous frame / Δt, in px/s; NaN on a track's first frame or when Δt ≤ 0. */
  speed: Float64Array;
}

/** Per-frame object state; two of these are swapped (current ↔ previous). */
class ObjectState {
  capacity = 0;
  trackIds = new Int32Array(0);
  cx = new Float64Array(0);
  cy = new Float64Array(0);
  firstX = new Float64Array(0);
  firstY = new Float64Array(0);
  displacement = new Float64Array(0);
  speed = new Float64Array(0);
  area = new Int32Array(0);

  ensure(n: number): void {
    if (n <= this.capacity) return;
    const c = Math.max(n, this.capacity * 2, 64);
    this.capacity = c;
    this.trackIds = new Int32Array(c);
    this.cx = new Float64Array(c);
    this.cy = new Float64Array(c);
    this.firstX = new Float64Array(c);
    this.firstY = new Float64Array(c);
    this.displacement = new Float64Array(c);
    this.speed = new Float64Array(c);
    this.area = new Int32Array(c);
  }
}

const EMPTY = -1;

export class ObjectTracker {
  readonly maxDisplacement: number;
  readonly minOverlap: number;
  /** The previous frame's objects, as runs. */
  private readonly prevRuns: Runs;
  /** update(): the runs of the label image given. */
  private readonly labelRuns: Runs;
  private cur = new ObjectState();
  private prev = new ObjectState();
  private prevCount = 0;
  private prevT = NaN;
  private nextId = 1;
  // Pair hash (open addressing, linear probing): keys (c, p), counts.
  private hashCap = 0;
  private hashC = new Int32Array(0);
  private hashP = new Int32Array(0);
  private hashN = new Int32Array(0);
  private used = new Int32Array(0); // occupied slots, in insertion order
  private usedCount = 0;
  // Candidate lists (phase 1 and 2): current label, previous label, score.
  private candC = new Int32Array(0);
  private candP = new Int32Array(0);
  private candS = new Float64Array(0);
  private order = new Int32Array(0);
  private curAssigned = new Uint8Array(0);
  private prevUsed = new Uint8Array(0);
  private sortedPrev = new Int32Array(0);
  private readonly byScore = (a: number, b: number): number => {
    const s = this.candS;
    return s[a] - s[b] || this.candC[a] - this.candC[b] || this.candP[a] - this.candP[b];
  };
  private sortX = new Float64Array(0);
  private readonly byPrevX = (a: number, b: number): number => this.sortX[a] - this.sortX[b] || a - b;

  constructor(
    readonly width: number,
    readonly height: number,
    opts: TrackerOptions,
  ) {
    if (!(Number.isInteger(width) && width > 0 && Number.isInteger(height) && height > 0)) {
      throw new RangeError(`tracker size must be positive integers, got ${width}×${height}`);
    }
    if (!(opts.maxDisplacement >= 0)) {
      throw new RangeError(`maxDisplacement must be ≥ 0, got ${opts.maxDisplacement}`);
    }
    const minOverlap = opts.minOverlap ?? 1;
    if (!(minOverlap >= 1)) throw new RangeError(`minOverlap must be ≥ 1 pixel, got ${minOverlap}`);
    this.maxDisplacement = opts.maxDisplacement;
    this.minOverlap = minOverlap;
    this.prevRuns = new Runs(width, height);
    this.labelRuns = new Runs(width, height);
    this.growHash(1024);
  }

  /** Forgets the previous frame and every track; ids continue (never reused). */
  reset(): void {
    this.prevRuns.clear();
    this.prevCount = 0;
    this.prevT = NaN;
  }

  /**
   * Links the objects of `labels` (1..count, 0 = background) at time `tMs`
   * (ms) to those of the previous `update()` or `updateRuns()`.
   */
  update(labels: Int32Array, count: number, tMs: number): TrackFrame {
    const n = this.width * this.height;
    if (labels.length < n) throw new RangeError(`label image has ${labels.length} pixels, expected ${this.width}×${this.height}`);
    if (!(Number.isInteger(count) && count >= 0)) throw new RangeError(`count must be a non-negative integer, got ${count}`);
    runsFromLabels(labels, count, this.labelRuns);
    return this.updateRuns(this.labelRuns, count, tMs);
  }

  /**
   * `update` with the objects as runs (labels 1..count, every label with at
   * least one run; see src/kernels/runs.ts), e.g. from Segmenter.segmentRuns:
   * the same links, measures and errors as `update` on their label image.
   */
  updateRuns(runs: Runs, count: number, tMs: number): TrackFrame {
    const W = this.width;
    const H = this.height;
    if (runs.width !== W || runs.height !== H) throw new RangeError(`runs are ${runs.width}×${runs.height}, expected ${W}×${H}`);
    if (!(Number.isInteger(count) && count >= 0)) throw new RangeError(`count must be a non-negative integer, got ${count}`);
    // The last frame's state is `this.cur`; this frame is written into the spare
    // (`this.prev`, two frames old) and the two are swapped at the end, so a
    // throw (bad labels) leaves the tracker as it was.
    const prev = this.cur;
    const cur = this.prev;
    const M = this.prevCount;
    this.clearHash();
    cur.ensure(count + 1);
    this.ensureWork(count, M);

    // ---- One pass over the runs: centroids of the current objects and (current, previous)
    // overlaps, from the previous frame's runs of the same row. Coordinate sums over a run are
    // integers (exact in float64), so they equal the per-pixel sums.
    const sx = cur.cx;
    const sy = cur.cy;
    const area = cur.area;
    sx.fill(0, 0, count);
    sy.fill(0, 0, count);
    area.fill(0, 0, count);
    const { rowStart, x0, x1, label } = runs;
    const pr = this.prevRuns;
    const prs = pr.rowStart;
    const px0 = pr.x0;
    const px1 = pr.x1;
    const plab = pr.label;
    for (let y = 0; y < H; y++) {
      let p = prs[y];
      const pEnd = prs[y + 1];
      for (let r = rowStart[y]; r < rowStart[y + 1]; r++) {
        const c = label[r];
        const a = x0[r];
        const b = x1[r];
        if (c <= 0 || c > count) throw new RangeError(`label ${c} at pixel ${y * W + a} outside 1..${count}`);
        const k = c - 1;
        const len = b - a;
        sx[k] += ((a + b - 1) * len) / 2;
        sy[k] += y * len;
        area[k] += len;
        // Previous runs that end before this one starts overlap no later run of this row either.
        while (p < pEnd && px1[p] <= a) p++;
        let q = p;
        while (q < pEnd && px0[q] < b) {
          this.add(c, plab[q], Math.min(b, px1[q]) - Math.max(a, px0[q]));
          q++;
        }
        // The last previous run overlapped may reach under the next run too.
        if (q > p) p = q - 1;
      }
    }
    for (let k = 0; k < count; k++) {
      if (area[k] === 0) throw new RangeError(`label ${k + 1} has no pixels (labels must be 1..count without gaps)`);
      sx[k] /= area[k];
      sy[k] /= area[k];
    }

    const trackIds = cur.trackIds;
    const curAssigned = this.curAssigned;
    const prevUsed = this.prevUsed;
    curAssigned.fill(0, 0, count + 1);
    prevUsed.fill(0, 0, M + 1);
    // link[k] = previous object index (0-based) linked to current object k, or -1.
    // trackIds doubles as that store until the ids are filled in.
    trackIds.fill(-1, 0, count);

    // ---- Phase 1: overlap, greedy by descending overlap.
    this.growCand(this.usedCount);
    let nc = 0;
    const candC = this.candC;
    const candP = this.candP;
    const candS = this.candS;
    const order = this.order;
    for (let u = 0; u < this.usedCount; u++) {
      const s = this.used[u];
      const v = this.hashN[s];
      if (v >= this.minOverlap) {
        candC[nc] = this.hashC[s];
        candP[nc] = this.hashP[s];
        candS[nc] = -v; // ascending score = descending overlap
        order[nc] = nc;
        nc++;
      }
    }
    this.clearHash();
    this.assign(nc, trackIds, curAssigned, prevUsed);

    // ---- Phase 2: nearest unassigned previous centroid within maxDisplacement.
    const maxD = this.maxDisplacement;
    if (M > 0 && count > 0) {
      let np = 0;
      const sortedPrev = this.sortedPrev;
      for (let q = 1; q <= M; q++) if (!prevUsed[q]) sortedPrev[np++] = q - 1;
      let pending = 0;
      for (let c = 1; c <= count; c++) if (!curAssigned[c]) pending++;
      if (np > 0 && pending > 0) {
        this.sortX = prev.cx;
        const sp = sortedPrev.subarray(0, np).sort(this.byPrevX);
        const pcx = prev.cx;
        const pcy = prev.cy;
        const maxD2 = maxD * maxD;
        nc = 0;
        for (let c = 1; c <= count; c++) {
          if (curAssigned[c]) continue;
          const x = sx[c - 1];
          const y = sy[c - 1];
          // First previous object with cx ≥ x − maxD (binary search), then sweep while cx ≤ x + maxD.
          let lo = 0;
          let hi = np;
          const xmin = x - maxD;
          while (lo < hi) {
            const mid = (lo + hi) >> 1;
            if (pcx[sp[mid]] < xmin) lo = mid + 1;
            else hi = mid;
          }
          const xmax = x + maxD;
          for (let j = lo; j < np; j++) {
            const q = sp[j];
            const dx = pcx[q] - x;
            if (pcx[q] > xmax) break;
            const dy = pcy[q] - y;
            const d2 = dx * dx + dy * dy;
            if (d2 <= maxD2) {
              if (nc >= this.candC.length) this.growCand(nc + 1);
              this.candC[nc] = c;
              this.candP[nc] = q + 1;
              this.candS[nc] = d2;
              this.order[nc] = nc;
              nc++;
            }
          }
        }
        this.assign(nc, trackIds, curAssigned, prevUsed);
      }
    }

    // ---- Phase 3: births, carried tracks, per-track measures; deaths.
    const dt = tMs - this.prevT;
    const speedScale = dt > 0 ? 1000 / dt : NaN;
    const births: number[] = [];
    const deaths: number[] = [];
    const ptid = prev.trackIds;
    for (let k = 0; k < count; k++) {
      const q = trackIds[k];
      const x = sx[k];
      const y = sy[k];
      if (q < 0) {
        const id = this.nextId++;
        trackIds[k] = id;
        births.push(id);
        cur.firstX[k] = x;
        cur.firstY[k] = y;
        cur.displacement[k] = 0;
        cur.speed[k] = NaN;
      } else {
        trackIds[k] = ptid[q];
        const fx = prev.firstX[q];
        const fy = prev.firstY[q];
        cur.firstX[k] = fx;
        cur.firstY[k] = fy;
        // sqrt, not Math.hypot, which allocates on every call here.
        const ex = x - fx;
        const ey = y - fy;
        cur.displacement[k] = Math.sqrt(ex * ex + ey * ey);
        const sx1 = x - prev.cx[q];
        const sy1 = y - prev.cy[q];
        cur.speed[k] = Math.sqrt(sx1 * sx1 + sy1 * sy1) * speedScale;
      }
    }
    for (let q = 0; q < M; q++) if (!prevUsed[q + 1]) deaths.push(ptid[q]);
    deaths.sort((a, b) => a - b);

    this.prevRuns.copyFrom(runs);
    this.cur = cur;
    this.prev = prev;
    this.prevCount = count;
    this.prevT = tMs;
    return {
      count,
      trackIds: trackIds.subarray(0, count),
      births,
      deaths,
      centroidX: sx.subarray(0, count),
      centroidY: sy.subarray(0, count),
      displacement: cur.displacement.subarray(0, count),
      speed: cur.speed.subarray(0, count),
    };
  }

  /** Greedy assignment of candidates 0..nc−1 in ascending (score, current, previous) order. */
  private assign(nc: number, link: Int32Array, curAssigned: Uint8Array, prevUsed: Uint8Array): void {
    if (nc === 0) return;
    const ord = this.order.subarray(0, nc).sort(this.byScore);
    const candC = this.candC;
    const candP = this.candP;
    for (let j = 0; j < nc; j++) {
      const i = ord[j];
      const c = candC[i];
      const p = candP[i];
      if (curAssigned[c] || prevUsed[p]) continue;
      curAssigned[c] = 1;
      prevUsed[p] = 1;
      link[c - 1] = p - 1;
    }
  }

  /** Empties the pair hash (only the slots in use). */
  private clearHash(): void {
    for (let u = 0; u < this.usedCount; u++) {
      const s = this.used[u];
      this.hashC[s] = EMPTY;
      this.hashN[s] = 0;
    }
    this.usedCount = 0;
  }

  /** Adds `v` pixels to pair (c, p). */
  private add(c: number, p: number, v: number): void {
    let mask = this.hashCap - 1;
    let s = (Math.imul(c, 0x9e3779b1) ^ Math.imul(p, 0x85ebca77)) & mask;
    for (;;) {
      const kc = this.hashC[s];
      if (kc === EMPTY) break;
      if (kc === c && this.hashP[s] === p) {
        this.hashN[s] += v;
        return;
      }
      s = (s + 1) & mask;
    }
    if ((this.usedCount + 1) * 2 > this.hashCap) {
      this.growHash(this.hashCap * 2);
      mask = this.hashCap - 1;
      s = (Math.imul(c, 0x9e3779b1) ^ Math.imul(p, 0x85ebca77)) & mask;
      while (this.hashC[s] !== EMPTY) s = (s + 1) & mask;
    }
    this.hashC[s] = c;
    this.hashP[s] = p;
    this.hashN[s] = v;
    this.used[this.usedCount++] = s;
  }

  /** Grows the pair hash to `cap` (a power of two), rehashing the entries present. */
  private growHash(cap: number): void {
    const oc = this.hashC;
    const op = this.hashP;
    const on = this.hashN;
    const ou = this.used;
    const m = this.usedCount;
    this.hashCap = cap;
    this.hashC = new Int32Array(cap).fill(EMPTY);
    this.hashP = new Int32Array(cap);
    this.hashN = new Int32Array(cap);
    this.used = new Int32Array(cap >> 1);
    const mask = cap - 1;
    for (let u = 0; u < m; u++) {
      const o = ou[u];
      const c = oc[o];
      const p = op[o];
      let s = (Math.imul(c, 0x9e3779b1) ^ Math.imul(p, 0x85ebca77)) & mask;
      while (this.hashC[s] !== EMPTY) s = (s + 1) & mask;
      this.hashC[s] = c;
      this.hashP[s] = p;
      this.hashN[s] = on[o];
      this.used[u] = s;
    }
  }

  private ensureWork(count: number, M: number): void {
    if (this.curAssigned.length < count + 1) this.curAssigned = new Uint8Array(Math.max(count + 1, this.curAssigned.length * 2));
    if (this.prevUsed.length < M + 1) this.prevUsed = new Uint8Array(Math.max(M + 1, this.prevUsed.length * 2));
    if (this.sortedPrev.length < M) this.sortedPrev = new Int32Array(Math.max(M, this.sortedPrev.length * 2));
    // Phase 1 candidates ≤ distinct pairs ≤ hash capacity / 2; phase 2 grows on demand.
    this.growCand(Math.max(this.hashCap >> 1, count + M));
  }

  private growCand(n: number): void {
    if (this.candC.length >= n) return;
    const c = Math.max(n, this.candC.length * 2);
    const nc = new Int32Array(c);
    const np = new Int32Array(c);
    const ns = new Float64Array(c);
    nc.set(this.candC);
    np.set(this.candP);
    ns.set(this.candS);
    this.candC = nc;
    this.candP = np;
    this.candS = ns;
    this.order = new Int32Array(c);
  }
}
