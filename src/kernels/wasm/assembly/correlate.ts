// AssemblyScript source of the WebAssembly SIMD correlator (docs/fft-wasm.md).
//
// One instance serves one correlator of one padded size hp × wp: `init()` lays
// out every buffer once in linear memory (memory never grows afterwards), the
// host writes the prepared image at `inputPtr()`, calls `setTemplate()` or
// `correlate(mode)`, and reads the surface at `surfacePtr()`.
//
// Layout. All data are float32, split complex (separate re and im planes).
// Every transform works on four independent sequences at once, one per lane
// of an f32x4 vector ("element" below = one v128 = four lanes).
//
//  pass 1 (along y, real input): columns x0..x0+3 form the lanes; rows 2m and
//    2m+1 are the re and im parts of the packed sequence z[m], m < N = hp/2,
//    so every load is one contiguous v128. Strips of MAXB such blocks (16
//    columns, one cache line per row) are transformed together. An N-point
//    complex FFT then the real-FFT post-processing give the bins ky = 0..N.
//  transpose: the bins are written in 4 × 4 blocks into the spectrum, stored
//    as [kb][x][4]: block kb holds ky = 4kb..4kb+3 as the lanes, for every x.
//    P = 4·KB ≥ N + 1; lanes ky > N are zero padding. Consecutive blocks are
//    SB = W·16 + 192 bytes apart (not W·16: see SB).
//  pass 2 (along x): for each block kb, a wp-point complex FFT of W
//    contiguous elements, lanes = four ky.
//  The forward spectrum is kept at twice its true value (the ½ of the real-FFT
//  post-processing is folded into the cross-power scale).
//  Inverse: the same steps backwards; an inverse DFT is computed as a forward
//  one with re and im exchanged (IDFT(x) = swap(DFT(swap(x)))), which in split
//  layout only swaps two pointers. For `none`, forward pass 2, cross-power and
//  inverse pass 2 of one block kb run back to back while it is in cache.

// ---------------------------------------------------------------- state

let H: i32 = 0; // padded height (rows)
let W: i32 = 0; // padded width (columns)
let N: i32 = 0; // H / 2: length of the packed complex sequence of pass 1
let P: i32 = 0; // bins ky stored per column: N + 1 rounded up to a multiple of 4
let KB: i32 = 0; // P / 4 blocks of four bins

let heapTop: usize = 0;
// Byte stride between spectrum blocks kb: W·16 plus a few cache lines, so
// that the 64-byte pieces pass 1 writes and reads per block do not all fall
// in the same L1 sets (power-of-two W).
let SB: usize = 0;
const SPAD: usize = 192;

let inputP: usize = 0; // H·W f32, row-major
let surfaceP: usize = 0; // H·W f32, row-major
let sRe: usize = 0; // frame spectrum [KB][W][4]
let sIm: usize = 0;
let tRe: usize = 0; // template spectrum, same layout
let tIm: usize = 0;
// scratch buffers (a, b: FFT ping-pong; c, d: pass-1 work), maxn elements each
let aRe: usize = 0;
let aIm: usize = 0;
let bRe: usize = 0;
let bIm: usize = 0;
let cRe: usize = 0;
let cIm: usize = 0;
let dRe: usize = 0;
let dIm: usize = 0;

let planN: usize = 0; // FFT plans: [stages i32, n i32, (radix i32, twiddles u32) × stages]
let planW: usize = 0;
let postTw: usize = 0; // (N+1) × (cos, sin)(2πk/H) f32
let gyP: usize = 0; // P f32: spectral Gaussian along ky (host-filled), 0 on the padding
let gxP: usize = 0; // W f32: spectral Gaussian along kx (host-filled)
let wyP: usize = 0; // P f32: multiplicity of bin ky in the full spectrum (1, 2 or 0)
let winYP: usize = 0; // H f32: apodising window along y (host-filled; rows ≥ the frame's height unused)
let winXP: usize = 0; // W f32: apodising window along x
let stageP: usize = 0; // H·W·4 bytes: the frame plane as given (u8, u16 or f32), for prepare()
let stripP: usize = 0; // H·MAXB·16 bytes: one pass-1 strip of a staged frame, prepared
let wxmP: usize = 0; // W f32: winX for x < the staged width, 0 beyond
// A staged frame (`stage()`): kind 0 u8 / 1 u16, or −1 when none. Pass 1 of
// the next setTemplate()/correlate() prepares it strip by strip on the fly.
let stKind: i32 = -1;
let stW: i32 = 0;
let stH: i32 = 0;
let stMean: f32 = 0;

// Surface region computed by correlate(): rows |dy| ≤ RY and columns |dx| ≤ RX
// (circular lags); by default (−1) the whole surface. See `limitSurface`.
let RY: i32 = -1;
let RX: i32 = -1;

const MAX_STAGES: i32 = 32;
// Pass 1 works on strips of MAXB blocks of four columns (64 bytes per row).
const MAXB: i32 = 4;

// ---------------------------------------------------------------- helpers

@inline function add(a: v128, b: v128): v128 {
  return f32x4.add(a, b);
}
@inline function sub(a: v128, b: v128): v128 {
  return f32x4.sub(a, b);
}
@inline function mul(a: v128, b: v128): v128 {
  return f32x4.mul(a, b);
}
@inline function ld(p: usize): v128 {
  return v128.load(p);
}
@inline function st(p: usize, v: v128): void {
  v128.store(p, v);
}
@inline function splat(p: usize): v128 {
  return v128.load32_splat(p);
}

function alloc(bytes: usize): usize {
  const p = (heapTop + 63) & ~(<usize>63);
  heapTop = p + bytes;
  return p;
}

// ---------------------------------------------------------------- Stockham stages
//
// One decimation-in-frequency Stockham stage of radix r on sequences of
// length n = nc·s: the current sub-transforms have length nc and there are s
// of them, interleaved. Input element q + s·(p + j·m) (m = nc/r, j < r) goes
// through an r-point DFT, output j' is multiplied by w_nc^(p·j') and stored at
// q + s·(r·p + j'). Twiddles: for each p, (r−1) pairs (cos, −sin) of
// w_nc^(p·j'), j' = 1..r−1.
//
// Addressing, in bytes from (xr, xi) and (yr, yi): q = b + nb·u (b < nb,
// u < s/nb); input element (q, t = p + j·m) is at b·xb + u·xu + t·xt, output
// element (q, t' = r·p + j') at b·yb + u·yu + t'·yt. A contiguous buffer has
// nb = s, xb = 16, xt = 16·s. The two-level q lets the first stage read a
// strip of the image directly (rows 2t, 2t+1) and lets the scratch layout
// carry a spare slot per element (see `fft` and `slotOf`).

function stage2(
  nc: i32, s: i32, nb: i32,
  xr: usize, xi: usize, xb: usize, xu: usize, xt: usize,
  yr: usize, yi: usize, yb: usize, yu: usize, yt: usize,
  tw: usize,
): void {
  const m = nc >> 1;
  const nu = s / nb;
  const inJ = <usize>m * xt;
  const outJ = yt;
  for (let p = 0; p < m; p++) {
    const xp = <usize>p * xt;
    const yp = <usize>(2 * p) * yt;
    if (p == 0) {
      for (let u = 0; u < nu; u++) {
        let xo = xp + <usize>u * xu;
        let yo = yp + <usize>u * yu;
        for (let q = 0; q < nb; q++) {
          const a0r = ld(xr + xo), a0i = ld(xi + xo);
          const a1r = ld(xr + xo + inJ), a1i = ld(xi + xo + inJ);
          st(yr + yo, add(a0r, a1r));
          st(yi + yo, add(a0i, a1i));
          st(yr + yo + outJ, sub(a0r, a1r));
          st(yi + yo + outJ, sub(a0i, a1i));
          xo += xb;
          yo += yb;
        }
      }
    } else {
      const t = tw + <usize>p * 8;
      const w1r = splat(t), w1i = splat(t + 4);
      for (let u = 0; u < nu; u++) {
        let xo = xp + <usize>u * xu;
        let yo = yp + <usize>u * yu;
        for (let q = 0; q < nb; q++) {
          const a0r = ld(xr + xo), a0i = ld(xi + xo);
          const a1r = ld(xr + xo + inJ), a1i = ld(xi + xo + inJ);
          st(yr + yo, add(a0r, a1r));
          st(yi + yo, add(a0i, a1i));
          const dr = sub(a0r, a1r), di = sub(a0i, a1i);
          st(yr + yo + outJ, sub(mul(dr, w1r), mul(di, w1i)));
          st(yi + yo + outJ, add(mul(dr, w1i), mul(di, w1r)));
          xo += xb;
          yo += yb;
        }
      }
    }
  }
}

