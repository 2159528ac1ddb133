/**
 * Our own TIFF / BigTIFF reader (see docs/ingest-files.md for why not geotiff).
 *
 * Opening walks the IFD chain with small positioned reads and keeps, per page,
 * only the directory entries it needs; a page's strips or tiles are read when
 * that page is asked for, coalesced into as few reads as the layout allows, and
 * uncompressed single-plane data is read straight into the output array.
 */
import { open as openFile, readFile, type FileHandle } from 'node:fs/promises';
import { InputError } from '../errors.js';
import type { LabelArray } from '../kernels/objectIndex.js';
import { allocPixels, type Dtype, type Frame, type FrameSource, type PixelArray, type SourceInfo } from './frame.js';
import {
  DEFAULT_MAX_PIXELS, HOST_LITTLE_ENDIAN, checkFps, checkPixelCount, fileError, inflateExpected, oneLine, sniffFormat,
  type DecodedImage, type ImageInfo, type ImageReadOptions,
} from './imageFile.js';
import { decodePng } from './png.js';

// ---------------------------------------------------------------- tags, types

const T_NEW_SUBFILE_TYPE = 254;
const T_IMAGE_WIDTH = 256;
const T_IMAGE_LENGTH = 257;
const T_BITS_PER_SAMPLE = 258;
const T_COMPRESSION = 259;
const T_PHOTOMETRIC = 262;
const T_FILL_ORDER = 266;
const T_IMAGE_DESCRIPTION = 270;
const T_STRIP_OFFSETS = 273;
const T_SAMPLES_PER_PIXEL = 277;
const T_ROWS_PER_STRIP = 278;
const T_STRIP_BYTE_COUNTS = 279;
const T_PLANAR_CONFIGURATION = 284;
const T_PREDICTOR = 317;
const T_TILE_WIDTH = 322;
const T_TILE_LENGTH = 323;
const T_TILE_OFFSETS = 324;
const T_TILE_BYTE_COUNTS = 325;
const T_SAMPLE_FORMAT = 339;

const WANTED_TAGS = new Set([
  T_NEW_SUBFILE_TYPE, T_IMAGE_WIDTH, T_IMAGE_LENGTH, T_BITS_PER_SAMPLE, T_COMPRESSION, T_PHOTOMETRIC,
  T_FILL_ORDER, T_IMAGE_DESCRIPTION, T_STRIP_OFFSETS, T_SAMPLES_PER_PIXEL, T_ROWS_PER_STRIP,
  T_STRIP_BYTE_COUNTS, T_PLANAR_CONFIGURATION, T_PREDICTOR, T_TILE_WIDTH, T_TILE_LENGTH, T_TILE_OFFSETS,
  T_TILE_BYTE_COUNTS, T_SAMPLE_FORMAT,
]);

const TAG_NAMES: Record<number, string> = {
  [T_IMAGE_WIDTH]: 'ImageWidth', [T_IMAGE_LENGTH]: 'ImageLength', [T_BITS_PER_SAMPLE]: 'BitsPerSample',
  [T_COMPRESSION]: 'Compression', [T_PHOTOMETRIC]: 'PhotometricInterpretation', [T_FILL_ORDER]: 'FillOrder',
  [T_STRIP_OFFSETS]: 'StripOffsets', [T_SAMPLES_PER_PIXEL]: 'SamplesPerPixel', [T_ROWS_PER_STRIP]: 'RowsPerStrip',
  [T_STRIP_BYTE_COUNTS]: 'StripByteCounts', [T_PLANAR_CONFIGURATION]: 'PlanarConfiguration',
  [T_PREDICTOR]: 'Predictor', [T_TILE_WIDTH]: 'TileWidth', [T_TILE_LENGTH]: 'TileLength',
  [T_TILE_OFFSETS]: 'TileOffsets', [T_TILE_BYTE_COUNTS]: 'TileByteCounts', [T_SAMPLE_FORMAT]: 'SampleFormat',
  [T_NEW_SUBFILE_TYPE]: 'NewSubfileType', [T_IMAGE_DESCRIPTION]: 'ImageDescription',
};

/** Byte size of each TIFF field type (index = type code); 0 = unknown type. */
const TYPE_SIZE = [0, 1, 1, 2, 4, 8, 1, 1, 2, 4, 8, 4, 8, 4, 0, 0, 8, 8, 8];

const COMPRESSION_NAMES: Record<number, string> = {
  2: 'CCITT RLE', 3: 'CCITT Group 3 fax', 4: 'CCITT Group 4 fax', 6: 'old-style JPEG', 7: 'JPEG',
  32773: 'PackBits', 34661: 'JBIG', 34676: 'SGILog', 34712: 'JPEG 2000', 34887: 'LERC', 34925: 'LZMA',
  50000: 'Zstandard', 50001: 'WebP', 50002: 'JPEG XL',
};

const C_NONE = 1;
const C_LZW = 5;
const C_DEFLATE = 8;
const C_DEFLATE_OLD = 32946;

/**
 * Neither LZW (12-bit codes, strings < 4096 bytes) nor deflate (≈1032:1) can
 * expand one compressed byte into more than this; a header claiming more
 * pixels than the file could hold is refused before anything is allocated.
 */
const MAX_EXPANSION = 4096;
/** Gap between two chunks on disk that we still read through rather than issue a second read. */
const COALESCE_GAP = 4096;
/** Largest single read when coalescing compressed chunks. */
const COALESCE_MAX = 16 << 20;
/** Entries fetched by the first read of a directory; typical IFDs have 10–20, longer ones take a second read. */
const IFD_GUESS_ENTRIES = 32;
/** How much of page 0's ImageDescription we keep (ImageJ puts its keys first). */
const DESCRIPTION_MAX = 65536;

// ---------------------------------------------------------------- public API

export interface TiffOpenOptions extends ImageReadOptions {
  /** Stop after the first page (for single images such as label files). */
  firstPageOnly?: boolean;
  /**
   * Also accept signed 8/16-bit and 32-bit integer samples, which are label
   * images, never frames: such a file is read with `readLabels`.
   */
  labels?: boolean;
}

