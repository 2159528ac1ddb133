/**
 * Bilinear warp by a sub-pixel translation (docs/registration.md, section 6):
 * out(y, x) = src(y − ty, x − tx).
 *
 * The translation is the same for every pixel, so the integer offset and the
 * four weights are computed once; the interior (where all four taps are inside
 * the source) runs a tight loop with no bounds checks, and only the border
 * strips go through the border-mode logic.
 */
export type BorderMode = 'constant' | 'nan' | 'nearest';

export interface ValidRect {
  x0: number;
  y0: number;
  /** Exclusive. */
  x1: number;
  y1: number;
}

/**
 * Where the output samples the source: output pixel (y, x) reads
 * (y + oy + fy, x + ox + fx), 0 ≤ fy, fx < 1, and `rect` is where all four
 * taps are inside.
 */
export interface WarpGeometry {
  oy: number;
  ox: number;
  fy: number;
  fx: number;
  rect: ValidRect;
}

export function warpGeometry(width: number, height: number, ty: number, tx: number): WarpGeometry {
  const sy = -ty;
  const sx = -tx;
  const oy = Math.floor(sy);
  const ox = Math.floor(sx);
  const fy = sy - oy;
  const fx = sx - ox;
  return { oy, ox, fy, fx, rect: validRect(width, height, oy, ox, fy, fx) };
}

export function warpTranslate(
  src: ArrayLike<number>,
  width: number,
  height: number,
  ty: number,
  tx: number,
  out: Float32Array | Float64Array,
  border: BorderMode = 'constant',
  cval = 0,
): ValidRect {
  const g = warpGeometry(width, height, ty, tx);
  warpInside(src, width, g, out);
  fillBorder(src, width, height, g, out, border, cval);
  return g.rect;
}

/** The valid rectangle: a weight of 0 skips its taps, so integer shifts copy exactly. */
export function warpInside(src: ArrayLike<number>, width: number, g: WarpGeometry, out: Float32Array | Float64Array): void {
  const { oy, ox, fy, fx } = g;
  const { x0, x1, y0, y1 } = g.rect;
  const w00 = (1 - fy) * (1 - fx);
  const w01 = (1 - fy) * fx;
  const w10 = fy * (1 - fx);
  const w11 = fy * fx;
  for (let y = y0; y < y1; y++) {
    const o = y * width;
    const s0 = (y + oy) * width + ox;
    if (fy === 0 && fx === 0) {
      for (let x = x0; x < x1; x++) out[o + x] = src[s0 + x];
    } else if (fy === 0) {
      for (let x = x0; x < x1; x++) out[o + x] = w00 * src[s0 + x] + w01 * src[s0 + x + 1];
    } else if (fx === 0) {
      const s1 = s0 + width;
      for (let x = x0; x < x1; x++) out[o + x] = w00 * src[s0 + x] + w10 * src[s1 + x];
    } else {
      const s1 = s0 + width;
      for (let x = x0; x < x1; x++) {
        out[o + x] = w00 * src[s0 + x] + w01 * src[s0 + x + 1] + w10 * src[s1 + x] + w11 * src[s1 + x + 1];
      }
    }
  }
}

/** Every pixel outside the valid rectangle, by the border mode. */
export function fillBorder(
  src: ArrayLike<number>,
  width: number,
  height: number,
  g: WarpGeometry,
  out: Float32Array | Float64Array,
  border: BorderMode,
  cval: number,
): void {
  const { oy, ox, fy, fx } = g;
  const { x0, x1, y0, y1 } = g.rect;
  const fill = border === 'nan' ? NaN : cval;
  for (let y = 0; y < height; y++) {
    const inside = y >= y0 && y < y1;
    if (inside && x0 === 0 && x1 === width) continue;
    const o = y * width;
    for (let x = 0; x < width; x++) {
      if (inside && x >= x0 && x < x1) {
        x = x1 - 1;
        continue;
      }
      out[o + x] = border === 'nearest' ? sampleClamped(src, width, height, y + oy + fy, x + ox + fx) : fill;
    }
  }
}

/** Output pixels whose four taps lie inside the source. */
function validRect(width: number, height: number, oy: number, ox: number, fy: number, fx: number): ValidRect {
  // Taps at x + ox and x + ox + 1 (the second only when fx > 0) must be in [0, width).
  const x0 = Math.min(width, Math.max(0, -ox));
  const x1 = Math.max(x0, Math.min(width, width - ox - (fx > 0 ? 1 : 0)));
  const y0 = Math.min(height, Math.max(0, -oy));
  const y1 = Math.max(y0, Math.min(height, height - oy - (fy > 0 ? 1 : 0)));
  if (x1 === x0 || y1 === y0) return { x0: 0, y0: 0, x1: 0, y1: 0 };
  return { x0, y0, x1, y1 };
}

/** Bilinear sample with coordinates clamped to the image (scipy's mode='nearest'). */
function sampleClamped(src: ArrayLike<number>, width: number, height: number, y: number, x: number): number {
  const cy = Math.min(Math.max(y, 0), height - 1);
  const cx = Math.min(Math.max(x, 0), width - 1);
  const y0 = Math.floor(cy);
  const x0 = Math.floor(cx);
  const fy = cy - y0;
  const fx = cx - x0;
  const y1 = Math.min(y0 + 1, height - 1);
  const x1 = Math.min(x0 + 1, width - 1);
  const a = src[y0 * width + x0];
  const b = fx > 0 ? src[y0 * width + x1] : a;
  const top = fx > 0 ? (1 - fx) * a + fx * b : a;
  if (fy === 0) return top;
  const c = src[y1 * width + x0];
  const d = fx > 0 ? src[y1 * width + x1] : c;
  const bottom = fx > 0 ? (1 - fx) * c + fx * d : c;
  return (1 - fy) * top + fy * bottom;
}
