import type { FeatureColumns } from './features/columns.js';
import { type SegmentOptions, Segmenter } from './segment.js';
import { Runs } from './runs.js';
import { ObjectTracker } from './tracker.js';
import type { WasmSource } from './wasmInstance.js';

/**
 * Objects in tracked mode, for things that move (particles, migrating cells):
 * every registered frame is segmented and its objects linked to the previous
 * frame's (src/kernels/tracker.ts). Per object and frame: area, centroid,
 * integrated and mean intensity (over the runs of the segmentation: no label
 * image, no per-object index), displacement from the track's first position
 * and speed. Objects
 * are listed in ascending track id, so the list only changes when tracks are
 * born or die — which is when a `segmentation` line is due.
 */
export const TRACKED_NAMES = [
  'AreaShape_Area',
  'AreaShape_Center_X',
  'AreaShape_Center_Y',
  'Intensity_IntegratedIntensity',
  'Intensity_MeanIntensity',
  'Track_Displacement',
  'Track_Speed',
] as const;

export interface TrackedFrame {
  /** Track ids, ascending. */
  ids: Int32Array;
  features: FeatureColumns;
  /** The set of tracks differs from the previous frame's (births or deaths, or the first frame). */
  changed: boolean;
  births: number[];
  deaths: number[];
}

export class TrackedObjects {
  private readonly segmenter: Segmenter;
  private readonly tracker: ObjectTracker;
  private readonly runs: Runs;
  private first = true;
  // Per-label accumulators and the columns, grown when a frame has more objects than ever before.
  private capacity = 0;
  private area = new Float64Array(0);
  private sum = new Float64Array(0);
  private finite = new Float64Array(0);
  private order = new Int32Array(0);
  private idBuf = new Int32Array(0);
  private colBufs: Float64Array[] = [];
  /** The views handed out for `viewCount` objects (made again when the count changes). */
  private viewCount = -1;
  private ids = new Int32Array(0);
  private features: FeatureColumns = {};
  private keys: Int32Array = new Int32Array(0);
  private readonly byTrack = (a: number, b: number): number => this.keys[a] - this.keys[b];

  constructor(
    readonly width: number,
    readonly height: number,
    private readonly segment: SegmentOptions,
    maxDisplacement: number,
    /** The compiled `blur` WebAssembly module for the smoothing (bit-identical; see Segmenter). */
    blurKernel?: WasmSource,
  ) {
    this.segmenter = new Segmenter(width, height, blurKernel);
    this.tracker = new ObjectTracker(width, height, { maxDisplacement });
    this.runs = new Runs(width, height);
  }

  /**
   * Segments, links and measures one registered frame. The returned ids and
   * columns are views on buffers of this object, overwritten by the next
   * `measure` (copy them to keep them).
   */
  measure(plane: Float32Array, tMs: number): TrackedFrame {
    // Where the warp left NaN (outside the frame), the segmenter uses the darkest finite value, so
    // that no object is made of pixels that were never acquired.
    const runs = this.runs;
    const seg = this.segmenter.segmentRuns(plane, this.segment, runs, true);
    const tf = this.tracker.updateRuns(runs, seg.count, tMs);
    const n = seg.count;
    this.ensure(n);
    const { area, sum, finite } = this;
    area.fill(0, 0, n + 1);
    sum.fill(0, 0, n + 1);
    finite.fill(0, 0, n + 1);
    // Runs are in raster order, so each object's values are added in raster order, as a pass over
    // the whole label image would add them.
    const { rowStart, x0, x1, label } = runs;
    const W = this.width;
    for (let y = 0; y < this.height; y++) {
      const o = y * W;
      for (let r = rowStart[y]; r < rowStart[y + 1]; r++) {
        const l = label[r];
        const end = o + x1[r];
        area[l] += x1[r] - x0[r];
        let s = sum[l];
        let f = finite[l];
        for (let i = o + x0[r]; i < end; i++) {
          const v = plane[i];
          if (v === v && Math.abs(v) !== Infinity) {
            s += v;
            f++;
          }
        }
        sum[l] = s;
        finite[l] = f;
      }
    }
    // Ascending track id: a stable order while the set of tracks does not change.
    const order = this.order.subarray(0, n);
    for (let k = 0; k < n; k++) order[k] = k;
    this.keys = tf.trackIds;
    order.sort(this.byTrack);
    if (this.viewCount !== n) this.makeViews(n);
    const ids = this.ids;
    const f = this.features;
    const cArea = f.AreaShape_Area;
    const cX = f.AreaShape_Center_X;
    const cY = f.AreaShape_Center_Y;
    const cInt = f.Intensity_IntegratedIntensity;
    const cMean = f.Intensity_MeanIntensity;
    const cDisp = f.Track_Displacement;
    const cSpeed = f.Track_Speed;
    for (let j = 0; j < n; j++) {
      const k = order[j];
      const fin = finite[k + 1];
      ids[j] = tf.trackIds[k];
      cArea[j] = area[k + 1];
      cX[j] = tf.centroidX[k];
      cY[j] = tf.centroidY[k];
      cInt[j] = fin > 0 ? sum[k + 1] : NaN;
      cMean[j] = fin > 0 ? sum[k + 1] / fin : NaN;
      cDisp[j] = tf.displacement[k];
      cSpeed[j] = tf.speed[k];
    }
    const changed = this.first || tf.births.length > 0 || tf.deaths.length > 0;
    this.first = false;
    return { ids, features: f, changed, births: tf.births, deaths: tf.deaths };
  }

  private ensure(n: number): void {
    if (this.capacity >= n + 1) return;
    const c = Math.max(2 * n + 1, 2 * this.capacity, 64);
    this.capacity = c;
    this.area = new Float64Array(c);
    this.sum = new Float64Array(c);
    this.finite = new Float64Array(c);
    this.order = new Int32Array(c);
    this.idBuf = new Int32Array(c);
    this.colBufs = TRACKED_NAMES.map(() => new Float64Array(c));
    this.viewCount = -1;
  }

  private makeViews(n: number): void {
    this.ids = this.idBuf.subarray(0, n);
    const f: FeatureColumns = {};
    TRACKED_NAMES.forEach((name, i) => {
      f[name] = this.colBufs[i].subarray(0, n);
    });
    this.features = f;
    this.viewCount = n;
  }
}