/** What a page's samples are: a frame dtype, or one of the integer types only label images have. */
type SampleType = Dtype | 'int8' | 'int16' | 'uint32' | 'int32';

/** Decoded samples: frame pixels, or the 32-bit integers of a label image (int8/int16 arrive as their uint bits). */
type SampleArray = PixelArray | Uint32Array | Int32Array;

/** A directory entry: its value inline (copied) or the file offset of its array. */
interface Entry {
  tag: number;
  type: number;
  count: number;
  inline: Uint8Array | null;
  offset: number;
}

interface Page {
  width: number;
  height: number;
  channels: number;
  sample: SampleType;
  /** Index of this page's IFD in the chain (pages skip reduced-resolution IFDs). */
  ifd: number;
  bytesPerSample: number;
  compression: number;
  predictor: number;
  planar: number;
  tiled: boolean;
  /** Stored chunk size: tile width/length, or image width/RowsPerStrip. */
  chunkWidth: number;
  chunkHeight: number;
  chunksAcross: number;
  chunksPerPlane: number;
  chunkCount: number;
  offsets: Entry;
  counts: Entry | null;
}

export class TiffReader {
  /** Total bytes read from the file so far (directories and pixel data): lets tests check laziness. */
  bytesRead = 0;
  /** ImageDescription of the first page (at most 64 KiB), or '' when absent. */
  description = '';

