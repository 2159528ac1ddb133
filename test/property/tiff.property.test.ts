/**
 * The TIFF reader (src/ingest/tiff.ts) under fast-check, on real files:
 * arbitrary bytes (with and without a TIFF header in front) and valid TIFFs
 * of every variant with random damage (bytes overwritten, words set to huge
 * values, cut short). Opening and reading every page must end in pixels of
 * the declared size or an InputError with one line naming the file — never
 * another exception, never a hang — and the memory held while doing it
 * stays within what `maxPixels` allows.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import type { Dtype } from '../../src/ingest/frame.js';
import { TiffReader } from '../../src/ingest/tiff.js';
import { type TestImage, type TiffWriteOptions, encodeTiff, randomImage, tempDir } from '../helpers/imageWriters.js';

/** Small enough that damaged sizes hit it often; every valid test image is below it. */
const MAX_PIXELS = 1 << 16;
/** What one file may hold at once: a page of MAX_PIXELS float32 samples, its strips, the scratch buffers, with room. */
const HELD_BOUND = 16 * MAX_PIXELS * 4;

let dir: string;
let gc: () => void;
beforeAll(() => {
  dir = tempDir();
  v8.setFlagsFromString('--expose-gc');
  gc = vm.runInNewContext('gc') as () => void;
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

let fileNo = 0;
let worstHeld = 0;

/**
 * Opens `bytes` as a TIFF file and reads every page (at most 16). Returns
 * 'ok' or the InputError's message; anything else thrown fails the property.
 */
async function readAll(bytes: Uint8Array): Promise<string> {
  const file = path.join(dir, `p${fileNo++ % 8}.tif`);
  fs.writeFileSync(file, bytes);
  gc();
  const base = process.memoryUsage().arrayBuffers;
  let reader: TiffReader | null = null;
  try {
    reader = await TiffReader.open(file, { maxPixels: MAX_PIXELS });
    const pages = Math.min(reader.pageCount, 16);
    for (let i = 0; i < pages; i++) {
      const info = reader.pageInfo(i);
      const data = await reader.readPage(i);
      expect(data.length, `page ${i}`).toBe(info.width * info.height * info.channels);
      expect(data.length).toBeLessThanOrEqual(MAX_PIXELS);
    }
    // Everything this file allocated is still referenced here (reader, scratch, pages): the high-water mark.
    worstHeld = Math.max(worstHeld, process.memoryUsage().arrayBuffers - base);
    return 'ok';
  } catch (e) {
    worstHeld = Math.max(worstHeld, process.memoryUsage().arrayBuffers - base);
    if (!(e instanceof InputError)) throw new Error(`not an InputError: ${(e as Error)?.stack ?? String(e)}`);
    expect(e.message.startsWith(`${file}: `) || e.message.includes(file), e.message).toBe(true);
    expect(e.message, 'one line').not.toMatch(/[\r\n]/);
    return e.message;
  } finally {
    await reader?.close();
  }
}

const dtypes: Dtype[] = ['uint8', 'uint16', 'float32'];

/** A valid TIFF of any variant the reader supports, small. */
const validTiff = fc
  .record({
    dtype: fc.constantFrom(...dtypes),
    channels: fc.constantFrom(1, 3),
    width: fc.integer({ min: 1, max: 40 }),
    height: fc.integer({ min: 1, max: 30 }),
    pages: fc.integer({ min: 1, max: 3 }),
    seed: fc.nat(1000),
    bigTiff: fc.boolean(),
    littleEndian: fc.boolean(),
    planar: fc.constantFrom<1 | 2>(1, 2),
    compression: fc.constantFrom<1 | 5 | 8>(1, 5, 8),
    predictor: fc.constantFrom<1 | 2>(1, 2),
    rowsPerStrip: fc.integer({ min: 1, max: 30 }),
    tiled: fc.boolean(),
    layout: fc.constantFrom<'data-first' | 'ifd-first'>('data-first', 'ifd-first'),
  })
  .map((r) => {
    const pages: TestImage[] = Array.from({ length: r.pages }, (_, p) => randomImage(r.width, r.height, r.channels, r.dtype, r.seed + p));
    const opts: TiffWriteOptions = {
      bigTiff: r.bigTiff,
      littleEndian: r.littleEndian,
      planar: r.planar,
      compression: r.compression,
      // Predictor 2 is for 8/16-bit integers only.
      predictor: r.dtype === 'float32' || r.compression === 1 ? 1 : r.predictor,
      ...(r.tiled ? { tile: { width: 16, height: 16 } } : { rowsPerStrip: r.rowsPerStrip }),
      layout: r.layout,
    };
    return encodeTiff(pages, opts).bytes;
  });

/** Damage: overwrite bytes, plant huge or zero words, cut the file. */
const damage = fc.array(
  fc.oneof(
    fc.record({ kind: fc.constant('byte' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant('word' as const), at: fc.nat(), value: fc.constantFrom(0, 1, 0xffff, 0x7fffffff, 0xffffffff, 100000, 65536) }),
    fc.record({ kind: fc.constant('cut' as const), at: fc.nat(), value: fc.constant(0) }),
  ),
  { minLength: 1, maxLength: 6 },
);

function damaged(bytes: Uint8Array, edits: { kind: 'byte' | 'word' | 'cut'; at: number; value: number }[]): Uint8Array {
  let b = bytes.slice();
  for (const e of edits) {
    if (b.length === 0) break;
    const at = e.at % b.length;
    if (e.kind === 'byte') b[at] = e.value;
    else if (e.kind === 'word') {
      const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
      if (at + 4 <= b.length) dv.setUint32(at, e.value, (at & 1) === 0);
    } else b = b.slice(0, at);
  }
  return b;
}

const HEADERS = [
  [0x49, 0x49, 42, 0, 8, 0, 0, 0],
  [0x4d, 0x4d, 0, 42, 0, 0, 0, 8],
  [0x49, 0x49, 43, 0, 8, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0],
  [0x4d, 0x4d, 0, 43, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 16],
];

describe('TiffReader on arbitrary and damaged files', () => {
  it('arbitrary bytes, behind a TIFF header or not: pixels or an InputError, nothing else', async () => {
    await fc.assert(
      fc.asyncProperty(fc.option(fc.constantFrom(...HEADERS), { nil: undefined }), fc.uint8Array({ maxLength: 600 }), async (head, body) => {
        await readAll(head ? Uint8Array.from([...head, ...body]) : body);
      }),
      { numRuns: 300 },
    );
    expect(worstHeld, `held ${worstHeld} bytes`).toBeLessThan(HELD_BOUND);
  });

  it('valid files of every variant read back; with random damage: pixels or an InputError, memory within maxPixels', async () => {
    let refused = 0;
    let read = 0;
    await fc.assert(
      fc.asyncProperty(validTiff, damage, async (bytes, edits) => {
        expect(await readAll(bytes)).toBe('ok');
        if ((await readAll(damaged(bytes, edits))) === 'ok') read++;
        else refused++;
      }),
      { numRuns: 300 },
    );
    // Both outcomes happened: the damage is neither always harmless nor always fatal.
    expect(refused).toBeGreaterThan(40);
    expect(read).toBeGreaterThan(10);
    expect(worstHeld, `held ${worstHeld} bytes`).toBeLessThan(HELD_BOUND);
  });

  it('a directory claiming a huge image in a small file is refused before its pixels are allocated', async () => {
    const { bytes, layout } = encodeTiff([randomImage(8, 8, 1, 'uint16', 1)], { compression: 8 });
    // ImageWidth and ImageLength (SHORT or LONG entries): find them in the IFD and make them 60000.
    const dv = new DataView(bytes.buffer);
    const at = layout.ifdOffsets[0];
    const n = dv.getUint16(at, true);
    for (let e = 0; e < n; e++) {
      const base = at + 2 + e * 12;
      const tag = dv.getUint16(base, true);
      if (tag === 256 || tag === 257) {
        dv.setUint16(base + 2, 4, true);
        dv.setUint32(base + 8, 60000, true);
      }
    }
    const message = await readAll(bytes);
    expect(message).toMatch(/60000×60000×1 samples exceeds the limit of 65536|claims a 60000×60000/);
    expect(worstHeld).toBeLessThan(HELD_BOUND);
  });
});
