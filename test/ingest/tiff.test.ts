import * as fs from 'node:fs';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import type { Dtype, Frame } from '../../src/ingest/frame.js';
import { loadLabels } from '../../src/ingest/labels.js';
import { TiffReader, TiffSource, imagejFps, lzwDecode, readImageFile, readLabelImageFile } from '../../src/ingest/tiff.js';
import {
  encodePng, encodeTiff, firstMismatch, lzwEncode, prng, randomImage, tempDir, writeTiff,
  type TestImage, type TiffWriteOptions,
} from '../helpers/imageWriters.js';
import { expectInputError } from '../helpers/errors.js';

let dir: string;
beforeAll(() => { dir = tempDir(); });
afterAll(() => { fs.rmSync(dir, { recursive: true, force: true }); });

let fileNo = 0;
function file(name = 'img.tif'): string {
  return path.join(dir, `${fileNo++}-${name}`);
}

async function readAll(p: string): Promise<{ reader: TiffReader; pages: TestImage[] }> {
  const reader = await TiffReader.open(p);
  const pages: TestImage[] = [];
  for (let i = 0; i < reader.pageCount; i++) {
    pages.push({ ...reader.pageInfo(i), data: await reader.readPage(i) });
  }
  await reader.close();
  return { reader, pages };
}

function expectSameImage(got: TestImage, want: TestImage): void {
  expect({ w: got.width, h: got.height, c: got.channels, t: got.dtype })
    .toEqual({ w: want.width, h: want.height, c: want.channels, t: want.dtype });
  const i = firstMismatch(got.data, want.data);
  expect(i, i < 0 ? '' : `sample ${i}: got ${got.data[i]}, want ${want.data[i]}`).toBe(-1);
}


// ------------------------------------------------------------------ round trips

interface Variant {
  big: boolean;
  le: boolean;
  dtype: Dtype;
  channels: number;
  planar: 1 | 2;
  compression: 1 | 5 | 8 | 32946;
  predictor: 1 | 2;
  tiled: boolean;
}

const variants: Variant[] = [];
for (const big of [false, true]) {
  for (const le of [true, false]) {
    for (const dtype of ['uint8', 'uint16', 'float32'] as const) {
      for (const [channels, planar] of [[1, 1], [3, 1], [3, 2]] as const) {
        for (const compression of [1, 5, 8, 32946] as const) {
          for (const predictor of dtype === 'float32' ? [1 as const] : [1 as const, 2 as const]) {
            for (const tiled of [false, true]) variants.push({ big, le, dtype, channels, planar, compression, predictor, tiled });
          }
        }
      }
    }
  }
}

const label = (v: Variant): string =>
  `${v.big ? 'BigTIFF' : 'classic'} ${v.le ? 'LE' : 'BE'} ${v.dtype} ${v.channels}ch${v.channels > 1 ? (v.planar === 1 ? ' chunky' : ' planar') : ''} ` +
  `comp=${v.compression} pred=${v.predictor} ${v.tiled ? 'tiles' : 'strips'}`;

describe('TiffReader round trips every variant', () => {
  it.each(variants.map((v, i) => [label(v), v, i] as const))('%s', async (_name, v, i) => {
    // 37×23 with 5-row strips / 16×16 tiles: several chunks, a short last strip, clipped edge tiles.
    const pages = [0, 1, 2].map((k) => randomImage(37, 23, v.channels, v.dtype, 1000 * i + k));
    const opts: TiffWriteOptions = {
      bigTiff: v.big, littleEndian: v.le, planar: v.planar, compression: v.compression, predictor: v.predictor,
      rowsPerStrip: 5, ...(v.tiled ? { tile: { width: 16, height: 16 } } : {}),
    };
    const p = file();
    writeTiff(p, pages, opts);
    const { reader, pages: got } = await readAll(p);
    expect(reader.pageCount).toBe(3);
    expect(reader.bigTiff).toBe(v.big);
    expect(reader.littleEndian).toBe(v.le);
    for (let k = 0; k < 3; k++) expectSameImage(got[k], pages[k]);
  });

  it('reads one-row strips and directories placed before the pixel data', async () => {
    for (const layout of ['data-first', 'ifd-first'] as const) {
      const pages = [randomImage(64, 9, 1, 'uint16', 7), randomImage(64, 9, 1, 'uint16', 8)];
      const p = file();
      writeTiff(p, pages, { rowsPerStrip: 1, layout, littleEndian: false });
      const { pages: got } = await readAll(p);
      got.forEach((g, k) => expectSameImage(g, pages[k]));
    }
  });

  it('reads directories longer than the first speculative read (many unknown tags)', async () => {
    const img = randomImage(9, 5, 1, 'uint8', 4);
    const extra: Record<number, number[]> = {};
    for (let t = 0; t < 60; t++) extra[40000 + t] = [t, t + 1, t + 2];
    const p = file();
    writeTiff(p, [img, img], { tagOverrides: { 0: extra, 1: extra } });
    const { reader, pages } = await readAll(p);
    expect(reader.pageCount).toBe(2);
    expectSameImage(pages[1], img);
  });

  it('reads a 1×1 image and a single-row image', async () => {
    for (const [w, h] of [[1, 1], [300, 1], [1, 40]]) {
      const img = randomImage(w, h, 1, 'uint16', w + h);
      const p = file();
      writeTiff(p, [img], { compression: 5, predictor: 2 });
      expectSameImage((await readAll(p)).pages[0], img);
    }
  });

  it('keeps edge values: 0, 255, 65535, negative floats, ±0, ±Infinity, NaN', async () => {
    const u8 = { width: 4, height: 1, channels: 1, dtype: 'uint8' as const, data: Uint8Array.from([0, 255, 1, 254]) };
    const u16 = { width: 4, height: 1, channels: 1, dtype: 'uint16' as const, data: Uint16Array.from([0, 65535, 1, 65534]) };
    const f32 = {
      width: 8, height: 1, channels: 1, dtype: 'float32' as const,
      data: Float32Array.from([-1.5, NaN, -0, 0, Infinity, -Infinity, -3.4e38, 1e-40]),
    };
    for (const img of [u8, u16, f32]) {
      for (const littleEndian of [true, false]) {
        for (const compression of [1, 5, 8] as const) {
          const p = file();
          writeTiff(p, [img], { littleEndian, compression });
          const got = (await readAll(p)).pages[0];
          expectSameImage(got, img);
        }
      }
    }
  });

  it('reuses the output array when it has the right type and size, else allocates', async () => {
    const img = randomImage(20, 10, 1, 'uint16', 3);
    const p = file();
    writeTiff(p, [img, img]);
    const r = await TiffReader.open(p);
    const out = new Uint16Array(200);
    expect(await r.readPage(0, out)).toBe(out);
    expect(firstMismatch(out, img.data)).toBe(-1);
    const wrongType = new Uint8Array(200);
    const fresh = await r.readPage(1, wrongType);
    expect(fresh).not.toBe(wrongType);
    expect(fresh).toBeInstanceOf(Uint16Array);
    expect(await r.readPage(1, new Uint16Array(199))).toHaveLength(200);
    await r.close();
  });

  it('serialises concurrent readPage calls', async () => {
    const pages = [0, 1, 2, 3].map((k) => randomImage(40, 30, 3, 'uint8', 50 + k));
    const p = file();
    writeTiff(p, pages, { compression: 5, rowsPerStrip: 7 });
    const r = await TiffReader.open(p);
    const got = await Promise.all([3, 1, 0, 2].map((k) => r.readPage(k)));
    [3, 1, 0, 2].forEach((k, j) => expect(firstMismatch(got[j], pages[k].data)).toBe(-1));
    await r.close();
  });

  it('skips reduced-resolution pages (thumbnails)', async () => {
    const full = [randomImage(32, 16, 1, 'uint8', 1), randomImage(32, 16, 1, 'uint8', 2)];
    const thumb = randomImage(8, 4, 1, 'uint8', 3);
    const p = file();
    writeTiff(p, [full[0], thumb, full[1]], { subfileTypes: { 1: 1 } });
    const { reader, pages } = await readAll(p);
    expect(reader.pageCount).toBe(2);
    expectSameImage(pages[1], full[1]);
  });
});

