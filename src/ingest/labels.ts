import { InputError } from '../errors.js';
import type { LabelArray } from '../kernels/objectIndex.js';
import type { SourceInfo } from './frame.js';
import { readImageFile } from './tiff.js';

/** A label image given with --labels: one integer channel, the frames' size. */
export async function loadLabels(path: string, info: SourceInfo, maxPixels: number): Promise<LabelArray> {
  const img = await readImageFile(path, { maxPixels });
  if (img.width !== info.width || img.height !== info.height) {
    throw new InputError(`labels ${path}: ${img.width}×${img.height}, but the frames of ${info.uri} are ${info.width}×${info.height}`);
  }
  if (img.channels !== 1) throw new InputError(`labels ${path}: ${img.channels} channels; a label image has one`);
  if (img.data instanceof Float32Array) throw new InputError(`labels ${path}: float32 pixels; labels must be 8- or 16-bit integers`);
  return img.data;
}
