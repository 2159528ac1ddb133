import { describe, expect, it } from 'vitest';
import { LocalCorrelation } from '../../src/kernels/localCorrelation.js';
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
    expect(s.median).toBeCloseTo(q(0.5), 9);
    expect(s.p10).toBeCloseTo(q(0.1), 9);
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
});