// ------------------------------------------------------------------ LZW

describe('lzwDecode', () => {
  it('inverts the encoder on random data, runs, and data long enough to fill the table several times', () => {
    const rnd = prng(42);
    const cases: Uint8Array[] = [
      new Uint8Array(0),
      Uint8Array.from([7]),
      new Uint8Array(10000).fill(9), // KwKwK codes, long strings
      Uint8Array.from({ length: 200000 }, () => Math.floor(rnd() * 256)), // many Clear codes
      Uint8Array.from({ length: 100000 }, (_, i) => (i * 7 + (i >> 9)) & 0x0f), // mixed
    ];
    for (const src of cases) {
      const enc = lzwEncode(src);
      const dst = new Uint8Array(src.length);
      expect(lzwDecode(enc, dst)).toBe(src.length);
      expect(firstMismatch(dst, src)).toBe(-1);
    }
  });

  it('stops when the output is full (extra data is ignored), also for tiny outputs', () => {
    const src = Uint8Array.from({ length: 5000 }, (_, i) => (i * 13) % 7);
    const enc = lzwEncode(src);
    for (const n of [1, 2, 3, 5, 4097]) {
      const dst = new Uint8Array(n);
      expect(lzwDecode(enc, dst)).toBe(n);
      expect(firstMismatch(dst, src.subarray(0, n))).toBe(-1);
    }
  });

  it('reports an invalid code as a negative position', () => {
    // 9 bits of ones: code 511 while the table ends at 258.
    expect(lzwDecode(Uint8Array.from([0xff, 0xff, 0xff]), new Uint8Array(10))).toBeLessThan(0);
  });
});

// ------------------------------------------------------------------ files written by other software

describe('TIFF files written by libtiff and tifffile', () => {
  // See FIXTURES at the end of this file for how they were made.
  const mix = (i: number): number => {
    let v = Math.imul(i ^ (i >>> 3), 0x9e3779b1) >>> 0;
    v ^= v >>> 15;
    v = Math.imul(v, 0x85ebca77) >>> 0;
    v ^= v >>> 13;
    return v >>> 0;
  };
  const weyl = (i: number): number => Math.imul(i, 0x9e3779b1) >>> 0;
  const fixture = (name: keyof typeof FIXTURES): string => {
    const p = file(`${name}.tif`);
    fs.writeFileSync(p, Buffer.from(FIXTURES[name], 'base64'));
    return p;
  };

  it('libtiff LZW uint8 64×64 (codes up to 12 bits)', async () => {
    const { pages } = await readAll(fixture('lzw_u8'));
    const want = Uint8Array.from({ length: 64 * 64 }, (_, i) => mix(i) >>> 24);
    expectSameImage(pages[0], { width: 64, height: 64, channels: 1, dtype: 'uint8', data: want });
  });

  it('libtiff LZW + predictor 2, uint16 40×30', async () => {
    const { pages } = await readAll(fixture('lzw_u16_pred'));
    const want = new Uint16Array(40 * 30);
    for (let y = 0; y < 30; y++) for (let x = 0; x < 40; x++) want[y * 40 + x] = (x * 1000 + y * 77) % 65536;
    expectSameImage(pages[0], { width: 40, height: 30, channels: 1, dtype: 'uint16', data: want });
  });

  it('tifffile BigTIFF big-endian deflate + predictor, 3 pages of uint16 24×20', async () => {
    const { reader, pages } = await readAll(fixture('big_be_zlib'));
    expect([reader.bigTiff, reader.littleEndian, reader.pageCount]).toEqual([true, false, 3]);
    for (let k = 0; k < 3; k++) {
      const want = Uint16Array.from({ length: 480 }, (_, i) => weyl(k * 480 + i) >>> 16);
      expectSameImage(pages[k], { width: 24, height: 20, channels: 1, dtype: 'uint16', data: want });
    }
  });

  it('tifffile RGB planar deflate uint8 12×10', async () => {
    const { pages } = await readAll(fixture('rgb_planar'));
    const want = Uint8Array.from({ length: 360 }, (_, i) => weyl(i) >>> 24);
    expectSameImage(pages[0], { width: 12, height: 10, channels: 3, dtype: 'uint8', data: want });
  });
});

// ------------------------------------------------------------------ laziness

describe('page-by-page reading', () => {
  it('reads page 3 of a 50-page stack without reading the rest', async () => {
    const pages = Array.from({ length: 50 }, (_, k) => randomImage(128, 96, 1, 'uint16', k));
    const p = file();
    writeTiff(p, pages, { rowsPerStrip: 16 });
    const size = fs.statSync(p).size;
    const pageBytes = 128 * 96 * 2;
    const r = await TiffReader.open(p);
    expect(r.pageCount).toBe(50);
    const afterOpen = r.bytesRead;
    expect(afterOpen).toBeLessThan(50 * 1100); // directory entries only
    const data = await r.readPage(3);
    const delta = r.bytesRead - afterOpen;
    expect(delta).toBeGreaterThanOrEqual(pageBytes);
    expect(delta).toBeLessThan(pageBytes + 256); // + the strip offset/count arrays
    expect(r.bytesRead).toBeLessThan(size / 20);
    expect(firstMismatch(data, pages[3].data)).toBe(-1);
    await r.close();
  });

  it('reads a compressed page in one pass over its strips', async () => {
    const pages = Array.from({ length: 10 }, (_, k) => randomImage(64, 64, 1, 'uint8', k));
    const p = file();
    const layout = writeTiff(p, pages, { rowsPerStrip: 4, compression: 8 });
    const r = await TiffReader.open(p);
    const before = r.bytesRead;
    await r.readPage(7);
    const stored = layout.chunks[7].reduce((n, c) => n + c.length, 0);
    expect(r.bytesRead - before).toBeLessThan(stored + 256);
    await r.close();
  });

  it('allocates about a strip per deflate strip, not an inflate chunk of 16 KB each', async () => {
    // 512 one-row strips of 32 bytes: zlib's default output chunk alone would be 512 × 16 KB = 8 MB.
    const page = randomImage(32, 512, 1, 'uint8', 5);
    const p = file();
    writeTiff(p, [page], { rowsPerStrip: 1, compression: 8 });
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const r = await TiffReader.open(p);
    gc();
    const before = process.memoryUsage().arrayBuffers;
    const data = await r.readPage(0);
    // Garbage included: nothing is collected between the strips.
    const allocated = process.memoryUsage().arrayBuffers - before;
    expect(firstMismatch(data, page.data)).toBe(-1);
    // The page (16 KB), its stored strips read in one pass (~20 KB), one small output per strip (~64 B each).
    expect(allocated, `${allocated} bytes`).toBeLessThan(8 * page.data.byteLength);
    await r.close();
  });
});

// ------------------------------------------------------------------ sources and helpers

