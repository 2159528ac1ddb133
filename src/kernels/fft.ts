/**
 * Float64 FFTs in plain TypeScript: the reference that the WebAssembly path is
 * tested against, and the fallback where WebAssembly is unavailable.
 *
 * `FftPlan` is a complex FFT of any length: a self-sorting (Stockham) mixed
 * radix 4/2/3/5 transform, a direct odd-radix butterfly for prime factors up
 * to 13, and Bluestein's chirp-z algorithm when a larger prime divides n.
 * `RealFft2d` is a 2-D FFT of real images built on it.
 *
 * Conventions are numpy's: forward X[k] = Σ x[t] e^{−2πi tk/n}, the inverse
 * carries the 1/n.
 */

const MAX_DIRECT_RADIX = 13;

function factorize(n: number): number[] | null {
  const f: number[] = [];
  let r = n;
  while (r % 4 === 0) {
    f.push(4);
    r /= 4;
  }
  for (let p = 2; p <= MAX_DIRECT_RADIX && r > 1; p++) {
    while (r % p === 0) {
      f.push(p);
      r /= p;
    }
  }
  return r === 1 ? f : null;
}

interface Stage {
  p: number;
  /** Length of the sub-transforms before this stage. */
  l: number;
  /** n / (l·p): stride between the p inputs of one butterfly. */
  s: number;
  /** Twiddles W_{l·p}^{q·k1} for k1 < l, q < p, laid out [k1 · p + q]. */
  twRe: Float64Array;
  twIm: Float64Array;
}

interface Bluestein {
  m: number;
  plan: FftPlan;
  chirpRe: Float64Array;
  chirpIm: Float64Array;
  /** FFT of the conjugate chirp, circularly extended to length m. */
  kernRe: Float64Array;
  kernIm: Float64Array;
  bufRe: Float64Array;
  bufIm: Float64Array;
}

/** A complex FFT of length n, with its scratch memory; transforms split re/im arrays in place. */
export class FftPlan {
  readonly n: number;
  private readonly stages: Stage[] = [];
  private readonly tmpRe: Float64Array;
  private readonly tmpIm: Float64Array;
  private readonly bluestein: Bluestein | null = null;
  /** Direct DFT matrices for odd radices > 5, [q·p + k]. */
  private readonly dftRe = new Map<number, Float64Array>();
  private readonly dftIm = new Map<number, Float64Array>();
  private readonly scrRe = new Float64Array(MAX_DIRECT_RADIX * 2);
  private readonly scrIm = new Float64Array(MAX_DIRECT_RADIX * 2);

