import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { type CorrelatorOptions, type Normalization, fastSize, spectralGaussian } from '../../src/kernels/correlator.js';
import { TsCorrelator } from '../../src/kernels/tsCorrelator.js';
import { WasmCorrelator } from '../../src/kernels/wasmCorrelator.js';
import type { WasmModule } from '../../src/kernels/wasmInstance.js';
import { loadCorrelatorModule, loadCorrelatorModuleSync } from '../../src/stream/wasmModule.js';
import { randomArray } from '../helpers/random.js';

// Float32 tolerance: every value of the surface is a sum over the whole
// spectrum; float32 rounding (2^-24 ≈ 6e-8) through ~2·log2(n) butterfly
// levels and the real-FFT pre/post-processing gives errors of a few 1e-7 of
// the surface maximum (measured, max |err| / max |ref|: 0.9–5e-7 for the
// sizes below, ≤ 4.4e-7 at 512², ≤ 7.2e-7 for unrelated images up to 1024²;
// docs/fft-wasm.md). The bound leaves a margin of > 10× while still catching
// any wrong bin, twiddle or scale (those give errors of order 1e-2 or more).
const TOL = 1e-5;

let mod: WasmModule;
beforeAll(async () => {
  mod = await loadCorrelatorModule();
});

/** In-place naive DFT along one axis of a complex h × w array (float64). */
function dftAxis(re: Float64Array, im: Float64Array, h: number, w: number, axis: 0 | 1, sign: number): void {
  const n = axis === 0 ? h : w;
  const count = axis === 0 ? w : h;
  const step = axis === 0 ? w : 1;
  const base = (i: number): number => (axis === 0 ? i : i * w);
  const cos = new Float64Array(n);
  const sin = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    cos[k] = Math.cos((2 * Math.PI * k) / n);
    sin[k] = sign * Math.sin((2 * Math.PI * k) / n);
  }
  const tr = new Float64Array(n);
  const ti = new Float64Array(n);
  for (let c = 0; c < count; c++) {
    const b = base(c);
    for (let k = 0; k < n; k++) {
      let sr = 0;
      let si = 0;
      for (let t = 0; t < n; t++) {
        const j = (t * k) % n;
        const xr = re[b + t * step];
        const xi = im[b + t * step];
        sr += xr * cos[j] - xi * sin[j];
        si += xr * sin[j] + xi * cos[j];
      }
      tr[k] = sr;
      ti[k] = si;
    }
    for (let k = 0; k < n; k++) {
      re[b + k * step] = tr[k];
      im[b + k * step] = ti[k];
    }
  }
}

function dft2(x: ArrayLike<number>, h: number, w: number): [Float64Array, Float64Array] {
  const re = Float64Array.from(x);
  const im = new Float64Array(h * w);
  dftAxis(re, im, h, w, 1, -1);
  dftAxis(re, im, h, w, 0, -1);
  return [re, im];
}

/** docs/registration.md §3 in float64, straight from the definitions, on the full spectrum. */
function referenceSurface(
  frame: ArrayLike<number>,
  tmpl: ArrayLike<number>,
  h: number,
  w: number,
  opts: CorrelatorOptions,
): Float64Array {
  const [fr, fi] = dft2(frame, h, w);
  const [tr, ti] = dft2(tmpl, h, w);
  const re = new Float64Array(h * w);
  const im = new Float64Array(h * w);
  let sum = 0;
  for (let i = 0; i < h * w; i++) {
    re[i] = fr[i] * tr[i] + fi[i] * ti[i];
    im[i] = fi[i] * tr[i] - fr[i] * ti[i];
    sum += Math.hypot(re[i], im[i]);
  }
  if (opts.normalization === 'phase') {
    const eps = (1e-6 * sum) / (h * w);
    const gy = spectralGaussian(h, opts.phaseSigma);
    const gx = spectralGaussian(w, opts.phaseSigma);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const i = y * w + x;
        const s = (gy[y] * gx[x]) / (Math.hypot(re[i], im[i]) + eps);
        re[i] *= s;
        im[i] *= s;
      }
    }
  }
  dftAxis(re, im, h, w, 1, 1);
  dftAxis(re, im, h, w, 0, 1);
  for (let i = 0; i < h * w; i++) re[i] /= h * w;
  return re;
}

/** c[d] = Σ_x f(x)·t(x − d), circular: the definition of the `none` surface. */
function directCorrelation(f: ArrayLike<number>, t: ArrayLike<number>, h: number, w: number): Float64Array {
  const c = new Float64Array(h * w);
  for (let dy = 0; dy < h; dy++) {
    for (let dx = 0; dx < w; dx++) {
      let s = 0;
      for (let y = 0; y < h; y++) {
        const ty = (((y - dy) % h) + h) % h;
        for (let x = 0; x < w; x++) s += f[y * w + x] * t[ty * w + ((((x - dx) % w) + w) % w)];
      }
      c[dy * w + dx] = s;
    }
  }
  return c;
}

