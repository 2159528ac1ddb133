import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readImageFile } from '../../src/ingest/tiff.js';
import { gaussianKernel } from '../../src/kernels/gaussian.js';
import { Labeller, labelComponents } from '../../src/kernels/label.js';
import { paintRuns, Runs } from '../../src/kernels/runs.js';
import { Segmenter, gaussianBlur64, segment, type SegmentOptions } from '../../src/kernels/segment.js';
import { otsuThreshold, reflectIndex, Sauvola, sauvolaThreshold } from '../../src/kernels/threshold.js';
import { WasmBlur } from '../../src/kernels/wasmBlur.js';
import { type KernelName, loadKernelModuleSync } from '../../src/stream/wasmModule.js';
import { seededRandom } from '../helpers/random.js';

/**
 * Segmentation against scikit-image 0.19 (tools/golden/segmentation.py →
 * test/golden/segmentation.json): thresholds to 1e-9 relative, labels
 * identical. Plus unit checks against brute-force references.
 */

interface Filtered {
  minArea: number;
  maxArea: number | null;
  excludeBorder: boolean;
  count: number;
  areas: number[];
  rle: number[];
}
interface LabelEntry {
  connectivity: 1 | 2;
  count: number;
  areas: number[];
  rle: number[];
  full?: number[];
  filtered?: Filtered[];
}
interface MapSummary {
  sum: number;
  sumSq: number;
  min: number;
  max: number;
  samples: [number, number, number][];
  full?: number[];
}
interface Run {
  params: { method: 'otsu' | 'sauvola'; sigma?: number; window?: number; k?: number; r?: number };
  threshold?: number;
  thresholdMap?: MapSummary;
  foreground: number;
  labels: LabelEntry[];
}
interface Case {
  name: string;
  source: { kind: 'inline' | 'fixture' | 'shared'; path?: string; channel?: number };
  dtype: string;
  height: number;
  width: number;
  runs: Run[];
  image?: number[];
}

/** The SIMD blur (bit-identical to gaussianBlur64 by construction; checked below and by the golden cases). */
const blurModule = loadKernelModuleSync('blur' as KernelName);

const golden = JSON.parse(readFileSync(new URL('../golden/segmentation.json', import.meta.url), 'utf8')) as { cases: Case[] };
const repo = fileURLToPath(new URL('../../', import.meta.url));
const shared = fileURLToPath(new URL('../../../shared/', import.meta.url));

function close(a: number, b: number, rel = 1e-9): boolean {
  return Math.abs(a - b) <= rel * Math.max(1, Math.abs(b));
}

function rle(labels: Int32Array): number[] {
  const out: number[] = [];
  let i = 0;
  while (i < labels.length) {
    const v = labels[i];
    let j = i + 1;
    while (j < labels.length && labels[j] === v) j++;
    if (v !== 0) out.push(i, j - i, v);
    i = j;
  }
  return out;
}

function areas(labels: Int32Array, count: number): number[] {
  const a = new Array<number>(count).fill(0);
  for (const v of labels) if (v) a[v - 1]++;
  return a;
}

async function loadCase(c: Case): Promise<ArrayLike<number> | null> {
  if (c.source.kind === 'inline') return Float32Array.from(c.image as number[]);
  const path = c.source.kind === 'fixture' ? repo + c.source.path : shared + c.source.path;
  if (!existsSync(path)) return null;
  const img = await readImageFile(path);
  expect([img.width, img.height]).toEqual([c.width, c.height]);
  const n = img.width * img.height;
  const ch = c.source.channel ?? 0;
  return img.data.subarray(ch * n, (ch + 1) * n);
}

