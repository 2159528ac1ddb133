/**
 * What a user sees when the input is wrong, through the built CLI: exit code
 * 2 and ONE line on stderr, `scopestream: ` then the input named and what is
 * wrong with it, never a stack trace (errors.ts, DESIGN.md "Command line").
 * A movie damaged half-way still leaves a complete record up to the damage.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SyntheticMicroscope } from '../../src/ingest/synthetic.js';
import { type CliResult, REPO, expectValidRecord, readRecord, runCli } from '../helpers/cli.js';
import { type TestImage, writeTiff } from '../helpers/imageWriters.js';

const ffmpegOk = spawnSync('ffmpeg', ['-version']).status === 0 && spawnSync('ffprobe', ['-version']).status === 0;

const W = 48;
const H = 40;

let dir: string;
/** A sound 12-page uint16 stack, for the option tests. */
let good: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'scopestream-'));
  good = path.join(dir, 'good.tif');
  writeTiff(good, movie(12, W, H));
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function movie(n: number, w: number, h: number): TestImage[] {
  const sim = new SyntheticMicroscope({ width: w, height: h, seed: 3, objects: 8 });
  return Array.from({ length: n }, () => ({ width: w, height: h, channels: 1, dtype: 'uint16' as const, data: sim.nextFrame().data }));
}

/**
 * The failure contract: exit 2, nothing on stdout, one stderr line that starts
 * with `scopestream: `, contains every `names` and matches `problem`, and no
 * stack trace. Returns the line.
 */
function expectRefusal(r: CliResult, names: string[], problem: RegExp): string {
  expect(r.stderr).not.toContain('    at ');
  expect(r.stderr).not.toMatch(/Error:|node:internal/);
  expect(r.code, r.stderr).toBe(2);
  expect(r.stdout).toBe('');
  expect(r.stderr.endsWith('\n'), JSON.stringify(r.stderr)).toBe(true);
  const lines = r.stderr.slice(0, -1).split('\n');
  expect(lines, 'exactly one stderr line').toHaveLength(1);
  const line = lines[0];
  expect(line.startsWith('scopestream: '), line).toBe(true);
  for (const n of names) expect(line).toContain(n);
  expect(line).toMatch(problem);
  return line;
}

describe('a movie damaged half-way', () => {
  /**
   * Replays `file`, whose page `k` is unreadable: exit 2 with one line naming the
   * file, and a record that has every frame before the damage, in order, and an
   * `end` line carrying the error and the count of frame lines written.
   */
  async function expectCutAt(file: string, k: number, extra: string[] = []): Promise<void> {
    const record = `${file}.ndjson`;
    const r = await runCli(['replay', file, '--record', record, ...extra]);
    expectRefusal(r, [file], new RegExp(`truncated: strip 0 of page ${k}\\b`));
    const lines = readRecord(record);
    const rec = expectValidRecord(lines);
    expect(rec.frames.map((f) => f.seq)).toEqual(Array.from({ length: k }, (_, i) => i));
    expect(rec.end.frames).toBe(rec.frames.length);
    expect(rec.end.dropped).toBe(0);
    expect(typeof rec.end.error).toBe('string');
    expect(rec.end.error as string).toContain(file);
    expect(rec.end.error as string).toMatch(/truncated/);
  }

  it('file cut in the middle of page 25 (the template of 30 frames not yet built): frames 0–24, then end with the error', async () => {
    const file = path.join(dir, 'cut25.tif');
    // All directories first, then the pixels, so that cutting the pixels of page 25 leaves every IFD whole.
    const layout = writeTiff(file, movie(40, W, H), { layout: 'ifd-first' });
    const strip = layout.chunks[25][0];
    fs.truncateSync(file, strip.offset + Math.floor(strip.length / 2));
    await expectCutAt(file, 25);
  });

  it('strip offset of page 35 pointing past the end (after the template was built): frames 0–34, then end', async () => {
    const file = path.join(dir, 'badoffset35.tif');
    writeTiff(file, movie(40, W, H), { tagOverrides: { 35: { 273: [10_000_000] } } });
    await expectCutAt(file, 35);
  });

  it('the same with a short template: every frame before the damage was registered, none lost', async () => {
    const file = path.join(dir, 'cut7.tif');
    const layout = writeTiff(file, movie(12, W, H), { layout: 'ifd-first' });
    fs.truncateSync(file, layout.chunks[7][0].offset + 10);
    await expectCutAt(file, 7, ['--template-frames', '3']);
  });
});

