import { beforeAll, describe, expect, it } from 'vitest';
import type { Dtype, PixelArray } from '../../src/ingest/frame.js';
import { type BorderMode, type ValidRect, warpGeometry, warpTranslate } from '../../src/kernels/warp.js';
import type { Warper, WarperFactory } from '../../src/kernels/warper.js';
import { TsWarper } from '../../src/kernels/warper.js';
import { WasmWarper } from '../../src/kernels/wasmWarper.js';
import { selectBackend } from '../../src/stream/backend.js';
import { seededRandom } from '../helpers/random.js';

/**
 * `WasmWarper` (f32 SIMD interior) against `TsWarper` (the reference: f64
 * arithmetic, rounded once to f32), and both against a naive per-pixel
 * bilinear written from docs/registration.md section 6.
 *
 * Tolerance for sub-pixel shifts. Let S be the largest |tap| read for an
 * output pixel and ε = 2^-24 (f32 unit roundoff). The TS result is the exact
 * bilinear value v rounded once: |TS − v| ≤ ε·S (the weights are convex).
 * The WASM result differs from v by (a) fy, fx rounded to f32 (|Δ| ≤ ε/2
 * each; Σ_i |∂w_i/∂f| = 2, so Σ|Δw_i| ≤ 2ε), (b) the f32 weights 1 − f
 * (≤ ε/2 each, Σ ≤ ε) and products (≤ ε·w_i, Σ ≤ ε), and (c) the four-term
 * f32 dot product (two products in a row, then two additions: ≤ 3ε·S). The
 * pixel conversions u8/u16 → f32 are exact. Altogether
 * |WASM − TS| ≤ (2 + 1 + 1 + 3 + 1)·ε·S = 8ε·S. Any wrong tap, weight or row
 * gives errors of order S·min(f, 1 − f), i.e. > 1e-3·S for the shifts used.
 */
const EPS32 = 2 ** -24;
const TOL_ULPS = 8;

let wasmWarper: WarperFactory;
let tsWarper: WarperFactory;

beforeAll(async () => {
  const corr = { normalization: 'none' as const, phaseSigma: 1 };
  const w = await selectBackend('wasm', corr);
  const t = await selectBackend('ts', corr);
  expect(w.name).toBe('wasm');
  expect(t.name).toBe('ts');
  wasmWarper = w.kernels.warper;
  tsWarper = t.kernels.warper;
});

/** Random pixels covering each dtype's full range (uint16 includes 65535, values ≥ 32768). */
function randomPixels(dtype: Dtype, n: number, seed: number): PixelArray {
  const r = seededRandom(seed);
  if (dtype === 'uint8') return Uint8Array.from({ length: n }, () => Math.floor(r() * 256));
  if (dtype === 'uint16') {
    const a = Uint16Array.from({ length: n }, () => Math.floor(r() * 65536));
    for (let i = 0; i < n; i += 7) a[i] = 65535;
    return a;
  }
  // Mixed signs and magnitudes (0.01 … 1e4): the tolerance scales with the taps.
  return Float32Array.from({ length: n }, () => (r() * 2 - 1) * 10 ** (r() * 6 - 2));
}

/**
 * Naive reference, straight from the definition: out(y, x) = f(y − ty, x − tx)
 * bilinear; taps with zero weight are not read; outside the frame the border
 * mode decides (nearest: the sample position is clamped to the frame).
 */
function naiveWarp(src: ArrayLike<number>, w: number, h: number, ty: number, tx: number, border: BorderMode, cval: number): { out: Float64Array; inside: Uint8Array } {
  const out = new Float64Array(w * h);
  const inside = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const sy = y - ty;
      const sx = x - tx;
      const y0 = Math.floor(sy);
      const x0 = Math.floor(sx);
      const fy = sy - y0;
      const fx = sx - x0;
      const yMax = fy > 0 ? y0 + 1 : y0;
      const xMax = fx > 0 ? x0 + 1 : x0;
      const ok = y0 >= 0 && x0 >= 0 && yMax < h && xMax < w;
      inside[y * w + x] = ok ? 1 : 0;
      let py = sy;
      let px = sx;
      if (!ok) {
        if (border === 'constant') {
          out[y * w + x] = cval;
          continue;
        }
        if (border === 'nan') {
          out[y * w + x] = NaN;
          continue;
        }
        py = Math.min(Math.max(sy, 0), h - 1);
        px = Math.min(Math.max(sx, 0), w - 1);
      }
      const a0 = Math.floor(py);
      const b0 = Math.floor(px);
      const gy = py - a0;
      const gx = px - b0;
      let v = 0;
      for (const [yy, wy] of [[a0, 1 - gy], [a0 + 1, gy]] as const) {
        if (wy === 0) continue;
        for (const [xx, wx] of [[b0, 1 - gx], [b0 + 1, gx]] as const) {
          if (wx === 0) continue;
          v += wy * wx * src[yy * w + xx];
        }
      }
      out[y * w + x] = v;
    }
  }
  return { out, inside };
}