describe('segmentation golden (scikit-image 0.19)', () => {
  for (const c of golden.cases) {
    describe(c.name, () => {
      for (const run of c.runs) {
        const p = run.params;
        const tag = `${p.method}${p.sigma ? ` σ=${p.sigma}` : ''}${p.window ? ` w=${p.window} k=${p.k} r=${p.r ?? 'default'}` : ''}`;
        // The WebAssembly blur only matters where there is smoothing.
        for (const blur of p.sigma ? (['ts', 'wasm'] as const) : (['ts'] as const)) {
          it(`${tag}${blur === 'wasm' ? ' (WebAssembly blur)' : ''}`, async () => {
            const img = await loadCase(c);
            if (!img) {
              console.warn(`${c.name}: data not found, skipped`);
              return;
            }
            const { width: W, height: H } = c;
            const seg = new Segmenter(W, H, blur === 'wasm' ? blurModule : undefined);
            const base: SegmentOptions = { method: p.method, sigma: p.sigma ?? 0, window: p.window, k: p.k, r: p.r };
            for (const e of run.labels) {
              const out = new Int32Array(W * H);
              const res = seg.segment(img, { ...base, connectivity: e.connectivity }, out);
              if (p.method === 'otsu') {
                expect(close(res.threshold, run.threshold as number), `threshold ${res.threshold} vs ${run.threshold}`).toBe(true);
              } else {
                const t = seg.thresholdMap as Float64Array;
                const g = run.thresholdMap as MapSummary;
                for (const [y, x, v] of g.samples) expect(close(t[y * W + x], v), `T(${y},${x}) ${t[y * W + x]} vs ${v}`).toBe(true);
                let s = 0;
                let s2 = 0;
                for (const v of t) {
                  s += v;
                  s2 += v * v;
                }
                expect(close(s, g.sum)).toBe(true);
                expect(close(s2, g.sumSq)).toBe(true);
                if (g.full) for (let i = 0; i < g.full.length; i++) expect(close(t[i], g.full[i])).toBe(true);
              }
              expect(res.rawCount).toBe(e.count);
              expect(res.count).toBe(e.count);
              let fg = 0;
              for (const v of out) if (v) fg++;
              expect(fg).toBe(run.foreground);
              if (e.full) expect(Array.from(out)).toEqual(e.full);
              expect(areas(out, res.count)).toEqual(e.areas);
              expect(rle(out)).toEqual(e.rle);
              // The run-based labelling (tracked mode) gives the same objects.
              const runs = new Runs(W, H);
              const rr = seg.segmentRuns(img, { ...base, connectivity: e.connectivity }, runs);
              expect([rr.count, rr.rawCount, rr.threshold]).toEqual([res.count, res.rawCount, res.threshold]);
              const painted = new Int32Array(W * H);
              paintRuns(runs, painted);
              expect(rle(painted)).toEqual(e.rle);
              for (const f of e.filtered ?? []) {
                const o2 = new Int32Array(W * H);
                const fo: SegmentOptions = { ...base, connectivity: e.connectivity, minArea: f.minArea, maxArea: f.maxArea ?? Infinity, excludeBorder: f.excludeBorder };
                const r2 = seg.segment(img, fo, o2);
                expect(r2.count).toBe(f.count);
                expect(areas(o2, r2.count)).toEqual(f.areas);
                expect(rle(o2)).toEqual(f.rle);
                expect(seg.segmentRuns(img, fo, runs).count).toBe(f.count);
                paintRuns(runs, painted);
                expect(rle(painted)).toEqual(f.rle);
              }
            }
          });
        }
      }
    });
  }
});

// ---------------------------------------------------------------- references

/** Flood fill, labels in raster order of first pixel. */
function floodLabel(mask: Uint8Array, W: number, H: number, conn: 1 | 2): Int32Array {
  const out = new Int32Array(W * H);
  let next = 0;
  const stack: number[] = [];
  for (let i = 0; i < W * H; i++) {
    if (!mask[i] || out[i]) continue;
    out[i] = ++next;
    stack.push(i);
    while (stack.length) {
      const p = stack.pop() as number;
      const y = Math.floor(p / W);
      const x = p % W;
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          if ((dy === 0 && dx === 0) || (conn === 1 && dy !== 0 && dx !== 0)) continue;
          const yy = y + dy;
          const xx = x + dx;
          if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
          const q = yy * W + xx;
          if (mask[q] && !out[q]) {
            out[q] = next;
            stack.push(q);
          }
        }
      }
    }
  }
  return out;
}

function randomMask(W: number, H: number, p: number, seed: number): Uint8Array {
  const r = seededRandom(seed);
  const m = new Uint8Array(W * H);
  for (let i = 0; i < m.length; i++) m[i] = r() < p ? 1 : 0;
  return m;
}