describe.concurrent('bad input files', () => {
  it('a missing file', async () => {
    const file = path.join(dir, 'no-such-movie.tif');
    const record = path.join(dir, 'missing.ndjson');
    expectRefusal(await runCli(['replay', file, '--record', record]), [file], /no such file/);
    // Nothing was replayed: no empty record is left behind.
    expect(fs.existsSync(record)).toBe(false);
  });

  it('a folder with no images', async () => {
    const folder = path.join(dir, 'empty-folder');
    fs.mkdirSync(folder);
    fs.writeFileSync(path.join(folder, 'readme.txt'), 'no images here\n');
    expectRefusal(await runCli(['replay', folder]), [folder], /no TIFF or PNG files/);
  });

  it('a text file named .tif', async () => {
    const file = path.join(dir, 'text.tif');
    fs.writeFileSync(file, 'this is not a TIFF\n');
    const record = path.join(dir, 'text.ndjson');
    expectRefusal(await runCli(['replay', file, '--record', record]), [file], /not a TIFF file/);
    expect(fs.existsSync(record)).toBe(false);
  });

  it('a TIFF compressed with PackBits (unsupported)', async () => {
    const file = path.join(dir, 'packbits.tif');
    writeTiff(file, movie(3, W, H), { tagOverrides: { 0: { 259: [32773] }, 1: { 259: [32773] }, 2: { 259: [32773] } } });
    expectRefusal(await runCli(['replay', file]), [file], /unsupported compression 32773 \(PackBits\)/);
  });

  it('a TIFF whose pages differ in size', async () => {
    const file = path.join(dir, 'sizes.tif');
    writeTiff(file, [...movie(2, W, H), ...movie(1, W - 8, H)]);
    expectRefusal(await runCli(['replay', file]), [file], new RegExp(`page 2 is ${W - 8}×${H}.*page 0 is ${W}×${H}.*same size`));
  });

  it('random bytes named .mp4 (ffmpeg cannot decode them)', async () => {
    const file = path.join(dir, 'noise.mp4');
    fs.writeFileSync(file, Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 2654435761) >>> 24)));
    // Without ffmpeg the refusal is about ffmpeg (tested below); with it, about the file.
    expectRefusal(await runCli(['replay', file]), [file], ffmpegOk ? /not a readable video: ./ : /ffmpeg not found/);
  });
});

describe.concurrent('no ffmpeg', () => {
  let video: string;
  beforeAll(() => {
    // Any video path: ffmpeg is looked for before the file is probed.
    video = path.join(dir, 'clip.mp4');
    fs.writeFileSync(video, Buffer.alloc(1024, 7));
  });

  it('--set ffmpeg.path=/nonexistent/ffmpeg: names the video and the option that configures ffmpeg', async () => {
    const r = await runCli(['replay', video, '--set', 'ffmpeg.path=/nonexistent/ffmpeg']);
    expectRefusal(r, [video, 'option ffmpeg.path', '/nonexistent/ffmpeg'], /does not exist/);
  });

  it('ffmpeg on no PATH: says how to install it or configure it', async (ctx) => {
    let installer = false;
    try {
      // The package a user may install instead of a system ffmpeg; when it is there, ffmpeg is never "not found".
      const spec = '@ffmpeg-installer/ffmpeg';
      await import(spec);
      installer = true;
    } catch {
      // the normal case
    }
    if (installer) ctx.skip('@ffmpeg-installer/ffmpeg is installed: ffmpeg cannot be missing');
    const bare = path.join(dir, 'bin-without-ffmpeg');
    fs.mkdirSync(bare, { recursive: true });
    const r = await runCli(['replay', video], { env: { ...process.env, PATH: bare } });
    const line = expectRefusal(r, [video], /ffmpeg not found/);
    expect(line).toMatch(/install/);
    expect(line).toContain('ffmpeg.path');
  });
});

