import type { Dtype, PixelArray } from '../ingest/frame.js';
import { type BorderMode, type ValidRect, fillBorder, warpGeometry, warpInside } from './warp.js';

/**
 * Warps every channel of a frame by the same translation into output planes
 * it owns (float32, one per channel, valid until the next call). Two
 * implementations: `TsWarper` here, the reference, and `WasmWarper`
 * (SIMD interior, the same border code).
 */
export interface Warper {
  readonly outputs: Float32Array[];
  warp(data: PixelArray, ty: number, tx: number, border: BorderMode, cval: number): ValidRect;
  dispose(): void;
}

export class TsWarper implements Warper {
  readonly outputs: Float32Array[];

  constructor(
    readonly width: number,
    readonly height: number,
    readonly channels: number,
  ) {
    this.outputs = Array.from({ length: channels }, () => new Float32Array(width * height));
  }

  warp(data: PixelArray, ty: number, tx: number, border: BorderMode, cval: number): ValidRect {
    const { width: w, height: h } = this;
    const g = warpGeometry(w, h, ty, tx);
    const n = w * h;
    for (let c = 0; c < this.channels; c++) {
      const src = this.channels === 1 ? data : data.subarray(c * n, (c + 1) * n);
      warpInside(src, w, g, this.outputs[c]);
      fillBorder(src, w, h, g, this.outputs[c], border, cval);
    }
    return g.rect;
  }

  dispose(): void {
    // Nothing native to free.
  }
}

export type WarperFactory = (width: number, height: number, channels: number, dtype: Dtype) => Warper;
