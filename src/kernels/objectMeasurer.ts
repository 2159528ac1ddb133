import { type FeatureColumns } from './features/columns.js';
import { ColocalizationFeatures } from './features/colocalization.js';
import { type CustomFeature, CustomFeatures } from './features/custom.js';
import { IntensityFeatures } from './features/intensity.js';
import { type TraceEvent, type TraceOptions, TraceFeatures } from './features/traces.js';
import { computeShape } from './features/shape.js';
import { type LabelArray, type ObjectIndex, buildObjectIndex } from './objectIndex.js';
import { matchObjects } from './objectMatch.js';
import { type SegmentOptions, Segmenter } from './segment.js';
import type { WasmSource } from './wasmInstance.js';

/**
 * Objects in fixed mode: segmented once on the template (or given as a label
 * image in template coordinates), then measured on every registered frame
 * inside the same masks. Pure computation; the pipeline publishes what it
 * returns (DESIGN.md: `segmentation` and `objects` lines).
 */
export interface ObjectsOptions {
  /** A label image in template coordinates (0 = background); segmentation otherwise. */
  labels: LabelArray | null;
  segment: SegmentOptions;
  /** Compute median, quartiles and MAD every `quartilesEvery` frames (0: never). */
  quartilesEvery: number;
  /** The intensity feature followed over time (Trace_*), e.g. Intensity_MeanIntensity; null: no traces. */
  traceOf: string | null;
  traces: TraceOptions;
  /** Colocalization of two registered channels (Correlation_*), or null. */
  colocalization: { thresholdFraction: number; rwc: boolean } | null;
  /** User-defined features (Custom_<name>), run once per object per frame on the measured plane. */
  custom?: Record<string, CustomFeature> | null;
  /** The compiled `blur` WebAssembly module for the segmentation's smoothing (bit-identical; see Segmenter). */
  blurKernel?: WasmSource;
  /** The compiled `quantiles` WebAssembly module for median, quartiles and MAD (the same numbers; see IntensityFeatures). */
  quantilesKernel?: WasmSource;
}

export interface Segmentation {
  count: number;
  ids: Int32Array;
  /** AreaShape_* per object. */
  features: FeatureColumns;
}

export class ObjectMeasurer {
  private index: ObjectIndex | null = null;
  /** The ids published for the objects of `index`: label values, or ids kept stable across re-segmentations. */
  private ids: Int32Array = new Int32Array(0);
  private nextFreeId = 1;
  private intensity: IntensityFeatures | null = null;
  private traces: TraceFeatures | null = null;
  private coloc: ColocalizationFeatures | null = null;
  private custom: CustomFeatures | null = null;
  private published: FeatureColumns = {};
  private publishedWithoutQuartiles: FeatureColumns = {};
  /** Events of the last `measure`, reused (cleared) every frame. */
  readonly events: TraceEvent[] = [];
  private readonly segmenter: Segmenter;
  private readonly labels: Int32Array;
  private frames = 0;
  /** The columns without median, quartiles and MAD, for frames that skip them. */
  private withoutQuartiles: FeatureColumns = {};

  constructor(
    readonly width: number,
    readonly height: number,
    readonly opts: ObjectsOptions,
  ) {
    this.segmenter = new Segmenter(width, height, opts.blurKernel);
    this.labels = new Int32Array(width * height);
  }

  get ready(): boolean {
    return this.index !== null;
  }

  /**
   * The current objects as a label image with their published ids (0 =
   * background), written into `out` (width·height); false before the first
   * segmentation. For overlays: the ids are the ones on `objects` lines.
   */
  writeLabelImage(out: Int32Array): boolean {
    const index = this.index;
    if (index === null) return false;
    const slot = index.slot;
    const ids = this.ids;
    for (let i = 0; i < slot.length; i++) {
      const k = slot[i];
      out[i] = k === 0 ? 0 : ids[k - 1];
    }
    return true;
  }

  /** (Re)builds the objects from the template; returns the segmentation to publish. */
  setTemplate(template: Float32Array): Segmentation {
    let labels: LabelArray;
    if (this.opts.labels) labels = this.opts.labels;
    else {
      this.segmenter.segment(template, this.opts.segment, this.labels);
      labels = this.labels;
    }
    const index = buildObjectIndex(labels, this.width, this.height);
    if (this.opts.labels) this.ids = index.ids;
    else if (this.index === null) {
      this.ids = index.ids;
      this.nextFreeId = index.count + 1;
    } else {
      // Re-segmentation: objects that overlap an old one with IoU ≥ 0.5 keep its id.
      const m = matchObjects(this.index, this.ids, index, this.nextFreeId);
      this.ids = m.ids;
      this.nextFreeId = m.nextFreeId;
    }
    this.index = index;
    const intensity = new IntensityFeatures(index, { quartiles: this.opts.quartilesEvery > 0, kernel: this.opts.quantilesKernel });
    this.intensity = intensity;
    const base = new Set(IntensityFeatures.names(false));
    this.withoutQuartiles = Object.fromEntries(Object.entries(intensity.columns).filter(([name]) => base.has(name)));
    // Re-segmenting starts the traces afresh (their state is per object of the index).
    const traceOf = this.opts.traceOf;
    if (traceOf !== null && !(traceOf in intensity.columns)) {
      throw new RangeError(`traces of ${traceOf}: not an intensity feature (${Object.keys(intensity.columns).join(', ')})`);
    }
    this.traces = traceOf === null ? null : new TraceFeatures(index.count, this.opts.traces);
    const co = this.opts.colocalization;
    this.coloc = co === null ? null : new ColocalizationFeatures(index, co);
    this.custom = this.opts.custom ? new CustomFeatures(index, this.ids, this.opts.custom) : null;
    const extra = { ...this.traces?.columns, ...this.coloc?.columns, ...this.custom?.columns };
    this.published = { ...intensity.columns, ...extra };
    this.publishedWithoutQuartiles = { ...this.withoutQuartiles, ...extra };
    this.frames = 0;
    return { count: index.count, ids: this.ids, features: computeShape(index) };
  }

  /**
   * Intensity features (and traces) of one registered plane, acquired at tMs;
   * the columns are overwritten by the next call, `events` lists the objects
   * that lit up on this frame. `second`: the two registered channels whose
   * colocalization is measured, when configured; `seq` is the frame's, for
   * user-defined features.
   */
  measure(plane: Float32Array, tMs: number, second?: [Float32Array, Float32Array], seq = this.frames): { ids: Int32Array; features: FeatureColumns } {
    const index = this.index;
    const intensity = this.intensity;
    if (index === null || intensity === null) throw new Error('ObjectMeasurer.measure called before setTemplate');
    const every = this.opts.quartilesEvery;
    const quartiles = every > 0 && this.frames % every === 0;
    intensity.compute(plane, quartiles);
    this.frames++;
    if (this.coloc && second) this.coloc.compute(second[0], second[1]);
    this.custom?.compute(plane, seq);
    this.events.length = 0;
    if (this.traces && this.opts.traceOf !== null) this.traces.update(intensity.columns[this.opts.traceOf], tMs, this.events);
    // A frame without quartiles publishes no quartile columns rather than stale ones.
    return { ids: this.ids, features: quartiles ? this.published : this.publishedWithoutQuartiles };
  }
}
