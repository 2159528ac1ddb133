import { describe, expect, it } from 'vitest';
import { DogFilter, gaussianBlur, gaussianKernel } from '../../src/kernels/gaussian.js';
import { randomArray } from '../helpers/random.js';

/**
 * The blur stores its two passes in float32: each output is a sum of
 * (2r + 1)² products rounded twice to f32, so relative errors are a few
 * 2^-24 ≈ 6e-8 of the values summed. Tolerances below are 1e-6 relative
 * (a margin of > 10×); a wrong tap, weight or border rule shows at ≥ 1e-3.
 */
const REL = 1e-6;

describe('gaussianKernel', () => {
  for (const sigma of [0.3, 0.5, 1, 1.37, 2, 3.2, 8]) {
    it(`σ = ${sigma}: radius floor(4σ + 0.5), sums to 1, exp(−i²/2σ²) profile, symmetric`, () => {
      const k = gaussianKernel(sigma);
      const r = Math.floor(4 * sigma + 0.5);
      expect(k.length).toBe(2 * r + 1);
      expect(k.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 14);
      for (let i = -r; i <= r; i++) {
        expect(k[i + r]).toBe(k[r - i]);
        expect(k[i + r] / k[r]).toBeCloseTo(Math.exp((-i * i) / (2 * sigma * sigma)), 14);
      }
    });
  }

  it('σ ≤ 0 is the identity kernel [1]', () => {
    expect(Array.from(gaussianKernel(0))).toEqual([1]);
    expect(Array.from(gaussianKernel(-1))).toEqual([1]);
  });

  it('radius rounds at 4σ + 0.5: σ = 0.875 → 4, σ = 0.874 → 3', () => {
    expect(gaussianKernel(0.875).length).toBe(9);
    expect(gaussianKernel(0.874).length).toBe(7);
  });
});