/** The rectangle where `inside` is set, or the empty one. */
function rectOf(inside: Uint8Array, w: number, h: number): ValidRect {
  let x0 = w;
  let y0 = h;
  let x1 = 0;
  let y1 = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (!inside[y * w + x]) continue;
      x0 = Math.min(x0, x);
      y0 = Math.min(y0, y);
      x1 = Math.max(x1, x + 1);
      y1 = Math.max(y1, y + 1);
    }
  }
  return x1 === 0 ? { x0: 0, y0: 0, x1: 0, y1: 0 } : { x0, y0, x1, y1 };
}

/** Largest |tap| read (with a non-zero weight) for output (y, x) of a warp by (ty, tx); 0 when outside. */
function tapScale(src: ArrayLike<number>, w: number, h: number, ty: number, tx: number, y: number, x: number): number {
  const g = warpGeometry(w, h, ty, tx);
  const a = y + g.oy;
  const b = x + g.ox;
  let s = Math.abs(src[a * w + b]);
  if (g.fx > 0) s = Math.max(s, Math.abs(src[a * w + b + 1]));
  if (g.fy > 0) s = Math.max(s, Math.abs(src[(a + 1) * w + b]));
  if (g.fx > 0 && g.fy > 0) s = Math.max(s, Math.abs(src[(a + 1) * w + b + 1]));
  return s;
}

const SIZES: [number, number][] = [
  [37, 23], // width not a multiple of 4: every row ends in the scalar tail
  [5, 3], // narrower than one SIMD step
  [256, 200],
];

/** [ty, tx]: the warp translation (the registered frame is the warp by (−dy, −dx)). */
function shiftsFor(w: number, h: number): [number, number][] {
  return [
    [0, 0],
    [2, -3],
    [-1, 1],
    [0.5, 0],
    [0, 0.5],
    [-0.5, 0],
    [0, -0.5],
    [0.5, -0.5],
    [1.5, 2],
    [0.3, 0],
    [0, -0.7],
    [1.3, -2.6],
    [-0.37, 0.81],
    [-2.75, -1.125],
    [3.999, 0.001],
    [h - 1.5, 0.25], // a one-row valid rectangle or none
    [h + 3, 0], // larger than the frame
    [0, -(w + 2.5)],
    [-(h + 0.5), w + 1],
  ];
}

const BORDERS: [BorderMode, number][] = [
  ['constant', 0],
  ['constant', -7.25],
  ['nan', 0],
  ['nearest', 0],
];

const DTYPES: Dtype[] = ['uint8', 'uint16', 'float32'];