describe('TiffSource', () => {
  it('yields every page with seq from 0 and t = seq without a frame rate', async () => {
    const pages = [0, 1, 2].map((k) => randomImage(16, 8, 3, 'uint8', k));
    const p = file();
    writeTiff(p, pages, { planar: 2 });
    const src = new TiffSource(p);
    const info = await src.open();
    expect(info).toEqual({ uri: p, width: 16, height: 8, channels: 3, dtype: 'uint8', frameCount: 3, live: false });
    const frames: Frame[] = [];
    for await (const f of src.frames()) frames.push(f);
    await src.close();
    expect(frames.map((f) => [f.seq, f.t])).toEqual([[0, 0], [1, 1], [2, 2]]);
    frames.forEach((f, k) => expect(firstMismatch(f.data, pages[k].data)).toBe(-1));
    expect(frames[0].data).not.toBe(frames[1].data); // each frame owns its buffer (it gets transferred)
  });

  it('uses the fps option, else ImageJ metadata', async () => {
    const pages = [0, 1, 2].map((k) => randomImage(4, 4, 1, 'uint16', k));
    const p = file();
    writeTiff(p, pages, { description: 'ImageJ=1.53t\nimages=3\nframes=3\nfinterval=0.05\nloop=false\n' });
    const fromMeta = new TiffSource(p);
    expect((await fromMeta.open()).fps).toBeCloseTo(20);
    const ts: number[] = [];
    for await (const f of fromMeta.frames()) ts.push(f.t);
    expect(ts.map((t) => Math.round(t * 1e6) / 1e6)).toEqual([0, 50, 100]);
    await fromMeta.close();
    const forced = new TiffSource(p, { fps: 10 });
    expect((await forced.open()).fps).toBe(10);
    await forced.close();
    expect(() => new TiffSource(p, { fps: -1 })).toThrow(InputError);
  });

  it('parses ImageJ frame rates', () => {
    expect(imagejFps('ImageJ=1.4\nfps=7\n')).toBe(7);
    expect(imagejFps('ImageJ=1.4\nfinterval=250\ntunit=ms\n')).toBe(4);
    expect(imagejFps('ImageJ=1.4\nimages=5\n')).toBeUndefined();
    expect(imagejFps('<OME ...>')).toBeUndefined();
  });
});

describe('readImageFile', () => {
  it('returns the first page of a TIFF without walking the rest', async () => {
    const pages = [randomImage(10, 7, 1, 'float32', 1), randomImage(99, 7, 1, 'uint8', 2)];
    const p = file();
    writeTiff(p, pages, { compression: 8 });
    expectSameImage(await readImageFile(p), pages[0]);
  });

  it('recognises a PNG by its magic bytes', async () => {
    const img = randomImage(10, 7, 1, 'uint16', 5);
    const p = file('labels.tif'); // wrong extension on purpose
    fs.writeFileSync(p, encodePng(img));
    expectSameImage(await readImageFile(p), img);
  });

  it('refuses other files', async () => {
    const p = file('x.jpg');
    fs.writeFileSync(p, Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0, 0, 0, 0, 0]));
    await expectInputError(readImageFile(p), p, /not a TIFF or PNG/);
  });
});

// ------------------------------------------------------------------ label images

describe('label images (--labels): 8/16/32-bit integers, written by tifffile (tools/golden/labels.py)', () => {
  interface LabelCase {
    name: string;
    file: string;
    width: number;
    height: number;
    dtype: 'uint32' | 'int32' | 'int16';
    labels: number[];
    ids: number[];
  }
  const golden = JSON.parse(fs.readFileSync(new URL('../golden/labels.json', import.meta.url), 'utf8')) as { cases: LabelCase[] };
  const repo = new URL('../../', import.meta.url);
  const at = (c: LabelCase): string => new URL(c.file, repo).pathname;
  const byName = (name: string): LabelCase => golden.cases.find((c) => c.name === name) as LabelCase;
  const info = (c: LabelCase) => ({ uri: 'movie.tif', width: c.width, height: c.height, channels: 1, dtype: 'uint16' as const, live: false });

  for (const c of golden.cases.filter((c) => !['i32_negative', 'u32_above_int32'].includes(c.name))) {
    it(`${c.name}: every label as numpy reads it (${c.dtype}${c.ids.some((v) => v > 65535) ? ', labels above 65535' : ''})`, async () => {
      const img = await readLabelImageFile(at(c));
      expect([img.width, img.height, img.channels]).toEqual([c.width, c.height, 1]);
      // Unsigned 32-bit stays unsigned; signed (8/16/32-bit) arrives as int32.
      expect(img.data).toBeInstanceOf(c.dtype === 'uint32' ? Uint32Array : Int32Array);
      expect(Array.from(img.data)).toEqual(c.labels);
      const labels = await loadLabels(at(c), info(c), 2 ** 28);
      expect(Array.from(new Set(Array.from(labels).filter((v) => v !== 0))).sort((a, b) => a - b)).toEqual(c.ids);
    });
  }

  it('a negative label is refused in one line naming the file and the pixel', async () => {
    const c = byName('i32_negative');
    const first = c.labels.indexOf(-2);
    await expectInputError(
      loadLabels(at(c), info(c), 2 ** 28),
      at(c),
      new RegExp(`negative label -2 at pixel \\(x ${first % c.width}, y ${Math.floor(first / c.width)}\\); labels must be ≥ 0`),
    );
  });

  it('a label above the int32 maximum is refused (object ids are int32)', async () => {
    const c = byName('u32_above_int32');
    expect(Math.max(...c.labels)).toBe(3_000_000_000);
    await expectInputError(loadLabels(at(c), info(c), 2 ** 28), at(c), /label 3000000000 at pixel .* is above 2147483647/);
  });

  it('32-bit and signed integers stay refused as frame data', async () => {
    for (const name of ['u32_le', 'i32_le_strips', 'i16_le']) {
      const p = at(byName(name));
      await expectInputError(readImageFile(p), p, /unsupported sample format: (32-bit unsigned|32-bit signed|16-bit signed) integer .*only 8\/16-bit unsigned and 32-bit float/);
      await expectInputError(new TiffSource(p).open(), p, /unsupported sample format/);
    }
  });

  it('8/16-bit label images read as before (TIFF and PNG), float labels refused', async () => {
    const u16 = randomImage(12, 9, 1, 'uint16', 4);
    const p16 = file();
    writeTiff(p16, [u16]);
    const png = file('labels.png');
    const u8 = randomImage(12, 9, 1, 'uint8', 5);
    fs.writeFileSync(png, encodePng(u8));
    const inf = { uri: 'm.tif', width: 12, height: 9, channels: 1, dtype: 'uint16' as const, live: false };
    const l16 = await loadLabels(p16, inf, 2 ** 28);
    const l8 = await loadLabels(png, inf, 2 ** 28);
    expect(l16).toBeInstanceOf(Uint16Array);
    expect(l8).toBeInstanceOf(Uint8Array);
    expect(Array.from(l16)).toEqual(Array.from(u16.data));
    expect(Array.from(l8)).toEqual(Array.from(u8.data));
    const pf = file();
    writeTiff(pf, [randomImage(12, 9, 1, 'float32', 6)]);
    await expectInputError(loadLabels(pf, inf, 2 ** 28), pf, /float32 pixels; labels must be 8-, 16- or 32-bit integers/);
  });
});

// ------------------------------------------------------------------ bad input

