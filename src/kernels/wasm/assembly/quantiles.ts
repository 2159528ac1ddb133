// Median, quartiles and MAD per object (IntensityFeatures with a kernel;
// src/kernels/features/intensity.ts is the reference), bit-identical to it.
// TypeScript gathers each object's finite values (as float32: uint8, uint16
// and float32 pixels are all exact there) into `values` at the object's CSR
// offset and writes their count; run() writes the four columns.
//
// Every result is an order statistic (or numpy's lerp of two) of the values
// or of the float64 deviations |x − median|, so any exact selection gives the
// reference's numbers; only the work differs. Up to SMALL values: the
// reference's own insertion sort and merge (stable, so even the sign of a
// zero matches). Above: one pass puts the values into ≈ n/2…n equal-width
// buckets, whose index is monotone in the value (float32 rounding and
// truncation are), counting them and linking each into its bucket's list; a
// running sum over the counts finds the buckets that hold the six ranks
// needed (floor and floor + 1 of (n − 1)·q for q = ¼, ½, ¾) and where their
// values go in sorted order; only those lists are walked, and sorted there
// (as the int32 keys of their bits: −0 before +0, as the reference's bucket
// path). The MAD repeats this on the deviations over [0, D], D bounding the
// deviations of the two middle ranks. O(n) per object, nothing sorted whole,
// no data-dependent branch per value. A crowded bucket (far outliers, few
// distinct values) is radix-sorted, so there is no quadratic case.
//
// Layout, fixed by init(): [offsets i32 count + 1][counts i32 count]
// [values f32 total + 4][out f64 4·count: median, lower, upper quartile, MAD]
// then the scratch of the largest object: [f64 maxSize] ×2 (deviations, radix
// buffer), [i32 maxSize] ×3 (keys, radix buffer, list links), the buckets
// (count and list head, i32 pairs), the radix tables and the marked buckets.

import { align64, reserve } from './shared/memory';

/** As the reference: objects of at most SMALL values are insertion-sorted. */
const SMALL: i32 = 48;
/** A bucket to sort with more values than this is radix-sorted instead. */
const BUCKET_MAX: i32 = 32;
const BUCKET_BITS: i32 = 15;

let COUNT: i32 = 0;
let offP: usize = 0;
let nP: usize = 0;
let valsP: usize = 0;
let outP: usize = 0;
let sP: usize = 0;
let tP: usize = 0;
let tmpKeysP: usize = 0;
let keysP: usize = 0;
let nextP: usize = 0;
let cntP: usize = 0;
let radixP: usize = 0;
let markP: usize = 0;
let nMarked: i32 = 0;

/** 0 on success, 2 when memory cannot grow. */
export function init(count: i32, total: i32, maxSize: i32): i32 {
  COUNT = count;
  const m = <usize>max(maxSize, 1);
  offP = align64(__heap_base);
  nP = align64(offP + <usize>(count + 1) * 4);
  valsP = align64(nP + <usize>count * 4);
  outP = align64(valsP + <usize>(total + 4) * 4);
  sP = align64(outP + <usize>count * 32);
  tP = align64(sP + m * 8);
  tmpKeysP = align64(tP + m * 8);
  keysP = align64(tmpKeysP + m * 4);
  nextP = align64(keysP + m * 4);
  cntP = align64(nextP + m * 4);
  radixP = align64(cntP + <usize>((1 << BUCKET_BITS) + 8) * 8);
  markP = align64(radixP + 8 * 256 * 4);
  return reserve(align64(markP + 8 * 3 * 4));
}

export function offsetsPtr(): usize {
  return offP;
}

export function countsPtr(): usize {
  return nP;
}

export function valuesPtr(): usize {
  return valsP;
}

/** The four result columns, one after the other (count f64 each). */
export function outPtr(): usize {
  return outP;
}

/** Median, quartiles and MAD of objects 0 … count − 1. */
export function run(): void {
  for (let k = 0; k < COUNT; k++) {
    const a = load<i32>(offP + (<usize>k << 2));
    const n = load<i32>(nP + (<usize>k << 2));
    const vp = valsP + (<usize>a << 2);
    if (n == 0) write(k, NaN, NaN, NaN, NaN);
    else if (n <= SMALL) small(k, vp, n);
    else large(k, vp, n);
  }
}

// @ts-ignore: decorator
@inline
function write(k: i32, med: f64, lq: f64, uq: f64, mad: f64): void {
  const o = outP + (<usize>k << 3);
  const c = <usize>COUNT << 3;
  store<f64>(o, med);
  store<f64>(o + c, lq);
  store<f64>(o + 2 * c, uq);
  store<f64>(o + 3 * c, mad);
}