describe.concurrent('bad option values name the option, the value and what is allowed', () => {
  const cases: { args: string[]; names: string[]; problem: RegExp }[] = [
    { args: ['--max-shift', '-3'], names: ['registration.maxShift', '"-3"'], problem: /integer ≥ 0/ },
    { args: ['--max-shift', 'abc'], names: ['registration.maxShift', '"abc"'], problem: /integer ≥ 0/ },
    { args: ['--speed', '0'], names: ['replay.speed', '"0"'], problem: /"max", "realtime" or a positive speed factor/ },
    { args: ['--speed', 'fast'], names: ['replay.speed', '"fast"'], problem: /"max", "realtime" or a positive speed factor/ },
    { args: ['--template-frames', '0'], names: ['template.frames', '"0"'], problem: /integer from 1 to 10000/ },
    { args: ['--set', 'registration.window=square'], names: ['registration.window', '"square"'], problem: /one of hann, tukey, none/ },
    { args: ['--set', 'nosuch.option=1'], names: ['nosuch.option'], problem: /unknown option.*known options: .*registration\.window/ },
    { args: ['--set', 'toString=1'], names: ['toString'], problem: /unknown option/ },
    { args: ['--set', 'registration.window'], names: ['registration.window'], problem: /expected NAME=VALUE/ },
    { args: ['--channel', 'x'], names: ['registration.channel', '"x"'], problem: /channel index .* or "luminance"/ },
    { args: ['--channel', '1'], names: ['option registration.channel', '1', 'good.tif'], problem: /has 1 channel \(0-based\)/ },
    { args: ['--frobnicate'], names: ['--frobnicate'], problem: /Unknown option/ },
    { args: ['--max-shift'], names: ['--max-shift'], problem: /needs a value/ },
    { args: ['--max-shift', '--speed', '2'], names: ['--max-shift', '--speed'], problem: /needs a value, got the option --speed/ },
  ];
  for (const c of cases) {
    it(c.args.join(' '), async () => {
      const record = path.join(dir, `opt-${c.args.join('_').replace(/[^\w.-]/g, '')}.ndjson`);
      expectRefusal(await runCli(['replay', good, '--record', record, ...c.args]), c.names, c.problem);
      // Refused before anything ran.
      expect(fs.existsSync(record)).toBe(false);
    });
  }
});

describe.concurrent('bad config files name the file and the problem', () => {
  function config(name: string, text: string): string {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    return file;
  }

  it('not YAML', async () => {
    const file = config('broken.yaml', 'registration:\n  window: [tukey\n');
    expectRefusal(await runCli(['replay', good, '--config', file]), [`config file ${file}`], /not valid YAML/);
  });

  it('an unknown key', async () => {
    const file = config('unknown.yaml', 'registration:\n  windw: hann\n');
    expectRefusal(await runCli(['replay', good, '--config', file]), [`config file ${file}`, 'registration.windw'], /unknown option/);
  });

  it('a bad value', async () => {
    const file = config('badvalue.yaml', 'template:\n  frames: many\n');
    expectRefusal(
      await runCli(['replay', good, '--config', file]),
      [`config file ${file}`, 'template.frames', '"many"'],
      /not allowed; expected an integer from 1 to 10000/,
    );
  });

  it('a file that does not exist', async () => {
    const file = path.join(dir, 'no-such-config.yaml');
    expectRefusal(await runCli(['replay', good, '--config', file]), [`config file ${file}`], /cannot be read \(ENOENT\)/);
  });
});

describe.concurrent('bad commands', () => {
  it('a record path in a folder that does not exist', async () => {
    const record = path.join(dir, 'no-such-folder', 'record.ndjson');
    expectRefusal(await runCli(['replay', good, '--record', record]), [`record file ${record}`], /cannot be written \(ENOENT\)/);
  });

  it('an unknown command', async () => {
    expectRefusal(await runCli(['replya', good]), ['replya'], /unknown command.*expected run, replay, subscribe or bench/);
  });

  it('replay without PATH', async () => {
    expectRefusal(await runCli(['replay']), ['replay'], /expected exactly one PATH/);
  });

  it('replay with two paths', async () => {
    expectRefusal(await runCli(['replay', good, good]), ['replay'], /expected exactly one PATH/);
  });

  it('run with a bad synthetic source', async () => {
    expectRefusal(await runCli(['run', '--source', 'synthetic:?width=5']), ['synthetic:', 'width', '"5"'], /integer 16\.\.8192/);
  });

  it('no command at all prints the usage and exits 2', async () => {
    const r = await runCli([], { cwd: REPO });
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/^usage:/);
  });
});
