import { describe, expect, it } from 'vitest';
import { Labeller } from '../../src/kernels/label.js';
import { ObjectTracker, type TrackFrame } from '../../src/kernels/tracker.js';
import { seededRandom } from '../helpers/random.js';

/**
 * Synthetic particles: discs (x − cx)² + (y − cy)² ≤ r² rendered into a mask
 * and labelled with 4-connectivity (as the segmenter does), so that touching
 * particles merge into one object exactly as they would in a real frame.
 * A particle's object is the label under its (rounded) centre.
 */
interface Particle {
  x: number;
  y: number;
  r: number;
}

class Scene {
  readonly mask: Uint8Array;
  readonly labels: Int32Array;
  private readonly labeller: Labeller;
  constructor(
    readonly W: number,
    readonly H: number,
  ) {
    this.mask = new Uint8Array(W * H);
    this.labels = new Int32Array(W * H);
    this.labeller = new Labeller(W, H);
  }

  render(ps: readonly Particle[]): number {
    const { W, H, mask } = this;
    mask.fill(0);
    for (const p of ps) {
      const r = p.r;
      for (let y = Math.max(0, Math.ceil(p.y - r)); y <= Math.min(H - 1, Math.floor(p.y + r)); y++) {
        for (let x = Math.max(0, Math.ceil(p.x - r)); x <= Math.min(W - 1, Math.floor(p.x + r)); x++) {
          if ((x - p.x) ** 2 + (y - p.y) ** 2 <= r * r) mask[y * W + x] = 1;
        }
      }
    }
    return this.labeller.label(mask, 1, this.labels);
  }

  labelAt(p: Particle): number {
    return this.labels[Math.round(p.y) * this.W + Math.round(p.x)];
  }
}

/** Copies a frame (its arrays are views valid until the next update). */
function snap(f: TrackFrame) {
  return {
    count: f.count,
    ids: Array.from(f.trackIds),
    births: [...f.births],
    deaths: [...f.deaths],
    cx: Array.from(f.centroidX),
    cy: Array.from(f.centroidY),
    disp: Array.from(f.displacement),
    speed: Array.from(f.speed),
  };
}

/**
 * Runs a scene through the tracker and counts identity switches: a particle
 * present in two consecutive frames whose object's track id differs.
 */
function runScene(
  frames: Particle[][],
  W: number,
  H: number,
  maxDisplacement: number,
  dtMs = 100,
): { switches: number; switchesAt: Array<[number, number]>; frames: ReturnType<typeof snap>[]; allBirths: number[] } {
  const scene = new Scene(W, H);
  const tracker = new ObjectTracker(W, H, { maxDisplacement });
  let prevIds: number[] | null = null;
  let switches = 0;
  const switchesAt: Array<[number, number]> = [];
  const out: ReturnType<typeof snap>[] = [];
  const allBirths: number[] = [];
  frames.forEach((ps, t) => {
    const count = scene.render(ps);
    const f = tracker.update(scene.labels, count, t * dtMs);
    allBirths.push(...f.births);
    const ids = ps.map((p) => f.trackIds[scene.labelAt(p) - 1]);
    if (prevIds && prevIds.length === ids.length) {
      ids.forEach((id, j) => {
        if (id !== (prevIds as number[])[j]) {
          switches++;
          switchesAt.push([t, j]);
        }
      });
    }
    prevIds = ids;
    out.push(snap(f));
  });
  return { switches, switchesAt, frames: out, allBirths };
}

