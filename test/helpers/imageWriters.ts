/**
 * Test-only encoders: a TIFF writer covering every variant the reader
 * supports (classic/BigTIFF, both byte orders, u8/u16/f32, 1 or 3 samples
 * chunky/planar, none/LZW/deflate, predictor 2, strips or tiles, multi-page),
 * an LZW encoder, and a PNG encoder that picks a filter type per row.
 * Written from the specifications, independently of src/ingest, so that a
 * round trip checks the reader rather than mirroring its bugs.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import type { Dtype, PixelArray } from '../../src/ingest/frame.js';

// ---------------------------------------------------------------- shared

/** Deterministic PRNG (mulberry32) so that failures reproduce. */
import { seededRandom as prng } from './random.js';
export { prng };

export interface TestImage {
  width: number;
  height: number;
  channels: number;
  dtype: Dtype;
  /** Channel-planar, native byte order. */
  data: PixelArray;
}

/**
 * Random content with the edge values planted at fixed places:
 * 0 and the maximum for integers; negative values, ±0, ±Infinity, NaN for float32.
 */
export function randomImage(width: number, height: number, channels: number, dtype: Dtype, seed: number): TestImage {
  const rnd = prng(seed);
  const n = width * height * channels;
  let data: PixelArray;
  if (dtype === 'uint8') {
    data = new Uint8Array(n);
    for (let i = 0; i < n; i++) data[i] = Math.floor(rnd() * 256);
    data[0] = 0;
    data[n - 1] = 255;
    if (n > 2) data[1] = 255;
  } else if (dtype === 'uint16') {
    data = new Uint16Array(n);
    for (let i = 0; i < n; i++) data[i] = Math.floor(rnd() * 65536);
    data[0] = 0;
    data[n - 1] = 65535;
    if (n > 2) data[1] = 65535;
  } else {
    data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = (rnd() - 0.5) * 2000;
    const specials = [NaN, -1.5, -0, 0, Infinity, -Infinity, -3.4e38, 1e-40];
    for (let i = 0; i < specials.length && i < n; i++) data[i] = specials[i];
  }
  return { width, height, channels, dtype, data };
}

/** Index of the first differing sample (NaN equals NaN, -0 differs from 0), or -1. */
export function firstMismatch(a: PixelArray, b: PixelArray): number {
  if (a.length !== b.length || a.constructor !== b.constructor) return 0;
  for (let i = 0; i < a.length; i++) {
    if (!Object.is(a[i], b[i])) return i;
  }
  return -1;
}

export function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'scopestream-'));
}

const BYTES: Record<Dtype, number> = { uint8: 1, uint16: 2, float32: 4 };

// ---------------------------------------------------------------- LZW

/**
 * TIFF LZW encoder (as libtiff: Clear first, 9..12-bit MSB-first codes, the
 * code width grows one code earlier than plain LZW, Clear when the table
 * reaches 4094 entries, EOI last).
 */
export function lzwEncode(src: Uint8Array): Uint8Array {
  const out: number[] = [];
  let acc = 0;
  let nacc = 0;
  let width = 9;
  const put = (code: number): void => {
    acc = (acc << width) | code;
    nacc += width;
    while (nacc >= 8) {
      nacc -= 8;
      out.push((acc >>> nacc) & 0xff);
    }
    acc &= (1 << nacc) - 1;
  };
  const table = new Map<number, number>();
  let next = 258;
  const afterEmit = (): void => {
    next++;
    if (next === 4094) {
      put(256);
      table.clear();
      next = 258;
      width = 9;
    } else if (next > (1 << width) - 1) {
      width++;
    }
  };
  put(256);
  if (src.length > 0) {
    let w = src[0];
    for (let i = 1; i < src.length; i++) {
      const c = src[i];
      const key = w * 256 + c;
      const hit = table.get(key);
      if (hit !== undefined) {
        w = hit;
        continue;
      }
      put(w);
      table.set(key, next);
      afterEmit();
      w = c;
    }
    put(w);
    afterEmit();
  }
  put(257);
  if (nacc > 0) out.push((acc << (8 - nacc)) & 0xff);
  return Uint8Array.from(out);
}

// ---------------------------------------------------------------- TIFF

export interface TiffWriteOptions {
  bigTiff?: boolean;
  /** Default true ("II"). */
  littleEndian?: boolean;
  /** 1 = chunky (default), 2 = planar; only matters for 3 channels. */
  planar?: 1 | 2;
  compression?: 1 | 5 | 8 | 32946;
  predictor?: 1 | 2;
  /** Strips of this many rows (default: the whole image in one strip). */
  rowsPerStrip?: number;
  /** Tiles instead of strips (sizes should be multiples of 16, as the spec asks). */
  tile?: { width: number; height: number };
  /** ImageDescription of the first page. */
  description?: string;
  /** 'data-first' (default): each page's pixels, then its IFD. 'ifd-first': all IFDs, then all pixels. */
  layout?: 'data-first' | 'ifd-first';
  /** Per page index: tags to replace (values) or drop (null), to build unusual or broken files. */
  tagOverrides?: Record<number, Record<number, number[] | null>>;
  /** NewSubfileType per page index (e.g. 1 = reduced-resolution thumbnail). */
  subfileTypes?: Record<number, number>;
}

