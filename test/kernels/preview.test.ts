import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PreviewEncoder, previewSize } from '../../src/kernels/preview.js';
import { seededRandom } from '../helpers/random.js';

interface GoldenCase {
  name: string;
  seed: number;
  w: number;
  h: number;
  maxSize: number;
  maxSamples: number;
  scale: number;
  quant: number;
  nanEvery: number;
  factor: number;
  stride: number;
  samples: number;
  outWidth: number;
  outHeight: number;
  finite: number;
  downSum: number;
  downWeighted: number;
  downHead: (number | null)[];
  levels: { pct: [number, number]; lo: number; hi: number; byteSum: number; byteWeighted: number }[];
}

/** From tools/golden/preview.py (numpy). */
const golden = JSON.parse(readFileSync(new URL('../golden/preview.json', import.meta.url), 'utf8')) as { cases: GoldenCase[] };

/** The generator's plane, rebuilt bit for bit (same mulberry32 as the Python side). */
function goldenPlane(c: GoldenCase): Float32Array {
  const r = seededRandom(c.seed);
  const a = new Float32Array(c.w * c.h);
  for (let i = 0; i < a.length; i++) {
    const v = r();
    a[i] = c.quant ? Math.floor(v * c.quant) : v * c.scale;
  }
  if (c.nanEvery) {
    for (let i = 0; i < a.length; i += c.nanEvery) a[i] = NaN;
    for (let i = 3; i < a.length; i += c.nanEvery * 2) a[i] = Infinity;
    for (let i = 5; i < a.length; i += c.nanEvery * 3) a[i] = -Infinity;
  }
  return a;
}

/** The image the percentiles and the mapping see: the downsampled plane, or the plane itself (non-finite → NaN) at factor 1. */
function outputSized(enc: PreviewEncoder, plane: ArrayLike<number>): Float64Array {
  if (enc.factor > 1) return enc.downsampled;
  return Float64Array.from({ length: enc.outWidth * enc.outHeight }, (_, i) => (Number.isFinite(plane[i]) ? plane[i] : NaN));
}

/** numpy's linear percentile by sorting: the definition. */
function sortPercentile(values: number[], p: number): number {
  const v = [...values].sort((a, b) => a - b);
  const r = (p / 100) * (v.length - 1);
  const k = Math.floor(r);
  const g = r - k;
  if (k + 1 >= v.length) return v[k];
  return v[k] + g * (v[k + 1] - v[k]);
}

const close = (got: number, want: number, rel = 1e-12) => Math.abs(got - want) <= rel * Math.max(1, Math.abs(want));

describe('previewSize', () => {
  it('keeps the long side within maxSize with an integer factor', () => {
    expect(previewSize(512, 512)).toEqual({ width: 512, height: 512, factor: 1 });
    expect(previewSize(256, 100)).toEqual({ width: 256, height: 100, factor: 1 });
    expect(previewSize(1024, 768)).toEqual({ width: 512, height: 384, factor: 2 });
    expect(previewSize(513, 100)).toEqual({ width: 257, height: 50, factor: 2 });
    expect(previewSize(752, 480)).toEqual({ width: 376, height: 240, factor: 2 });
    expect(previewSize(10, 2000, 512)).toEqual({ width: 3, height: 500, factor: 4 });
    for (let w = 1; w < 1500; w += 37) {
      for (const h of [1, 77, 512, 1499]) {
        const s = previewSize(w, h, 300);
        expect(Math.max(s.width, s.height)).toBeLessThanOrEqual(300);
      }
    }
  });

  it('refuses sizes that are not positive integers', () => {
    expect(() => previewSize(0, 10)).toThrow(RangeError);
    expect(() => previewSize(10, 10.5)).toThrow(RangeError);
    expect(() => previewSize(10, 10, 0)).toThrow(RangeError);
  });
});