describe('ObjectTracker: straight constant-velocity motion', () => {
  it('integer steps: one track, exact speed and displacement', () => {
    const frames: Particle[][] = [];
    for (let t = 0; t < 30; t++) {
      frames.push([
        { x: 10 + 2 * t, y: 10 + t, r: 3 },
        { x: 100 - 3 * t, y: 80, r: 4 },
      ]);
    }
    const { switches, frames: fs, allBirths } = runScene(frames, 128, 128, 6);
    expect(switches).toBe(0);
    expect(allBirths).toEqual([1, 2]);
    expect(fs[0].births).toEqual([1, 2]);
    expect(fs[0].speed.every(Number.isNaN)).toBe(true);
    expect(fs[0].disp).toEqual([0, 0]);
    for (let t = 1; t < 30; t++) {
      const f = fs[t];
      expect(f.births).toEqual([]);
      expect(f.deaths).toEqual([]);
      // Label order is raster order of first pixel: particle 0 starts at row 7+t, particle 1 at row 76.
      const k0 = f.cy.findIndex((y) => y === 10 + t);
      const k1 = f.cy.findIndex((y) => y === 80);
      expect(f.cx[k0]).toBe(10 + 2 * t);
      expect(f.cx[k1]).toBe(100 - 3 * t);
      expect(f.ids[k0]).toBe(1);
      expect(f.ids[k1]).toBe(2);
      expect(f.speed[k0]).toBe(Math.hypot(2, 1) * 10); // px per 100 ms → px/s
      expect(f.speed[k1]).toBe(30);
      expect(f.disp[k0]).toBeCloseTo(t * Math.hypot(2, 1), 12);
      expect(f.disp[k1]).toBe(3 * t);
    }
  });

  it('sub-pixel steps: speed and displacement within discretisation', () => {
    const vx = 0.7;
    const vy = -0.45;
    const frames: Particle[][] = [];
    for (let t = 0; t < 40; t++) frames.push([{ x: 20 + vx * t, y: 60 + vy * t, r: 4.5 }]);
    const { switches, frames: fs } = runScene(frames, 96, 96, 3, 50);
    expect(switches).toBe(0);
    const v = Math.hypot(vx, vy);
    for (let t = 1; t < 40; t++) {
      const f = fs[t];
      expect(f.ids).toEqual([1]);
      // Centroid of a rasterised disc of radius 4.5 is within ~0.15 px of the centre.
      expect(Math.abs(f.cx[0] - (20 + vx * t))).toBeLessThan(0.2);
      expect(Math.abs(f.cy[0] - (60 + vy * t))).toBeLessThan(0.2);
      expect(Math.abs(f.disp[0] - v * t)).toBeLessThan(0.3);
      expect(Math.abs(f.speed[0] - v * 20)).toBeLessThan(0.4 * 20); // px per 50 ms ± 0.4 px
    }
  });
});

describe('ObjectTracker: random walks', () => {
  it('separated random walkers keep their ids; displacement is from the first centroid', () => {
    const rnd = seededRandom(7);
    const N = 12;
    const ps: Particle[] = [];
    for (let j = 0; j < N; j++) ps.push({ x: 20 + 40 * (j % 4), y: 20 + 40 * Math.floor(j / 4), r: 3 });
    const home = ps.map((p) => ({ ...p }));
    const frames: Particle[][] = [];
    for (let t = 0; t < 100; t++) {
      frames.push(ps.map((p) => ({ ...p })));
      ps.forEach((p, j) => {
        p.x = Math.min(home[j].x + 8, Math.max(home[j].x - 8, p.x + (rnd() * 2 - 1) * 2.5));
        p.y = Math.min(home[j].y + 8, Math.max(home[j].y - 8, p.y + (rnd() * 2 - 1) * 2.5));
      });
    }
    const res = runScene(frames, 180, 140, 6);
    expect(res.switches).toBe(0);
    expect(res.allBirths).toEqual(Array.from({ length: N }, (_, i) => i + 1));
    const first = new Map<number, [number, number]>();
    const last = new Map<number, [number, number]>();
    res.frames.forEach((f, t) => {
      if (t > 0) {
        expect(f.births).toEqual([]);
        expect(f.deaths).toEqual([]);
      }
      f.ids.forEach((id, k) => {
        if (!first.has(id)) first.set(id, [f.cx[k], f.cy[k]]);
        const [fx, fy] = first.get(id) as [number, number];
        expect(f.disp[k]).toBeCloseTo(Math.hypot(f.cx[k] - fx, f.cy[k] - fy), 12);
        if (t > 0) {
          const [lx, ly] = last.get(id) as [number, number];
          expect(f.speed[k]).toBeCloseTo(Math.hypot(f.cx[k] - lx, f.cy[k] - ly) * 10, 10);
        }
        last.set(id, [f.cx[k], f.cy[k]]);
      });
    });
  });
});

