import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { crc32, decodePng, parsePngHeader } from '../../src/ingest/png.js';
import { readImageFile } from '../../src/ingest/tiff.js';
import { concat, encodePng, firstMismatch, pngChunk, randomImage, type TestImage } from '../helpers/imageWriters.js';
import { expectInputErrorSync as expectInputError } from '../helpers/errors.js';

function expectSame(got: TestImage, want: TestImage): void {
  expect([got.width, got.height, got.channels, got.dtype]).toEqual([want.width, want.height, want.channels, want.dtype]);
  const i = firstMismatch(got.data, want.data);
  expect(i, i < 0 ? '' : `sample ${i}: got ${got.data[i]}, want ${want.data[i]}`).toBe(-1);
}


const SIGNATURE = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

describe('decodePng round trips', () => {
  const kinds = [
    { name: 'gray', channels: 1, alpha: false },
    { name: 'gray+alpha', channels: 1, alpha: true },
    { name: 'RGB', channels: 3, alpha: false },
    { name: 'RGBA', channels: 3, alpha: true },
  ];
  const cases = kinds.flatMap((k) => (['uint8', 'uint16'] as const).map((dtype) => ({ ...k, dtype })));

  it.each(cases.map((c, i) => [`${c.name} ${c.dtype}`, c, i] as const))('%s, all five filters (one per row)', (_n, c, i) => {
    const img = randomImage(23, 17, c.channels, c.dtype, 10 + i);
    const got = decodePng(encodePng(img, { alpha: c.alpha }), 'cycle.png');
    expectSame(got, img);
  });

  it.each([0, 1, 2, 3, 4])('filter %i on every row (first row included)', (filter) => {
    for (const dtype of ['uint8', 'uint16'] as const) {
      for (const [channels, alpha] of [[1, false], [3, true]] as const) {
        const img = randomImage(31, 9, channels, dtype, filter * 7 + channels);
        expectSame(decodePng(encodePng(img, { filter, alpha }), 'f.png'), img);
      }
    }
  });

  it('keeps 0, 255 and 65535', () => {
    const u8 = { width: 3, height: 1, channels: 1, dtype: 'uint8' as const, data: Uint8Array.from([0, 255, 128]) };
    const u16 = { width: 3, height: 1, channels: 1, dtype: 'uint16' as const, data: Uint16Array.from([0, 65535, 256]) };
    expectSame(decodePng(encodePng(u8, { filter: 4 }), 'a.png'), u8);
    expectSame(decodePng(encodePng(u16, { filter: 3 }), 'b.png'), u16);
  });

  it('joins image data split over several IDAT chunks and skips ancillary chunks', () => {
    const img = randomImage(40, 30, 3, 'uint16', 77);
    const png = encodePng(img, { idatChunks: 5 });
    // Insert a tEXt chunk after IHDR (8 + 25 bytes).
    const text = pngChunk('tEXt', new Uint8Array(Buffer.from('Comment\0hello', 'latin1')));
    const withText = concat([png.subarray(0, 33), text, png.subarray(33)]);
    expectSame(decodePng(withText, 'split.png'), img);
  });

  it('exposes the header without decoding', () => {
    const h = parsePngHeader(encodePng(randomImage(5, 4, 3, 'uint16', 1), { alpha: true }).subarray(0, 33), 'h.png');
    expect(h).toEqual({ width: 5, height: 4, bitDepth: 16, colorType: 6, samples: 4, channels: 3, dtype: 'uint16' });
  });

  it('computes the standard CRC-32', () => {
    expect(crc32(new Uint8Array(Buffer.from('123456789')))).toBe(0xcbf43926);
  });
});

