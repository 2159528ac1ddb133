import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import { InterleavedChannels, MergedChannels } from '../../src/ingest/channels.js';
import type { Dtype, Frame, FrameSource, PixelArray, SourceInfo } from '../../src/ingest/frame.js';
import { TiffSource } from '../../src/ingest/tiff.js';
import { firstMismatch, randomImage, tempDir, writeTiff, type TestImage } from '../helpers/imageWriters.js';
import { expectInputErrorValue as expectInputError } from '../helpers/errors.js';

let dir: string;
beforeAll(() => { dir = tempDir(); });
afterAll(() => { fs.rmSync(dir, { recursive: true, force: true }); });

let fileNo = 0;
/** Writes a TIFF stack of `count` random pages and returns its path and pages. */
function stack(name: string, count: number, w: number, h: number, dtype: Dtype, channels = 1, seed = 1): { file: string; pages: TestImage[] } {
  const file = path.join(dir, `${fileNo++}-${name}`);
  const pages = Array.from({ length: count }, (_, i) => randomImage(w, h, channels, dtype, seed * 1000 + i));
  writeTiff(file, pages);
  return { file, pages };
}

function concatPlanes(parts: PixelArray[]): PixelArray {
  const n = parts.reduce((s, p) => s + p.length, 0);
  const Ctor = parts[0].constructor as new (n: number) => PixelArray;
  const out = new Ctor(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function expectSamePixels(got: PixelArray, want: PixelArray, what: string): void {
  const i = firstMismatch(got, want);
  expect(i, i < 0 ? '' : `${what}: sample ${i}: got ${got[i]}, want ${want[i]}`).toBe(-1);
}

async function collect(source: FrameSource): Promise<Frame[]> {
  const out: Frame[] = [];
  for await (const f of source.frames()) out.push(f);
  return out;
}

/** Consumes `source.frames()`; returns the frames yielded before it threw and the error. */
async function collectUntilError(source: FrameSource): Promise<{ frames: Frame[]; error: unknown }> {
  const frames: Frame[] = [];
  try {
    for await (const f of source.frames()) frames.push(f);
  } catch (error) {
    return { frames, error };
  }
  return { frames, error: undefined };
}


async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

/** A small in-memory source that counts pulls, returns and closes (for the checks a file cannot make). */
class FakeSource implements FrameSource {
  pulled = 0;
  returned = 0;
  closed = 0;
  constructor(
    readonly uri: string,
    readonly count: number,
    readonly opts: { live?: boolean; fps?: number; failAt?: number; closeError?: Error; channels?: number } = {},
  ) {}

  open(): Promise<SourceInfo> {
    const info: SourceInfo = { uri: this.uri, width: 2, height: 2, channels: this.opts.channels ?? 1, dtype: 'uint8', live: this.opts.live ?? false };
    if (this.opts.fps !== undefined) info.fps = this.opts.fps;
    if (!this.opts.live) info.frameCount = this.count;
    return Promise.resolve(info);
  }

  async *frames(): AsyncGenerator<Frame> {
    const ch = this.opts.channels ?? 1;
    try {
      for (let i = 0; i < this.count; i++) {
        this.pulled++;
        if (i === this.opts.failAt) throw new InputError(`${this.uri}: broken frame ${i}`);
        await Promise.resolve();
        yield { seq: i, t: 10 * i, width: 2, height: 2, channels: ch, data: new Uint8Array(4 * ch).fill(i), truth: { dy: i, dx: -i } };
      }
    } finally {
      this.returned++;
    }
  }

  close(): Promise<void> {
    this.closed++;
    return this.opts.closeError ? Promise.reject(this.opts.closeError) : Promise.resolve();
  }
}

// ------------------------------------------------------------------ --channels N

describe('InterleavedChannels (--channels N)', () => {
  it('groups consecutive pages of a TIFF stack into 2-channel planar frames, pixel for pixel', async () => {
    const { file, pages } = stack('inter2.tif', 6, 5, 3, 'uint16');
    const src = new InterleavedChannels(new TiffSource(file, { fps: 10 }), 2);
    const info = await src.open();
    expect(info).toMatchObject({ uri: file, width: 5, height: 3, channels: 2, dtype: 'uint16', frameCount: 3, fps: 5, live: false });
    const frames = await collect(src);
    await src.close();
    expect(frames.map((f) => f.seq)).toEqual([0, 1, 2]);
    // t of the group's first page: TiffSource gives t = seq * 1000 / fps.
    expect(frames.map((f) => f.t)).toEqual([0, 200, 400]);
    for (const [k, f] of frames.entries()) {
      expect({ w: f.width, h: f.height, c: f.channels }).toEqual({ w: 5, h: 3, c: 2 });
      expect(f.data).toBeInstanceOf(Uint16Array);
      expectSamePixels(f.data, concatPlanes([pages[2 * k].data, pages[2 * k + 1].data]), `frame ${k}`);
    }
    // One buffer per group: kept frames are not overwritten by later ones.
    expect(new Set(frames.map((f) => f.data.buffer)).size).toBe(3);
  });

  it('groups 3 channels (float32, NaN/-0/Infinity kept exactly)', async () => {
    const { file, pages } = stack('inter3.tif', 9, 4, 4, 'float32', 1, 2);
    const src = new InterleavedChannels(new TiffSource(file), 3);
    const info = await src.open();
    expect(info).toMatchObject({ channels: 3, frameCount: 3, dtype: 'float32' });
    expect(info.fps).toBeUndefined();
    const frames = await collect(src);
    await src.close();
    expect(frames.map((f) => [f.seq, f.t, f.channels])).toEqual([[0, 0, 3], [1, 3, 3], [2, 6, 3]]);
    for (const [k, f] of frames.entries()) {
      expectSamePixels(f.data, concatPlanes([pages[3 * k].data, pages[3 * k + 1].data, pages[3 * k + 2].data]), `frame ${k}`);
    }
  });

  it('yields the complete groups, then refuses a trailing incomplete one', async () => {
    const { file, pages } = stack('odd.tif', 7, 3, 2, 'uint8');
    const src = new InterleavedChannels(new TiffSource(file), 2);
    expect((await src.open()).frameCount).toBe(3);
    const { frames, error } = await collectUntilError(src);
    await src.close();
    expect(frames).toHaveLength(3);
    expectSamePixels(frames[2].data, concatPlanes([pages[4].data, pages[5].data]), 'frame 2');
    expectInputError(error, file, /: 7 frames is not a multiple of --channels 2$/);
  });

  it('refuses a source that already has several channels, naming the file and --channels', async () => {
    const { file } = stack('rgb.tif', 2, 4, 4, 'uint8', 3);
    const src = new InterleavedChannels(new TiffSource(file), 2);
    expectInputError(await rejection(src.open()), file, /--channels 2/);
    expect((await rejection(src.open()) as Error).message).toMatch(/has 3 channels/);
    await src.close();
  });

  it('refuses --channels that is not a whole number ≥ 1', () => {
    expect(() => new InterleavedChannels(new FakeSource('f', 2), 0)).toThrow(InputError);
    expect(() => new InterleavedChannels(new FakeSource('f', 2), 1.5)).toThrow(/--channels: 1\.5/);
  });

  it('pulls inner frames only when asked (backpressure), keeps t/truth of the first frame, accepts live sources', async () => {
    const inner = new FakeSource('cam', 100, { live: true, fps: 30 });
    const src = new InterleavedChannels(inner, 3);
    const info = await src.open();
    expect(info).toMatchObject({ live: true, fps: 10, channels: 3 });
    expect(info.frameCount).toBeUndefined();
    const it = src.frames()[Symbol.asyncIterator]();
    expect(inner.pulled).toBe(0);
    const r0 = await it.next();
    expect(inner.pulled).toBe(3);
    const r1 = await it.next();
    expect(inner.pulled).toBe(6);
    expect(r0.value).toMatchObject({ seq: 0, t: 0, truth: { dy: 0, dx: -0 } });
    expect(r1.value).toMatchObject({ seq: 1, t: 30, truth: { dy: 3, dx: -3 } });
    expect(Array.from((r1.value as Frame).data)).toEqual([3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5]);
    await it.return?.(undefined);
    expect(inner.pulled).toBe(6);
    expect(inner.closed).toBe(1);
  });

  it('early break stops and closes the inner source (once, even with close() afterwards)', async () => {
    const inner = new FakeSource('fake.tif', 10);
    const src = new InterleavedChannels(inner, 2);
    for await (const f of src.frames()) {
      if (f.seq === 1) break;
    }
    expect(inner.returned).toBe(1);
    expect(inner.closed).toBe(1);
    await src.close();
    expect(inner.closed).toBe(1);
  });

  it('propagates an inner error after the groups before it, and a close error after it via close()', async () => {
    const closeError = new Error('close failed');
    const inner = new FakeSource('bad.tif', 10, { failAt: 5, closeError });
    const src = new InterleavedChannels(inner, 2);
    const { frames, error } = await collectUntilError(src);
    expect(frames).toHaveLength(2);
    expectInputError(error, 'bad.tif', /broken frame 5/);
    expect(inner.closed).toBe(1);
    // The close failure while unwinding is not lost: the next close() reports it.
    expect(await rejection(src.close())).toBe(closeError);
    await src.close();
  });

  it('an error closing the inner source on early break reaches the consumer', async () => {
    const closeError = new Error('close failed');
    const src = new InterleavedChannels(new FakeSource('f', 10, { closeError }), 2);
    const err = await rejection((async () => {
      for await (const f of src.frames()) if (f.seq === 0) break;
    })());
    expect(err).toBe(closeError);
  });
});

// ------------------------------------------------------------------ --channel2 FILE

describe('MergedChannels (--channel2 FILE)', () => {
  it('pairs frame i of each movie into one 2-channel frame, pixel for pixel', async () => {
    const a = stack('a.tif', 4, 6, 5, 'uint16', 1, 3);
    const b = stack('b.tif', 4, 6, 5, 'uint16', 1, 4);
    const src = new MergedChannels(new TiffSource(a.file, { fps: 20 }), new TiffSource(b.file), b.file);
    const info = await src.open();
    expect(info).toMatchObject({ uri: a.file, width: 6, height: 5, channels: 2, dtype: 'uint16', frameCount: 4, fps: 20, live: false });
    const frames = await collect(src);
    await src.close();
    expect(frames.map((f) => [f.seq, f.t, f.channels])).toEqual([[0, 0, 2], [1, 50, 2], [2, 100, 2], [3, 150, 2]]);
    for (const [i, f] of frames.entries()) expectSamePixels(f.data, concatPlanes([a.pages[i].data, b.pages[i].data]), `frame ${i}`);
    expect(new Set(frames.map((f) => f.data.buffer)).size).toBe(4);
  });

  it('C1 + C2 channels: a 3-channel first movie and a 1-channel second give 4 channels', async () => {
    const a = stack('rgb.tif', 2, 4, 3, 'uint8', 3, 5);
    const b = stack('mono.tif', 2, 4, 3, 'uint8', 1, 6);
    const src = new MergedChannels(new TiffSource(a.file), new TiffSource(b.file), b.file);
    expect((await src.open()).channels).toBe(4);
    const frames = await collect(src);
    await src.close();
    expect(frames).toHaveLength(2);
    for (const [i, f] of frames.entries()) {
      expect(f.channels).toBe(4);
      expectSamePixels(f.data, concatPlanes([a.pages[i].data, b.pages[i].data]), `frame ${i}`);
    }
  });

  it('composes with --channels: interleaved first movie plus a second movie', async () => {
    const a = stack('inter.tif', 4, 3, 3, 'uint8', 1, 7);
    const b = stack('second.tif', 2, 3, 3, 'uint8', 1, 8);
    const src = new MergedChannels(new InterleavedChannels(new TiffSource(a.file), 2), new TiffSource(b.file), b.file);
    expect(await src.open()).toMatchObject({ channels: 3, frameCount: 2 });
    const frames = await collect(src);
    await src.close();
    for (const [i, f] of frames.entries()) {
      expectSamePixels(f.data, concatPlanes([a.pages[2 * i].data, a.pages[2 * i + 1].data, b.pages[i].data]), `frame ${i}`);
    }
  });

  it('frameCount is the smaller; the pairs are yielded, then the shorter second movie is named', async () => {
    const a = stack('long.tif', 5, 4, 4, 'uint16', 1, 9);
    const b = stack('short.tif', 3, 4, 4, 'uint16', 1, 10);
    const src = new MergedChannels(new TiffSource(a.file), new TiffSource(b.file), b.file);
    expect((await src.open()).frameCount).toBe(3);
    const { frames, error } = await collectUntilError(src);
    await src.close();
    expect(frames).toHaveLength(3);
    expectSamePixels(frames[2].data, concatPlanes([a.pages[2].data, b.pages[2].data]), 'frame 2');
    expectInputError(error, b.file, /ran out at frame 3/);
    expect((error as Error).message.startsWith(`${b.file}:`)).toBe(true);
  });

  it('names the first movie when it is the one that runs out', async () => {
    const a = stack('short1.tif', 2, 4, 4, 'uint8', 1, 11);
    const b = stack('long2.tif', 4, 4, 4, 'uint8', 1, 12);
    const src = new MergedChannels(new TiffSource(a.file), new TiffSource(b.file), b.file);
    const { frames, error } = await collectUntilError(src);
    await src.close();
    expect(frames).toHaveLength(2);
    expectInputError(error, a.file, /ran out at frame 2/);
    expect((error as Error).message.startsWith(`${a.file}:`)).toBe(true);
  });

  it('refuses a second movie of another size or dtype, naming it and what differs', async () => {
    const a = stack('ref.tif', 2, 8, 8, 'uint16', 1, 13);
    const wide = stack('wide.tif', 2, 9, 8, 'uint16', 1, 14);
    const bytes = stack('bytes.tif', 2, 8, 8, 'uint8', 1, 15);
    const s1 = new MergedChannels(new TiffSource(a.file), new TiffSource(wide.file), wide.file);
    const e1 = await rejection(s1.open());
    await s1.close();
    expectInputError(e1, wide.file, /width differs/);
    expect((e1 as Error).message).toMatch(/9×8 uint16 but .*ref\.tif is 8×8 uint16/);
    const s2 = new MergedChannels(new TiffSource(a.file), new TiffSource(bytes.file), bytes.file);
    const e2 = await rejection(s2.open());
    await s2.close();
    expectInputError(e2, bytes.file, /dtype differs/);
    expect((e2 as Error).message).toMatch(/8×8 uint8 but .* 8×8 uint16/);
  });

  it('pulls one frame of each per frame asked for (backpressure); frameCount unknown when one is live', async () => {
    const first = new FakeSource('cam', 50, { live: true, fps: 25 });
    const second = new FakeSource('two.tif', 50);
    const src = new MergedChannels(first, second, 'two.tif');
    const info = await src.open();
    expect(info).toMatchObject({ live: true, fps: 25, channels: 2 });
    expect(info.frameCount).toBeUndefined();
    const it = src.frames()[Symbol.asyncIterator]();
    await it.next();
    const r = await it.next();
    expect([first.pulled, second.pulled]).toEqual([2, 2]);
    expect(r.value).toMatchObject({ seq: 1, t: 10, truth: { dy: 1, dx: -1 } });
    await it.return?.(undefined);
  });

  it('early break stops and closes both inputs', async () => {
    const first = new FakeSource('one.tif', 10);
    const second = new FakeSource('two.tif', 10);
    const src = new MergedChannels(first, second, 'two.tif');
    for await (const f of src.frames()) if (f.seq === 2) break;
    expect([first.returned, second.returned]).toEqual([1, 1]);
    expect([first.closed, second.closed]).toEqual([1, 1]);
    await src.close();
    expect([first.closed, second.closed]).toEqual([1, 1]);
  });

  it('close() closes both even if the first throws, and rethrows; both failing gives both errors', async () => {
    const e1 = new Error('first close failed');
    const first = new FakeSource('one.tif', 3, { closeError: e1 });
    const second = new FakeSource('two.tif', 3);
    const src = new MergedChannels(first, second, 'two.tif');
    await src.open();
    expect(await rejection(src.close())).toBe(e1);
    expect([first.closed, second.closed]).toEqual([1, 1]);

    const e2 = new Error('second close failed');
    const both = new MergedChannels(new FakeSource('one.tif', 3, { closeError: e1 }), new FakeSource('two.tif', 3, { closeError: e2 }), 'two.tif');
    await both.open();
    const err = await rejection(both.close());
    expect(err).toBeInstanceOf(AggregateError);
    expect((err as AggregateError).errors).toEqual([e1, e2]);
  });

  it('an error in the second input surfaces after the pairs before it and the first is stopped and closed', async () => {
    const first = new FakeSource('one.tif', 10);
    const second = new FakeSource('two.tif', 10, { failAt: 3 });
    const src = new MergedChannels(first, second, 'two.tif');
    const { frames, error } = await collectUntilError(src);
    expect(frames).toHaveLength(3);
    expectInputError(error, 'two.tif', /broken frame 3/);
    expect([first.returned, first.closed, second.closed]).toEqual([1, 1, 1]);
    await src.close();
  });
});
