/**
 * Faults of the inputs (issue 6; docs/reliability.md), through the built CLI
 * on real files and the real ffmpeg: ffmpeg killed mid-replay and mid-stream,
 * damaged TIFFs, frames of the wrong size, degenerate frames (zero, constant,
 * saturated, NaN, ±Inf) and a jump beyond maxShift. Cases already covered
 * elsewhere are listed in docs/reliability.md with their test files, not
 * repeated here.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../../src/config/schema.js';
import type { Frame, FrameSource, SourceInfo } from '../../src/ingest/frame.js';
import { SyntheticMicroscope } from '../../src/ingest/synthetic.js';
import { Hub, type Message } from '../../src/stream/hub.js';
import { runPipeline } from '../../src/stream/pipeline.js';
import {
  type CliResult, type CliRun, type FrameLine, type RecordLine, countLines, expectValidRecord, readRecord, runCli, waitFor,
} from '../helpers/cli.js';
import { type TestImage, encodePng, writeTiff } from '../helpers/imageWriters.js';
import { MjpegServer } from '../ingest/liveHelpers.js';
import { childPids, servingUrl, useFaultFixtures } from './helpers.js';

const ffmpegOk = spawnSync('ffmpeg', ['-version']).status === 0 && spawnSync('ffprobe', ['-version']).status === 0;

const fx = useFaultFixtures();
const start = (args: string[], timeoutMs = 120_000): CliRun => fx.start(args, { timeoutMs });

/** A failed command's contract: exit 2, one stderr line `scopestream: …` naming `name`, no stack trace. */
function expectOneLineFailure(r: CliResult, name: string, problem: RegExp): string {
  expect(r.code, r.stderr).toBe(2);
  expect(r.stderr).not.toContain('    at ');
  const lines = r.stderr.split('\n');
  expect(lines, JSON.stringify(r.stderr)).toHaveLength(2);
  expect(lines[1]).toBe('');
  expect(lines[0].startsWith(`scopestream: `)).toBe(true);
  expect(lines[0]).toContain(name);
  expect(lines[0]).toMatch(problem);
  return lines[0];
}

function movie(n: number, w: number, h: number, seed: number): TestImage[] {
  const sim = new SyntheticMicroscope({ width: w, height: h, seed, objects: 10 });
  return Array.from({ length: n }, () => ({ width: w, height: h, channels: 1, dtype: 'uint16' as const, data: sim.nextFrame().data }));
}