function stage4(
  nc: i32, s: i32, nb: i32,
  xr: usize, xi: usize, xb: usize, xu: usize, xt: usize,
  yr: usize, yi: usize, yb: usize, yu: usize, yt: usize,
  tw: usize,
): void {
  const m = nc >> 2;
  const nu = s / nb;
  const inJ = <usize>m * xt;
  const inJ2 = inJ + inJ;
  const inJ3 = inJ2 + inJ;
  const outJ = yt;
  const outJ2 = outJ + outJ;
  const outJ3 = outJ2 + outJ;
  for (let p = 0; p < m; p++) {
    const xp = <usize>p * xt;
    const yp = <usize>(4 * p) * yt;
    if (p == 0) {
      for (let u = 0; u < nu; u++) {
        let xo = xp + <usize>u * xu;
        let yo = yp + <usize>u * yu;
        for (let q = 0; q < nb; q++) {
          const pr = xr + xo, pi = xi + xo;
          const a0r = ld(pr), a0i = ld(pi);
          const a1r = ld(pr + inJ), a1i = ld(pi + inJ);
          const a2r = ld(pr + inJ2), a2i = ld(pi + inJ2);
          const a3r = ld(pr + inJ3), a3i = ld(pi + inJ3);
          const t0r = add(a0r, a2r), t0i = add(a0i, a2i);
          const t1r = sub(a0r, a2r), t1i = sub(a0i, a2i);
          const t2r = add(a1r, a3r), t2i = add(a1i, a3i);
          // (a1 − a3)·(−i)
          const t3r = sub(a1i, a3i), t3i = sub(a3r, a1r);
          const qr = yr + yo, qi = yi + yo;
          st(qr, add(t0r, t2r));
          st(qi, add(t0i, t2i));
          st(qr + outJ, add(t1r, t3r));
          st(qi + outJ, add(t1i, t3i));
          st(qr + outJ2, sub(t0r, t2r));
          st(qi + outJ2, sub(t0i, t2i));
          st(qr + outJ3, sub(t1r, t3r));
          st(qi + outJ3, sub(t1i, t3i));
          xo += xb;
          yo += yb;
        }
      }
    } else {
      const t = tw + <usize>p * 24;
      const w1r = splat(t), w1i = splat(t + 4);
      const w2r = splat(t + 8), w2i = splat(t + 12);
      const w3r = splat(t + 16), w3i = splat(t + 20);
      for (let u = 0; u < nu; u++) {
        let xo = xp + <usize>u * xu;
        let yo = yp + <usize>u * yu;
        for (let q = 0; q < nb; q++) {
          const pr = xr + xo, pi = xi + xo;
          const a0r = ld(pr), a0i = ld(pi);
          const a1r = ld(pr + inJ), a1i = ld(pi + inJ);
          const a2r = ld(pr + inJ2), a2i = ld(pi + inJ2);
          const a3r = ld(pr + inJ3), a3i = ld(pi + inJ3);
          const t0r = add(a0r, a2r), t0i = add(a0i, a2i);
          const t1r = sub(a0r, a2r), t1i = sub(a0i, a2i);
          const t2r = add(a1r, a3r), t2i = add(a1i, a3i);
          const t3r = sub(a1i, a3i), t3i = sub(a3r, a1r);
          const qr = yr + yo, qi = yi + yo;
          st(qr, add(t0r, t2r));
          st(qi, add(t0i, t2i));
          const u1r = add(t1r, t3r), u1i = add(t1i, t3i);
          st(qr + outJ, sub(mul(u1r, w1r), mul(u1i, w1i)));
          st(qi + outJ, add(mul(u1r, w1i), mul(u1i, w1r)));
          const u2r = sub(t0r, t2r), u2i = sub(t0i, t2i);
          st(qr + outJ2, sub(mul(u2r, w2r), mul(u2i, w2i)));
          st(qi + outJ2, add(mul(u2r, w2i), mul(u2i, w2r)));
          const u3r = sub(t1r, t3r), u3i = sub(t1i, t3i);
          st(qr + outJ3, sub(mul(u3r, w3r), mul(u3i, w3i)));
          st(qi + outJ3, add(mul(u3r, w3i), mul(u3i, w3r)));
          xo += xb;
          yo += yb;
        }
      }
    }
  }
}

// 1/√2
const R2: f32 = 0.7071067811865476;

