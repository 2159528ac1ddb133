import { describe, expect, it } from 'vitest';
import { gaussianKernel } from '../../src/kernels/gaussian.js';
import { Labeller } from '../../src/kernels/label.js';
import { paintRuns, RunLabeller, Runs, runsFromLabels, runsFromMask } from '../../src/kernels/runs.js';
import { Segmenter, type SegmentOptions } from '../../src/kernels/segment.js';
import { otsuThreshold } from '../../src/kernels/threshold.js';
import { ObjectTracker, type TrackFrame } from '../../src/kernels/tracker.js';
import { WasmBlur } from '../../src/kernels/wasmBlur.js';
import { type KernelName, loadKernelModuleSync } from '../../src/stream/wasmModule.js';
import { seededRandom } from '../helpers/random.js';

/**
 * The run-based path of tracked mode (src/kernels/runs.ts) against the
 * pixel-based one it replaces: RunLabeller against Labeller.labelFiltered
 * (itself checked against scikit-image and a flood fill in segment.test.ts),
 * the WebAssembly runs against runsFromMask, the tracker on runs against the
 * tracker on label images.
 */
const blurModule = loadKernelModuleSync('blur' as KernelName);

/** Blobs of random size on noise: masks with runs that touch, nest and merge. */
function blobMask(W: number, H: number, p: number, rnd: () => number): Uint8Array {
  const m = new Uint8Array(W * H);
  for (let i = 0; i < W * H; i++) m[i] = rnd() < p ? 1 : 0;
  const blobs = Math.max(1, Math.round((W * H) / 150));
  for (let b = 0; b < blobs; b++) {
    const cx = rnd() * W;
    const cy = rnd() * H;
    const r = 1 + rnd() * 5;
    for (let y = Math.max(0, Math.floor(cy - r)); y < Math.min(H, Math.ceil(cy + r)); y++) {
      for (let x = Math.max(0, Math.floor(cx - r)); x < Math.min(W, Math.ceil(cx + r)); x++) {
        if ((x - cx) ** 2 + (y - cy) ** 2 <= r * r) m[y * W + x] = 1;
      }
    }
  }
  return m;
}

describe('RunLabeller', () => {
  it('equals Labeller.labelFiltered on random masks (sizes, densities, both connectivities, filters)', () => {
    const rnd = seededRandom(41);
    for (const [W, H] of [
      [1, 9],
      [9, 1],
      [13, 11],
      [64, 48],
      [101, 37],
    ]) {
      const lab = new Labeller(W, H);
      const rl = new RunLabeller();
      const runs = new Runs(W, H);
      const want = new Int32Array(W * H);
      const got = new Int32Array(W * H);
      for (const density of [0, 0.05, 0.3, 0.55, 0.7, 1]) {
        const m = density > 0 && density < 1 ? blobMask(W, H, density, rnd) : new Uint8Array(W * H).fill(density);
        for (const conn of [1, 2] as const) {
          for (const [minArea, maxArea, excludeBorder] of [
            [0, Infinity, false],
            [3, Infinity, false],
            [1, 20, false],
            [2, 50, true],
            [0, Infinity, true],
          ] as const) {
            const tag = `${W}×${H} p=${density} conn=${conn} area ${minArea}…${maxArea}${excludeBorder ? ' no border' : ''}`;
            const count = lab.labelFiltered(m, conn, want, minArea, maxArea, excludeBorder);
            runsFromMask(m, runs);
            expect(rl.label(runs, conn, minArea, maxArea, excludeBorder), tag).toBe(count);
            expect(rl.rawCount, tag).toBe(lab.rawCount);
            paintRuns(runs, got);
            expect(Array.from(got), tag).toEqual(Array.from(want));
            // Compacted: only kept runs, in raster order, rows consistent.
            expect(runs.rowStart[H], tag).toBe(runs.count);
            for (let r = 0; r < runs.count; r++) expect(runs.label[r], tag).toBeGreaterThan(0);
          }
        }
      }
    }
  });

  it('runsFromLabels and paintRuns round-trip a label image (touching labels on a row are separate runs)', () => {
    const W = 7;
    const H = 3;
    const labels = Int32Array.from([1, 1, 2, 2, 0, 3, 3, 0, 0, 0, 0, 0, 0, 3, 4, 4, 4, 1, 1, 0, 0]);
    const runs = new Runs(W, H);
    runsFromLabels(labels, 4, runs);
    expect(runs.count).toBe(6);
    expect(Array.from(runs.rowStart)).toEqual([0, 3, 4, 6]);
    const out = new Int32Array(W * H);
    paintRuns(runs, out);
    expect(Array.from(out)).toEqual(Array.from(labels));
    expect(() => runsFromLabels(labels, 3, runs)).toThrow(RangeError);
  });
});

