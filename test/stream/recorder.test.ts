/**
 * Record rotation (issue 4 §3; docs/reliability.md): the record is cut into
 * parts FILE, FILE.1, FILE.2 … at frame boundaries, each part a valid record
 * (meta, the current segmentation, frames with their objects, an end line
 * naming the next part), the last ending with the pipeline's own end line.
 * Through the built CLI on real files, and the Recorder itself on real files
 * with an injected clock for the edge cases.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import { SyntheticMicroscope } from '../../src/ingest/synthetic.js';
import { Recorder } from '../../src/stream/recorder.js';
import { type ParsedRecord, type RecordLine, countLines, expectValidRecord, readRecord, runCli, startCli, waitFor } from '../helpers/cli.js';
import { type TestImage, tempDir, writeTiff } from '../helpers/imageWriters.js';

let dir: string;
beforeAll(() => {
  dir = tempDir();
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const W = 64;
const H = 64;

function movie(n: number, seed = 7): TestImage[] {
  const sim = new SyntheticMicroscope({ width: W, height: H, seed, objects: 10 });
  return Array.from({ length: n }, () => ({ width: W, height: H, channels: 1, dtype: 'uint16' as const, data: sim.nextFrame().data }));
}

interface Part {
  file: string;
  lines: RecordLine[];
  rec: ParsedRecord;
  bytes: number;
}

/**
 * Follows the chain of parts from `first` through each end line's `next`,
 * checking every part as a record of its own, that the parts are named
 * FILE, FILE.1, FILE.2 …, and that no further part exists after the last.
 */
function readParts(first: string): Part[] {
  const parts: Part[] = [];
  let file = first;
  for (;;) {
    const lines = readRecord(file);
    const rec = expectValidRecord(lines);
    parts.push({ file, lines, rec, bytes: fs.statSync(file).size });
    expect(file, 'part naming').toBe(parts.length === 1 ? first : `${first}.${parts.length - 1}`);
    // Every part counts its own frames; the drop count is a whole number.
    expect(rec.end.frames, `${file}: end.frames`).toBe(rec.frames.length);
    expect((rec.end.dropped as number) >= 0, `${file}: end.dropped`).toBe(true);
    // Every part starts with the same meta line.
    expect(lines[0], `${file}: meta`).toEqual(parts[0].lines[0]);
    const next = rec.end.next;
    if (next === undefined) break;
    expect(typeof next).toBe('string');
    expect(path.basename(next as string), 'next is a file name in the same folder').toBe(next);
    expect(rec.end.error, `${file}: only the last part may carry an error`).toBeUndefined();
    expect(rec.end.totalFrames, `${file}: totals only on the last part`).toBeUndefined();
    expect(parts.length, 'runaway chain').toBeLessThan(10_000);
    file = path.join(path.dirname(first), next as string);
  }
  expect(fs.existsSync(`${first}.${parts.length}`), 'no part beyond the last').toBe(false);
  if (parts.length > 1) {
    const last = parts[parts.length - 1].rec.end;
    expect(last.totalFrames).toBe(parts.reduce((n, p) => n + p.rec.frames.length, 0));
    expect(last.totalDropped).toBe(parts.reduce((n, p) => n + (p.rec.end.dropped as number), 0));
  }
  return parts;
}

const seqsOf = (parts: Part[]): number[] => parts.flatMap((p) => p.rec.frames.map((f) => f.seq));
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
const lineBytes = (l: RecordLine): number => Buffer.byteLength(JSON.stringify(l)) + 1;

