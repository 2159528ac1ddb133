/**
 * Seeded pseudo-random numbers for the simulated microscope (docs/synthetic.md).
 *
 * Pure TypeScript on typed arrays: no Node APIs, no global state. Everything is
 * a deterministic function of the seed, so the same seed gives bit-identical
 * sequences on every run (the transcendental functions used, `Math.exp`,
 * `Math.log`, `Math.sqrt`, `Math.cos`, are V8's fdlibm ports and do not depend on
 * the CPU).
 *
 * - `mix32`, `deriveSeed`: integer hashing, to give every consumer its own stream.
 * - `Rng`: xoshiro128** — a good general-purpose generator with exact samplers
 *   (uniform, normal, exponential, Poisson). Used for the scene and the motion,
 *   and as the reference in tests.
 * - `CameraNoise`: the fast per-pixel shot + read noise kernel, with the
 *   approximations documented in docs/synthetic.md.
 */

/** A 32-bit avalanche hash (MurmurHash3's finalizer with better constants). */
export function mix32(x: number): number {
  x = x >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x21f0aaad);
  x = Math.imul(x ^ (x >>> 15), 0x735a2d97);
  return (x ^ (x >>> 15)) >>> 0;
}

/** A seed for stream `tags` of a master seed: order-sensitive hash of all inputs. */
export function deriveSeed(seed: number, ...tags: number[]): number {
  let h = mix32((seed >>> 0) ^ 0x9e3779b9);
  for (const t of tags) h = mix32((h + 0x9e3779b9 + mix32(t >>> 0)) >>> 0);
  return h;
}

const TWO_POW_32 = 4294967296;
const TWO_POW_M53 = 1 / 9007199254740992;

/** Natural log of Γ(x) for x > 0 (Lanczos, g = 7, n = 9; relative error < 1e-14). */
export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const c = LANCZOS;
  x -= 1;
  let a = c[0]!;
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += c[i]! / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}
const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
  -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6,
  1.5056327351493116e-7,
];

/**
 * xoshiro128** (Blackman & Vigna): period 2^128 − 1, 32-bit outputs.
 * Seeded through SplitMix32-style hashing of the seed, so nearby seeds give
 * unrelated streams.
 */
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  private spare = Number.NaN;
  private hasSpare = false;

  constructor(seed: number) {
    let h = seed >>> 0;
    const next = (): number => {
      h = (h + 0x9e3779b9) >>> 0;
      return mix32(h);
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** Uniform integer in [0, 2^32). */
  u32(): number {
    const s1 = this.s1;
    const r = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return r;
  }

  /** Uniform float in [0, 1) with 53 random bits. */
  float(): number {
    const hi = this.u32() >>> 5; // 27 bits
    const lo = this.u32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) * TWO_POW_M53;
  }

  /** Uniform float in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.float();
  }

  /** Uniform integer in [0, n), n ≤ 2^32, without modulo bias. */
  int(n: number): number {
    if (!(n >= 1 && n <= TWO_POW_32)) throw new RangeError(`Rng.int: n must be in 1..2^32, got ${n}`);
    const limit = TWO_POW_32 - (TWO_POW_32 % n);
    for (;;) {
      const r = this.u32();
      if (r < limit) return r % n;
    }
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.float() < p;
  }

  /** Standard normal N(0, 1), exact (Marsaglia's polar method). */
  normal(): number {
    if (this.hasSpare) {
      this.hasSpare = false;
      return this.spare;
    }
    for (;;) {
      const u = 2 * this.float() - 1;
      const v = 2 * this.float() - 1;
      const s = u * u + v * v;
      if (s > 0 && s < 1) {
        const f = Math.sqrt((-2 * Math.log(s)) / s);
        this.spare = v * f;
        this.hasSpare = true;
        return u * f;
      }
    }
  }

  /** Exponential with the given mean. */
  exponential(mean: number): number {
    return -mean * Math.log(1 - this.float());
  }

  /**
   * Poisson(λ), exact: multiplication (Knuth) for λ < 10, else Hörmann's PTRS
   * transformed rejection (1993). Slow-ish (tens of ns): for reference and
   * tests, not for whole images (see `CameraNoise`).
   */
  poisson(lambda: number): number {
    if (!(lambda >= 0) || !Number.isFinite(lambda)) throw new RangeError(`Rng.poisson: λ must be finite and ≥ 0, got ${lambda}`);
    if (lambda === 0) return 0;
    if (lambda < 10) {
      const l = Math.exp(-lambda);
      let k = 0;
      let p = this.float();
      while (p > l) {
        k++;
        p *= this.float();
      }
      return k;
    }
    const slam = Math.sqrt(lambda);
    const loglam = Math.log(lambda);
    const b = 0.931 + 2.53 * slam;
    const a = -0.059 + 0.02483 * b;
    const invalpha = 1.1239 + 1.1328 / (b - 3.4);
    const vr = 0.9277 - 3.6224 / (b - 2);
    for (;;) {
      const u = this.float() - 0.5;
      const v = this.float();
      const us = 0.5 - Math.abs(u);
      const k = Math.floor(((2 * a) / us + b) * u + lambda + 0.43);
      if (us >= 0.07 && v <= vr) return k;
      if (k < 0 || (us < 0.013 && v > us)) continue;
      if (Math.log(v) + Math.log(invalpha) - Math.log(a / (us * us) + b) <= -lambda + k * loglam - logGamma(k + 1)) return k;
    }
  }

  /** Fisher–Yates shuffle in place. */
  shuffle<T>(a: T[]): T[] {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i]!;
      a[i] = a[j]!;
      a[j] = t;
    }
    return a;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/**
 * Φ⁻¹(p), the standard normal quantile, for 0 < p < 1 (Acklam's rational
 * approximation, relative error < 1.2e-9).
 */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`normalQuantile: p must be in (0, 1), got ${p}`);
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const plow = 0.02425;
  if (p < plow) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  }
  if (p > 1 - plow) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) / (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1);
}