function stage8(
  nc: i32, s: i32, nb: i32,
  xr: usize, xi: usize, xb: usize, xu: usize, xt: usize,
  yr: usize, yi: usize, yb: usize, yu: usize, yt: usize,
  tw: usize,
): void {
  const m = nc >> 3;
  const nu = s / nb;
  const inJ = <usize>m * xt;
  const outJ = yt;
  const r2 = f32x4.splat(R2);
  for (let p = 0; p < m; p++) {
    const xp = <usize>p * xt;
    const yp = <usize>(8 * p) * yt;
    const t = tw + <usize>p * 56;
    for (let u = 0; u < nu; u++) {
      let xo = xp + <usize>u * xu;
      let yo = yp + <usize>u * yu;
      for (let q = 0; q < nb; q++) {
        const pr = xr + xo, pi = xi + xo;
        // radix-2 over (j, j + 4), then c_j ·= w8^j
        let a0r = ld(pr), a0i = ld(pi);
        let a4r = ld(pr + 4 * inJ), a4i = ld(pi + 4 * inJ);
        const b0r = add(a0r, a4r), b0i = add(a0i, a4i);
        const c0r = sub(a0r, a4r), c0i = sub(a0i, a4i);
        a0r = ld(pr + 2 * inJ);
        a0i = ld(pi + 2 * inJ);
        a4r = ld(pr + 6 * inJ);
        a4i = ld(pi + 6 * inJ);
        const b2r = add(a0r, a4r), b2i = add(a0i, a4i);
        // c2 = (a2 − a6)·(−i)
        const c2r = sub(a0i, a4i), c2i = sub(a4r, a0r);
        a0r = ld(pr + inJ);
        a0i = ld(pi + inJ);
        a4r = ld(pr + 5 * inJ);
        a4i = ld(pi + 5 * inJ);
        const b1r = add(a0r, a4r), b1i = add(a0i, a4i);
        let dr = sub(a0r, a4r), di = sub(a0i, a4i);
        // c1 = d·(1 − i)/√2
        const c1r = mul(r2, add(dr, di)), c1i = mul(r2, sub(di, dr));
        a0r = ld(pr + 3 * inJ);
        a0i = ld(pi + 3 * inJ);
        a4r = ld(pr + 7 * inJ);
        a4i = ld(pi + 7 * inJ);
        const b3r = add(a0r, a4r), b3i = add(a0i, a4i);
        dr = sub(a0r, a4r);
        di = sub(a0i, a4i);
        // c3 = d·(−1 − i)/√2
        const c3r = mul(r2, sub(di, dr)), c3i = mul(r2, f32x4.neg(add(dr, di)));
        const qr = yr + yo, qi = yi + yo;
        // even outputs: DFT4(b) → y0, y2, y4, y6
        {
          const t0r = add(b0r, b2r), t0i = add(b0i, b2i);
          const t1r = sub(b0r, b2r), t1i = sub(b0i, b2i);
          const t2r = add(b1r, b3r), t2i = add(b1i, b3i);
          const t3r = sub(b1i, b3i), t3i = sub(b3r, b1r);
          st(qr, add(t0r, t2r));
          st(qi, add(t0i, t2i));
          if (p == 0) {
            st(qr + 2 * outJ, add(t1r, t3r));
            st(qi + 2 * outJ, add(t1i, t3i));
            st(qr + 4 * outJ, sub(t0r, t2r));
            st(qi + 4 * outJ, sub(t0i, t2i));
            st(qr + 6 * outJ, sub(t1r, t3r));
            st(qi + 6 * outJ, sub(t1i, t3i));
          } else {
            let u_r = add(t1r, t3r), u_i = add(t1i, t3i);
            let wr = splat(t + 8), wi = splat(t + 12);
            st(qr + 2 * outJ, sub(mul(u_r, wr), mul(u_i, wi)));
            st(qi + 2 * outJ, add(mul(u_r, wi), mul(u_i, wr)));
            u_r = sub(t0r, t2r);
            u_i = sub(t0i, t2i);
            wr = splat(t + 24);
            wi = splat(t + 28);
            st(qr + 4 * outJ, sub(mul(u_r, wr), mul(u_i, wi)));
            st(qi + 4 * outJ, add(mul(u_r, wi), mul(u_i, wr)));
            u_r = sub(t1r, t3r);
            u_i = sub(t1i, t3i);
            wr = splat(t + 40);
            wi = splat(t + 44);
            st(qr + 6 * outJ, sub(mul(u_r, wr), mul(u_i, wi)));
            st(qi + 6 * outJ, add(mul(u_r, wi), mul(u_i, wr)));
          }
        }
        // odd outputs: DFT4(c) → y1, y3, y5, y7
        {
          const t0r = add(c0r, c2r), t0i = add(c0i, c2i);
          const t1r = sub(c0r, c2r), t1i = sub(c0i, c2i);
          const t2r = add(c1r, c3r), t2i = add(c1i, c3i);
          const t3r = sub(c1i, c3i), t3i = sub(c3r, c1r);
          if (p == 0) {
            st(qr + outJ, add(t0r, t2r));
            st(qi + outJ, add(t0i, t2i));
            st(qr + 3 * outJ, add(t1r, t3r));
            st(qi + 3 * outJ, add(t1i, t3i));
            st(qr + 5 * outJ, sub(t0r, t2r));
            st(qi + 5 * outJ, sub(t0i, t2i));
            st(qr + 7 * outJ, sub(t1r, t3r));
            st(qi + 7 * outJ, sub(t1i, t3i));
          } else {
            let u_r = add(t0r, t2r), u_i = add(t0i, t2i);
            let wr = splat(t), wi = splat(t + 4);
            st(qr + outJ, sub(mul(u_r, wr), mul(u_i, wi)));
            st(qi + outJ, add(mul(u_r, wi), mul(u_i, wr)));
            u_r = add(t1r, t3r);
            u_i = add(t1i, t3i);
            wr = splat(t + 16);
            wi = splat(t + 20);
            st(qr + 3 * outJ, sub(mul(u_r, wr), mul(u_i, wi)));
            st(qi + 3 * outJ, add(mul(u_r, wi), mul(u_i, wr)));
            u_r = sub(t0r, t2r);
            u_i = sub(t0i, t2i);
            wr = splat(t + 32);
            wi = splat(t + 36);
            st(qr + 5 * outJ, sub(mul(u_r, wr), mul(u_i, wi)));
            st(qi + 5 * outJ, add(mul(u_r, wi), mul(u_i, wr)));
            u_r = sub(t1r, t3r);
            u_i = sub(t1i, t3i);
            wr = splat(t + 48);
            wi = splat(t + 52);
            st(qr + 7 * outJ, sub(mul(u_r, wr), mul(u_i, wi)));
            st(qi + 7 * outJ, add(mul(u_r, wi), mul(u_i, wr)));
          }
        }
        xo += xb;
        yo += yb;
      }
    }
  }
}

// sin(2π/3)
const S3: f32 = 0.8660254037844386;

function stage3(
  nc: i32, s: i32, nb: i32,
  xr: usize, xi: usize, xb: usize, xu: usize, xt: usize,
  yr: usize, yi: usize, yb: usize, yu: usize, yt: usize,
  tw: usize,
): void {
  const m = nc / 3;
  const nu = s / nb;
  const inJ = <usize>m * xt;
  const inJ2 = inJ + inJ;
  const outJ = yt;
  const outJ2 = outJ + outJ;
  const half = f32x4.splat(0.5);
  const s3 = f32x4.splat(S3);
  for (let p = 0; p < m; p++) {
    const xp = <usize>p * xt;
    const yp = <usize>(3 * p) * yt;
    const t = tw + <usize>p * 16;
    const w1r = splat(t), w1i = splat(t + 4);
    const w2r = splat(t + 8), w2i = splat(t + 12);
    for (let u = 0; u < nu; u++) {
      let xo = xp + <usize>u * xu;
      let yo = yp + <usize>u * yu;
      for (let q = 0; q < nb; q++) {
        const pr = xr + xo, pi = xi + xo;
        const a0r = ld(pr), a0i = ld(pi);
        const a1r = ld(pr + inJ), a1i = ld(pi + inJ);
        const a2r = ld(pr + inJ2), a2i = ld(pi + inJ2);
        const tr = add(a1r, a2r), ti = add(a1i, a2i);
        const dr = mul(s3, sub(a1r, a2r)), di = mul(s3, sub(a1i, a2i));
        const br = sub(a0r, mul(half, tr)), bi = sub(a0i, mul(half, ti));
        const qr = yr + yo, qi = yi + yo;
        st(qr, add(a0r, tr));
        st(qi, add(a0i, ti));
        // y1 = b − i·d, y2 = b + i·d (d already scaled by sin(2π/3))
        const y1r = add(br, di), y1i = sub(bi, dr);
        const y2r = sub(br, di), y2i = add(bi, dr);
        if (p == 0) {
          st(qr + outJ, y1r);
          st(qi + outJ, y1i);
          st(qr + outJ2, y2r);
          st(qi + outJ2, y2i);
        } else {
          st(qr + outJ, sub(mul(y1r, w1r), mul(y1i, w1i)));
          st(qi + outJ, add(mul(y1r, w1i), mul(y1i, w1r)));
          st(qr + outJ2, sub(mul(y2r, w2r), mul(y2i, w2i)));
          st(qi + outJ2, add(mul(y2r, w2i), mul(y2i, w2r)));
        }
        xo += xb;
        yo += yb;
      }
    }
  }
}

// cos and sin of 2π/5 and 4π/5
const C51: f32 = 0.30901699437494745;
const C52: f32 = -0.8090169943749475;
const S51: f32 = 0.9510565162951535;
const S52: f32 = 0.5877852522924731;