/** Where things landed, so that tests can corrupt precise bytes. */
export interface TiffLayout {
  ifdOffsets: number[];
  /** Byte position of each IFD's next-IFD pointer. */
  nextPointers: number[];
  /** Per page: the file offset and length of each strip/tile. */
  chunks: { offset: number; length: number }[][];
}

interface TagValue {
  tag: number;
  type: number;
  values: number[] | Uint8Array;
  /** Strip/tile offsets, filled in once the chunks are placed. */
  offsets?: boolean;
}

const TYPE_SIZES: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 4, 16: 8 };

export function encodeTiff(pages: TestImage[], opts: TiffWriteOptions = {}): { bytes: Uint8Array; layout: TiffLayout } {
  const big = opts.bigTiff ?? false;
  const le = opts.littleEndian ?? true;
  const compression = opts.compression ?? 1;
  const predictor = opts.predictor ?? 1;

  // Encode every chunk first: IFD sizes do not depend on where the chunks go.
  const pageChunks = pages.map((img) => encodeChunks(img, opts, le, compression, predictor));
  const ifds = pages.map((img, p) => ({
    tags: pageTags(img, p, opts, big, compression, predictor, pageChunks[p]),
  }));
  const headerSize = big ? 16 : 8;
  const entrySize = big ? 20 : 12;
  const countSize = big ? 8 : 2;
  const ptrSize = big ? 8 : 4;
  const inlineSize = big ? 8 : 4;
  const blockSize = (tags: TagValue[]): number => {
    let n = countSize + tags.length * entrySize + ptrSize;
    for (const t of tags) {
      const len = TYPE_SIZES[t.type] * t.values.length;
      if (len > inlineSize) n += len + (len & 1);
    }
    return n;
  };

  // Assign positions.
  const ifdPos: number[] = [];
  const chunkPos: number[][] = pages.map(() => []);
  let cursor = headerSize;
  const align = (): void => { cursor += cursor & 1; };
  const placeChunks = (p: number): void => {
    for (const c of pageChunks[p]) {
      chunkPos[p].push(cursor);
      cursor += c.length;
    }
  };
  if ((opts.layout ?? 'data-first') === 'ifd-first') {
    for (let p = 0; p < pages.length; p++) {
      align();
      ifdPos.push(cursor);
      cursor += blockSize(ifds[p].tags);
    }
    for (let p = 0; p < pages.length; p++) placeChunks(p);
  } else {
    for (let p = 0; p < pages.length; p++) {
      placeChunks(p);
      align();
      ifdPos.push(cursor);
      cursor += blockSize(ifds[p].tags);
    }
  }

  const bytes = new Uint8Array(cursor);
  const dv = new DataView(bytes.buffer);
  const putUint = (pos: number, size: number, v: number): void => {
    if (size === 1) dv.setUint8(pos, v);
    else if (size === 2) dv.setUint16(pos, v, le);
    else if (size === 4) dv.setUint32(pos, v, le);
    else dv.setBigUint64(pos, BigInt(v), le);
  };
  bytes[0] = bytes[1] = le ? 0x49 : 0x4d;
  putUint(2, 2, big ? 43 : 42);
  if (big) {
    putUint(4, 2, 8);
    putUint(6, 2, 0);
  }
  putUint(big ? 8 : 4, ptrSize, ifdPos[0] ?? 0);

  const layout: TiffLayout = { ifdOffsets: ifdPos, nextPointers: [], chunks: [] };
  for (let p = 0; p < pages.length; p++) {
    const chunks = pageChunks[p];
    layout.chunks.push(chunks.map((c, k) => ({ offset: chunkPos[p][k], length: c.length })));
    chunks.forEach((c, k) => bytes.set(c, chunkPos[p][k]));
    // Offsets are only known now.
    const tags = ifds[p].tags.map((t) =>
      t.offsets ? { ...t, values: chunkPos[p].slice(0, t.values.length) } : t);
    const at = ifdPos[p];
    putUint(at, countSize, tags.length);
    let extra = at + countSize + tags.length * entrySize + ptrSize;
    tags.forEach((t, e) => {
      const base = at + countSize + e * entrySize;
      const size = TYPE_SIZES[t.type];
      putUint(base, 2, t.tag);
      putUint(base + 2, 2, t.type);
      putUint(base + 4, big ? 8 : 4, t.values.length);
      const len = size * t.values.length;
      let valuePos = base + (big ? 12 : 8);
      if (len > inlineSize) {
        putUint(valuePos, ptrSize, extra);
        valuePos = extra;
        extra += len + (len & 1);
      }
      for (let i = 0; i < t.values.length; i++) putUint(valuePos + i * size, size, t.values[i]);
    });
    const nextPtr = at + countSize + tags.length * entrySize;
    layout.nextPointers.push(nextPtr);
    putUint(nextPtr, ptrSize, p + 1 < pages.length ? ifdPos[p + 1] : 0);
  }
  return { bytes, layout };
}