/** Φ(x), the standard normal CDF (erfc by Numerical Recipes' Chebyshev fit, relative error < 1.2e-7). */
export function normalCdf(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.5 * z);
  const erfc =
    t *
    Math.exp(
      -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? 1 - 0.5 * erfc : 0.5 * erfc;
}

/**
 * Var(round(e)) for e ~ N(0, σ²): what read noise of σ adds to an integer
 * photon count once the camera rounds. ≈ σ² + 1/12 for σ ≥ 0.5; 0 for σ = 0.
 */
export function roundedNormalVariance(sigma: number): number {
  if (sigma === 0) return 0;
  let v = 0;
  const kmax = Math.ceil(10 * sigma) + 2;
  for (let k = 1; k <= kmax; k++) v += 2 * k * k * (normalCdf((k + 0.5) / sigma) - normalCdf((k - 0.5) / sigma));
  return v;
}

/**
 * 2^bits stratified N(0, 1) variates: the quantiles Φ⁻¹((i + ½) / n), then
 * re-centred and re-scaled so that the table's own mean is exactly 0 and its
 * variance exactly 1. Indexing it with uniform random bits gives a discretized
 * normal whose first two moments are exact.
 */
export function normalTable(bits = 16): Float32Array {
  const n = 1 << bits;
  const t = new Float64Array(n);
  for (let i = 0; i < n; i++) t[i] = normalQuantile((i + 0.5) / n);
  let m = 0;
  for (let i = 0; i < n; i++) m += t[i]!;
  m /= n;
  let v = 0;
  for (let i = 0; i < n; i++) v += (t[i]! - m) ** 2;
  const k = 1 / Math.sqrt(v / n);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (t[i]! - m) * k;
  return out;
}

let sharedNormalTable: Float32Array | undefined;
/** The 65536-entry table shared by all `CameraNoise` instances (256 KB, built once, a few ms). */
export function sharedNormal16(): Float32Array {
  sharedNormalTable ??= normalTable(16);
  return sharedNormalTable;
}

