import { describe, expect, it } from 'vitest';
import { extractPlane } from '../../src/kernels/plane.js';

const W = 5;
const H = 3;
const N = W * H;

/** Channel-planar data whose value encodes (channel, pixel): 100·c + i (+ 0.25 for float32). */
function planar(channels: number, make: (n: number) => Uint8Array | Uint16Array | Float32Array, frac = 0): ArrayLike<number> {
  const a = make(channels * N);
  for (let c = 0; c < channels; c++) for (let i = 0; i < N; i++) a[c * N + i] = 100 * c + i + frac;
  return a;
}

describe('extractPlane', () => {
  it('picks plane c of a planar frame (uint8, uint16, float32)', () => {
    for (const [make, frac] of [[(n: number) => new Uint8Array(n), 0], [(n: number) => new Uint16Array(n), 0], [(n: number) => new Float32Array(n), 0.25]] as const) {
      const data = planar(3, make, frac);
      for (let c = 0; c < 3; c++) {
        const out = new Float32Array(N);
        const r = extractPlane(data, W, H, 3, c, out);
        expect(r).toBe(out);
        expect(Array.from(out)).toEqual(Array.from({ length: N }, (_, i) => 100 * c + i + frac));
      }
    }
  });

  it('luminance of a 3-channel frame: 0.2125 R + 0.7154 G + 0.0721 B (scikit-image rgb2gray)', () => {
    const out = new Float32Array(N);
    const only = (c: number, v: number): Uint16Array => {
      const d = new Uint16Array(3 * N);
      d.fill(v, c * N, (c + 1) * N);
      return d;
    };
    extractPlane(only(0, 1000), W, H, 3, 'luminance', out);
    expect(out[0]).toBe(Math.fround(212.5));
    extractPlane(only(1, 1000), W, H, 3, 'luminance', out);
    expect(out[7]).toBe(Math.fround(715.4));
    extractPlane(only(2, 1000), W, H, 3, 'luminance', out);
    expect(out[N - 1]).toBe(Math.fround(72.1));
    // The weights sum to 1: gray stays gray.
    extractPlane(new Float32Array(3 * N).fill(37.5), W, H, 3, 'luminance', out);
    for (const v of out) expect(v).toBeCloseTo(37.5, 5);
    // A general pixel.
    const d = planar(3, (n) => new Float32Array(n), 0.5);
    extractPlane(d, W, H, 3, 'luminance', out);
    for (let i = 0; i < N; i++) expect(out[i]).toBe(Math.fround(0.2125 * (i + 0.5) + 0.7154 * (100 + i + 0.5) + 0.0721 * (200 + i + 0.5)));
  });

  it('luminance uses the first three planes of a 4-channel (RGBA) frame and plane 0 of a 1- or 2-channel one', () => {
    const out = new Float32Array(N);
    const rgba = planar(4, (n) => new Float32Array(n));
    extractPlane(rgba, W, H, 4, 'luminance', out);
    expect(out[3]).toBe(Math.fround(0.2125 * 3 + 0.7154 * 103 + 0.0721 * 203));
    extractPlane(planar(2, (n) => new Uint16Array(n)), W, H, 2, 'luminance', out);
    expect(Array.from(out)).toEqual(Array.from({ length: N }, (_, i) => i));
  });

  it('throws a RangeError naming the channel for an out-of-range index', () => {
    const data = planar(2, (n) => new Uint16Array(n));
    const out = new Float32Array(N);
    expect(() => extractPlane(data, W, H, 2, 2, out)).toThrow(RangeError);
    expect(() => extractPlane(data, W, H, 2, 2, out)).toThrow(/channel 2 .*2-channel/);
    expect(() => extractPlane(data, W, H, 2, -1, out)).toThrow(/channel -1/);
    expect(() => extractPlane(data, W, H, 1, 1, out)).toThrow(RangeError);
  });
});
