/**
 * PNG decoder on node's zlib: 8/16-bit gray, gray+alpha, RGB, RGBA (alpha is
 * dropped), non-interlaced. Output is channel-planar; 16-bit samples (stored
 * big-endian) come out as native Uint16Array values.
 */
import * as zlib from 'node:zlib';
import { InputError } from '../errors.js';
import type { Dtype } from './frame.js';
import { DEFAULT_MAX_PIXELS, checkPixelCount, inflateExpected, oneLine, type DecodedImage, type ImageReadOptions } from './imageFile.js';

export interface PngOptions extends ImageReadOptions {
  /** Verify each chunk's CRC (default true; chunk lengths are always validated). */
  checkCrc?: boolean;
}

export interface PngHeader {
  width: number;
  height: number;
  bitDepth: 8 | 16;
  colorType: 0 | 2 | 4 | 6;
  /** Samples per pixel in the file (alpha included). */
  samples: number;
  /** Channels of the decoded image (alpha dropped). */
  channels: number;
  dtype: Dtype;
}

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
/** Signature + IHDR chunk: all a header check needs. */
export const PNG_HEADER_BYTES = 33;
/** Deflate cannot expand one byte into more than ~1032; a header claiming more is refused before allocating. */
const MAX_INFLATE_RATIO = 1100;

const SAMPLES_OF_COLOR_TYPE: Record<number, number> = { 0: 1, 2: 3, 4: 2, 6: 4 };

/** Parses and validates the signature and IHDR (the first 33 bytes). */
export function parsePngHeader(bytes: Uint8Array, name: string, opts: PngOptions = {}): PngHeader {
  if (bytes.length < 8 || SIGNATURE.some((b, i) => bytes[i] !== b)) {
    throw new InputError(`${name}: not a PNG file (bad signature)`);
  }
  if (bytes.length < PNG_HEADER_BYTES) throw new InputError(`${name}: truncated PNG (no complete IHDR chunk)`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dv.getUint32(8) !== 13 || chunkType(bytes, 12) !== 'IHDR') {
    throw new InputError(`${name}: corrupt PNG: the first chunk is not a 13-byte IHDR`);
  }
  if (opts.checkCrc !== false) checkCrc(bytes, 8, 13, name);
  const width = dv.getUint32(16);
  const height = dv.getUint32(20);
  const bitDepth = bytes[24];
  const colorType = bytes[25];
  const interlace = bytes[28];
  if (width === 0 || height === 0 || width > 0x7fffffff || height > 0x7fffffff) {
    throw new InputError(`${name}: corrupt PNG: image size ${width}×${height}`);
  }
  if (colorType === 3) throw new InputError(`${name}: unsupported palette-color PNG (only gray, gray+alpha, RGB, RGBA)`);
  const samples = SAMPLES_OF_COLOR_TYPE[colorType];
  if (samples === undefined) throw new InputError(`${name}: corrupt PNG: color type ${colorType}`);
  if (bitDepth !== 8 && bitDepth !== 16) {
    throw new InputError(`${name}: unsupported PNG bit depth ${bitDepth} (only 8 and 16)`);
  }
  if (bytes[26] !== 0 || bytes[27] !== 0) {
    throw new InputError(`${name}: corrupt PNG: compression method ${bytes[26]}, filter method ${bytes[27]}`);
  }
  if (interlace === 1) throw new InputError(`${name}: unsupported interlaced (Adam7) PNG; save it non-interlaced`);
  if (interlace !== 0) throw new InputError(`${name}: corrupt PNG: interlace method ${interlace}`);
  const channels = samples >= 3 ? 3 : 1;
  checkPixelCount(name, width, height, samples, opts.maxPixels ?? DEFAULT_MAX_PIXELS);
  return {
    width, height, bitDepth, colorType: colorType as 0 | 2 | 4 | 6, samples, channels,
    dtype: bitDepth === 8 ? 'uint8' : 'uint16',
  };
}