/** max |a − b| / max |b|. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let err = 0;
  let mx = 0;
  for (let i = 0; i < b.length; i++) {
    err = Math.max(err, Math.abs(a[i] - b[i]));
    mx = Math.max(mx, Math.abs(b[i]));
  }
  return err / mx;
}

function argmax(a: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i] > a[best]) best = i;
  return best;
}

/** Float32-rounded random image: both sides then see exactly the same numbers. */
function image(n: number, seed: number): Float32Array {
  return Float32Array.from(randomArray(n, seed));
}

function correlateOnce(c: WasmCorrelator, tmpl: Float32Array, frame: Float32Array): Float32Array {
  c.input.set(tmpl);
  c.setTemplate();
  c.input.set(frame);
  c.correlate();
  return c.surface.slice();
}

const SIZES: [number, number][] = [
  [4, 4],
  [8, 12],
  [12, 20],
  [20, 36],
  [36, 60],
  [64, 64],
  [96, 160],
  // hp = 1024: the pass-1 scratch gets a spare slot (power-of-two strides);
  // wp = 1024: pass 2 runs radix 8, 8, 4, 4.
  [1024, 20],
  [20, 1024],
];
const NORMS: Normalization[] = ['none', 'phase'];

describe('WasmCorrelator', () => {
  for (const [h, w] of SIZES) {
    for (const normalization of NORMS) {
      it(`${h}×${w} ${normalization}: surface matches the float64 definition`, () => {
        const opts = { normalization, phaseSigma: 1.3 };
        const c = WasmCorrelator.create(mod, h, w, opts);
        expect(c.input).toBeInstanceOf(Float32Array);
        expect(c.input.length).toBe(h * w);
        expect(c.surface.length).toBe(h * w);
        const tmpl = image(h * w, 1000 + h);
        const frame = image(h * w, 2000 + w);
        const got = correlateOnce(c, tmpl, frame);
        const ref = referenceSurface(frame, tmpl, h, w, opts);
        expect(relErr(got, ref)).toBeLessThan(TOL);
        if (normalization === 'none' && h * w <= 36 * 60) {
          // The reference itself against the direct sum (its convention).
          expect(relErr(ref, directCorrelation(frame, tmpl, h, w))).toBeLessThan(1e-12);
        }
        c.dispose();
      });
    }
  }

  it('puts the peak exactly on the shift of a circularly shifted copy', () => {
    const cases: [number, number, number, number][] = [
      [8, 12, 3, -5],
      [20, 36, -7, 11],
      [36, 60, 5, 29],
      [96, 160, -40, 77],
      [60, 48, 0, 0],
    ];
    for (const [h, w, sy, sx] of cases) {
      const tmpl = image(h * w, h * w);
      const frame = new Float32Array(h * w);
      // frame(y, x) = template(y − sy, x − sx)
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          frame[y * w + x] = tmpl[(((y - sy) % h) + h) % h * w + ((((x - sx) % w) + w) % w)];
        }
      }
      const want = (((sy % h) + h) % h) * w + (((sx % w) + w) % w);
      for (const normalization of NORMS) {
        const c = WasmCorrelator.create(mod, h, w, { normalization, phaseSigma: 1 });
        const s = correlateOnce(c, tmpl, frame);
        expect(argmax(s), `${h}×${w} ${normalization} shift (${sy}, ${sx})`).toBe(want);
        if (normalization === 'phase') {
          // A perfect match peaks at ≈ phasePeakScale (docs/registration.md §5).
          expect(s[want] / c.phasePeakScale).toBeCloseTo(1, 4);
        }
      }
    }
  });

  it('reuses the template spectrum: one setTemplate, many frames, same as fresh', () => {
    const [h, w] = [36, 60];
    for (const normalization of NORMS) {
      const opts = { normalization, phaseSigma: 1 };
      const tmpl = image(h * w, 7);
      const frames = [1, 2, 3, 4].map((s) => image(h * w, 100 + s));
      const reused = WasmCorrelator.create(mod, h, w, opts);
      reused.input.set(tmpl);
      reused.setTemplate();
      for (const f of frames) {
        reused.input.set(f);
        reused.correlate();
        const fresh = correlateOnce(WasmCorrelator.create(mod, h, w, opts), tmpl, f);
        expect(Array.from(reused.surface)).toEqual(Array.from(fresh));
      }
    }
  });

  it('is deterministic: the same input twice gives bit-identical surfaces', () => {
    const [h, w] = [96, 160];
    for (const normalization of NORMS) {
      const c = WasmCorrelator.create(mod, h, w, { normalization, phaseSigma: 1 });
      const frame = image(h * w, 5);
      const first = correlateOnce(c, image(h * w, 6), frame);
      c.input.set(frame);
      c.correlate();
      expect(Array.from(c.surface)).toEqual(Array.from(first));
    }
  });

  it('returns a zero surface (not NaN) for an all-zero cross-power under phase', () => {
    const c = WasmCorrelator.create(mod, 12, 20, { normalization: 'phase', phaseSigma: 1 });
    c.setTemplate(); // input is all zeros
    c.input.set(image(12 * 20, 3));
    c.correlate();
    expect(c.surface.every((v) => v === 0)).toBe(true);
  });

  it('works at every fast size from 4 to 100 on each axis', () => {
    const sizes = [...new Set(Array.from({ length: 97 }, (_, i) => fastSize(i + 4)))];
    for (const h of sizes) {
      const w = sizes[(sizes.indexOf(h) * 7 + 3) % sizes.length];
      const opts = { normalization: 'none' as const, phaseSigma: 1 };
      const tmpl = image(h * w, h);
      const frame = image(h * w, w + 1);
      const got = correlateOnce(WasmCorrelator.create(mod, h, w, opts), tmpl, frame);
      expect(relErr(got, referenceSurface(frame, tmpl, h, w, opts)), `${h}×${w}`).toBeLessThan(TOL);
    }
  });

  it('rejects sizes that are not padded fast sizes', () => {
    const opts = { normalization: 'none' as const, phaseSigma: 1 };
    expect(() => WasmCorrelator.create(mod, 6, 8, opts)).toThrow(RangeError);
    expect(() => WasmCorrelator.create(mod, 8, 14, opts)).toThrow(RangeError);
    expect(() => WasmCorrelator.create(mod, 28, 8, opts)).toThrow(RangeError);
  });

  it('accepts the wasm bytes as well as a compiled module; the sync loader is cached', () => {
    expect(loadCorrelatorModuleSync()).toBe(mod);
    const opts = { normalization: 'none' as const, phaseSigma: 1 };
    const bytes = readFileSync(new URL('../../dist/kernels/correlate.wasm', import.meta.url));
    const fromBytes = WasmCorrelator.create(bytes, 8, 12, opts);
    const tmpl = image(96, 1);
    const frame = image(96, 2);
    expect(correlateOnce(fromBytes, tmpl, frame)).toEqual(correlateOnce(WasmCorrelator.create(mod, 8, 12, opts), tmpl, frame));
    const c = WasmCorrelator.create(mod, 8, 8, opts);
    c.dispose();
    expect(() => c.correlate()).toThrow(/dispose/);
  });

  it('matches the float64 TsCorrelator at 512²', () => {
    const [h, w] = [512, 512];
    for (const normalization of NORMS) {
      const opts = { normalization, phaseSigma: 1 };
      const a = WasmCorrelator.create(mod, h, w, opts);
      const b = new TsCorrelator(h, w, opts);
      expect(a.phasePeakScale).toBe(b.phasePeakScale);
      const tmpl = image(h * w, 11);
      // A shifted, noisy copy: a realistic surface with one strong peak.
      const frame = new Float32Array(h * w);
      const noise = image(h * w, 12);
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          frame[y * w + x] = tmpl[((y + 5) % h) * w + ((x + w - 9) % w)] + 0.5 * noise[y * w + x];
        }
      }
      for (const [img, target] of [
        [tmpl, 'template'],
        [frame, 'frame'],
      ] as const) {
        a.input.set(img);
        b.input.set(img);
        if (target === 'template') {
          a.setTemplate();
          b.setTemplate();
        } else {
          a.correlate();
          b.correlate();
        }
      }
      expect(relErr(a.surface, b.surface)).toBeLessThan(TOL);
      expect(argmax(a.surface)).toBe(argmax(b.surface));
    }
  });
});