describe('ObjectTracker: crossings', () => {
  /**
   * Two discs crossing in an X. While they touch they are one object: at the
   * merge the larger overlap keeps one id and the other track dies (1 switch);
   * at the split the piece with the larger overlap keeps the merged id and the
   * other is a birth (1 switch). So exactly 2 switches per merging crossing,
   * whichever particle ends up with which id.
   */
  it('merging crossing: exactly 2 id switches (one at the merge, one at the split)', () => {
    const frames: Particle[][] = [];
    for (let t = 0; t <= 40; t++) {
      frames.push([
        { x: 10 + 1.5 * t, y: 10 + 1.5 * t, r: 3 },
        { x: 70 - 1.5 * t, y: 10 + 1.5 * t, r: 3 },
      ]);
    }
    const res = runScene(frames, 96, 96, 5);
    expect(res.switches).toBe(2);
    const merged = res.frames.findIndex((f) => f.count === 1);
    const split = res.frames.findIndex((f, t) => t > merged && f.count === 2);
    expect(merged).toBeGreaterThan(0);
    expect(res.frames[merged].deaths.length).toBe(1);
    expect(res.frames[merged].births).toEqual([]);
    expect(res.frames[split].births).toEqual([3]);
    expect(res.frames[split].deaths).toEqual([]);
    expect(res.switchesAt.map(([t]) => t)).toEqual([merged, split]);
    expect(res.allBirths).toEqual([1, 2, 3]);
  });

  it('passing crossing without touching (fast, nearest-centroid only): ≤ 2 switches, 0 when lanes are apart', () => {
    // Discs r = 1.5 moving 6 px/frame never overlap their previous disc: linking is by nearest centroid.
    // On separate lanes 12 px apart (> maxDisplacement = 8) they can never be confused.
    const lanes: Particle[][] = [];
    for (let t = 0; t <= 20; t++) {
      lanes.push([
        { x: 4 + 6 * t, y: 20, r: 1.5 },
        { x: 124 - 6 * t, y: 32, r: 1.5 },
      ]);
    }
    expect(runScene(lanes, 128, 64, 8).switches).toBe(0);
    // Close lanes (4 px apart): near the meeting point the other particle's old centroid can be nearer;
    // greedy nearest-first can swap both ids there (2 switches) — never more, as they separate again.
    const close: Particle[][] = [];
    for (let t = 0; t <= 20; t++) {
      close.push([
        { x: 5 + 6 * t, y: 20, r: 1.5 },
        { x: 123 - 6 * t, y: 24, r: 1.5 },
      ]);
    }
    const res = runScene(close, 128, 64, 8);
    expect(res.switches).toBeLessThanOrEqual(2);
    expect(res.switches % 2).toBe(0);
  });
});

