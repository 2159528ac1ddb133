/**
 * Connected-component labelling of a binary mask, identical to
 * `skimage.measure.label(mask, connectivity=1|2, background=0)`: labels
 * 1..N numbered in raster order of each component's first pixel.
 *
 * Two passes with union-find over provisional labels. A component's first
 * pixel (in raster order) has no earlier neighbour in the component, so it
 * opens a new provisional label, the smallest of its set; unions keep the
 * smaller label as root, so numbering the roots in increasing order gives the
 * raster order of first appearance.
 */

export type Connectivity = 1 | 2;

/** Reusable buffers for `labelComponents` (the parent array of the union-find). */
export class Labeller {
  private parent: Int32Array;
  /** labelFiltered: pixels per provisional label, then per component; the final number of each. */
  private readonly area: Int32Array;
  private readonly final: Int32Array;
  /** Components before the filters in the last labelFiltered. */
  rawCount = 0;
  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    // A new provisional label needs a background (or no) left neighbour: at most ⌈W/2⌉ per row.
    const most = ((width + 1) >> 1) * height + 2;
    this.parent = new Int32Array(most);
    this.area = new Int32Array(most);
    this.final = new Int32Array(most);
  }

  /**
   * Labels `mask` (non-zero = foreground) into `out` (Int32Array, width·height)
   * and returns the number of components.
   */
  label(mask: ArrayLike<number>, connectivity: Connectivity, out: Int32Array): number {
    const next = this.provisional(mask, connectivity, out, false);
    const parent = this.parent;
    // Resolve roots in increasing provisional order → final numbers in raster order.
    let count = 0;
    for (let p = 1; p < next; p++) {
      const q = parent[p];
      if (q === p) parent[p] = -++count;
      else parent[p] = parent[q]; // q < p, already resolved to −final
    }
    const n = this.width * this.height;
    for (let i = 0; i < n; i++) {
      const v = out[i];
      if (v !== 0) out[i] = -parent[v];
    }
    return count;
  }

  /**
   * `label`, then keep the components with minArea ≤ area ≤ maxArea (and,
   * with excludeBorder, no pixel on the image border), renumbered 1…count in
   * the same order — in the same passes over the image: areas are counted per
   * provisional label as the pixels are labelled, and the final pass writes
   * the kept numbers directly. Returns the count kept; `rawCount` is the count
   * before the filters.
   */
  labelFiltered(mask: ArrayLike<number>, connectivity: Connectivity, out: Int32Array, minArea: number, maxArea: number, excludeBorder: boolean): number {
    const W = this.width;
    const H = this.height;
    const next = this.provisional(mask, connectivity, out, true);
    const parent = this.parent;
    const area = this.area;
    const final = this.final;
    // Roots in increasing provisional order are the components in raster order (as in label); a
    // component's area gathers at its root, which precedes its other provisional labels.
    let raw = 0;
    for (let p = 1; p < next; p++) {
      const q = parent[p];
      if (q === p) {
        raw++;
        final[p] = 0;
      } else {
        const r = parent[q] === q ? q : parent[q]; // q < p: parent[q] is already q's root
        parent[p] = r;
        area[r] += area[p];
      }
    }
    this.rawCount = raw;
    if (excludeBorder) {
      // final[root] = −1 marks a component with a pixel on the border.
      const last = (H - 1) * W;
      for (let x = 0; x < W; x++) {
        if (out[x] !== 0) final[parent[out[x]]] = -1;
        if (out[last + x] !== 0) final[parent[out[last + x]]] = -1;
      }
      for (let y = 0; y < H; y++) {
        if (out[y * W] !== 0) final[parent[out[y * W]]] = -1;
        if (out[y * W + W - 1] !== 0) final[parent[out[y * W + W - 1]]] = -1;
      }
    }
    let kept = 0;
    for (let p = 1; p < next; p++) {
      if (parent[p] !== p) continue;
      const a = area[p];
      final[p] = final[p] === -1 || a < minArea || a > maxArea ? 0 : ++kept;
    }
    for (let p = 1; p < next; p++) if (parent[p] !== p) final[p] = final[parent[p]];
    final[0] = 0;
    const n = W * H;
    for (let i = 0; i < n; i++) out[i] = final[out[i]];
    return kept;
  }

  /**
   * First pass: provisional labels into `out` (0 = background), unions in
   * `parent`; with `count`, pixels per provisional label in `area`. Returns
   * the next unused provisional label.
   */
  private provisional(mask: ArrayLike<number>, connectivity: Connectivity, out: Int32Array, count: boolean): number {
    const W = this.width;
    const H = this.height;
    const parent = this.parent;
    const area = this.area;
    const eight = connectivity === 2;
    let next = 1;
    parent[0] = 0;
    for (let y = 0; y < H; y++) {
      const o = y * W;
      for (let x = 0; x < W; x++) {
        const i = o + x;
        if (mask[i] === 0) {
          out[i] = 0;
          continue;
        }
        // Earlier neighbours: left, up (and up-left, up-right for 8-connectivity).
        let l = x > 0 ? out[i - 1] : 0;
        if (y > 0) {
          const up = out[i - W];
          if (up !== 0) l = l === 0 ? up : union(parent, l, up);
          if (eight) {
            if (x > 0) {
              const ul = out[i - W - 1];
              if (ul !== 0) l = l === 0 ? ul : union(parent, l, ul);
            }
            if (x + 1 < W) {
              const ur = out[i - W + 1];
              if (ur !== 0) l = l === 0 ? ur : union(parent, l, ur);
            }
          }
        }
        if (l === 0) {
          l = next++;
          parent[l] = l;
          if (count) area[l] = 0;
        }
        out[i] = l;
        if (count) area[l]++;
      }
    }
    return next;
  }
}

/** Joins the sets of a and b; returns the root (the smaller label). */
function union(parent: Int32Array, a: number, b: number): number {
  // Path halving keeps parent[x] ≤ x.
  while (parent[a] !== a) a = parent[a] = parent[parent[a]];
  while (parent[b] !== b) b = parent[b] = parent[parent[b]];
  if (a === b) return a;
  if (a < b) {
    parent[b] = a;
    return a;
  }
  parent[a] = b;
  return b;
}

/** One-shot labelling (allocates the union-find buffer; use `Labeller` in loops). */
export function labelComponents(
  mask: ArrayLike<number>,
  width: number,
  height: number,
  connectivity: Connectivity = 1,
  out: Int32Array = new Int32Array(width * height),
): { labels: Int32Array; count: number } {
  const count = new Labeller(width, height).label(mask, connectivity, out);
  return { labels: out, count };
}
