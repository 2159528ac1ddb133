import { describe, expect, it } from 'vitest';
import { LocalCorrelation } from '../../src/kernels/localCorrelation.js';
import { type KernelName, loadKernelModuleSync } from '../../src/stream/wasmModule.js';
import { randomArray, seededRandom } from '../helpers/random.js';

/** Two-pass Pearson r of the finite pairs of one block: the definition. */
function blockPearson(f: ArrayLike<number>, t: ArrayLike<number>, w: number, h: number, B: number, bx: number, by: number): number {
  const a: number[] = [];
  const b: number[] = [];
  for (let y = by * B; y < Math.min(h, (by + 1) * B); y++) {
    for (let x = bx * B; x < Math.min(w, (bx + 1) * B); x++) {
      const fv = f[y * w + x];
      const tv = t[y * w + x];
      if (Number.isFinite(fv) && Number.isFinite(tv)) {
        a.push(fv);
        b.push(tv);
      }
    }
  }
  if (a.length < 2) return NaN;
  const ma = a.reduce((s, v) => s + v, 0) / a.length;
  const mb = b.reduce((s, v) => s + v, 0) / b.length;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < a.length; i++) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) ** 2;
    sbb += (b[i] - mb) ** 2;
  }
  return saa > 0 && sbb > 0 ? sab / Math.sqrt(saa * sbb) : NaN;
}

const W = 70;
const H = 45;
const B = 16;