describe('ObjectTracker: births, deaths, splits, merges', () => {
  it('appearances and disappearances at the right frames; ids never reused', () => {
    // Particle A: frames 0–9; B: frames 3–14; C: frames 6–7, then again 11–14 (a new track).
    const frames: Particle[][] = [];
    const present: Array<[string, number][]> = [];
    for (let t = 0; t < 15; t++) {
      const ps: Particle[] = [];
      const who: [string, number][] = [];
      const add = (name: string, p: Particle) => {
        who.push([name, ps.length]);
        ps.push(p);
      };
      if (t <= 9) add('A', { x: 10 + t, y: 10, r: 3 });
      if (t >= 3) add('B', { x: 40, y: 30 + t, r: 3 });
      if ((t >= 6 && t <= 7) || t >= 11) add('C', { x: 70, y: 20, r: 3 });
      frames.push(ps);
      present.push(who);
    }
    const res = runScene(frames, 96, 64, 5);
    const f = res.frames;
    expect(f[0].births).toEqual([1]); // A
    expect(f[3].births).toEqual([2]); // B
    expect(f[6].births).toEqual([3]); // C
    expect(f[8].deaths).toEqual([3]);
    expect(f[10].deaths).toEqual([1]);
    expect(f[11].births).toEqual([4]); // C again: a new id
    for (let t = 0; t < 15; t++) {
      const expectedBirths = [0, 3, 6, 11].includes(t) ? 1 : 0;
      const expectedDeaths = [8, 10].includes(t) ? 1 : 0;
      expect(f[t].births.length).toBe(expectedBirths);
      expect(f[t].deaths.length).toBe(expectedDeaths);
      expect(f[t].count).toBe(present[t].length);
    }
    expect(new Set(res.allBirths).size).toBe(res.allBirths.length);
    expect(res.allBirths).toEqual([1, 2, 3, 4]);
  });

  it('split: the piece with the largest overlap keeps the id, the others are births', () => {
    const W = 40;
    const H = 10;
    const tr = new ObjectTracker(W, H, { maxDisplacement: 3 });
    const a = new Int32Array(W * H);
    for (let y = 2; y < 6; y++) for (let x = 5; x < 35; x++) a[y * W + x] = 1;
    tr.update(a, 1, 0);
    // Split into three: x 5–9 (label 1), 12–27 (label 2, largest), 30–34 (label 3).
    const b = new Int32Array(W * H);
    for (let y = 2; y < 6; y++) {
      for (let x = 5; x < 10; x++) b[y * W + x] = 1;
      for (let x = 12; x < 28; x++) b[y * W + x] = 2;
      for (let x = 30; x < 35; x++) b[y * W + x] = 3;
    }
    const f = snap(tr.update(b, 3, 100));
    expect(f.ids).toEqual([2, 1, 3]);
    expect(f.births).toEqual([2, 3]);
    expect(f.deaths).toEqual([]);
    expect(f.speed[1]).toBe(0); // centroid x 19.5 before and after
    expect(f.speed[0]).toBeNaN();
    // Merge back: the largest overlapping previous object (id 1) gives its id; 2 and 3 die.
    const g = snap(tr.update(a, 1, 200));
    expect(g.ids).toEqual([1]);
    expect(g.births).toEqual([]);
    expect(g.deaths).toEqual([2, 3]);
  });

  it('equal overlaps: the lower current label wins a split, the lower previous label a merge', () => {
    const W = 20;
    const H = 4;
    const tr = new ObjectTracker(W, H, { maxDisplacement: 0 });
    const one = new Int32Array(W * H);
    for (let x = 2; x < 18; x++) one[W + x] = 1;
    const two = new Int32Array(W * H);
    for (let x = 2; x < 9; x++) two[W + x] = 1;
    for (let x = 11; x < 18; x++) two[W + x] = 2;
    tr.update(one, 1, 0);
    expect(Array.from(tr.update(two, 2, 1).trackIds)).toEqual([1, 2]);
    const m = tr.update(one, 1, 2);
    expect(Array.from(m.trackIds)).toEqual([1]);
    expect(m.deaths).toEqual([2]);
  });

  it('overlap wins over a nearer centroid, and minOverlap filters small overlaps', () => {
    const W = 30;
    const H = 30;
    // Previous: a big square A (label 1) and a small square B (label 2).
    const p = new Int32Array(W * H);
    for (let y = 2; y < 12; y++) for (let x = 2; x < 12; x++) p[y * W + x] = 1;
    for (let y = 20; y < 22; y++) for (let x = 20; x < 22; x++) p[y * W + x] = 2;
    // Current: one object overlapping A by 2 px (its corner), centroid nearer to B.
    const c = new Int32Array(W * H);
    for (let y = 11; y < 21; y++) for (let x = 11; x < 21; x++) if (!(y < 11 || x < 11)) c[y * W + x] = 1;
    const t1 = new ObjectTracker(W, H, { maxDisplacement: 50 });
    t1.update(p, 2, 0);
    const f1 = t1.update(c, 1, 1);
    expect(Array.from(f1.trackIds)).toEqual([1]); // by overlap (1 px at (11,11)); B overlaps too, by 1 px at (20,20)
    const t2 = new ObjectTracker(W, H, { maxDisplacement: 50, minOverlap: 5 });
    t2.update(p, 2, 0);
    const f2 = t2.update(c, 1, 1);
    // No overlap ≥ 5: nearest centroid — current centroid (15.5, 15.5); A at (6.5, 6.5), B at (20.5, 20.5).
    expect(Array.from(f2.trackIds)).toEqual([2]);
    expect(f2.deaths).toEqual([1]);
  });

  it('empty frame: every track dies; the next objects are births with new ids', () => {
    const scene = new Scene(64, 64);
    const tr = new ObjectTracker(64, 64, { maxDisplacement: 10 });
    const ps = [
      { x: 10, y: 10, r: 3 },
      { x: 40, y: 40, r: 3 },
    ];
    let n = scene.render(ps);
    expect(tr.update(scene.labels, n, 0).births).toEqual([1, 2]);
    n = scene.render([]);
    const e = tr.update(scene.labels, n, 100);
    expect(e.count).toBe(0);
    expect(e.trackIds.length).toBe(0);
    expect(e.deaths).toEqual([1, 2]);
    expect(tr.update(scene.labels, 0, 200).deaths).toEqual([]);
    n = scene.render(ps);
    const f = tr.update(scene.labels, n, 300);
    expect(f.births).toEqual([3, 4]);
    expect(Array.from(f.speed).every(Number.isNaN)).toBe(true);
  });

  it('a jump beyond maxDisplacement is a death and a birth; within it, a link', () => {
    const frames: Particle[][] = [[{ x: 10, y: 10, r: 2 }], [{ x: 19, y: 10, r: 2 }], [{ x: 30, y: 10, r: 2 }]];
    const res = runScene(frames, 64, 32, 10);
    expect(res.frames[1].ids).toEqual([1]); // 9 px, no overlap: nearest centroid within 10
    expect(res.frames[1].speed[0]).toBe(90);
    expect(res.frames[2].ids).toEqual([2]); // 11 px > 10
    expect(res.frames[2].births).toEqual([2]);
    expect(res.frames[2].deaths).toEqual([1]);
    expect(res.frames[2].disp).toEqual([0]);
  });

  it('reset() forgets the tracks but never reuses ids; bad labels throw without corrupting state', () => {
    const scene = new Scene(32, 32);
    const tr = new ObjectTracker(32, 32, { maxDisplacement: 5 });
    const n = scene.render([{ x: 10, y: 10, r: 3 }]);
    tr.update(scene.labels, n, 0);
    expect(() => tr.update(scene.labels, 0, 50)).toThrow(RangeError);
    expect(() => tr.update(new Int32Array(10), 0, 50)).toThrow(RangeError);
    const f = tr.update(scene.labels, n, 100);
    expect(Array.from(f.trackIds)).toEqual([1]);
    expect(f.speed[0]).toBe(0);
    tr.reset();
    const g = tr.update(scene.labels, n, 200);
    expect(g.births).toEqual([2]);
    expect(g.deaths).toEqual([]);
  });
});

