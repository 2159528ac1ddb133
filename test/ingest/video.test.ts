/**
 * VideoSource and the ffmpeg helpers against the real ffmpeg/ffprobe, on movies
 * generated here from known pixel patterns. No timing assertions: the slow
 * consumer only makes backpressure happen, and what is checked is that it did.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import type { Frame } from '../../src/ingest/frame.js';
import { probeArgs, probeVideo, resolveFfmpeg, resolveFfprobe } from '../../src/ingest/ffmpeg.js';
import { FrameAssembler, VideoSource } from '../../src/ingest/video.js';
import { pidAlive } from './liveHelpers.js';

let dir: string;
let ffmpeg: string;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'scopestream-'));
  ffmpeg = await resolveFfmpeg();
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Spans the whole 16-bit range (so a byte-order slip cannot go unnoticed) and differs per frame. */
function value16(x: number, y: number, f: number): number {
  return (x * 1031 + y * 2053 + f * 101) & 0xffff;
}

function value8(x: number, y: number, f: number): number {
  // Smooth, so that a lossy codec keeps it close; mid-grey ± 100 keeps clear of clipping.
  return Math.round(128 + 100 * Math.sin((x + 2 * f) / 6) * Math.cos(y / 5));
}

function expected16(w: number, h: number, f: number): Uint16Array {
  const out = new Uint16Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[y * w + x] = value16(x, y, f);
  return out;
}

function expected8(w: number, h: number, f: number): Uint8Array {
  const out = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[y * w + x] = value8(x, y, f);
  return out;
}

/** Raw little-endian gray16 movie, written byte by byte so it is LE on any host. */
function raw16(w: number, h: number, n: number): Buffer {
  const buf = Buffer.alloc(w * h * n * 2);
  for (let f = 0; f < n; f++) {
    const plane = expected16(w, h, f);
    for (let i = 0; i < plane.length; i++) buf.writeUInt16LE(plane[i], (f * w * h + i) * 2);
  }
  return buf;
}

function raw8(w: number, h: number, n: number): Buffer {
  const buf = Buffer.alloc(w * h * n);
  for (let f = 0; f < n; f++) buf.set(expected8(w, h, f), f * w * h);
  return buf;
}

function encode(raw: Buffer, inFmt: string, w: number, h: number, fps: number, name: string, codec: string[]): string {
  const out = path.join(dir, name);
  const r = spawnSync(
    ffmpeg,
    ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'rawvideo', '-pix_fmt', inFmt, '-s', `${w}x${h}`, '-r', String(fps), '-i', '-', ...codec, out],
    { input: raw, maxBuffer: 1 << 20 },
  );
  if (r.status !== 0) throw new Error(`encoding ${name} failed: ${r.stderr.toString()}`);
  return out;
}

function ffv1Gray16(w: number, h: number, n: number, fps: number, name: string): string {
  return encode(raw16(w, h, n), 'gray16le', w, h, fps, name, ['-c:v', 'ffv1', '-pix_fmt', 'gray16le']);
}

async function collect(src: VideoSource): Promise<Frame[]> {
  const frames: Frame[] = [];
  for await (const f of src.frames()) frames.push(f);
  return frames;
}

/** The InputError a promise rejects with (fails the test when it resolves or throws something else). */
async function inputError(p: Promise<unknown>): Promise<InputError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    return err as InputError;
  }
  throw new Error('expected an InputError, got success');
}

/**
 * Same length and elements. Compared as bytes because vitest's deep equality
 * walks a 256 K-element array element by element, taking about a second.
 */
