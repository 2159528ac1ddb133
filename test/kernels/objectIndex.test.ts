import { describe, expect, it } from 'vitest';
import { buildObjectIndex, type LabelArray, type ObjectIndex } from '../../src/kernels/objectIndex.js';
import { seededRandom } from '../helpers/random.js';

/**
 * buildObjectIndex against a direct reference: per distinct positive label in
 * ascending order, its pixels in raster order, and its edge pixels (an object
 * pixel with a 4-neighbour inside the image that carries another label,
 * background included; the image border alone does not make an edge).
 */

function reference(labels: ArrayLike<number>, W: number, H: number) {
  const ids = [...new Set(Array.from(labels).filter((v) => v !== 0))].sort((a, b) => a - b);
  const pixels: number[][] = ids.map(() => []);
  const edges: number[][] = ids.map(() => []);
  const k = new Map(ids.map((v, i) => [v, i]));
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = y * W + x;
      const v = labels[i];
      if (v === 0) continue;
      const o = k.get(v) as number;
      pixels[o].push(i);
      const nb: number[] = [];
      if (x > 0) nb.push(labels[i - 1]);
      if (x < W - 1) nb.push(labels[i + 1]);
      if (y > 0) nb.push(labels[i - W]);
      if (y < H - 1) nb.push(labels[i + W]);
      if (nb.some((u) => u !== v)) edges[o].push(i);
    }
  }
  return { ids, pixels, edges };
}

function check(labels: LabelArray, W: number, H: number): ObjectIndex {
  const idx = buildObjectIndex(labels, W, H);
  const ref = reference(labels, W, H);
  expect(idx.width).toBe(W);
  expect(idx.height).toBe(H);
  expect(idx.count).toBe(ref.ids.length);
  expect(Array.from(idx.ids)).toEqual(ref.ids);
  expect(idx.offsets.length).toBe(ref.ids.length + 1);
  expect(idx.edgeOffsets.length).toBe(ref.ids.length + 1);
  expect(idx.offsets[0]).toBe(0);
  expect(idx.edgeOffsets[0]).toBe(0);
  // Compared in one go (per-object expect calls are slow for 10 000 objects).
  const got: number[][] = [];
  const gotEdges: number[][] = [];
  for (let k = 0; k < idx.count; k++) {
    got.push(Array.from(idx.pixels.subarray(idx.offsets[k], idx.offsets[k + 1])));
    gotEdges.push(Array.from(idx.edgePixels.subarray(idx.edgeOffsets[k], idx.edgeOffsets[k + 1])));
  }
  expect(got).toEqual(ref.pixels);
  expect(gotEdges).toEqual(ref.edges);
  expect(idx.pixels.length).toBe(idx.offsets[idx.count]);
  expect(idx.edgePixels.length).toBe(idx.edgeOffsets[idx.count]);
  // slot: k + 1 of the pixel's object, 0 for background.
  const slotOf = new Map(ref.ids.map((v, k) => [v, k + 1]));
  const expectedSlot = Int32Array.from(labels, (v) => (v === 0 ? 0 : (slotOf.get(v) as number)));
  expect(idx.slot).toEqual(expectedSlot);
  return idx;
}