function stage5(
  nc: i32, s: i32, nb: i32,
  xr: usize, xi: usize, xb: usize, xu: usize, xt: usize,
  yr: usize, yi: usize, yb: usize, yu: usize, yt: usize,
  tw: usize,
): void {
  const m = nc / 5;
  const nu = s / nb;
  const inJ = <usize>m * xt;
  const outJ = yt;
  const c1 = f32x4.splat(C51), c2 = f32x4.splat(C52);
  const s1 = f32x4.splat(S51), s2 = f32x4.splat(S52);
  for (let p = 0; p < m; p++) {
    const xp = <usize>p * xt;
    const yp = <usize>(5 * p) * yt;
    const t = tw + <usize>p * 32;
    for (let u = 0; u < nu; u++) {
      let xo = xp + <usize>u * xu;
      let yo = yp + <usize>u * yu;
      for (let q = 0; q < nb; q++) {
        const pr = xr + xo, pi = xi + xo;
        const a0r = ld(pr), a0i = ld(pi);
        const a1r = ld(pr + inJ), a1i = ld(pi + inJ);
        const a2r = ld(pr + 2 * inJ), a2i = ld(pi + 2 * inJ);
        const a3r = ld(pr + 3 * inJ), a3i = ld(pi + 3 * inJ);
        const a4r = ld(pr + 4 * inJ), a4i = ld(pi + 4 * inJ);
        const t1r = add(a1r, a4r), t1i = add(a1i, a4i);
        const t2r = add(a2r, a3r), t2i = add(a2i, a3i);
        const d1r = sub(a1r, a4r), d1i = sub(a1i, a4i);
        const d2r = sub(a2r, a3r), d2i = sub(a2i, a3i);
        const b1r = add(a0r, add(mul(c1, t1r), mul(c2, t2r)));
        const b1i = add(a0i, add(mul(c1, t1i), mul(c2, t2i)));
        const b2r = add(a0r, add(mul(c2, t1r), mul(c1, t2r)));
        const b2i = add(a0i, add(mul(c2, t1i), mul(c1, t2i)));
        const e1r = add(mul(s1, d1r), mul(s2, d2r));
        const e1i = add(mul(s1, d1i), mul(s2, d2i));
        const e2r = sub(mul(s2, d1r), mul(s1, d2r));
        const e2i = sub(mul(s2, d1i), mul(s1, d2i));
        // y1 = b1 − i·e1, y4 = b1 + i·e1, y2 = b2 − i·e2, y3 = b2 + i·e2
        const y1r = add(b1r, e1i), y1i = sub(b1i, e1r);
        const y4r = sub(b1r, e1i), y4i = add(b1i, e1r);
        const y2r = add(b2r, e2i), y2i = sub(b2i, e2r);
        const y3r = sub(b2r, e2i), y3i = add(b2i, e2r);
        const qr = yr + yo, qi = yi + yo;
        st(qr, add(a0r, add(t1r, t2r)));
        st(qi, add(a0i, add(t1i, t2i)));
        if (p == 0) {
          st(qr + outJ, y1r);
          st(qi + outJ, y1i);
          st(qr + 2 * outJ, y2r);
          st(qi + 2 * outJ, y2i);
          st(qr + 3 * outJ, y3r);
          st(qi + 3 * outJ, y3i);
          st(qr + 4 * outJ, y4r);
          st(qi + 4 * outJ, y4i);
        } else {
          const w1r = splat(t), w1i = splat(t + 4);
          st(qr + outJ, sub(mul(y1r, w1r), mul(y1i, w1i)));
          st(qi + outJ, add(mul(y1r, w1i), mul(y1i, w1r)));
          const w2r = splat(t + 8), w2i = splat(t + 12);
          st(qr + 2 * outJ, sub(mul(y2r, w2r), mul(y2i, w2i)));
          st(qi + 2 * outJ, add(mul(y2r, w2i), mul(y2i, w2r)));
          const w3r = splat(t + 16), w3i = splat(t + 20);
          st(qr + 3 * outJ, sub(mul(y3r, w3r), mul(y3i, w3i)));
          st(qi + 3 * outJ, add(mul(y3r, w3i), mul(y3i, w3r)));
          const w4r = splat(t + 24), w4i = splat(t + 28);
          st(qr + 4 * outJ, sub(mul(y4r, w4r), mul(y4i, w4i)));
          st(qi + 4 * outJ, add(mul(y4r, w4i), mul(y4i, w4r)));
        }
        xo += xb;
        yo += yb;
      }
    }
  }
}

/**
 * Forward complex FFTs of n = plan length, `batch` × four lanes at once.
 * Element k of sequence b (b < batch) is read at (sr, si) + b·sb + k·sk and
 * written at (dr, di) + b·db + k·dk. Intermediate stages ping-pong between
 * the scratch buffers a and b, where element k of sequence b is at
 * (k·slot + b)·16 (slot ≥ batch; slot > batch pads the strides away from
 * powers of two). The source may equal the destination.
 */
function fft(
  plan: usize, batch: i32, slot: i32,
  sr: usize, si: usize, sb: usize, sk: usize,
  dr: usize, di: usize, db: usize, dk: usize,
): void {
  const L = load<i32>(plan);
  let nc = load<i32>(plan, 4);
  let s = batch;
  let xr = sr, xi = si;
  let xb = sb, xu = <usize>batch * sb, xt = sk; // first stage: s = batch, so u = 0
  const su = <usize>slot << 4;
  for (let i = 0; i < L; i++) {
    const e = plan + 8 + (<usize>i << 3);
    const r = load<i32>(e);
    const tw = <usize>load<u32>(e, 4);
    // q = b + batch·u with u < s/batch: element k = u + (s/batch)·t'.
    const sq = <usize>(s / batch);
    let yr: usize, yi: usize, yb: usize, yu: usize;
    if (i == L - 1) {
      yr = dr;
      yi = di;
      yb = db;
      yu = dk;
    } else {
      yr = (i & 1) == 0 ? aRe : bRe;
      yi = (i & 1) == 0 ? aIm : bIm;
      yb = 16;
      yu = su;
    }
    const yt = sq * yu;
    // Where both sides are contiguous in q, one loop over q < s does.
    const nb = xu == <usize>batch * xb && yu == <usize>batch * yb ? s : batch;
    if (r == 4) stage4(nc, s, nb, xr, xi, xb, xu, xt, yr, yi, yb, yu, yt, tw);
    else if (r == 8) stage8(nc, s, nb, xr, xi, xb, xu, xt, yr, yi, yb, yu, yt, tw);
    else if (r == 2) stage2(nc, s, nb, xr, xi, xb, xu, xt, yr, yi, yb, yu, yt, tw);
    else if (r == 3) stage3(nc, s, nb, xr, xi, xb, xu, xt, yr, yi, yb, yu, yt, tw);
    else stage5(nc, s, nb, xr, xi, xb, xu, xt, yr, yi, yb, yu, yt, tw);
    nc /= r;
    s *= r;
    xr = yr;
    xi = yi;
    xb = 16;
    xu = su;
    xt = <usize>(s / batch) * su;
  }
}

// ---------------------------------------------------------------- plans

/**
 * Radix of stage i for length n, 0 past the end: for the power of two 2^a,
 * radix 8 while a ≥ 5 or a = 3, then 4s and at most one 2 (so 2^4 = 4·4,
 * 2^7 = 8·4·4, 2^10 = 8·8·4·4); then 3s, then 5s.
 */
function radixAt(n: i32, i: i32): i32 {
  let a = 0;
  let r = n;
  while ((r & 1) == 0) {
    a++;
    r >>= 1;
  }
  let k = 0;
  while (a >= 5 || a == 3) {
    if (k == i) return 8;
    k++;
    a -= 3;
  }
  while (a >= 2) {
    if (k == i) return 4;
    k++;
    a -= 2;
  }
  if (a == 1) {
    if (k == i) return 2;
    k++;
  }
  while (r % 3 == 0) {
    if (k == i) return 3;
    k++;
    r /= 3;
  }
  while (r % 5 == 0) {
    if (k == i) return 5;
    k++;
    r /= 5;
  }
  return 0;
}

/** Fills a plan for length n (stage list and twiddles at the given area). */
function buildPlan(plan: usize, n: i32, twArea: usize): void {
  let L = 0;
  let nc = n;
  let tw = twArea;
  while (nc > 1) {
    const r = radixAt(n, L);
    const m = nc / r;
    store<i32>(plan + 8 + (<usize>L << 3), r);
    store<u32>(plan + 8 + (<usize>L << 3), <u32>tw, 4);
    for (let p = 0; p < m; p++) {
      for (let j = 1; j < r; j++) {
        const k = (p * j) % nc;
        const a = (-2.0 * Math.PI * <f64>k) / <f64>nc;
        store<f32>(tw, <f32>Math.cos(a));
        store<f32>(tw, <f32>Math.sin(a), 4);
        tw += 8;
      }
    }
    nc = m;
    L++;
  }
  store<i32>(plan, L);
  store<i32>(plan, n, 4);
}

function isFast(n: i32): bool {
  if (n < 4 || n % 4 != 0) return false;
  let r = n;
  while (r % 2 == 0) r /= 2;
  while (r % 3 == 0) r /= 3;
  while (r % 5 == 0) r /= 5;
  return r == 1;
}

/**
 * Lays out all buffers for an h × w correlator and precomputes the plans.
 * Returns 0, or 1 for an unsupported size, 2 when memory cannot grow, 3 when
 * called twice.
 */
