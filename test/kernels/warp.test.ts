import { describe, expect, it } from 'vitest';
import { warpTranslate } from '../../src/kernels/warp.js';
import { randomArray } from '../helpers/random.js';

const W = 13;
const H = 9;
const src = Float32Array.from(randomArray(W * H, 5, 1000));
const at = (y: number, x: number) => src[y * W + x];

describe('warpTranslate', () => {
  it('reproduces the input exactly for integer shifts, with the valid rectangle', () => {
    for (const [ty, tx] of [[0, 0], [2, -3], [-4, 5], [1, 0], [0, -1]]) {
      const out = new Float32Array(W * H);
      const rect = warpTranslate(src, W, H, ty, tx, out, 'nan');
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          const sy = y - ty;
          const sx = x - tx;
          const inside = sy >= 0 && sy < H && sx >= 0 && sx < W;
          if (inside) expect(out[y * W + x]).toBe(at(sy, sx));
          else expect(out[y * W + x]).toBeNaN();
          const inRect = y >= rect.y0 && y < rect.y1 && x >= rect.x0 && x < rect.x1;
          expect(inRect).toBe(inside);
        }
      }
    }
  });

  it('gives the exact mean of two neighbours for a half-pixel shift', () => {
    const out = new Float32Array(W * H);
    // out(y, x) = src(y, x + 0.5)
    warpTranslate(src, W, H, 0, -0.5, out, 'constant', -1);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W - 1; x++) expect(out[y * W + x]).toBe(Math.fround(0.5 * at(y, x) + 0.5 * at(y, x + 1)));
      expect(out[y * W + W - 1]).toBe(-1);
    }
    warpTranslate(src, W, H, 0.5, 0, out, 'constant', 0);
    for (let x = 0; x < W; x++) expect(out[x]).toBe(0);
    for (let y = 1; y < H; y++) for (let x = 0; x < W; x++) expect(out[y * W + x]).toBe(Math.fround(0.5 * at(y - 1, x) + 0.5 * at(y, x)));
  });

  it('interpolates bilinearly for a general sub-pixel shift', () => {
    const out = new Float64Array(W * H);
    const ty = 1.3;
    const tx = -2.6;
    const rect = warpTranslate(src, W, H, ty, tx, out, 'nan');
    expect(rect).toEqual({ x0: 0, y0: 2, x1: W - 3, y1: H });
    for (let y = rect.y0; y < rect.y1; y++) {
      for (let x = rect.x0; x < rect.x1; x++) {
        const sy = y - ty;
        const sx = x - tx;
        const y0 = Math.floor(sy);
        const x0 = Math.floor(sx);
        const fy = sy - y0;
        const fx = sx - x0;
        const e = (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1)) + fy * ((1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1));
        expect(out[y * W + x]).toBeCloseTo(e, 9);
      }
    }
  });

  it('clamps coordinates in nearest mode, as scipy.ndimage.shift(order=1, mode="nearest")', () => {
    const out = new Float64Array(W * H);
    warpTranslate(src, W, H, 0.25, 0.75, out, 'nearest');
    // Row 0 samples y = −0.25 → clamped to 0; column 0 samples x = −0.75 → 0.
    expect(out[0]).toBeCloseTo(at(0, 0), 9);
    expect(out[1]).toBeCloseTo(0.75 * at(0, 0) + 0.25 * at(0, 1), 9);
    const y = 3;
    expect(out[y * W]).toBeCloseTo(0.25 * at(y - 1, 0) + 0.75 * at(y, 0), 9);
  });

  it('handles a shift larger than the image: everything is border', () => {
    const out = new Float32Array(W * H);
    const rect = warpTranslate(src, W, H, 0, 40, out, 'constant', 7);
    expect(rect).toEqual({ x0: 0, y0: 0, x1: 0, y1: 0 });
    expect(Array.from(out).every((v) => v === 7)).toBe(true);
  });

  it('reads uint16 input without overflow', () => {
    const u = new Uint16Array([65535, 65535, 65535, 65535]);
    const out = new Float32Array(4);
    warpTranslate(u, 2, 2, 0.5, 0.5, out, 'nearest');
    expect(Array.from(out)).toEqual([65535, 65535, 65535, 65535]);
  });
});
