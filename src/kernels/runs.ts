/**
 * Images as runs of pixels along rows, for tracked mode (docs/segmentation.md,
 * "Run-based labelling"): a thresholded 512² frame with a few hundred objects
 * is a few thousand runs, so labelling them, linking them to the previous
 * frame's and summing the intensities under them costs a fraction of a pass
 * over every pixel.
 *
 * `RunLabeller` labels the runs of a mask exactly as `Labeller.labelFiltered`
 * labels its pixels (skimage.measure.label, then the area and border filters,
 * renumbered 1…N in raster order of each object's first pixel).
 */
import type { Connectivity } from './label.js';

/**
 * Runs [x0, x1) in raster order (by row, then x): row y's are rowStart[y] …
 * rowStart[y + 1]; `label` per run (0 where none is given yet). Two runs of
 * one row never touch unless their labels differ.
 */
export class Runs {
  count = 0;
  readonly rowStart: Int32Array;
  x0 = new Int32Array(0);
  x1 = new Int32Array(0);
  label = new Int32Array(0);

  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    this.rowStart = new Int32Array(height + 1);
  }

  /** Room for n runs (contents kept up to `count`). */
  reserve(n: number): void {
    if (this.x0.length >= n) return;
    const c = Math.max(n, 2 * this.x0.length, 256);
    const grow = (a: Int32Array): Int32Array<ArrayBuffer> => {
      const b = new Int32Array(c);
      b.set(a.subarray(0, this.count));
      return b;
    };
    this.x0 = grow(this.x0);
    this.x1 = grow(this.x1);
    this.label = grow(this.label);
  }

  /** Copies `src` (same size) into this. */
  copyFrom(src: Runs): void {
    const n = src.count;
    this.count = 0;
    this.reserve(n);
    this.rowStart.set(src.rowStart);
    this.x0.set(src.x0.subarray(0, n));
    this.x1.set(src.x1.subarray(0, n));
    this.label.set(src.label.subarray(0, n));
    this.count = n;
  }

  /** No runs (an empty image). */
  clear(): void {
    this.count = 0;
    this.rowStart.fill(0);
  }
}

/** The runs of mask ≠ 0 (labels 0), into `out`. */
export function runsFromMask(mask: ArrayLike<number>, out: Runs): void {
  const W = out.width;
  const H = out.height;
  let nr = 0;
  out.count = 0;
  out.reserve(((W + 1) >> 1) * Math.min(H, 64));
  for (let y = 0; y < H; y++) {
    out.rowStart[y] = nr;
    const o = y * W;
    let x = 0;
    while (x < W) {
      while (x < W && mask[o + x] === 0) x++;
      if (x === W) break;
      const start = x;
      while (x < W && mask[o + x] !== 0) x++;
      if (nr >= out.x0.length) {
        out.count = nr;
        out.reserve(nr + 1);
      }
      out.x0[nr] = start;
      out.x1[nr] = x;
      out.label[nr] = 0;
      nr++;
    }
  }
  out.rowStart[H] = nr;
  out.count = nr;
}

/**
 * The runs of equal non-zero labels of a label image (1..count, 0 =
 * background), into `out`; a RangeError for a label outside 1..count.
 */
export function runsFromLabels(labels: Int32Array, count: number, out: Runs): void {
  const W = out.width;
  const H = out.height;
  let nr = 0;
  out.count = 0;
  for (let y = 0; y < H; y++) {
    out.rowStart[y] = nr;
    const o = y * W;
    let x = 0;
    while (x < W) {
      const l = labels[o + x];
      if (l === 0) {
        x++;
        continue;
      }
      if (l < 0 || l > count) throw new RangeError(`label ${l} at pixel ${o + x} outside 1..${count}`);
      const start = x;
      while (x < W && labels[o + x] === l) x++;
      if (nr >= out.x0.length) {
        out.count = nr;
        out.reserve(nr + 1);
      }
      out.x0[nr] = start;
      out.x1[nr] = x;
      out.label[nr] = l;
      nr++;
    }
  }
  out.rowStart[H] = nr;
  out.count = nr;
}

/** Writes the label image of `runs` (0 = background) into `out` (width·height). */
export function paintRuns(runs: Runs, out: Int32Array): void {
  const W = runs.width;
  out.fill(0, 0, W * runs.height);
  for (let y = 0; y < runs.height; y++) {
    const o = y * W;
    for (let r = runs.rowStart[y]; r < runs.rowStart[y + 1]; r++) out.fill(runs.label[r], o + runs.x0[r], o + runs.x1[r]);
  }
}