describe('PreviewEncoder against numpy (tools/golden/preview.py)', () => {
  for (const c of golden.cases) {
    it(c.name, () => {
      const enc = new PreviewEncoder(c.w, c.h, c.maxSize, c.maxSamples);
      expect([enc.factor, enc.stride, enc.outWidth, enc.outHeight]).toEqual([c.factor, c.stride, c.outWidth, c.outHeight]);
      const plane = goldenPlane(c);
      for (const lv of c.levels) {
        const out = enc.encode(plane, lv.pct[0], lv.pct[1]);
        expect([out.width, out.height, out.data.length]).toEqual([c.outWidth, c.outHeight, c.outWidth * c.outHeight]);
        expect(close(out.lo, lv.lo), `lo at ${lv.pct}: ${out.lo} vs ${lv.lo}`).toBe(true);
        expect(close(out.hi, lv.hi), `hi at ${lv.pct}: ${out.hi} vs ${lv.hi}`).toBe(true);
        let sum = 0;
        let weighted = 0;
        for (let i = 0; i < out.data.length; i++) {
          sum += out.data[i];
          weighted += out.data[i] * (i + 1);
        }
        expect([sum, weighted]).toEqual([lv.byteSum, lv.byteWeighted]);
      }
      const d = outputSized(enc, plane);
      let finite = 0;
      let sum = 0;
      let weighted = 0;
      for (let i = 0; i < d.length; i++) {
        if (Number.isNaN(d[i])) continue;
        finite++;
        sum += d[i];
        weighted += d[i] * (i + 1);
      }
      expect(finite).toBe(c.finite);
      expect(close(sum, c.downSum)).toBe(true);
      expect(close(weighted, c.downWeighted)).toBe(true);
      c.downHead.forEach((want, i) => {
        if (want === null) expect(Number.isNaN(d[i])).toBe(true);
        else expect(close(d[i], want), `down[${i}]`).toBe(true);
      });
    });
  }
});