describe.skipIf(!ffmpegOk)('ffmpeg killed mid-stream', () => {
  it('replay of a video: exit 2 with one line, the record keeps every frame decoded and ends with the error and the count', async () => {
    const video = path.join(fx.dir, 'testsrc.mkv');
    const made = spawnSync('ffmpeg', [
      '-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=size=96x96:rate=25', '-frames:v', '500', '-c:v', 'ffv1', '-pix_fmt', 'gray', '-y', video,
    ]);
    expect(made.status, made.stderr.toString()).toBe(0);
    const record = path.join(fx.dir, 'killed-replay.ndjson');
    // Realtime: 20 s of video, so ffmpeg is certainly still decoding when it is killed.
    const run = start(['replay', video, '--record', record, '--speed', 'realtime', '--template-frames', '5']);
    await waitFor(() => countLines(record, 'frame') >= 20, run, '20 frame lines');
    const ffmpegs = childPids(run.child.pid as number, 'ffmpeg');
    expect(ffmpegs, 'the replay runs one ffmpeg').toHaveLength(1);
    process.kill(ffmpegs[0], 'SIGKILL');
    const r = await run.done;
    const line = expectOneLineFailure(r, video, /ffmpeg was killed by SIGKILL after \d+ frames/);
    const decoded = Number(/after (\d+) frames/.exec(line)![1]);
    const rec = expectValidRecord(readRecord(record));
    // Lossless up to the fault: every frame ffmpeg delivered is in the record, in order.
    expect(rec.frames.map((f) => f.seq)).toEqual(Array.from({ length: decoded }, (_, i) => i));
    expect(rec.end.frames).toBe(decoded);
    expect(rec.end.error as string).toContain('ffmpeg was killed by SIGKILL');
    expect(decoded).toBeLessThan(500);
  });

  it('a live http MJPEG stream: the run reconnects by itself, reports it on /api/status, and carries on recording', async () => {
    const jpegDir = path.join(fx.dir, 'jpegs');
    fs.mkdirSync(jpegDir);
    const made = spawnSync('ffmpeg', [
      '-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=size=64x48:rate=10', '-frames:v', '8', '-q:v', '3', path.join(jpegDir, 'f%02d.jpg'),
    ]);
    expect(made.status, made.stderr.toString()).toBe(0);
    const jpegs = fs.readdirSync(jpegDir).sort().map((n) => fs.readFileSync(path.join(jpegDir, n)));
    const camera = new MjpegServer(jpegs);
    const port = await camera.start();
    try {
      const uri = `http://127.0.0.1:${port}/stream.mjpg`;
      const record = path.join(fx.dir, 'killed-live.ndjson');
      const run = start([
        'run', '--source', uri, '--record', record, '--port', '0', '--template-frames', '5',
        '--set', 'ffmpeg.reconnectInitial=0.1', '--set', 'ffmpeg.reconnectMax=0.5',
      ]);
      const base = await servingUrl(run);
      await waitFor(() => countLines(record, 'frame') >= 10, run, '10 frame lines');
      const decoders = childPids(run.child.pid as number, 'ffmpeg');
      expect(decoders, 'one ffmpeg decodes the stream').toHaveLength(1);
      process.kill(decoders[0], 'SIGKILL');
      const before = countLines(record, 'frame');
      // A new ffmpeg, and frames again.
      await waitFor(() => childPids(run.child.pid as number, 'ffmpeg').some((p) => p !== decoders[0]), run, 'a new ffmpeg');
      await waitFor(() => countLines(record, 'frame') >= before + 10, run, '10 more frame lines after the kill');
      const status = (await (await fetch(`${base}/api/status`)).json()) as { sourceHealth: { reconnects: number; lastError: string | null } };
      expect(status.sourceHealth.reconnects).toBeGreaterThanOrEqual(1);
      expect(status.sourceHealth.lastError).toContain(uri);
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      run.child.kill('SIGTERM');
      const r = await run.done;
      expect(r.code, r.stderr).toBe(0);
      const rec = expectValidRecord(readRecord(record));
      expect(rec.end.error).toBeUndefined();
      const seqs = rec.frames.map((f) => f.seq);
      for (let i = 1; i < seqs.length; i++) expect(seqs[i], 'seq increases across the reconnect').toBeGreaterThan(seqs[i - 1]);
    } finally {
      await camera.stop();
    }
  });
});

describe('damaged TIFF files (the uncompressed cases are in test/cli/badInput.test.ts)', () => {
  it('a deflate stack with a corrupt strip at page 30: frames 0–29 recorded, then the end line with the error', async () => {
    const file = path.join(fx.dir, 'deflate-bad.tif');
    const layout = writeTiff(file, movie(45, 48, 40, 2), { compression: 8, predictor: 2 });
    const strip = layout.chunks[30][0];
    const bytes = fs.readFileSync(file);
    for (let i = 0; i < strip.length; i++) bytes[strip.offset + i] ^= 0x5a;
    fs.writeFileSync(file, bytes);
    const record = path.join(fx.dir, 'deflate-bad.ndjson');
    const r = await runCli(['replay', file, '--record', record, '--template-frames', '10']);
    expectOneLineFailure(r, file, /deflate stream corrupt in strip 0 of page 30/);
    const rec = expectValidRecord(readRecord(record));
    expect(rec.frames.map((f) => f.seq)).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(rec.end).toMatchObject({ frames: 30, dropped: 0 });
    expect(rec.end.error as string).toMatch(/deflate stream corrupt/);
  });

  it('a next-IFD pointer into the pixel data: refused at open with one line, no record left behind', async () => {
    const file = path.join(fx.dir, 'ifd-bad.tif');
    const layout = writeTiff(file, movie(20, 48, 40, 3));
    const bytes = fs.readFileSync(file);
    // Page 12's next-IFD pointer now points into page 5's pixels.
    bytes.writeUInt32LE(layout.chunks[5][0].offset + 2, layout.nextPointers[12]);
    fs.writeFileSync(file, bytes);
    const record = path.join(fx.dir, 'ifd-bad.ndjson');
    const r = await runCli(['replay', file, '--record', record]);
    expectOneLineFailure(r, file, /corrupt|truncated|unsupported/);
    expect(fs.existsSync(record)).toBe(false);
  });

  it('a next-IFD pointer past the end of the file: refused at open with one line', async () => {
    const file = path.join(fx.dir, 'ifd-past.tif');
    const layout = writeTiff(file, movie(20, 48, 40, 4));
    const bytes = fs.readFileSync(file);
    bytes.writeUInt32LE(bytes.length + 1000, layout.nextPointers[7]);
    fs.writeFileSync(file, bytes);
    const r = await runCli(['replay', file, '--record', path.join(fx.dir, 'ifd-past.ndjson')]);
    expectOneLineFailure(r, file, /truncated: IFD 8 at offset \d+ lies beyond end of file/);
  });
});