/** Reusable buffers for labelling runs (the union-find over runs, areas, final numbers). */
export class RunLabeller {
  private parent = new Int32Array(0);
  private area = new Float64Array(0);
  private final = new Int32Array(0);
  /** Components before the filters in the last `label`. */
  rawCount = 0;

  /**
   * Labels the runs of a mask (`runsFromMask`, or WasmBlur.runs) in place:
   * connected runs (4-connectivity: overlapping columns in adjacent rows;
   * 8-connectivity: also diagonally adjacent ends) form a component, kept
   * when minArea ≤ area ≤ maxArea and, with excludeBorder, no pixel is on the
   * image border; the kept components are numbered 1…count in raster order of
   * their first pixel and the runs of the others are removed (the runs left
   * are still in raster order). Returns count; `rawCount` is the number of
   * components before the filters.
   */
  label(runs: Runs, connectivity: Connectivity, minArea: number, maxArea: number, excludeBorder: boolean): number {
    const W = runs.width;
    const H = runs.height;
    const nr = runs.count;
    if (this.parent.length < nr) {
      const c = Math.max(nr, 2 * this.parent.length, 256);
      this.parent = new Int32Array(c);
      this.area = new Float64Array(c);
      this.final = new Int32Array(c);
    }
    const { parent, area, final } = this;
    const { rowStart, x0, x1 } = runs;
    // Runs overlap (or, for 8-connectivity, touch diagonally) when a.x0 < b.x1 + d and b.x0 < a.x1 + d.
    const d = connectivity === 2 ? 1 : 0;
    for (let r = 0; r < nr; r++) parent[r] = r;
    for (let y = 1; y < H; y++) {
      let p = rowStart[y - 1];
      const pEnd = rowStart[y];
      const cEnd = rowStart[y + 1];
      for (let c = pEnd; c < cEnd && p < pEnd; c++) {
        const a0 = x0[c] - d;
        const a1 = x1[c] + d;
        // Previous-row runs ending before this one starts touch no later run either.
        while (p < pEnd && x1[p] <= a0) p++;
        let q = p;
        while (q < pEnd && x0[q] < a1) {
          union(parent, c, q);
          q++;
        }
        // The last previous run touched may reach under the next run too: keep it.
        if (q > p) p = q - 1;
      }
    }
    // A component's root is its first run (unions keep the smaller index), which holds its first
    // pixel: roots in increasing order are the components in raster order. q < r: parent[q] is
    // already q's root.
    let raw = 0;
    for (let r = 0; r < nr; r++) {
      const q = parent[r];
      if (q === r) {
        raw++;
        area[r] = 0;
        final[r] = 0;
      } else {
        parent[r] = parent[q];
      }
      area[parent[r]] += x1[r] - x0[r];
    }
    this.rawCount = raw;
    if (excludeBorder) {
      // final[root] = −1 marks a component with a pixel on the border.
      for (let y = 0; y < H; y++) {
        for (let r = rowStart[y]; r < rowStart[y + 1]; r++) {
          if (y === 0 || y === H - 1 || x0[r] === 0 || x1[r] === W) final[parent[r]] = -1;
        }
      }
    }
    let kept = 0;
    for (let r = 0; r < nr; r++) {
      if (parent[r] !== r) continue;
      const a = area[r];
      final[r] = final[r] === -1 || a < minArea || a > maxArea ? 0 : ++kept;
    }
    // Keep the runs of kept components, in order; rowStart follows.
    const label = runs.label;
    let w = 0;
    let y = 0;
    for (let r = 0; r < nr; r++) {
      while (rowStart[y + 1] <= r) rowStart[++y] = w;
      const l = final[parent[r]];
      if (l === 0) continue;
      x0[w] = x0[r];
      x1[w] = x1[r];
      label[w] = l;
      w++;
    }
    while (y < H) rowStart[++y] = w;
    runs.count = w;
    return kept;
  }
}

/** Joins the sets of a and b, the smaller index as root. */
function union(parent: Int32Array, a: number, b: number): void {
  // Path halving keeps parent[x] ≤ x.
  while (parent[a] !== a) a = parent[a] = parent[parent[a]];
  while (parent[b] !== b) b = parent[b] = parent[parent[b]];
  if (a < b) parent[b] = a;
  else if (b < a) parent[a] = b;
}