export function writeTiff(file: string, pages: TestImage[], opts: TiffWriteOptions = {}): TiffLayout {
  const { bytes, layout } = encodeTiff(pages, opts);
  fs.writeFileSync(file, bytes);
  return layout;
}

function pageTags(
  img: TestImage, p: number, opts: TiffWriteOptions, big: boolean, compression: number, predictor: number,
  chunks: Uint8Array[],
): TagValue[] {
  const spp = img.channels;
  const bits = BYTES[img.dtype] * 8;
  const offType = big ? 16 : 4;
  const tags: TagValue[] = [];
  const add = (tag: number, type: number, values: number[] | Uint8Array, offsets = false): void => {
    tags.push({ tag, type, values, offsets });
  };
  const short = (v: number): number => (v < 65536 ? 3 : 4);
  if (opts.subfileTypes?.[p] !== undefined) add(254, 4, [opts.subfileTypes[p]]);
  add(256, short(img.width), [img.width]);
  add(257, short(img.height), [img.height]);
  add(258, 3, new Array<number>(spp).fill(bits));
  add(259, 3, [compression]);
  add(262, 3, [spp === 3 ? 2 : 1]);
  if (p === 0 && opts.description !== undefined) {
    const text = Buffer.from(opts.description + '\0', 'latin1');
    add(270, 2, new Uint8Array(text));
  }
  if (opts.tile) {
    add(322, 3, [opts.tile.width]);
    add(323, 3, [opts.tile.height]);
    add(324, offType, new Array<number>(chunks.length).fill(0), true);
    add(325, offType, chunks.map((c) => c.length));
  } else {
    add(273, offType, new Array<number>(chunks.length).fill(0), true);
    add(278, short(img.height), [Math.min(opts.rowsPerStrip ?? img.height, img.height)]);
    add(279, offType, chunks.map((c) => c.length));
  }
  add(277, 3, [spp]);
  if (spp > 1) add(284, 3, [opts.planar ?? 1]);
  if (predictor !== 1) add(317, 3, [predictor]);
  add(339, 3, new Array<number>(spp).fill(img.dtype === 'float32' ? 3 : 1));
  const overrides = opts.tagOverrides?.[p] ?? {};
  for (const [key, values] of Object.entries(overrides)) {
    const tag = Number(key);
    const i = tags.findIndex((t) => t.tag === tag);
    if (i >= 0) tags.splice(i, 1);
    if (values !== null) add(tag, values.some((v) => v > 0xffffffff) ? 16 : values.some((v) => v > 0xffff) ? 4 : 3, values);
  }
  return tags.sort((a, b) => a.tag - b.tag);
}

/** The stored chunks of one page, in TIFF order (plane-major for planar data). */
function encodeChunks(img: TestImage, opts: TiffWriteOptions, le: boolean, compression: number, predictor: number): Uint8Array[] {
  const planar = img.channels > 1 ? (opts.planar ?? 1) : 1;
  const cw = opts.tile ? opts.tile.width : img.width;
  const ch = opts.tile ? opts.tile.height : Math.min(opts.rowsPerStrip ?? img.height, img.height);
  const across = Math.ceil(img.width / cw);
  const down = Math.ceil(img.height / ch);
  const chunks: Uint8Array[] = [];
  const planes = planar === 2 ? img.channels : 1;
  for (let plane = 0; plane < planes; plane++) {
    for (let ty = 0; ty < down; ty++) {
      for (let tx = 0; tx < across; tx++) {
        const rows = opts.tile ? ch : Math.min(ch, img.height - ty * ch);
        const raw = chunkBytes(img, planar, plane, tx * cw, ty * ch, cw, rows, le, predictor);
        chunks.push(compress(raw, compression));
      }
    }
  }
  return chunks;
}

