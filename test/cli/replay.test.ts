/**
 * `scopestream replay PATH --record FILE` end to end, as a user runs it: a
 * movie from the simulated microscope (whose true shifts we keep, since TIFF,
 * PNG and video files cannot carry them) is written as a TIFF stack, a folder
 * of PNG and TIFF files, an FFV1 gray16le .mkv and an H.264 .mp4; each is
 * replayed through the built CLI and the record is checked against the record
 * format of DESIGN.md and against the truth.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SyntheticMicroscope } from '../../src/ingest/synthetic.js';
import { type FrameLine, type ParsedRecord, REPO, expectValidRecord, readRecord, runCli } from '../helpers/cli.js';
import { type TestImage, encodePng, writeTiff } from '../helpers/imageWriters.js';

const W = 96;
const H = 80;
const N = 40;
const FPS = 25;
/** Seeded, so every number below is reproducible. drift/maxDrift: shifts of a few px, well inside ±maxShift. */
const SIM = { width: W, height: H, seed: 7, drift: 0.5, maxDrift: 4, noise: 'moderate' as const };
/**
 * For the movie that jumps by 5.3 px (below): plain correlation (the default)
 * reads the jump ≈ 0.25 px short at 96×80 with the Tukey window, ≈ 0.45 px with
 * Hann (the cells' intensity changes between frames pull its broad peak); phase
 * correlation reads it within 0.2 px, so the option tests use it and keep the
 * accuracy limits of the drifting movie.
 */
const PHASE = ['--set', 'registration.normalization=phase'];

let dir: string;
let truth: { dy: number; dx: number }[];
let frames16: Uint16Array[];
let tiffMovie: string;

const ffmpegOk = spawnSync('ffmpeg', ['-version']).status === 0 && spawnSync('ffprobe', ['-version']).status === 0;
const x264Ok = ffmpegOk && /libx264/.test(spawnSync('ffmpeg', ['-hide_banner', '-encoders'], { encoding: 'utf8' }).stdout ?? '');

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'scopestream-'));
  const sim = new SyntheticMicroscope(SIM);
  truth = [];
  frames16 = [];
  for (let i = 0; i < N; i++) {
    const f = sim.nextFrame();
    truth.push({ ...(f.truth as { dy: number; dx: number }) });
    frames16.push(f.data as Uint16Array);
  }
  tiffMovie = path.join(dir, 'movie.tif');
  writeTiff(tiffMovie, frames16.map(image16));
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function image16(data: Uint16Array): TestImage {
  return { width: W, height: H, channels: 1, dtype: 'uint16', data };
}

/** Runs replay on `input` with `--record`; checks exit 0, the summary line and the record's shape. */
async function replay(input: string, name: string, extra: string[] = [], n = N): Promise<ParsedRecord> {
  const record = path.join(dir, `${name}.ndjson`);
  const r = await runCli(['replay', input, '--record', record, ...extra]);
  expect(r.stderr).not.toContain('    at ');
  expect(r.code, r.stderr).toBe(0);
  expect(r.stdout).toBe('');
  expect(r.stderr).toMatch(new RegExp(`^scopestream: replayed ${n} frames of ${W}×${H} in .*; record: .*\\n$`));
  const rec = expectValidRecord(readRecord(record));
  // DESIGN.md: meta, frame × n with seq 0..n−1 in order, end; replay is lossless.
  expect(rec.frames.map((f) => f.seq)).toEqual(Array.from({ length: n }, (_, i) => i));
  expect(rec.end).toEqual({ type: 'end', frames: n, dropped: 0 });
  expect(rec.meta).toMatchObject({ version: 1, source: input, width: W, height: H, channels: 1 });
  expect((rec.meta.config as { source: string }).source).toBe(input);
  // File sources have no truth to give: the field is absent, not made up.
  for (const f of rec.frames) expect(f.truth).toBeUndefined();
  return rec;
}

interface TruthFit {
  /** Mean of recorded − true shift: where the template sits in the truth's frame. */
  offset: { dy: number; dx: number };
  rms: number;
  max: number;
}

/**
 * The template is the mean of the first `template.frames` frames aligned to
 * each other, so recorded shifts are relative to the mean position of those
 * frames: recorded ≈ truth − mean(truth of the template frames). We fit that
 * constant offset and measure what is left, over the frames that passed the
 * quality check (the others report the last good shift, by design).
 */