describe('record rotation through the CLI', () => {
  it('by size: parts cut at the first frame boundary past rotateBytes, each a valid record, every frame exactly once', async () => {
    const N = 90;
    const tif = path.join(dir, 'size.tif');
    writeTiff(tif, movie(N));
    const record = path.join(dir, 'size.ndjson');
    const LIMIT = 40_000;
    const r = await runCli(['replay', tif, '--record', record, '--template-frames', '10', '--set', `record.rotateBytes=${LIMIT}`]);
    expect(r.code, r.stderr).toBe(0);
    const parts = readParts(record);
    expect(parts.length).toBeGreaterThan(2);
    expect(seqsOf(parts)).toEqual(range(N));
    const last = parts[parts.length - 1];
    expect(last.rec.end.totalFrames).toBe(N);
    expect(last.rec.end.totalDropped).toBe(0);
    expect(last.rec.end.error).toBeUndefined();
    for (const p of parts) {
      // Objects exist (fixed mode): every part carries the segmentation right after meta, then its frames.
      expect(p.lines[1].type, `${p.file}: line 2`).toBe('segmentation');
      expect(p.lines[1]).toEqual(parts[0].lines[1]);
      expect(p.lines[2].type).toBe('frame');
      // Every frame keeps its objects line, in the same part, right after it (checked by expectValidRecord).
      expect(p.lines.filter((l) => l.type === 'objects').length).toBe(p.rec.frames.length);
    }
    for (const p of parts.slice(0, -1)) {
      // The part reached the limit (without its end line) and did not reach it before its last frame.
      const body = p.bytes - lineBytes(p.lines[p.lines.length - 1]);
      const lastUnit = lineBytes(p.lines[p.lines.length - 3]) + lineBytes(p.lines[p.lines.length - 2]);
      expect(p.lines[p.lines.length - 3].type).toBe('frame');
      expect(body, `${p.file}: reached rotateBytes`).toBeGreaterThanOrEqual(LIMIT);
      expect(body - lastUnit, `${p.file}: was cut at the first boundary past rotateBytes`).toBeLessThan(LIMIT);
    }
  });

  it('without rotation the record is one file whose end line is the pipeline\'s, unchanged', async () => {
    const tif = path.join(dir, 'plain.tif');
    writeTiff(tif, movie(20));
    const record = path.join(dir, 'plain.ndjson');
    const r = await runCli(['replay', tif, '--record', record, '--template-frames', '5']);
    expect(r.code, r.stderr).toBe(0);
    const parts = readParts(record);
    expect(parts).toHaveLength(1);
    expect(parts[0].rec.end).toEqual({ type: 'end', frames: 20, dropped: 0 });
  });

  it('by time: a realtime replay of 3 s with rotateSeconds=1 gives several parts holding every frame once', async () => {
    const N = 60;
    const tif = path.join(dir, 'time.tif');
    writeTiff(tif, movie(N, 8), { description: `ImageJ=1.53t\nimages=${N}\nframes=${N}\nfps=20\n` });
    const record = path.join(dir, 'time.ndjson');
    const r = await runCli(['replay', tif, '--record', record, '--speed', 'realtime', '--template-frames', '5', '--set', 'record.rotateSeconds=1']);
    expect(r.code, r.stderr).toBe(0);
    const parts = readParts(record);
    // 3 s of frames and a new part every second: at least two parts whatever the machine's speed.
    expect(parts.length).toBeGreaterThanOrEqual(2);
    expect(seqsOf(parts)).toEqual(range(N));
  });

  it('a movie damaged half-way: the parts hold every frame before the damage, the last part ends with the error', async () => {
    const tif = path.join(dir, 'cut.tif');
    const layout = writeTiff(tif, movie(50, 9), { layout: 'ifd-first' });
    fs.truncateSync(tif, layout.chunks[40][0].offset + 10);
    const record = path.join(dir, 'cut.ndjson');
    const r = await runCli(['replay', tif, '--record', record, '--template-frames', '10', '--set', 'record.rotateBytes=30000']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/truncated/);
    const parts = readParts(record);
    expect(parts.length).toBeGreaterThan(1);
    expect(seqsOf(parts)).toEqual(range(40));
    const end = parts[parts.length - 1].rec.end;
    expect(end.error as string).toMatch(/truncated: strip 0 of page 40/);
    expect(end.totalFrames).toBe(40);
  });

  it('a live run stopped by SIGTERM: the last part is closed with its end line; in = processed + dropped over the parts', async () => {
    const record = path.join(dir, 'live.ndjson');
    const uri = 'synthetic:?width=64&height=64&fps=100&objects=10&seed=3';
    const run = startCli(['run', '--source', uri, '--record', record, '--port', '0', '--set', 'record.rotateBytes=50000'], { timeoutMs: 90_000 });
    await waitFor(() => fs.existsSync(`${record}.2`) && countLines(`${record}.2`, 'frame') > 0, run, 'a third part with frames');
    run.child.kill('SIGTERM');
    const r = await run.done;
    expect(r.code, r.stderr).toBe(0);
    const parts = readParts(record);
    expect(parts.length).toBeGreaterThanOrEqual(3);
    const seqs = seqsOf(parts);
    for (let i = 1; i < seqs.length; i++) expect(seqs[i], 'seq increases across parts').toBeGreaterThan(seqs[i - 1]);
    const end = parts[parts.length - 1].rec.end;
    expect(end.error).toBeUndefined();
    expect(end.totalFrames).toBe(seqs.length);
    // Every frame the simulator made up to the last one recorded is either recorded or counted dropped.
    expect((end.totalFrames as number) + (end.totalDropped as number)).toBeGreaterThanOrEqual(seqs[seqs.length - 1] + 1);
  });

  it('a finite live source: the totals of the last part account for every frame made', async () => {
    const N = 150;
    const record = path.join(dir, 'finite.ndjson');
    const uri = `synthetic:?width=64&height=64&fps=100&frames=${N}&objects=10&seed=4`;
    const r = await runCli(['run', '--source', uri, '--record', record, '--port', '0', '--set', 'record.rotateBytes=40000'], { timeoutMs: 90_000 });
    expect(r.code, r.stderr).toBe(0);
    const parts = readParts(record);
    expect(parts.length).toBeGreaterThan(1);
    const end = parts[parts.length - 1].rec.end;
    expect((end.totalFrames as number) + (end.totalDropped as number)).toBe(N);
    expect(new Set(seqsOf(parts)).size).toBe(seqsOf(parts).length);
  });
});