/** Serialises a chunk (`width` × `rows`, zero-padded past the image edges) in file byte order. */
function chunkBytes(
  img: TestImage, planar: number, plane: number, x0: number, y0: number, width: number, rows: number, le: boolean,
  predictor: number,
): Uint8Array {
  const sps = planar === 1 ? img.channels : 1;
  const bps = BYTES[img.dtype];
  const n = img.width * img.height;
  const out = new Uint8Array(width * rows * sps * bps);
  const dv = new DataView(out.buffer);
  const row = new Float64Array(width * sps);
  for (let r = 0; r < rows; r++) {
    row.fill(0);
    const y = y0 + r;
    for (let x = 0; x < width; x++) {
      for (let s = 0; s < sps; s++) {
        const c = planar === 1 ? s : plane;
        if (y < img.height && x0 + x < img.width) row[x * sps + s] = img.data[c * n + y * img.width + x0 + x];
      }
    }
    if (predictor === 2) {
      const mod = bps === 1 ? 256 : 65536;
      for (let i = row.length - 1; i >= sps; i--) row[i] = (row[i] - row[i - sps] + mod) % mod;
    }
    for (let i = 0; i < row.length; i++) {
      const pos = (r * width * sps + i) * bps;
      if (bps === 1) dv.setUint8(pos, row[i]);
      else if (bps === 2) dv.setUint16(pos, row[i], le);
      else dv.setFloat32(pos, row[i], le);
    }
  }
  return out;
}

function compress(raw: Uint8Array, compression: number): Uint8Array {
  if (compression === 5) return lzwEncode(raw);
  if (compression === 8 || compression === 32946) return new Uint8Array(zlib.deflateSync(raw));
  return raw;
}

// ---------------------------------------------------------------- PNG

export interface PngEncodeOptions {
  /** Filter type for every row, or (default) row y uses filter y % 5. */
  filter?: number;
  /** Add an alpha channel (gray+alpha / RGBA); the decoder must drop it. */
  alpha?: boolean;
  /** Header-only flags for refusal tests. */
  interlace?: number;
  /** Split the image data into this many IDAT chunks (default 1). */
  idatChunks?: number;
}

/** Encodes a 1- or 3-channel uint8/uint16 planar image (alpha pattern added when asked). */
export function encodePng(img: TestImage, opts: PngEncodeOptions = {}): Uint8Array {
  if (img.dtype === 'float32') throw new Error('PNG has no float samples');
  const bytesPer = img.dtype === 'uint8' ? 1 : 2;
  const alpha = opts.alpha ?? false;
  const samples = img.channels + (alpha ? 1 : 0);
  const colorType = img.channels === 3 ? (alpha ? 6 : 2) : alpha ? 4 : 0;
  const bpp = samples * bytesPer;
  const rowBytes = img.width * bpp;
  const n = img.width * img.height;
  const raw = new Uint8Array(img.height * rowBytes);
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) {
      for (let s = 0; s < samples; s++) {
        const v = s < img.channels ? img.data[s * n + y * img.width + x] : (x * 37 + y * 11) % (bytesPer === 1 ? 256 : 65536);
        const pos = y * rowBytes + (x * samples + s) * bytesPer;
        if (bytesPer === 1) raw[pos] = v;
        else {
          raw[pos] = v >>> 8;
          raw[pos + 1] = v & 0xff;
        }
      }
    }
  }
  const filtered = new Uint8Array(img.height * (rowBytes + 1));
  for (let y = 0; y < img.height; y++) {
    const f = opts.filter ?? y % 5;
    const o = y * (rowBytes + 1);
    filtered[o] = f;
    for (let i = 0; i < rowBytes; i++) {
      const cur = raw[y * rowBytes + i];
      const a = i >= bpp ? raw[y * rowBytes + i - bpp] : 0;
      const b = y > 0 ? raw[(y - 1) * rowBytes + i] : 0;
      const c = y > 0 && i >= bpp ? raw[(y - 1) * rowBytes + i - bpp] : 0;
      let pred = 0;
      if (f === 1) pred = a;
      else if (f === 2) pred = b;
      else if (f === 3) pred = (a + b) >> 1;
      else if (f === 4) pred = paeth(a, b, c);
      filtered[o + 1 + i] = (cur - pred) & 0xff;
    }
  }
  const ihdr = new Uint8Array(13);
  const hv = new DataView(ihdr.buffer);
  hv.setUint32(0, img.width);
  hv.setUint32(4, img.height);
  ihdr[8] = bytesPer * 8;
  ihdr[9] = colorType;
  ihdr[12] = opts.interlace ?? 0;
  const z = new Uint8Array(zlib.deflateSync(filtered));
  const parts = Math.max(1, opts.idatChunks ?? 1);
  const size = Math.ceil(z.length / parts);
  const chunks = [pngChunk('IHDR', ihdr)];
  for (let i = 0; i < parts; i++) chunks.push(pngChunk('IDAT', z.subarray(i * size, Math.min(z.length, (i + 1) * size))));
  chunks.push(pngChunk('IEND', new Uint8Array(0)));
  return concat([Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), ...chunks]);
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** One PNG chunk: length, type, data, CRC over type + data. */
export function pngChunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  dv.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
