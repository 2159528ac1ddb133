// Bilinear warp by a constant sub-pixel translation, 128-bit SIMD
// (docs/registration.md, section 6). The interior of the valid rectangle is
// done here, four output pixels per step; the border strips, which are a few
// rows and columns, stay in TypeScript (src/kernels/wasmWarper.ts).
//
// Layout, fixed by init(): [source planes][pad][output planes], each output
// plane width·height f32. Source pixels are u8, u16 or f32 (kind 0, 1, 2).

import { align64, reserve } from './shared/memory';

let W: i32 = 0;
let H: i32 = 0;
let C: i32 = 0;
let KIND: i32 = 0;
let srcP: usize = 0;
let dstP: usize = 0;

function bytesPer(kind: i32): i32 {
  return kind == 0 ? 1 : kind == 1 ? 2 : 4;
}

/** 0 on success, 2 when memory cannot grow. */
export function init(w: i32, h: i32, c: i32, kind: i32): i32 {
  W = w;
  H = h;
  C = c;
  KIND = kind;
  srcP = align64(__heap_base);
  const srcBytes = <usize>w * h * c * bytesPer(kind);
  // Padding: the vector loads of the last row may read up to 48 bytes past its end.
  dstP = align64(srcP + srcBytes + 64);
  return reserve(dstP + <usize>w * h * c * 4);
}

export function srcPtr(): usize {
  return srcP;
}

export function dstPtr(): usize {
  return dstP;
}

// Four source pixels of type T as f32x4; the branches fold away at compile time.
// The signed conversion is exact here (u8/u16 fit in i32) and V8 compiles it to
// one instruction on x64, where the unsigned one takes eight.
// @ts-ignore: decorator
@inline
function load4<T>(p: usize): v128 {
  if (sizeof<T>() == 2) return f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(v128.load64_zero(p)));
  if (sizeof<T>() == 1) return f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(i16x8.extend_low_i8x16_u(v128.load32_zero(p))));
  return v128.load(p);
}

// @ts-ignore: decorator
@inline
function load1<T>(p: usize): f32 {
  return <f32>load<T>(p);
}

/**
 * The valid rectangle x0 ≤ x < x1, y0 ≤ y < y1 of plane ch: bilinear
 * interpolation of the source at (y + oy + fy, x + ox + fx).
 */
export function warpInterior(ch: i32, oy: i32, ox: i32, fy: f32, fx: f32, x0: i32, x1: i32, y0: i32, y1: i32): void {
  if (KIND == 0) interior<u8>(ch, oy, ox, fy, fx, x0, x1, y0, y1);
  else if (KIND == 1) interior<u16>(ch, oy, ox, fy, fx, x0, x1, y0, y1);
  else interior<f32>(ch, oy, ox, fy, fx, x0, x1, y0, y1);
}

function interior<T>(ch: i32, oy: i32, ox: i32, fy: f32, fx: f32, x0: i32, x1: i32, y0: i32, y1: i32): void {
  const bp = <usize>sizeof<T>();
  const plane = <usize>W * H;
  const src = srcP + <usize>ch * plane * bp;
  const dst = dstP + <usize>ch * plane * 4;
  if (fx != 0 && fy != 0) {
    bilinearRows<T>(src, dst, oy, ox, fy, fx, x0, x1, y0, y1);
    return;
  }
  // One axis at most: the taps of the other have weight 0 and are skipped, so
  // an integer shift is a copy and a half-pixel shift the exact mean.
  const w0: f32 = fx != 0 ? 1 - fx : 1 - fy;
  const w1: f32 = fx != 0 ? fx : fy;
  const v0 = f32x4.splat(w0);
  const v1 = f32x4.splat(w1);
  const step: usize = fx != 0 ? bp : <usize>W * bp;
  const n = x1 - x0;
  for (let y = y0; y < y1; y++) {
    const s0 = src + (<usize>(y + oy) * W + <usize>(x0 + ox)) * bp;
    const d = dst + (<usize>y * W + <usize>x0) * 4;
    let i = 0;
    if (w1 == 0) {
      for (; i + 4 <= n; i += 4) v128.store(d + (<usize>i << 2), load4<T>(s0 + <usize>i * bp));
      for (; i < n; i++) store<f32>(d + (<usize>i << 2), load1<T>(s0 + <usize>i * bp));
    } else {
      for (; i + 4 <= n; i += 4) {
        const o = <usize>i * bp;
        v128.store(d + (<usize>i << 2), f32x4.add(f32x4.mul(v0, load4<T>(s0 + o)), f32x4.mul(v1, load4<T>(s0 + o + step))));
      }
      for (; i < n; i++) {
        const o = <usize>i * bp;
        store<f32>(d + (<usize>i << 2), w0 * load1<T>(s0 + o) + w1 * load1<T>(s0 + o + step));
      }
    }
  }
}

