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
// Two rows of horizontally interpolated source, W f32 each: every source row is
// interpolated once and used by the two output rows that read it.
let rowA: usize = 0;
let rowB: usize = 0;

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
  rowA = (dstP + <usize>w * h * c * 4 + 63) & ~(<usize>63);
  rowB = (rowA + <usize>w * 4 + 16 + 63) & ~(<usize>63);
  const end = rowB + <usize>w * 4 + 16;
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

/** Horizontal interpolation of source row sy, columns x0 + ox … x1 + ox, into row[x0 … x1). */
// @ts-ignore: decorator
@inline
function lerpRow<T>(src: usize, sy: i32, ox: i32, x0: i32, x1: i32, w0: v128, w1: v128, s0: f32, s1: f32, row: usize): void {
  const bp = <usize>sizeof<T>();
  const p = src + (<usize>sy * W + <usize>(x0 + ox)) * bp;
  const r = row + (<usize>x0 << 2);
  const n = x1 - x0;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i * bp;
    v128.store(r + (<usize>i << 2), f32x4.add(f32x4.mul(w0, load4<T>(p + o)), f32x4.mul(w1, load4<T>(p + o + bp))));
  }
  for (; i < n; i++) {
    const o = <usize>i * bp;
    store<f32>(r + (<usize>i << 2), s0 * load1<T>(p + o) + s1 * load1<T>(p + o + bp));
  }
}

/**
 * Both fractions non-zero, separably: each source row is interpolated along x
 * once into a row buffer, and each output row combines two such rows along y,
 * so every source pixel is converted once per output row pair, not four times.
 */
function bilinearRows<T>(src: usize, dst: usize, oy: i32, ox: i32, fy: f32, fx: f32, x0: i32, x1: i32, y0: i32, y1: i32): void {
  const w0 = f32x4.splat(1 - fx);
  const w1 = f32x4.splat(fx);
  const v0 = f32x4.splat(1 - fy);
  const v1 = f32x4.splat(fy);
  let top = rowA;
  let bot = rowB;
  lerpRow<T>(src, y0 + oy, ox, x0, x1, w0, w1, 1 - fx, fx, top);
  const n = x1 - x0;
  for (let y = y0; y < y1; y++) {
    lerpRow<T>(src, y + oy + 1, ox, x0, x1, w0, w1, 1 - fx, fx, bot);
    const d = dst + (<usize>y * W + <usize>x0) * 4;
    const a = top + (<usize>x0 << 2);
    const b = bot + (<usize>x0 << 2);
    let i = 0;
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      v128.store(d + o, f32x4.add(f32x4.mul(v0, v128.load(a + o)), f32x4.mul(v1, v128.load(b + o))));
    }
    for (; i < n; i++) {
      const o = <usize>i << 2;
      store<f32>(d + o, (1 - fy) * load<f32>(a + o) + fy * load<f32>(b + o));
    }
    const t = top;
    top = bot;
    bot = t;
  }
}
