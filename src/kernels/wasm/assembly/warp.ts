// Bilinear warp by a constant sub-pixel translation, 128-bit SIMD
// (docs/registration.md, section 6). The interior of the valid rectangle is
// done here, four output pixels per step; the border strips, which are a few
// rows and columns, stay in TypeScript (src/kernels/wasmWarper.ts).
//
// Layout, fixed by init(): [source planes][pad][output planes], each output
// plane width·height f32. Source pixels are u8, u16 or f32 (kind 0, 1, 2).

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
  srcP = (__heap_base + 63) & ~(<usize>63);
  const srcBytes = <usize>w * h * c * bytesPer(kind);
  // Padding: the vector loads of the last row may read 16 bytes past its end.
  dstP = (srcP + srcBytes + 64 + 63) & ~(<usize>63);
  const end = dstP + <usize>w * h * c * 4;
  const pages = <i32>((end + 65535) >> 16);
  const have = memory.size();
  if (pages > have && memory.grow(pages - have) < 0) return 2;
  return 0;
}

export function srcPtr(): usize {
  return srcP;
}

export function dstPtr(): usize {
  return dstP;
}

// Four source pixels of type T as f32x4; the branches fold away at compile time.
// @ts-ignore: decorator
@inline
function load4<T>(p: usize): v128 {
  if (sizeof<T>() == 2) return f32x4.convert_i32x4_u(i32x4.extend_low_i16x8_u(v128.load64_zero(p)));
  if (sizeof<T>() == 1) return f32x4.convert_i32x4_u(i32x4.extend_low_i16x8_u(i16x8.extend_low_i8x16_u(v128.load32_zero(p))));
  return v128.load(p);
}

// @ts-ignore: decorator
@inline
function load1<T>(p: usize): f32 {
  return <f32>load<T>(p);
}

/**
 * out(y, x) = w00·s(y+oy, x+ox) + w01·s(y+oy, x+ox+1) + w10·s(y+oy+1, x+ox) + w11·s(y+oy+1, x+ox+1)
 * for x0 ≤ x < x1, y0 ≤ y < y1, plane ch. A weight of 0 skips its taps, so an
 * integer shift is an exact copy and a half-pixel shift the exact mean
 * (each product by 0.5 is exact and the sum is rounded once).
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
  const rowB = <usize>W * bp;
  const w00: f32 = (1 - fy) * (1 - fx);
  const w01: f32 = (1 - fy) * fx;
  const w10: f32 = fy * (1 - fx);
  const w11: f32 = fy * fx;
  const v00 = f32x4.splat(w00);
  const v01 = f32x4.splat(w01);
  const v10 = f32x4.splat(w10);
  const v11 = f32x4.splat(w11);
  const twoCols = fx != 0;
  const twoRows = fy != 0;
  for (let y = y0; y < y1; y++) {
    const s0 = src + (<usize>(y + oy) * W + <usize>(x0 + ox)) * bp;
    const s1 = s0 + rowB;
    const d = dst + (<usize>y * W + <usize>x0) * 4;
    const n = x1 - x0;
    let i = 0;
    if (!twoCols && !twoRows) {
      for (; i + 4 <= n; i += 4) v128.store(d + (<usize>i << 2), load4<T>(s0 + <usize>i * bp));
      for (; i < n; i++) store<f32>(d + (<usize>i << 2), load1<T>(s0 + <usize>i * bp));
    } else if (!twoRows) {
      for (; i + 4 <= n; i += 4) {
        const o = <usize>i * bp;
        const v = f32x4.add(f32x4.mul(v00, load4<T>(s0 + o)), f32x4.mul(v01, load4<T>(s0 + o + bp)));
        v128.store(d + (<usize>i << 2), v);
      }
      for (; i < n; i++) {
        const o = <usize>i * bp;
        store<f32>(d + (<usize>i << 2), w00 * load1<T>(s0 + o) + w01 * load1<T>(s0 + o + bp));
      }
    } else if (!twoCols) {
      for (; i + 4 <= n; i += 4) {
        const o = <usize>i * bp;
        const v = f32x4.add(f32x4.mul(v00, load4<T>(s0 + o)), f32x4.mul(v10, load4<T>(s1 + o)));
        v128.store(d + (<usize>i << 2), v);
      }
      for (; i < n; i++) {
        const o = <usize>i * bp;
        store<f32>(d + (<usize>i << 2), w00 * load1<T>(s0 + o) + w10 * load1<T>(s1 + o));
      }
    } else {
      for (; i + 4 <= n; i += 4) {
        const o = <usize>i * bp;
        const top = f32x4.add(f32x4.mul(v00, load4<T>(s0 + o)), f32x4.mul(v01, load4<T>(s0 + o + bp)));
        const bot = f32x4.add(f32x4.mul(v10, load4<T>(s1 + o)), f32x4.mul(v11, load4<T>(s1 + o + bp)));
        v128.store(d + (<usize>i << 2), f32x4.add(top, bot));
      }
      for (; i < n; i++) {
        const o = <usize>i * bp;
        const top = w00 * load1<T>(s0 + o) + w01 * load1<T>(s0 + o + bp);
        const bot = w10 * load1<T>(s1 + o) + w11 * load1<T>(s1 + o + bp);
        store<f32>(d + (<usize>i << 2), top + bot);
      }
    }
  }
}