  private readonly pages: Page[] = [];
  private scratch: Uint8Array = new Uint8Array(0);
  private decodeBuf: Uint8Array = new Uint8Array(0);
  private tail: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    readonly fileSize: number,
    readonly littleEndian: boolean,
    readonly bigTiff: boolean,
    private readonly maxPixels: number,
    private readonly labels: boolean,
  ) {}

  static async open(path: string, opts: TiffOpenOptions = {}): Promise<TiffReader> {
    let fh: FileHandle;
    let size: number;
    try {
      fh = await openFile(path, 'r');
    } catch (err) {
      throw fileError(path, err);
    }
    try {
      const st = await fh.stat();
      if (st.isDirectory()) throw new InputError(`${path}: is a directory, not a TIFF file`);
      size = st.size;
      const head = new Uint8Array(Math.min(16, size));
      const { bytesRead } = await fh.read(head, 0, head.length, 0);
      const magic = head.subarray(0, bytesRead);
      if (sniffFormat(magic) !== 'tiff') {
        const hex = Array.from(magic.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
        throw new InputError(`${path}: not a TIFF file (bad magic bytes ${hex || '(empty file)'})`);
      }
      const le = magic[0] === 0x49;
      const dv = new DataView(magic.buffer, magic.byteOffset, magic.byteLength);
      const big = dv.getUint16(2, le) === 43;
      if (big && (bytesRead < 16 || dv.getUint16(4, le) !== 8 || dv.getUint16(6, le) !== 0)) {
        throw new InputError(`${path}: truncated or corrupt BigTIFF header`);
      }
      if (!big && bytesRead < 8) throw new InputError(`${path}: truncated TIFF header`);
      const first = big ? u64(dv, 8, le) : dv.getUint32(4, le);
      const reader = new TiffReader(path, fh, size, le, big, opts.maxPixels ?? DEFAULT_MAX_PIXELS, opts.labels === true);
      reader.bytesRead = bytesRead;
      await reader.walk(first, opts.firstPageOnly === true);
      return reader;
    } catch (err) {
      await fh.close().catch(() => undefined);
      throw fileError(path, err);
    }
  }

  get pageCount(): number {
    return this.pages.length;
  }

  /** Geometry of page i (all pages share it unless opened with firstPageOnly). */
  pageInfo(i: number): ImageInfo {
    const p = this.page(i);
    return { width: p.width, height: p.height, channels: p.channels, dtype: this.frameDtype(p) };
  }

  get width(): number { return this.pages[0].width; }
  get height(): number { return this.pages[0].height; }
  get channels(): number { return this.pages[0].channels; }
  get dtype(): Dtype { return this.frameDtype(this.pages[0]); }

  /**
   * Frame rate from ImageJ metadata (`fps=` or `finterval=`), when the file has it.
   */
  get imagejFps(): number | undefined {
    return imagejFps(this.description);
  }

  /**
   * Decodes page i into `out` when it is an array of the page's type and size,
   * else into a new array. Calls are serialised: the reader has one set of scratch buffers.
   */
  readPage(i: number, out?: PixelArray): Promise<PixelArray> {
    let p: Page;
    try {
      p = this.page(i);
      this.frameDtype(p);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.serialised(() => this.readPageNow(p, i, out) as Promise<PixelArray>);
  }

  /**
   * The first page as a label image (opened with `labels: true`): 8/16-bit
   * unsigned as they are, uint32 and int32 as such, signed 8/16-bit widened
   * to int32. Float samples are returned as they are (the caller refuses them).
   */
  readLabels(): Promise<LabelArray | Float32Array> {
    const p = this.pages[0];
    return this.serialised(async () => {
      const raw = await this.readPageNow(p, 0, undefined);
      if (p.sample === 'int8') return Int32Array.from(new Int8Array(raw.buffer, raw.byteOffset, raw.length));
      if (p.sample === 'int16') return Int32Array.from(new Int16Array(raw.buffer, raw.byteOffset, raw.length));
      return raw;
    });
  }

  private serialised<T>(work: () => Promise<T>): Promise<T> {
    const job = this.tail.then(work);
    this.tail = job.catch(() => undefined);
    return job;
  }

  /** The page's samples as a frame dtype; label-only sample types are not frames. */
  private frameDtype(p: Page): Dtype {
    if (p.sample === 'uint8' || p.sample === 'uint16' || p.sample === 'float32') return p.sample;
    throw this.fail(`${p.sample} samples are label data, not frames (frames are 8/16-bit unsigned or 32-bit float)`);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.tail;
    await this.fh.close();
  }

  // -------------------------------------------------------------- directories

  private page(i: number): Page {
    if (!Number.isInteger(i) || i < 0 || i >= this.pages.length) {
      throw new RangeError(`${this.path}: page ${i} out of range (0..${this.pages.length - 1})`);
    }
    return this.pages[i];
  }

  private fail(problem: string): InputError {
    return new InputError(`${this.path}: ${problem}`);
  }

  private async walk(first: number, firstPageOnly: boolean): Promise<void> {
    const big = this.bigTiff;
    const headerSize = big ? 16 : 8;
    const countSize = big ? 8 : 2;
    const entrySize = big ? 20 : 12;
    const nextSize = big ? 8 : 4;
    const seen = new Set<number>();
    let offset = first;
    for (let ifd = 0; offset !== 0; ifd++) {
      if (seen.has(offset)) throw this.fail(`corrupt IFD chain: IFD ${ifd} loops back to offset ${offset}`);
      if (offset < headerSize) throw this.fail(`corrupt IFD offset ${offset} (IFD ${ifd}) inside the header`);
      if (offset + countSize + nextSize > this.fileSize) {
        throw this.fail(`truncated: IFD ${ifd} at offset ${offset} lies beyond end of file (${this.fileSize} bytes)`);
      }
      seen.add(offset);
      // One speculative read usually covers the whole directory.
      let buf = new Uint8Array(Math.min(this.fileSize - offset, countSize + IFD_GUESS_ENTRIES * entrySize + nextSize));
      await this.readAt(buf, offset, `IFD ${ifd}`);
      let dv = new DataView(buf.buffer);
      const n = big ? u64(dv, 0, this.littleEndian) : dv.getUint16(0, this.littleEndian);
      const needed = countSize + n * entrySize + nextSize;
      if (offset + needed > this.fileSize) {
        throw this.fail(`truncated: IFD ${ifd} at offset ${offset} (${n} entries) extends beyond end of file (${this.fileSize} bytes)`);
      }
      if (needed > buf.length) {
        buf = new Uint8Array(needed);
        await this.readAt(buf, offset, `IFD ${ifd}`);
        dv = new DataView(buf.buffer);
      }
      const entries = this.parseEntries(buf, dv, countSize, n, entrySize, ifd);
      const next = big ? u64(dv, countSize + n * entrySize, this.littleEndian) : dv.getUint32(countSize + n * entrySize, this.littleEndian);
      // Reduced-resolution copies (thumbnails, pyramid levels) are not frames of the movie.
      const subfile = entries.get(T_NEW_SUBFILE_TYPE);
      const reduced = subfile !== undefined && ((await this.scalar(subfile, ifd)) & 1) === 1;
      if (!reduced) {
        const page = await this.describePage(entries, ifd);
        if (this.pages.length === 0) {
          const desc = entries.get(T_IMAGE_DESCRIPTION);
          if (desc) this.description = await this.readAscii(desc, ifd);
        } else {
          const p0 = this.pages[0];
          if (page.width !== p0.width || page.height !== p0.height || page.channels !== p0.channels || page.sample !== p0.sample) {
            throw this.fail(
              `page ${this.pages.length} is ${page.width}×${page.height}×${page.channels} ${page.sample}, ` +
              `page 0 is ${p0.width}×${p0.height}×${p0.channels} ${p0.sample}: all pages must have the same size and type`,
            );
          }
        }
        this.pages.push(page);
        if (firstPageOnly) break;
      }
      offset = next;
    }
    if (this.pages.length === 0) throw this.fail('contains no image (empty IFD chain)');
  }

  private parseEntries(buf: Uint8Array, dv: DataView, start: number, n: number, entrySize: number, ifd: number): Map<number, Entry> {
    const le = this.littleEndian;
    const big = this.bigTiff;
    const field = big ? 8 : 4;
    const entries = new Map<number, Entry>();
    for (let e = 0; e < n; e++) {
      const base = start + e * entrySize;
      const tag = dv.getUint16(base, le);
      if (!WANTED_TAGS.has(tag)) continue;
      const type = dv.getUint16(base + 2, le);
      const count = big ? u64(dv, base + 4, le) : dv.getUint32(base + 4, le);
      const size = TYPE_SIZE[type] ?? 0;
      if (size === 0) throw this.fail(`corrupt IFD ${ifd}: tag ${TAG_NAMES[tag] ?? tag} has unknown type ${type}`);
      const valuePos = base + (big ? 12 : 8);
      const total = size * count;
      if (total <= field) {
        entries.set(tag, { tag, type, count, inline: buf.slice(valuePos, valuePos + total), offset: 0 });
      } else {
        const offset = big ? u64(dv, valuePos, le) : dv.getUint32(valuePos, le);
        entries.set(tag, { tag, type, count, inline: null, offset });
      }
    }
    return entries;
  }

  /** Reads the unsigned integer values of an entry, checking its array lies inside the file. */
  private async uints(e: Entry, ifd: number): Promise<Float64Array> {
    const name = TAG_NAMES[e.tag] ?? String(e.tag);
    const size = TYPE_SIZE[e.type];
    let bytes = e.inline;
    if (bytes === null) {
      const len = size * e.count;
      if (e.offset + len > this.fileSize) {
        throw this.fail(`truncated: ${name} of IFD ${ifd} (offset ${e.offset}, ${len} bytes) extends beyond end of file (${this.fileSize} bytes)`);
      }
      bytes = new Uint8Array(len);
      await this.readAt(bytes, e.offset, `${name} of IFD ${ifd}`);
    }
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const le = this.littleEndian;
    const out = new Float64Array(e.count);
    switch (e.type) {
      case 1: for (let i = 0; i < e.count; i++) out[i] = bytes[i]; break;
      case 3: for (let i = 0; i < e.count; i++) out[i] = dv.getUint16(2 * i, le); break;
      case 4: case 13: for (let i = 0; i < e.count; i++) out[i] = dv.getUint32(4 * i, le); break;
      case 8: for (let i = 0; i < e.count; i++) out[i] = dv.getInt16(2 * i, le); break;
      case 9: for (let i = 0; i < e.count; i++) out[i] = dv.getInt32(4 * i, le); break;
      case 16: case 18: for (let i = 0; i < e.count; i++) out[i] = u64(dv, 8 * i, le); break;
      default: throw this.fail(`corrupt IFD ${ifd}: tag ${name} has non-integer type ${e.type}`);
    }
    return out;
  }

  private async scalar(e: Entry, ifd: number): Promise<number> {
    if (e.count < 1) throw this.fail(`corrupt IFD ${ifd}: tag ${TAG_NAMES[e.tag] ?? e.tag} has no value`);
    const values = await this.uints(e.count > 1 ? { ...e, count: e.inline ? e.count : 1 } : e, ifd);
    return values[0];
  }

  /** All values of a per-sample tag, which must agree (we support one type for all samples). */
  private async perSample(e: Entry | undefined, fallback: number, ifd: number): Promise<number> {
    if (!e) return fallback;
    const v = await this.uints(e, ifd);
    if (v.length === 0) throw this.fail(`corrupt IFD ${ifd}: tag ${TAG_NAMES[e.tag]} has no value`);
    for (let i = 1; i < v.length; i++) {
      if (v[i] !== v[0]) throw this.fail(`unsupported: samples of different ${TAG_NAMES[e.tag]} (${Array.from(v).join(', ')}) in IFD ${ifd}`);
    }
    return v[0];
  }

  private async readAscii(e: Entry, ifd: number): Promise<string> {
    const len = Math.min(e.count, DESCRIPTION_MAX);
    let bytes: Uint8Array;
    if (e.inline) {
      bytes = e.inline;
    } else {
      if (e.offset + len > this.fileSize) return '';
      bytes = new Uint8Array(len);
      await this.readAt(bytes, e.offset, `ImageDescription of IFD ${ifd}`);
    }
    const end = bytes.indexOf(0);
    return Buffer.from(bytes.buffer, bytes.byteOffset, end < 0 ? bytes.length : end).toString('latin1');
  }

  /** Validates one IFD and reduces it to what reading its pixels needs. */
  private async describePage(entries: Map<number, Entry>, ifd: number): Promise<Page> {
    const get = async (tag: number, fallback?: number): Promise<number> => {
      const e = entries.get(tag);
      if (!e) {
        if (fallback === undefined) throw this.fail(`corrupt IFD ${ifd}: required tag ${TAG_NAMES[tag]} is missing`);
        return fallback;
      }
      return this.scalar(e, ifd);
    };
    const width = await get(T_IMAGE_WIDTH);
    const height = await get(T_IMAGE_LENGTH);
    if (width < 1 || height < 1) throw this.fail(`corrupt IFD ${ifd}: image size ${width}×${height}`);
    const spp = await get(T_SAMPLES_PER_PIXEL, 1);
    if (spp !== 1 && spp !== 3) {
      throw this.fail(`unsupported SamplesPerPixel ${spp} in IFD ${ifd} (only 1 = grayscale or 3 = RGB)`);
    }
    const bits = await this.perSample(entries.get(T_BITS_PER_SAMPLE), 1, ifd);
    const format = await this.perSample(entries.get(T_SAMPLE_FORMAT), 1, ifd);
    let sample: SampleType;
    if (format === 1 && bits === 8) sample = 'uint8';
    else if (format === 1 && bits === 16) sample = 'uint16';
    else if (format === 3 && bits === 32) sample = 'float32';
    else if (this.labels && format === 1 && bits === 32) sample = 'uint32';
    else if (this.labels && format === 2 && (bits === 8 || bits === 16 || bits === 32)) sample = bits === 8 ? 'int8' : bits === 16 ? 'int16' : 'int32';
    else {
      const kind = format === 1 ? 'unsigned integer' : format === 2 ? 'signed integer' : format === 3 ? 'floating point' : `SampleFormat ${format}`;
      const allowed = this.labels ? '8/16/32-bit integer and 32-bit float' : '8/16-bit unsigned and 32-bit float';
      throw this.fail(`unsupported sample format: ${bits}-bit ${kind} in IFD ${ifd} (only ${allowed})`);
    }
    const compression = await get(T_COMPRESSION, 1);
    if (compression !== C_NONE && compression !== C_LZW && compression !== C_DEFLATE && compression !== C_DEFLATE_OLD) {
      const name = COMPRESSION_NAMES[compression];
      throw this.fail(
        `unsupported compression ${compression}${name ? ` (${name})` : ''} in IFD ${ifd} (supported: 1 none, 5 LZW, 8/32946 deflate)`,
      );
    }
    const predictor = await get(T_PREDICTOR, 1);
    if (predictor !== 1 && !(predictor === 2 && sample !== 'float32')) {
      throw this.fail(`unsupported Predictor ${predictor} for ${sample} in IFD ${ifd} (supported: 1, and 2 for integers)`);
    }
    const fill = await get(T_FILL_ORDER, 1);
    if (fill !== 1) throw this.fail(`unsupported FillOrder ${fill} in IFD ${ifd} (only 1)`);
    const planar = spp === 1 ? 1 : await get(T_PLANAR_CONFIGURATION, 1);
    if (planar !== 1 && planar !== 2) throw this.fail(`corrupt IFD ${ifd}: PlanarConfiguration ${planar}`);
    const photometric = entries.has(T_PHOTOMETRIC) ? await get(T_PHOTOMETRIC) : spp === 3 ? 2 : 1;
    if (photometric > 2) {
      const what = photometric === 3 ? 'palette-color' : photometric === 6 ? 'YCbCr' : photometric === 5 ? 'CMYK' : `PhotometricInterpretation ${photometric}`;
      throw this.fail(`unsupported ${what} image in IFD ${ifd} (only grayscale and RGB)`);
    }
    checkPixelCount(this.path, width, height, spp, this.maxPixels);

    const bytesPerSample = bits / 8;
    const pageBytes = width * height * spp * bytesPerSample;
    const budget = compression === C_NONE ? this.fileSize : this.fileSize * MAX_EXPANSION;
    if (pageBytes > budget) {
      throw this.fail(`truncated or corrupt: IFD ${ifd} claims a ${width}×${height}×${spp} ${sample} image (${pageBytes} bytes) but the file has only ${this.fileSize} bytes`);
    }

    const tiled = entries.has(T_TILE_OFFSETS);
    let chunkWidth: number;
    let chunkHeight: number;
    if (tiled) {
      chunkWidth = await get(T_TILE_WIDTH);
      chunkHeight = await get(T_TILE_LENGTH);
      if (chunkWidth < 1 || chunkHeight < 1) throw this.fail(`corrupt IFD ${ifd}: tile size ${chunkWidth}×${chunkHeight}`);
      // A tile is decoded whole; keep one tile within the same cap as a page.
      checkPixelCount(this.path, chunkWidth, chunkHeight, spp, this.maxPixels);
    } else {
      chunkWidth = width;
      chunkHeight = Math.min(await get(T_ROWS_PER_STRIP, height), height);
      if (chunkHeight < 1) throw this.fail(`corrupt IFD ${ifd}: RowsPerStrip 0`);
    }
    const chunksAcross = Math.ceil(width / chunkWidth);
    const chunksPerPlane = chunksAcross * Math.ceil(height / chunkHeight);
    const chunkCount = chunksPerPlane * (planar === 2 ? spp : 1);
    const offsets = entries.get(tiled ? T_TILE_OFFSETS : T_STRIP_OFFSETS);
    const counts = entries.get(tiled ? T_TILE_BYTE_COUNTS : T_STRIP_BYTE_COUNTS) ?? null;
    const what = tiled ? 'tile' : 'strip';
    if (!offsets) throw this.fail(`corrupt IFD ${ifd}: required tag ${tiled ? 'TileOffsets' : 'StripOffsets'} is missing`);
    if (offsets.count < chunkCount) {
      throw this.fail(`corrupt IFD ${ifd}: ${offsets.count} ${what} offsets for ${chunkCount} ${what}s`);
    }
    if (counts === null && compression !== C_NONE) {
      throw this.fail(`corrupt IFD ${ifd}: ${tiled ? 'TileByteCounts' : 'StripByteCounts'} missing for compressed data`);
    }
    if (counts !== null && counts.count < chunkCount) {
      throw this.fail(`corrupt IFD ${ifd}: ${counts.count} ${what} byte counts for ${chunkCount} ${what}s`);
    }
    return {
      ifd, width, height, channels: spp, sample, bytesPerSample, compression, predictor, planar, tiled,
      chunkWidth, chunkHeight, chunksAcross, chunksPerPlane, chunkCount, offsets, counts,
    };
  }

  // -------------------------------------------------------------- pixel data

  private async readPageNow(p: Page, index: number, out: PixelArray | undefined): Promise<SampleArray> {
    if (this.closed) throw new Error(`${this.path}: reader is closed`);
    const n = p.width * p.height * p.channels;
    const dst = out !== undefined && out.length === n && sampleMatches(out, p.sample) ? out : allocSamples(p.sample, n);
    const offsets = await this.uints(p.offsets, p.ifd);
    const counts = p.counts ? await this.uints(p.counts, p.ifd) : null;
    if (p.compression === C_NONE && !p.tiled && (p.channels === 1 || p.planar === 2)) {
      await this.readDirect(p, index, offsets, counts, dst);
    } else {
      await this.readChunks(p, index, offsets, counts, dst);
    }
    return dst;
  }

  /** Uncompressed strips whose layout is already planar go straight into the output. */
  private async readDirect(p: Page, index: number, offsets: Float64Array, counts: Float64Array | null, dst: SampleArray): Promise<void> {
    const bps = p.bytesPerSample;
    const rowBytes = p.width * bps;
    const bytes = new Uint8Array(dst.buffer, dst.byteOffset, dst.byteLength);
    let runFile = 0;
    let runDst = 0;
    let runLen = 0;
    for (let k = 0; k < p.chunkCount; k++) {
      const plane = Math.floor(k / p.chunksPerPlane);
      const y0 = (k % p.chunksPerPlane) * p.chunkHeight;
      const need = Math.min(p.chunkHeight, p.height - y0) * rowBytes;
      const off = offsets[k];
      this.checkChunk(p, index, k, off, counts ? counts[k] : need, need);
      const dstOff = (plane * p.height + y0) * rowBytes;
      if (runLen > 0 && off === runFile + runLen && dstOff === runDst + runLen) {
        runLen += need;
      } else {
        if (runLen > 0) await this.readAt(bytes.subarray(runDst, runDst + runLen), runFile, `page ${index}`);
        runFile = off;
        runDst = dstOff;
        runLen = need;
      }
    }
    if (runLen > 0) await this.readAt(bytes.subarray(runDst, runDst + runLen), runFile, `page ${index}`);
    if (p.bytesPerSample > 1 && this.littleEndian !== HOST_LITTLE_ENDIAN) swapInPlace(dst);
    if (p.predictor === 2) {
      for (let row = 0; row < p.height * p.channels; row++) undoPredictorRow(dst as IntegerArray, row * p.width, p.width);
    }
  }

  /** General path: chunks read in coalesced groups, decoded, scattered into the planar output. */
  private async readChunks(p: Page, index: number, offsets: Float64Array, counts: Float64Array | null, dst: SampleArray): Promise<void> {
    const sps = p.planar === 1 ? p.channels : 1;
    const rowBytes = p.chunkWidth * sps * p.bytesPerSample;
    const compressed = p.compression !== C_NONE;
    let k = 0;
    while (k < p.chunkCount) {
      // Group consecutive chunks stored (nearly) back to back into one read.
      const first = k;
      const groupStart = offsets[k];
      let groupEnd = groupStart;
      for (; k < p.chunkCount; k++) {
        const off = offsets[k];
        const len = this.chunkFileBytes(p, index, k, off, counts, rowBytes, compressed);
        if (k > first && (off < groupEnd || off - groupEnd > COALESCE_GAP || off + len - groupStart > COALESCE_MAX)) break;
        groupEnd = off + len;
      }
      const span = groupEnd - groupStart;
      if (this.scratch.length < span) this.scratch = new Uint8Array(span);
      const buf = this.scratch.subarray(0, span);
      await this.readAt(buf, groupStart, `page ${index}`);
      for (let c = first; c < k; c++) {
        const off = offsets[c] - groupStart;
        const len = this.chunkFileBytes(p, index, c, offsets[c], counts, rowBytes, compressed);
        this.decodeChunk(p, index, c, buf.subarray(off, off + len), rowBytes, dst);
      }
    }
  }

  /** Bytes of chunk k in the file, after checking that they lie inside it. */
  private chunkFileBytes(p: Page, index: number, k: number, off: number, counts: Float64Array | null, rowBytes: number, compressed: boolean): number {
    const need = this.chunkRows(p, k) * rowBytes;
    if (compressed) {
      const count = counts ? counts[k] : 0;
      this.checkChunk(p, index, k, off, count, count);
      if (count === 0) throw this.fail(`corrupt: ${chunkName(p, k)} of page ${index} has byte count 0`);
      if (need > count * MAX_EXPANSION) {
        throw this.fail(`corrupt: ${chunkName(p, k)} of page ${index} claims ${need} bytes from ${count} compressed bytes`);
      }
      return count;
    }
    this.checkChunk(p, index, k, off, counts ? counts[k] : need, need);
    return need;
  }

  /** Rows stored in chunk k: tiles are always whole, the last strip may be short. */
  private chunkRows(p: Page, k: number): number {
    if (p.tiled) return p.chunkHeight;
    const y0 = (k % p.chunksPerPlane) * p.chunkHeight;
    return Math.min(p.chunkHeight, p.height - y0);
  }

  private checkChunk(p: Page, index: number, k: number, off: number, count: number, need: number): void {
    const chunk = chunkName(p, k);
    if (off < 8) throw this.fail(`corrupt: ${chunk} of page ${index} has offset ${off}`);
    if (count < need) {
      throw this.fail(`truncated: ${chunk} of page ${index} has ${count} bytes, needs ${need}`);
    }
    if (off + need > this.fileSize) {
      throw this.fail(
        `truncated: ${chunk} of page ${index} (offset ${off}, ${need} bytes) extends beyond end of file (${this.fileSize} bytes)`,
      );
    }
  }

  private decodeChunk(p: Page, index: number, k: number, src: Uint8Array, rowBytes: number, dst: SampleArray): void {
    const storedRows = this.chunkRows(p, k);
    const expected = storedRows * rowBytes;
    let data: Uint8Array;
    if (p.compression === C_NONE) {
      data = src;
    } else if (p.compression === C_LZW) {
      if (src.length >= 2 && src[0] === 0 && (src[1] & 1) === 1) {
        throw this.fail(`unsupported old-style (pre-TIFF 6.0) LZW in ${chunkName(p, k)} of page ${index}`);
      }
      if (this.decodeBuf.length < expected) this.decodeBuf = new Uint8Array(expected);
      data = this.decodeBuf.subarray(0, expected);
      const got = lzwDecode(src, data);
      if (got < 0) throw this.fail(`LZW stream corrupt in ${chunkName(p, k)} of page ${index} (invalid code at byte ${-got - 1})`);
      if (got < expected) throw this.fail(`LZW stream corrupt in ${chunkName(p, k)} of page ${index} (decoded ${got} of ${expected} bytes)`);
    } else {
      let inflated: Buffer;
      try {
        inflated = inflateExpected(src, expected, Math.max(2 * expected, 1024));
      } catch (err) {
        throw this.fail(`deflate stream corrupt in ${chunkName(p, k)} of page ${index} (${oneLine((err as Error).message)})`);
      }
      if (inflated.length < expected) {
        throw this.fail(`deflate stream corrupt in ${chunkName(p, k)} of page ${index} (decoded ${inflated.length} of ${expected} bytes)`);
      }
      data = inflated;
    }

    // Where the chunk lands in the image, clipped at the right and bottom edges.
    const j = k % p.chunksPerPlane;
    const plane0 = p.planar === 2 ? Math.floor(k / p.chunksPerPlane) : 0;
    const planes = p.planar === 2 ? 1 : p.channels;
    const x0 = (j % p.chunksAcross) * p.chunkWidth;
    const y0 = Math.floor(j / p.chunksAcross) * p.chunkHeight;
    const cols = Math.min(p.chunkWidth, p.width - x0);
    const rows = Math.min(p.chunkHeight, p.height - y0);
    const sps = p.planar === 1 ? p.channels : 1;
    const le = this.littleEndian;
    const bps = p.bytesPerSample;
    const planeSize = p.width * p.height;
    const dstBytes = bps === 4 ? new Uint8Array(dst.buffer, dst.byteOffset, dst.byteLength) : null;
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < planes; c++) {
        const d = (plane0 + c) * planeSize + (y0 + r) * p.width + x0;
        const s = r * rowBytes + c * bps;
        if (bps === 1) copy8(data, s, sps, dst as Uint8Array, d, cols);
        else if (bps === 2) copy16(data, s, sps, le, dst as Uint16Array, d, cols);
        else copy32(data, s, sps, le, dstBytes as Uint8Array, d * 4, cols);
        if (p.predictor === 2) undoPredictorRow(dst as IntegerArray, d, cols);
      }
    }
  }

  private async readAt(buf: Uint8Array, position: number, what: string): Promise<void> {
    if (position + buf.length > this.fileSize) {
      throw this.fail(`truncated: ${what} (offset ${position}, ${buf.length} bytes) extends beyond end of file (${this.fileSize} bytes)`);
    }
    let done = 0;
    while (done < buf.length) {
      const { bytesRead } = await this.fh.read(buf, done, buf.length - done, position + done);
      if (bytesRead === 0) throw this.fail(`truncated: ${what} ends at offset ${position + done}, before its ${buf.length} bytes (file shrank?)`);
      done += bytesRead;
      this.bytesRead += bytesRead;
    }
  }
}

