import { InputError } from '../errors.js';
import type { LabelArray } from '../kernels/objectIndex.js';
import type { SourceInfo } from './frame.js';
import { readLabelImageFile } from './tiff.js';

/** The largest label: object ids are int32 (ObjectIndex.ids, the record's ids). */
const MAX_LABEL = 2 ** 31 - 1;

/**
 * A label image given with --labels: one integer channel, the frames' size;
 * TIFF 8/16/32-bit unsigned or signed (negative labels refused), PNG 8/16-bit.
 */
export async function loadLabels(path: string, info: SourceInfo, maxPixels: number): Promise<LabelArray> {
  const img = await readLabelImageFile(path, { maxPixels });
  if (img.width !== info.width || img.height !== info.height) {
    throw new InputError(`labels ${path}: ${img.width}×${img.height}, but the frames of ${info.uri} are ${info.width}×${info.height}`);
  }
  if (img.channels !== 1) throw new InputError(`labels ${path}: ${img.channels} channels; a label image has one`);
  const data = img.data;
  if (data instanceof Float32Array) throw new InputError(`labels ${path}: float32 pixels; labels must be 8-, 16- or 32-bit integers`);
  if (data instanceof Int32Array || data instanceof Uint32Array) {
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      if (v >= 0 && v <= MAX_LABEL) continue;
      const where = `pixel (x ${i % img.width}, y ${Math.floor(i / img.width)})`;
      if (v < 0) throw new InputError(`labels ${path}: negative label ${v} at ${where}; labels must be ≥ 0 (0 = background)`);
      throw new InputError(`labels ${path}: label ${v} at ${where} is above ${MAX_LABEL}, the largest object id`);
    }
  }
  return data;
}
