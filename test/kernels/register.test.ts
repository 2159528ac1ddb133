import { describe, expect, it } from 'vitest';
import { fastSize } from '../../src/kernels/correlator.js';
import { Registrar, defaultRegistrationParams, parabolicOffset, windowProfile } from '../../src/kernels/register.js';
import { TsCorrelator } from '../../src/kernels/tsCorrelator.js';
import { makeBlobs, renderBlobs } from '../helpers/blobs.js';

function registrar(w: number, h: number, over: Partial<typeof defaultRegistrationParams> = {}): Registrar {
  const p = { ...defaultRegistrationParams, ...over };
  return new Registrar(w, h, p, new TsCorrelator(fastSize(h), fastSize(w), p));
}

describe('Registrar (TypeScript reference)', () => {
  const H = 128;
  const W = 160;
  const blobs = makeBlobs(H, W, 11);
  const template = renderBlobs(blobs, H, W, 0, 0);

  it('follows the sign convention: content moved right/down gives positive dx/dy', () => {
    const reg = registrar(W, H, { minQuality: 0 });
    reg.setTemplate(template);
    const e = reg.register(renderBlobs(blobs, H, W, 2, 3));
    expect(e.iy).toBe(2);
    expect(e.ix).toBe(3);
    expect(e.ok).toBe(true);
  });

  for (const normalization of ['none', 'phase'] as const) {
    it(`recovers sub-pixel shifts of a noiseless textured field (${normalization})`, () => {
      const reg = registrar(W, H, { normalization, minQuality: 0 });
      reg.setTemplate(template);
      for (const [dy, dx] of [[0.3, -0.7], [-2.45, 1.2], [3.9, 4.1], [0, 0]]) {
        const e = reg.register(renderBlobs(blobs, H, W, dy, dx));
        // Parabolic refinement of a Gaussian-like peak on noiseless data: bias well under 0.1 px.
        expect(Math.abs(e.dy - dy)).toBeLessThan(0.1);
        expect(Math.abs(e.dx - dx)).toBeLessThan(0.1);
        expect(e.ok).toBe(true);
      }
    });
  }

  it('gives peak 1 and the largest quality for the template itself', () => {
    const reg = registrar(W, H, { minQuality: 0 });
    reg.setTemplate(template);
    const e = reg.register(template);
    expect(Math.abs(e.dy)).toBeLessThan(1e-12);
    expect(Math.abs(e.dx)).toBeLessThan(1e-12);
    expect(e.peak).toBeCloseTo(1, 12);
    expect(e.ok).toBe(true);
  });

  it('flags a constant frame (undefined peak) and a shift beyond maxShift', () => {
    const reg = registrar(W, H, { maxShift: 4, minQuality: 0 });
    reg.setTemplate(template);
    const flat = reg.register(new Float64Array(W * H).fill(123));
    expect(flat.peak).toBeNull();
    expect(flat.ok).toBe(false);
    const far = reg.register(renderBlobs(blobs, H, W, 0, 9));
    expect(far.ok).toBe(false);
    expect(Math.abs(far.ix)).toBe(4);
  });

  it('ignores NaN pixels instead of propagating them', () => {
    const reg = registrar(W, H);
    reg.setTemplate(template);
    const img = renderBlobs(blobs, H, W, 1, -1);
    img[5] = NaN;
    img[100] = Infinity;
    const e = reg.register(img);
    expect(e.iy).toBe(1);
    expect(e.ix).toBe(-1);
    expect(Number.isFinite(e.dy) && Number.isFinite(e.dx)).toBe(true);
  });
});

describe('parabolicOffset', () => {
  it('finds the vertex of a sampled parabola exactly', () => {
    for (const v of [-0.4, -0.1, 0, 0.25, 0.49]) {
      const f = (x: number) => 5 - 2 * (x - v) ** 2;
      expect(parabolicOffset(f(-1), f(0), f(1))).toBeCloseTo(v, 12);
    }
  });
  it('returns 0 where the denominator is 0', () => {
    expect(parabolicOffset(1, 1, 1)).toBe(0);
  });
});

describe('windowProfile', () => {
  it('is symmetric and never 0 for Hann; flat in the middle for Tukey', () => {
    const h = windowProfile(9, 'hann', 0, false);
    for (let i = 0; i < 9; i++) {
      expect(h[i]).toBeCloseTo(h[8 - i], 15);
      expect(h[i]).toBeGreaterThan(0);
    }
    const t = windowProfile(40, 'tukey', 0.5, false);
    expect(t[20]).toBe(1);
    expect(t[0]).toBeLessThan(0.01);
    expect(windowProfile(40, 'none', 0, false).every((v) => v === 1)).toBe(true);
    expect(windowProfile(40, 'none', 0, true)[0]).toBeLessThan(0.1);
  });
});