/** Expected counts below this use the Poisson table sampler, above it the normal approximation. */
export const POISSON_TABLE_LIMIT = 20;
/** λ-bucket width of the Poisson tables: 1/8 count. */
const BUCKETS_PER_COUNT = 8;
const N_BUCKETS = POISSON_TABLE_LIMIT * BUCKETS_PER_COUNT + 1; // λ = 0, 1/8, …, 20
/** Values k = 0 … KMAX−1 per bucket; P(X ≥ 64 | λ = 20) < 1e-12, and the last threshold is forced to 2^32. */
const KMAX = 64;
/** The top GUIDE_BITS bits of the uniform word index the guide table. */
const GUIDE_BITS = 10;
const GUIDE = 1 << GUIDE_BITS;
const GUIDE_SHIFT = 32 - GUIDE_BITS;
/** Guide entries with this bit set straddle a CDF threshold: search from (entry − SPLIT). */
const SPLIT = 128;

interface PoissonTables {
  /** N_BUCKETS × KMAX thresholds: cdf[b·KMAX + k] = ⌊P(X ≤ k | λ_b) · 2^32⌋. */
  cdf: Float64Array;
  /**
   * N_BUCKETS × GUIDE: for the uniform words u in cell g = u >> GUIDE_SHIFT,
   * the sample k when the whole cell maps to one k, else SPLIT + the smallest
   * candidate k (then a short search on `cdf` finishes the inversion).
   */
  guide: Uint8Array;
}
let sharedPoisson: PoissonTables | undefined;

function poissonTables(): PoissonTables {
  if (sharedPoisson) return sharedPoisson;
  const cdf = new Float64Array(N_BUCKETS * KMAX);
  const guide = new Uint8Array(N_BUCKETS * GUIDE);
  const cell = TWO_POW_32 / GUIDE;
  for (let b = 0; b < N_BUCKETS; b++) {
    const lam = b / BUCKETS_PER_COUNT;
    let p = Math.exp(-lam);
    let c = 0;
    for (let k = 0; k < KMAX; k++) {
      c += p;
      cdf[b * KMAX + k] = k === KMAX - 1 ? TWO_POW_32 : Math.min(TWO_POW_32, Math.floor(c * TWO_POW_32));
      p *= lam / (k + 1);
    }
    let k = 0;
    for (let g = 0; g < GUIDE; g++) {
      const lo = g * cell; // first word of the cell
      const hi = lo + cell - 1; // last word of the cell
      while (cdf[b * KMAX + k]! <= lo) k++;
      // k is the sample for u = lo; the whole cell gives k iff hi < cdf[k].
      guide[b * GUIDE + g] = hi < cdf[b * KMAX + k]! ? k : SPLIT + k;
    }
  }
  sharedPoisson = { cdf, guide };
  return sharedPoisson;
}

/**
 * Camera noise: each expected count λ becomes round(Poisson(λ) + N(0, σ²)),
 * σ = `readNoise`, clamped to 0 … 65535. Fast approximations (docs/synthetic.md,
 * "Noise"):
 *
 * - λ ≥ 20: shot and read noise together are one normal draw with the exact
 *   mean and (after rounding) the exact variance, λ + √(λ + c)·z, with
 *   c = Var(round(N(0, σ²))) − 1/12 (≈ σ²). z is one entry of a 65536-entry
 *   table of normal quantiles (`normalTable`: exact mean 0 and variance 1,
 *   tails cut at ±4.33) picked by 16 uniform bits; one xorshift128 output
 *   serves two such pixels. What is lost: the Poisson skewness 1/√λ, and
 *   the normal tails beyond 4.33 σ.
 * - λ < 20: an exact inversion of the Poisson CDF of λ rounded down or up to
 *   the 1/8-count grid (at random, in proportion, so that the mean stays
 *   exact; the variance grows by at most 1/256), read from a guide table
 *   that needs a short search in ~1–4 % of the draws, plus σ·z with z from
 *   the same normal table. Two xorshift128 outputs per pixel.
 *
 * The uniform bits come from Marsaglia's xorshift128 (period 2^128 − 1),
 * seeded from `seed`; the stream continues across calls.
 */
