/**
 * Pieces shared by the file readers (TIFF, PNG, image sequences): the decoded
 * image shape, the pixel-count cap, format sniffing, zlib decoding and the
 * translation of file-system errors into one-line InputErrors.
 */
import { inflateSync } from 'node:zlib';
import { InputError } from '../errors.js';
import type { Dtype, PixelArray } from './frame.js';

/** One decoded image, channel-planar like Frame.data. */
export interface DecodedImage {
  width: number;
  height: number;
  channels: number;
  dtype: Dtype;
  data: PixelArray;
}

/** Geometry of an image without its pixels. */
export interface ImageInfo {
  width: number;
  height: number;
  channels: number;
  dtype: Dtype;
}

export interface ImageReadOptions {
  /**
   * Largest width × height × channels accepted. Headers are checked against it
   * (and against the file size) before anything is allocated.
   */
  maxPixels?: number;
}

export const DEFAULT_MAX_PIXELS = 2 ** 28;

export const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export type ImageFormat = 'tiff' | 'png';

/** Recognises a file by its first bytes (8 are enough); null when neither. */
export function sniffFormat(head: Uint8Array): ImageFormat | null {
  if (head.length >= 8 && head[0] === 0x89 && head[1] === 0x50 && head[2] === 0x4e && head[3] === 0x47 &&
      head[4] === 0x0d && head[5] === 0x0a && head[6] === 0x1a && head[7] === 0x0a) {
    return 'png';
  }
  if (head.length >= 4) {
    // Classic TIFF is version 42, BigTIFF 43, in the byte order the first two bytes announce.
    if (head[0] === 0x49 && head[1] === 0x49 && head[3] === 0 && (head[2] === 42 || head[2] === 43)) return 'tiff';
    if (head[0] === 0x4d && head[1] === 0x4d && head[2] === 0 && (head[3] === 42 || head[3] === 43)) return 'tiff';
  }
  return null;
}

export function sameInfo(a: ImageInfo, b: ImageInfo): boolean {
  return a.width === b.width && a.height === b.height && a.channels === b.channels && a.dtype === b.dtype;
}

export function describeInfo(i: ImageInfo): string {
  return `${i.width}×${i.height}, ${i.channels} channel${i.channels === 1 ? '' : 's'}, ${i.dtype}`;
}

/** Refuses a header whose pixel count exceeds the cap, before any allocation. */
export function checkPixelCount(name: string, width: number, height: number, channels: number, maxPixels: number): void {
  const n = width * height * channels;
  if (!(n <= maxPixels)) {
    throw new InputError(
      `${name}: image of ${width}×${height}×${channels} samples exceeds the limit of ${maxPixels} (maxPixels)`,
    );
  }
}

/** True for errors raised by the file system (they carry an errno `code`). */
export function isFsError(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string';
}

/**
 * Turns a file-system error (ENOENT, EACCES, EISDIR, …) into an InputError
 * naming the file; InputErrors pass through and anything else (a bug) is rethrown as is.
 */
export function fileError(name: string, err: unknown): Error {
  if (err instanceof InputError || !isFsError(err)) return err instanceof Error ? err : new Error(String(err));
  const code = err.code;
  const why =
    code === 'ENOENT' ? 'no such file' :
    code === 'EACCES' || code === 'EPERM' ? 'permission denied' :
    code === 'EISDIR' ? 'is a directory, not an image file' :
    code === 'ENOTDIR' ? 'a parent of this path is not a directory' :
    `cannot read (${code}: ${oneLine(err.message)})`;
  return new InputError(`${name}: ${why}`);
}

/** Error text from a library may span lines; the CLI prints messages as one line. */
export function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** Refuses a frame rate that is not a positive finite number, naming the input. */
export function checkFps(name: string, fps: number | undefined): void {
  if (fps !== undefined && !(fps > 0 && Number.isFinite(fps))) {
    throw new InputError(`${name}: fps must be a positive number, got ${fps}`);
  }
}

/**
 * zlib-inflates `src`, which should decode to `expected` bytes, into one
 * buffer of that size. zlib's default output chunk is 16 KB whatever the
 * data: a TIFF page of small strips would allocate 16 KB per strip, and a
 * large PNG would be decoded in 16 KB pieces and then concatenated (twice
 * the memory). Output beyond `maxOutputLength` throws (a zip bomb).
 */
export function inflateExpected(src: Uint8Array, expected: number, maxOutputLength: number): Buffer {
  return inflateSync(src, { chunkSize: Math.max(expected + 1, 64), maxOutputLength });
}