/**
 * Replays a TIFF stack page by page: `t = seq * 1000 / fps` when a frame rate
 * is known (option, else ImageJ metadata), else `t = seq`.
 */
export interface TiffSourceOptions extends ImageReadOptions {
  fps?: number;
}

export class TiffSource implements FrameSource {
  private reader: TiffReader | null = null;
  private info: SourceInfo | null = null;

  constructor(readonly path: string, private readonly opts: TiffSourceOptions = {}) {
    checkFps(path, opts.fps);
  }

  async open(): Promise<SourceInfo> {
    if (this.info) return this.info;
    const reader = await TiffReader.open(this.path, { maxPixels: this.opts.maxPixels });
    this.reader = reader;
    const fps = this.opts.fps ?? reader.imagejFps;
    this.info = {
      uri: this.path, width: reader.width, height: reader.height, channels: reader.channels, dtype: reader.dtype,
      frameCount: reader.pageCount, live: false,
      ...(fps !== undefined ? { fps } : {}),
    };
    return this.info;
  }

  async *frames(): AsyncGenerator<Frame> {
    const info = await this.open();
    const reader = this.reader as TiffReader;
    const { width, height, channels } = info;
    for (let seq = 0; seq < reader.pageCount; seq++) {
      // A fresh array per frame: frames are transferred to workers, so the buffer leaves us.
      const data = await reader.readPage(seq);
      yield { seq, t: info.fps ? (seq * 1000) / info.fps : seq, width, height, channels, data };
    }
  }

