import { closeSync, openSync, writeSync } from 'node:fs';
import type { Dtype, PixelArray } from './frame.js';

/**
 * Writes a little-endian, uncompressed, single-strip-per-page classic TIFF
 * stack, one page at a time (so a long movie never sits in memory). Used to
 * save movies (benchmarks, tests); the reader lives in tiff.ts.
 */
export class TiffStackWriter {
  private readonly fd: number;
  private pos = 8;
  /** Where the previous IFD's "next IFD" offset lives, to chain the next page. */
  private nextLink = 4;
  private pages = 0;

  constructor(
    readonly path: string,
    readonly width: number,
    readonly height: number,
    readonly dtype: Dtype,
  ) {
    this.fd = openSync(path, 'w');
    const head = Buffer.alloc(8);
    head.write('II', 0, 'latin1');
    head.writeUInt16LE(42, 2);
    head.writeUInt32LE(0, 4);
    writeSync(this.fd, head, 0, 8, 0);
  }

  write(data: PixelArray): void {
    const bps = this.dtype === 'uint8' ? 8 : this.dtype === 'uint16' ? 16 : 32;
    const bytes = (this.width * this.height * bps) / 8;
    if (data.byteLength !== bytes) throw new RangeError(`page of ${data.byteLength} bytes, expected ${bytes}`);
    // TIFF is little-endian here and so is every platform Node supports in practice; refuse otherwise.
    if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error('TiffStackWriter needs a little-endian host');
    const dataAt = this.pos;
    writeSync(this.fd, new Uint8Array(data.buffer, data.byteOffset, bytes), 0, bytes, dataAt);
    this.pos += bytes + (bytes & 1);
    const tags: [number, number, number][] = [
      [256, 4, this.width],
      [257, 4, this.height],
      [258, 3, bps],
      [259, 3, 1],
      [262, 3, 1],
      [273, 4, dataAt],
      [277, 3, 1],
      [278, 4, this.height],
      [279, 4, bytes],
      [339, 3, this.dtype === 'float32' ? 3 : 1],
    ];
    const ifd = Buffer.alloc(2 + tags.length * 12 + 4);
    ifd.writeUInt16LE(tags.length, 0);
    tags.forEach(([tag, type, value], i) => {
      const o = 2 + i * 12;
      ifd.writeUInt16LE(tag, o);
      ifd.writeUInt16LE(type, o + 2);
      ifd.writeUInt32LE(1, o + 4);
      if (type === 3) ifd.writeUInt16LE(value, o + 8);
      else ifd.writeUInt32LE(value, o + 8);
    });
    const ifdAt = this.pos;
    writeSync(this.fd, ifd, 0, ifd.length, ifdAt);
    const link = Buffer.alloc(4);
    link.writeUInt32LE(ifdAt, 0);
    writeSync(this.fd, link, 0, 4, this.nextLink);
    this.nextLink = ifdAt + 2 + tags.length * 12;
    this.pos += ifd.length;
    this.pages++;
  }

  close(): number {
    closeSync(this.fd);
    return this.pages;
  }
}