describe('Recorder', () => {
  const meta = JSON.stringify({ type: 'meta', version: 1, source: 'x', width: 2, height: 2, channels: 1, dtype: 'uint16', config: {} });
  const seg = (seq: number, ids: number[]): string =>
    JSON.stringify({ type: 'segmentation', seq, count: ids.length, ids, features: { AreaShape_Area: ids.map(() => 1) } });
  const frame = (seq: number): string =>
    JSON.stringify({ type: 'frame', seq, t: seq, shift: { dy: 0, dx: 0, peak: 1, quality: 9 }, ok: true, latencyMs: 1 });
  const objects = (seq: number, ids: number[]): string =>
    JSON.stringify({ type: 'objects', seq, ids, features: { Intensity_MeanIntensity: ids.map(() => seq) } });

  it('rotates by time on the injected clock, before a segmentation line when that comes first, without repeating the old one', async () => {
    let clock = 0;
    const file = path.join(dir, 'unit-time.ndjson');
    const rec = new Recorder(file, { rotateSeconds: 10, now: () => clock });
    await rec.ready();
    rec.write('meta', meta);
    rec.write('segmentation', seg(0, [1, 2]));
    for (let s = 0; s < 3; s++) {
      rec.write('frame', frame(s));
      rec.write('objects', objects(s, [1, 2]));
    }
    clock = 10_000;
    // Due now: the new part starts at the next boundary, which is this new segmentation.
    rec.write('segmentation', seg(3, [1, 2, 3]));
    rec.write('frame', frame(3));
    rec.write('objects', objects(3, [1, 2, 3]));
    clock = 15_000;
    rec.write('frame', frame(5));
    rec.write('objects', objects(5, [1, 2, 3]));
    clock = 20_000;
    // Due again: cut before this frame; the new part repeats the current segmentation.
    rec.write('frame', frame(6));
    rec.write('objects', objects(6, [1, 2, 3]));
    rec.write('end', JSON.stringify({ type: 'end', frames: 6, dropped: 1 }));
    await rec.close();
    expect(rec.parts).toEqual([file, `${file}.1`, `${file}.2`]);
    const parts = readParts(file);
    expect(parts.map((p) => p.lines.map((l) => `${l.type}${l.seq ?? ''}`))).toEqual([
      ['meta', 'segmentation0', 'frame0', 'objects0', 'frame1', 'objects1', 'frame2', 'objects2', 'end'],
      ['meta', 'segmentation3', 'frame3', 'objects3', 'frame5', 'objects5', 'end'],
      ['meta', 'segmentation3', 'frame6', 'objects6', 'end'],
    ]);
    expect(parts.map((p) => p.rec.end)).toEqual([
      { type: 'end', frames: 3, dropped: 0, next: path.basename(`${file}.1`) },
      { type: 'end', frames: 2, dropped: 1, next: path.basename(`${file}.2`) },
      { type: 'end', frames: 1, dropped: 0, totalFrames: 6, totalDropped: 1 },
    ]);
  });

  it('never separates a frame from its objects, and a part holds at least one frame however small the limit', async () => {
    const file = path.join(dir, 'unit-bytes.ndjson');
    const rec = new Recorder(file, { rotateBytes: 1 });
    rec.write('meta', meta);
    rec.write('segmentation', seg(0, [4]));
    for (let s = 0; s < 4; s++) {
      rec.write('frame', frame(s));
      rec.write('objects', objects(s, [4]));
    }
    rec.write('end', JSON.stringify({ type: 'end', frames: 4, dropped: 0, error: 'input: cut short' }));
    await rec.close();
    const parts = readParts(file);
    expect(parts.map((p) => p.lines.map((l) => l.type))).toEqual(
      Array.from({ length: 4 }, () => ['meta', 'segmentation', 'frame', 'objects', 'end']),
    );
    expect(seqsOf(parts)).toEqual([0, 1, 2, 3]);
    // The pipeline's own end line closes the last part, its error kept.
    expect(parts[3].rec.end).toEqual({ type: 'end', frames: 1, dropped: 0, error: 'input: cut short', totalFrames: 4, totalDropped: 0 });
  });

  it('a part that cannot be created: close() rejects with one line naming it; the parts before are complete', async () => {
    const file = path.join(dir, 'unit-fail.ndjson');
    fs.mkdirSync(`${file}.1`);
    const rec = new Recorder(file, { rotateBytes: 1 });
    await rec.ready();
    rec.write('meta', meta);
    for (let s = 0; s < 3; s++) rec.write('frame', frame(s));
    rec.write('end', JSON.stringify({ type: 'end', frames: 3, dropped: 0 }));
    const err = await rec.close().then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(InputError);
    // Whether part 0's write has completed when part 1's open fails is up to the disk.
    expect([`record file ${file}.1: cannot be written (EISDIR)`, `record file ${file}.1: cannot be written (EISDIR); the record holds the frames up to seq 0`]).toContain((err as Error).message);
    const first = expectValidRecord(readRecord(file));
    expect(first.end).toEqual({ type: 'end', frames: 1, dropped: 0, next: path.basename(`${file}.1`) });
  });

  it('ready() names a record file that cannot be opened', async () => {
    const file = path.join(dir, 'no-such-folder', 'r.ndjson');
    const rec = new Recorder(file);
    await expect(rec.ready()).rejects.toThrow(`record file ${file}: cannot be written (ENOENT)`);
    await rec.close().catch(() => undefined);
  });
});