export function init(h: i32, w: i32): i32 {
  if (H != 0) return 3;
  if (!isFast(h) || !isFast(w)) return 1;
  H = h;
  W = w;
  N = h >> 1;
  P = (N + 1 + 3) & ~3;
  KB = P >> 2;
  let maxn = P * (MAXB + 1);
  if (W > maxn) maxn = W;
  // Everything must fit in the 4 GiB of a 32-bit address space.
  const need =
    <f64>h * <f64>w * 12 + <f64>h * <f64>(MAXB * 16) + <f64>P * <f64>w * 16 + <f64>maxn * 128 + <f64>(N + W) * 32 + <f64>(P + W) * 12 + <f64>(h + 2 * w) * 4 + <f64>P * <f64>SPAD + 65536;
  if (need + <f64>__heap_base > 4294901760.0) {
    H = 0;
    return 2;
  }
  heapTop = __heap_base;
  const planBytes = <usize>(8 + 8 * MAX_STAGES);
  planN = alloc(planBytes);
  planW = alloc(planBytes);
  const twN = alloc(<usize>N * 16);
  const twW = alloc(<usize>W * 16);
  postTw = alloc(<usize>(N + 1) * 8);
  gyP = alloc(<usize>P * 4);
  gxP = alloc(<usize>W * 4);
  wyP = alloc(<usize>P * 4);
  const img = <usize>H * <usize>W * 4;
  winYP = alloc(<usize>H * 4);
  winXP = alloc(<usize>W * 4);
  stageP = alloc(img + 16);
  stripP = alloc(<usize>H * <usize>(MAXB << 4));
  wxmP = alloc(<usize>W * 4);
  inputP = alloc(img);
  surfaceP = alloc(img);
  SB = (<usize>W << 4) + SPAD;
  const spec = <usize>KB * SB;
  sRe = alloc(spec);
  sIm = alloc(spec);
  tRe = alloc(spec);
  tIm = alloc(spec);
  const scr = <usize>maxn * 16;
  aRe = alloc(scr);
  aIm = alloc(scr);
  bRe = alloc(scr);
  bIm = alloc(scr);
  cRe = alloc(scr);
  cIm = alloc(scr);
  dRe = alloc(scr);
  dIm = alloc(scr);
  const pages = <i32>((heapTop + 65535) >> 16);
  const have = memory.size();
  if (pages > have && memory.grow(pages - have) < 0) return 2;

  buildPlan(planN, N, twN);
  buildPlan(planW, W, twW);
  for (let k = 0; k <= N; k++) {
    let c: f64, s: f64;
    if (k == 0) {
      c = 1;
      s = 0;
    } else if (k == N) {
      c = -1;
      s = 0;
    } else if (2 * k == N) {
      c = 0;
      s = 1;
    } else {
      const a = (2.0 * Math.PI * <f64>k) / <f64>H;
      c = Math.cos(a);
      s = Math.sin(a);
    }
    store<f32>(postTw + (<usize>k << 3), <f32>c);
    store<f32>(postTw + (<usize>k << 3), <f32>s, 4);
  }
  for (let k = 0; k < P; k++) {
    const m: f32 = k == 0 || k == N ? 1 : k < N ? 2 : 0;
    store<f32>(wyP + (<usize>k << 2), m);
  }
  return 0;
}

export function winYPtr(): usize {
  return winYP;
}
export function winXPtr(): usize {
  return winXP;
}
export function stagePtr(): usize {
  return stageP;
}

// ---------------------------------------------------------------- preparation
//
// docs/registration.md section 2: the h × w plane at stageP (kind 0 u8, 1 u16,
// 2 f32) becomes (v − mean)·wy·wx at the top left of the H × W input, zeros
// elsewhere; non-finite f32 pixels are left out of the mean and become 0.
// Returns Σ g², accumulated in f64 per row.

@inline function load4<T>(p: usize): v128 {
  if (sizeof<T>() == 2) return f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(v128.load64_zero(p)));
  if (sizeof<T>() == 1) return f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(i16x8.extend_low_i8x16_u(v128.load32_zero(p))));
  return v128.load(p);
}

@inline function finiteMask(v: v128): v128 {
  // v == v rules out NaN; |v| < ∞ rules out ±∞.
  return v128.and(f32x4.eq(v, v), f32x4.lt(f32x4.abs(v), f32x4.splat(Infinity)));
}

function prepareT<T>(w: i32, h: i32): f64 {
  const bp = <usize>sizeof<T>();
  const isFloat = sizeof<T>() == 4;
  const w4 = w & ~3;
  // Pass 1: the mean of the finite pixels.
  let total: f64 = 0;
  let count: f64 = 0;
  for (let y = 0; y < h; y++) {
    const row = stageP + <usize>y * <usize>w * bp;
    let rs: f64 = 0;
    let rc: i32 = 0;
    let x = 0;
    if (isFloat) {
      let acc = f32x4.splat(0);
      let cnt = i32x4.splat(0);
      for (; x < w4; x += 4) {
        const v = v128.load(row + (<usize>x << 2));
        const m = finiteMask(v);
        acc = f32x4.add(acc, v128.and(v, m));
        cnt = i32x4.sub(cnt, m);
      }
      rs = <f64>f32x4.extract_lane(acc, 0) + <f64>f32x4.extract_lane(acc, 1) + <f64>f32x4.extract_lane(acc, 2) + <f64>f32x4.extract_lane(acc, 3);
      rc = i32x4.extract_lane(cnt, 0) + i32x4.extract_lane(cnt, 1) + i32x4.extract_lane(cnt, 2) + i32x4.extract_lane(cnt, 3);
    } else {
      // Integer pixels: pairwise widening adds, exact (a lane sums at most w/4 values < 2^16).
      const w16 = sizeof<T>() == 2 ? w & ~7 : w & ~15;
      let acc = i32x4.splat(0);
      for (; x < w16; x += sizeof<T>() == 2 ? 8 : 16) {
        const v = v128.load(row + <usize>x * bp);
        acc = i32x4.add(acc, sizeof<T>() == 2 ? i32x4.extadd_pairwise_i16x8_u(v) : i32x4.extadd_pairwise_i16x8_u(i16x8.extadd_pairwise_i8x16_u(v)));
      }
      rs = <f64>i32x4.extract_lane(acc, 0) + <f64>i32x4.extract_lane(acc, 1) + <f64>i32x4.extract_lane(acc, 2) + <f64>i32x4.extract_lane(acc, 3);
      rc = x;
    }
    for (; x < w; x++) {
      const v = <f64>load<T>(row + <usize>x * bp);
      if (!isFloat || (v == v && Math.abs(v) < Infinity)) {
        rs += v;
        rc++;
      }
    }
    total += rs;
    count += <f64>rc;
  }
  const mean: f32 = count > 0 ? <f32>(total / count) : 0;
  const vm = f32x4.splat(mean);
  // Pass 2: g = (v − mean)·wy·wx into the input, zero padding, Σ g².
  let energy: f64 = 0;
  for (let y = 0; y < h; y++) {
    const row = stageP + <usize>y * <usize>w * bp;
    const out = inputP + <usize>y * <usize>W * 4;
    const wy = f32x4.splat(load<f32>(winYP + (<usize>y << 2)));
    let e = f32x4.splat(0);
    let x = 0;
    for (; x < w4; x += 4) {
      const v = load4<T>(row + <usize>x * bp);
      let g = f32x4.mul(f32x4.mul(f32x4.sub(v, vm), wy), v128.load(winXP + (<usize>x << 2)));
      if (isFloat) g = v128.and(g, finiteMask(v));
      v128.store(out + (<usize>x << 2), g);
      e = f32x4.add(e, f32x4.mul(g, g));
    }
    let re: f64 = <f64>f32x4.extract_lane(e, 0) + <f64>f32x4.extract_lane(e, 1) + <f64>f32x4.extract_lane(e, 2) + <f64>f32x4.extract_lane(e, 3);
    for (; x < w; x++) {
      const v = <f32>load<T>(row + <usize>x * bp);
      let g: f32 = (v - mean) * load<f32>(winYP + (<usize>y << 2)) * load<f32>(winXP + (<usize>x << 2));
      if (isFloat && !(v == v && Mathf.abs(v) < Infinity)) g = 0;
      store<f32>(out + (<usize>x << 2), g);
      re += <f64>g * <f64>g;
    }
    if (W > w) memory.fill(out + (<usize>w << 2), 0, <usize>(W - w) << 2);
    energy += re;
  }
  if (H > h) memory.fill(inputP + <usize>h * <usize>W * 4, 0, <usize>(H - h) * <usize>W * 4);
  return energy;
}