/** float64 reference of the preparation (docs/registration.md, section 2): g and Σ g², unpadded. */
function prepareRef(plane: ArrayLike<number>, w: number, h: number, wy: Float64Array, wx: Float64Array): [Float64Array, number] {
  let sum = 0;
  for (let i = 0; i < w * h; i++) sum += plane[i];
  const mean = sum / (w * h);
  const g = new Float64Array(w * h);
  let e = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v = (plane[y * w + x] - mean) * wy[y] * wx[x];
      g[y * w + x] = v;
      e += v * v;
    }
  }
  return [g, e];
}

describe('WasmCorrelator.prepare: integer planes staged, prepared in pass 1', () => {
  const sizes: [number, number][] = [
    [64, 64],
    [37, 53],
    [100, 75],
    [8, 1027],
  ];
  const kinds = ['u8', 'u16'] as const;
  function plane(kind: (typeof kinds)[number], n: number, seed: number, offset: number): Uint8Array | Uint16Array {
    const r = randomArray(n, seed);
    if (kind === 'u8') return Uint8Array.from(r, (v) => Math.round(100 + 60 * v));
    return Uint16Array.from(r, (v) => Math.round(offset + 900 * v));
  }
  function windows(h: number, w: number, seed: number): [Float64Array, Float64Array] {
    return [Float64Array.from(randomArray(h, seed), (v) => 0.5 + 0.5 * v), Float64Array.from(randomArray(w, seed + 1), (v) => 0.5 + 0.5 * v)];
  }

  for (const [h, w] of sizes) {
    for (const kind of kinds) {
      it(`${h}×${w} ${kind}: energy, input and surface match the float64 preparation`, () => {
        const hp = fastSize(h);
        const wp = fastSize(w);
        const [wy, wx] = windows(h, w, 7);
        const tmpl = plane(kind, w * h, 21, 30000);
        const frame = plane(kind, w * h, 22, 30000);
        for (const normalization of ['none', 'phase'] as Normalization[]) {
          const opts = { normalization, phaseSigma: 1 };
          const staged = WasmCorrelator.create(mod, hp, wp, opts);
          const direct = WasmCorrelator.create(mod, hp, wp, opts);
          const reference = new TsCorrelator(hp, wp, opts);
          for (const [img, target] of [
            [tmpl, 'template'],
            [frame, 'frame'],
          ] as const) {
            const [g, e] = prepareRef(img, w, h, wy, wx);
            // staged: pass 1 prepares on the fly; direct: reading `input` writes the prepared image
            const es = staged.prepare(img, w, h, wy, wx);
            const ed = direct.prepare(img, w, h, wy, wx);
            expect(Math.abs(es - e) / e).toBeLessThan(1e-5);
            expect(Math.abs(ed - e) / e).toBeLessThan(1e-5);
            const input = direct.input;
            const padded = new Float64Array(hp * wp);
            for (let y = 0; y < h; y++) padded.set(g.subarray(y * w, y * w + w), y * wp);
            // float32: v − mean with a mean near 3·10⁴ is exact to ~2e-3 of a ~450 range
            expect(relErr(input, padded)).toBeLessThan(1e-5);
            reference.input.set(padded);
            for (const c of [staged, direct, reference]) {
              if (target === 'template') c.setTemplate();
              else c.correlate();
            }
          }
          expect(relErr(staged.surface, reference.surface)).toBeLessThan(TOL);
          expect(relErr(direct.surface, reference.surface)).toBeLessThan(TOL);
          // A staged frame is consumed by one correlate(): the next uses `input` as written.
          staged.input.fill(0);
          staged.correlate();
          expect(staged.surface.every((v) => v === 0)).toBe(true);
          staged.dispose();
          direct.dispose();
        }
      });
    }
  }
});

