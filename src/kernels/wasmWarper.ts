import type { Dtype, PixelArray } from '../ingest/frame.js';
import type { BorderMode, ValidRect } from './warp.js';
import { fillBorder, warpGeometry } from './warp.js';
import type { Warper } from './warper.js';
import { type WasmSource, instantiate } from './wasmInstance.js';

interface WarpExports {
  readonly memory: { readonly buffer: ArrayBuffer };
  init(w: number, h: number, c: number, kind: number): number;
  srcPtr(): number;
  dstPtr(): number;
  warpInterior(ch: number, oy: number, ox: number, fy: number, fx: number, x0: number, x1: number, y0: number, y1: number): void;
}

const KIND: Record<Dtype, number> = { uint8: 0, uint16: 1, float32: 2 };

/**
 * The SIMD warp (src/kernels/wasm/assembly/warp.ts) for frames of one size
 * and dtype. The frame is copied into the instance's memory once (a memcpy),
 * the valid rectangle is warped there four pixels at a time, and the border
 * strips are filled by the same TypeScript code as the reference. Outputs are
 * views on the instance's memory, which never grows after construction.
 */
export class WasmWarper implements Warper {
  readonly outputs: Float32Array[];
  private readonly ex: WarpExports;
  private readonly src: PixelArray;

  private constructor(
    source: WasmSource,
    readonly width: number,
    readonly height: number,
    readonly channels: number,
    dtype: Dtype,
  ) {
    this.ex = instantiate(source) as unknown as WarpExports;
    if (this.ex.init(width, height, channels, KIND[dtype]) !== 0) throw new Error(`WebAssembly warp: out of memory for ${width}×${height}×${channels}`);
    const buf = this.ex.memory.buffer;
    const n = width * height;
    const sp = this.ex.srcPtr();
    this.src = dtype === 'uint8' ? new Uint8Array(buf, sp, n * channels) : dtype === 'uint16' ? new Uint16Array(buf, sp, n * channels) : new Float32Array(buf, sp, n * channels);
    const dp = this.ex.dstPtr();
    this.outputs = Array.from({ length: channels }, (_, c) => new Float32Array(buf, dp + c * n * 4, n));
  }

  static create(source: WasmSource, width: number, height: number, channels: number, dtype: Dtype): WasmWarper {
    return new WasmWarper(source, width, height, channels, dtype);
  }

  warp(data: PixelArray, ty: number, tx: number, border: BorderMode, cval: number): ValidRect {
    const { width: w, height: h } = this;
    const g = warpGeometry(w, h, ty, tx);
    this.src.set(data);
    const { x0, x1, y0, y1 } = g.rect;
    const n = w * h;
    for (let c = 0; c < this.channels; c++) {
      if (x1 > x0 && y1 > y0) this.ex.warpInterior(c, g.oy, g.ox, g.fy, g.fx, x0, x1, y0, y1);
      const plane = this.channels === 1 ? this.src : this.src.subarray(c * n, (c + 1) * n);
      fillBorder(plane, w, h, g, this.outputs[c], border, cval);
    }
    return g.rect;
  }

  dispose(): void {
    // The instance and its memory go with the last reference.
  }
}
