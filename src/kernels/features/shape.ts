/**
 * Per-object shape features (CellProfiler MeasureObjectSizeShape names,
 * AreaShape_*), once per segmentation, matching scikit-image 0.19 regionprops
 * except where docs/features.md says otherwise (undefined values are NaN/null).
 * Every formula is defined in docs/features.md.
 */
import type { ObjectIndex } from '../objectIndex.js';
import { allocColumns, type FeatureColumns } from './columns.js';

export const SHAPE_NAMES = [
  'AreaShape_Area',
  'AreaShape_Center_X',
  'AreaShape_Center_Y',
  'AreaShape_BoundingBoxMinimum_X',
  'AreaShape_BoundingBoxMinimum_Y',
  'AreaShape_BoundingBoxMaximum_X',
  'AreaShape_BoundingBoxMaximum_Y',
  'AreaShape_MajorAxisLength',
  'AreaShape_MinorAxisLength',
  'AreaShape_Eccentricity',
  'AreaShape_Orientation',
  'AreaShape_Perimeter',
  'AreaShape_Solidity',
  'AreaShape_EquivalentDiameter',
  'AreaShape_FormFactor',
  'AreaShape_Extent',
] as const;

/** skimage.measure.perimeter(neighbourhood=4) weights, by the code 1 + 2·(4-neighbours) + 10·(diagonals). */
const PERIMETER_WEIGHTS = (() => {
  const w = new Float64Array(50);
  for (const c of [5, 7, 15, 17, 25, 27]) w[c] = 1;
  for (const c of [21, 33]) w[c] = Math.SQRT2;
  for (const c of [13, 23]) w[c] = (1 + Math.SQRT2) / 2;
  return w;
})();

