import type { ObjectIndex } from './objectIndex.js';

/**
 * Stable object ids across re-segmentations: each new object takes the id of
 * the old object it overlaps with intersection-over-union ≥ `minIoU` (0.5:
 * then the match is unique both ways), and the others get fresh ids above
 * every id used so far. One pass over the new objects' pixels, reading the
 * old slot image; pair counts are kept per new object in a small map.
 */
export function matchObjects(
  prev: ObjectIndex,
  prevIds: Int32Array,
  next: ObjectIndex,
  nextFreeId: number,
  minIoU = 0.5,
): { ids: Int32Array; nextFreeId: number; matched: number } {
  if (prev.width !== next.width || prev.height !== next.height) throw new RangeError('matchObjects: the two segmentations differ in size');
  const ids = new Int32Array(next.count);
  const taken = new Uint8Array(prev.count);
  let matched = 0;
  let free = nextFreeId;
  const overlap = new Map<number, number>();
  for (let k = 0; k < next.count; k++) {
    overlap.clear();
    for (let p = next.offsets[k]; p < next.offsets[k + 1]; p++) {
      const s = prev.slot[next.pixels[p]];
      if (s !== 0) overlap.set(s, (overlap.get(s) ?? 0) + 1);
    }
    const area = next.offsets[k + 1] - next.offsets[k];
    let best = -1;
    let bestIoU = 0;
    for (const [s, inter] of overlap) {
      const j = s - 1;
      const union = area + (prev.offsets[j + 1] - prev.offsets[j]) - inter;
      const iou = inter / union;
      // Ties go to the lower old index, so the result does not depend on map order.
      if (iou > bestIoU || (iou === bestIoU && j < best)) {
        bestIoU = iou;
        best = j;
      }
    }
    if (best >= 0 && bestIoU >= minIoU && taken[best] === 0) {
      taken[best] = 1;
      ids[k] = prevIds[best];
      matched++;
    } else {
      ids[k] = free++;
    }
  }
  return { ids, nextFreeId: free, matched };
}