/** numpy's linear interpolation (`_lerp` in numpy 1.24's quantile), as the reference. */
// @ts-ignore: decorator
@inline
function lerp(a: f64, b: f64, t: f64): f64 {
  const diff = b - a;
  return t >= 0.5 ? b - diff * (1 - t) : a + diff * t;
}

// @ts-ignore: decorator
@inline
function f64At(p: usize, i: i32): f64 {
  return load<f64>(p + (<usize>i << 3));
}

// @ts-ignore: decorator
@inline
function i32At(p: usize, i: i32): i32 {
  return load<i32>(p + (<usize>i << 2));
}

/** The order key of float32 bits: int32 order is float order, −0 before +0. */
// @ts-ignore: decorator
@inline
function keyOf(bits: i32): i32 {
  return bits ^ ((bits >> 31) & 0x7fffffff);
}

// @ts-ignore: decorator
@inline
function valueOf(key: i32): f64 {
  return <f64>reinterpret<f32>(key ^ ((key >> 31) & 0x7fffffff));
}

/** The reference's path for n ≤ SMALL: stable insertion sort, quantiles read off, MAD by merging. */
function small(k: i32, vp: usize, n: i32): void {
  const s = sP;
  for (let j = 0; j < n; j++) store<f64>(s + (<usize>j << 3), <f64>load<f32>(vp + (<usize>j << 2)));
  insertionSortF64(s, 0, n - 1);
  const last = n - 1;
  const pm = <f64>last * 0.5;
  const mid = <i32>Math.floor(pm);
  const median = lerp(f64At(s, mid), f64At(s, mid < last ? mid + 1 : mid), pm - mid);
  const pl = <f64>last * 0.25;
  const il = <i32>Math.floor(pl);
  const pu = <f64>last * 0.75;
  const iu = <i32>Math.floor(pu);
  const lq = lerp(f64At(s, il), f64At(s, il < last ? il + 1 : il), pl - il);
  const uq = lerp(f64At(s, iu), f64At(s, iu < last ? iu + 1 : iu), pu - iu);
  // Deviations: left of the first value ≥ median they grow leftwards, from there rightwards.
  let r = mid;
  while (r > 0 && f64At(s, r - 1) >= median) r--;
  while (r < n && f64At(s, r) < median) r++;
  let l = r - 1;
  let d0: f64 = 0;
  let d1: f64 = 0;
  for (let t = 0; t <= mid + 1 && t < n; t++) {
    let d: f64;
    if (l < 0) d = f64At(s, r++) - median;
    else if (r >= n) d = median - f64At(s, l--);
    else {
      const a = median - f64At(s, l);
      const c = f64At(s, r) - median;
      if (a <= c) {
        d = a;
        l--;
      } else {
        d = c;
        r++;
      }
    }
    if (t == mid) d0 = d;
    else if (t == mid + 1) d1 = d;
  }
  write(k, median, lq, uq, lerp(d0, mid < last ? d1 : d0, pm - mid));
}

/** Value buckets: ⌊(x − lo)·scale⌋ in float32, clamped to [0, top]; monotone in x. */
// @ts-ignore: decorator
@inline
function valueBuckets(v: v128, lo: v128, scale: v128, top: v128): v128 {
  const b = i32x4.trunc_sat_f32x4_s(f32x4.mul(f32x4.sub(v, lo), scale));
  return i32x4.min_s(i32x4.max_s(b, i32x4.splat(0)), top);
}

/** Deviation buckets: ⌊min(|x − median|·scale, lim)⌋ of two float32 values (lanes 0, 1); monotone in the deviation. */
// @ts-ignore: decorator
@inline
function devBuckets(v: v128, med: v128, scale: v128, lim: v128): v128 {
  const d = f64x2.abs(f64x2.sub(f64x2.promote_low_f32x4(v), med));
  return i32x4.trunc_sat_f64x2_s_zero(f64x2.min(f64x2.mul(d, scale), lim));
}

/** Bucket b's count and list head (cntP: pairs of i32). */
// @ts-ignore: decorator
@inline
function link1(b: i32, j: i32): void {
  const p = cntP + (<usize>b << 3);
  store<i32>(p, load<i32>(p) + 1);
  store<i32>(nextP + (<usize>j << 2), load<i32>(p, 4));
  store<i32>(p, j, 4);
}

// @ts-ignore: decorator
@inline
function link4(b: v128, j: i32): void {
  link1(i32x4.extract_lane(b, 0), j);
  link1(i32x4.extract_lane(b, 1), j + 1);
  link1(i32x4.extract_lane(b, 2), j + 2);
  link1(i32x4.extract_lane(b, 3), j + 3);
}