export function prepare(kind: i32, w: i32, h: i32): f64 {
  stKind = -1;
  if (kind == 0) return prepareT<u8>(w, h);
  if (kind == 1) return prepareT<u16>(w, h);
  return prepareT<f32>(w, h);
}

// ---------------------------------------------------------------- staged preparation
//
// `stage(kind, w, h)` (integer planes only) computes the mean and Σ g² of the
// h × w plane at stageP in one read-only pass and leaves the plane there; the
// next setTemplate()/correlate() forms g = (v − mean)·wy·wx strip by strip as
// pass 1 loads it (`fillStrip`), so the H × W f32 input is neither written
// nor read. Σ g² is accumulated around a shift c (the mean of every 8th row,
// so that v − c stays small) and corrected algebraically once the exact
// mean m is known: per row, with d = v − c and δ = m − c,
// Σ wx²(v − m)² = Σ wx² d² − 2δ Σ wx² d + δ² Σ wx².

function stageT<T>(w: i32, h: i32): f64 {
  const bp = <usize>sizeof<T>();
  const w4 = w & ~3;
  // Shift: the mean of every 8th row (exact integer sums).
  let cs: f64 = 0;
  let cn: f64 = 0;
  for (let y = 0; y < h; y += 8) {
    const row = stageP + <usize>y * <usize>w * bp;
    let acc = i32x4.splat(0);
    let x = 0;
    for (; x < w4; x += 4) acc = i32x4.add(acc, loadI4<T>(row + <usize>x * bp));
    let rs: f64 = <f64>i32x4.extract_lane(acc, 0) + <f64>i32x4.extract_lane(acc, 1) + <f64>i32x4.extract_lane(acc, 2) + <f64>i32x4.extract_lane(acc, 3);
    for (; x < w; x++) rs += <f64>load<T>(row + <usize>x * bp);
    cs += rs;
    cn += <f64>w;
  }
  const c: f32 = cn > 0 ? <f32>(cs / cn) : 0;
  const vc = f32x4.splat(c);
  // wx² for x < w (into wxmP, rewritten below) and Σ wx².
  const wx2 = wxmP;
  let x2: f64 = 0;
  for (let x = 0; x < w; x++) {
    const v = load<f32>(winXP + (<usize>x << 2));
    store<f32>(wx2 + (<usize>x << 2), v * v);
    x2 += <f64>(v * v);
  }
  // One pass: exact Σ v, and per row Σ wx² d, Σ wx² d² (f32 lanes, f64 per row).
  let total: f64 = 0;
  let e0: f64 = 0; // Σ wy² Σ wx² d²
  let e1: f64 = 0; // Σ wy² Σ wx² d
  let ey: f64 = 0; // Σ wy²
  for (let y = 0; y < h; y++) {
    const row = stageP + <usize>y * <usize>w * bp;
    let iacc = i32x4.splat(0);
    let a1 = f32x4.splat(0);
    let a2 = f32x4.splat(0);
    let x = 0;
    if (sizeof<T>() == 2) {
      // Eight pixels per step: one pairwise widening add for the exact sum.
      const w8 = w & ~7;
      for (; x < w8; x += 8) {
        const v = v128.load(row + (<usize>x << 1));
        iacc = i32x4.add(iacc, i32x4.extadd_pairwise_i16x8_u(v));
        const d0 = f32x4.sub(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(v)), vc);
        const d1 = f32x4.sub(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_u(v)), vc);
        const t0 = f32x4.mul(d0, v128.load(wx2 + (<usize>x << 2)));
        const t1 = f32x4.mul(d1, v128.load(wx2 + (<usize>x << 2) + 16));
        a1 = f32x4.add(a1, f32x4.add(t0, t1));
        a2 = f32x4.add(a2, f32x4.add(f32x4.mul(t0, d0), f32x4.mul(t1, d1)));
      }
    }
    for (; x < w4; x += 4) {
      const vi = loadI4<T>(row + <usize>x * bp);
      iacc = i32x4.add(iacc, vi);
      const d = f32x4.sub(f32x4.convert_i32x4_s(vi), vc);
      const t = f32x4.mul(d, v128.load(wx2 + (<usize>x << 2)));
      a1 = f32x4.add(a1, t);
      a2 = f32x4.add(a2, f32x4.mul(t, d));
    }
    let rs: f64 = <f64>i32x4.extract_lane(iacc, 0) + <f64>i32x4.extract_lane(iacc, 1) + <f64>i32x4.extract_lane(iacc, 2) + <f64>i32x4.extract_lane(iacc, 3);
    let s1: f64 = <f64>f32x4.extract_lane(a1, 0) + <f64>f32x4.extract_lane(a1, 1) + <f64>f32x4.extract_lane(a1, 2) + <f64>f32x4.extract_lane(a1, 3);
    let s2: f64 = <f64>f32x4.extract_lane(a2, 0) + <f64>f32x4.extract_lane(a2, 1) + <f64>f32x4.extract_lane(a2, 2) + <f64>f32x4.extract_lane(a2, 3);
    for (; x < w; x++) {
      const v = <f32>load<T>(row + <usize>x * bp);
      rs += <f64>v;
      const d = v - c;
      const t = d * load<f32>(wx2 + (<usize>x << 2));
      s1 += <f64>t;
      s2 += <f64>(t * d);
    }
    total += rs;
    const wy = <f64>load<f32>(winYP + (<usize>y << 2));
    const wy2 = wy * wy;
    e0 += wy2 * s2;
    e1 += wy2 * s1;
    ey += wy2;
  }
  const n = <f64>w * <f64>h;
  const mean: f32 = n > 0 ? <f32>(total / n) : 0;
  const dl = <f64>mean - <f64>c;
  const energy = e0 - 2 * dl * e1 + dl * dl * x2 * ey;
  // winX masked to the frame's width, for fillStrip.
  for (let x = 0; x < W; x++) store<f32>(wxmP + (<usize>x << 2), x < w ? load<f32>(winXP + (<usize>x << 2)) : 0);
  stKind = sizeof<T>() == 1 ? 0 : 1;
  stW = w;
  stH = h;
  stMean = mean;
  return energy > 0 ? energy : 0;
}

/** Four integer pixels as i32x4. */
@inline function loadI4<T>(p: usize): v128 {
  if (sizeof<T>() == 2) return i32x4.extend_low_i16x8_u(v128.load64_zero(p));
  return i32x4.extend_low_i16x8_u(i16x8.extend_low_i8x16_u(v128.load32_zero(p)));
}

/**
 * Stages an integer plane (kind 0 u8, 1 u16) for the next setTemplate() or
 * correlate(); returns Σ g². Float planes (kind 2) are prepared into the
 * input at once (`prepare`).
 */
export function stage(kind: i32, w: i32, h: i32): f64 {
  if (kind == 0) return stageT<u8>(w, h);
  if (kind == 1) return stageT<u16>(w, h);
  return prepare(kind, w, h);
}

/** Writes a staged frame into the input (as `prepare` would) and unstages it. */
export function materialize(): void {
  const k = stKind;
  if (k >= 0) prepare(k, stW, stH);
}

/**
 * Rows 0..H−1 of the strip of columns x0 .. x0 + 4·nb − 1 of the staged frame,
 * prepared, into stripP (row y at y·nb·16 bytes); zero outside the frame.
 */
function fillStripT<T>(x0: i32, nb: i32): void {
  const bp = <usize>sizeof<T>();
  const eb = <usize>nb << 4;
  const w = stW;
  const h = stH;
  const vm = f32x4.splat(stMean);
  const wxs = wxmP + (<usize>x0 << 2);
  const wx0 = v128.load(wxs), wx1 = v128.load(wxs + 16), wx2 = v128.load(wxs + 32), wx3 = v128.load(wxs + 48);
  let src = stageP + <usize>x0 * bp;
  const srow = <usize>w * bp;
  let dst = stripP;
  for (let y = 0; y < h; y++) {
    const wy = splat(winYP + (<usize>y << 2));
    const a = mul(sub(load4<T>(src), vm), wy);
    st(dst, mul(a, wx0));
    if (nb > 1) st(dst + 16, mul(mul(sub(load4<T>(src + 4 * bp), vm), wy), wx1));
    if (nb > 2) st(dst + 32, mul(mul(sub(load4<T>(src + 8 * bp), vm), wy), wx2));
    if (nb > 3) st(dst + 48, mul(mul(sub(load4<T>(src + 12 * bp), vm), wy), wx3));
    src += srow;
    dst += eb;
  }
  if (H > h) memory.fill(dst, 0, <usize>(H - h) * eb);
}