describe('frames of the wrong size', () => {
  it('a folder sequence with one odd-sized file is refused before frame 0, naming that file', async () => {
    const seq = path.join(fx.dir, 'seq-odd');
    fs.mkdirSync(seq);
    const frames = movie(12, 48, 40, 5);
    frames.forEach((f, i) => writeTiff(path.join(seq, `img_${i}.tif`), [f]));
    fs.writeFileSync(path.join(seq, 'img_7.png'), encodePng(movie(1, 40, 40, 6)[0]));
    fs.rmSync(path.join(seq, 'img_7.tif'));
    const record = path.join(fx.dir, 'seq-odd.ndjson');
    const r = await runCli(['replay', seq, '--record', record]);
    expectOneLineFailure(r, 'img_7.png', /is 40×40.* but the sequence \(from img_0\.tif\) is 48×40/);
    expect(fs.existsSync(record)).toBe(false);
  });

  it('a sequence file replaced by one of another size during the replay: the frames before are kept, the end line says which file', async () => {
    const seq = path.join(fx.dir, 'seq-swap');
    fs.mkdirSync(seq);
    // A long first file (300 pages) so that the swap of the second happens while the first plays.
    writeTiff(path.join(seq, 'a.tif'), movie(300, 48, 40, 7));
    writeTiff(path.join(seq, 'b.tif'), movie(1, 48, 40, 8));
    const record = path.join(fx.dir, 'seq-swap.ndjson');
    const run = start(['replay', seq, '--record', record, '--template-frames', '5']);
    await waitFor(() => countLines(record, 'frame') >= 1, run, 'the first frame line');
    writeTiff(path.join(seq, 'b.tif'), movie(1, 32, 32, 9));
    const r = await run.done;
    const b = path.join(seq, 'b.tif');
    expectOneLineFailure(r, b, /is 32×32.* but the sequence \(from a\.tif\) is 48×40/);
    const rec = expectValidRecord(readRecord(record));
    expect(rec.frames.map((f) => f.seq)).toEqual(Array.from({ length: 300 }, (_, i) => i));
    expect(rec.end.frames).toBe(300);
    expect(rec.end.error as string).toContain(b);
  });

  it('the pipeline itself: a frame of another size mid-stream gets a frame line with ok:false and error, and the stream goes on', async () => {
    // No source of the project lets such a frame through (sequence, tcp and watch refuse it), so
    // this drives the real pipeline and worker with a small FrameSource written here.
    const W = 48;
    const H = 40;
    const good = movie(30, W, H, 10);
    const odd = movie(1, 40, 40, 11)[0];
    class Frames implements FrameSource {
      async open(): Promise<SourceInfo> {
        return { uri: 'test:odd-frame', width: W, height: H, channels: 1, dtype: 'uint16', live: false };
      }
      async *frames(): AsyncIterable<Frame> {
        for (let seq = 0; seq < 31; seq++) {
          const img = seq === 20 ? odd : good[seq < 20 ? seq : seq - 1];
          yield { seq, t: seq, width: img.width, height: img.height, channels: 1, data: img.data.slice() };
        }
      }
      async close(): Promise<void> {}
    }
    const config = defaultConfig();
    config.template.frames = 5;
    config.pipeline.workers = 1;
    const hub = new Hub();
    const lines: Message[] = [];
    hub.subscribe((_t, m) => lines.push(m), ['frame', 'objects', 'end']);
    const summary = await runPipeline({ config, source: new Frames(), hub, backend: 'auto' });
    expect(summary).toMatchObject({ frames: 31, errors: 1 });
    const frames = lines.filter((l) => l.type === 'frame') as unknown as FrameLine[];
    expect(frames.map((f) => f.seq)).toEqual(Array.from({ length: 31 }, (_, i) => i));
    const bad = frames[20];
    expect(bad.ok).toBe(false);
    expect(bad.error).toBe('frame 20 is 40×40×1, expected 48×40×1');
    expect(bad.shift).toEqual({ dy: null, dx: null, peak: null, quality: null });
    expect(lines.some((l) => l.type === 'objects' && l.seq === 20), 'no objects line for a frame not processed').toBe(false);
    for (const f of frames.filter((x) => x.seq !== 20)) expect(f.ok, `frame ${f.seq}`).toBe(true);
    expect(lines[lines.length - 1]).toEqual({ type: 'end', frames: 31, dropped: 0 });
  });
});

