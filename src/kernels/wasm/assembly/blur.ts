// The float64 Gaussian blur of the segmentation (gaussianBlur64 in
// src/kernels/segment.ts, scipy.ndimage's order of operations), two pixels
// per f64x2 lane pair. Every lane does the reference's operations in the
// reference's order — x·w0, then + (x[−j] + x[+j])·w[j] for j = r … 1 — and
// WebAssembly neither fuses nor reorders floating-point operations, so the
// result is bit-identical to the TypeScript reference (and so to scikit-image).
//
// Layout, fixed by init(): [image f64 W·H][result f64 W·H][line f64 W + 2R]
// [taps f64 R + 1][tap offsets i32 2R + 2][mask u8 W·H][row starts i32 H + 1]
// [runs i32 pairs ⌈W/2⌉·H], then, from histogramLayout(bins), [counts i32 bins]
// [edges f64 bins + 1]. TypeScript writes the
// image (as float64) and the taps w[0…R]; blur() writes the result.
//
// Otsu's threshold of the smoothed image is the reference's
// (src/kernels/threshold.ts) with its two passes over the image done here:
// minMax() and histogram() do the same comparisons and the same float64
// arithmetic in the same order, so the counts are identical; TypeScript
// computes the edges and the threshold from the counts. mask() writes
// result > threshold as bytes for the labelling, runs() the same as runs
// along the rows for the run-based labelling of tracked mode.

import { align64, reserve } from './shared/memory';

let W: i32 = 0;
let H: i32 = 0;
let R: i32 = 0;
let imageP: usize = 0;
let resultP: usize = 0;
let lineP: usize = 0;
let tapsP: usize = 0;
let offsP: usize = 0;
let maskP: usize = 0;
let rowStartP: usize = 0;
let runsP: usize = 0;
let endP: usize = 0;
let countsP: usize = 0;
let edgesP: usize = 0;
let minV: f64 = 0;
let maxV: f64 = 0;

/** 0 on success, 2 when memory cannot grow. */
export function init(w: i32, h: i32, r: i32): i32 {
  W = w;
  H = h;
  R = r;
  imageP = align64(__heap_base);
  resultP = align64(imageP + <usize>w * h * 8);
  lineP = align64(resultP + <usize>w * h * 8);
  tapsP = align64(lineP + <usize>(w + 2 * r) * 8);
  offsP = align64(tapsP + <usize>(r + 1) * 8);
  maskP = align64(offsP + <usize>(2 * r + 2) * 4);
  rowStartP = align64(maskP + <usize>w * h);
  runsP = align64(rowStartP + <usize>(h + 1) * 4);
  // At most ⌈W/2⌉ runs per row (each needs a background pixel after it, but the last).
  endP = align64(runsP + <usize>((w + 1) >> 1) * h * 8);
  countsP = 0;
  edgesP = 0;
  return reserve(endP);
}

/** Room for a histogram of `bins` bins after the rest; 0 on success, 2 when memory cannot grow. */
export function histogramLayout(bins: i32): i32 {
  countsP = endP;
  edgesP = align64(countsP + <usize>bins * 4);
  return reserve(edgesP + <usize>(bins + 1) * 8);
}

export function maskPtr(): usize {
  return maskP;
}

export function rowStartPtr(): usize {
  return rowStartP;
}

export function runsPtr(): usize {
  return runsP;
}

export function countsPtr(): usize {
  return countsP;
}

export function edgesPtr(): usize {
  return edgesP;
}

export function imagePtr(): usize {
  return imageP;
}

export function tapsPtr(): usize {
  return tapsP;
}

export function resultPtr(): usize {
  return resultP;
}

/**
 * The blur, image → result, one row at a time: the vertical pass of row y
 * goes straight into the middle of the padded line buffer and the horizontal
 * pass of that line into row y of the result, so no intermediate image is
 * written or read back.
 */