export function inputPtr(): usize {
  return inputP;
}
export function surfacePtr(): usize {
  return surfaceP;
}
export function gyPtr(): usize {
  return gyP;
}
export function gxPtr(): usize {
  return gxP;
}

// ---------------------------------------------------------------- pass 1

/**
 * 4 × 4 transpose: element i of the source (at src + i·ss) holds four lanes;
 * element j of the destination (at dst + j·ds) gets lane j of source 0..3.
 */
@inline function transpose4(src: usize, ss: usize, dst: usize, ds: usize): void {
  const a = ld(src), b = ld(src + ss), c = ld(src + 2 * ss), d = ld(src + 3 * ss);
  const t0 = v128.shuffle<f32>(a, b, 0, 4, 1, 5);
  const t1 = v128.shuffle<f32>(a, b, 2, 6, 3, 7);
  const t2 = v128.shuffle<f32>(c, d, 0, 4, 1, 5);
  const t3 = v128.shuffle<f32>(c, d, 2, 6, 3, 7);
  st(dst, v128.shuffle<f32>(t0, t2, 0, 1, 4, 5));
  st(dst + ds, v128.shuffle<f32>(t0, t2, 2, 3, 6, 7));
  st(dst + 2 * ds, v128.shuffle<f32>(t1, t3, 0, 1, 4, 5));
  st(dst + 3 * ds, v128.shuffle<f32>(t1, t3, 2, 3, 6, 7));
}

/**
 * Slot count of the scratch layout for a batch of nb (see `fft`): one spare
 * slot when the distance between the inputs of a radix-8 butterfly,
 * N·nb·16/8 bytes, would be a multiple of 4 KiB, so that they do not all fall
 * in one L1 cache set (measured: −10 % at 1024², +2 % at 512² if always on).
 */
@inline function slotOf(nb: i32): i32 {
  return (N * nb * 16) % 32768 == 0 ? nb + 1 : nb;
}

/**
 * Forward pass 1 on the strip of columns x0 .. x0 + 4·nb − 1 of the input
 * (nb ≤ MAXB blocks of four columns; 64 bytes per row for nb = 4, so every
 * cache line of the input is used whole), into spectrum block columns of
 * (xr, xi). Bins are twice the true DFT.
 */
function forwardStrip(x0: i32, nb: i32, xr: usize, xi: usize): void {
  const rowB = <usize>W << 2;
  const eb = <usize>nb << 4; // bytes of one element of all nb sequences
  const slot = slotOf(nb);
  const cb = <usize>slot << 4; // element stride in the scratch layout
  if (stKind >= 0) {
    // A staged frame: prepare the strip into stripP, then transform from there.
    if (stKind == 0) fillStripT<u8>(x0, nb);
    else fillStripT<u16>(x0, nb);
    fft(planN, nb, slot, stripP, stripP + eb, 16, eb << 1, cRe, cIm, 16, cb);
  } else {
    const src = inputP + (<usize>x0 << 2);
    // The first FFT stage reads rows 2t (re) and 2t+1 (im) directly.
    fft(planN, nb, slot, src, src + rowB, 16, rowB << 1, cRe, cIm, 16, cb);
  }
  // Post-processing: X[k] = A + W^k·(−i)·B with A = Z[k] + conj Z[N−k],
  // B = Z[k] − conj Z[N−k], W^k = (c, −s): X.re = Ar + c·Bi − s·Br,
  // X.im = Ai − c·Br − s·Bi. k = 0 and k = N both use Z[0] twice:
  // X[0] = 2(Z0.re + Z0.im), X[N] = 2(Z0.re − Z0.im), both real; bins k > N
  // are zero padding. Computed four bins at a time into a small buffer
  // (hot in L1), then transposed 4 × 4 into [kb][x][4].
  let o = <usize>x0 << 4; // element x0 of block 0
  for (let kb = 0; kb < KB; kb++) {
    const k0 = kb << 2;
    if (k0 >= 1 && k0 + 3 < N) {
      for (let i = 0; i < 4; i++) {
        const k = k0 + i;
        const ko = <usize>k * cb;
        const mo = <usize>(N - k) * cb;
        const t = postTw + (<usize>k << 3);
        const c = splat(t), s = splat(t + 4);
        const bo = <usize>i << 4;
        for (let b: usize = 0; b < eb; b += 16) {
          const zr = ld(cRe + ko + b), zi = ld(cIm + ko + b);
          const yr = ld(cRe + mo + b), yi = ld(cIm + mo + b);
          const ar = add(zr, yr), ai = sub(zi, yi);
          const br = sub(zr, yr), bi = add(zi, yi);
          st(dRe + (b << 2) + bo, sub(add(ar, mul(c, bi)), mul(s, br)));
          st(dIm + (b << 2) + bo, sub(sub(ai, mul(c, br)), mul(s, bi)));
        }
      }
    } else {
      postEdge(k0, eb, cb);
    }
    for (let b: usize = 0; b < eb; b += 16) {
      transpose4(dRe + (b << 2), 16, xr + o + (b << 2), 16);
      transpose4(dIm + (b << 2), 16, xi + o + (b << 2), 16);
    }
    o += SB;
  }
}

/** Post-processing of the bins k0..k0+3 that involve k = 0, k = N or padding. */
function postEdge(k0: i32, eb: usize, cb: usize): void {
  const two = f32x4.splat(2);
  const zero = f32x4.splat(0);
  for (let i = 0; i < 4; i++) {
    const k = k0 + i;
    const bo = <usize>i << 4;
    for (let b: usize = 0; b < eb; b += 16) {
      const d = (b << 2) + bo;
      if (k == 0 || k == N) {
        const z0r = ld(cRe + b), z0i = ld(cIm + b);
        st(dRe + d, mul(two, k == 0 ? add(z0r, z0i) : sub(z0r, z0i)));
        st(dIm + d, zero);
      } else if (k > N) {
        st(dRe + d, zero);
        st(dIm + d, zero);
      } else {
        const ko = <usize>k * cb + b;
        const mo = <usize>(N - k) * cb + b;
        const t = postTw + (<usize>k << 3);
        const c = splat(t), s = splat(t + 4);
        const zr = ld(cRe + ko), zi = ld(cIm + ko);
        const yr = ld(cRe + mo), yi = ld(cIm + mo);
        const ar = add(zr, yr), ai = sub(zi, yi);
        const br = sub(zr, yr), bi = add(zi, yi);
        st(dRe + d, sub(add(ar, mul(c, bi)), mul(s, br)));
        st(dIm + d, sub(sub(ai, mul(c, br)), mul(s, bi)));
      }
    }
  }
}