describe('PreviewEncoder', () => {
  it('gives exact percentiles of a ramp (analytic)', () => {
    const n = 1000;
    const ramp = Float32Array.from({ length: n }, (_, i) => i);
    const enc = new PreviewEncoder(n, 1, n, n);
    for (const [lo, hi] of [[0.5, 99.5], [0, 100], [12.5, 50], [33.3, 66.6]]) {
      const out = enc.encode(ramp, lo, hi);
      expect(out.lo).toBeCloseTo((lo / 100) * (n - 1), 9);
      expect(out.hi).toBeCloseTo((hi / 100) * (n - 1), 9);
    }
    const out = enc.encode(ramp, 0, 100);
    expect(out.data[0]).toBe(0);
    expect(out.data[n - 1]).toBe(255);
    // Linear in between: pixel i maps to round(i · 255 / 999).
    for (let i = 0; i < n; i++) expect(out.data[i]).toBe(Math.floor((i * 255) / 999 + 0.5));
  });

  it('agrees with the sort definition on random planes: ties, huge ranges, NaN, every factor, sampling', () => {
    const rnd = seededRandom(7);
    for (let trial = 0; trial < 160; trial++) {
      const w = 1 + Math.floor(rnd() * 90);
      const h = 1 + Math.floor(rnd() * 90);
      const maxSize = 1 + Math.floor(rnd() * 100);
      const maxSamples = trial % 2 ? 1 + Math.floor(rnd() * 2000) : 32768;
      const kind = trial % 5;
      const plane = new Float32Array(w * h);
      for (let i = 0; i < plane.length; i++) {
        const u = rnd();
        plane[i] =
          kind === 0 ? u * 100 - 50
          : kind === 1 ? Math.floor(u * 3) // heavy ties
          : kind === 2 ? (u < 0.01 ? 1e30 : u) // almost everything in one histogram bin
          : kind === 3 ? (u < 0.05 ? -Infinity : u > 0.95 ? Infinity : u)
          : u < 0.3 ? NaN : u;
      }
      const enc = new PreviewEncoder(w, h, maxSize, maxSamples);
      const lowPct = rnd() * 50;
      const highPct = lowPct + rnd() * (100 - lowPct);
      const out = enc.encode(plane, lowPct, highPct);
      const img = outputSized(enc, plane);
      const samples: number[] = [];
      for (let i = 0; i < img.length; i += enc.stride) if (!Number.isNaN(img[i])) samples.push(img[i]);
      expect(samples.length).toBeLessThanOrEqual(maxSamples);
      if (samples.length === 0) {
        expect(Number.isNaN(out.lo) && Number.isNaN(out.hi)).toBe(true);
        expect(out.data.every((b) => b === 0)).toBe(true);
        continue;
      }
      const wantLo = sortPercentile(samples, lowPct);
      const wantHi = sortPercentile(samples, highPct);
      expect(close(out.lo, wantLo, 1e-9), `trial ${trial}: lo ${out.lo} vs ${wantLo}`).toBe(true);
      expect(close(out.hi, wantHi, 1e-9), `trial ${trial}: hi ${out.hi} vs ${wantHi}`).toBe(true);
      // The mapping, pixel by pixel.
      for (let i = 0; i < img.length; i++) {
        const v = img[i];
        const want = Number.isNaN(v) ? 0
          : out.hi > out.lo ? Math.min(255, Math.max(0, Math.floor(((v - out.lo) * 255) / (out.hi - out.lo) + 0.5)))
          : v > out.lo ? 255 : 0;
        // ±1 where a pixel sits on a rounding boundary (v·scale + offset vs (v − lo)·scale).
        expect(Math.abs(out.data[i] - want), `trial ${trial} pixel ${i}: ${out.data[i]} vs ${want}`).toBeLessThanOrEqual(1);
      }
    }
  });

  it('keeps samples out of the same columns: the stride shares no factor with the width', () => {
    const enc = new PreviewEncoder(512, 512);
    expect(enc.stride).toBe(9); // 262,144 / 32,768 = 8, which divides 512
    const rows = new Set<number>();
    for (let i = 0; i < 512 * 3; i += enc.stride) rows.add(i % 512);
    expect(rows.size).toBeGreaterThan(150);
  });

  it('box-averages the finite pixels of each block, partial edge blocks included', () => {
    // 5×3 plane, factor 2 (maxSize 3): blocks of 2×2, 1×2 at the right, 2×1 at the bottom, 1×1 in the corner.
    // prettier-ignore
    const plane = Float32Array.from([
      1, 2, 3, 4, 5,
      6, NaN, 8, 9, 10,
      11, 12, 13, Infinity, 15,
    ]);
    const enc = new PreviewEncoder(5, 3, 3);
    expect([enc.factor, enc.outWidth, enc.outHeight]).toEqual([2, 3, 2]);
    enc.encode(plane);
    expect(Array.from(enc.downsampled)).toEqual([(1 + 2 + 6) / 3, (3 + 4 + 8 + 9) / 4, (5 + 10) / 2, (11 + 12) / 2, 13, 15]);
  });

  it('maps NaN to 0, clamps outside [lo, hi], and handles a flat or empty plane', () => {
    const enc = new PreviewEncoder(4, 1);
    let out = enc.encode(Float32Array.from([NaN, -1e9, 5, 1e9]), 0, 100);
    expect([out.lo, out.hi]).toEqual([-1e9, 1e9]);
    expect(Array.from(out.data)).toEqual([0, 0, 128, 255]);
    out = enc.encode(Float32Array.from([Infinity, 0, 10, -Infinity]), 0, 100);
    expect([out.lo, out.hi]).toEqual([0, 10]);
    expect(Array.from(out.data)).toEqual([0, 0, 255, 0]);
    out = enc.encode(Float32Array.from([NaN, 0, 10, 20]), 50, 50);
    expect([out.lo, out.hi]).toEqual([10, 10]);
    expect(Array.from(out.data)).toEqual([0, 0, 0, 255]);
    out = enc.encode(Float32Array.from([3, 3, 3, 3]));
    expect([out.lo, out.hi]).toEqual([3, 3]);
    expect(Array.from(out.data)).toEqual([0, 0, 0, 0]);
    out = enc.encode(Float32Array.from([NaN, NaN, Infinity, -Infinity]));
    expect(Number.isNaN(out.lo) && Number.isNaN(out.hi)).toBe(true);
    expect(Array.from(out.data)).toEqual([0, 0, 0, 0]);
  });

  it('reads integer planes too (raw uint16 frames)', () => {
    const u16 = Uint16Array.from({ length: 64 * 64 }, (_, i) => (i * 37) % 65536);
    const f32 = Float32Array.from(u16);
    const a = new PreviewEncoder(64, 64, 32);
    const b = new PreviewEncoder(64, 64, 32);
    const ra = a.encode(u16);
    const rb = b.encode(f32);
    expect([ra.lo, ra.hi]).toEqual([rb.lo, rb.hi]);
    expect(Array.from(ra.data)).toEqual(Array.from(rb.data));
  });

  it('reuses its output (no per-frame allocation) and refuses bad input', () => {
    const enc = new PreviewEncoder(8, 8);
    const p = Float32Array.from({ length: 64 }, (_, i) => i);
    const first = enc.encode(p);
    const data = first.data;
    const second = enc.encode(p.map((v) => -v));
    expect(second).toBe(first);
    expect(second.data).toBe(data);
    expect(() => enc.encode(new Float32Array(63))).toThrow(RangeError);
    expect(() => enc.encode(p, 60, 40)).toThrow(RangeError);
    expect(() => enc.encode(p, -1, 40)).toThrow(RangeError);
  });
});
