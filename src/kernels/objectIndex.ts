/**
 * The per-object pixel index: every object's pixels as one contiguous run of
 * raster indices (CSR), built once per segmentation with one counting pass,
 * so that each feature family is a single pass over these indices per frame —
 * no per-object masks, no full-image scan per object.
 *
 * Object k (0-based, in ascending label order) has label `ids[k]`, pixels
 * `pixels[offsets[k] … offsets[k+1])` in raster order, and inner-boundary
 * ("edge") pixels `edgePixels[edgeOffsets[k] … edgeOffsets[k+1])`: object
 * pixels with a 4-neighbour inside the image that carries another label
 * (background included). Pixels on the image border are not edge by that alone.
 */
export type LabelArray = Uint8Array | Uint16Array | Uint32Array | Int32Array;

export interface ObjectIndex {
  readonly width: number;
  readonly height: number;
  readonly count: number;
  readonly ids: Int32Array;
  readonly offsets: Int32Array;
  readonly pixels: Int32Array;
  readonly edgeOffsets: Int32Array;
  readonly edgePixels: Int32Array;
  /** Label image with object numbers k + 1 (0 = background), for lookups and overlays. */
  readonly slot: Int32Array;
}

/**
 * Builds the index of a label image (0 = background; any positive label is
 * an object; gaps allowed). Labels must be non-negative integers.
 */
export function buildObjectIndex(labels: LabelArray, width: number, height: number): ObjectIndex {
  const n = width * height;
  if (labels.length < n) throw new RangeError(`label image has ${labels.length} pixels, expected ${width}×${height}`);
  // Labels can be sparse (e.g. 1, 7, 40000): compact them through a sorted list of distinct values.
  // Three passes over the image: the largest label, with the labels ≤ n marked on the way (all of
  // them, for the segmenter's 1…N); then slot and per-object counts; then the runs.
  let maxLabel = 0;
  let mark = new Uint8Array(n + 1);
  for (let i = 0; i < n; i++) {
    const v = labels[i];
    if (v < 0) throw new RangeError(`negative label ${v} at pixel ${i}`);
    if (v > maxLabel) maxLabel = v;
    if (v <= n) mark[v] = 1;
  }
  if (maxLabel > n && maxLabel <= 4 * n + 1024) {
    mark = new Uint8Array(maxLabel + 1);
    for (let i = 0; i < n; i++) mark[labels[i]] = 1;
  }
  let ids: Int32Array;
  const slot = new Int32Array(n);
  let offsets: Int32Array;
  if (maxLabel <= 4 * n + 1024) {
    const present = new Int32Array(maxLabel + 1);
    let count = 0;
    for (let v = 1; v <= maxLabel; v++) if (mark[v]) present[v] = ++count;
    ids = new Int32Array(count);
    for (let v = 1; v <= maxLabel; v++) if (present[v]) ids[present[v] - 1] = v;
    offsets = new Int32Array(count + 1);
    // Background pixels are not counted: incrementing one counter for all of them would chain
    // every increment on the previous one.
    for (let i = 0; i < n; i++) {
      const s = present[labels[i]];
      slot[i] = s;
      if (s !== 0) offsets[s]++;
    }
  } else {
    const seen = new Set<number>();
    for (let i = 0; i < n; i++) if (labels[i] !== 0) seen.add(labels[i]);
    ids = Int32Array.from([...seen].sort((a, b) => a - b));
    const map = new Map<number, number>();
    ids.forEach((v, k) => map.set(v, k + 1));
    offsets = new Int32Array(ids.length + 1);
    for (let i = 0; i < n; i++) {
      const s = labels[i] === 0 ? 0 : (map.get(labels[i]) as number);
      slot[i] = s;
      offsets[s]++;
    }
    offsets[0] = 0;
  }
  const count = ids.length;
  for (let k = 0; k < count; k++) offsets[k + 1] += offsets[k];
  const pixels = new Int32Array(offsets[count]);
  const edgeCount = new Int32Array(count + 1);
  const fill = offsets.slice(0, count);
  // One raster pass: each pixel goes to its object's run, and whether it is an edge pixel is kept
  // in the entry itself (−1 − i for an edge pixel), so the edge runs are gathered below without
  // testing the neighbours again.
  for (let y = 0; y < height; y++) {
    const row = y * width;
    const inner = y > 0 && y + 1 < height;
    for (let x = 0; x < width; x++) {
      const i = row + x;
      const s = slot[i];
      if (s === 0) continue;
      const edge =
        inner && x > 0 && x + 1 < width
          ? slot[i - 1] !== s || slot[i + 1] !== s || slot[i - width] !== s || slot[i + width] !== s
          : isEdge(slot, width, height, x, y, s);
      if (edge) {
        edgeCount[s]++;
        pixels[fill[s - 1]++] = -1 - i;
      } else {
        pixels[fill[s - 1]++] = i;
      }
    }
  }
  for (let k = 0; k < count; k++) edgeCount[k + 1] += edgeCount[k];
  const edgeOffsets = edgeCount;
  const edgePixels = new Int32Array(edgeOffsets[count]);
  let e = 0;
  for (let p = 0; p < pixels.length; p++) {
    const v = pixels[p];
    if (v < 0) {
      const i = -1 - v;
      edgePixels[e++] = i;
      pixels[p] = i;
    }
  }
  return { width, height, count, ids, offsets, pixels, edgeOffsets, edgePixels, slot };
}

function isEdge(slot: Int32Array, width: number, height: number, x: number, y: number, s: number): boolean {
  const i = y * width + x;
  return (
    (x > 0 && slot[i - 1] !== s) ||
    (x + 1 < width && slot[i + 1] !== s) ||
    (y > 0 && slot[i - width] !== s) ||
    (y + 1 < height && slot[i + width] !== s)
  );
}