describe('ObjectTracker: random multi-particle scenes (50 particles, 200 frames)', () => {
  const W = 400;
  const H = 400;
  const R = 3;
  const MAXD = 8;

  it('particles never closer than 2·maxDisplacement: 0 switches, no births or deaths after frame 0', () => {
    // Homes on a 50 px grid, each particle confined to ±8 px of home: the closest approach is
    // 50 − 2·8·√2 ≈ 27 > 2·maxDisplacement = 16, so neither overlap (needs < 2r = 6) nor a
    // nearest-centroid link (needs ≤ 8) can reach another particle.
    const rnd = seededRandom(11);
    const ps: Particle[] = [];
    for (let j = 0; j < 50; j++) ps.push({ x: 25 + 50 * (j % 8), y: 10 + 25 + 50 * Math.floor(j / 8), r: R });
    const home = ps.map((p) => ({ ...p }));
    const frames: Particle[][] = [];
    for (let t = 0; t < 200; t++) {
      frames.push(ps.map((p) => ({ ...p })));
      ps.forEach((p, j) => {
        // σ = 1.5 px per axis, step clamped to 3σ (the clamp keeps every step ≤ maxDisplacement).
        const g = () => Math.max(-4.5, Math.min(4.5, gauss(rnd) * 1.5));
        p.x = Math.min(home[j].x + 8, Math.max(home[j].x - 8, p.x + g()));
        p.y = Math.min(home[j].y + 8, Math.max(home[j].y - 8, p.y + g()));
      });
    }
    const res = runScene(frames, W, H, MAXD);
    expect(res.switches).toBe(0);
    expect(res.allBirths.length).toBe(50);
    for (const f of res.frames.slice(1)) {
      expect(f.births).toEqual([]);
      expect(f.deaths).toEqual([]);
      expect(f.count).toBe(50);
    }
  });

  it('free random walk: every switch happens at a contact, at most 2 per contact onset', () => {
    // Free walkers (σ = 1 px, reflected at the borders) do meet. A contact: two discs within
    // touching distance (centre distance ≤ 2r + 1, so the rasterised discs can join into one object)
    // in this or the previous frame. Away from contacts every particle's own previous disc is the only
    // one it overlaps (steps ≤ 3 px < 2r), so its link cannot change. A contact that merges costs one
    // switch when the discs join and one when they part (see the crossing test) — so switches ≤ 2 per
    // contact onset (a pair going from apart to touching).
    const rnd = seededRandom(2024);
    const ps: Particle[] = [];
    const placed: Particle[] = [];
    while (ps.length < 50) {
      const p = { x: 10 + rnd() * (W - 20), y: 10 + rnd() * (H - 20), r: R };
      if (placed.every((q) => Math.hypot(q.x - p.x, q.y - p.y) > 20)) {
        ps.push(p);
        placed.push(p);
      }
    }
    const frames: Particle[][] = [];
    for (let t = 0; t < 200; t++) {
      frames.push(ps.map((p) => ({ ...p })));
      for (const p of ps) {
        const g = () => Math.max(-3, Math.min(3, gauss(rnd)));
        p.x = reflect(p.x + g(), 5, W - 6);
        p.y = reflect(p.y + g(), 5, H - 6);
      }
    }
    const touching = (a: Particle, b: Particle) => Math.hypot(a.x - b.x, a.y - b.y) <= 2 * R + 1;
    const inContact = (t: number, j: number) =>
      frames[t].some((q, i) => i !== j && touching(q, frames[t][j])) ||
      (t > 0 && frames[t - 1].some((q, i) => i !== j && touching(q, frames[t - 1][j])));
    let onsets = 0;
    for (let t = 1; t < frames.length; t++) {
      for (let i = 0; i < 50; i++) {
        for (let j = i + 1; j < 50; j++) {
          if (touching(frames[t][i], frames[t][j]) && !touching(frames[t - 1][i], frames[t - 1][j])) onsets++;
        }
      }
    }
    const res = runScene(frames, W, H, MAXD);
    for (const [t, j] of res.switchesAt) expect(inContact(t, j)).toBe(true);
    expect(res.switches).toBeLessThanOrEqual(2 * onsets);
    if (process.env.TRACKER_STATS) console.log({ switches: res.switches, onsets });
  });

  it('grows past its initial capacity (200 objects) and keeps the ids', () => {
    const scene = new Scene(512, 512);
    const tr = new ObjectTracker(512, 512, { maxDisplacement: 5 });
    const ps: Particle[] = [];
    for (let j = 0; j < 200; j++) ps.push({ x: 16 + 34 * (j % 15), y: 16 + 34 * Math.floor(j / 15), r: 4 });
    for (let t = 0; t < 5; t++) {
      const n = scene.render(ps.map((p) => ({ ...p, x: p.x + t })));
      const f = tr.update(scene.labels, n, t * 10);
      expect(f.count).toBe(200);
      expect(f.births.length).toBe(t === 0 ? 200 : 0);
      if (t > 0) expect(Array.from(f.speed).every((v) => v === 100)).toBe(true);
      expect(new Set(f.trackIds).size).toBe(200);
    }
  });
});

function gauss(rnd: () => number): number {
  const u = Math.max(rnd(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rnd());
}

function reflect(v: number, lo: number, hi: number): number {
  if (v < lo) return 2 * lo - v;
  if (v > hi) return 2 * hi - v;
  return v;
}