  constructor(n: number) {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`FFT length must be a positive integer, got ${n}`);
    this.n = n;
    const factors = factorize(n);
    if (factors === null) {
      let m = 1;
      while (m < 2 * n - 1) m *= 2;
      this.bluestein = makeBluestein(n, m);
      this.tmpRe = new Float64Array(0);
      this.tmpIm = new Float64Array(0);
      return;
    }
    this.tmpRe = new Float64Array(n);
    this.tmpIm = new Float64Array(n);
    let l = 1;
    for (const p of factors) {
      const lp = l * p;
      const twRe = new Float64Array(l * p);
      const twIm = new Float64Array(l * p);
      for (let k1 = 0; k1 < l; k1++) {
        for (let q = 0; q < p; q++) {
          const a = (-2 * Math.PI * q * k1) / lp;
          twRe[k1 * p + q] = Math.cos(a);
          twIm[k1 * p + q] = Math.sin(a);
        }
      }
      this.stages.push({ p, l, s: n / lp, twRe, twIm });
      if (p > 5 && !this.dftRe.has(p)) {
        const re = new Float64Array(p * p);
        const im = new Float64Array(p * p);
        for (let q = 0; q < p; q++) {
          for (let k = 0; k < p; k++) {
            const a = (-2 * Math.PI * ((q * k) % p)) / p;
            re[q * p + k] = Math.cos(a);
            im[q * p + k] = Math.sin(a);
          }
        }
        this.dftRe.set(p, re);
        this.dftIm.set(p, im);
      }
      l = lp;
    }
  }

  /** Forward transform in place. */
  forward(re: Float64Array, im: Float64Array): void {
    if (this.bluestein) this.runBluestein(re, im);
    else this.run(re, im);
  }

  /** Inverse transform in place, scaled by 1/n. */
  inverse(re: Float64Array, im: Float64Array): void {
    // Swapping re and im turns the forward transform into the unscaled inverse.
    this.forward(im, re);
    const s = 1 / this.n;
    for (let i = 0; i < this.n; i++) {
      re[i] *= s;
      im[i] *= s;
    }
  }

  private run(re: Float64Array, im: Float64Array): void {
    let xr = re;
    let xi = im;
    let yr = this.tmpRe;
    let yi = this.tmpIm;
    for (const st of this.stages) {
      this.stage(st, xr, xi, yr, yi);
      const tr = xr;
      const ti = xi;
      xr = yr;
      xi = yi;
      yr = tr;
      yi = ti;
    }
    if (xr !== re) {
      re.set(xr);
      im.set(xi);
    }
  }

  /**
   * One Stockham step from sub-transforms of length l to length l·p:
   * out[(k1 + l·k2)·s + r] = Σ_q W_p^{q·k2} · W_{lp}^{q·k1} · in[k1·p·s + q·s + r].
   * The inner loop over r walks memory contiguously.
   */
  private stage(st: Stage, xr: Float64Array, xi: Float64Array, yr: Float64Array, yi: Float64Array): void {
    const { p, l, s, twRe, twIm } = st;
    const ls = l * s;
    for (let k1 = 0; k1 < l; k1++) {
      const inBase = k1 * p * s;
      const outBase = k1 * s;
      const tw = k1 * p;
      if (p === 4) {
        const w1r = twRe[tw + 1], w1i = twIm[tw + 1];
        const w2r = twRe[tw + 2], w2i = twIm[tw + 2];
        const w3r = twRe[tw + 3], w3i = twIm[tw + 3];
        for (let r = 0; r < s; r++) {
          const i0 = inBase + r;
          const a0r = xr[i0], a0i = xi[i0];
          let tr = xr[i0 + s], ti = xi[i0 + s];
          const a1r = tr * w1r - ti * w1i, a1i = tr * w1i + ti * w1r;
          tr = xr[i0 + 2 * s]; ti = xi[i0 + 2 * s];
          const a2r = tr * w2r - ti * w2i, a2i = tr * w2i + ti * w2r;
          tr = xr[i0 + 3 * s]; ti = xi[i0 + 3 * s];
          const a3r = tr * w3r - ti * w3i, a3i = tr * w3i + ti * w3r;
          const b0r = a0r + a2r, b0i = a0i + a2i;
          const b1r = a0r - a2r, b1i = a0i - a2i;
          const b2r = a1r + a3r, b2i = a1i + a3i;
          const b3r = a1r - a3r, b3i = a1i - a3i;
          const o = outBase + r;
          yr[o] = b0r + b2r; yi[o] = b0i + b2i;
          yr[o + ls] = b1r + b3i; yi[o + ls] = b1i - b3r;
          yr[o + 2 * ls] = b0r - b2r; yi[o + 2 * ls] = b0i - b2i;
          yr[o + 3 * ls] = b1r - b3i; yi[o + 3 * ls] = b1i + b3r;
        }
      } else if (p === 2) {
        const w1r = twRe[tw + 1], w1i = twIm[tw + 1];
        for (let r = 0; r < s; r++) {
          const i0 = inBase + r;
          const a0r = xr[i0], a0i = xi[i0];
          const tr = xr[i0 + s], ti = xi[i0 + s];
          const a1r = tr * w1r - ti * w1i, a1i = tr * w1i + ti * w1r;
          const o = outBase + r;
          yr[o] = a0r + a1r; yi[o] = a0i + a1i;
          yr[o + ls] = a0r - a1r; yi[o + ls] = a0i - a1i;
        }
      } else if (p === 3) {
        const w1r = twRe[tw + 1], w1i = twIm[tw + 1];
        const w2r = twRe[tw + 2], w2i = twIm[tw + 2];
        const h = Math.sqrt(3) / 2;
        for (let r = 0; r < s; r++) {
          const i0 = inBase + r;
          const a0r = xr[i0], a0i = xi[i0];
          let tr = xr[i0 + s], ti = xi[i0 + s];
          const a1r = tr * w1r - ti * w1i, a1i = tr * w1i + ti * w1r;
          tr = xr[i0 + 2 * s]; ti = xi[i0 + 2 * s];
          const a2r = tr * w2r - ti * w2i, a2i = tr * w2i + ti * w2r;
          const sr = a1r + a2r, si = a1i + a2i;
          const dr = a1r - a2r, di = a1i - a2i;
          const mr = a0r - 0.5 * sr, mi = a0i - 0.5 * si;
          const o = outBase + r;
          yr[o] = a0r + sr; yi[o] = a0i + si;
          yr[o + ls] = mr + h * di; yi[o + ls] = mi - h * dr;
          yr[o + 2 * ls] = mr - h * di; yi[o + 2 * ls] = mi + h * dr;
        }
      } else if (p === 5) {
        const c1 = Math.cos((2 * Math.PI) / 5), c2 = Math.cos((4 * Math.PI) / 5);
        const s1 = Math.sin((2 * Math.PI) / 5), s2 = Math.sin((4 * Math.PI) / 5);
        for (let r = 0; r < s; r++) {
          const i0 = inBase + r;
          const a0r = xr[i0], a0i = xi[i0];
          let tr = xr[i0 + s], ti = xi[i0 + s];
          let wr = twRe[tw + 1], wi = twIm[tw + 1];
          const a1r = tr * wr - ti * wi, a1i = tr * wi + ti * wr;
          tr = xr[i0 + 2 * s]; ti = xi[i0 + 2 * s]; wr = twRe[tw + 2]; wi = twIm[tw + 2];
          const a2r = tr * wr - ti * wi, a2i = tr * wi + ti * wr;
          tr = xr[i0 + 3 * s]; ti = xi[i0 + 3 * s]; wr = twRe[tw + 3]; wi = twIm[tw + 3];
          const a3r = tr * wr - ti * wi, a3i = tr * wi + ti * wr;
          tr = xr[i0 + 4 * s]; ti = xi[i0 + 4 * s]; wr = twRe[tw + 4]; wi = twIm[tw + 4];
          const a4r = tr * wr - ti * wi, a4i = tr * wi + ti * wr;
          const p14r = a1r + a4r, p14i = a1i + a4i, m14r = a1r - a4r, m14i = a1i - a4i;
          const p23r = a2r + a3r, p23i = a2i + a3i, m23r = a2r - a3r, m23i = a2i - a3i;
          const q1r = a0r + c1 * p14r + c2 * p23r, q1i = a0i + c1 * p14i + c2 * p23i;
          const q2r = a0r + c2 * p14r + c1 * p23r, q2i = a0i + c2 * p14i + c1 * p23i;
          // −i·(u) for u = s1·m14 + s2·m23 and u' = s2·m14 − s1·m23.
          const ur = s1 * m14r + s2 * m23r, ui = s1 * m14i + s2 * m23i;
          const vr = s2 * m14r - s1 * m23r, vi = s2 * m14i - s1 * m23i;
          const o = outBase + r;
          yr[o] = a0r + p14r + p23r; yi[o] = a0i + p14i + p23i;
          yr[o + ls] = q1r + ui; yi[o + ls] = q1i - ur;
          yr[o + 4 * ls] = q1r - ui; yi[o + 4 * ls] = q1i + ur;
          yr[o + 2 * ls] = q2r + vi; yi[o + 2 * ls] = q2i - vr;
          yr[o + 3 * ls] = q2r - vi; yi[o + 3 * ls] = q2i + vr;
        }
      } else {
        this.directStage(p, s, ls, inBase, outBase, tw, twRe, twIm, xr, xi, yr, yi);
      }
    }
  }

  private directStage(
    p: number, s: number, ls: number, inBase: number, outBase: number, tw: number,
    twRe: Float64Array, twIm: Float64Array,
    xr: Float64Array, xi: Float64Array, yr: Float64Array, yi: Float64Array,
  ): void {
    const mRe = this.dftRe.get(p) as Float64Array;
    const mIm = this.dftIm.get(p) as Float64Array;
    const ar = this.scrRe;
    const ai = this.scrIm;
    for (let r = 0; r < s; r++) {
      for (let q = 0; q < p; q++) {
        const tr = xr[inBase + q * s + r], ti = xi[inBase + q * s + r];
        const wr = twRe[tw + q], wi = twIm[tw + q];
        ar[q] = tr * wr - ti * wi;
        ai[q] = tr * wi + ti * wr;
      }
      for (let k = 0; k < p; k++) {
        let sr = 0, si = 0;
        for (let q = 0; q < p; q++) {
          const wr = mRe[q * p + k], wi = mIm[q * p + k];
          sr += ar[q] * wr - ai[q] * wi;
          si += ar[q] * wi + ai[q] * wr;
        }
        yr[outBase + r + k * ls] = sr;
        yi[outBase + r + k * ls] = si;
      }
    }
  }

  private runBluestein(re: Float64Array, im: Float64Array): void {
    const b = this.bluestein as Bluestein;
    const { m, chirpRe, chirpIm, kernRe, kernIm, bufRe, bufIm } = b;
    const n = this.n;
    bufRe.fill(0);
    bufIm.fill(0);
    for (let k = 0; k < n; k++) {
      bufRe[k] = re[k] * chirpRe[k] - im[k] * chirpIm[k];
      bufIm[k] = re[k] * chirpIm[k] + im[k] * chirpRe[k];
    }
    b.plan.forward(bufRe, bufIm);
    for (let k = 0; k < m; k++) {
      const r = bufRe[k] * kernRe[k] - bufIm[k] * kernIm[k];
      bufIm[k] = bufRe[k] * kernIm[k] + bufIm[k] * kernRe[k];
      bufRe[k] = r;
    }
    b.plan.inverse(bufRe, bufIm);
    for (let k = 0; k < n; k++) {
      re[k] = bufRe[k] * chirpRe[k] - bufIm[k] * chirpIm[k];
      im[k] = bufRe[k] * chirpIm[k] + bufIm[k] * chirpRe[k];
    }
  }
}