export function computeShape(index: ObjectIndex): FeatureColumns {
  const { count, width, height, pixels, offsets, slot } = index;
  const cols = allocColumns(SHAPE_NAMES, count);
  // Border pixels for the perimeter: object pixels with a 4-neighbour outside
  // the object, the image border counting as outside (scikit-image erodes the
  // object's own mask with border_value = 0).
  const border = new Uint8Array(width * height);
  for (let p = 0; p < pixels.length; p++) {
    const i = pixels[p];
    const s = slot[i];
    const y = (i / width) | 0;
    const x = i - y * width;
    if (x === 0 || x === width - 1 || y === 0 || y === height - 1 || slot[i - 1] !== s || slot[i + 1] !== s || slot[i - width] !== s || slot[i + width] !== s) {
      border[i] = 1;
    }
  }
  let maxRows = 0;
  for (let k = 0; k < count; k++) {
    let y0 = Infinity;
    let y1 = -Infinity;
    for (let p = offsets[k]; p < offsets[k + 1]; p++) {
      const y = (pixels[p] / width) | 0;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    }
    if (y1 - y0 + 1 > maxRows) maxRows = y1 - y0 + 1;
  }
  const rowMin = new Int32Array(maxRows);
  const rowMax = new Int32Array(maxRows);
  const hull = new Float64Array(4 * (6 * maxRows + 2));
  const pts = new Float64Array(2 * 6 * maxRows);

  for (let k = 0; k < count; k++) {
    const a = offsets[k];
    const b = offsets[k + 1];
    const n = b - a;
    const s = k + 1;
    // Pass 1: sums, bounding box, perimeter codes.
    let sx = 0;
    let sy = 0;
    let x0 = Infinity;
    let x1 = -Infinity;
    let y0 = Infinity;
    let y1 = -Infinity;
    let per = 0;
    for (let p = a; p < b; p++) {
      const i = pixels[p];
      const y = (i / width) | 0;
      const x = i - y * width;
      sx += x;
      sy += y;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
      if (border[i]) {
        let code = 1;
        const l = x > 0;
        const r = x < width - 1;
        const u = y > 0;
        const d = y < height - 1;
        if (l && border[i - 1] && slot[i - 1] === s) code += 2;
        if (r && border[i + 1] && slot[i + 1] === s) code += 2;
        if (u && border[i - width] && slot[i - width] === s) code += 2;
        if (d && border[i + width] && slot[i + width] === s) code += 2;
        if (l && u && border[i - width - 1] && slot[i - width - 1] === s) code += 10;
        if (r && u && border[i - width + 1] && slot[i - width + 1] === s) code += 10;
        if (l && d && border[i + width - 1] && slot[i + width - 1] === s) code += 10;
        if (r && d && border[i + width + 1] && slot[i + width + 1] === s) code += 10;
        per += PERIMETER_WEIGHTS[code];
      }
    }
    const mx = sx / n;
    const my = sy / n;
    // Pass 2: second central moments (two-pass), row extents for the hull,
    // and exact integer sums (bounding-box-relative) for the isotropy test.
    const rows = y1 - y0 + 1;
    for (let r = 0; r < rows; r++) {
      rowMin[r] = 2147483647;
      rowMax[r] = -1;
    }
    let mxx = 0;
    let myy = 0;
    let mxy = 0;
    let ix = 0;
    let iy = 0;
    let ixx = 0;
    let iyy = 0;
    let ixy = 0;
    for (let p = a; p < b; p++) {
      const i = pixels[p];
      const y = (i / width) | 0;
      const x = i - y * width;
      const dx = x - mx;
      const dy = y - my;
      mxx += dx * dx;
      myy += dy * dy;
      mxy += dx * dy;
      const rx = x - x0;
      const ry = y - y0;
      ix += rx;
      iy += ry;
      ixx += rx * rx;
      iyy += ry * ry;
      ixy += rx * ry;
      const r = y - y0;
      if (x < rowMin[r]) rowMin[r] = x;
      if (x > rowMax[r]) rowMax[r] = x;
    }
    // Inertia tensor as in scikit-image: [[a, b], [b, c]], a = column variance,
    // c = row variance, b = −covariance (all divided by the area).
    const ta = mxx / n;
    const tc = myy / n;
    const tb = -mxy / n;
    const half = (ta + tc) / 2;
    const rad = Math.hypot((ta - tc) / 2, tb);
    const l1 = Math.max(half + rad, 0);
    let l2 = half - rad;
    // Stable small eigenvalue: λ₂ = det / λ₁.
    if (l1 > 0) l2 = (ta * tc - tb * tb) / l1;
    if (l2 < 0) l2 = 0;
    // Orientation: 0.5·atan2(−2b, c − a), scikit-image's formula, evaluated with
    // the exact zeros of an integer test so that ties do not hang on rounding:
    // covariance exactly 0 → numerator +0 (a horizontal object gives +90°, not −90°);
    // equal variances → denominator 0 (±45°, the formula's limit; see docs/features.md);
    // both → no principal direction: undefined.
    const exact = isotropy(n, ix, iy, ixx, iyy, ixy);
    let orientation: number;
    if (exact === 3) orientation = NaN;
    else {
      const num = exact & 2 ? 0 : -2 * tb;
      const den = exact & 1 ? 0 : tc - ta;
      orientation = (0.5 * Math.atan2(num, den) * 180) / Math.PI;
    }

    const convexArea = hullArea(rowMin, rowMax, rows, pts, hull);
    const bboxArea = (x1 - x0 + 1) * rows;

    cols.AreaShape_Area[k] = n;
    cols.AreaShape_Center_X[k] = mx;
    cols.AreaShape_Center_Y[k] = my;
    cols.AreaShape_BoundingBoxMinimum_X[k] = x0;
    cols.AreaShape_BoundingBoxMinimum_Y[k] = y0;
    cols.AreaShape_BoundingBoxMaximum_X[k] = x1 + 1;
    cols.AreaShape_BoundingBoxMaximum_Y[k] = y1 + 1;
    cols.AreaShape_MajorAxisLength[k] = 4 * Math.sqrt(l1);
    cols.AreaShape_MinorAxisLength[k] = 4 * Math.sqrt(l2);
    cols.AreaShape_Eccentricity[k] = l1 > 0 ? Math.sqrt(1 - l2 / l1) : NaN;
    cols.AreaShape_Orientation[k] = orientation;
    cols.AreaShape_Perimeter[k] = per;
    cols.AreaShape_Solidity[k] = n / convexArea;
    cols.AreaShape_EquivalentDiameter[k] = Math.sqrt((4 * n) / Math.PI);
    cols.AreaShape_FormFactor[k] = per > 0 ? (4 * Math.PI * n) / (per * per) : NaN;
    cols.AreaShape_Extent[k] = n / bboxArea;
  }
  return cols;
}

/**
 * Exact test on the second central moments scaled by n² (integers), as bits:
 * 1 when the column and row variances are equal, 2 when the covariance is 0.
 */
function isotropy(n: number, sx: number, sy: number, sxx: number, syy: number, sxy: number): number {
  const big = n * Math.max(sxx, syy, Math.abs(sxy)) + Math.max(sx, sy) ** 2;
  if (big < Number.MAX_SAFE_INTEGER) {
    const va = n * sxx - sx * sx;
    const vc = n * syy - sy * sy;
    const cv = n * sxy - sx * sy;
    return (va === vc ? 1 : 0) | (cv === 0 ? 2 : 0);
  }
  const N = BigInt(n);
  const va = N * BigInt(sxx) - BigInt(sx) * BigInt(sx);
  const vc = N * BigInt(syy) - BigInt(sy) * BigInt(sy);
  const cv = N * BigInt(sxy) - BigInt(sx) * BigInt(sy);
  return (va === vc ? 1 : 0) | (cv === 0n ? 2 : 0);
}

