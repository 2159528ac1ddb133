/**
 * The watched folder (watch:) against real files written by another process
 * in small chunks while the source watches: every page arrives once, in
 * name order, with exactly the pixels written (never half-read); files that
 * are not TIFFs or do not match the stream are skipped and reported; the
 * folder vanishing and coming back is an outage, not an end.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/schema.js';
import type { Frame } from '../../src/ingest/frame.js';
import { WatchFolderSource } from '../../src/ingest/watchFolder.js';
import { expectInputError, expectInputErrorSync } from '../helpers/errors.js';
import { encodeTiff, randomImage, tempDir, type TestImage } from '../helpers/imageWriters.js';
import { configWith, openAs, ownsBuffer, pullFrames, sameBytes, waitUntil, within, type FramePuller } from './liveHelpers.js';

let dir: string;
let watched: string;
const sources: WatchFolderSource[] = [];
const writers: Array<{ kill: () => void }> = [];

beforeEach(() => {
  dir = tempDir();
  watched = path.join(dir, 'acq');
  fs.mkdirSync(watched);
});

afterEach(async () => {
  for (const w of writers.splice(0)) w.kill();
  await Promise.all(sources.splice(0).map((s) => s.close()));
  fs.rmSync(dir, { recursive: true, force: true });
});

function config(watch: Partial<Config['watch']> = {}): Config {
  return configWith('watch', { interval: 0.1, ...watch });
}

function watch(uri: string, cfg = config()): WatchFolderSource {
  return openAs(WatchFolderSource, uri, cfg, sources);
}

/** Writes a TIFF into the watched folder at once. */
function put(name: string, pages: TestImage[]): void {
  fs.writeFileSync(path.join(watched, name), tiffBytes(pages));
}

/** A stack of `pages` 40×30 uint16 pages, different for every seed. */
function stack(pages: number, seed: number, width = 40): TestImage[] {
  return Array.from({ length: pages }, (_, p) => randomImage(width, 30, 1, 'uint16', seed * 100 + p));
}

function tiffBytes(pages: TestImage[]): Buffer {
  return Buffer.from(encodeTiff(pages).bytes);
}

const WRITER = `
import fs from 'node:fs';
const [chunk, gap, ...jobs] = process.argv.slice(2);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
for (let i = 0; i < jobs.length; i += 2) {
  const bytes = fs.readFileSync(jobs[i]);
  const fd = fs.openSync(jobs[i + 1], 'w');
  for (let pos = 0; pos < bytes.length; pos += Number(chunk)) {
    fs.writeSync(fd, bytes, pos, Math.min(Number(chunk), bytes.length - pos));
    await sleep(Number(gap));
  }
  fs.closeSync(fd);
}
`;

/**
 * Another process writes each file in `chunk`-byte pieces, `gapMs` apart, one
 * file after the other, as acquisition software does. Resolves when it is done.
 */
function slowWriter(files: Array<{ name: string; bytes: Buffer }>, chunk: number, gapMs: number): Promise<void> {
  const stage = path.join(dir, 'stage');
  fs.mkdirSync(stage, { recursive: true });
  const script = path.join(dir, 'writer.mjs');
  fs.writeFileSync(script, WRITER);
  const jobs = files.flatMap(({ name, bytes }) => {
    const staged = path.join(stage, name);
    fs.writeFileSync(staged, bytes);
    return [staged, path.join(watched, name)];
  });
  const child = spawn(process.execPath, [script, String(chunk), String(gapMs), ...jobs], { stdio: ['ignore', 'ignore', 'pipe'] });
  writers.push({ kill: () => child.kill() });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return within(
    new Promise<void>((resolve, reject) => child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`writer failed: ${stderr}`))))),
    60_000,
    'the writer process finishing',
  );
}

function expectPage(f: Frame, seq: number, page: TestImage): void {
  expect(f.seq).toBe(seq);
  expect([f.width, f.height, f.channels]).toEqual([page.width, page.height, page.channels]);
  expect(sameBytes(f.data, page.data), `frame ${seq}: pixels differ from the page written (half-read?)`).toBe(true);
  expect(ownsBuffer(f)).toBe(true);
}

async function expectPages(puller: FramePuller, pages: TestImage[], firstSeq = 0): Promise<Frame[]> {
  const got: Frame[] = [];
  for (let i = 0; i < pages.length; i++) {
    const f = await puller.next(`frame ${firstSeq + i}`, 30_000);
    expectPage(f, firstSeq + i, pages[i]);
    got.push(f);
  }
  return got;
}

/** Opens `src` and expects `pages` as its first frames; the puller serves what follows. */
async function openExpecting(src: WatchFolderSource, pages: TestImage[]): Promise<FramePuller> {
  await within(src.open(), 30_000, 'open()');
  const puller = pullFrames(src);
  await expectPages(puller, pages);
  return puller;
}