describe('bad TIFF input gives a one-line InputError naming the file and the problem', () => {
  const small = (): TestImage => randomImage(16, 8, 1, 'uint16', 9);

  it('missing file', async () => {
    const p = path.join(dir, 'does-not-exist.tif');
    await expectInputError(TiffReader.open(p), p, /no such file/);
  });

  it('a folder', async () => {
    await expectInputError(TiffReader.open(dir), dir, /directory/);
  });

  it('not a TIFF (bad magic)', async () => {
    const p = file();
    fs.writeFileSync(p, 'hello, world');
    await expectInputError(TiffReader.open(p), p, /not a TIFF file \(bad magic bytes 68 65 6c 6c\)/);
  });

  it('empty file', async () => {
    const p = file();
    fs.writeFileSync(p, '');
    await expectInputError(TiffReader.open(p), p, /not a TIFF/);
  });

  it('truncated header', async () => {
    const p = file();
    fs.writeFileSync(p, Buffer.from([0x49, 0x49, 42, 0, 8]));
    await expectInputError(TiffReader.open(p), p, /truncated TIFF header/);
  });

  it('first IFD beyond end of file', async () => {
    const { bytes } = encodeTiff([small()]);
    new DataView(bytes.buffer).setUint32(4, bytes.length + 100, true);
    const p = file();
    fs.writeFileSync(p, bytes);
    await expectInputError(TiffReader.open(p), p, /truncated: IFD 0 at offset \d+ lies beyond end of file/);
  });

  it('file cut inside an IFD', async () => {
    const { bytes, layout } = encodeTiff([small(), small()]);
    const p = file();
    fs.writeFileSync(p, bytes.subarray(0, layout.ifdOffsets[1] + 30));
    await expectInputError(TiffReader.open(p), p, /truncated: IFD 1 .* extends beyond end of file/);
  });

  it('strip beyond end of file (file cut in the pixel data)', async () => {
    const { bytes } = encodeTiff([small(), small()], { layout: 'ifd-first' });
    const p = file();
    fs.writeFileSync(p, bytes.subarray(0, bytes.length - 10));
    const r = await TiffReader.open(p);
    await r.readPage(0);
    await expectInputError(r.readPage(1), p, /truncated: strip 0 of page 1 .* extends beyond end of file/);
    await r.close();
  });

  it('tile beyond end of file names the tile', async () => {
    const { bytes } = encodeTiff([randomImage(40, 40, 1, 'uint8', 2)], { layout: 'ifd-first', tile: { width: 16, height: 16 }, compression: 8 });
    const p = file();
    fs.writeFileSync(p, bytes.subarray(0, bytes.length - 10));
    const r = await TiffReader.open(p);
    await expectInputError(r.readPage(0), p, /truncated: tile 8 of page 0 .* extends beyond end of file/);
    await r.close();
  });

  it('strip offset pointing beyond end of file', async () => {
    const { bytes, layout } = encodeTiff([small()], { compression: 8 });
    const p = file();
    fs.writeFileSync(p, bytes);
    // Point StripOffsets (single strip: inline value) far away.
    const buf = fs.readFileSync(p);
    const at = findEntry(buf, layout.ifdOffsets[0], 273);
    buf.writeUInt32LE(10_000_000, at + 8);
    fs.writeFileSync(p, buf);
    const r = await TiffReader.open(p);
    await expectInputError(r.readPage(0), p, /truncated: strip 0 of page 0/);
    await r.close();
  });

  it('IFD loop', async () => {
    const { bytes, layout } = encodeTiff([small(), small(), small()]);
    new DataView(bytes.buffer).setUint32(layout.nextPointers[2], layout.ifdOffsets[1], true);
    const p = file();
    fs.writeFileSync(p, bytes);
    await expectInputError(TiffReader.open(p), p, /corrupt IFD chain: IFD 3 loops back/);
  });

  it('unsupported compression names the code', async () => {
    const p = file();
    writeTiff(p, [small()], { tagOverrides: { 0: { 259: [7] } } });
    await expectInputError(TiffReader.open(p), p, /unsupported compression 7 \(JPEG\)/);
    const q = file();
    writeTiff(q, [small()], { tagOverrides: { 0: { 259: [12345] } } });
    await expectInputError(TiffReader.open(q), q, /unsupported compression 12345 /);
  });

  it('unsupported sample formats and bit depths', async () => {
    const cases: [Record<number, number[] | null>, RegExp][] = [
      [{ 339: [2] }, /unsupported sample format: 16-bit signed integer/],
      [{ 258: [32] }, /unsupported sample format: 32-bit unsigned integer/],
      [{ 258: [12] }, /unsupported sample format: 12-bit unsigned integer/],
      [{ 339: [3] }, /unsupported sample format: 16-bit floating point/],
      [{ 277: [4], 258: [16, 16, 16, 16] }, /unsupported SamplesPerPixel 4/],
      [{ 262: [3] }, /unsupported palette-color image/],
      [{ 317: [3] }, /unsupported Predictor 3/],
      [{ 266: [2] }, /unsupported FillOrder 2/],
    ];
    for (const [override, problem] of cases) {
      const p = file();
      writeTiff(p, [small()], { tagOverrides: { 0: override } });
      await expectInputError(TiffReader.open(p), p, problem);
    }
  });

  it('pages of different sizes name the page index', async () => {
    const p = file();
    writeTiff(p, [small(), small(), randomImage(16, 9, 1, 'uint16', 1)]);
    await expectInputError(TiffReader.open(p), p, /page 2 is 16×9×1 uint16, page 0 is 16×8×1 uint16/);
    const q = file();
    writeTiff(q, [small(), randomImage(16, 8, 1, 'uint8', 1)]);
    await expectInputError(TiffReader.open(q), q, /page 1 .* uint8/);
  });

  it('corrupt LZW stream', async () => {
    const { bytes, layout } = encodeTiff([small()], { compression: 5 });
    const c = layout.chunks[0][0];
    bytes.fill(0xff, c.offset, c.offset + c.length);
    const p = file();
    fs.writeFileSync(p, bytes);
    const r = await TiffReader.open(p);
    await expectInputError(r.readPage(0), p, /LZW stream corrupt in strip 0 of page 0/);
    await r.close();
  });

  it('LZW stream that ends early', async () => {
    const img = randomImage(64, 64, 1, 'uint8', 1);
    const { bytes, layout } = encodeTiff([img], { compression: 5 });
    const c = layout.chunks[0][0];
    // A valid stream (ending with EOI) of only the first half of the strip, zero-padded to the strip's length.
    const half = lzwEncode((img.data as Uint8Array).subarray(0, 2048));
    bytes.fill(0, c.offset, c.offset + c.length);
    bytes.set(half, c.offset);
    const p = file();
    fs.writeFileSync(p, bytes);
    const r = await TiffReader.open(p);
    await expectInputError(r.readPage(0), p, /LZW stream corrupt in strip 0 of page 0 \(decoded 2048 of 4096 bytes\)/);
    await r.close();
  });

  it('corrupt deflate stream', async () => {
    const { bytes, layout } = encodeTiff([small()], { compression: 8 });
    const c = layout.chunks[0][0];
    bytes.fill(0x5a, c.offset + 2, c.offset + c.length);
    const p = file();
    fs.writeFileSync(p, bytes);
    const r = await TiffReader.open(p);
    await expectInputError(r.readPage(0), p, /deflate stream corrupt in strip 0 of page 0/);
    await r.close();
  });

  it('a header claiming 100000×100000 pixels in a tiny file is refused before allocating', async () => {
    const p = file();
    writeTiff(p, [small()], { tagOverrides: { 0: { 256: [100000], 257: [100000] } } });
    expect(fs.statSync(p).size).toBeLessThan(1024);
    await expectInputError(TiffReader.open(p), p, /100000×100000×1 samples exceeds the limit of 268435456 \(maxPixels\)/);
  });

  it('a header claiming more pixels than the file holds is refused, compressed or not', async () => {
    const p = file();
    writeTiff(p, [small()], { tagOverrides: { 0: { 256: [10000], 257: [10000] } } });
    await expectInputError(TiffReader.open(p), p, /claims a 10000×10000×1 uint16 image .* file has only \d+ bytes/);
    const q = file();
    writeTiff(q, [small()], { compression: 8, tagOverrides: { 0: { 256: [16000], 257: [16000] } } });
    await expectInputError(TiffReader.open(q), q, /claims a 16000×16000×1 uint16 image/);
  });

  it('honours a smaller maxPixels', async () => {
    const p = file();
    writeTiff(p, [small()]);
    await expectInputError(TiffReader.open(p, { maxPixels: 100 }), p, /exceeds the limit of 100/);
  });

  it('strip count that does not match the image', async () => {
    const p = file();
    writeTiff(p, [small()], { rowsPerStrip: 2, tagOverrides: { 0: { 278: [1] } } });
    await expectInputError(TiffReader.open(p), p, /corrupt IFD 0: 4 strip offsets for 8 strips/);
  });

  it('strip byte count too small for uncompressed data', async () => {
    const p = file();
    writeTiff(p, [small()], { tagOverrides: { 0: { 279: [100] } } });
    const r = await TiffReader.open(p);
    await expectInputError(r.readPage(0), p, /truncated: strip 0 of page 0 has 100 bytes, needs 256/);
    await r.close();
  });

  it('missing required tags', async () => {
    const p = file();
    writeTiff(p, [small()], { tagOverrides: { 0: { 256: null } } });
    await expectInputError(TiffReader.open(p), p, /required tag ImageWidth is missing/);
    const q = file();
    writeTiff(q, [small()], { compression: 8, tagOverrides: { 0: { 279: null } } });
    await expectInputError(TiffReader.open(q), q, /StripByteCounts missing for compressed data/);
  });

  it('uncompressed strips without StripByteCounts are still read (old writers)', async () => {
    const img = small();
    const p = file();
    writeTiff(p, [img], { tagOverrides: { 0: { 279: null } } });
    expectSameImage((await readAll(p)).pages[0], img);
  });
});