/**
 * Number of pixel centres inside or on the convex hull of the object's pixel
 * "diamonds" (the midpoints of each pixel's four sides), as
 * skimage.morphology.convex_hull_image(offset_coordinates=True) counts them.
 * Works in doubled coordinates (X = 2x, Y = 2y), where every point is an
 * integer, so that the hull and the inclusion test are exact.
 * Only the first and last pixel of every row can be hull points.
 */
function hullArea(rowMin: Int32Array, rowMax: Int32Array, rows: number, pts: Float64Array, hull: Float64Array): number {
  // Candidate points (row-relative Y), then sorted by (X, Y).
  let m = 0;
  for (let r = 0; r < rows; r++) {
    if (rowMax[r] < 0) continue;
    const Y = 2 * r; // relative to row y0
    const xa = 2 * rowMin[r];
    const xb = 2 * rowMax[r];
    pts[m++] = xa - 1; pts[m++] = Y;
    pts[m++] = xa; pts[m++] = Y - 1;
    pts[m++] = xa; pts[m++] = Y + 1;
    pts[m++] = xb; pts[m++] = Y - 1;
    pts[m++] = xb; pts[m++] = Y + 1;
    pts[m++] = xb + 1; pts[m++] = Y;
  }
  const np = m / 2;
  sortPoints(pts, np);
  // Andrew's monotone chain, counter-clockwise (in X right, Y down: clockwise on screen).
  let h = 0;
  for (let q = 0; q < np; q++) {
    const X = pts[2 * q];
    const Y = pts[2 * q + 1];
    while (h >= 2 && cross(hull[2 * h - 4], hull[2 * h - 3], hull[2 * h - 2], hull[2 * h - 1], X, Y) <= 0) h--;
    hull[2 * h] = X;
    hull[2 * h + 1] = Y;
    h++;
  }
  const lower = h + 1;
  for (let q = np - 2; q >= 0; q--) {
    const X = pts[2 * q];
    const Y = pts[2 * q + 1];
    while (h >= lower && cross(hull[2 * h - 4], hull[2 * h - 3], hull[2 * h - 2], hull[2 * h - 1], X, Y) <= 0) h--;
    hull[2 * h] = X;
    hull[2 * h + 1] = Y;
    h++;
  }
  h--; // last point repeats the first
  // For each pixel row, the columns whose centre (X = 2c, Y = 2r) satisfies
  // cross(B − A, P − A) ≥ 0 for every hull edge A → B.
  let area = 0;
  for (let r = 0; r < rows; r++) {
    const Y = 2 * r;
    let lo = -Infinity;
    let hi = Infinity;
    for (let e = 0; e < h; e++) {
      const ax = hull[2 * e];
      const ay = hull[2 * e + 1];
      const f = e + 1 === h ? 0 : e + 1;
      const dx = hull[2 * f] - ax;
      const dy = hull[2 * f + 1] - ay;
      // dx·(Y − ay) − dy·(X − ax) ≥ 0  ⇔  dy·X ≤ dx·(Y − ay) + dy·ax = c
      const c = dx * (Y - ay) + dy * ax;
      if (dy > 0) {
        const v = Math.floor(c / (2 * dy));
        if (v < hi) hi = v;
      } else if (dy < 0) {
        const v = Math.ceil(c / (2 * dy));
        if (v > lo) lo = v;
      } else if (dx * (Y - ay) < 0) {
        lo = Infinity;
      }
    }
    if (hi >= lo) area += hi - lo + 1;
  }
  return area;
}

function cross(ox: number, oy: number, ax: number, ay: number, bx: number, by: number): number {
  return (ax - ox) * (by - oy) - (ay - oy) * (bx - ox);
}

/** Sorts the np points (pairs in pts) by X, then Y (shell sort; a few hundred points). */
function sortPoints(pts: Float64Array, np: number): void {
  for (let gap = np >> 1; gap > 0; gap >>= 1) {
    for (let i = gap; i < np; i++) {
      const X = pts[2 * i];
      const Y = pts[2 * i + 1];
      let j = i;
      while (j >= gap && (pts[2 * (j - gap)] > X || (pts[2 * (j - gap)] === X && pts[2 * (j - gap) + 1] > Y))) {
        pts[2 * j] = pts[2 * (j - gap)];
        pts[2 * j + 1] = pts[2 * (j - gap) + 1];
        j -= gap;
      }
      pts[2 * j] = X;
      pts[2 * j + 1] = Y;
    }
  }
}