describe('bad PNG input gives a one-line InputError naming the file and the problem', () => {
  const good = (): Uint8Array => encodePng(randomImage(16, 8, 1, 'uint8', 3));
  /** A PNG with its IHDR fields replaced (CRC recomputed). */
  const withHeader = (patch: (ihdr: Uint8Array) => void): Uint8Array => {
    const png = good();
    const ihdr = png.slice(16, 29);
    patch(ihdr);
    return concat([SIGNATURE, pngChunk('IHDR', ihdr), png.subarray(33)]);
  };

  it('bad signature', () => {
    expectInputError(() => decodePng(new Uint8Array(Buffer.from('GIF89a....')), 'x.png'), 'x.png', /not a PNG file \(bad signature\)/);
  });

  it('Adam7 interlaced is refused clearly', () => {
    const png = encodePng(randomImage(8, 8, 1, 'uint8', 1), { interlace: 1 });
    expectInputError(() => decodePng(png, 'inter.png'), 'inter.png', /unsupported interlaced \(Adam7\) PNG/);
  });

  it('palette, low bit depths, bad color types', () => {
    expectInputError(() => decodePng(withHeader((h) => { h[9] = 3; }), 'pal.png'), 'pal.png', /unsupported palette-color PNG/);
    expectInputError(() => decodePng(withHeader((h) => { h[8] = 4; }), 'd4.png'), 'd4.png', /unsupported PNG bit depth 4/);
    expectInputError(() => decodePng(withHeader((h) => { h[9] = 5; }), 'ct.png'), 'ct.png', /corrupt PNG: color type 5/);
    expectInputError(() => decodePng(withHeader((h) => { h.fill(0, 0, 4); }), 'w0.png'), 'w0.png', /image size 0×8/);
  });

  it('truncated file: chunk running past the end', () => {
    const png = good();
    expectInputError(() => decodePng(png.subarray(0, png.length - 20), 'cut.png'), 'cut.png', /truncated PNG: chunk IDAT at offset 33 .* runs past end of file/);
    expectInputError(() => decodePng(png.subarray(0, 20), 'cut2.png'), 'cut2.png', /truncated PNG \(no complete IHDR/);
    expectInputError(() => decodePng(png.subarray(0, 33), 'noidat.png'), 'noidat.png', /no image data/);
  });

  it('absurd chunk length', () => {
    const png = good();
    new DataView(png.buffer, png.byteOffset).setUint32(33, 0xfffffff0);
    expectInputError(() => decodePng(png, 'len.png'), 'len.png', /chunk IDAT at offset 33 has length/);
  });

  it('CRC mismatch (checked by default, can be turned off)', () => {
    const png = good();
    png[45] ^= 0xff; // inside the IDAT data (its length at 33, type at 37, data from 41)
    expectInputError(() => decodePng(png, 'crc.png'), 'crc.png', /CRC mismatch in chunk IDAT/);
    const ihdrCrc = good();
    ihdrCrc[30] ^= 1;
    expectInputError(() => decodePng(ihdrCrc, 'crc2.png'), 'crc2.png', /CRC mismatch in chunk IHDR/);
    expect(() => decodePng(ihdrCrc, 'crc2.png', { checkCrc: false })).not.toThrow();
  });

  it('corrupt or short image data, bad filter type', () => {
    const ihdr = good().subarray(8, 33);
    const idat = (raw: Uint8Array): Uint8Array =>
      concat([SIGNATURE, ihdr, pngChunk('IDAT', raw), pngChunk('IEND', new Uint8Array(0))]);
    expectInputError(() => decodePng(idat(Uint8Array.from([1, 2, 3, 4, 5])), 'z.png'), 'z.png', /corrupt PNG image data/);
    const short = new Uint8Array(zlib.deflateSync(new Uint8Array(17 * 4)));
    expectInputError(() => decodePng(idat(short), 'short.png'), 'short.png', /truncated PNG image data \(68 of 136 bytes\)/);
    const rows = new Uint8Array(17 * 8);
    rows[17 * 3] = 9;
    expectInputError(() => decodePng(idat(new Uint8Array(zlib.deflateSync(rows))), 'filt.png'), 'filt.png', /row 3 has filter type 9/);
  });

  it('unknown critical chunk', () => {
    const png = good();
    const odd = concat([png.subarray(0, 33), pngChunk('ABCD', new Uint8Array(2)), png.subarray(33)]);
    expectInputError(() => decodePng(odd, 'crit.png'), 'crit.png', /unsupported critical PNG chunk ABCD/);
  });

  it('huge dimensions are refused before allocating', () => {
    const huge = withHeader((h) => {
      new DataView(h.buffer, h.byteOffset).setUint32(0, 100000);
      new DataView(h.buffer, h.byteOffset).setUint32(4, 100000);
    });
    expectInputError(() => decodePng(huge, 'huge.png'), 'huge.png', /exceeds the limit/);
    const big = withHeader((h) => {
      new DataView(h.buffer, h.byteOffset).setUint32(0, 10000);
      new DataView(h.buffer, h.byteOffset).setUint32(4, 10000);
    });
    expectInputError(() => decodePng(big, 'big.png'), 'big.png', /10000×10000 image from only \d+ bytes/);
  });
});

// ------------------------------------------------------------------ real data

const PNG = '/work/shared/data/colocalization/0_1_N_G.png';
if (!fs.existsSync(PNG)) console.warn(`skipping real-data PNG test: ${PNG} not found (it lives outside the repository)`);

describe.skipIf(!fs.existsSync(PNG))('real data: CellProfiler colocalization PNG', () => {
  it('is 16-bit gray, 1392 wide × 1040 high, and matches Pillow', async () => {
    // Computed once with /usr/bin/python3 and Pillow 9.4:
    //   a = np.array(Image.open('0_1_N_G.png')); a.shape == (1040, 1392); a.sum() == 52355325938;
    //   a[0, 0] == 32768; a[1, 0] == 32512; a.max() == 65535
    const img = decodePng(fs.readFileSync(PNG), PNG);
    expect([img.width, img.height, img.channels, img.dtype]).toEqual([1392, 1040, 1, 'uint16']);
    let sum = 0;
    let max = 0;
    for (let i = 0; i < img.data.length; i++) {
      sum += img.data[i];
      if (img.data[i] > max) max = img.data[i];
    }
    expect(sum).toBe(52355325938);
    expect(max).toBe(65535);
    expect([img.data[0], img.data[1392]]).toEqual([32768, 32512]);
    const viaHelper = await readImageFile(PNG);
    expect(firstMismatch(viaHelper.data, img.data)).toBe(-1);
  });

  it('its red twin sums as Pillow says', () => {
    // a = np.array(Image.open('0_1_N_R.png')); a.sum() == 23308394488
    const red = path.join(path.dirname(PNG), '0_1_N_R.png');
    const img = decodePng(fs.readFileSync(red), red);
    let sum = 0;
    for (let i = 0; i < img.data.length; i++) sum += img.data[i];
    expect(sum).toBe(23308394488);
  });
});