/** Byte position of the entry for `tag` in a classic little-endian IFD. */
function findEntry(buf: Buffer, ifd: number, tag: number): number {
  const n = buf.readUInt16LE(ifd);
  for (let e = 0; e < n; e++) {
    if (buf.readUInt16LE(ifd + 2 + 12 * e) === tag) return ifd + 2 + 12 * e;
  }
  throw new Error(`tag ${tag} not found`);
}

// ------------------------------------------------------------------ real data

const DATA = '/work/shared/data';
const STUCK = path.join(DATA, 'stuck.tif');
if (!fs.existsSync(STUCK)) console.warn(`skipping real-data TIFF tests: ${STUCK} not found (it lives outside the repository)`);

describe.skipIf(!fs.existsSync(STUCK))('real data: stuck.tif (trackpy)', () => {
  // Per-page sums and the whole-stack sum computed once with
  //   /usr/bin/python3 -c "import tifffile; a = tifffile.imread('stuck.tif').astype('int64'); print(a.sum((1, 2)), a.sum())"
  const PAGE_SUMS = [130733195, 131289601, 131357757, 131444718, 131612762];

  it('is a big-endian 5-page 512×512 uint16 stack with values 477..576 matching tifffile', async () => {
    const r = await TiffReader.open(STUCK);
    expect([r.pageCount, r.width, r.height, r.channels, r.dtype, r.littleEndian]).toEqual([5, 512, 512, 1, 'uint16', false]);
    let min = Infinity;
    let max = -Infinity;
    for (let k = 0; k < 5; k++) {
      const d = await r.readPage(k);
      let sum = 0;
      for (let i = 0; i < d.length; i++) {
        const v = d[i];
        sum += v;
        if (v < min) min = v;
        if (v > max) max = v;
      }
      expect(sum).toBe(PAGE_SUMS[k]);
    }
    expect([min, max]).toEqual([477, 576]);
    await r.close();
  });
});

// ------------------------------------------------------------------ fixtures

/*
 * Small TIFFs written by other software, base64. Made with /usr/bin/python3
 * (Pillow 9.4 + libtiff for LZW, tifffile 2023.2.3 for deflate):
 *
 *   M = 0xffffffff; i = np.arange(n, dtype=np.uint64)
 *   mix(i):  v = ((i ^ (i >> 3)) * 0x9E3779B1) & M; v ^= v >> 15; v = (v * 0x85EBCA77) & M; v ^= v >> 13
 *   weyl(i): (i * 0x9E3779B1) & M
 *   lzw_u8:       Image.fromarray((mix(i) >> 24).astype(u8).reshape(64, 64)).save(f, compression='tiff_lzw')
 *   lzw_u16_pred: Image.fromarray(((x*1000 + y*77) % 65536).astype(u16), 'I;16').save(f, compression='tiff_lzw', tiffinfo={317: 2})
 *   big_be_zlib:  tifffile.imwrite(f, (weyl(i) >> 16).astype(u16).reshape(3, 20, 24), bigtiff=True, byteorder='>',
 *                                  compression='zlib', predictor=True, rowsperstrip=4, photometric='minisblack')
 *   rgb_planar:   tifffile.imwrite(f, (weyl(i) >> 24).astype(u8).reshape(3, 10, 12), photometric='rgb',
 *                                  planarconfig='separate', compression='zlib')
 */