export function blur(): void {
  const rowBytes = <usize>W * 8;
  const mid = lineP + (<usize>R << 3);
  for (let y = 0; y < H; y++) {
    const o = <usize>y * rowBytes;
    if (y >= R && y + R < H) {
      convolveStrided(imageP + o, mid, <isize>rowBytes);
    } else {
      // Rows within R of the top or bottom: the clamped ('nearest') rows from the offsets table.
      for (let j = 1; j <= R; j++) {
        store<i32>(offsP + (<usize>(2 * j) << 2), (max(0, y - j) - y) * <i32>rowBytes);
        store<i32>(offsP + (<usize>(2 * j + 1) << 2), (min(H - 1, y + j) - y) * <i32>rowBytes);
      }
      convolveClamped(imageP + o, mid);
    }
    const first = load<f64>(mid);
    const last = load<f64>(mid + rowBytes - 8);
    for (let i = 0; i < R; i++) {
      store<f64>(lineP + (<usize>i << 3), first);
      store<f64>(mid + rowBytes + (<usize>i << 3), last);
    }
    convolveStrided(mid, resultP + o, 8);
  }
}

// @ts-ignore: decorator
@inline
function tap(j: i32): f64 {
  return load<f64>(tapsP + (<usize>j << 3));
}

/**
 * One row of W outputs: out(x) = in(x)·w0 + Σ_{j=R…1} (in(x − j·stride) + in(x + j·stride))·w_j
 * (stride in bytes: a row for the vertical pass, a value for the horizontal one); eight outputs
 * per step in four f64x2, the taps' addresses walked inwards instead of read from a table.
 */
function convolveStrided(src: usize, dst: usize, stride: isize): void {
  const w0 = f64x2.splat(tap(0));
  const x8 = W & ~7;
  const reach = <isize>R * stride;
  const tapsR = tapsP + (<usize>R << 3);
  let x = 0;
  for (; x < x8; x += 8) {
    const p = src + (<usize>x << 3);
    let a0 = f64x2.mul(v128.load(p), w0);
    let a1 = f64x2.mul(v128.load(p, 16), w0);
    let a2 = f64x2.mul(v128.load(p, 32), w0);
    let a3 = f64x2.mul(v128.load(p, 48), w0);
    let pa = <usize>(<isize>p - reach);
    let pb = <usize>(<isize>p + reach);
    for (let t = tapsR; t > tapsP; t -= 8) {
      const wj = v128.load64_splat(t);
      a0 = f64x2.add(a0, f64x2.mul(f64x2.add(v128.load(pa), v128.load(pb)), wj));
      a1 = f64x2.add(a1, f64x2.mul(f64x2.add(v128.load(pa, 16), v128.load(pb, 16)), wj));
      a2 = f64x2.add(a2, f64x2.mul(f64x2.add(v128.load(pa, 32), v128.load(pb, 32)), wj));
      a3 = f64x2.add(a3, f64x2.mul(f64x2.add(v128.load(pa, 48), v128.load(pb, 48)), wj));
      pa = <usize>(<isize>pa + stride);
      pb = <usize>(<isize>pb - stride);
    }
    const q = dst + (<usize>x << 3);
    v128.store(q, a0);
    v128.store(q, a1, 16);
    v128.store(q, a2, 32);
    v128.store(q, a3, 48);
  }
  for (; x < W; x++) {
    const p = src + (<usize>x << 3);
    let a = load<f64>(p) * tap(0);
    for (let j = R; j >= 1; j--) {
      const va = load<f64>(<usize>(<isize>p - <isize>j * stride));
      const vb = load<f64>(<usize>(<isize>p + <isize>j * stride));
      a += (va + vb) * tap(j);
    }
    store<f64>(dst + (<usize>x << 3), a);
  }
}

