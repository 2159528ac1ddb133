import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Frame } from '../../src/ingest/frame.js';
import { SequenceSource, globToRegExp, listSequence, naturalCompare } from '../../src/ingest/sequence.js';
import { encodePng, firstMismatch, randomImage, tempDir, writeTiff, type TestImage } from '../helpers/imageWriters.js';
import { expectInputError } from '../helpers/errors.js';

let root: string;
beforeAll(() => { root = tempDir(); });
afterAll(() => { fs.rmSync(root, { recursive: true, force: true }); });

let dirNo = 0;
function freshDir(): string {
  const d = path.join(root, `seq${dirNo++}`);
  fs.mkdirSync(d);
  return d;
}

async function collect(src: SequenceSource): Promise<Frame[]> {
  const frames: Frame[] = [];
  for await (const f of src.frames()) frames.push(f);
  await src.close();
  return frames;
}


describe('naturalCompare', () => {
  it('orders digit runs by value and the rest case-insensitively', () => {
    const names = ['frame_10.tif', 'Frame_2.tif', 'frame_1.tif', 'frame_02.tif', 'frame_100.tif', 'frame_9.png', 'a.tif', 'frame_.tif', 'B.tif'];
    expect([...names].sort(naturalCompare)).toEqual([
      'a.tif', 'B.tif', 'frame_.tif', 'frame_1.tif', 'Frame_2.tif', 'frame_02.tif', 'frame_9.png', 'frame_10.tif', 'frame_100.tif',
    ]);
  });

  it('handles numbers beyond 2^53 and several digit runs', () => {
    expect(naturalCompare('t99999999999999999999', 't100000000000000000000')).toBeLessThan(0);
    expect(naturalCompare('s1_t10', 's1_t9')).toBeGreaterThan(0);
    expect(naturalCompare('s2_t1', 's10_t1')).toBeLessThan(0);
    expect(naturalCompare('img', 'img1')).toBeLessThan(0);
    expect(naturalCompare('x', 'x')).toBe(0);
  });

  it('is a total order (ties broken deterministically)', () => {
    expect(naturalCompare('f01', 'f1')).not.toBe(0);
    expect(Math.sign(naturalCompare('f01', 'f1'))).toBe(-Math.sign(naturalCompare('f1', 'f01')));
    expect(naturalCompare('A', 'a')).not.toBe(0);
  });
});

describe('globToRegExp', () => {
  it('supports * and ? and treats the rest literally', () => {
    const re = globToRegExp('frame_*.tif');
    expect(re.test('frame_001.tif')).toBe(true);
    expect(re.test('frame_.tif')).toBe(true);
    expect(re.test('frame_1.tiff')).toBe(false);
    expect(re.test('xframe_1.tif')).toBe(false);
    const q = globToRegExp('t?.png');
    expect(q.test('t1.png')).toBe(true);
    expect(q.test('t10.png')).toBe(false);
    expect(globToRegExp('a+b(1).[x]*').test('a+b(1).[x]yz')).toBe(true);
    expect(globToRegExp('a.b').test('aXb')).toBe(false);
  });
});

describe('listSequence', () => {
  it('lists a folder\'s TIFF/PNG files in natural order, skipping other and hidden files and sub-folders', async () => {
    const d = freshDir();
    for (const n of ['f10.tif', 'f2.TIF', 'f1.png', 'notes.txt', '.hidden.tif', 'f3.tiff']) fs.writeFileSync(path.join(d, n), 'x');
    fs.mkdirSync(path.join(d, 'f4.tif'));
    fs.symlinkSync(path.join(d, 'f1.png'), path.join(d, 'f5.png')); // a link to a file counts
    fs.symlinkSync(path.join(d, 'f4.tif'), path.join(d, 'f6.tif')); // a link to a folder does not
    expect((await listSequence(d)).map((p) => path.basename(p))).toEqual(['f1.png', 'f2.TIF', 'f3.tiff', 'f5.png', 'f10.tif']);
  });

  it('matches a glob in the file name', async () => {
    const d = freshDir();
    for (const n of ['frame_1.tif', 'frame_12.tif', 'frame_3.tif', 'other_1.tif', 'frame_2.png']) fs.writeFileSync(path.join(d, n), 'x');
    expect((await listSequence(path.join(d, 'frame_*.tif'))).map((p) => path.basename(p))).toEqual(['frame_1.tif', 'frame_3.tif', 'frame_12.tif']);
    expect((await listSequence(path.join(d, 'frame_?.*'))).map((p) => path.basename(p))).toEqual(['frame_1.tif', 'frame_2.png', 'frame_3.tif']);
  });

  it('refuses wildcards in folder names, empty folders, no match, missing folders', async () => {
    const d = freshDir();
    await expectInputError(listSequence(path.join(root, 'seq*', 'a.tif')), 'seq*', /only supported in the file name/);
    await expectInputError(listSequence(d), d, /no TIFF or PNG files in this folder/);
    const pattern = path.join(d, 'nothing_*.tif');
    await expectInputError(listSequence(pattern), pattern, /no file matches this pattern/);
    const missing = path.join(root, 'missing');
    await expectInputError(listSequence(missing), missing, /no such file or folder/);
    await expectInputError(listSequence(path.join(missing, '*.tif')), missing, /no such folder/);
  });
});