function fitTruth(frames: FrameLine[]): TruthFit {
  const ok = frames.filter((f) => f.ok);
  expect(ok.length).toBeGreaterThan(0);
  const ry = ok.map((f) => f.shift.dy - truth[f.seq].dy);
  const rx = ok.map((f) => f.shift.dx - truth[f.seq].dx);
  const mean = (a: number[]): number => a.reduce((s, v) => s + v, 0) / a.length;
  const offset = { dy: mean(ry), dx: mean(rx) };
  let ss = 0;
  let max = 0;
  for (let i = 0; i < ok.length; i++) {
    const ey = ry[i] - offset.dy;
    const ex = rx[i] - offset.dx;
    ss += ey * ey + ex * ex;
    max = Math.max(max, Math.abs(ey), Math.abs(ex));
  }
  return { offset, rms: Math.sqrt(ss / (2 * ok.length)), max };
}

function meanTruth(count: number): { dy: number; dx: number } {
  const t = truth.slice(0, count);
  return { dy: t.reduce((s, v) => s + v.dy, 0) / count, dx: t.reduce((s, v) => s + v.dx, 0) / count };
}

/** Recorded shifts against the truth, for a template built from the first `templateFrames` frames. */
function expectFollowsTruth(rec: ParsedRecord, templateFrames: number): void {
  const fit = fitTruth(rec.frames);
  const rootMeanSquare = fit.rms;
  expect(rootMeanSquare).toBeLessThanOrEqual(RMS_TOL);
  expect(fit.max).toBeLessThanOrEqual(MAX_TOL);
  // The template sits at the mean position of the frames it was built from.
  const m = meanTruth(templateFrames);
  expect(Math.abs(fit.offset.dy + m.dy)).toBeLessThanOrEqual(OFFSET_TOL);
  expect(Math.abs(fit.offset.dx + m.dx)).toBeLessThanOrEqual(OFFSET_TOL);
}

const shifts = (rec: ParsedRecord): [number, number][] => rec.frames.map((f) => [f.shift.dy, f.shift.dx]);

/*
 * Tolerances against the truth. Measured on this seed (96×80, moderate camera
 * noise, 30-frame template): RMS 0.088 px, worst frame 0.21 px with plain
 * correlation, 0.087 / 0.22 px with phase correlation, 0.086 / 0.21 px from the
 * H.264 copy — content entering and leaving a frame this small (a few px of an
 * 80 px side) and the noise dominate. The limits below leave room for the
 * ts/wasm FFT round-off (< 0.003 px) and still fail for the mistakes that
 * matter: a flipped sign (residuals ≈ 2 × |truth|, up to several px), an
 * integer-only peak (RMS ≈ 0.29 px for uniform fractional parts), or shifts
 * paired with the wrong frame (the truth moves ≈ 0.5 px per frame and axis).
 */
const RMS_TOL = 0.12;
const MAX_TOL = 0.3;
/** The fitted offset must match the template's position within this (it is a mean over 30 frames). */
const OFFSET_TOL = 0.15;