function makeBluestein(n: number, m: number): Bluestein {
  const chirpRe = new Float64Array(n);
  const chirpIm = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    // k² mod 2n keeps the angle small, so the chirp stays accurate for large n.
    const a = (-Math.PI * ((k * k) % (2 * n))) / n;
    chirpRe[k] = Math.cos(a);
    chirpIm[k] = Math.sin(a);
  }
  const kernRe = new Float64Array(m);
  const kernIm = new Float64Array(m);
  kernRe[0] = chirpRe[0];
  kernIm[0] = -chirpIm[0];
  for (let k = 1; k < n; k++) {
    kernRe[k] = kernRe[m - k] = chirpRe[k];
    kernIm[k] = kernIm[m - k] = -chirpIm[k];
  }
  const plan = new FftPlan(m);
  plan.forward(kernRe, kernIm);
  return { m, plan, chirpRe, chirpIm, kernRe, kernIm, bufRe: new Float64Array(m), bufIm: new Float64Array(m) };
}

/**
 * 2-D FFT of a real h×w image (row-major). The spectrum keeps the
 * non-redundant half along x: h rows × (⌊w/2⌋ + 1) columns, split re/im.
 * Rows are transformed two at a time as one complex sequence (row a + i·row b).
 */
export class RealFft2d {
  readonly h: number;
  readonly w: number;
  /** Number of spectrum columns, ⌊w/2⌋ + 1. */
  readonly cols: number;
  private readonly rowPlan: FftPlan;
  private readonly colPlan: FftPlan;
  private readonly rRe: Float64Array;
  private readonly rIm: Float64Array;
  private readonly cRe: Float64Array;
  private readonly cIm: Float64Array;