export class CameraNoise {
  readonly readNoise: number;
  /**
   * The normal approximation draws λ + √(λ + c)·z with c = Var(round(N(0, σ²))) − 1/12,
   * so that after rounding its variance is that of round(Poisson(λ) + N(0, σ²)).
   */
  readonly fastVarianceOffset: number;
  /** xorshift128 state x, y, z, w. */
  private readonly state = new Int32Array(4);
  private readonly table: Float32Array;
  private readonly tables: PoissonTables;

  constructor(seed: number, readNoise: number) {
    if (!(readNoise >= 0) || !Number.isFinite(readNoise)) throw new RangeError(`CameraNoise: readNoise must be finite and ≥ 0, got ${readNoise}`);
    this.readNoise = readNoise;
    this.fastVarianceOffset = roundedNormalVariance(readNoise) - 1 / 12;
    const r = new Rng(deriveSeed(seed, 0x6e6f6973));
    const st = this.state;
    for (let i = 0; i < 4; i++) st[i] = r.u32() | 0;
    if ((st[0]! | st[1]! | st[2]! | st[3]!) === 0) st[3] = 1;
    this.table = sharedNormal16();
    this.tables = poissonTables();
    warmUp(this.table, this.tables);
  }

  /**
   * out[i] = noisy sample of expected[i], for i in [start, end).
   * `expected` values must be ≥ 0 (negative ones are treated as 0).
   */
  apply(expected: Float32Array, out: Uint16Array, start = 0, end = expected.length): void {
    if (out.length < end || expected.length < end || start < 0) throw new RangeError(`CameraNoise.apply: bad range ${start}..${end}`);
    noiseKernel(expected, out, start, end, this.readNoise, this.fastVarianceOffset, this.table, this.tables.cdf, this.tables.guide, this.state);
  }
}

let warmedUp = false;
/**
 * Runs the kernel once on a small input that takes every branch, so that the
 * optimizing compiler sees complete type feedback (otherwise the on-stack-
 * replaced loop deoptimizes on exit, on every call).
 */
function warmUp(T: Float32Array, tables: PoissonTables): void {
  if (warmedUp) return;
  warmedUp = true;
  const e = new Float32Array(64);
  // A run of high values (one clamped), then low, lone high, and negative ones.
  for (let i = 0; i < e.length; i++) e[i] = i < 16 ? 100 + 5000 * i : i % 3 === 0 ? 0.3 * i : i % 3 === 1 ? 100 + i : 19.9;
  e[16] = -1;
  const out = new Uint16Array(e.length);
  const st = new Int32Array([1, 2, 3, 4]);
  for (let k = 0; k < 3; k++) noiseKernel(e, out, 0, e.length, 3, 9, T, tables.cdf, tables.guide, st);
}

/** Draws noise for expected[start … end) into out, continuing the xorshift128 stream in `state`. */
function noiseKernel(
  expected: Float32Array,
  out: Uint16Array,
  start: number,
  end: number,
  rn: number,
  c: number,
  T: Float32Array,
  cdf: Float64Array,
  guide: Uint8Array,
  state: Int32Array,
): void {
  let i = start;
  while (i < end) {
    i = fastRun(expected, out, i, end, c, T, state);
    if (i >= end) break;
    i = lowRun(expected, out, i, end, rn, T, cdf, guide, state);
    if (i < end && expected[i]! >= POISSON_TABLE_LIMIT) {
      // A lone pixel with λ ≥ limit (before a low one, or the last).
      i = loneHigh(expected, out, i, c, T, state);
    }
  }
}

/**
 * λ ≥ limit, pairs of pixels: one word per pair, one 16-bit normal-table
 * index each. Returns where it stopped (a pixel below the limit, or a lone last one).
 */