describe('buildObjectIndex', () => {
  it('CSR offsets and raster order on a small hand case', () => {
    // prettier-ignore
    const lab = Uint8Array.from([
      1, 1, 0, 2,
      1, 1, 0, 2,
      0, 0, 0, 2,
      3, 0, 2, 2,
    ]);
    const idx = check(lab, 4, 4);
    expect(Array.from(idx.ids)).toEqual([1, 2, 3]);
    expect(Array.from(idx.offsets)).toEqual([0, 4, 9, 10]);
    expect(Array.from(idx.pixels)).toEqual([0, 1, 4, 5, 3, 7, 11, 14, 15, 12]);
  });

  it('edge pixels: neighbours of another label or background; the image border alone is not an edge', () => {
    // A 5×5 object filling the image has no edge pixel at all.
    const full = new Int32Array(25).fill(7);
    const a = check(full, 5, 5);
    expect(a.count).toBe(1);
    expect(a.edgePixels.length).toBe(0);
    // A 3×3 square in a 5×5 background: its 8 outer pixels are edges, the centre is not.
    const sq = new Uint16Array(25);
    for (let y = 1; y < 4; y++) for (let x = 1; x < 4; x++) sq[y * 5 + x] = 4;
    const b = check(sq, 5, 5);
    expect(Array.from(b.edgePixels)).toEqual([6, 7, 8, 11, 13, 16, 17, 18]);
    // Two touching objects (no background between): the shared boundary is edge on both sides,
    // the image border is not. Left half label 1, right half label 2, 4×3.
    // prettier-ignore
    const two = Int32Array.from([
      1, 1, 2, 2,
      1, 1, 2, 2,
      1, 1, 2, 2,
    ]);
    const c = check(two, 4, 3);
    expect(Array.from(c.edgePixels.subarray(c.edgeOffsets[0], c.edgeOffsets[1]))).toEqual([1, 5, 9]);
    expect(Array.from(c.edgePixels.subarray(c.edgeOffsets[1], c.edgeOffsets[2]))).toEqual([2, 6, 10]);
    // Diagonal neighbours do not count: a pixel whose only other-label neighbour is diagonal is interior.
    // prettier-ignore
    const diag = Uint8Array.from([
      1, 1, 1,
      1, 1, 1,
      1, 1, 2,
    ]);
    const d = check(diag, 3, 3);
    expect(Array.from(d.edgePixels.subarray(0, d.edgeOffsets[1]))).toEqual([5, 7]);
  });

  it('label gaps and labels not starting at 1', () => {
    const lab = new Uint32Array(30);
    lab[3] = 9;
    lab[4] = 9;
    lab[10] = 5;
    lab[29] = 120;
    lab[0] = 120;
    const idx = check(lab, 6, 5);
    expect(Array.from(idx.ids)).toEqual([5, 9, 120]);
    expect(Array.from(idx.offsets)).toEqual([0, 1, 3, 5]);
    expect(Array.from(idx.pixels.subarray(3))).toEqual([0, 29]);
  });

  it('sparse huge labels (beyond the dense lookup)', () => {
    const lab = new Int32Array(16);
    lab[0] = 2_000_000_000;
    lab[5] = 1;
    lab[6] = 2_000_000_000;
    lab[15] = 70_000;
    const idx = check(lab, 4, 4);
    expect(Array.from(idx.ids)).toEqual([1, 70_000, 2_000_000_000]);
    expect(Array.from(idx.slot)).toEqual([3, 0, 0, 0, 0, 1, 3, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
  });

  it('empty label image (all background) and a 0×0 image', () => {
    const idx = check(new Uint8Array(12), 4, 3);
    expect(idx.count).toBe(0);
    expect(Array.from(idx.offsets)).toEqual([0]);
    expect(idx.pixels.length).toBe(0);
    const z = buildObjectIndex(new Uint8Array(0), 0, 0);
    expect(z.count).toBe(0);
  });

  it('1-pixel objects are their own edge unless alone in a 1×1 image', () => {
    const lab = new Uint8Array(9);
    lab[4] = 3;
    const idx = check(lab, 3, 3);
    expect(Array.from(idx.edgePixels)).toEqual([4]);
    const one = check(Uint8Array.from([6]), 1, 1);
    expect(one.count).toBe(1);
    expect(one.edgePixels.length).toBe(0);
  });

  it('rejects short arrays and negative labels', () => {
    expect(() => buildObjectIndex(new Uint8Array(5), 3, 2)).toThrow(RangeError);
    expect(() => buildObjectIndex(Int32Array.from([0, -1, 0, 0]), 2, 2)).toThrow(RangeError);
  });

  it('ten thousand tiny objects (1- and 2-pixel, 200×200)', () => {
    const W = 200;
    const H = 200;
    const lab = new Int32Array(W * H);
    let next = 0;
    // One object every other pixel on even rows: 100 per row × 100 rows = 10 000.
    for (let y = 0; y < H; y += 2) {
      for (let x = 0; x < W; x += 2) {
        lab[y * W + x] = ++next;
        if ((x / 2 + y / 2) % 3 === 0 && y + 1 < H) lab[(y + 1) * W + x] = next;
      }
    }
    expect(next).toBe(10_000);
    const idx = check(lab, W, H);
    expect(idx.count).toBe(10_000);
    // Every pixel of a 1- or 2-pixel object isolated by background is an edge pixel.
    expect(Array.from(idx.edgeOffsets)).toEqual(Array.from(idx.offsets));
  });

  it('random label images (gaps, touching objects, odd sizes) match the reference', () => {
    const r = seededRandom(77);
    for (const [W, H] of [
      [1, 9],
      [9, 1],
      [13, 7],
      [31, 29],
    ]) {
      const lab = new Uint16Array(W * H);
      // Random rectangles with random labels (some repeated: disconnected objects share a label).
      for (let n = 0; n < 12; n++) {
        const v = 1 + Math.floor(r() * 40) * 3;
        const x0 = Math.floor(r() * W);
        const y0 = Math.floor(r() * H);
        const x1 = Math.min(W, x0 + 1 + Math.floor(r() * 6));
        const y1 = Math.min(H, y0 + 1 + Math.floor(r() * 6));
        for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) lab[y * W + x] = v;
      }
      check(lab, W, H);
    }
  });
});