describe('labelComponents', () => {
  it('4- vs 8-connectivity on a diagonal, raster order of first pixel', () => {
    // prettier-ignore
    const m = Uint8Array.from([
      0, 0, 1,
      1, 0, 1,
      1, 1, 1,
      0, 0, 0,
      1, 0, 1,
      0, 1, 0,
    ]);
    expect(Array.from(labelComponents(m, 3, 6, 1).labels)).toEqual([0, 0, 1, 1, 0, 1, 1, 1, 1, 0, 0, 0, 2, 0, 3, 0, 4, 0]);
    expect(Array.from(labelComponents(m, 3, 6, 2).labels)).toEqual([0, 0, 1, 1, 0, 1, 1, 1, 1, 0, 0, 0, 2, 0, 2, 0, 2, 0]);
  });

  it('U shapes and spirals merge late but keep first-pixel order', () => {
    // Two prongs open separate labels, join at the bottom; a later object starts between them.
    // prettier-ignore
    const m = Uint8Array.from([
      1, 0, 0, 0, 1,
      1, 0, 1, 0, 1,
      1, 0, 0, 0, 1,
      1, 1, 1, 1, 1,
    ]);
    expect(Array.from(labelComponents(m, 5, 4, 1).labels)).toEqual([1, 0, 0, 0, 1, 1, 0, 2, 0, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1]);
  });

  it('empty, full, 1×n, n×1 and checkerboard images', () => {
    expect(labelComponents(new Uint8Array(12), 3, 4).count).toBe(0);
    expect(labelComponents(new Uint8Array(12).fill(1), 3, 4).count).toBe(1);
    expect(Array.from(labelComponents(Uint8Array.from([1, 0, 1, 1, 0, 1]), 6, 1).labels)).toEqual([1, 0, 2, 2, 0, 3]);
    expect(Array.from(labelComponents(Uint8Array.from([1, 0, 1, 1, 0, 1]), 1, 6).labels)).toEqual([1, 0, 2, 2, 0, 3]);
    for (const [W, H] of [
      [7, 5],
      [6, 6],
      [1, 1],
      [9, 1],
    ]) {
      const m = new Uint8Array(W * H);
      for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) m[y * W + x] = (x + y + 1) % 2;
      const ones = m.reduce((s, v) => s + v, 0);
      expect(labelComponents(m, W, H, 1).count).toBe(ones);
      expect(labelComponents(m, W, H, 2).count).toBe(Math.min(1, ones) + (H === 1 ? ones - Math.min(1, ones) : 0));
    }
  });

  it('labelFiltered equals label then a direct area/border filter (random masks, both connectivities)', () => {
    const rnd = seededRandom(33);
    for (const [W, H] of [
      [1, 9],
      [13, 11],
      [64, 48],
      [101, 37],
    ]) {
      const lab = new Labeller(W, H);
      for (const density of [0.3, 0.55, 0.7]) {
        const m = Uint8Array.from({ length: W * H }, () => (rnd() < density ? 1 : 0));
        for (const conn of [1, 2] as const) {
          for (const [minArea, maxArea, excludeBorder] of [
            [3, Infinity, false],
            [1, 20, false],
            [2, 50, true],
            [0, Infinity, true],
          ] as const) {
            const plain = new Int32Array(W * H);
            const raw = lab.label(m, conn, plain);
            // The reference filter: areas and border flags per component of `plain`, kept ones renumbered in order.
            const area = new Array<number>(raw + 1).fill(0);
            const border = new Array<boolean>(raw + 1).fill(false);
            for (let i = 0; i < W * H; i++) {
              area[plain[i]]++;
              const x = i % W;
              const y = Math.floor(i / W);
              if (x === 0 || y === 0 || x === W - 1 || y === H - 1) border[plain[i]] = true;
            }
            const renumber = new Array<number>(raw + 1).fill(0);
            let kept = 0;
            for (let l = 1; l <= raw; l++) if (area[l] >= minArea && area[l] <= maxArea && !(excludeBorder && border[l])) renumber[l] = ++kept;
            const out = new Int32Array(W * H).fill(-7);
            const count = lab.labelFiltered(m, conn, out, minArea, maxArea, excludeBorder);
            const tag = `${W}×${H} p=${density} conn=${conn} area ${minArea}…${maxArea}${excludeBorder ? ' no border' : ''}`;
            expect(count, tag).toBe(kept);
            expect(lab.rawCount, tag).toBe(raw);
            expect(Array.from(out), tag).toEqual(Array.from(plain, (l) => renumber[l]));
          }
        }
      }
    }
  });

  it('equals a flood fill on random masks (sizes incl. odd, densities around percolation)', () => {
    let seed = 1;
    for (const [W, H] of [
      [1, 17],
      [17, 1],
      [13, 11],
      [64, 48],
      [101, 37],
    ]) {
      const lab = new Labeller(W, H);
      const out = new Int32Array(W * H);
      for (const p of [0.2, 0.45, 0.6, 0.8]) {
        const m = randomMask(W, H, p, seed++);
        for (const conn of [1, 2] as const) {
          const count = lab.label(m, conn, out);
          const ref = floodLabel(m, W, H, conn);
          expect(out).toEqual(ref);
          expect(count).toBe(ref.reduce((a, b) => Math.max(a, b), 0));
        }
      }
    }
  });
});