describe('scopestream replay', () => {
  let tiffRec: ParsedRecord;

  it('replays a TIFF stack with the default options: a complete record whose shifts follow the true motion', async () => {
    tiffRec = await replay(tiffMovie, 'tiff');
    expect(tiffRec.meta.dtype).toBe('uint16');
    expect(tiffRec.meta.config).toMatchObject({ registration: { normalization: 'none', maxShift: null, window: 'tukey' }, template: { frames: 30 } });
    // No frame rate in a plain TIFF: t is the frame index.
    expect(tiffRec.frames.map((f) => f.t)).toEqual(Array.from({ length: N }, (_, i) => i));
    expect(tiffRec.frames.every((f) => f.ok)).toBe(true);
    expectFollowsTruth(tiffRec, 30);
    // The motion is real (a few px): a pipeline reporting zeros could not pass the checks above.
    const span = Math.max(...truth.map((t) => Math.abs(t.dy) + Math.abs(t.dx)));
    expect(span).toBeGreaterThan(1.5);
  });

  it('--set registration.normalization=phase: a different measurement, as close to the truth', async () => {
    const rec = await replay(tiffMovie, 'tiff-phase', PHASE);
    expect(rec.meta.config).toMatchObject({ registration: { normalization: 'phase' } });
    expect(rec.frames.every((f) => f.ok)).toBe(true);
    expectFollowsTruth(rec, 30);
    // Phase correlation's sharp peak: far higher peak-to-sidelobe ratios than plain correlation's (≈ 3 here).
    const median = (a: number[]): number => [...a].sort((x, y) => x - y)[a.length >> 1];
    expect(median(rec.frames.map((f) => f.shift.quality as number))).toBeGreaterThan(3 * median(tiffRec.frames.map((f) => f.shift.quality as number)));
  });

  describe('--max-shift, --template-frames and --set registration.window=hann', () => {
    // A movie that jumps: frames 0–9 at shift (0, 0), frames 10–19 with the content moved by JUMP
    // (rendered by the simulator at exact shifts). Small enough a change to see each option at work.
    const JUMP = { dy: 0.4, dx: 5.3 };
    const M = 20;
    let jumpMovie: string;
    beforeAll(() => {
      const sim = new SyntheticMicroscope({ width: W, height: H, seed: 7, noise: 'moderate' });
      jumpMovie = path.join(dir, 'jump.tif');
      const pages = Array.from({ length: M }, (_, i) => image16(i < 10 ? sim.renderFrame(0, 0, i * 40) : sim.renderFrame(JUMP.dy, JUMP.dx, i * 40)));
      writeTiff(jumpMovie, pages);
    });
    const mean = (fs: FrameLine[], k: 'dy' | 'dx'): number => fs.reduce((s, f) => s + f.shift[k], 0) / fs.length;

    it('--template-frames 10 builds the template from the first 10 frames; hann is used and accurate', async () => {
      const rec = await replay(jumpMovie, 'template10', [...PHASE, '--template-frames', '10', '--set', 'registration.window=hann'], M);
      expect(rec.meta.config).toMatchObject({ registration: { window: 'hann', normalization: 'phase', maxShift: null }, template: { frames: 10 } });
      expect(rec.frames.every((f) => f.ok)).toBe(true);
      // The template is the still part: frames 0–9 read ≈ 0, frames 10–19 the jump (same tolerance as above).
      for (const f of rec.frames) {
        const want = f.seq < 10 ? { dy: 0, dx: 0 } : JUMP;
        expect(Math.abs(f.shift.dy - want.dy), `frame ${f.seq} dy`).toBeLessThanOrEqual(MAX_TOL);
        expect(Math.abs(f.shift.dx - want.dx), `frame ${f.seq} dx`).toBeLessThanOrEqual(MAX_TOL);
      }
    });

    it('with the default 30 template frames the template mixes both positions', async () => {
      const rec = await replay(jumpMovie, 'template30', PHASE, M);
      expect(rec.meta.config).toMatchObject({ template: { frames: 30 } });
      const before = rec.frames.slice(0, 10);
      const after = rec.frames.slice(10);
      // 20 frames < 30: the template is built at the end from all of them, half-way between the two positions …
      expect(mean(before, 'dx')).toBeLessThan(-1.5);
      expect(mean(after, 'dx')).toBeGreaterThan(1.5);
      // … and the jump between the halves is still measured, though less well: the bootstrap starts from the
      // plain mean of two positions and its alignment rounds recover ≈ 94 % of the jump (4.99 of 5.3 px measured).
      const MIXED_TOL = 0.5;
      expect(Math.abs(mean(after, 'dx') - mean(before, 'dx') - JUMP.dx)).toBeLessThanOrEqual(MIXED_TOL);
      expect(Math.abs(mean(after, 'dy') - mean(before, 'dy') - JUMP.dy)).toBeLessThanOrEqual(MIXED_TOL);
    });

    it('--max-shift 3 stops the search short of the 5.3 px jump: those frames are flagged and hold the last good shift', async () => {
      const rec = await replay(jumpMovie, 'maxshift3', [...PHASE, '--template-frames', '10', '--max-shift', '3'], M);
      expect(rec.meta.config).toMatchObject({ registration: { maxShift: 3 }, template: { frames: 10 } });
      const still = rec.frames.slice(0, 10);
      const moved = rec.frames.slice(10);
      expect(still.every((f) => f.ok)).toBe(true);
      const held = [still[9].shift.dy, still[9].shift.dx];
      for (const f of moved) {
        expect(f.ok, `frame ${f.seq}`).toBe(false);
        expect([f.shift.dy, f.shift.dx]).toEqual(held);
      }
    });
  });

  it('replays a folder of PNG and TIFF files (natural order) exactly like the stack', async () => {
    const folder = path.join(dir, 'frames');
    fs.mkdirSync(folder);
    // Even frames as 16-bit PNG, odd ones as TIFF; names padded so that natural and plain order agree.
    frames16.forEach((data, i) => {
      const name = path.join(folder, `frame_${String(i).padStart(3, '0')}`);
      if (i % 2 === 0) fs.writeFileSync(`${name}.png`, encodePng(image16(data)));
      else writeTiff(`${name}.tif`, [image16(data)]);
    });
    fs.writeFileSync(path.join(folder, 'notes.txt'), 'not an image: ignored\n');
    const rec = await replay(folder, 'folder');
    expect(rec.meta.dtype).toBe('uint16');
    // Same pixels, same pipeline: the very same numbers.
    expect(shifts(rec)).toEqual(shifts(tiffRec));
    expect(rec.frames.map((f) => f.ok)).toEqual(tiffRec.frames.map((f) => f.ok));
  });

  describe.skipIf(!ffmpegOk)('video files (through ffmpeg)', () => {
    it('replays an FFV1 gray16le .mkv losslessly: the same shifts as the TIFF stack', async () => {
      const raw = path.join(dir, 'movie.gray16le');
      fs.writeFileSync(raw, Buffer.concat(frames16.map((d) => Buffer.from(d.buffer, d.byteOffset, d.byteLength))));
      const mkv = path.join(dir, 'movie.mkv');
      encode(['-f', 'rawvideo', '-pix_fmt', 'gray16le', '-s', `${W}x${H}`, '-r', String(FPS), '-i', raw, '-c:v', 'ffv1', '-pix_fmt', 'gray16le', mkv]);
      const rec = await replay(mkv, 'mkv');
      expect(rec.meta.dtype).toBe('uint16');
      // The container's frame rate gives the clock.
      rec.frames.forEach((f, i) => expect(f.t).toBeCloseTo((i * 1000) / FPS, 6));
      expect(shifts(rec)).toEqual(shifts(tiffRec));
    });

    it.skipIf(!x264Ok)('replays an H.264 .mp4 (8-bit, lossy) with shifts close to the truth', async () => {
      // Scaled to 8 bits the way a camera's 8-bit output would be, then encoded at high quality.
      let max = 0;
      for (const d of frames16) for (const v of d) max = Math.max(max, v);
      const raw = path.join(dir, 'movie.gray');
      const bytes = Buffer.alloc(N * W * H);
      frames16.forEach((d, i) => d.forEach((v, k) => (bytes[i * W * H + k] = Math.round((v * 255) / max))));
      fs.writeFileSync(raw, bytes);
      const mp4 = path.join(dir, 'movie.mp4');
      encode(['-f', 'rawvideo', '-pix_fmt', 'gray', '-s', `${W}x${H}`, '-r', String(FPS), '-i', raw, '-c:v', 'libx264', '-crf', '12', '-pix_fmt', 'yuv420p', mp4]);
      const rec = await replay(mp4, 'mp4');
      expect(rec.meta.dtype).toBe('uint8');
      rec.frames.forEach((f, i) => expect(f.t).toBeCloseTo((i * 1000) / FPS, 6));
      expect(rec.frames.filter((f) => f.ok).length).toBeGreaterThanOrEqual(N - 2);
      // 8-bit quantisation and compression add little to the camera noise at this quality: same limits as the TIFF.
      expectFollowsTruth(rec, 30);
    });
  });
  if (!ffmpegOk) it.skip('video files: ffmpeg/ffprobe not found on PATH (install ffmpeg to run these)', () => {});
});