export function decodePng(bytes: Uint8Array, name: string, opts: PngOptions = {}): DecodedImage {
  const h = parsePngHeader(bytes, name, opts);
  const verify = opts.checkCrc !== false;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const idat: Uint8Array[] = [];
  let idatBytes = 0;
  let pos = PNG_HEADER_BYTES;
  while (pos < bytes.length) {
    if (pos + 8 > bytes.length) throw new InputError(`${name}: truncated PNG: chunk header at offset ${pos} cut off`);
    const length = dv.getUint32(pos);
    const type = chunkType(bytes, pos + 4);
    if (length > 0x7fffffff) throw new InputError(`${name}: corrupt PNG: chunk ${type} at offset ${pos} has length ${length}`);
    if (pos + 12 + length > bytes.length) {
      throw new InputError(`${name}: truncated PNG: chunk ${type} at offset ${pos} (${length} bytes) runs past end of file (${bytes.length} bytes)`);
    }
    if (verify) checkCrc(bytes, pos, length, name);
    if (type === 'IEND') break;
    if (type === 'IDAT') {
      idat.push(bytes.subarray(pos + 8, pos + 8 + length));
      idatBytes += length;
    } else if (type === 'IHDR') {
      throw new InputError(`${name}: corrupt PNG: second IHDR chunk at offset ${pos}`);
    } else if ((bytes[pos + 4] & 0x20) === 0 && type !== 'PLTE') {
      // Uppercase first letter = critical: we may not ignore a critical chunk we do not understand.
      throw new InputError(`${name}: unsupported critical PNG chunk ${type}`);
    }
    pos += 12 + length;
  }
  if (idat.length === 0) throw new InputError(`${name}: truncated PNG: no image data (IDAT)`);

  const bytesPerSample = h.bitDepth / 8;
  const bpp = h.samples * bytesPerSample;
  const rowBytes = h.width * bpp;
  const stride = rowBytes + 1;
  const expected = h.height * stride;
  if (expected > idatBytes * MAX_INFLATE_RATIO) {
    throw new InputError(`${name}: truncated or corrupt PNG: ${h.width}×${h.height} image from only ${idatBytes} bytes of data`);
  }
  let raw: Uint8Array;
  try {
    raw = inflateExpected(idat.length === 1 ? idat[0] : Buffer.concat(idat), expected, expected + 4096);
  } catch (err) {
    throw new InputError(`${name}: corrupt PNG image data (${oneLine((err as Error).message)})`);
  }
  if (raw.length < expected) {
    throw new InputError(`${name}: truncated PNG image data (${raw.length} of ${expected} bytes)`);
  }

  for (let y = 0; y < h.height; y++) {
    const filter = raw[y * stride];
    if (filter > 4) throw new InputError(`${name}: corrupt PNG: row ${y} has filter type ${filter}`);
    unfilterRow(raw, y * stride + 1, y > 0 ? (y - 1) * stride + 1 : -1, rowBytes, bpp, filter);
  }

  const n = h.width * h.height;
  const w = h.width;
  const samples = h.samples;
  if (h.bitDepth === 8) {
    const out = new Uint8Array(n * h.channels);
    for (let c = 0; c < h.channels; c++) {
      for (let y = 0; y < h.height; y++) {
        let s = y * stride + 1 + c;
        const d = c * n + y * w;
        for (let x = 0; x < w; x++, s += samples) out[d + x] = raw[s];
      }
    }
    return { width: w, height: h.height, channels: h.channels, dtype: 'uint8', data: out };
  }
  const out = new Uint16Array(n * h.channels);
  const step = 2 * samples;
  for (let c = 0; c < h.channels; c++) {
    for (let y = 0; y < h.height; y++) {
      let s = y * stride + 1 + 2 * c;
      const d = c * n + y * w;
      for (let x = 0; x < w; x++, s += step) out[d + x] = (raw[s] << 8) | raw[s + 1];
    }
  }
  return { width: w, height: h.height, channels: h.channels, dtype: 'uint16', data: out };
}

/** Reverses one row's filter in place; `prev` is the previous row's first byte, or -1 for the first row. */
function unfilterRow(r: Uint8Array, cur: number, prev: number, n: number, bpp: number, filter: number): void {
  switch (filter) {
    case 0:
      return;
    case 1: // Sub
      for (let i = bpp; i < n; i++) r[cur + i] += r[cur + i - bpp];
      return;
    case 2: // Up
      if (prev < 0) return;
      for (let i = 0; i < n; i++) r[cur + i] += r[prev + i];
      return;
    case 3: // Average
      if (prev < 0) {
        for (let i = bpp; i < n; i++) r[cur + i] += r[cur + i - bpp] >> 1;
        return;
      }
      for (let i = 0; i < bpp; i++) r[cur + i] += r[prev + i] >> 1;
      for (let i = bpp; i < n; i++) r[cur + i] += (r[cur + i - bpp] + r[prev + i]) >> 1;
      return;
    default: // Paeth; on the first row it reduces to Sub
      if (prev < 0) {
        for (let i = bpp; i < n; i++) r[cur + i] += r[cur + i - bpp];
        return;
      }
      for (let i = 0; i < bpp; i++) r[cur + i] += r[prev + i];
      for (let i = bpp; i < n; i++) {
        const a = r[cur + i - bpp];
        const b = r[prev + i];
        const c = r[prev + i - bpp];
        const p = a + b - c;
        const pa = p > a ? p - a : a - p;
        const pb = p > b ? p - b : b - p;
        const pc = p > c ? p - c : c - p;
        r[cur + i] += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
  }
}

function chunkType(bytes: Uint8Array, at: number): string {
  return String.fromCharCode(bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]);
}

/** Checks the CRC of the chunk at `pos` (it covers type and data). */
function checkCrc(bytes: Uint8Array, pos: number, length: number, name: string): void {
  const stored = ((bytes[pos + 8 + length] << 24) | (bytes[pos + 9 + length] << 16) |
    (bytes[pos + 10 + length] << 8) | bytes[pos + 11 + length]) >>> 0;
  const actual = crc32(bytes.subarray(pos + 4, pos + 8 + length));
  if (stored !== actual) {
    throw new InputError(`${name}: corrupt PNG: CRC mismatch in chunk ${chunkType(bytes, pos + 4)} at offset ${pos}`);
  }
}

let crcTable: Uint32Array | null = null;

/** CRC-32 (PNG/zlib polynomial): node's native one where present (Node ≥ 20.15), else a table loop. */
export function crc32(data: Uint8Array): number {
  if (typeof zlib.crc32 === 'function') return zlib.crc32(data) >>> 0;
  if (crcTable === null) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = crcTable[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
