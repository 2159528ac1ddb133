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
  let maxLabel = 0;
  for (let i = 0; i < n; i++) {
    const v = labels[i];
    if (v < 0) throw new RangeError(`negative label ${v} at pixel ${i}`);
    if (v > maxLabel) maxLabel = v;
  }
  let ids: Int32Array;
  const slot = new Int32Array(n);
  if (maxLabel <= 4 * n + 1024) {
    const present = new Int32Array(maxLabel + 1);
    for (let i = 0; i < n; i++) present[labels[i]] = 1;
    let count = 0;
    for (let v = 1; v <= maxLabel; v++) if (present[v]) present[v] = ++count;
    present[0] = 0;
    ids = new Int32Array(count);
    for (let v = 1; v <= maxLabel; v++) if (present[v]) ids[present[v] - 1] = v;
    for (let i = 0; i < n; i++) slot[i] = present[labels[i]];
  } else {
    const seen = new Set<number>();
    for (let i = 0; i < n; i++) if (labels[i] !== 0) seen.add(labels[i]);
    ids = Int32Array.from([...seen].sort((a, b) => a - b));
    const map = new Map<number, number>();
    ids.forEach((v, k) => map.set(v, k + 1));
    for (let i = 0; i < n; i++) slot[i] = labels[i] === 0 ? 0 : (map.get(labels[i]) as number);
  }
  const count = ids.length;
  const offsets = new Int32Array(count + 1);
  for (let i = 0; i < n; i++) if (slot[i]) offsets[slot[i]]++;
  for (let k = 0; k < count; k++) offsets[k + 1] += offsets[k];
  const pixels = new Int32Array(offsets[count]);
  const edgeCount = new Int32Array(count + 1);
  const fill = offsets.slice(0, count);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      const s = slot[i];
      if (s === 0) continue;
      pixels[fill[s - 1]++] = i;
      if (isEdge(slot, width, height, x, y, s)) edgeCount[s]++;
    }
  }
  for (let k = 0; k < count; k++) edgeCount[k + 1] += edgeCount[k];
  const edgeOffsets = edgeCount;
  const edgePixels = new Int32Array(edgeOffsets[count]);
  const efill = edgeOffsets.slice(0, count);
  for (let k = 0; k < count; k++) {
    for (let p = offsets[k]; p < offsets[k + 1]; p++) {
      const i = pixels[p];
      if (isEdge(slot, width, height, i % width, (i / width) | 0, k + 1)) edgePixels[efill[k]++] = i;
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
