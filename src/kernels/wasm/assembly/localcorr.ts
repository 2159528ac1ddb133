// Block sums of the local correlation map (src/kernels/localCorrelation.ts),
// 128-bit SIMD: the float32 frame is widened to float64 two lanes at a time,
// so the sums are those of the TypeScript reference up to the order of the
// additions. The template side (centred template, its block means and sums)
// is written by TypeScript once per template; per frame only Σd, Σd², Σd·t
// (d = frame − block mean of the template) are summed here.
//
// Layout, fixed by init(): [frame f32 W·H][centred template f32 W·H], then
// ten f64 arrays of one value per block (the ARRAY_* indices), then one byte
// per block (dirty: summed again with the mask).

import { align64, reserve } from './shared/memory';

let W: i32 = 0;
let H: i32 = 0;
let B: i32 = 0;
let COLS: i32 = 0;
let ROWS: i32 = 0;
let frameP: usize = 0;
let centredP: usize = 0;
let arraysP: usize = 0;
/** One byte per block: its sums are not finite, it is summed again with the mask. */
let dirtyP: usize = 0;

// Per-block arrays, in this order after the centred template (indices for ptr()).
const ARRAY_T_MEAN = 0;
const ARRAY_T_SUM = 1;
const ARRAY_T_SUMSQ = 2;
const ARRAY_T_COUNT = 3;
const ARRAY_SF = 4;
const ARRAY_SFF = 5;
const ARRAY_SFT = 6;
const ARRAY_ST = 7;
const ARRAY_STT = 8;
const ARRAY_N = 9;
const ARRAYS = 10;

/** 0 on success, 2 when memory cannot grow. */
export function init(w: i32, h: i32, block: i32): i32 {
  W = w;
  H = h;
  B = block;
  COLS = (w + block - 1) / block;
  ROWS = (h + block - 1) / block;
  frameP = align64(__heap_base);
  centredP = align64(frameP + <usize>w * h * 4);
  arraysP = align64(centredP + <usize>w * h * 4);
  dirtyP = arraysP + <usize>ARRAYS * COLS * ROWS * 8;
  return reserve(dirtyP + <usize>COLS * ROWS);
}

export function framePtr(): usize {
  return frameP;
}

export function centredPtr(): usize {
  return centredP;
}

/** The per-block array i (ARRAY_*): COLS·ROWS f64. */
export function arrayPtr(i: i32): usize {
  return arraysP + <usize>i * COLS * ROWS * 8;
}

// @ts-ignore: decorator
@inline
function at(i: i32, b: i32): usize {
  return arraysP + (<usize>i * COLS * ROWS + b) * 8;
}

/**
 * Σd, Σd², Σd·t of every block, and the template's Σt, Σt², count copied in.
 * Row by row, as the images lie in memory (the hardware prefetcher follows
 * that; block by block it jumps a row every 32 pixels, and in the pipeline,
 * with the caches cold, this pass took twice its time in isolation). A
 * block's stretch of a row is summed in registers and added to the block's
 * sums. A block whose sums come out non-finite (a NaN or ±Infinity pixel in
 * either image) is summed again over the pixels finite in both, as in the
 * reference.
 */
export function sums(): void {
  const nb = COLS * ROWS;
  memory.fill(at(ARRAY_SF, 0), 0, <usize>nb * 3 * 8); // SF, SFF, SFT lie one after the other
  memory.fill(dirtyP, 0, <usize>nb);
  for (let y = 0; y < H; y++) {
    const rowBlock = (y / B) * COLS;
    for (let bx = 0; bx < COLS; bx++) {
      const b = rowBlock + bx;
      if (load<u8>(dirtyP + b)) continue;
      const x0 = bx * B;
      if (!addStretch(b, load<f64>(at(ARRAY_T_MEAN, b)), <usize>y * W + x0, min(W, x0 + B) - x0)) store<u8>(dirtyP + b, 1);
    }
  }
  for (let by = 0; by < ROWS; by++) {
    for (let bx = 0; bx < COLS; bx++) {
      const b = by * COLS + bx;
      if (load<u8>(dirtyP + b)) {
        const x0 = bx * B;
        maskedBlock(b, load<f64>(at(ARRAY_T_MEAN, b)), by * B, min(H, by * B + B), x0, min(W, x0 + B) - x0);
      } else {
        store<f64>(at(ARRAY_ST, b), load<f64>(at(ARRAY_T_SUM, b)));
        store<f64>(at(ARRAY_STT, b), load<f64>(at(ARRAY_T_SUMSQ, b)));
        store<f64>(at(ARRAY_N, b), load<f64>(at(ARRAY_T_COUNT, b)));
      }
    }
  }
}

