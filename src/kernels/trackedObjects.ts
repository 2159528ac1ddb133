import type { FeatureColumns } from './features/columns.js';
import { type SegmentOptions, Segmenter } from './segment.js';
import { ObjectTracker } from './tracker.js';
import type { WasmSource } from './wasmInstance.js';

/**
 * Objects in tracked mode, for things that move (particles, migrating cells):
 * every registered frame is segmented and its objects linked to the previous
 * frame's (src/kernels/tracker.ts). Per object and frame: area, centroid,
 * integrated and mean intensity (one pass over the label image, no per-object
 * index), displacement from the track's first position and speed. Objects
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
  private readonly labels: Int32Array;
  private first = true;
  // Per-label accumulators, grown when a frame has more objects than ever before.
  private area = new Float64Array(0);
  private sum = new Float64Array(0);
  private finite = new Float64Array(0);

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
    this.labels = new Int32Array(width * height);
  }

  measure(plane: Float32Array, tMs: number): TrackedFrame {
    // Where the warp left NaN (outside the frame), the segmenter uses the darkest finite value, so
    // that no object is made of pixels that were never acquired.
    const seg = this.segmenter.segment(plane, this.segment, this.labels, true);
    const tf = this.tracker.update(this.labels, seg.count, tMs);
    const n = seg.count;
    if (this.area.length < n + 1) {
      this.area = new Float64Array(2 * n + 1);
      this.sum = new Float64Array(2 * n + 1);
      this.finite = new Float64Array(2 * n + 1);
    }
    const { area, sum, finite, labels } = this;
    area.fill(0, 0, n + 1);
    sum.fill(0, 0, n + 1);
    finite.fill(0, 0, n + 1);
    for (let i = 0; i < labels.length; i++) {
      const l = labels[i];
      if (l === 0) continue;
      area[l]++;
      const v = plane[i];
      if (v === v && Math.abs(v) !== Infinity) {
        sum[l] += v;
        finite[l]++;
      }
    }
    // Ascending track id: a stable order while the set of tracks does not change.
    const order = Array.from({ length: n }, (_, k) => k).sort((a, b) => tf.trackIds[a] - tf.trackIds[b]);
    const ids = Int32Array.from(order, (k) => tf.trackIds[k]);
    const col = (f: (k: number) => number): Float64Array => Float64Array.from(order, f);
    const features: FeatureColumns = {
      AreaShape_Area: col((k) => area[k + 1]),
      AreaShape_Center_X: col((k) => tf.centroidX[k]),
      AreaShape_Center_Y: col((k) => tf.centroidY[k]),
      Intensity_IntegratedIntensity: col((k) => (finite[k + 1] > 0 ? sum[k + 1] : NaN)),
      Intensity_MeanIntensity: col((k) => (finite[k + 1] > 0 ? sum[k + 1] / finite[k + 1] : NaN)),
      Track_Displacement: col((k) => tf.displacement[k]),
      Track_Speed: col((k) => tf.speed[k]),
    };
    const changed = this.first || tf.births.length > 0 || tf.deaths.length > 0;
    this.first = false;
    return { ids, features, changed, births: [...tf.births], deaths: [...tf.deaths] };
  }
}