describe('WasmWarper against TsWarper and the naive definition', () => {
  for (const [w, h] of SIZES) {
    for (const dtype of DTYPES) {
      for (const channels of [1, 2]) {
        it(`${w}×${h} ${dtype}, ${channels} channel(s): every shift and border mode`, () => {
          const n = w * h;
          const data = randomPixels(dtype, n * channels, w * 1000 + h * 10 + channels + DTYPES.indexOf(dtype) * 7);
          const ts = tsWarper(w, h, channels, dtype);
          const wa = wasmWarper(w, h, channels, dtype);
          expect(ts).toBeInstanceOf(TsWarper);
          expect(wa).toBeInstanceOf(WasmWarper);
          let worstRatio = 0;
          let checked = 0;
          for (const [ty, tx] of shiftsFor(w, h)) {
            const integer = Number.isInteger(ty) && Number.isInteger(tx);
            for (const [border, cval] of BORDERS) {
              const rt = ts.warp(data, ty, tx, border, cval);
              const rw = wa.warp(data, ty, tx, border, cval);
              expect(rw, `rect ${ty},${tx}`).toEqual(rt);
              for (let c = 0; c < channels; c++) {
                const plane = data.subarray(c * n, (c + 1) * n);
                const ref = naiveWarp(plane, w, h, ty, tx, border, cval);
                expect(rt, `rect vs definition ${ty},${tx}`).toEqual(rectOf(ref.inside, w, h));
                const ot = ts.outputs[c];
                const ow = wa.outputs[c];
                let bad = 0;
                let firstBad = '';
                for (let y = 0; y < h; y++) {
                  for (let x = 0; x < w; x++) {
                    const i = y * w + x;
                    const t = ot[i];
                    const v = ow[i];
                    const e = ref.out[i];
                    let good: boolean;
                    if (!ref.inside[i]) {
                      // Border strips: the same TS code on the same pixels in both backends.
                      good = Object.is(t, v) && (Number.isNaN(e) ? Number.isNaN(t) : Math.abs(t - e) <= EPS32 * Math.abs(e) + 1e-30);
                    } else if (integer) {
                      // Exact copies.
                      good = t === e && v === e;
                    } else {
                      const s = tapScale(plane, w, h, ty, tx, y, x);
                      const tsErr = Math.abs(t - e);
                      const diff = Math.abs(v - t);
                      // TS: f64 then one rounding to f32 (plus f64 noise, far below).
                      good = tsErr <= EPS32 * s * 1.0001 + 1e-30 && diff <= TOL_ULPS * EPS32 * s + 1e-30;
                      if (s > 0) worstRatio = Math.max(worstRatio, diff / (EPS32 * s));
                    }
                    if (!good) {
                      bad++;
                      if (firstBad === '') firstBad = `(${y},${x}) ts=${t} wasm=${v} def=${e}`;
                    }
                    checked++;
                  }
                }
                expect(bad, `shift ${ty},${tx} ${border} ${cval} ch ${c}: ${firstBad}`).toBe(0);
              }
            }
          }
          console.log(`warper | ${w}×${h} ${dtype} c${channels} | max |wasm − ts| = ${worstRatio.toFixed(2)} ε·S (bound ${TOL_ULPS}) over ${checked} px`);
          ts.dispose();
          wa.dispose();
        });
      }
    }
  }
});