/** Adds the sums of bw pixels from index i0 (one block's stretch of a row) to block b's; false when they are not finite. */
function addStretch(b: i32, m: f64, i0: usize, bw: i32): bool {
  const mv = f64x2.splat(m);
  let aLo = f64x2.splat(0);
  let aHi = f64x2.splat(0);
  let qLo = f64x2.splat(0);
  let qHi = f64x2.splat(0);
  let pLo = f64x2.splat(0);
  let pHi = f64x2.splat(0);
  let a: f64 = 0;
  let q: f64 = 0;
  let p: f64 = 0;
  let fp = frameP + i0 * 4;
  let tp = centredP + i0 * 4;
  const fEnd = fp + <usize>(bw & ~3) * 4;
  while (fp < fEnd) {
    const dLo = f64x2.sub(f64x2.promote_low_f32x4(v128.load64_zero(fp)), mv);
    const dHi = f64x2.sub(f64x2.promote_low_f32x4(v128.load64_zero(fp, 8)), mv);
    aLo = f64x2.add(aLo, dLo);
    aHi = f64x2.add(aHi, dHi);
    qLo = f64x2.add(qLo, f64x2.mul(dLo, dLo));
    qHi = f64x2.add(qHi, f64x2.mul(dHi, dHi));
    pLo = f64x2.add(pLo, f64x2.mul(dLo, f64x2.promote_low_f32x4(v128.load64_zero(tp))));
    pHi = f64x2.add(pHi, f64x2.mul(dHi, f64x2.promote_low_f32x4(v128.load64_zero(tp, 8))));
    fp += 16;
    tp += 16;
  }
  for (let x = bw & ~3; x < bw; x++) {
    const d = <f64>load<f32>(fp) - m;
    a += d;
    q += d * d;
    p += d * <f64>load<f32>(tp);
    fp += 4;
    tp += 4;
  }
  const av = f64x2.add(aLo, aHi);
  const qv = f64x2.add(qLo, qHi);
  const pv = f64x2.add(pLo, pHi);
  a += f64x2.extract_lane(av, 0) + f64x2.extract_lane(av, 1);
  q += f64x2.extract_lane(qv, 0) + f64x2.extract_lane(qv, 1);
  p += f64x2.extract_lane(pv, 0) + f64x2.extract_lane(pv, 1);
  if (!isFinite(q) || !isFinite(p)) return false;
  store<f64>(at(ARRAY_SF, b), load<f64>(at(ARRAY_SF, b)) + a);
  store<f64>(at(ARRAY_SFF, b), load<f64>(at(ARRAY_SFF, b)) + q);
  store<f64>(at(ARRAY_SFT, b), load<f64>(at(ARRAY_SFT, b)) + p);
  return true;
}

// @ts-ignore: decorator
@inline
function finiteMask(v: v128): v128 {
  // x − x is 0 for finite x and NaN for NaN and ±Infinity.
  return f64x2.eq(f64x2.sub(v, v), f64x2.splat(0));
}

/** Sums over the pixels finite in both images (the template's side too). */
function maskedBlock(b: i32, m: f64, y0: i32, y1: i32, x0: i32, bw: i32): void {
  const mv = f64x2.splat(m);
  let av = f64x2.splat(0);
  let qv = f64x2.splat(0);
  let pv = f64x2.splat(0);
  let tv = f64x2.splat(0);
  let ttv = f64x2.splat(0);
  let kv = i64x2.splat(0);
  let a: f64 = 0;
  let q: f64 = 0;
  let p: f64 = 0;
  let t: f64 = 0;
  let tt: f64 = 0;
  let k: i64 = 0;
  const bw2 = bw & ~1;
  for (let y = y0; y < y1; y++) {
    const i0 = <usize>y * W + x0;
    let fp = frameP + i0 * 4;
    let tp = centredP + i0 * 4;
    const fEnd = fp + <usize>bw2 * 4;
    while (fp < fEnd) {
      const d = f64x2.sub(f64x2.promote_low_f32x4(v128.load64_zero(fp)), mv);
      const c = f64x2.promote_low_f32x4(v128.load64_zero(tp));
      const mask = v128.and(finiteMask(d), finiteMask(c));
      const dm = v128.and(d, mask);
      const cm = v128.and(c, mask);
      av = f64x2.add(av, dm);
      qv = f64x2.add(qv, f64x2.mul(dm, dm));
      pv = f64x2.add(pv, f64x2.mul(dm, cm));
      tv = f64x2.add(tv, cm);
      ttv = f64x2.add(ttv, f64x2.mul(cm, cm));
      kv = i64x2.sub(kv, mask);
      fp += 8;
      tp += 8;
    }
    if (bw2 < bw) {
      const d = <f64>load<f32>(fp) - m;
      const c = <f64>load<f32>(tp);
      if (isFinite(d) && isFinite(c)) {
        a += d;
        q += d * d;
        p += d * c;
        t += c;
        tt += c * c;
        k++;
      }
    }
  }
  store<f64>(at(ARRAY_SF, b), a + f64x2.extract_lane(av, 0) + f64x2.extract_lane(av, 1));
  store<f64>(at(ARRAY_SFF, b), q + f64x2.extract_lane(qv, 0) + f64x2.extract_lane(qv, 1));
  store<f64>(at(ARRAY_SFT, b), p + f64x2.extract_lane(pv, 0) + f64x2.extract_lane(pv, 1));
  store<f64>(at(ARRAY_ST, b), t + f64x2.extract_lane(tv, 0) + f64x2.extract_lane(tv, 1));
  store<f64>(at(ARRAY_STT, b), tt + f64x2.extract_lane(ttv, 0) + f64x2.extract_lane(ttv, 1));
  store<f64>(at(ARRAY_N, b), <f64>(k + i64x2.extract_lane(kv, 0) + i64x2.extract_lane(kv, 1)));
}