/** Buckets 0 … size − 1 empty: count 0, list head −1. */
function clearBuckets(size: i32): void {
  const empty = i64x2.splat(0xffffffff00000000);
  for (let c = 0; c < size; c += 2) v128.store(cntP + (<usize>c << 3), empty);
}

function large(k: i32, vp: usize, n: i32): void {
  const n4 = n & ~3;
  // Range of the keys (for min, max and the all-equal case) and Σx, Σx² for a rough σ.
  let kmin = i32x4.splat(i32.MAX_VALUE);
  let kmax = i32x4.splat(i32.MIN_VALUE);
  let sa = f64x2.splat(0);
  let sb = f64x2.splat(0);
  let qa = f64x2.splat(0);
  let qb = f64x2.splat(0);
  const mask31 = i32x4.splat(0x7fffffff);
  for (let j = 0; j < n4; j += 4) {
    const p = vp + (<usize>j << 2);
    const bits = v128.load(p);
    const key = v128.xor(bits, v128.and(i32x4.shr_s(bits, 31), mask31));
    kmin = i32x4.min_s(kmin, key);
    kmax = i32x4.max_s(kmax, key);
    const lo = f64x2.promote_low_f32x4(bits);
    const hi = f64x2.promote_low_f32x4(v128.load64_zero(p, 8));
    sa = f64x2.add(sa, lo);
    sb = f64x2.add(sb, hi);
    qa = f64x2.add(qa, f64x2.mul(lo, lo));
    qb = f64x2.add(qb, f64x2.mul(hi, hi));
  }
  let kLo = min(min(i32x4.extract_lane(kmin, 0), i32x4.extract_lane(kmin, 1)), min(i32x4.extract_lane(kmin, 2), i32x4.extract_lane(kmin, 3)));
  let kHi = max(max(i32x4.extract_lane(kmax, 0), i32x4.extract_lane(kmax, 1)), max(i32x4.extract_lane(kmax, 2), i32x4.extract_lane(kmax, 3)));
  let sum = f64x2.extract_lane(sa, 0) + f64x2.extract_lane(sa, 1) + f64x2.extract_lane(sb, 0) + f64x2.extract_lane(sb, 1);
  let sq = f64x2.extract_lane(qa, 0) + f64x2.extract_lane(qa, 1) + f64x2.extract_lane(qb, 0) + f64x2.extract_lane(qb, 1);
  for (let j = n4; j < n; j++) {
    const bits = load<i32>(vp + (<usize>j << 2));
    const key = keyOf(bits);
    kLo = min(kLo, key);
    kHi = max(kHi, key);
    const x = <f64>reinterpret<f32>(bits);
    sum += x;
    sq += x * x;
  }
  const last = n - 1;
  const pm = <f64>last * 0.5;
  const mid = <i32>Math.floor(pm);
  const pl = <f64>last * 0.25;
  const il = <i32>Math.floor(pl);
  const pu = <f64>last * 0.75;
  const iu = <i32>Math.floor(pu);
  if (kLo == kHi) {
    // All values equal (to the bit): the reference's formulas on a constant sorted array.
    const v = valueOf(kLo);
    const median = lerp(v, v, pm - mid);
    const d = abs(v - median);
    write(k, median, lerp(v, v, pl - il), lerp(v, v, pu - iu), lerp(d, d, pm - mid));
    return;
  }
  const vmin = valueOf(kLo);
  const vmax = valueOf(kHi);
  // Buckets over mean ± 4σ within [min, max] (σ roughly: the bucketing only has to be monotone),
  // so that a few far values do not crowd the rest into a few buckets; values beyond go to the
  // first and last bucket.
  const size = 1 << min(31 - clz(n), BUCKET_BITS);
  const mean = sum / n;
  const sd = Math.sqrt(sq / n - mean * mean);
  let lo = sd > 0 ? max(vmin, mean - 4 * sd) : vmin;
  let hi = sd > 0 ? min(vmax, mean + 4 * sd) : vmax;
  if (!(hi > lo)) {
    lo = vmin;
    hi = vmax;
  }
  const loV = f32x4.splat(<f32>lo);
  const scaleV = f32x4.splat(<f32>(<f64>size / (hi - lo)));
  const topV = i32x4.splat(size - 1);
  clearBuckets(size);
  for (let j = 0; j < n4; j += 4) link4(valueBuckets(v128.load(vp + (<usize>j << 2)), loV, scaleV, topV), j);
  for (let j = n4; j < n; j++) {
    link1(i32x4.extract_lane(valueBuckets(f32x4.splat(load<f32>(vp + (<usize>j << 2))), loV, scaleV, topV), 0), j);
  }
  const il1 = il < last ? il + 1 : il;
  const mid1 = mid < last ? mid + 1 : mid;
  const iu1 = iu < last ? iu + 1 : iu;
  markRanks(il, il1, mid, mid1, iu, iu1);
  // The values of the marked buckets, as keys, to their sorted positions.
  for (let t = 0; t < nMarked; t++) {
    const m = markP + <usize>t * 12;
    let q = load<i32>(m, 4);
    for (let j = load<i32>(cntP + (<usize>load<i32>(m) << 3), 4); j >= 0; j = i32At(nextP, j)) {
      store<i32>(keysP + (<usize>q << 2), keyOf(load<i32>(vp + (<usize>j << 2))));
      q++;
    }
    sortKeys(load<i32>(m, 4), load<i32>(m, 8));
  }
  const l0 = valueOf(i32At(keysP, il));
  const l1 = valueOf(i32At(keysP, il1));
  const m0 = valueOf(i32At(keysP, mid));
  const m1 = valueOf(i32At(keysP, mid1));
  const u0 = valueOf(i32At(keysP, iu));
  const u1 = valueOf(i32At(keysP, iu1));
  const median = lerp(m0, m1, pm - mid);
  const lq = lerp(l0, l1, pl - il);
  const uq = lerp(u0, u1, pu - iu);
  // The values of rank il … iu + 1 (at least mid + 2 of them) lie within D of the median, so the
  // deviations of rank mid and mid + 1 are ≤ D: only [0, D] is bucketed, the rest goes to one
  // overflow bucket.
  const dlim = max(median - l0, u1 - median);
  if (!(dlim > 0)) {
    write(k, median, lq, uq, 0);
    return;
  }
  const dsize = max(1, size >> 1);
  const medV = f64x2.splat(median);
  const dscaleV = f64x2.splat(<f64>dsize / dlim);
  const limV = f64x2.splat(<f64>(dsize + 1));
  clearBuckets(dsize + 2);
  for (let j = 0; j < n4; j += 4) {
    const p = vp + (<usize>j << 2);
    const b0 = devBuckets(v128.load64_zero(p), medV, dscaleV, limV);
    const b1 = devBuckets(v128.load64_zero(p, 8), medV, dscaleV, limV);
    link4(i32x4.shuffle(b0, b1, 0, 1, 4, 5), j);
  }
  for (let j = n4; j < n; j++) {
    link1(i32x4.extract_lane(devBuckets(f32x4.splat(load<f32>(vp + (<usize>j << 2))), medV, dscaleV, limV), 0), j);
  }
  markRanks(mid, mid1, mid1, mid1, mid1, mid1);
  const ds = sP;
  for (let t = 0; t < nMarked; t++) {
    const m = markP + <usize>t * 12;
    let q = load<i32>(m, 4);
    for (let j = load<i32>(cntP + (<usize>load<i32>(m) << 3), 4); j >= 0; j = i32At(nextP, j)) {
      // The same float64 expression as the reference's deviations.
      store<f64>(ds + (<usize>q << 3), abs(<f64>load<f32>(vp + (<usize>j << 2)) - median));
      q++;
    }
    sortDeviations(load<i32>(m, 4), load<i32>(m, 8));
  }
  write(k, median, lq, uq, lerp(f64At(ds, mid), f64At(ds, mid1), pm - mid));
}