/** convolveStrided with the byte offsets a_j, b_j of the offsets table (the clamped rows). */
function convolveClamped(src: usize, dst: usize): void {
  const w0 = f64x2.splat(tap(0));
  const x8 = W & ~7;
  let x = 0;
  for (; x < x8; x += 8) {
    const p = src + (<usize>x << 3);
    let a0 = f64x2.mul(v128.load(p), w0);
    let a1 = f64x2.mul(v128.load(p, 16), w0);
    let a2 = f64x2.mul(v128.load(p, 32), w0);
    let a3 = f64x2.mul(v128.load(p, 48), w0);
    for (let j = R; j >= 1; j--) {
      const pa = p + <usize>load<i32>(offsP + (<usize>(2 * j) << 2));
      const pb = p + <usize>load<i32>(offsP + (<usize>(2 * j + 1) << 2));
      const wj = f64x2.splat(tap(j));
      a0 = f64x2.add(a0, f64x2.mul(f64x2.add(v128.load(pa), v128.load(pb)), wj));
      a1 = f64x2.add(a1, f64x2.mul(f64x2.add(v128.load(pa, 16), v128.load(pb, 16)), wj));
      a2 = f64x2.add(a2, f64x2.mul(f64x2.add(v128.load(pa, 32), v128.load(pb, 32)), wj));
      a3 = f64x2.add(a3, f64x2.mul(f64x2.add(v128.load(pa, 48), v128.load(pb, 48)), wj));
    }
    const q = dst + (<usize>x << 3);
    v128.store(q, a0);
    v128.store(q, a1, 16);
    v128.store(q, a2, 32);
    v128.store(q, a3, 48);
  }
  for (; x < W; x++) {
    const p = src + (<usize>x << 3);
    let a = load<f64>(p) * tap(0);
    for (let j = R; j >= 1; j--) {
      const va = load<f64>(p + <usize>load<i32>(offsP + (<usize>(2 * j) << 2)));
      const vb = load<f64>(p + <usize>load<i32>(offsP + (<usize>(2 * j + 1) << 2)));
      a += (va + vb) * tap(j);
    }
    store<f64>(dst + (<usize>x << 3), a);
  }
}

/**
 * The smallest and largest value of the image (minValue(), maxValue()), with
 * the reference's comparisons (v < min, v > max) two lanes at a time: pmin and
 * pmax select the same operands, so the extremes are the same values.
 */
export function minMax(): void {
  const n = W * H;
  let mn = f64x2.splat(load<f64>(resultP));
  let mx = mn;
  let i = 0;
  for (; i + 2 <= n; i += 2) {
    const v = v128.load(resultP + (<usize>i << 3));
    mn = f64x2.pmin(mn, v);
    mx = f64x2.pmax(mx, v);
  }
  let a = f64x2.extract_lane(mn, 0);
  let b = f64x2.extract_lane(mx, 0);
  const a1 = f64x2.extract_lane(mn, 1);
  const b1 = f64x2.extract_lane(mx, 1);
  if (a1 < a) a = a1;
  if (b1 > b) b = b1;
  for (; i < n; i++) {
    const v = load<f64>(resultP + (<usize>i << 3));
    if (v < a) a = v;
    if (v > b) b = v;
  }
  minV = a;
  maxV = b;
}

export function minValue(): f64 {
  return minV;
}

export function maxValue(): f64 {
  return maxV;
}

/**
 * np.histogram's bins of the image over [first, …] (histogramUniform in
 * src/kernels/threshold.ts): k = ⌊(v − first)·norm⌋, then moved by one where
 * the edges (written by TypeScript) say so.
 */
export function histogram(first: f64, norm: f64, bins: i32): void {
  memory.fill(countsP, 0, <usize>bins * 4);
  const n = W * H;
  for (let i = 0; i < n; i++) {
    const v = load<f64>(resultP + (<usize>i << 3));
    let k = <i32>((v - first) * norm);
    if (k == bins) k--;
    if (v < load<f64>(edgesP + (<usize>k << 3))) k--;
    else if (k != bins - 1 && v >= load<f64>(edgesP + (<usize>(k + 1) << 3))) k++;
    const c = countsP + (<usize>k << 2);
    store<i32>(c, load<i32>(c) + 1);
  }
}