describe('watch: a folder written by another process', () => {
  it('every page of every file arrives once, in name order, never half-read, as the files are written in small chunks', async () => {
    const names = ['img_8.tif', 'img_9.tif', 'img_10.tif', 'img_11.tif'];
    const stacks = names.map((_, i) => stack(3, i + 1));
    const src = watch(`watch:${watched}`);
    const opening = src.open();
    const puller = pullFrames(src);
    // 256-byte pieces 8 ms apart: each 7 KB file takes a quarter of a second, two or three looks (100 ms apart).
    const written = slowWriter(names.map((name, i) => ({ name, bytes: tiffBytes(stacks[i]) })), 256, 8);
    const info = await within(opening, 30_000, 'open() on the first complete file');
    expect(info).toEqual({ uri: `watch:${watched}`, width: 40, height: 30, channels: 1, dtype: 'uint16', live: true });
    const frames = await expectPages(puller, stacks.flat());
    await written;
    for (let i = 1; i < frames.length; i++) expect(frames[i].t).toBeGreaterThan(frames[i - 1].t);
    expect(src.stats).toEqual({ files: 4, frames: 12, skipped: 0 });
    expect(src.health()).toMatchObject({ state: 'connected', lastError: null });
    // Nothing more: a further pull waits (and is ended by close()).
    const extra = puller.next('an extra frame', 60_000);
    await src.close();
    await expect(extra).rejects.toThrow(/the source ended/);
  });

  it('a file that is not a TIFF is skipped with a reported error, and the folder is still watched', async () => {
    const good = stack(2, 7);
    const later = stack(1, 8);
    const src = watch(`watch:${watched}`);
    const puller = pullFrames(src);
    fs.writeFileSync(path.join(watched, 'a_broken.tif'), 'this is not a TIFF file at all');
    put('b_good.tif', good);
    await within(src.open(), 30_000, 'open()');
    await expectPages(puller, good);
    expect(src.health().lastError).toBe(
      `watch:${watched}: skipped a_broken.tif: ${path.join(watched, 'a_broken.tif')}: not a TIFF file (bad magic bytes 74 68 69 73)`,
    );
    put('c_later.tif', later);
    await expectPages(puller, later, 2);
    expect(src.stats).toEqual({ files: 2, frames: 3, skipped: 1 });
  });

  it('a file whose frames differ from the stream is skipped with its sizes named', async () => {
    const first = stack(1, 1);
    const after = stack(1, 3);
    put('1.tif', first);
    put('2.tif', stack(1, 2, 41));
    put('3.tif', after);
    const src = watch(`watch:${watched}`);
    await openExpecting(src, [...first, ...after]);
    expect(src.health().lastError).toBe(
      `watch:${watched}: skipped 2.tif: ${path.join(watched, '2.tif')}: is 41×30, 1 channel, uint16 but the stream is 40×30, 1 channel, uint16`,
    );
  });

  it('files already there are processed first with watch.existing (default), ignored without it', async () => {
    const old = stack(2, 1);
    const fresh = stack(1, 2);
    put('old.tif', old);
    await openExpecting(watch(`watch:${watched}`), old);

    const onlyNew = watch(`watch:${watched}`, config({ existing: false }));
    const opening = onlyNew.open();
    const puller = pullFrames(onlyNew);
    // Give it a look at the folder before the new file appears.
    await waitUntil(() => onlyNew.health().state === 'connected', () => JSON.stringify(onlyNew.health()));
    put('zz_new.tif', fresh);
    await within(opening, 30_000, 'open() on the new file');
    await expectPages(puller, fresh);
  });

  it('hidden and unfinished names are left alone until renamed; a glob picks its files only', async () => {
    const pages = stack(2, 4);
    const src = watch(`watch:${watched}/cam1_*.tif`);
    const puller = pullFrames(src);
    put('cam2_0.tif', stack(1, 5));
    put('.cam1_0.tif', stack(1, 6));
    put('cam1_0.tif.part', pages);
    fs.renameSync(path.join(watched, 'cam1_0.tif.part'), path.join(watched, 'cam1_0.tif'));
    await within(src.open(), 30_000, 'open()');
    await expectPages(puller, pages);
    expect(src.stats).toEqual({ files: 1, frames: 2, skipped: 0 });
  });

  it('the folder vanishing is an outage: health says reconnecting, then frames resume when it is back', async () => {
    const before = stack(1, 1);
    const after = stack(1, 2);
    put('a.tif', before);
    const src = watch(`watch:${watched}`);
    const puller = await openExpecting(src, before);
    const waiting = puller.next('the frame after the folder came back', 30_000);
    fs.rmSync(watched, { recursive: true });
    await waitUntil(() => src.health().state === 'reconnecting', () => JSON.stringify(src.health()));
    expect(src.health().lastError).toBe(`watch:${watched}: cannot list ${watched} (ENOENT)`);
    fs.mkdirSync(watched);
    put('b.tif', after);
    expectPage(await waiting, 1, after[0]);
    expect(src.health()).toMatchObject({ state: 'connected', reconnects: 1 });
    expect(src.health().outageMs).toBeGreaterThan(0);
  });

  it('refuses a missing folder, and close() rejects an open() still waiting for a file', async () => {
    const missing = path.join(dir, 'nope');
    await expectInputError(watch(`watch:${missing}`).open(), `watch:${missing}`, /no such folder/);
    expectInputErrorSync(() => watch('watch:'), 'watch:', /name a folder to watch/);
    const src = watch(`watch:${watched}`);
    const opening = src.open();
    await src.close();
    await expectInputError(opening, `watch:${watched}`, /closed before any file arrived/);
    expect(src.health().state).toBe('ended');
  });
});