/**
 * Lists in markP, as (bucket, start, end), the buckets that hold ranks r0 ≤ … ≤ r5: a running
 * sum over the counts, stopped at the last one (the other buckets' starts are never needed).
 */
function markRanks(r0: i32, r1: i32, r2: i32, r3: i32, r4: i32, r5: i32): void {
  nMarked = 0;
  let c = 0;
  let acc = 0;
  let cur = load<i32>(cntP);
  for (let t = 0; t < 6; t++) {
    const r = t == 0 ? r0 : t == 1 ? r1 : t == 2 ? r2 : t == 3 ? r3 : t == 4 ? r4 : r5;
    while (acc + cur <= r) {
      acc += cur;
      c++;
      cur = load<i32>(cntP + (<usize>c << 3));
    }
    if (nMarked > 0 && load<i32>(markP + <usize>(nMarked - 1) * 12) == c) continue;
    const m = markP + <usize>nMarked * 12;
    store<i32>(m, c);
    store<i32>(m, acc, 4);
    store<i32>(m, acc + cur, 8);
    nMarked++;
  }
}

function insertionSortF64(s: usize, lo: i32, hi: i32): void {
  for (let i = lo + 1; i <= hi; i++) {
    const v = f64At(s, i);
    let j = i - 1;
    while (j >= lo && f64At(s, j) > v) {
      store<f64>(s + (<usize>(j + 1) << 3), f64At(s, j));
      j--;
    }
    store<f64>(s + (<usize>(j + 1) << 3), v);
  }
}

