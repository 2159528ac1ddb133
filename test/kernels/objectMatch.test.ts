import { describe, expect, it } from 'vitest';
import { buildObjectIndex } from '../../src/kernels/objectIndex.js';
import { matchObjects } from '../../src/kernels/objectMatch.js';

const W = 40;
const H = 30;

function rects(list: [number, number, number, number, number][]): Int32Array {
  const l = new Int32Array(W * H);
  for (const [label, x0, y0, w, h] of list) for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) l[y * W + x] = label;
  return l;
}

describe('matchObjects (stable ids across re-segmentation)', () => {
  const before = buildObjectIndex(rects([[1, 2, 2, 10, 10], [2, 20, 5, 6, 6], [3, 30, 20, 5, 5]]), W, H);
  const ids = Int32Array.from([11, 12, 13]);

  it('keeps every id when the objects are the same, whatever their new label numbers', () => {
    const after = buildObjectIndex(rects([[5, 2, 2, 10, 10], [1, 20, 5, 6, 6], [9, 30, 20, 5, 5]]), W, H);
    const m = matchObjects(before, ids, after, 14);
    // New objects in label order 1 (was 12), 5 (was 11), 9 (was 13).
    expect(Array.from(m.ids)).toEqual([12, 11, 13]);
    expect(m.matched).toBe(3);
    expect(m.nextFreeId).toBe(14);
  });

  it('keeps the id of an object that moved a little (IoU ≥ 0.5), gives new ids to new and much-changed ones', () => {
    // Object 1 shifted by 2 px: IoU = 80/120 ≥ 0.5. Object 2 shrunk to 2×2: IoU 4/36 < 0.5. Object 3 gone; one new.
    const after = buildObjectIndex(rects([[1, 4, 2, 10, 10], [2, 20, 5, 2, 2], [3, 2, 20, 4, 4]]), W, H);
    const m = matchObjects(before, ids, after, 14);
    expect(Array.from(m.ids)).toEqual([11, 14, 15]);
    expect(m.matched).toBe(1);
    expect(m.nextFreeId).toBe(16);
  });

  it('never gives one old id to two new objects', () => {
    // Object 1 split into two halves: each has IoU 0.5 with it; the first (lower label) keeps the id.
    const after = buildObjectIndex(rects([[1, 2, 2, 5, 10], [2, 7, 2, 5, 10]]), W, H);
    const m = matchObjects(before, ids, after, 14);
    expect(Array.from(m.ids)).toEqual([11, 14]);
  });

  it('refuses segmentations of different sizes', () => {
    expect(() => matchObjects(before, ids, buildObjectIndex(new Int32Array(4), 2, 2), 1)).toThrow(/size/);
  });
});