function sameArray(a: ArrayLike<number> & ArrayBufferView, b: ArrayLike<number> & ArrayBufferView): boolean {
  if (a.constructor !== b.constructor || a.length !== b.length) return false;
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

describe('resolveFfmpeg / resolveFfprobe', () => {
  it('finds both on PATH', async () => {
    expect(path.basename(await resolveFfmpeg())).toMatch(/^ffmpeg(\.exe)?$/);
    expect(path.basename(await resolveFfprobe())).toMatch(/^ffprobe(\.exe)?$/);
  });

  it('accepts a configured executable and refuses a missing or non-executable one, naming the option', async () => {
    expect(await resolveFfmpeg(ffmpeg)).toBe(ffmpeg);
    const missing = path.join(dir, 'no-such-ffmpeg');
    const e1 = await inputError(resolveFfmpeg(missing));
    expect(e1.message).toContain('option ffmpeg.path');
    expect(e1.message).toContain(missing);
    const plain = path.join(dir, 'not-executable');
    fs.writeFileSync(plain, 'x', { mode: 0o644 });
    expect((await inputError(resolveFfmpeg(plain))).message).toMatch(/option ffmpeg.path: .* is not executable/);
    expect((await inputError(resolveFfprobe(missing))).message).toContain('option ffmpeg.probePath');
  });

  it('says how to get ffmpeg when it is nowhere', async () => {
    let installer = true;
    try {
      const spec = '@ffmpeg-installer/ffmpeg';
      await import(spec);
    } catch {
      installer = false;
    }
    if (installer) {
      console.warn('@ffmpeg-installer/ffmpeg is installed: skipping the "not found" check');
      return;
    }
    const saved = process.env.PATH;
    process.env.PATH = dir; // a directory with no ffmpeg in it
    try {
      const err = await inputError(resolveFfmpeg());
      expect(err.message).toBe('ffmpeg not found: install it (e.g. apt-get install ffmpeg) or set the option ffmpeg.path');
    } finally {
      process.env.PATH = saved;
    }
  });
});

describe('FrameAssembler', () => {
  it('cuts frames exactly whatever the chunk sizes, into separate aligned arrays', () => {
    const w = 5;
    const h = 3;
    const n = 7;
    const stream = raw16(w, h, n);
    const asm = new FrameAssembler(w * h * 2, () => new Uint16Array(w * h));
    const frames: Uint16Array[] = [];
    // Chunks of 1, 2, … bytes, then one big rest: boundaries land everywhere in a frame.
    let pos = 0;
    for (let size = 1; pos < stream.length; size++) {
      const len = size > 12 ? stream.length - pos : size;
      // Odd byte offsets inside a Buffer: the source chunk is misaligned on purpose.
      const chunk = Buffer.alloc(len + 1).subarray(1);
      stream.copy(chunk, 0, pos, pos + len);
      for (const f of asm.push(chunk)) frames.push(f as Uint16Array);
      pos += len;
    }
    expect(asm.partialBytes).toBe(0);
    expect(frames).toHaveLength(n);
    const buffers = new Set(frames.map((f) => f.buffer));
    expect(buffers.size).toBe(n);
    for (let f = 0; f < n; f++) {
      expect(frames[f].byteOffset).toBe(0);
      if (os.endianness() === 'LE') expect(frames[f]).toEqual(expected16(w, h, f));
    }
  });

  it('reports the bytes of an unfinished frame', () => {
    const asm = new FrameAssembler(10, () => new Uint8Array(10));
    expect(asm.push(new Uint8Array(25))).toHaveLength(2);
    expect(asm.partialBytes).toBe(5);
  });
});

describe('probeVideo', () => {
  it('reports size, pixel format, depth, rate and an estimated count for Matroska', async () => {
    const file = ffv1Gray16(64, 48, 10, 10, 'probe.mkv');
    const p = await probeVideo(file, await resolveFfprobe());
    expect(p).toEqual({
      width: 64,
      height: 48,
      pixFmt: 'gray16le',
      bitsPerComponent: 16,
      fps: 10,
      frameCount: 10,
      frameCountEstimated: true,
      codec: 'ffv1',
    });
  });

  it('asks ffprobe for headers only, never for decoded frames', async () => {
    // A regression guard: a section name shared with frames (`component`) once
    // made every probe decode the whole movie.
    const file = ffv1Gray16(16, 16, 3, 10, 'probe-args.mkv');
    const r = spawnSync(await resolveFfprobe(), probeArgs(file), { encoding: 'utf8' });
    const json = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(Object.keys(json).sort()).toEqual(['format', 'pixel_formats', 'programs', 'streams']);
  });
});

describe('VideoSource', () => {
  it('rejects options it cannot honour, naming them', () => {
    expect(() => new VideoSource('x.mkv', { channels: 3 as unknown as 1 })).toThrow(/^channels: 3/);
    expect(() => new VideoSource('x.mkv', { bitDepth: 12 as unknown as 8 })).toThrow(/^bitDepth: 12/);
  });

  it('reads lossless 16-bit FFV1 back bit for bit', async () => {
    const [w, h, n] = [64, 48, 10];
    const src = new VideoSource(ffv1Gray16(w, h, n, 10, 'gray16.mkv'));
    const info = await src.open();
    expect(info).toMatchObject({ width: w, height: h, channels: 1, dtype: 'uint16', fps: 10, frameCount: n, live: false });
    const frames = await collect(src);
    expect(frames).toHaveLength(n);
    frames.forEach((f, i) => {
      expect(f.seq).toBe(i);
      expect(f.t).toBeCloseTo(i * 100, 9);
      expect([f.width, f.height, f.channels]).toEqual([w, h, 1]);
      expect(f.data).toBeInstanceOf(Uint16Array);
      expect(f.data).toEqual(expected16(w, h, i));
    });
    await src.close();
  });

  it('refuses a second iteration while one is running', async () => {
    const src = new VideoSource(ffv1Gray16(8, 8, 3, 10, 'twice.mkv'));
    const first = src.frames()[Symbol.asyncIterator]();
    expect((await first.next()).done).toBe(false);
    await expect(src.frames()[Symbol.asyncIterator]().next()).rejects.toThrow(/already being iterated/);
    await first.return?.();
    // Once the first has finished, a new iteration starts again from frame 0.
    expect((await collect(src)).map((f) => f.seq)).toEqual([0, 1, 2]);
  });

  it('gives 8-bit output from a 16-bit source when asked (high byte, rounded)', async () => {
    const [w, h, n] = [64, 48, 3];
    const src = new VideoSource(ffv1Gray16(w, h, n, 10, 'gray16-as-8.mkv'), { bitDepth: 8 });
    expect((await src.open()).dtype).toBe('uint8');
    const frames = await collect(src);
    expect(frames).toHaveLength(n);
    for (const f of frames) {
      expect(f.data).toBeInstanceOf(Uint8Array);
      const want = expected16(w, h, f.seq);
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(f.data[i] - want[i] / 257));
      expect(worst).toBeLessThanOrEqual(1);
    }
  });

  it('splits an odd frame size (33×17, 1122 bytes: no divisor of the pipe chunk size) exactly', async () => {
    const [w, h, n] = [33, 17, 150];
    const frames = await collect(new VideoSource(ffv1Gray16(w, h, n, 25, 'odd.mkv')));
    expect(frames).toHaveLength(n);
    frames.forEach((f, i) => expect(sameArray(f.data, expected16(w, h, i))).toBe(true));
  });

  it('reads lossless 8-bit H.264 (libx264 -qp 0, grey, full range) bit for bit', async () => {
    const [w, h, n] = [64, 48, 10];
    // -color_range pc: the stored luma is the input as is; without it the
    // decoder calls the stream limited-range and ffmpeg stretches it to 0..255.
    const file = encode(raw8(w, h, n), 'gray', w, h, 10, 'lossless.mp4', ['-c:v', 'libx264', '-qp', '0', '-pix_fmt', 'gray', '-color_range', 'pc']);
    const src = new VideoSource(file);
    const info = await src.open();
    expect(info).toMatchObject({ width: w, height: h, dtype: 'uint8', fps: 10, frameCount: n });
    expect(src.probe?.frameCountEstimated).toBe(false);
    const frames = await collect(src);
    expect(frames).toHaveLength(n);
    frames.forEach((f, i) => {
      expect(f.data).toBeInstanceOf(Uint8Array);
      expect(f.data).toEqual(expected8(w, h, i));
    });
  });

  it('reads lossy 8-bit H.264 (yuv420p) close to the input', async () => {
    const [w, h, n] = [64, 48, 10];
    const file = encode(raw8(w, h, n), 'gray', w, h, 10, 'lossy.mp4', ['-c:v', 'libx264', '-crf', '23', '-pix_fmt', 'yuv420p']);
    const src = new VideoSource(file);
    expect(await src.open()).toMatchObject({ width: w, height: h, dtype: 'uint8', frameCount: n });
    const frames = await collect(src);
    expect(frames).toHaveLength(n);
    for (const f of frames) {
      const want = expected8(w, h, f.seq);
      let sum = 0;
      for (let i = 0; i < want.length; i++) sum += Math.abs(f.data[i] - want[i]);
      // Measured here: MAE 1.8 grey levels (CRF 23 quantisation, plus ±1 from the
      // full→limited→full range round trip, MAE 0.14 at -qp 0). The bound of 4
      // (1.6 % of full scale) leaves room for other x264 builds, yet a wrong
      // stride, offset, range or frame order gives tens of levels.
      expect(sum / want.length).toBeLessThan(4);
    }
  });

  it('decodes a 10-bit source to uint16 under bitDepth auto', async () => {
    const [w, h, n] = [64, 48, 4];
    const file = encode(raw16(w, h, n), 'gray16le', w, h, 10, 'ten.mp4', ['-c:v', 'libx264', '-pix_fmt', 'yuv420p10le']);
    const src = new VideoSource(file);
    expect(await src.open()).toMatchObject({ dtype: 'uint16', frameCount: n });
    expect(src.probe?.bitsPerComponent).toBe(10);
    const frames = await collect(src);
    expect(frames).toHaveLength(n);
    expect(frames[0].data).toBeInstanceOf(Uint16Array);
  });

  describe('a 512×512 16-bit movie', () => {
    const [w, h, n] = [512, 512, 60];
    let file: string;
    beforeAll(() => {
      file = ffv1Gray16(w, h, n, 30, 'big.mkv');
    });

    it('pauses ffmpeg for a slow consumer and still delivers every frame intact and in order', async () => {
      const src = new VideoSource(file);
      let i = 0;
      for await (const f of src.frames()) {
        expect(f.seq).toBe(i);
        expect(sameArray(f.data, expected16(w, h, i))).toBe(true);
        if (i === 0) {
          // Stop pulling until the source has had to pause: a bounded source
          // must get there (the movie is 30 MB, the queue holds 4 frames).
          for (let k = 0; k < 3000 && src.stats.pauses === 0; k++) await sleep(10);
          expect(src.stats.pauses).toBeGreaterThan(0);
          // ffmpeg is alive and blocked on the pipe, not done and buffered in memory.
          expect(src.decoderProcess?.exitCode).toBeNull();
        }
        if (i < 10) await sleep(20);
        i++;
      }
      expect(i).toBe(n);
      // 4 queued, plus at most what one 64 KiB pipe read can complete (none here: a frame is 512 KiB).
      expect(src.stats.maxQueued).toBeLessThanOrEqual(5);
      expect(src.stats.delivered).toBe(n);
    });

    it('kills ffmpeg when the consumer breaks out of the loop', async () => {
      const src = new VideoSource(file);
      for await (const f of src.frames()) {
        if (f.seq === 2) break;
      }
      const child = src.decoderProcess;
      expect(child).toBeDefined();
      expect(child?.killed).toBe(true);
      expect(child?.exitCode !== null || child?.signalCode !== null).toBe(true);
      expect(pidAlive(child?.pid ?? -1)).toBe(false);
    });

    it('ends the iteration quietly when close() is called from elsewhere', async () => {
      const src = new VideoSource(file);
      let got = 0;
      for await (const f of src.frames()) {
        got++;
        if (f.seq === 1) await src.close();
      }
      expect(got).toBe(2);
      const child = src.decoderProcess;
      expect(child?.exitCode !== null || child?.signalCode !== null).toBe(true);
    });
  });

  describe('bad input', () => {
    it('names a missing file', async () => {
      const missing = path.join(dir, 'nope.mp4');
      const err = await inputError(new VideoSource(missing).open());
      expect(err.message).toBe(`${missing}: no such file`);
      // Iterating without open() fails the same way.
      await inputError(collect(new VideoSource(missing)));
    });

    it('refuses a text file named .mp4 with ffprobe\'s reason', async () => {
      const fake = path.join(dir, 'notes.mp4');
      fs.writeFileSync(fake, 'these are my notes, not a movie\n'.repeat(20));
      const err = await inputError(new VideoSource(fake).open());
      // ffprobe's words depend on the demuxer it guesses (here, from .mp4: "moov atom not found").
      expect(err.message.startsWith(`${fake}: not a readable video: `)).toBe(true);
      expect(err.message.length).toBeGreaterThan(`${fake}: not a readable video: `.length + 5);
    });

    it('delivers what a truncated file holds, then says how many frames were read', async () => {
      // ffmpeg on an mkv cut in half: logs "File ended prematurely", exits 0
      // with the whole frames it could decode. VideoSource hands those over and
      // then throws, because the header promised more.
      const [w, h, n] = [64, 48, 40];
      const whole = ffv1Gray16(w, h, n, 10, 'whole.mkv');
      const bytes = fs.readFileSync(whole);
      const cut = path.join(dir, 'cut.mkv');
      fs.writeFileSync(cut, bytes.subarray(0, bytes.length >> 1));
      const src = new VideoSource(cut);
      expect((await src.open()).frameCount).toBe(n);
      const got: Frame[] = [];
      let error: unknown;
      try {
        for await (const f of src.frames()) got.push(f);
      } catch (e) {
        error = e;
      }
      expect(got.length).toBeGreaterThan(0);
      expect(got.length).toBeLessThan(n);
      got.forEach((f, i) => expect(f.data).toEqual(expected16(w, h, i)));
      expect(error).toBeInstanceOf(InputError);
      expect((error as Error).message).toContain(`${cut}: ffmpeg stopped after ${got.length} of ~${n} frames: `);
      expect((error as Error).message).toMatch(/ended prematurely/);
    });

    it('refuses a configured ffmpegPath that does not exist, naming the option', async () => {
      const file = ffv1Gray16(8, 8, 1, 10, 'tiny.mkv');
      const bad = path.join(dir, 'bin', 'ffmpeg');
      const err = await inputError(new VideoSource(file, { ffmpegPath: bad }).open());
      expect(err.message).toBe(`option ffmpeg.path: ${bad} does not exist`);
    });
  });

  // Stand-ins for ffmpeg that misbehave on cue; ffprobe stays real.
  describe.skipIf(process.platform === 'win32')('a misbehaving ffmpeg', () => {
    let movie: string;
    const frameBytes = 64 * 48 * 2;
    beforeAll(() => {
      movie = ffv1Gray16(64, 48, 10, 10, 'fake-target.mkv');
    });
    function fakeFfmpeg(name: string, body: string): string {
      const p = path.join(dir, name);
      fs.writeFileSync(p, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
      return p;
    }

    it('a non-zero exit: InputError with the file, the first stderr line and the frame count', async () => {
      const ff = fakeFfmpeg('ff-fail', `head -c ${frameBytes} /dev/zero\necho "boom: decoder exploded" >&2\necho "second line" >&2\nexit 1`);
      const src = new VideoSource(movie, { ffmpegPath: ff });
      let got = 0;
      const err = await inputError(
        (async () => {
          for await (const _f of src.frames()) got++;
        })(),
      );
      expect(got).toBe(1);
      expect(err.message).toBe(`${movie}: ffmpeg exited with code 1 after 1 frame: boom: decoder exploded`);
    });

    it('output ending mid-frame: InputError after the whole frames', async () => {
      const ff = fakeFfmpeg('ff-short', `head -c ${frameBytes * 2 + 100} /dev/zero`);
      const src = new VideoSource(movie, { ffmpegPath: ff });
      let got = 0;
      const err = await inputError(
        (async () => {
          for await (const _f of src.frames()) got++;
        })(),
      );
      expect(got).toBe(2);
      expect(err.message).toBe(`${movie}: video ended mid-frame after 2 frames (100 of ${frameBytes} bytes of the next)`);
    });

    it('an ffmpeg that ignores SIGTERM is killed with SIGKILL and reaped', async () => {
      // trap '' makes SIGTERM ignored, and that survives exec into sleep.
      const ff = fakeFfmpeg('ff-stubborn', `trap '' TERM\nhead -c ${frameBytes} /dev/zero\nexec sleep 60`);
      const src = new VideoSource(movie, { ffmpegPath: ff });
      for await (const _f of src.frames()) break;
      const child = src.decoderProcess;
      expect(child?.signalCode).toBe('SIGKILL');
      expect(pidAlive(child?.pid ?? -1)).toBe(false);
    });
  });
});

const DATA = '/work/shared/data';
const haveData = fs.existsSync(path.join(DATA, 'bulk-water.mov'));
if (!haveData) console.warn(`${DATA}/bulk-water.mov is absent: skipping the real-video test`);

describe.skipIf(!haveData)('real data: bulk-water.mov', () => {
  it('gives 480 uint8 frames of 640×424 at 23.976 fps', async () => {
    const src = new VideoSource(path.join(DATA, 'bulk-water.mov'));
    const info = await src.open();
    expect(info).toMatchObject({ width: 640, height: 424, channels: 1, dtype: 'uint8', frameCount: 480, live: false });
    expect(info.fps).toBeCloseTo(24000 / 1001, 6);
    expect(src.probe).toMatchObject({ codec: 'h264', pixFmt: 'yuvj420p', frameCountEstimated: false });
    let count = 0;
    let lastT = -1;
    for await (const f of src.frames()) {
      expect(f.seq).toBe(count);
      expect(f.data).toBeInstanceOf(Uint8Array);
      expect(f.data.length).toBe(640 * 424);
      expect(f.t).toBeGreaterThan(lastT);
      lastT = f.t;
      if (count === 0) {
        // A real picture, not a blank: the grey levels spread.
        let min = 255;
        let max = 0;
        for (const v of f.data) {
          min = Math.min(min, v);
          max = Math.max(max, v);
        }
        expect(max - min).toBeGreaterThan(20); // measured 94..140: a low-contrast bright field
      }
      count++;
    }
    expect(count).toBe(480);
    expect(lastT).toBeCloseTo((479 * 1001) / 24, 6);
  });
});