function fastRun(expected: Float32Array, out: Uint16Array, start: number, end: number, c: number, T: Float32Array, state: Int32Array): number {
  const limit = POISSON_TABLE_LIMIT;
  let x = state[0]!;
  let y = state[1]!;
  let z = state[2]!;
  let w = state[3]!;
  let i = start;
  for (; i + 1 < end; i += 2) {
    const l0 = expected[i]!;
    const l1 = expected[i + 1]!;
    if (!(l0 >= limit && l1 >= limit)) break;
    const t = x ^ (x << 11);
    x = y;
    y = z;
    z = w;
    w = w ^ (w >>> 19) ^ (t ^ (t >>> 8));
    const v0 = l0 + Math.sqrt(l0 + c) * T[w >>> 16]!;
    const v1 = l1 + Math.sqrt(l1 + c) * T[w & 0xffff]!;
    let i0 = (v0 + 0.5) | 0;
    let i1 = (v1 + 0.5) | 0;
    i0 &= ~(i0 >> 31);
    i1 &= ~(i1 >> 31);
    out[i] = v0 >= 65534.5 ? 65535 : i0;
    out[i + 1] = v1 >= 65534.5 ? 65535 : i1;
  }
  state[0] = x;
  state[1] = y;
  state[2] = z;
  state[3] = w;
  return i;
}

/** One pixel with λ ≥ limit: one word, its high 16 bits. */
function loneHigh(expected: Float32Array, out: Uint16Array, i: number, c: number, T: Float32Array, state: Int32Array): number {
  const x = state[0]!;
  const w = state[3]!;
  const t = x ^ (x << 11);
  state[0] = state[1]!;
  state[1] = state[2]!;
  state[2] = w;
  const w2 = w ^ (w >>> 19) ^ (t ^ (t >>> 8));
  state[3] = w2;
  const l0 = expected[i]!;
  const v = l0 + Math.sqrt(l0 + c) * T[w2 >>> 16]!;
  let iv = (v + 0.5) | 0;
  iv &= ~(iv >> 31);
  out[i] = v >= 65534.5 ? 65535 : iv;
  return i + 1;
}

/** λ < limit: exact inversion on the 1/8 grid plus read noise, two words per pixel. Returns where it stopped. */
function lowRun(
  expected: Float32Array,
  out: Uint16Array,
  start: number,
  end: number,
  rn: number,
  T: Float32Array,
  cdf: Float64Array,
  guide: Uint8Array,
  state: Int32Array,
): number {
  const limit = POISSON_TABLE_LIMIT;
  let x = state[0]!;
  let y = state[1]!;
  let z = state[2]!;
  let w = state[3]!;
  let i = start;
  for (; i < end; i++) {
    const lam = expected[i]!;
    if (lam >= limit) break;
    // First word: 16 bits choose the bucket (λ rounded up with probability
    // frac, branch-free), 16 bits index the read-noise normal.
    let t = x ^ (x << 11);
    x = y;
    y = z;
    z = w;
    w = w ^ (w >>> 19) ^ (t ^ (t >>> 8));
    const lb = lam > 0 ? lam * BUCKETS_PER_COUNT : 0;
    const bl = lb | 0;
    const f16 = ((lb - bl) * 65536) | 0;
    const b = bl - (((w & 0xffff) - f16) >> 31);
    const nz = T[w >>> 16]!;
    // Second word: the uniform of the inversion.
    t = x ^ (x << 11);
    x = y;
    y = z;
    z = w;
    w = w ^ (w >>> 19) ^ (t ^ (t >>> 8));
    const u = w >>> 0;
    let k = guide[b * GUIDE + (u >>> GUIDE_SHIFT)]!;
    if (k >= SPLIT) {
      k -= SPLIT;
      const base = b * KMAX;
      while (u >= cdf[base + k]!) k++;
    }
    const v = k + rn * nz;
    let iv = (v + 0.5) | 0;
    iv &= ~(iv >> 31);
    out[i] = v >= 65534.5 ? 65535 : iv;
  }
  state[0] = x;
  state[1] = y;
  state[2] = z;
  state[3] = w;
  return i;
}

/** out[i] = expected[i] rounded to the nearest integer and clamped to 0 … 65535 (no noise). */
export function roundToUint16(expected: Float32Array, out: Uint16Array, start = 0, end = expected.length): void {
  for (let i = start; i < end; i++) {
    const v = expected[i]!;
    out[i] = v <= 0 ? 0 : v >= 65534.5 ? 65535 : (v + 0.5) | 0;
  }
}