  async close(): Promise<void> {
    const reader = this.reader;
    this.reader = null;
    this.info = null;
    if (reader) await reader.close();
  }
}

/**
 * The first image of a TIFF (first page) or PNG file, as frame data (8/16-bit
 * unsigned or 32-bit float). The format is recognised by its magic bytes, not
 * by the extension.
 */
export async function readImageFile(path: string, opts: ImageReadOptions = {}): Promise<DecodedImage> {
  if ((await sniffFile(path)) === 'png') return decodePng(await readWhole(path), path, opts);
  const reader = await TiffReader.open(path, { maxPixels: opts.maxPixels, firstPageOnly: true });
  try {
    const data = await reader.readPage(0);
    return { width: reader.width, height: reader.height, channels: reader.channels, dtype: reader.dtype, data };
  } finally {
    await reader.close();
  }
}

/** A label image as read: its geometry and integer labels (float data is returned for the caller to refuse). */
export interface LabelImage {
  width: number;
  height: number;
  channels: number;
  data: LabelArray | Float32Array;
}

/**
 * The first image of a TIFF or PNG file as a label image: what readImageFile
 * reads, and also 32-bit unsigned and signed, and signed 8/16-bit (widened to
 * int32), TIFF integers, which are never frames. PNG has no 32-bit form.
 */