/** Inverse pass 1: spectrum (sRe, sIm) to the strip x0 .. x0 + 4·nb − 1 of the surface. */
function inverseStrip(x0: i32, nb: i32): void {
  const eb = <usize>nb << 4;
  const slot = slotOf(nb);
  const cb = <usize>slot << 4;
  // transpose into D, element k of sequence b at k·eb + 16·b
  let so: usize = 0;
  let o = <usize>x0 << 4;
  for (let kb = 0; kb < KB; kb++) {
    for (let b: usize = 0; b < eb; b += 16) {
      transpose4(sRe + o + (b << 2), 16, dRe + so + b, eb);
      transpose4(sIm + o + (b << 2), 16, dIm + so + b, eb);
    }
    so += eb << 2;
    o += SB;
  }
  // The bins ky = 0 and ky = N of a real column are real: their imaginary
  // parts (rounding noise) are dropped, as irfft does.
  // Z'[0] = (Y0 + YN) + i (Y0 − YN)
  const nOff = <usize>N * eb;
  for (let b: usize = 0; b < eb; b += 16) {
    const y0r = ld(dRe + b), ynr = ld(dRe + nOff + b);
    st(cRe + b, add(y0r, ynr));
    st(cIm + b, sub(y0r, ynr));
  }
  // Z'[k] = A + i·W^−k·B, A = Y[k] + conj Y[N−k], B = Y[k] − conj Y[N−k],
  // W^−k = (c, s): Z'.re = Ar − c·Bi − s·Br, Z'.im = Ai + c·Br − s·Bi.
  for (let k = 1; k < N; k++) {
    const ko = <usize>k * eb;
    const mo = <usize>(N - k) * eb;
    const zo = <usize>k * cb;
    const t = postTw + (<usize>k << 3);
    const c = splat(t), s = splat(t + 4);
    for (let b: usize = 0; b < eb; b += 16) {
      const yr = ld(dRe + ko + b), yi = ld(dIm + ko + b);
      const ur = ld(dRe + mo + b), ui = ld(dIm + mo + b);
      const ar = add(yr, ur), ai = sub(yi, ui);
      const br = sub(yr, ur), bi = add(yi, ui);
      st(cRe + zo + b, sub(sub(ar, mul(c, bi)), mul(s, br)));
      st(cIm + zo + b, sub(add(ai, mul(c, br)), mul(s, bi)));
    }
  }
  // IDFT via swapped DFT: output re (= IDFT im) → odd rows, output im → even rows.
  const rowB = <usize>W << 2;
  const dst = surfaceP + (<usize>x0 << 2);
  // (The last FFT stage could write the strip directly, like the first stage
  // of the forward pass reads it; measured slower at 1024², where the
  // separate row-by-row copy streams better.)
  fft(planN, nb, slot, cIm, cRe, 16, cb, dRe, dIm, 16, cb);
  let dp = dst;
  let sp: usize = 0;
  // Rows 2t, 2t + 1 outside the requested lags |dy| ≤ RY are not written.
  const ry = RY;
  const t1 = ry < 0 || 2 * ry + 2 >= H ? N : (ry >> 1) + 1;
  const t2 = ry < 0 || 2 * ry + 2 >= H ? N : (H - ry) >> 1;
  for (let t = 0; t < N; t++) {
    if (t == t1) {
      dp += <usize>(t2 - t1) * (rowB << 1);
      sp += <usize>(t2 - t1) * cb;
      t = t2;
      if (t >= N) break;
    }
    for (let b: usize = 0; b < eb; b += 16) {
      st(dp + b, ld(dIm + sp + b));
      st(dp + rowB + b, ld(dRe + sp + b));
    }
    dp += rowB << 1;
    sp += cb;
  }
}

/**
 * Restricts the surface correlate() computes to lags |dy| ≤ ry, |dx| ≤ rx
 * (circularly: rows 0..ry and H−ry..H−1, columns likewise, rounded out to
 * whole row pairs and 16-column strips); other values are left stale.
 * A negative radius: the whole axis (the default).
 */
export function limitSurface(ry: i32, rx: i32): void {
  RY = ry;
  RX = rx;
}

/** Forward pass 1 over all strips. */
function forwardColumns(xr: usize, xi: usize): void {
  const strip = MAXB << 2;
  for (let x0 = 0; x0 < W; x0 += strip) {
    const nb = W - x0 >= strip ? MAXB : (W - x0) >> 2;
    forwardStrip(x0, nb, xr, xi);
  }
}

/** Inverse pass 1 over all strips. */
function inverseColumns(): void {
  const strip = MAXB << 2;
  const rx = RX;
  const all = rx < 0 || 2 * rx + 1 >= W;
  for (let x0 = 0; x0 < W; x0 += strip) {
    const nb = W - x0 >= strip ? MAXB : (W - x0) >> 2;
    // Strips wholly between the lags rx and W − rx are not needed.
    if (!all && x0 > rx && x0 + 4 * nb - 1 < W - rx) continue;
    inverseStrip(x0, nb);
  }
}

// ---------------------------------------------------------------- entry points

function forward(xr: usize, xi: usize): void {
  forwardColumns(xr, xi);
  stKind = -1;
  for (let kb = 0; kb < KB; kb++) {
    const o = <usize>kb * SB;
    fft(planW, 1, 1, xr + o, xi + o, 16, 16, xr + o, xi + o, 16, 16);
  }
}

export function setTemplate(): void {
  forward(tRe, tIm);
  // Fold the cross-power scale 1/(4·H·W) into the template spectrum (the
  // spectra are twice the true ones, the inverse gains H·W): `none` then
  // needs no multiply by it, and `phase` is invariant to it (C, Σ|C| and ε
  // all scale alike).
  const scale = f32x4.splat(<f32>(1.0 / (4.0 * <f64>H * <f64>W)));
  const end = <usize>KB * SB;
  for (let o: usize = 0; o < end; o += 16) {
    st(tRe + o, mul(ld(tRe + o), scale));
    st(tIm + o, mul(ld(tIm + o), scale));
  }
}

/** mode 0: normalization none; mode 1: phase. */
export function correlate(mode: i32): void {
  forwardColumns(sRe, sIm);
  stKind = -1;
  const blk = <usize>W << 4;
  const hw = <f64>H * <f64>W;
  if (mode == 0) {
    // The scale 1/(4·H·W) is folded into the template spectrum (setTemplate).
    for (let kb = 0; kb < KB; kb++) {
      const o = <usize>kb * SB;
      fft(planW, 1, 1, sRe + o, sIm + o, 16, 16, cRe, cIm, 16, 16);
      for (let x: usize = 0; x < blk; x += 16) {
        const fr = ld(cRe + x), fi = ld(cIm + x);
        const gr = ld(tRe + o + x), gi = ld(tIm + o + x);
        st(cRe + x, add(mul(fr, gr), mul(fi, gi)));
        st(cIm + x, sub(mul(fi, gr), mul(fr, gi)));
      }
      fft(planW, 1, 1, cIm, cRe, 16, 16, sIm + o, sRe + o, 16, 16);
    }
  } else {
    // C = F·conj(T), kept in the spectrum buffer; Σ|C| over the full spectrum.
    let total: f64 = 0;
    for (let kb = 0; kb < KB; kb++) {
      const o = <usize>kb * SB;
      fft(planW, 1, 1, sRe + o, sIm + o, 16, 16, cRe, cIm, 16, 16);
      let acc = f32x4.splat(0);
      for (let x: usize = 0; x < blk; x += 16) {
        const fr = ld(cRe + x), fi = ld(cIm + x);
        const gr = ld(tRe + o + x), gi = ld(tIm + o + x);
        const cr = add(mul(fr, gr), mul(fi, gi));
        const ci = sub(mul(fi, gr), mul(fr, gi));
        st(sRe + o + x, cr);
        st(sIm + o + x, ci);
        acc = add(acc, f32x4.sqrt(add(mul(cr, cr), mul(ci, ci))));
      }
      acc = mul(acc, ld(wyP + (<usize>kb << 4)));
      total +=
        <f64>f32x4.extract_lane(acc, 0) +
        <f64>f32x4.extract_lane(acc, 1) +
        <f64>f32x4.extract_lane(acc, 2) +
        <f64>f32x4.extract_lane(acc, 3);
    }
    let e = <f32>((1e-6 * total) / hw);
    // All-zero cross-power: any positive ε gives R = 0 rather than 0/0.
    if (!(e > 0)) e = 1;
    const eps = f32x4.splat(e);
    const inv = <f32>(1.0 / hw);
    for (let kb = 0; kb < KB; kb++) {
      const o = <usize>kb * SB;
      const gy = mul(ld(gyP + (<usize>kb << 4)), f32x4.splat(inv));
      let gx = gxP;
      for (let x: usize = 0; x < blk; x += 16) {
        const cr = ld(sRe + o + x), ci = ld(sIm + o + x);
        const mag = f32x4.sqrt(add(mul(cr, cr), mul(ci, ci)));
        const f = f32x4.div(mul(gy, splat(gx)), add(mag, eps));
        st(cRe + x, mul(cr, f));
        st(cIm + x, mul(ci, f));
        gx += 4;
      }
      fft(planW, 1, 1, cIm, cRe, 16, 16, sIm + o, sRe + o, 16, 16);
    }
  }
  inverseColumns();
}