  constructor(h: number, w: number) {
    this.h = h;
    this.w = w;
    this.cols = (w >> 1) + 1;
    this.rowPlan = new FftPlan(w);
    this.colPlan = new FftPlan(h);
    this.rRe = new Float64Array(w);
    this.rIm = new Float64Array(w);
    this.cRe = new Float64Array(h);
    this.cIm = new Float64Array(h);
  }

  /** Spectrum arrays of the right size (h·cols each). */
  allocSpectrum(): { re: Float64Array; im: Float64Array } {
    return { re: new Float64Array(this.h * this.cols), im: new Float64Array(this.h * this.cols) };
  }

  forward(input: ArrayLike<number>, outRe: Float64Array, outIm: Float64Array): void {
    const { h, w, cols, rRe, rIm, cRe, cIm } = this;
    for (let y = 0; y < h; y += 2) {
      const a = y * w;
      const hasB = y + 1 < h;
      for (let x = 0; x < w; x++) {
        rRe[x] = input[a + x];
        rIm[x] = hasB ? input[a + w + x] : 0;
      }
      this.rowPlan.forward(rRe, rIm);
      // Separate the two real rows: A[k] = (Z[k] + conj Z[−k]) / 2, B[k] = (Z[k] − conj Z[−k]) / 2i.
      for (let k = 0; k < cols; k++) {
        const j = k === 0 ? 0 : w - k;
        const zr = rRe[k], zi = rIm[k], cr = rRe[j], ci = -rIm[j];
        outRe[y * cols + k] = 0.5 * (zr + cr);
        outIm[y * cols + k] = 0.5 * (zi + ci);
        if (hasB) {
          outRe[(y + 1) * cols + k] = 0.5 * (zi - ci);
          outIm[(y + 1) * cols + k] = -0.5 * (zr - cr);
        }
      }
    }
    for (let k = 0; k < cols; k++) {
      for (let y = 0; y < h; y++) {
        cRe[y] = outRe[y * cols + k];
        cIm[y] = outIm[y * cols + k];
      }
      this.colPlan.forward(cRe, cIm);
      for (let y = 0; y < h; y++) {
        outRe[y * cols + k] = cRe[y];
        outIm[y * cols + k] = cIm[y];
      }
    }
  }