describe('gaussianBlur (separable, border mode nearest)', () => {
  const W = 41;
  const H = 29; // not square: catches swapped axes

  it('an impulse far from the border gives the outer product of the kernel', () => {
    for (const sigma of [0.7, 1.5, 3]) {
      const k = gaussianKernel(sigma);
      const r = (k.length - 1) >> 1;
      const cy = 14;
      const cx = 17;
      const src = new Float32Array(W * H);
      src[cy * W + cx] = 1000;
      const out = new Float32Array(W * H);
      gaussianBlur(src, W, H, k, out, new Float32Array(W * H));
      let worst = 0;
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          const dy = y - cy;
          const dx = x - cx;
          const e = Math.abs(dy) <= r && Math.abs(dx) <= r ? 1000 * k[dy + r] * k[dx + r] : 0;
          worst = Math.max(worst, Math.abs(out[y * W + x] - e));
        }
      }
      expect(worst, `σ ${sigma}`).toBeLessThanOrEqual(1000 * k[r] * k[r] * REL);
    }
  });

  it('an impulse at the border is reflected by nearest (clamped) taps', () => {
    // Impulse at column 0: the row pass gives out(x) = Σ_{j: clamp(x + j) = 0} k[j], the
    // kernel mass at or left of −x; the column pass is the plain kernel.
    const sigma = 1.2;
    const k = gaussianKernel(sigma);
    const r = (k.length - 1) >> 1;
    const cy = 14;
    const src = new Float32Array(W * H);
    src[cy * W] = 1;
    const out = new Float32Array(W * H);
    gaussianBlur(src, W, H, k, out, new Float32Array(W * H));
    for (let x = 0; x <= r + 1; x++) {
      let row = 0;
      for (let j = -r; j <= r; j++) if (Math.min(W - 1, Math.max(0, x + j)) === 0) row += k[j + r];
      for (let dy = -r; dy <= r; dy++) expect(out[(cy + dy) * W + x]).toBeCloseTo(row * k[dy + r], 6);
    }
  });

  it('a constant image stays that constant everywhere (nearest border)', () => {
    const src = new Float32Array(W * H).fill(1234.5);
    const out = new Float32Array(W * H);
    for (const sigma of [0.5, 2, 8]) {
      // σ = 8: radius 32 is wider than the image, so every pixel goes through the clamped path.
      gaussianBlur(src, W, H, gaussianKernel(sigma), out, new Float32Array(W * H));
      for (const v of out) expect(Math.abs(v - 1234.5)).toBeLessThanOrEqual(1234.5 * REL);
    }
  });

  it('a linear ramp is preserved in the interior; at the border nearest clamps it', () => {
    const a = 3.5;
    const b = -2.25;
    const c = 500;
    const src = new Float32Array(W * H);
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) src[y * W + x] = a * x + b * y + c;
    const sigma = 1.5;
    const k = gaussianKernel(sigma);
    const r = (k.length - 1) >> 1;
    const out = new Float32Array(W * H);
    gaussianBlur(src, W, H, k, out, new Float32Array(W * H));
    for (let y = r; y < H - r; y++) {
      for (let x = r; x < W - r; x++) expect(Math.abs(out[y * W + x] - src[y * W + x])).toBeLessThanOrEqual(1000 * REL);
    }
    // Column 0, an interior row: the x taps clamp at 0, so out = c + b·y + a·Σ_j k[j]·max(0, j).
    let clamped = 0;
    for (let j = -r; j <= r; j++) clamped += k[j + r] * Math.max(0, j);
    const y = 14;
    expect(out[y * W]).toBeCloseTo(c + b * y + a * clamped, 3);
    expect(clamped).toBeGreaterThan(0.5); // the check above is not trivially the ramp itself
  });

  it('reads any ArrayLike source (uint16) and equals the float32 result', () => {
    const f = Float32Array.from(randomArray(W * H, 3, 1000), (v) => Math.round(Math.abs(v)));
    const u = Uint16Array.from(f);
    const k = gaussianKernel(1.1);
    const o1 = new Float32Array(W * H);
    const o2 = new Float32Array(W * H);
    gaussianBlur(f, W, H, k, o1, new Float32Array(W * H));
    gaussianBlur(u, W, H, k, o2, new Float32Array(W * H));
    expect(Array.from(o2)).toEqual(Array.from(o1));
  });
});

describe('DogFilter', () => {
  const W = 48;
  const H = 36;

  it('a constant image gives 0', () => {
    const dog = new DogFilter(W, H, 1, 8);
    const out = dog.apply(new Float32Array(W * H).fill(4000), new Float32Array(W * H));
    for (const v of out) expect(Math.abs(v)).toBeLessThanOrEqual(4000 * REL);
  });

  it('is G(σlow) * f − G(σhigh) * f, and removes a linear ramp in the interior', () => {
    const src = new Float32Array(W * H);
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) src[y * W + x] = 2 * x - 3 * y + 1000;
    const rnd = randomArray(W * H, 8, 50);
    for (let i = 0; i < src.length; i++) src[i] += rnd[i];
    const dog = new DogFilter(W, H, 1, 3);
    const out = dog.apply(src, new Float32Array(W * H));
    const lo = new Float32Array(W * H);
    const hi = new Float32Array(W * H);
    gaussianBlur(src, W, H, gaussianKernel(1), lo, new Float32Array(W * H));
    gaussianBlur(src, W, H, gaussianKernel(3), hi, new Float32Array(W * H));
    for (let i = 0; i < src.length; i++) expect(out[i]).toBe(Math.fround(lo[i] - hi[i]));
    // Ramp alone: zero in the interior (≥ 12 = radius of σ 3 from the border).
    const ramp = new Float32Array(W * H);
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) ramp[y * W + x] = 2 * x - 3 * y + 1000;
    const r = dog.apply(ramp, new Float32Array(W * H));
    for (let y = 12; y < H - 12; y++) for (let x = 12; x < W - 12; x++) expect(Math.abs(r[y * W + x])).toBeLessThanOrEqual(1100 * 4 * REL);
  });
});