/** mask = image > threshold, one byte per pixel. */
export function mask(threshold: f64): void {
  const n = W * H;
  for (let i = 0; i < n; i++) store<u8>(maskP + <usize>i, load<f64>(resultP + (<usize>i << 3)) > threshold ? 1 : 0);
}

/**
 * The runs of result > threshold along each row, for the labelling: pairs
 * [x0, x1) of i32 at runsP, row y's runs from pair rowStart[y] to rowStart[y + 1]
 * (i32 at rowStartP, H + 1 of them). Eight pixels are compared at a time; the
 * eight bits are looked at one by one only where the mask changes within them.
 * Returns the number of runs.
 */
export function runs(threshold: f64): i32 {
  const t = f64x2.splat(threshold);
  const x8 = W & ~7;
  let nr = 0;
  for (let y = 0; y < H; y++) {
    store<i32>(rowStartP + (<usize>y << 2), nr);
    const row = resultP + <usize>y * W * 8;
    let inRun = 0;
    let start = 0;
    let x = 0;
    for (; x < x8; x += 8) {
      const p = row + (<usize>x << 3);
      const bits =
        i64x2.bitmask(f64x2.gt(v128.load(p), t)) |
        (i64x2.bitmask(f64x2.gt(v128.load(p, 16), t)) << 2) |
        (i64x2.bitmask(f64x2.gt(v128.load(p, 32), t)) << 4) |
        (i64x2.bitmask(f64x2.gt(v128.load(p, 48), t)) << 6);
      if (bits == (inRun ? 0xff : 0)) continue;
      for (let b = 0; b < 8; b++) {
        const on = (bits >> b) & 1;
        if (on == inRun) continue;
        if (on) {
          start = x + b;
        } else {
          const q = runsP + (<usize>nr << 3);
          store<i32>(q, start);
          store<i32>(q, x + b, 4);
          nr++;
        }
        inRun = on;
      }
    }
    for (; x < W; x++) {
      const on = load<f64>(row + (<usize>x << 3)) > threshold ? 1 : 0;
      if (on == inRun) continue;
      if (on) {
        start = x;
      } else {
        const q = runsP + (<usize>nr << 3);
        store<i32>(q, start);
        store<i32>(q, x, 4);
        nr++;
      }
      inRun = on;
    }
    if (inRun) {
      const q = runsP + (<usize>nr << 3);
      store<i32>(q, start);
      store<i32>(q, W, 4);
      nr++;
    }
  }
  store<i32>(rowStartP + (<usize>H << 2), nr);
  return nr;
}

/**
 * Non-finite pixels (the warp's NaN border, a bad pixel) of the image replaced
 * by its smallest finite value (0 when there is none), before smoothing.
 */
export function fillNonFinite(): void {
  const n = W * H;
  const zero = f64x2.splat(0);
  let mn = f64x2.splat(Infinity);
  let i = 0;
  for (; i + 2 <= n; i += 2) {
    const v = v128.load(imageP + (<usize>i << 3));
    const finite = f64x2.eq(f64x2.sub(v, v), zero);
    mn = f64x2.pmin(mn, v128.bitselect(v, f64x2.splat(Infinity), finite));
  }
  let lo = min(f64x2.extract_lane(mn, 0), f64x2.extract_lane(mn, 1));
  for (; i < n; i++) {
    const v = load<f64>(imageP + (<usize>i << 3));
    if (v - v == 0 && v < lo) lo = v;
  }
  if (lo == Infinity) lo = 0;
  const fill = f64x2.splat(lo);
  for (i = 0; i + 2 <= n; i += 2) {
    const p = imageP + (<usize>i << 3);
    const v = v128.load(p);
    v128.store(p, v128.bitselect(v, fill, f64x2.eq(f64x2.sub(v, v), zero)));
  }
  for (; i < n; i++) {
    const p = imageP + (<usize>i << 3);
    const v = load<f64>(p);
    if (v - v != 0) store<f64>(p, lo);
  }
}