describe('LocalCorrelation', () => {
  const t = Float64Array.from(randomArray(W * H, 3, 100), (v) => v + 30000);

  it('matches the two-pass definition in every block, partial blocks and NaN pixels included', () => {
    const rnd = seededRandom(9);
    const f = Float64Array.from(t, (v) => 0.8 * v + 5 + (rnd() - 0.5) * 120);
    f[5] = NaN;
    f[W * 20 + 33] = Infinity;
    const lc = new LocalCorrelation(W, H, B);
    lc.setTemplate(t);
    const s = lc.compute(f);
    expect(lc.cols).toBe(5);
    expect(lc.rows).toBe(3);
    const all: number[] = [];
    for (let by = 0; by < lc.rows; by++) {
      for (let bx = 0; bx < lc.cols; bx++) {
        const e = blockPearson(f, t, W, H, B, bx, by);
        // Float32 map; values near 30000 with spread 100: the centring keeps full precision.
        expect(Math.abs(lc.map[by * lc.cols + bx] - e)).toBeLessThan(1e-6);
        all.push(e);
      }
    }
    all.sort((a, b) => a - b);
    const q = (p: number) => {
      const pos = (all.length - 1) * p;
      const lo = Math.floor(pos);
      return all[lo] + (pos - lo) * (all[Math.min(all.length - 1, lo + 1)] - all[lo]);
    };
    // The cached centred template is float32: each value off by at most ε = 2⁻²⁴ of itself, which
    // moves r = ⟨d,t⟩/(|d||t|) by at most ε (numerator) + |r|·ε (|t|), so ≤ 2⁻²³ (observed: ~1e-9).
    expect(Math.abs(s.median - q(0.5))).toBeLessThan(2 ** -23);
    expect(Math.abs(s.p10 - q(0.1))).toBeLessThan(2 ** -23);
  });

  it('gives 1 for an affine copy of the template, −1 for an inverted one, NaN for flat blocks', () => {
    const lc = new LocalCorrelation(W, H, B);
    const tt = t.slice();
    for (let y = 0; y < 16; y++) for (let x = 0; x < 16; x++) tt[y * W + x] = 7; // block (0, 0) flat
    lc.setTemplate(tt);
    lc.compute(Float64Array.from(tt, (v) => 3 * v - 11));
    expect(lc.map[0]).toBeNaN();
    for (let b = 1; b < lc.map.length; b++) expect(lc.map[b]).toBeCloseTo(1, 6);
    lc.compute(Float64Array.from(tt, (v) => -v));
    for (let b = 1; b < lc.map.length; b++) expect(lc.map[b]).toBeCloseTo(-1, 6);
  });

  it('marks a locally deformed block with a low r and the rest high', () => {
    const lc = new LocalCorrelation(W, H, B);
    lc.setTemplate(t);
    const f = t.slice();
    const rnd = seededRandom(2);
    for (let y = 16; y < 32; y++) for (let x = 32; x < 48; x++) f[y * W + x] = 30000 + (rnd() - 0.5) * 200;
    const s = lc.compute(f);
    expect(Math.abs(lc.map[1 * lc.cols + 2])).toBeLessThan(0.3);
    expect(s.median).toBeCloseTo(1, 9);
    expect(s.p10).toBeGreaterThan(0.5);
  });

  it('refuses to compute before a template is set', () => {
    expect(() => new LocalCorrelation(8, 8, 4).compute(new Float32Array(64))).toThrow(/setTemplate/);
  });

  describe('the WebAssembly kernel (float32 frames) against the TypeScript reference', () => {
    // Both sum the same float64 values (the float32 frame widened, minus the same block mean, times
    // the same float32 centred template widened); only the order of the additions differs, a relative
    // difference of order n·2⁻⁵³ ≈ 1e-13 in the sums of a 32² block, far below the float32 rounding
    // of the map. So a map value may differ by at most one float32 ulp (2⁻²³ for |r| < 1, when r
    // falls next to a rounding boundary), and the median and p10 (float64 r) by ~1e-12. A wrong
    // block, row, mask or remainder gives errors of order 1e-3 and more on these images.
    const kernel = loadKernelModuleSync('localcorr' as KernelName);

    /** A float32 frame: a noisy affine copy of t with a deformed patch, NaN strips as the warp leaves them, an Inf pixel. */
    function frameOf(t: Float32Array, w: number, h: number, seed: number): Float32Array {
      const rnd = seededRandom(seed);
      const f = Float32Array.from(t, (v) => 0.7 * v + 40 + (rnd() - 0.5) * 300);
      for (let y = Math.floor(h / 3); y < Math.floor(h / 2); y++) for (let x = 5; x < 20; x++) f[y * w + x] = 30000 + rnd() * 500;
      for (let y = 0; y < h; y++) for (let x = 0; x < 3; x++) f[y * w + x] = NaN;
      for (let x = 0; x < w; x++) f[(h - 1) * w + x] = NaN;
      f[Math.floor(h / 2) * w + Math.floor(w / 2)] = Infinity;
      return f;
    }

    for (const [w, h, block] of [
      [70, 45, 16], // partial blocks 6 px wide (a 4-px step and two single pixels)
      [67, 33, 15], // odd block width: 3 four-pixel steps and 3 singles, masked pairs and a single
      [512, 512, 32],
    ] as const) {
      it(`${w}×${h}, blocks of ${block}: every block, the median and p10`, () => {
        const t = Float32Array.from(randomArray(w * h, 11, 400), (v, i) => v + 20000 + 5000 * Math.sin(i / 97));
        t[w + 7] = NaN; // a non-finite template pixel: its block is summed with the mask in both
        const ts = new LocalCorrelation(w, h, block);
        const wasm = new LocalCorrelation(w, h, block, kernel);
        ts.setTemplate(t);
        wasm.setTemplate(t);
        for (const seed of [1, 2]) {
          const f = frameOf(t, w, h, seed);
          const a = ts.compute(f);
          const b = wasm.compute(f);
          let finite = 0;
          let lo = Infinity;
          for (let k = 0; k < ts.map.length; k++) {
            if (Number.isNaN(ts.map[k])) {
              expect(wasm.map[k]).toBeNaN();
              continue;
            }
            finite++;
            lo = Math.min(lo, ts.map[k]);
            expect(Math.abs(wasm.map[k] - ts.map[k])).toBeLessThanOrEqual(2 ** -23);
          }
          expect(finite).toBeGreaterThan(ts.map.length / 2);
          expect(Math.abs(b.median - a.median)).toBeLessThan(1e-12);
          expect(Math.abs(b.p10 - a.p10)).toBeLessThan(1e-12);
          // Not a trivial map: the deformed patch's block is low, the rest high.
          expect(lo).toBeLessThan(0.5);
          expect(a.median).toBeGreaterThan(0.9);
        }
      });
    }

    it('gives 1 for an affine copy, NaN for a flat block and for a block with fewer than 2 finite pairs', () => {
      const w = 40;
      const h = 20;
      const t = Float32Array.from(randomArray(w * h, 4, 100), (v) => v + 1000);
      for (let y = 0; y < 10; y++) for (let x = 0; x < 10; x++) t[y * w + x] = 5; // block (0, 0) flat
      const lc = new LocalCorrelation(w, h, 10, kernel);
      lc.setTemplate(t);
      const f = Float32Array.from(t, (v) => 2 * v + 3);
      for (let y = 10; y < 20; y++) for (let x = 10; x < 20; x++) f[y * w + x] = y === 10 && x === 10 ? 1 : NaN; // block (1, 1): one pixel left
      lc.compute(f);
      expect(lc.map[0]).toBeNaN();
      expect(lc.map[lc.cols + 1]).toBeNaN();
      for (let k = 1; k < lc.map.length; k++) if (k !== lc.cols + 1) expect(lc.map[k]).toBeCloseTo(1, 6);
    });
  });
});