export async function readLabelImageFile(path: string, opts: ImageReadOptions = {}): Promise<LabelImage> {
  if ((await sniffFile(path)) === 'png') return decodePng(await readWhole(path), path, opts);
  const reader = await TiffReader.open(path, { maxPixels: opts.maxPixels, firstPageOnly: true, labels: true });
  try {
    const data = await reader.readLabels();
    return { width: reader.width, height: reader.height, channels: reader.channels, data };
  } finally {
    await reader.close();
  }
}

/** 'png' or 'tiff' from the first bytes; anything else is refused. */
async function sniffFile(path: string): Promise<'png' | 'tiff'> {
  let head: Uint8Array;
  try {
    const fh = await openFile(path, 'r');
    try {
      head = new Uint8Array(8);
      const { bytesRead } = await fh.read(head, 0, 8, 0);
      head = head.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  } catch (err) {
    throw fileError(path, err);
  }
  const format = sniffFormat(head);
  if (format === null) throw new InputError(`${path}: not a TIFF or PNG file (unrecognised magic bytes)`);
  return format;
}

async function readWhole(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (err) {
    throw fileError(path, err);
  }
}

// ---------------------------------------------------------------- helpers

/** Frame rate from an ImageJ ImageDescription (`fps=` or `finterval=` with `tunit=`). */
export function imagejFps(description: string): number | undefined {
  if (!description.startsWith('ImageJ=')) return undefined;
  const value = (key: string): string | undefined => new RegExp(`^${key}=(.*)$`, 'm').exec(description)?.[1]?.trim();
  const fps = Number(value('fps'));
  if (fps > 0 && Number.isFinite(fps)) return fps;
  const interval = Number(value('finterval'));
  if (!(interval > 0 && Number.isFinite(interval))) return undefined;
  const unit = (value('tunit') ?? 'sec').toLowerCase();
  const seconds = unit === 'ms' || unit === 'msec' ? interval / 1000 : unit === 'min' ? interval * 60 : interval;
  return 1 / seconds;
}

function chunkName(p: Page, k: number): string {
  return `${p.tiled ? 'tile' : 'strip'} ${k}`;
}

function sampleMatches(a: PixelArray, sample: SampleType): boolean {
  return sample === 'uint8' ? a instanceof Uint8Array : sample === 'uint16' ? a instanceof Uint16Array : sample === 'float32' && a instanceof Float32Array;
}

/** An array for n samples; int8/int16 are decoded as their unsigned bits (readLabels widens them). */
function allocSamples(sample: SampleType, n: number): SampleArray {
  if (sample === 'uint32') return new Uint32Array(n);
  if (sample === 'int32') return new Int32Array(n);
  return allocPixels(sample === 'int8' ? 'uint8' : sample === 'int16' ? 'uint16' : sample, n);
}

/** A 64-bit unsigned field as a number; beyond 2^53 it becomes Infinity (and fails the file-size checks). */
function u64(dv: DataView, pos: number, le: boolean): number {
  const a = dv.getUint32(pos, le);
  const b = dv.getUint32(pos + 4, le);
  const hi = le ? b : a;
  const lo = le ? a : b;
  return hi >= 0x200000 ? Infinity : hi * 0x100000000 + lo;
}

function copy8(src: Uint8Array, s: number, stride: number, dst: Uint8Array, d: number, n: number): void {
  if (stride === 1) {
    dst.set(src.subarray(s, s + n), d);
    return;
  }
  for (let x = 0; x < n; x++, s += stride) dst[d + x] = src[s];
}

function copy16(src: Uint8Array, s: number, stride: number, le: boolean, dst: Uint16Array, d: number, n: number): void {
  if (stride === 1 && le === HOST_LITTLE_ENDIAN && ((src.byteOffset + s) & 1) === 0) {
    dst.set(new Uint16Array(src.buffer, src.byteOffset + s, n), d);
    return;
  }
  const step = 2 * stride;
  if (le) for (let x = 0; x < n; x++, s += step) dst[d + x] = src[s] | (src[s + 1] << 8);
  else for (let x = 0; x < n; x++, s += step) dst[d + x] = (src[s] << 8) | src[s + 1];
}

/** Float32 samples are moved as bytes (reversed when the byte orders differ), which keeps NaN payloads intact. */
function copy32(src: Uint8Array, s: number, stride: number, le: boolean, dst: Uint8Array, d: number, n: number): void {
  if (stride === 1 && le === HOST_LITTLE_ENDIAN) {
    dst.set(src.subarray(s, s + 4 * n), d);
    return;
  }
  const step = 4 * stride;
  if (le === HOST_LITTLE_ENDIAN) {
    for (let x = 0; x < n; x++, s += step, d += 4) {
      dst[d] = src[s]; dst[d + 1] = src[s + 1]; dst[d + 2] = src[s + 2]; dst[d + 3] = src[s + 3];
    }
  } else {
    for (let x = 0; x < n; x++, s += step, d += 4) {
      dst[d] = src[s + 3]; dst[d + 1] = src[s + 2]; dst[d + 2] = src[s + 1]; dst[d + 3] = src[s];
    }
  }
}

/** Byte-swaps 16/32-bit samples in place with Buffer's native swap16/swap32. */
function swapInPlace(a: SampleArray): void {
  const b = Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  if (a instanceof Uint16Array) b.swap16();
  else if (a.BYTES_PER_ELEMENT === 4) b.swap32();
}

/**
 * Predictor 2 (horizontal differencing), undone with a running sum masked to
 * the sample width (the spec's wrap-around); keeping the sum in a local avoids
 * re-loading the element just stored.
 */
function undoPredictorRow(a: IntegerArray, d: number, n: number): void {
  // 32-bit: `| 0` wraps modulo 2³², and a Uint32Array stores the negative result as its unsigned bits.
  const mask = a instanceof Uint8Array ? 0xff : a instanceof Uint16Array ? 0xffff : -1;
  let acc = a[d];
  for (let i = d + 1, end = d + n; i < end; i++) {
    acc = (acc + a[i]) & mask;
    a[i] = acc;
  }
}

type IntegerArray = Uint8Array | Uint16Array | Uint32Array | Int32Array;

const lzwStart = new Int32Array(4096);
const lzwLength = new Uint16Array(4096);

/**
 * TIFF LZW (MSB-first codes of 9..12 bits, "early change"). Every table entry
 * is a previous string plus one byte, and that string already sits in the
 * output, so entries are stored as (offset, length) into the output and a
 * code is decoded by copying bytes forward — no per-code allocation, no
 * reversal. Decodes until EOI, end of input, or `dst` is full; returns the
 * bytes written, or -(position + 1) of an invalid code.
 */
export function lzwDecode(src: Uint8Array, dst: Uint8Array): number {
  const start = lzwStart;
  const length = lzwLength;
  const srcLen = src.length;
  const dstLen = dst.length;
  // Short strings (most of them) are copied as 4 unrolled bytes while that stays inside dst:
  // the bytes past the string are overwritten by the next codes before anything reads them.
  const unrolledEnd = dstLen - 4;
  let p = 0;
  let bits = 0;
  let nbits = 0;
  let width = 9;
  let next = 258;
  let pos = 0;
  let prevStart = -1;
  let prevLen = 0;
  while (pos < dstLen) {
    while (nbits < width) {
      if (p >= srcLen) return pos;
      bits = (bits << 8) | src[p++];
      nbits += 8;
    }
    nbits -= width;
    const code = (bits >>> nbits) & ((1 << width) - 1);
    if (code === 256) {
      width = 9;
      next = 258;
      prevStart = -1;
      continue;
    }
    if (code === 257) break;
    let len: number;
    if (code < 256) {
      dst[pos] = code;
      len = 1;
    } else {
      let from: number;
      if (code < next) {
        from = start[code];
        len = length[code];
      } else if (code === next && prevStart >= 0) {
        // The string being defined: previous string + its own first byte (a forward copy overlaps correctly).
        from = prevStart;
        len = prevLen + 1;
      } else {
        return -p;
      }
      if (len <= 4 && pos <= unrolledEnd) {
        dst[pos] = dst[from];
        dst[pos + 1] = dst[from + 1];
        dst[pos + 2] = dst[from + 2];
        dst[pos + 3] = dst[from + 3];
      } else {
        const n = Math.min(len, dstLen - pos);
        for (let i = 0; i < n; i++) dst[pos + i] = dst[from + i];
      }
    }
    if (prevStart >= 0 && next < 4096) {
      start[next] = prevStart;
      length[next] = prevLen + 1;
      next++;
      if (next >= (1 << width) - 1 && width < 12) width++;
    }
    prevStart = pos;
    prevLen = len;
    pos += len;
  }
  return Math.min(pos, dstLen);
}