/**
 * Degenerate frames in a registered movie: after good frames (the template
 * is built from the first 10), frames that are all zero, constant, saturated
 * (all at the dtype's maximum), all NaN, all +Inf, all −Inf, and one whose
 * content jumped 30 px with maxShift 8. Each must be flagged, hold the last
 * good shift, and stay out of the template: with an EMA template updated at
 * every good frame (rate 0.5, so one bad frame let in would change it
 * grossly), the good frames after them must give exactly the numbers of the
 * same movie without the bad frames.
 */
describe('degenerate frames and a jump beyond maxShift', () => {
  const W = 96;
  const H = 96;
  const ARGS = [
    '--template-frames', '10', '--max-shift', '8',
    '--set', 'template.update=ema', '--set', 'template.rate=0.5', '--set', 'template.updateEvery=1',
  ];

  type Kind = 'zero' | 'constant' | 'saturated' | 'nan' | 'inf' | 'minusInf' | 'jump';

  function degenerate(kind: Kind, like: TestImage): TestImage {
    const n = W * H;
    const data = like.dtype === 'float32' ? new Float32Array(n) : new Uint16Array(n);
    const fill = { zero: 0, constant: 500, saturated: 65535, nan: NaN, inf: Infinity, minusInf: -Infinity, jump: 0 }[kind];
    if (kind !== 'jump') data.fill(fill);
    else {
      // The content moved 30 px to the right; what came in from the left is the frame's mean.
      let mean = 0;
      for (let i = 0; i < n; i++) mean += like.data[i] / n;
      for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) data[y * W + x] = x >= 30 ? like.data[y * W + x - 30] : mean;
    }
    return { ...like, data };
  }

  function build(dtype: 'uint16' | 'float32', kinds: Kind[]): { test: TestImage[]; control: TestImage[]; bad: Map<number, Kind> } {
    const sim = new SyntheticMicroscope({ width: W, height: H, seed: 21, objects: 15, jumpRate: 0, maxDrift: 2 });
    const good: TestImage[] = Array.from({ length: 40 }, () => {
      const f = sim.nextFrame().data;
      return { width: W, height: H, channels: 1, dtype, data: dtype === 'uint16' ? f : Float32Array.from(f) };
    });
    if (dtype === 'float32') {
      // A good frame with a few non-finite pixels: registered normally, those pixels left out (in both movies).
      const f = good[25].data as Float32Array;
      for (let i = 0; i < f.length; i += 97) f[i] = [NaN, Infinity, -Infinity][i % 3];
    }
    const test: TestImage[] = [];
    const bad = new Map<number, Kind>();
    good.forEach((g, i) => {
      test.push(g);
      // After frame 20, one bad frame after each good one: each bad frame sits between good ones.
      if (i >= 20 && i - 20 < kinds.length) {
        bad.set(test.length, kinds[i - 20]);
        test.push(degenerate(kinds[i - 20], g));
      }
    });
    return { test, control: good, bad };
  }

  /**
   * Pearson's r of a constant block is undefined, so a constant frame's local
   * correlation must be null. LocalCorrelation.compute (src/kernels/
   * localCorrelation.ts) centres the frame on the template's block means and
   * takes vf = Σf² − (Σf)²/k, which for a constant non-zero frame is a
   * cancellation leaving rounding residue > 0: r then comes out as a made-up
   * number near 0 (an all-zero frame gives null, as it should). Seen: a
   * constant-500 frame with {"median":0,"p10":0}. A variance below 1e-12 of
   * Σf² now counts as none.
   */
  it('a constant non-zero frame has local correlation null (undefined), not a number', async () => {
    const sim = new SyntheticMicroscope({ width: W, height: H, seed: 22, objects: 15, jumpRate: 0, maxDrift: 2 });
    const frames: TestImage[] = Array.from({ length: 12 }, () => ({ width: W, height: H, channels: 1, dtype: 'float32' as const, data: Float32Array.from(sim.nextFrame().data) }));
    for (const v of [500, 1234.5, 65535]) frames.push({ width: W, height: H, channels: 1, dtype: 'float32', data: new Float32Array(W * H).fill(v) });
    const tif = path.join(fx.dir, 'constant-local.tif');
    writeTiff(tif, frames);
    const record = path.join(fx.dir, 'constant-local.ndjson');
    const r = await runCli(['replay', tif, '--record', record, '--template-frames', '10']);
    expect(r.code, r.stderr).toBe(0);
    const lines = readRecord(record).filter((l) => l.type === 'frame' && (l.seq as number) >= 12);
    expect(lines).toHaveLength(3);
    for (const l of lines) expect(l.localCorrelation, `constant frame ${String(l.seq)}`).toEqual({ median: null, p10: null });
  });

  const byType = (lines: RecordLine[], type: string): Map<number, RecordLine> =>
    new Map(lines.filter((l) => l.type === type).map((l) => [l.seq as number, l]));

  const cases: Array<['uint16' | 'float32', Kind[]]> = [
    ['uint16', ['zero', 'constant', 'saturated', 'jump']],
    ['float32', ['zero', 'constant', 'saturated', 'nan', 'inf', 'minusInf', 'jump']],
  ];
  for (const [dtype, kinds] of cases) {
    it(`${dtype}: ${kinds.join(', ')}: flagged, last good shift held, out of the template, nulls where undefined`, async () => {
      const { test, control, bad } = build(dtype, kinds);
      const testTif = path.join(fx.dir, `degenerate-${dtype}.tif`);
      const controlTif = path.join(fx.dir, `control-${dtype}.tif`);
      writeTiff(testTif, test);
      writeTiff(controlTif, control);
      const testRec = path.join(fx.dir, `degenerate-${dtype}.ndjson`);
      const controlRec = path.join(fx.dir, `control-${dtype}.ndjson`);
      const [a, b] = await Promise.all([
        runCli(['replay', testTif, '--record', testRec, ...ARGS]),
        runCli(['replay', controlTif, '--record', controlRec, ...ARGS]),
      ]);
      expect(a.code, a.stderr).toBe(0);
      expect(b.code, b.stderr).toBe(0);
      const lines = readRecord(testRec);
      const rec = expectValidRecord(lines);
      expect(rec.end).toEqual({ type: 'end', frames: test.length, dropped: 0 });
      const objects = byType(lines, 'objects');

      let lastGood: { dy: number; dx: number } | null = null;
      for (const f of rec.frames) {
        const kind = bad.get(f.seq);
        if (kind === undefined) {
          expect(f.ok, `good frame ${f.seq}`).toBe(true);
          lastGood = { dy: f.shift.dy, dx: f.shift.dx };
          continue;
        }
        expect(f.ok, `${kind} frame ${f.seq} flagged`).toBe(false);
        expect({ dy: f.shift.dy, dx: f.shift.dx }, `${kind} frame ${f.seq} holds the last good shift`).toEqual(lastGood);
        const o = objects.get(f.seq);
        expect(o, `${kind} frame ${f.seq} is still measured`).toBeDefined();
        const mean = (o!.features as Record<string, (number | null)[]>).Intensity_MeanIntensity;
        if (kind === 'nan' || kind === 'inf' || kind === 'minusInf') {
          // No finite pixel: every intensity is undefined, and says so.
          for (const [name, col] of Object.entries(o!.features as Record<string, (number | null)[]>)) {
            if (name.startsWith('Intensity_')) expect(col.every((v) => v === null), `${kind} frame ${f.seq}: ${name}`).toBe(true);
          }
        } else if (kind !== 'jump') {
          const value = { zero: 0, constant: 500, saturated: 65535 }[kind];
          expect(mean.every((v) => v === value), `${kind} frame ${f.seq}: mean intensities ${JSON.stringify(mean.slice(0, 5))}`).toBe(true);
        }
      }

      // Out of the template: the good frames give exactly what the movie without the bad frames gives.
      const ctrl = readRecord(controlRec);
      const ctrlFrames = ctrl.filter((l) => l.type === 'frame') as unknown as FrameLine[];
      const ctrlObjects = byType(ctrl, 'objects');
      const goodFrames = rec.frames.filter((f) => !bad.has(f.seq));
      expect(goodFrames.length).toBe(ctrlFrames.length);
      goodFrames.forEach((f, i) => {
        const c = ctrlFrames[i];
        expect([f.shift, f.ok], `good frame ${f.seq} vs frame ${c.seq} of the clean movie`).toEqual([c.shift, c.ok]);
        const mine = (objects.get(f.seq)!.features as Record<string, unknown>).Intensity_MeanIntensity;
        const theirs = (ctrlObjects.get(c.seq)!.features as Record<string, unknown>).Intensity_MeanIntensity;
        expect(mine, `objects of good frame ${f.seq}`).toEqual(theirs);
      });
    });
  }
});