describe('WebAssembly runs', () => {
  it('equal runsFromMask of image > threshold (widths around the 8-pixel blocks, NaN pixels)', () => {
    const rnd = seededRandom(12);
    for (const [W, H] of [
      [1, 5],
      [7, 6],
      [8, 3],
      [9, 9],
      [16, 4],
      [37, 23],
      [64, 31],
    ]) {
      const blur = new WasmBlur(blurModule, W, H);
      const want = new Runs(W, H);
      const got = new Runs(W, H);
      for (const p of [0.1, 0.5, 0.9]) {
        const img = new Float32Array(W * H);
        for (let i = 0; i < W * H; i++) img[i] = rnd() < p ? 100 + rnd() : rnd();
        img[Math.floor(rnd() * W * H)] = NaN;
        // σ 0: the blur copies the image, so the threshold is chosen here.
        const smooth = Float64Array.from(blur.blur(img, gaussianKernel(0)));
        for (const t of [0.5, -1, 1000]) {
          const tag = `${W}×${H} p=${p} t=${t}`;
          blur.runs(t, got);
          runsFromMask(Uint8Array.from(smooth, (v) => (v > t ? 1 : 0)), want);
          expect(got.count, tag).toBe(want.count);
          expect(Array.from(got.rowStart), tag).toEqual(Array.from(want.rowStart));
          expect(Array.from(got.x0.subarray(0, got.count)), tag).toEqual(Array.from(want.x0.subarray(0, want.count)));
          expect(Array.from(got.x1.subarray(0, got.count)), tag).toEqual(Array.from(want.x1.subarray(0, want.count)));
        }
        // After a real blur, at Otsu's threshold.
        const smoothed = Float64Array.from(blur.blur(img.map((v) => (Number.isNaN(v) ? 0 : v)), gaussianKernel(1.5)));
        const t = blur.otsuThreshold(256);
        expect(t).toBe(otsuThreshold(smoothed, 256));
        blur.runs(t, got);
        runsFromMask(Uint8Array.from(smoothed, (v) => (v > t ? 1 : 0)), want);
        expect(Array.from(got.x0.subarray(0, got.count))).toEqual(Array.from(want.x0.subarray(0, want.count)));
        expect(Array.from(got.x1.subarray(0, got.count))).toEqual(Array.from(want.x1.subarray(0, want.count)));
      }
    }
  });
});

describe('Segmenter.segmentRuns', () => {
  it('gives the objects of segment (TypeScript and WebAssembly blur, Otsu and Sauvola, filters)', () => {
    const rnd = seededRandom(77);
    const W = 83;
    const H = 61;
    const img = new Float32Array(W * H);
    for (let i = 0; i < W * H; i++) img[i] = 100 + 30 * rnd();
    for (let b = 0; b < 30; b++) {
      const cx = rnd() * W;
      const cy = rnd() * H;
      const r = 1 + rnd() * 6;
      const v = 200 + 400 * rnd();
      for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) if ((x - cx) ** 2 + (y - cy) ** 2 <= r * r) img[y * W + x] = v;
    }
    for (let y = 0; y < H; y++) img[y * W] = NaN; // a warp border
    const runs = new Runs(W, H);
    const want = new Int32Array(W * H);
    const got = new Int32Array(W * H);
    for (const opts of [
      { sigma: 2, minArea: 20 },
      { sigma: 1.3, connectivity: 2, minArea: 5, maxArea: 300, excludeBorder: true },
      { sigma: 0 },
      { sigma: 1, method: 'sauvola', window: 15, r: 200, connectivity: 2, minArea: 3 },
    ] as SegmentOptions[]) {
      for (const blur of [undefined, blurModule]) {
        const seg = new Segmenter(W, H, blur);
        const a = seg.segment(img, opts, want, true);
        const b = seg.segmentRuns(img, opts, runs, true);
        const tag = `${JSON.stringify(opts)}${blur ? ' WebAssembly' : ''}`;
        expect(a.count, tag).toBeGreaterThan(0);
        expect([b.count, b.rawCount, b.threshold], tag).toEqual([a.count, a.rawCount, a.threshold]);
        paintRuns(runs, got);
        expect(Array.from(got), tag).toEqual(Array.from(want));
      }
    }
  });
});

describe('ObjectTracker.updateRuns', () => {
  it('links and measures as update on the label images (random moving blobs)', () => {
    const W = 96;
    const H = 72;
    const rnd = seededRandom(5);
    const lab = new Labeller(W, H);
    const rl = new RunLabeller();
    const byLabels = new ObjectTracker(W, H, { maxDisplacement: 6 });
    const byRuns = new ObjectTracker(W, H, { maxDisplacement: 6 });
    const labels = new Int32Array(W * H);
    const runs = new Runs(W, H);
    const blobs = Array.from({ length: 25 }, () => ({ x: rnd() * W, y: rnd() * H, r: 1.5 + rnd() * 4, vx: 3 * (rnd() - 0.5), vy: 3 * (rnd() - 0.5) }));
    const plain = (f: TrackFrame): unknown => ({
      ids: Array.from(f.trackIds),
      births: f.births,
      deaths: f.deaths,
      cx: Array.from(f.centroidX),
      cy: Array.from(f.centroidY),
      d: Array.from(f.displacement),
      s: Array.from(f.speed),
    });
    for (let t = 0; t < 60; t++) {
      const m = new Uint8Array(W * H);
      for (const b of blobs) {
        b.x += b.vx;
        b.y += b.vy;
        for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) if ((x - b.x) ** 2 + (y - b.y) ** 2 <= b.r * b.r) m[y * W + x] = 1;
      }
      const count = lab.labelFiltered(m, 1, labels, 3, Infinity, false);
      runsFromMask(m, runs);
      expect(rl.label(runs, 1, 3, Infinity, false)).toBe(count);
      expect(plain(byRuns.updateRuns(runs, count, t * 50)), `frame ${t}`).toEqual(plain(byLabels.update(labels, count, t * 50)));
    }
  });
});