describe('exact cases on both backends', () => {
  const w = 37;
  const h = 23;
  const n = w * h;

  for (const backend of ['ts', 'wasm'] as const) {
    const make = (c: number, d: Dtype): Warper => (backend === 'ts' ? tsWarper : wasmWarper)(w, h, c, d);

    it(`${backend}: integer shifts are exact copies of the shifted channel (2 channels, every dtype)`, () => {
      for (const dtype of DTYPES) {
        const data = randomPixels(dtype, 2 * n, 99 + DTYPES.indexOf(dtype));
        const wp = make(2, dtype);
        for (const [ty, tx] of [[0, 0], [3, -5], [-7, 11], [22, -36], [-1, 0], [0, 1]]) {
          const rect = wp.warp(data, ty, tx, 'nan', 0);
          expect(rect).toEqual({
            x0: Math.max(0, tx),
            y0: Math.max(0, ty),
            x1: Math.min(w, w + tx),
            y1: Math.min(h, h + ty),
          });
          for (let c = 0; c < 2; c++) {
            let mismatches = 0;
            for (let y = 0; y < h; y++) {
              for (let x = 0; x < w; x++) {
                const sy = y - ty;
                const sx = x - tx;
                const got = wp.outputs[c][y * w + x];
                const want = sy >= 0 && sy < h && sx >= 0 && sx < w ? data[c * n + sy * w + sx] : NaN;
                if (!Object.is(got, want)) mismatches++;
              }
            }
            expect(mismatches, `${dtype} ${ty},${tx} channel ${c}`).toBe(0);
          }
        }
        wp.dispose();
      }
    });

    it(`${backend}: half-pixel shifts give the exact mean of two neighbours (and of four for integer pixels)`, () => {
      for (const dtype of DTYPES) {
        const data = randomPixels(dtype, n, 7 + DTYPES.indexOf(dtype));
        const at = (y: number, x: number): number => data[y * w + x];
        const wp = make(1, dtype);
        const out = wp.outputs[0];
        // out(y, x) = f(y, x + 0.5)
        let bad = 0;
        wp.warp(data, 0, -0.5, 'constant', 0);
        for (let y = 0; y < h; y++) for (let x = 0; x < w - 1; x++) if (out[y * w + x] !== Math.fround(0.5 * at(y, x) + 0.5 * at(y, x + 1))) bad++;
        // out(y, x) = f(y − 0.5, x)
        wp.warp(data, 0.5, 0, 'constant', 0);
        for (let y = 1; y < h; y++) for (let x = 0; x < w; x++) if (out[y * w + x] !== Math.fround(0.5 * at(y - 1, x) + 0.5 * at(y, x))) bad++;
        // out(y, x) = f(y + 1.5, x − 2.5): fy = fx = 0.5
        wp.warp(data, -1.5, 2.5, 'constant', 0);
        for (let y = 0; y < h - 2; y++) {
          for (let x = 3; x < w; x++) {
            const e = 0.25 * (at(y + 1, x - 3) + at(y + 1, x - 2) + at(y + 2, x - 3) + at(y + 2, x - 2));
            // Quarter-integers up to 65535 are exact in f32 and every partial sum is too,
            // so the four-tap mean is exact for integer pixels; for float32 pixels only
            // the f32 rounding bound applies.
            if (dtype === 'float32') {
              const s = Math.max(Math.abs(at(y + 1, x - 3)), Math.abs(at(y + 1, x - 2)), Math.abs(at(y + 2, x - 3)), Math.abs(at(y + 2, x - 2)));
              if (Math.abs(out[y * w + x] - e) > TOL_ULPS * EPS32 * s) bad++;
            } else if (out[y * w + x] !== e) bad++;
          }
        }
        expect(bad, dtype).toBe(0);
        wp.dispose();
      }
    });

    it(`${backend}: uint16 at 65535 (and ≥ 32768) does not overflow; uint8 ≥ 128 is unsigned`, () => {
      const full = new Uint16Array(n).fill(65535);
      const wp = make(1, 'uint16');
      for (const [ty, tx] of [[0, 0], [0.5, 0], [0, -0.5], [0.5, 0.5], [1.37, -2.61], [-0.1, 0.9]]) {
        const rect = wp.warp(full, ty, tx, 'nearest', 0);
        expect(rect.x1 - rect.x0).toBeGreaterThan(0);
        for (const v of wp.outputs[0]) expect(Math.abs(v - 65535)).toBeLessThanOrEqual(TOL_ULPS * EPS32 * 65535);
      }
      // Checkerboard 0 / 65535: a half-pixel shift on x gives 32767.5 exactly everywhere inside.
      const board = Uint16Array.from({ length: n }, (_, i) => (((i % w) + Math.floor(i / w)) % 2 === 0 ? 65535 : 0));
      const rect = wp.warp(board, 0, 0.5, 'nan', 0);
      for (let y = rect.y0; y < rect.y1; y++) for (let x = rect.x0; x < rect.x1; x++) expect(wp.outputs[0][y * w + x]).toBe(32767.5);
      // 40000 must not read as a signed 16-bit −25536.
      const high = new Uint16Array(n).fill(40000);
      wp.warp(high, 0.25, 0.75, 'constant', 0);
      expect(wp.outputs[0][10 * w + 10]).toBeCloseTo(40000, 2);
      wp.dispose();
      const w8 = make(1, 'uint8');
      w8.warp(new Uint8Array(n).fill(200), 0.25, -0.75, 'constant', 0);
      expect(w8.outputs[0][10 * w + 10]).toBeCloseTo(200, 4);
      w8.dispose();
    });

    it(`${backend}: float32 NaN/±Inf pixels are copied by integer shifts and reach only the pixels that read them`, () => {
      const data = randomPixels('float32', n, 4242) as Float32Array;
      const specials: [number, number, number][] = [
        [5, 6, NaN],
        [5, 7, Infinity],
        [12, 20, -Infinity],
        [0, 0, NaN],
        [22, 36, NaN],
        [17, 3, Infinity],
        [18, 3, -Infinity],
      ];
      for (const [y, x, v] of specials) data[y * w + x] = v;
      const wp = make(1, 'float32');
      const out = wp.outputs[0];
      for (const [ty, tx] of [[0, 0], [2, -3], [-1, 4], [0.5, 0], [0, -0.5], [0.25, 0.6], [-1.7, 2.2], [3.001, -0.999]]) {
        for (const [border, cval] of BORDERS) {
          wp.warp(data, ty, tx, border, cval);
          const ref = naiveWarp(data, w, h, ty, tx, border, cval);
          let bad = 0;
          let firstBad = '';
          for (let i = 0; i < n; i++) {
            const e = ref.out[i];
            const got = out[i];
            // The definition's value: NaN where a NaN (or +Inf and −Inf together) is read with a
            // non-zero weight, ±Inf where only that infinity is, finite otherwise.
            const ok = Number.isFinite(e)
              ? Number.isFinite(got) && Math.abs(got - e) <= TOL_ULPS * EPS32 * 1e4 + 1e-30
              : Object.is(got, e) || (Number.isNaN(e) && Number.isNaN(got));
            if (!ok) {
              bad++;
              if (firstBad === '') firstBad = `(${Math.floor(i / w)},${i % w}) got ${got} want ${e}`;
            }
          }
          expect(bad, `${ty},${tx} ${border}: ${firstBad}`).toBe(0);
          if (Number.isInteger(ty) && Number.isInteger(tx)) {
            // Exactly the special pixels, moved, and nothing else non-finite inside.
            let nonFinite = 0;
            for (let y = Math.max(0, ty); y < Math.min(h, h + ty); y++) {
              for (let x = Math.max(0, tx); x < Math.min(w, w + tx); x++) if (!Number.isFinite(out[y * w + x])) nonFinite++;
            }
            const moved = specials.filter(([y, x]) => y + ty >= 0 && y + ty < h && x + tx >= 0 && x + tx < w);
            expect(nonFinite).toBe(moved.length);
            for (const [y, x, v] of moved) expect(Object.is(out[(y + ty) * w + x + tx], v)).toBe(true);
          }
        }
      }
      // Half-pixel on x: only the two outputs reading the NaN at (5, 6) become NaN
      // (and (5, 6)–(5, 7) read NaN and +Inf together).
      wp.warp(data, 0, 0.5, 'constant', 0); // out(y, x) = f(y, x − 0.5): reads x − 1 and x
      expect(out[5 * w + 6]).toBeNaN();
      expect(out[5 * w + 7]).toBeNaN();
      expect(out[5 * w + 8]).toBe(Infinity);
      expect(Number.isFinite(out[5 * w + 5])).toBe(true);
      expect(Number.isFinite(out[4 * w + 6])).toBe(true);
      expect(Number.isFinite(out[6 * w + 7])).toBe(true);
      // (17, 3) = +Inf above (18, 3) = −Inf: a half-pixel shift on y mixes them into NaN.
      wp.warp(data, 0.5, 0, 'constant', 0);
      expect(out[17 * w + 3]).toBe(Infinity);
      expect(out[18 * w + 3]).toBeNaN();
      expect(out[19 * w + 3]).toBe(-Infinity);
      wp.dispose();
    });

    it(`${backend}: a channel is warped from its own plane (same as warpTranslate of that plane)`, () => {
      const data = randomPixels('uint16', 2 * n, 321);
      const wp = make(2, 'uint16');
      const ref = new Float32Array(n);
      for (const [ty, tx] of [[1.25, -0.5], [-3, 2.75]]) {
        wp.warp(data, ty, tx, 'nearest', 0);
        for (let c = 0; c < 2; c++) {
          warpTranslate(data.subarray(c * n, (c + 1) * n), w, h, ty, tx, ref, 'nearest');
          let worst = 0;
          for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(wp.outputs[c][i] - ref[i]));
          // 65535 · 8ε ≈ 0.03 counts; a wrong plane would be off by thousands.
          expect(worst).toBeLessThanOrEqual(TOL_ULPS * EPS32 * 65535);
        }
      }
      wp.dispose();
    });
  }
});