const FIXTURES = {
  lzw_u8:
    'SUkqAMIVAACAAAutQHC9rA4vpNyggZvkHNkikFyuZ4HxSO0dNZ5JUOp1ZLR6oM4jY+GFRnVhi10sZmm1tuQysg9GoMLBiFZgBsdl' +
    'wrDgsjk4gcKE0OGwUPl5i8rjAjAZ1pYNkwxFkpBMNiFxlQwJ0lqJxphzJB7IovNRTptqGQ9q4PIJOkcDCgpPsctQOK07h04IMjuA' +
    '5jMnA4nikDi9tDk0q0iGxzMx5EcpON9qBWOcpqctogTk8umIOoteIpRkoHjgwCtIkETJdQqVsIFji5+rEijo5pZyJkarcmMwmLBz' +
    'DtGnIQAZ+tgOFAXrQfgO5C9kARFn88LBhAwcJkPjo9o8rHc2CMVul0Fh8L9EC9Lr8YlpPllnh4mJADi4RsUwME2uckNEVk4BxWFy' +
    'KZrl4ABGiicp+B0dhHAcLB4A+PRsiIUpmkefxMm0co/EeZgciaIwInyY4ziUQghDGSZTkmXR9luUpTicLAEikXYnEKJRGmeaYLjs' +
    'cYKEcbZbEoBBSmARoDFsYA9CuHJGjmZBpjKWYRGSHoPmgYZmCqDxeD+Jw+ECAZ0EuUxXhkOrXByS4oi8GYwmsMYCDID5DnSRJpA+' +
    'BpzkWdA7BsDSZAOIArBSO4AjKehYj8ZwTj8J47HcUZMgIYB8DuaxpByWAvn4U5HkMVZbn8N40jsBA+BGBRjASAw9E8BQfhyR4EGK' +
    'RZgg8Y4Lmod55hCZoGmCAQeikHQrm8ZhMHETYCksDo8nUEBGgGJ4OnuJBaFOHwCiQTx4FOAoBisEBYnoUgWC4d5mHmCJZDIBAVns' +
    'B5fhue4LHaXxYG6SpfAaGolBKfIUGEYghhqap/FyDYDA2BoVhsN5HHyOhSgGbBgA4VIOH6IozBYF5ojCARmnQcZSECaIxBAKgcjO' +
    'UpcH+HIiF2AZ4H5KhvBaWw5hgYxGiSRw3C8eomEcNQxjqSp3AQBR1nCIBWEuIBIAwC4Qn2To+jQepajkJwVhiGhYHwawJGoHQLn6' +
    'GpGkidhYB4UI7BkUBUB2XoXweBZjBSRAOC6EQzDaGIHl6Gg9lEaAKk2UJChMIR5G+OJ/F0MAiFcCgDlaDY9gySJxlMTIbDoAozlO' +
    'bQkH8Xw9GKEZeEeBhdg8c4rGKL5hhqNREneEYsgoCxEDaA4fh7t5an0HoJCgP4sHWVRoCeGxhmWOYKk0TIHFEXh2AKbpOBkSRbkk' +
    'IJ8jmJpQGkDBKB6eAJHuHIOB8Qo+kMSIdGiC5jjMBB5i8eQux8irGkG0PYlAHC4HWCgVgvgZiED4JgYYyhfhvHSAMMY5BBAxAQE4' +
    'WoaA6CfEMIIE4ngjjFCMN4Y4QQEicGMPAK4gx/itBSNQFQDAyBdHMIYbIZRAhODKBALA/hvA/CuEwAg9R+AoG+FkWoCALCWDsOoB' +
    'IpwwjgE2IMCYbhMCSCSOUe4LgCiaAcPETIhR8inA+CQPg9R8CrHaIIbIqQsjyAqMMJIkBhiaDIOcSwQgCAGDABoAIiBPAzHsLcAA' +
    'ZRgD6AcMoGYvBsgEEoKMYwvRiBMFCOwBYHhWjAEkA0Y4WhogSGOBkBY/RGgIFyKYd4gxpCRHyNMewQAfi+D4LYT4GY8BLDsN4J4p' +
    'QFisBEPgaIMhsBbBmFQAYnBnD4G8/EdYCBvAiAGNEa45QRD6HYMgeQERhjBDsA0dgExZg6DeLIN4dBXBHCOMwNwAxeiMD1LMagsQ' +
    '3huBqLkQo0ANiQFqNMSo8wxhRGqPA9AGxQgAFkBUUA/RShvHwDgG4HxJieBOKAMIch4CID2GRqYDR0jzAgG8ZwPBODXFgLoQAbhn' +
    'B/GwFIUwowVhmEeIsKYgQlDNHIC0FAABYBWF+IsSQIR5jrBiLsJAFwBA0FGPwUwShAAyEWD4DYjQqDiB4JIOITgNCSCoAgOIHQSj' +
    'iFcAYaI/A/AaHMHMdgkAqBDHIHYNg8gnDXDCEgfALRDCmEmJUZ4shyDdkeIMQAHh0CjEmFoWAtwLiRG2GsIrkg/AQFUGYawrQkB/' +
    'DiEYQ47hxDDEEOsaQIRbhhCUH0GgOA+BHAUFUBYgQPBWBaNsLguQ1DHBkGkK4LAEjpDqIQYw5guh3BmMQColxMhcEeAAb4mh+D6A' +
    'WGsbwGwJibC8BAPYkR/iGEYlIbohQyiNC4FECICxXB6CCMkIInhDjPFiO8VgMxGBDDAKUNgOQpglFePYIg9BmjEDeEsMQsxrjmBm' +
    'FoWI9xKA1GWGIE4bhYioBQEMQ8uQmjvd4FEPI+giDwCcIcfoZh5hFDiKMNg4xrA9FcK4FI5RwgNBOHwOIJBBCoGYE0bQcg0A+FwN' +
    '4LwxQBB2HqM8VITgAC1CCIISIIGrgRDsGAewQQjhFH+EkWYthlieDeGgZAVgvBUBkL0ew5QpiOEMN4aI1RUDVAOBIbocwjByCONs' +
    'SgCgWCjAaKUHQ2wICVF6JoAIXgvijHON0LgCAJiJBYA8LokAWihHeFgG4+Brg3CoOQAIJg1iPA2IcXgohLBiD2IIFQohQCtCcJ0c' +
    'IHR9DaGSHgIYCgFCVCgEIHA3BADqEsBYfo9A1iqASNEcYqgAjfFsE4JQrGKiUFuFgV45hYB2DkLkEY7grhmDkAAHAIw+B/DqBUVA' +
    'khZipQ6EMSoKRWAgHuIAVAUg+XjGALwQIeRPhWDsIseYvh2BxFIPUCAYQOAaBKKIfYEh7CkC4Dsa4SQ6ACFqNEO4+Q2h+EWCoYop' +
    '72iVHwBRgI0hlgGFqDEMQpwni+HsFYPwZAIC3ECPAVgwQCACDSPkYgkR+jbEWGEaoPQ0AjH6IsQg+BxAKFdt8Dwgw+iZCmBgCQ1Q' +
    '7SOHEAQA4phKDDC2JIXoqBZhvFEJ8cIuQoj4GrfgEg/Rhg4GUIsS49QYiEGWEYdIPBZA3AIIMTorQCADBmL8TIshOgWByH8UIZAF' +
    'C7PWLIbYagHAQCSMIMQfRMCRCuCENICwJjVA+LMXg3AWC9DEJAOQ6ATiLDGGIJYqwmiED0MoVAgwOCDCbkocQUBVijGmFkXAIwSh' +
    'hDwKENITxAjTH2N0a4ZA4AFHCAQJAZx6gpCeB8OAOBfjYA2DgPIKwViaHiAISQ/BOghFCBwNwNAvg0DGL4S4lhChjE8G0ZYDBmDA' +
    'CmKAWgiAAgqBcDcQQvg5D3BWHoHOEMFuCiG4E2HqF0BuFESKH27oDUCuBwCkBEHmFcDCAeAmHaDWFGAeBoCUEwHSFeFGGwHKBiCu' +
    'DuHAAqDiF8AqDAAiFADMFSDmB2AqBSBIF6BECIBmFsECCQFeEgB6FCDYD4EIDmCYEuCWC+DiB6FKCUAQB6DMDwCMBaf2xKDeAaD6' +
    'E4DIAyCyDaHYB+AqGOBYBAEMFIWIAQE2CGAoCoEeG8GgBgE6BsCUCKo0CmFGBCHyGiGGA4CMBCDYH2BEFSBCDCF+AOBGDyDsBqDe' +
    'YOCmBqDcCIGQAgDkBOEOCKCGE4D2AAF8BcBqH+BsFWCKHqH2CIFCEgB4D0C6A0B6GoAYGyDoD+DkAYAYC+BeCEG6HaH4CeDoGSDo' +
    'H+D+BUGgHSEEC6B4EcCSBIGsEsAGCECSFWE2Ccc6B2D2DCAQDkAKHWHiE0EqCmEyDIDiHwH+B2AQGAAUH+AYD6F4BsG0FOFcC5DA' +
    'A2D6AAAkHCBaBSCYCQBgGsDMD8D8HqACBuA8GuAKEqDKDIDcFYEsCuCAC+H2ESFqHyUiBYHsD8AGB+FoGIASCCD8BaHoGoCACSBc' +
    'AwHIFeHCB0FWACGeD6C0HGFWGIHYGuA2CaCyEuDaCeHIBCDOCSBOBkGQAaF+FcFAA8HMFUEeEoC4A2H4DGDMaAEKuoFKEiHEC6CM' +
    'EUHiiKDCGSA8HGEEBaEgESDyEKHKBCC8BcC8D4HeEgCiBgDaDCH8AwDQAIFAlUH+B8EUGQBcGuC2C6CmByH4DkAsF4A+AMBUEUDW' +
    'EGH0DCGED+CYGkAADCACBYDIH8EABiBkAEDgGWG6FgE0BcCUACsSCACeEcHGEAAODOF2EYFWFSAmFMDSDuFEB0GqHuFqEUGIB4C4' +
    'BmDuBwHMD+H+DOE6BqDYEQGYBDLIGyCiqmBmA4DWGQAqG8HCFqC8F0DWAQEcCuBoFmC0AsB+8sCYDAG0EkD+HCFSBODCBWE8B+Gg' +
    'EKBmEGCgGYGMH4CQDwDcAMDOAAB4BGDMBUBwCmBODMEgCUGiDAAKDeEaE0AoCIFsGgGuHcHsEgAqCIDuH6sYGyFOG2CCF8FIBmB8' +
    'DqF6CGBICMH8HeCaCuEYH+EuHwHKC0A6EMAKESEUF4C4EGBUDQBoHoEAFmHoA0B4AoB8CMCyH4HuAyAnQYEAAgFWEEgXGSCyB4Hc' +
    'AwEsHAFyGgFyAiG6EiGqHmEeEUCaCsHeCyHyGSAUCSAIFMCyCIHUG2E8A0DKEYE6BwDgCeB4HeEEHcAeH4FiDWBAGAD4FwHsGmEA' +
    'AeHsEMF+HcFAHyHyGAHoCMHqFYGiGsCmKOGYF2HMBuAGBOHgBANSD6CfFSEGEUDwE+HWFWGMBaHAFWGGGQBKE6GWEQAXR0BwDMBG' +
    'HGECBKC6F0EcHoEwHaAuEmBKAwFQFyBSH0BIFYCoGSAgDIFAG+CAECDeE9GuG2HiGgB4GUD4C8HyHWBYEaDKC2IWGsD0DaCmF8BC' +
    'OmESCOG+HAEuCGCwDOCoA0AGBwEuDO8WFKC2HSHEHcBeCIC2Hu/ECUHSDSCmDwDECMCmHUDYHCGsA4AqAcGKFUD2GQF4AYBCCAGg' +
    'DaDKFACOBQAqEODID0GsFGHqHaCWBqE6AYFIFWH2HQEYHOEKD4EgDQH4ESGaCGHmHKCaCYE8D2FyHkFOC4EuCmHiFKDAG4GEFIEK' +
    'EyCeHwAEHEGEG6CQAIBKAeF4DaAIDOE2EYCQDUBSnAAEEIEWAIEeFcG2FaG6FKFMEWAMHaDi4EFsDaGECqE4HODYCQGqEyEGEWGq' +
    'B8BgCCAQBeAqCQBoASFQACAQACFiDkFaDo2+DAAgFED8EmHcEkECCwFcEQBYAuB4HKG8AAGgBEEgEgAoCEC6BOCwAmHUGcEqDEHa' +
    'FkdyDeAkFaA6GMFFYcBwEqFWA+F4BKFWGaGwEqFSAsAwCCH0ACFOguD4HyH6CYH+DoBQHCD+C8CwGICMA1DWHYAUBuBEGuHaAkCG' +
    'FgDMAAEMF0AGByBQAcCmE6CMAOFkByDICAA8FyFSFKCCFCEyEsG8CMB0CqyQGyAkCaCWHUGQDKDQBsEMC+HKDua0AyFCAGGIFQFw' +
    'F0AEAOGiBsGuFsESCMCkCkFqBSHMDUDWGWCQG0CUHmHQE6EUC+A6G2EcBqGYGOAaDsE6BIn4GEGSB2DRO2HyFoAyBOEUDsAYBMAK' +
    'BIE0DGFiFWDgF4EEAWHuDEESGmEsGOGoAmBaECEwBWBAH2EyD6EsCCB2CqAGGSiUCYGaDcGCD2AEFeBSESEQEkBEEqAuHaF6HSA8' +
    'CWBSEqAyBuHoFaGYHaD0BuAoHqDAHaF4CgAe4iZICjL4FeHOAAGsDCHiDUHuBYF4GWBGHUAUEKBaAKhqHMDqBKG0GiCGGCHQCaH6' +
    'EEEUDyEOGAGoCmHQCSDyGKFEFiDoGUA4GKGsE2EsAoDyFSGaBQBqE4G6GAH+GyEQFSHIBAB8AuGAECDdVJKCEUHQFwGwBCHEC0Fm' +
    'DgFUB4DKCwEwF+FkH2CeGKGgEEGWCIHQB+F+DkCaGcDMFUByB+DsF6CIE0H6CEHQAKHMGqFqBQHhcQDKC6CEG2F0ElIKDcGI5XI4' +
    'EoEOGwBIBsA2COHCCi3MFyFqCYFKBkBWBGEGFEEEd0GcGWGKCAFu7KEuAya+GIBkE9ceGSAiEWHoASpEDqAWCyD8GeHcAqASCeAL' +
    'amDyHoAcEeFQBaAqAQESB6HoAQGcG9bwAACgCsAsGaA0AsDiECBgHODoGgHEAYCWAqEYHiAYCqHcBUBOGEBaGqEaH+EAB2E6GCHo' +
    'FuAYAqH2BiFIDOHaEYFeE6HaDqFsAQJkAEFwHoF6GgD8A4FGFtheFwvQHiHaE0G8emDAGUB+FQBcF4DkCMBuHgCUAsHGDmHUB2Ey' +
    'B4FmBOECG8FCDqHuH/d6CUGIEcCsG4EODEH0E6DM1CEaCwGoEmHyCqACDAHYAkBGC+EYAsGCCWHAATiQAiGmBWD+FtRADEHUEGGA' +
    'FQCQDIHsEICCGQDMFzlOAoEAAYAoCSGqAIEAF2FOCCGqE0FiEWCsB4DGAwBMyeCWDKBwGKA4FuDGFcGiCkCGH0GkG4AuH0EkFWDu' +
    'FUFODOAIAcEICcBGAaCyBGEqHSCUB2B6DUHgGECcGqEIFeAsFaBkGeGKBaBWCsGYBgEoASCWAeEYEGFeESGsEgHuBqF8E4GQBCA4' +
    'AIAeBEAqGSGIEEBqDCGCDqFiBaCeByAeHuFwDECqHwB2AgFmFqAYHWGQGkFGBmA+EwEWFMC4CKHQBaF0BcFcFqBoHCGmAWDKCuDs' +
    'ASFmHkECDkB0CAHWD4HOBKHQGIDKDK7SG8CaDe96FQCiE0HuC6FsG4GuCsFqBqEUE2HGCSE0FCBLCwB2FCFaGg1sCoF2/6EEHeFU' +
    'FeCMHe9yEsE0Fq7UCyEIAWDaGMHmGiACG0BYGkEIFUAIFgECAEGwGEHqCDQSEqACETgqC+DwASHrBiHqAcAECKDUCKASGCCCHSFg' +
    'GcDoFEH6FcDeBGFGAsCcHsBuEAEMH2E4EUE8C+AcBcBQBiD4EuHsBoDeEeBeGKA6Ff0IHoEoEqEeGWBsAEDaHGCuEWQkEiHWG2Dy' +
    'BAGuCGG2dkBcGoA2F8CYFkCwC4HIAODoBv2oHuHMFSDEFcL2B2BWFmBWAYDuDwEm6SBWC6BYFSAyGOEgCkFgcuB2DaCAEkHIEsF+' +
    'CmGeESD2DuGWFkD0AsHcGiCcACEMEuHaEgHKbMAIDYAMCGA+EoHmFOHUAaEcAWACA8AwCUHUA2HsFeFCGcGmEKH+DCDKH8A0D2Fe' +
    'D2BiDCDsHiBADYEaFgGKHCGYC5NUBpesliBsA+FcEgDaBwE6GSE+BkA6A0G0FgDcHWHUGuFaBUDyBGHiG+AiBiFEBqCQH6DgH+Ae' +
    'AWBCEsB0BQA0AYEkFeBcE2AgC8GwFYF4B8GSCiDiGAGmDaCqEqAgBSH+FqH4BKBYEeFiBwHIGSDSDyESEmA4BMByDwAmFwC8C2Gs' +
    'GyAYDGFMFgDiCkGSD+GG7gDcAcFyAWDEDgAaAyDmBKC2DoCKwqHiFcAkBuASABcKHwHmEuEiFsEcHKGmF0BWAcHGHIEUFuHiEcF+' +
    'CcEYEMC2DaAYHGE+IA8AKMXgyTYlHYyUUcEgES6DjAM3A9Qku38MweCCCn2MeywqHcGT06FmzCm+3gDjynwWn1cREyTyKyw04Sgi' +
    'GWzHwJC2VBG/kq6Q0EgwgkIWG2hUkZyqBX0u1WDW4kQ6Kn8GFohFasxGIXMnxkF3MRW4Sl4qhEKXQuUQkE4jBUVkWKT2+nIjwWR2' +
    'sTheNTawCMOwYxFy3V0XDONwXAQJAAABAwABAAAAQAAAAAEBAwABAAAAQAAAAAIBAwABAAAACAAAAAMBAwABAAAABQAAAAYBAwAB' +
    'AAAAAQAAABEBBAABAAAACAAAABYBAwABAAAAQAAAABcBBAABAAAAuhUAABwBAwABAAAAAQAAAAAAAAA=',
  lzw_u16_pred:
    'SUkqAMoAAACAAAAOgBwSDQWEQeFQmGQuHQ2IQ+JQwmwOIxeJxmMRuNQtNRaOxyRSGSRdzyCRymSyuRDQAyyYSqZQ9Ay+ZzeYzFnT' +
    'aczifSENgKe0Ofxs0UKi0SlQxa0il0+igKk1OoQQn1SsUtOVmuT1012wSwbASq2GZIOyWayyFoWm12qNh0C2+6SI1XO4XWHre8Xq' +
    '8wwCAa/YOGFHBX/CQRPYfE3914zEX8cAfG4RC5TI4RpZjK3APgjO342aDM39c6TQ2aAgAAoAAAEDAAEAAAAoAAAAAQEDAAEAAAAe' +
    'AAAAAgEDAAEAAAAQAAAAAwEDAAEAAAAFAAAABgEDAAEAAAABAAAAEQEEAAEAAAAIAAAAFgEDAAEAAAAeAAAAFwEEAAEAAADBAAAA' +
    'HAEDAAEAAAABAAAAPQEDAAEAAAACAAAAAAAAAA==',
  big_be_zlib:
    'TU0AKwAIAAAAAAAAAAAAEAAAAAAAAAAPAQAABAAAAAAAAAABAAAAGAAAAAABAQAEAAAAAAAAAAEAAAAUAAAAAAECAAMAAAAAAAAA' +
    'AQAQAAAAAAAAAQMAAwAAAAAAAAABAAgAAAAAAAABBgADAAAAAAAAAAEAAQAAAAAAAAEOAAIAAAAAAAAAFwAAAAAAAAFMAREAEAAA' +
    'AAAAAAAFAAAAAAAAAXQBFQADAAAAAAAAAAEAAQAAAAAAAAEWAAQAAAAAAAAAAQAAAAQAAAAAARcAAwAAAAAAAAAFAAAAAAAAAZwB' +
    'GgAFAAAAAAAAAAEAAAABAAAAAQEbAAUAAAAAAAAAAQAAAAEAAAABASgAAwAAAAAAAAABAAEAAAAAAAABMQACAAAAAAAAAAwAAAAA' +
    'AAABpgE9AAMAAAAAAAAAAQACAAAAAAAAAAAAAAAAAnp7InNoYXBlIjogWzMsIDIwLCAyNF19AAAAAAAAAAAAAAAAAAAAAAAAAAAA' +
    'AAAAAcAAAAAAAAAB5AAAAAAAAAILAAAAAAAAAjAAAAAAAAACVAAkACcAJQAkACZ0aWZmZmlsZS5weQAAAAAAAAAAAAAAAAAAAHic' +
    'Y2CYZw6EFkRgMHnVmFiVELwqjRhVCFw/i1iVEAwA4M9P6XicCzk7z2KeORybo/CwYC1GYlQhzPtvQqxKCOtKOjGqEBgAUOJQcnic' +
    'Wzl7nvk8CywYu6hF3TliVUJwCBMxqhBY05RYlRAzAZF4T/14nPuXMc9injlejMK7PIdYlRC84jwxqhC4jplYlRAMADGHUYZ4nAs2' +
    'm2cxzxwILYjAQFIjk1iVEPx3LrEqIfjSBWJUITAAUgpRDwAAAAAAAAANAQAABAAAAAAAAAABAAAAGAAAAAABAQAEAAAAAAAAAAEA' +
    'AAAUAAAAAAECAAMAAAAAAAAAAQAQAAAAAAAAAQMAAwAAAAAAAAABAAgAAAAAAAABBgADAAAAAAAAAAEAAQAAAAAAAAERABAAAAAA' +
    'AAAABQAAAAAAAAOOARUAAwAAAAAAAAABAAEAAAAAAAABFgAEAAAAAAAAAAEAAAAEAAAAAAEXAAMAAAAAAAAABQAAAAAAAAO2ARoA' +
    'BQAAAAAAAAABAAAAAQAAAAEBGwAFAAAAAAAAAAEAAAABAAAAAQEoAAMAAAAAAAAAAQABAAAAAAAAAT0AAwAAAAAAAAABAAIAAAAA' +
    'AAAAAAAAAAAEegAAAAAAAAPAAAAAAAAAA+UAAAAAAAAECgAAAAAAAAQuAAAAAAAABFMAJQAlACQAJQAneJxbwTLPfJ4FEkblYeBa' +
    'olVCcFAWMaoQ5qnPI1YlBAMABAFPmnic+3NxnsU8c6wYq+glVmJVQvByC2JUIXBNDrEqIWYCAAPiUSN4nAucP898ngUBjMRTu0Ss' +
    'Sgj+w0asSgi+aEmMKgQGAIQEUK14nFuWO898ngUQQ0iCuHoBkSqhrIDLxKqEYDV2YlVCMACUmVA3eJz7bTXPYp45CjbHEEHCF/KI' +
    'VQnBSxcSqxKiquoKsSohGAAFDFHAAAAAAAAAAA0BAAAEAAAAAAAAAAEAAAAYAAAAAAEBAAQAAAAAAAAAAQAAABQAAAAAAQIAAwAA' +
    'AAAAAAABABAAAAAAAAABAwADAAAAAAAAAAEACAAAAAAAAAEGAAMAAAAAAAAAAQABAAAAAAAAAREAEAAAAAAAAAAFAAAAAAAABY4B' +
    'FQADAAAAAAAAAAEAAQAAAAAAAAEWAAQAAAAAAAAAAQAAAAQAAAAAARcAAwAAAAAAAAAFAAAAAAAABbYBGgAFAAAAAAAAAAEAAAAB' +
    'AAAAAQEbAAUAAAAAAAAAAQAAAAEAAAABASgAAwAAAAAAAAABAAEAAAAAAAABPQADAAAAAAAAAAEAAgAAAAAAAAAAAAAAAAAAAAAA' +
    'AAAABcAAAAAAAAAF5AAAAAAAAAYHAAAAAAAABi4AAAAAAAAGVAAkACMAJwAmACR4nAvgmGc+zwIHxiKqak2sSgj+lU+sSgg+v4gY' +
    'VQgMAPaxUEt4nFtydZ7FPHOiMJis4iRGFQL72xCrEoJVCohVCcEAZmJP1Hic+7l4nsU8czA2h7Pw4HPXiVUJMXMJFzGqELxKW2JV' +
    'QjAANqVRXXic8yucZz7PAg1jisCx8hJiVULwjxvEqoSoOsdNrEoICwCHKVDneJxbbDfPYp45XozCqygiRhUC+y4lViUEK90kViUE' +
    'AwBnjlBx',
  rgb_planar:
    'SUkqAAgAAAAPAAABBAABAAAADAAAAAEBBAABAAAACgAAAAIBAwADAAAAwgAAAAMBAwABAAAACAAAAAYBAwABAAAAAgAAAA4BAgAX' +
    'AAAAyAAAABEBBAADAAAA8AAAABUBAwABAAAAAwAAABYBBAABAAAACgAAABcBAwADAAAA/AAAABoBBQABAAAAAgEAABsBBQABAAAA' +
    'CgEAABwBAwABAAAAAgAAACgBAwABAAAAAQAAADEBAgAMAAAAEgEAAAAAAAAIAAgACAB7InNoYXBlIjogWzMsIDEwLCAxMl19AAAA' +
    'AAAAAAAAAAAAAAAAAAAAIAEAAKMBAAAmAgAAgwCDAIMAAQAAAAEAAAABAAAAAQAAAHRpZmZmaWxlLnB5AAAAeJwBeACH/wCePNp4' +
    'F7VT8Y8uzGoIp0XjgR++XPqYNtVzEa9O7IooxmUDoT/efBq4VvWTMc9tDKpI5oUjwV/9nDrYdhWzUe+NLMpoBqRD4X8dvFr4ljTT' +
    'cQ+tS+qIJsRjAZ8923oYtlTzkS/NawqoRuSCIb9d+5o41nQSsU/ti+fdO4l4nAF4AIf/KshmBKJB330buVj2lDLRbw2rSeiGJMJg' +
    '/5072XgWtFLwjy3LaQimROKAH71b+Zc21HIQr03riSfGZAKgP917GbdW9JIwzm0LqUfmhCLAXv2bOdd1FLJQ7o0ryWcFpELgfh27' +
    'WfeVNNJwDqxL6YclxGIAnjzbeRe1DwQ7OXicAXgAh/9U8pAuzGsJp0XjgiC+XPuZN9VzErBO7Iopx2UDokDefBq5V/WTMtBuDKpJ' +
    '54UjwWD+nDrZdxWzUfCOLMppB6VD4YAevFr4lzXTcRCuTOqIJ8VjAZ8+3HoYt1XzkS/ObAqoR+WDIb9e/Jo41nUTsU/ujCrIZgWj' +
    'Qd8zHDvp',
};
