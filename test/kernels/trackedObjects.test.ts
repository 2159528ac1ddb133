import { describe, expect, it } from 'vitest';
import { TrackedObjects } from '../../src/kernels/trackedObjects.js';

/** Discs of known intensity moving at known velocities, rendered on a flat background. */
function render(w: number, h: number, discs: { x: number; y: number; r: number; v: number }[]): Float32Array {
  const img = new Float32Array(w * h).fill(100);
  for (const d of discs) {
    for (let y = Math.floor(d.y - d.r); y <= Math.ceil(d.y + d.r); y++) {
      for (let x = Math.floor(d.x - d.r); x <= Math.ceil(d.x + d.r); x++) {
        if (x >= 0 && y >= 0 && x < w && y < h && (x - d.x) ** 2 + (y - d.y) ** 2 <= d.r * d.r) img[y * w + x] = d.v;
      }
    }
  }
  return img;
}

describe('TrackedObjects', () => {
  const W = 80;
  const H = 60;
  const opts = { sigma: 0, method: 'otsu' as const, minArea: 3 };

  it('keeps track ids, measures area, intensity, displacement and speed, and reports births and deaths', () => {
    const t = new TrackedObjects(W, H, opts, 6);
    const frameMs = 100;
    const seen: { ids: number[]; changed: boolean; births: number[]; deaths: number[] }[] = [];
    let last = null as ReturnType<TrackedObjects['measure']> | null;
    for (let i = 0; i < 20; i++) {
      const discs = [
        { x: 10 + 2 * i, y: 15, r: 3, v: 1000 },
        { x: 60, y: 10 + i, r: 2.5, v: 600 },
      ];
      if (i >= 5 && i < 15) discs.push({ x: 30, y: 45, r: 3, v: 800 });
      const plane = render(W, H, discs);
      if (i === 7) plane[0] = NaN; // a pixel outside the registered frame must not matter
      last = t.measure(plane, i * frameMs);
      seen.push({ ids: Array.from(last.ids), changed: last.changed, births: last.births, deaths: last.deaths });
    }
    expect(seen[0]).toEqual({ ids: [1, 2], changed: true, births: [1, 2], deaths: [] });
    expect(seen[4].changed).toBe(false);
    expect(seen[5]).toEqual({ ids: [1, 2, 3], changed: true, births: [3], deaths: [] });
    expect(seen[15]).toEqual({ ids: [1, 2], changed: true, births: [], deaths: [3] });
    for (const s of seen) expect(s.ids.slice(0, 2)).toEqual([1, 2]);
    const f = (last as NonNullable<typeof last>).features;
    // Ids follow the first frame's raster order: track 1 is the disc at x = 60 (it starts higher up),
    // moving 1 px per 100 ms; track 2 the one moving 2 px per 100 ms along y = 15.
    expect(f.AreaShape_Center_X[0]).toBeCloseTo(60, 9);
    expect(f.AreaShape_Center_Y[0]).toBeCloseTo(29, 9);
    expect(f.Track_Displacement[0]).toBeCloseTo(19, 9);
    expect(f.Track_Speed[0]).toBeCloseTo(10, 9);
    expect(f.AreaShape_Center_X[1]).toBeCloseTo(10 + 2 * 19, 9);
    expect(f.Track_Displacement[1]).toBeCloseTo(38, 9);
    expect(f.Track_Speed[1]).toBeCloseTo(20, 9);
    expect(f.Intensity_MeanIntensity[0]).toBe(600);
    expect(f.Intensity_MeanIntensity[1]).toBe(1000);
    expect(f.Intensity_IntegratedIntensity[1]).toBe(1000 * f.AreaShape_Area[1]);
  });
});