/** The real recordings beside the project (../shared/data, see its README); absent from a fresh clone. */
const SHARED = path.resolve(REPO, '..', 'shared', 'data');

describe('real recordings (../shared/data)', () => {
  const cases = [
    { name: 'stuck.tif', args: [], n: 5, w: 512, h: 512, c: 1, dtype: 'uint16', needsFfmpeg: false },
    { name: 'drosophila-seq1', args: ['--channel', '1'], n: 21, w: 542, h: 264, c: 3, dtype: 'uint8', needsFfmpeg: false },
    { name: 'bulk-water.mov', args: [], n: 480, w: 640, h: 424, c: 1, dtype: 'uint8', needsFfmpeg: true },
  ];
  for (const c of cases) {
    const input = path.join(SHARED, c.name);
    if (!fs.existsSync(input)) {
      it.skip(`${c.name}: ${input} is absent (real recordings live in ../shared/data)`, () => {});
      continue;
    }
    if (c.needsFfmpeg && !ffmpegOk) {
      it.skip(`${c.name}: ffmpeg/ffprobe not found on PATH`, () => {});
      continue;
    }
    it(`${[c.name, ...c.args].join(' ')}: every frame in the record, in order, with the file's geometry`, async () => {
      const record = path.join(dir, `real-${c.name}.ndjson`);
      const r = await runCli(['replay', input, '--record', record, ...c.args]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).not.toContain('    at ');
      const rec = expectValidRecord(readRecord(record));
      expect(rec.meta).toMatchObject({ source: input, width: c.w, height: c.h, channels: c.c, dtype: c.dtype });
      expect(rec.frames.map((f) => f.seq)).toEqual(Array.from({ length: c.n }, (_, i) => i));
      expect(rec.end).toEqual({ type: 'end', frames: c.n, dropped: 0 });
    });
  }
});

function encode(args: string[]): void {
  const r = spawnSync('ffmpeg', ['-hide_banner', '-v', 'error', '-y', ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ffmpeg ${args.join(' ')} failed: ${r.stderr}`);
}