describe('otsuThreshold', () => {
  it('constant image returns its value; integer images use one bin per value', () => {
    expect(otsuThreshold(new Float64Array(10).fill(3.5))).toBe(3.5);
    expect(otsuThreshold(Uint8Array.from([3, 3, 4, 9, 10, 10]))).toBe(4);
    // Float copy of the same data: 256 bins over [3, 10]; the value 4 lies in bin 36, whose
    // centre 3 + 36.5·7/256 = 3.998046875 is below 4 — so with `> t` the pixel 4 is foreground,
    // exactly as in skimage (threshold_otsu(np.array([3, 3, 4, 9, 10, 10.])) == 3.998046875).
    expect(otsuThreshold(Float64Array.from([3, 3, 4, 9, 10, 10]))).toBe(3.998046875);
  });

  it('two-valued float image: threshold is the centre of the low bin', () => {
    const a = Float64Array.from([0, 0, 1, 1, 1]);
    expect(otsuThreshold(a)).toBeCloseTo(0.5 / 256, 15);
  });
});

describe('Sauvola', () => {
  it('reflectIndex is numpy mode="reflect" at any distance', () => {
    // np.pad(np.arange(4), 9, mode='reflect')
    const expected = [3, 2, 1, 0, 1, 2, 3, 2, 1, 0, 1, 2, 3, 2, 1, 0, 1, 2, 3, 2, 1, 0];
    expect(Array.from({ length: 22 }, (_, i) => reflectIndex(i - 9, 4))).toEqual(expected);
    expect(reflectIndex(-5, 1)).toBe(0);
  });

  it('matches a direct window sum over the reflected image (w = 1, 3, 7, 25 on 9×6)', () => {
    const W = 9;
    const H = 6;
    const r = seededRandom(5);
    const img = Float64Array.from({ length: W * H }, () => Math.round(r() * 100));
    for (const w of [1, 3, 7, 25]) {
      const t = sauvolaThreshold(img, W, H, w, 0.3, 40);
      const h = w >> 1;
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          let s = 0;
          let s2 = 0;
          for (let dy = -h; dy <= h; dy++) {
            for (let dx = -h; dx <= h; dx++) {
              const v = img[reflectIndex(y + dy, H) * W + reflectIndex(x + dx, W)];
              s += v;
              s2 += v * v;
            }
          }
          const m = s / (w * w);
          const sd = Math.sqrt(Math.max(0, s2 / (w * w) - m * m));
          expect(t[y * W + x]).toBeCloseTo(m * (1 + 0.3 * (sd / 40 - 1)), 9);
        }
      }
    }
  });

  it('rejects even windows; R defaults to half the dtype range', () => {
    expect(() => new Sauvola(4, 4, 4)).toThrow(RangeError);
    const u8 = Uint8Array.from({ length: 25 }, (_, i) => (i * 37) % 251);
    const a = sauvolaThreshold(u8, 5, 5, 3, 0.2);
    const b = sauvolaThreshold(Float64Array.from(u8), 5, 5, 3, 0.2, 127.5);
    expect(a).toEqual(b);
  });
});

