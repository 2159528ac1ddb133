/**
 * Picking the plane that registration sees from a channel-planar frame.
 * Luminance uses scikit-image's rgb2gray weights so the golden reference
 * computes the same image.
 */
export type ChannelChoice = number | 'luminance';

const LUMA = [0.2125, 0.7154, 0.0721] as const;

export function extractPlane(
  data: ArrayLike<number>,
  width: number,
  height: number,
  channels: number,
  choice: ChannelChoice,
  out: Float32Array,
): Float32Array {
  const n = width * height;
  if (choice === 'luminance' && channels >= 3) {
    for (let i = 0; i < n; i++) out[i] = LUMA[0] * data[i] + LUMA[1] * data[n + i] + LUMA[2] * data[2 * n + i];
    return out;
  }
  const c = choice === 'luminance' ? 0 : choice;
  if (c < 0 || c >= channels) throw new RangeError(`channel ${c} does not exist in a ${channels}-channel frame`);
  const base = c * n;
  for (let i = 0; i < n; i++) out[i] = data[base + i];
  return out;
}