describe('SequenceSource', () => {
  it('plays files in natural order, multi-page TIFFs contributing all their pages', async () => {
    const d = freshDir();
    const imgs = Array.from({ length: 6 }, (_, k) => randomImage(12, 7, 1, 'uint16', k));
    writeTiff(path.join(d, 'img_10.tif'), [imgs[4], imgs[5]], { compression: 5 });
    writeTiff(path.join(d, 'img_2.tif'), [imgs[1], imgs[2]], { littleEndian: false });
    fs.writeFileSync(path.join(d, 'img_1.png'), encodePng(imgs[0]));
    fs.writeFileSync(path.join(d, 'img_3.png'), encodePng(imgs[3]));
    const src = new SequenceSource(d, { fps: 4 });
    const info = await src.open();
    expect(info).toEqual({ uri: d, width: 12, height: 7, channels: 1, dtype: 'uint16', frameCount: 6, live: false, fps: 4 });
    expect(src.fileList.map((f) => [path.basename(f.path), f.format, f.pages])).toEqual([
      ['img_1.png', 'png', 1], ['img_2.tif', 'tiff', 2], ['img_3.png', 'png', 1], ['img_10.tif', 'tiff', 2],
    ]);
    const frames = await collect(src);
    expect(frames.map((f) => [f.seq, f.t])).toEqual([[0, 0], [1, 250], [2, 500], [3, 750], [4, 1000], [5, 1250]]);
    frames.forEach((f, k) => expect(firstMismatch(f.data, imgs[k].data), `frame ${k}`).toBe(-1));
  });

  it('works with a glob and t = seq without fps', async () => {
    const d = freshDir();
    const imgs = [0, 1, 2].map((k) => randomImage(5, 4, 3, 'uint8', k));
    imgs.forEach((img, k) => writeTiff(path.join(d, `t${k}.tif`), [img], { planar: 1 }));
    writeTiff(path.join(d, 'z0.tif'), [randomImage(9, 9, 1, 'uint8', 1)]); // not matched
    const src = new SequenceSource(path.join(d, 't?.tif'));
    expect((await src.open()).frameCount).toBe(3);
    const frames = await collect(src);
    expect(frames.map((f) => f.t)).toEqual([0, 1, 2]);
    frames.forEach((f, k) => expect(firstMismatch(f.data, imgs[k].data)).toBe(-1));
  });

  it('takes a single image file as a sequence of one file (all pages of a TIFF)', async () => {
    const d = freshDir();
    const png = path.join(d, 'one.png');
    const img = randomImage(6, 5, 1, 'uint8', 1);
    fs.writeFileSync(png, encodePng(img));
    const frames = await collect(new SequenceSource(png));
    expect(frames).toHaveLength(1);
    expect(firstMismatch(frames[0].data, img.data)).toBe(-1);
    const tif = path.join(d, 'stack.tif');
    writeTiff(tif, [img, img, img]);
    expect((await new SequenceSource(tif).open()).frameCount).toBe(3);
  });

  it('refuses a file whose size, channels or type differ, naming it', async () => {
    const cases: [TestImage, RegExp][] = [
      [randomImage(8, 9, 1, 'uint8', 1), /is 8×9, 1 channel, uint8 but the sequence \(from a1\.tif\) is 8×8, 1 channel, uint8/],
      [randomImage(8, 8, 3, 'uint8', 1), /3 channels/],
      [randomImage(8, 8, 1, 'uint16', 1), /uint16 but/],
    ];
    for (const [odd, problem] of cases) {
      const d = freshDir();
      writeTiff(path.join(d, 'a1.tif'), [randomImage(8, 8, 1, 'uint8', 0)]);
      fs.writeFileSync(path.join(d, 'a2.png'), encodePng(randomImage(8, 8, 1, 'uint8', 0)));
      const bad = path.join(d, 'a3.tif');
      writeTiff(bad, [odd]);
      await expectInputError(new SequenceSource(d).open(), bad, problem);
    }
  });

  it('refuses a file that is not an image, naming it', async () => {
    const d = freshDir();
    writeTiff(path.join(d, 'a1.tif'), [randomImage(8, 8, 1, 'uint8', 0)]);
    const bad = path.join(d, 'a2.tif');
    fs.writeFileSync(bad, 'not really a tiff');
    await expectInputError(new SequenceSource(d).open(), bad, /not a TIFF or PNG file/);
  });

  it('refuses an empty folder', async () => {
    const d = freshDir();
    await expectInputError(new SequenceSource(d).open(), d, /no TIFF or PNG files/);
  });
});

// ------------------------------------------------------------------ real data

const DROSOPHILA = '/work/shared/data/drosophila-seq1';
if (!fs.existsSync(DROSOPHILA)) console.warn(`skipping real-data sequence test: ${DROSOPHILA} not found (it lives outside the repository)`);

describe.skipIf(!fs.existsSync(DROSOPHILA))('real data: CellProfiler Drosophila sequence', () => {
  it('is 21 RGB uint8 frames, 542 wide × 264 high, matching tifffile', async () => {
    // Per-channel sums over the 21 frames, computed once with /usr/bin/python3:
    //   s = sum(tifffile.imread(f).astype('int64').sum(axis=(0, 1)) for f in sorted(glob('drosophila-seq1/*.tif')))
    //   (each file is (264, 542, 3): 264 rows, 542 columns, chunky RGB)
    const src = new SequenceSource(DROSOPHILA);
    const info = await src.open();
    expect(info).toMatchObject({ width: 542, height: 264, channels: 3, dtype: 'uint8', frameCount: 21 });
    const sums = [0, 0, 0];
    let n = 0;
    for await (const f of src.frames()) {
      const plane = f.width * f.height;
      for (let c = 0; c < 3; c++) {
        for (let i = c * plane, end = (c + 1) * plane; i < end; i++) sums[c] += f.data[i];
      }
      n++;
    }
    await src.close();
    expect(n).toBe(21);
    expect(sums).toEqual([7225636, 106592920, 61965646]); // green (GFP-histone) dominates, as the README says
  });
});
