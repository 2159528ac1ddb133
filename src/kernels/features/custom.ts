import type { ObjectIndex } from '../objectIndex.js';
import { type FeatureColumns } from './columns.js';

/**
 * User-defined features: a function of one object's pixel values, run once
 * per object per frame over that object's contiguous values — never once per
 * pixel. Each becomes the column `Custom_<name>`. A function that throws or
 * returns something other than a finite number gives null for that object.
 */
export interface CustomContext {
  /** The object's id (as published). */
  id: number;
  /** The frame's seq. */
  seq: number;
  /** The object's pixel coordinates, in the same order as `values` (computed on first request). */
  coords(): { x: Int32Array; y: Int32Array };
}

/**
 * `values` holds the object's pixels in raster order, NaN where a pixel is not
 * finite (outside the registered frame, a bad pixel); it is a view that is
 * overwritten on the next frame, so copy what must be kept.
 */
export type CustomFeature = (values: Float64Array, ctx: CustomContext) => number;

export class CustomFeatures {
  readonly columns: FeatureColumns = {};
  /** Failures per feature since construction (a throwing or non-numeric function). */
  readonly failures: Record<string, number> = {};
  private readonly names: string[];
  private readonly fns: CustomFeature[];
  private readonly scratch: Float64Array;
  private readonly views: Float64Array[];
  private readonly contexts: { id: number; seq: number; coords(): { x: Int32Array; y: Int32Array } }[];

  constructor(
    private readonly index: ObjectIndex,
    ids: Int32Array,
    features: Record<string, CustomFeature>,
  ) {
    this.names = Object.keys(features);
    this.fns = this.names.map((n) => features[n]);
    for (const n of this.names) {
      this.columns[`Custom_${n}`] = new Float64Array(index.count).fill(NaN);
      this.failures[n] = 0;
    }
    // One buffer for every object's values, laid out like the index, and one view per object, made once.
    this.scratch = new Float64Array(index.pixels.length);
    this.views = Array.from({ length: index.count }, (_, k) => this.scratch.subarray(index.offsets[k], index.offsets[k + 1]));
    this.contexts = Array.from({ length: index.count }, (_, k) => {
      let cached: { x: Int32Array; y: Int32Array } | null = null;
      return {
        id: ids[k],
        seq: 0,
        coords: () => (cached ??= this.coordsOf(k)),
      };
    });
  }

  compute(image: ArrayLike<number>, seq: number): void {
    const { index, scratch } = this;
    const px = index.pixels;
    for (let p = 0; p < px.length; p++) {
      const v = image[px[p]];
      scratch[p] = Number.isFinite(v) ? v : NaN;
    }
    for (let f = 0; f < this.fns.length; f++) {
      const fn = this.fns[f];
      const col = this.columns[`Custom_${this.names[f]}`];
      for (let k = 0; k < index.count; k++) {
        const ctx = this.contexts[k];
        ctx.seq = seq;
        let r: unknown;
        try {
          r = fn(this.views[k], ctx);
        } catch {
          r = NaN;
        }
        if (typeof r === 'number' && Number.isFinite(r)) col[k] = r;
        else {
          col[k] = NaN;
          this.failures[this.names[f]]++;
        }
      }
    }
  }

  private coordsOf(k: number): { x: Int32Array; y: Int32Array } {
    const { index } = this;
    const n = index.offsets[k + 1] - index.offsets[k];
    const x = new Int32Array(n);
    const y = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const p = index.pixels[index.offsets[k] + i];
      x[i] = p % index.width;
      y[i] = (p / index.width) | 0;
    }
    return { x, y };
  }
}