describe('segment', () => {
  it("float64 smoothing (TypeScript and WebAssembly) is bit-identical to scipy's per-pixel order of operations", () => {
    // scipy.ndimage.correlate1d with a symmetric kernel: x·w0, then + (x[−j] + x[+j])·w[j] for
    // j = r … 1, axis 0 then axis 1, 'nearest' border. Written per pixel here; the kernel's loop
    // order (eight outputs at a time, remainders, rows clamped at both ends) must not change a bit.
    const onePass = (src: Float64Array, W: number, H: number, k: Float64Array, vertical: boolean): Float64Array => {
      const R = (k.length - 1) >> 1;
      const out = new Float64Array(W * H);
      const at = (y: number, x: number): number => src[Math.min(H - 1, Math.max(0, y)) * W + Math.min(W - 1, Math.max(0, x))];
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          let a = src[y * W + x] * k[R];
          for (let j = R; j >= 1; j--) a += (vertical ? at(y - j, x) + at(y + j, x) : at(y, x - j) + at(y, x + j)) * k[R + j];
          out[y * W + x] = a;
        }
      }
      return out;
    };
    const r = seededRandom(21);
    for (const [W, H, sigma] of [
      [37, 23, 2],
      [64, 9, 2.7], // radius 11 > height: every row clamped
      [5, 40, 1],
      [16, 16, 0.6],
    ] as const) {
      const img = Float32Array.from({ length: W * H }, () => 1000 + r() * 3000);
      const k = gaussianKernel(sigma);
      const R = (k.length - 1) >> 1;
      const expected = onePass(onePass(Float64Array.from(img), W, H, k, true), W, H, k, false);
      const out = new Float64Array(W * H);
      gaussianBlur64(img, W, H, k, out, new Float64Array(W * H), new Float64Array(W + 2 * R), new Int32Array(2 * R + 2));
      const simd = new WasmBlur(blurModule, W, H).blur(img, k);
      let differ = 0;
      let differSimd = 0;
      for (let i = 0; i < W * H; i++) {
        if (!Object.is(out[i], expected[i])) differ++;
        if (!Object.is(simd[i], expected[i])) differSimd++;
      }
      expect(differ, `${W}×${H} σ=${sigma}`).toBe(0);
      expect(differSimd, `WebAssembly, ${W}×${H} σ=${sigma}`).toBe(0);
    }
  });

  it('fillNonFinite: NaN/±Infinity become the darkest finite value, the same with and without the WebAssembly blur', () => {
    const W = 48;
    const H = 40;
    const r = seededRandom(17);
    const img = new Float32Array(W * H);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const d = Math.hypot(x - 20, y - 18);
        img[y * W + x] = 100 + 20 * r() + (d < 7 ? 400 : 0) + (Math.hypot(x - 38, y - 8) < 4 ? 300 : 0);
      }
    }
    for (let y = 0; y < H; y++) for (let x = 0; x < 3; x++) img[y * W + x] = NaN; // the warp's border
    img[5 * W + 30] = Infinity;
    img[30 * W + 40] = -Infinity;
    let lo = Infinity;
    for (const v of img) if (Number.isFinite(v) && v < lo) lo = v;
    const filled = Float32Array.from(img, (v) => (Number.isFinite(v) ? v : lo));
    for (const sigma of [0, 1.5]) {
      const opts: SegmentOptions = { sigma, minArea: 5 };
      const want = new Int32Array(W * H);
      const wantRes = new Segmenter(W, H).segment(filled, opts, want);
      expect(wantRes.count, `σ=${sigma}`).toBe(2);
      for (const blur of [undefined, blurModule]) {
        const got = new Int32Array(W * H);
        const res = new Segmenter(W, H, blur).segment(img, opts, got, true);
        expect(res.threshold, `σ=${sigma}${blur ? ' WebAssembly' : ''}`).toBe(wantRes.threshold);
        expect(Array.from(got)).toEqual(Array.from(want));
      }
    }
  });

  it('the WebAssembly threshold and mask equal otsuThreshold and image > threshold (nbins 256, 7, 1000)', () => {
    const W = 45;
    const H = 33;
    const r = seededRandom(8);
    const img = Float32Array.from({ length: W * H }, (_, i) => 50 + 30 * r() + (i % 7 === 0 ? 500 * r() : 0));
    const k = gaussianKernel(1.2);
    for (const nbins of [256, 7, 1000]) {
      const simd = new WasmBlur(blurModule, W, H);
      const smooth = Float64Array.from(simd.blur(img, k));
      const t = simd.otsu(nbins);
      expect(t, `nbins ${nbins}`).toBe(otsuThreshold(smooth, nbins));
      expect(Array.from(simd.mask)).toEqual(Array.from(smooth, (v) => (v > t ? 1 : 0)));
    }
    // A constant image (σ 0: the blur copies it exactly) has its value as threshold, as otsuThreshold.
    const flat = new WasmBlur(blurModule, W, H);
    flat.blur(new Float32Array(W * H).fill(3), gaussianKernel(0));
    expect(flat.otsu(256)).toBe(3);
    expect(flat.mask.every((v) => v === 0)).toBe(true);
  });

  it('the WebAssembly blur follows σ changes (its layout depends on the radius)', () => {
    const W = 41;
    const H = 30;
    const r = seededRandom(5);
    const img = Float32Array.from({ length: W * H }, () => r() * 1000);
    const simd = new WasmBlur(blurModule, W, H);
    for (const sigma of [1, 3.2, 0.5, 3.2, 2]) {
      const k = gaussianKernel(sigma);
      const R = (k.length - 1) >> 1;
      const expected = new Float64Array(W * H);
      gaussianBlur64(img, W, H, k, expected, new Float64Array(W * H), new Float64Array(W + 2 * R), new Int32Array(2 * R + 2));
      expect(Array.from(simd.blur(img, k)), `σ=${sigma}`).toEqual(Array.from(expected));
    }
  });

  it('float64 smoothing equals a direct clamped convolution', () => {
    const W = 11;
    const H = 7;
    const r = seededRandom(9);
    const img = Float64Array.from({ length: W * H }, () => r() * 10);
    const k = gaussianKernel(1.3);
    const R = (k.length - 1) >> 1;
    const out = new Float64Array(W * H);
    gaussianBlur64(img, W, H, k, out, new Float64Array(W * H), new Float64Array(W + 2 * R));
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        let s = 0;
        for (let i = -R; i <= R; i++) {
          for (let j = -R; j <= R; j++) {
            const yy = Math.min(H - 1, Math.max(0, y + i));
            const xx = Math.min(W - 1, Math.max(0, x + j));
            s += k[i + R] * k[j + R] * img[yy * W + xx];
          }
        }
        expect(out[y * W + x]).toBeCloseTo(s, 12);
      }
    }
  });

  it('filters by area and border, renumbering 1..N in raster order', () => {
    // prettier-ignore
    const img = Uint8Array.from([
      9, 0, 0, 0, 0, 0, 0,
      0, 0, 9, 9, 0, 0, 0,
      0, 0, 9, 9, 0, 9, 0,
      0, 0, 0, 0, 0, 0, 0,
      0, 9, 9, 9, 0, 0, 9,
    ]);
    const out = new Int32Array(img.length);
    const all = segment(img, 7, 5, {}, out);
    expect(all.threshold).toBe(0);
    expect(all.count).toBe(5);
    expect(segment(img, 7, 5, { minArea: 2 }, out).count).toBe(2);
    expect(Array.from(out.subarray(7, 21))).toEqual([0, 0, 1, 1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0]);
    expect(out[29]).toBe(2);
    const nb = segment(img, 7, 5, { excludeBorder: true }, out);
    expect(nb.count).toBe(2);
    expect(out[9]).toBe(1);
    expect(out[19]).toBe(2);
    expect(segment(img, 7, 5, { minArea: 2, maxArea: 3 }, out).count).toBe(1);
    expect(out[29]).toBe(1);
    expect(nb.rawCount).toBe(5);
  });

  it('rejects bad inputs', () => {
    expect(() => segment(new Uint8Array(3), 2, 2, {}, new Int32Array(4))).toThrow(RangeError);
    expect(() => segment(new Uint8Array(4), 2, 2, { sigma: -1 }, new Int32Array(4))).toThrow(RangeError);
  });
});