/** Eight source pixels of type T from p as two f32x4 (lo: p..p+3, hi: p+4..p+7). */
// @ts-ignore: decorator
@inline
function load8lo<T>(p: usize): v128 {
  if (sizeof<T>() == 2) return f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(v128.load(p)));
  if (sizeof<T>() == 1) return f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(i16x8.extend_low_i8x16_u(v128.load64_zero(p))));
  return v128.load(p);
}

// @ts-ignore: decorator
@inline
function load8hi<T>(p: usize): v128 {
  if (sizeof<T>() == 2) return f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_u(v128.load(p)));
  if (sizeof<T>() == 1) return f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_u(i16x8.extend_low_i8x16_u(v128.load64_zero(p))));
  return v128.load(p + 16);
}

/**
 * Both fractions non-zero: each group of four outputs combines the two source
 * rows first (vertical weights), then each column with its right neighbour,
 * taken from the same vertical sums shifted by one lane, so every source
 * pixel is loaded and converted once per output row and nothing goes through
 * memory in between. Eight outputs per step.
 */
function bilinearRows<T>(src: usize, dst: usize, oy: i32, ox: i32, fy: f32, fx: f32, x0: i32, x1: i32, y0: i32, y1: i32): void {
  const bp = <usize>sizeof<T>();
  const h0 = f32x4.splat(1 - fx);
  const h1 = f32x4.splat(fx);
  const v0 = f32x4.splat(1 - fy);
  const v1 = f32x4.splat(fy);
  const n = x1 - x0;
  const rowBytes = <usize>W * bp;
  for (let y = y0; y < y1; y++) {
    const s0 = src + (<usize>(y + oy) * W + <usize>(x0 + ox)) * bp;
    const s1 = s0 + rowBytes;
    const d = dst + (<usize>y * W + <usize>x0) * 4;
    // Vertical sums of columns i … i+3, carried from one step to the next.
    let prev = f32x4.add(f32x4.mul(v0, load8lo<T>(s0)), f32x4.mul(v1, load8lo<T>(s1)));
    let i = 0;
    // Each step reads source columns up to i + 11 (the padding after the source covers the last row).
    for (; i + 8 <= n; i += 8) {
      const o = <usize>(i + 4) * bp;
      const mid = f32x4.add(f32x4.mul(v0, load8lo<T>(s0 + o)), f32x4.mul(v1, load8lo<T>(s1 + o)));
      const next = f32x4.add(f32x4.mul(v0, load8hi<T>(s0 + o)), f32x4.mul(v1, load8hi<T>(s1 + o)));
      const a = v128.shuffle<f32>(prev, mid, 1, 2, 3, 4);
      const b = v128.shuffle<f32>(mid, next, 1, 2, 3, 4);
      v128.store(d + (<usize>i << 2), f32x4.add(f32x4.mul(h0, prev), f32x4.mul(h1, a)));
      v128.store(d + (<usize>(i + 4) << 2), f32x4.add(f32x4.mul(h0, mid), f32x4.mul(h1, b)));
      prev = next;
    }
    const gx: f32 = 1 - fx;
    const gy: f32 = 1 - fy;
    for (; i < n; i++) {
      const o = <usize>i * bp;
      const top: f32 = gx * load1<T>(s0 + o) + fx * load1<T>(s0 + o + bp);
      const bot: f32 = gx * load1<T>(s1 + o) + fx * load1<T>(s1 + o + bp);
      store<f32>(d + (<usize>i << 2), gy * top + fy * bot);
    }
  }
}