describe('WasmCorrelator.limitSurface', () => {
  for (const [h, w, ry, rx] of [
    [64, 64, 6, 6],
    [40, 60, 3, 17],
    [128, 96, 40, 0],
    [32, 48, 20, -1],
  ] as [number, number, number, number][]) {
    it(`${h}×${w}, |dy| ≤ ${ry}, |dx| ≤ ${rx}: the window matches the full surface`, () => {
      for (const normalization of ['none', 'phase'] as Normalization[]) {
        const opts = { normalization, phaseSigma: 1 };
        const full = WasmCorrelator.create(mod, h, w, opts);
        const part = WasmCorrelator.create(mod, h, w, opts);
        part.limitSurface(ry, rx);
        const tmpl = image(h * w, 31);
        const frame = image(h * w, 32);
        const a = correlateOnce(full, tmpl, frame);
        const b = correlateOnce(part, tmpl, frame);
        const rows = Array.from({ length: h }, (_, y) => y).filter((y) => y <= ry || y >= h - ry);
        const cols = Array.from({ length: w }, (_, x) => x).filter((x) => rx < 0 || x <= rx || x >= w - rx);
        for (const y of rows) for (const x of cols) expect(b[y * w + x]).toBe(a[y * w + x]);
        part.limitSurface(-1, -1);
        expect(correlateOnce(part, tmpl, frame)).toEqual(a);
      }
    });
  }
});