/** Sorts keysP[a … b): insertion when short, else an LSD radix sort (bytes that vary only). */
function sortKeys(a: i32, b: i32): void {
  if (b - a <= BUCKET_MAX) {
    for (let i = a + 1; i < b; i++) {
      const v = i32At(keysP, i);
      let j = i - 1;
      while (j >= a && i32At(keysP, j) > v) {
        store<i32>(keysP + (<usize>(j + 1) << 2), i32At(keysP, j));
        j--;
      }
      store<i32>(keysP + (<usize>(j + 1) << 2), v);
    }
    return;
  }
  // Signed keys as unsigned: flip the sign bit.
  const m = b - a;
  const h = radixP;
  memory.fill(h, 0, 4 * 256 * 4);
  for (let i = a; i < b; i++) {
    const u = <u32>i32At(keysP, i) ^ 0x80000000;
    for (let d = 0; d < 4; d++) {
      const p = h + (<usize>(d * 256 + ((u >> (8 * d)) & 255)) << 2);
      store<i32>(p, load<i32>(p) + 1);
    }
  }
  let src = keysP + (<usize>a << 2);
  let dst = tmpKeysP;
  for (let d = 0; d < 4; d++) {
    const hd = h + (<usize>(d * 256) << 2);
    const first = ((<u32>load<i32>(src) ^ 0x80000000) >> (8 * d)) & 255;
    if (load<i32>(hd + (<usize>first << 2)) == m) continue; // one digit value: nothing to move
    let acc = 0;
    for (let c = 0; c < 256; c++) {
      const p = hd + (<usize>c << 2);
      const t = load<i32>(p);
      store<i32>(p, acc);
      acc += t;
    }
    for (let i = 0; i < m; i++) {
      const key = load<i32>(src + (<usize>i << 2));
      const p = hd + (<usize>(((<u32>key ^ 0x80000000) >> (8 * d)) & 255) << 2);
      const q = load<i32>(p);
      store<i32>(dst + (<usize>q << 2), key);
      store<i32>(p, q + 1);
    }
    const t = src;
    src = dst;
    dst = t;
  }
  if (src != keysP + (<usize>a << 2)) memory.copy(keysP + (<usize>a << 2), src, <usize>m << 2);
}

/**
 * Sorts the deviations sP[a … b) (float64, ≥ +0: their bits sort as unsigned integers):
 * insertion when short, else an LSD radix sort on the 16-bit digits that vary.
 */
function sortDeviations(a: i32, b: i32): void {
  if (b - a <= BUCKET_MAX) {
    insertionSortF64(sP, a, b - 1);
    return;
  }
  const m = b - a;
  const src0 = sP + (<usize>a << 3);
  // All equal (ties on integer images): already sorted.
  const v0 = load<u64>(src0);
  let same = true;
  for (let i = 1; i < m && same; i++) same = load<u64>(src0 + (<usize>i << 3)) == v0;
  if (same) return;
  let src = src0;
  let dst = tP;
  const h = radixP;
  for (let d = 0; d < 8; d++) {
    const shift = <u64>(8 * d);
    memory.fill(h, 0, 256 * 4);
    for (let i = 0; i < m; i++) {
      const p = h + (<usize>((load<u64>(src + (<usize>i << 3)) >> shift) & 255) << 2);
      store<i32>(p, load<i32>(p) + 1);
    }
    const first = <i32>((v0 >> shift) & 255);
    if (load<i32>(h + (<usize>first << 2)) == m) continue;
    let acc = 0;
    for (let c = 0; c < 256; c++) {
      const p = h + (<usize>c << 2);
      const t = load<i32>(p);
      store<i32>(p, acc);
      acc += t;
    }
    for (let i = 0; i < m; i++) {
      const x = load<u64>(src + (<usize>i << 3));
      const p = h + (<usize>((x >> shift) & 255) << 2);
      const q = load<i32>(p);
      store<u64>(dst + (<usize>q << 3), x);
      store<i32>(p, q + 1);
    }
    const t = src;
    src = dst;
    dst = t;
  }
  if (src != src0) memory.copy(src0, src, <usize>m << 3);
}