  /** Inverse of `forward` (scaled by 1/(h·w)); the spectrum arrays are used as scratch and overwritten. */
  inverse(specRe: Float64Array, specIm: Float64Array, output: Float64Array | Float32Array): void {
    const { h, w, cols, rRe, rIm, cRe, cIm } = this;
    for (let k = 0; k < cols; k++) {
      for (let y = 0; y < h; y++) {
        cRe[y] = specRe[y * cols + k];
        cIm[y] = specIm[y * cols + k];
      }
      this.colPlan.inverse(cRe, cIm);
      for (let y = 0; y < h; y++) {
        specRe[y * cols + k] = cRe[y];
        specIm[y * cols + k] = cIm[y];
      }
    }
    for (let y = 0; y < h; y += 2) {
      const hasB = y + 1 < h;
      // Z = A + i·B over the full row, using A[w−k] = conj A[k] (each row's spectrum is Hermitian).
      for (let k = 0; k < w; k++) {
        let ar: number, ai: number, br = 0, bi = 0;
        if (k < cols) {
          ar = specRe[y * cols + k];
          ai = specIm[y * cols + k];
          if (hasB) {
            br = specRe[(y + 1) * cols + k];
            bi = specIm[(y + 1) * cols + k];
          }
        } else {
          const j = w - k;
          ar = specRe[y * cols + j];
          ai = -specIm[y * cols + j];
          if (hasB) {
            br = specRe[(y + 1) * cols + j];
            bi = -specIm[(y + 1) * cols + j];
          }
        }
        rRe[k] = ar - bi;
        rIm[k] = ai + br;
      }
      this.rowPlan.inverse(rRe, rIm);
      for (let x = 0; x < w; x++) {
        output[y * w + x] = rRe[x];
        if (hasB) output[(y + 1) * w + x] = rIm[x];
      }
    }
  }
}
