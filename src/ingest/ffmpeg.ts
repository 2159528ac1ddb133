/**
 * Finding ffmpeg/ffprobe and asking ffprobe what a video file holds.
 * Decoding itself lives in video.ts; this module never reads pixels.
 */
import { spawn } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '../errors.js';

interface ToolSpec {
  name: 'ffmpeg' | 'ffprobe';
  option: 'ffmpeg.path' | 'ffmpeg.probePath';
  /** npm package that ships the binary in its tarball; optional, never a dependency. */
  installer: string;
}

const FFMPEG: ToolSpec = { name: 'ffmpeg', option: 'ffmpeg.path', installer: '@ffmpeg-installer/ffmpeg' };
const FFPROBE: ToolSpec = { name: 'ffprobe', option: 'ffmpeg.probePath', installer: '@ffprobe-installer/ffprobe' };

/**
 * The ffmpeg binary to run: `configured` if given (it must be an executable
 * file; a bare name is looked up on PATH), else `ffmpeg` on PATH, else the one
 * shipped by `@ffmpeg-installer/ffmpeg` when that package happens to be installed.
 */
export function resolveFfmpeg(configured?: string): Promise<string> {
  return resolveTool(FFMPEG, configured);
}

/** As `resolveFfmpeg`, for ffprobe (option `ffmpeg.probePath`, package `@ffprobe-installer/ffprobe`). */
export function resolveFfprobe(configured?: string): Promise<string> {
  return resolveTool(FFPROBE, configured);
}

async function resolveTool(tool: ToolSpec, configured: string | undefined): Promise<string> {
  // An empty string is what a blank YAML value gives: treat it as "not set".
  if (configured !== undefined && configured !== '') {
    if (!configured.includes('/') && !configured.includes(path.sep)) {
      const found = await searchPath(configured);
      if (found) return found;
      throw new InputError(`option ${tool.option}: ${configured} not found on PATH`);
    }
    const problem = await executableProblem(configured);
    if (problem === undefined) return configured;
    throw new InputError(`option ${tool.option}: ${configured} ${problem}`);
  }
  const onPath = await searchPath(tool.name);
  if (onPath) return onPath;
  const shipped = await fromInstallerPackage(tool.installer);
  if (shipped) return shipped;
  throw new InputError(`${tool.name} not found: install it (e.g. apt-get install ffmpeg) or set the option ${tool.option}`);
}

/** Why `file` cannot be run, or undefined if it can. */
async function executableProblem(file: string): Promise<string | undefined> {
  try {
    const st = await stat(file);
    if (!st.isFile()) return 'is not a file';
  } catch {
    return 'does not exist';
  }
  try {
    await access(file, fsConstants.X_OK);
    return undefined;
  } catch {
    return 'is not executable';
  }
}

/**
 * Searched by hand rather than by spawning `which`: no process per lookup, and
 * the same answer on every platform. Relative PATH entries (including the empty
 * one, meaning ".") are skipped so that a file in the working directory is never
 * run by accident.
 */
async function searchPath(name: string): Promise<string | undefined> {
  const names = process.platform === 'win32' ? [`${name}.exe`, name] : [name];
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir || !path.isAbsolute(dir)) continue;
    for (const n of names) {
      const candidate = path.join(dir, n);
      if ((await executableProblem(candidate)) === undefined) return candidate;
    }
  }
  return undefined;
}

/**
 * The specifier is a variable so that neither TypeScript nor a bundler treats
 * the package as a dependency: its absence is the normal case.
 */
async function fromInstallerPackage(specifier: string): Promise<string | undefined> {
  let mod: unknown;
  try {
    mod = await import(specifier);
  } catch {
    return undefined;
  }
  // A CommonJS package: `.path` may be a named export or only on `default`.
  const candidates = [mod, (mod as { default?: unknown } | null)?.default];
  for (const c of candidates) {
    const p = (c as { path?: unknown } | null | undefined)?.path;
    if (typeof p === 'string' && (await executableProblem(p)) === undefined) return p;
  }
  return undefined;
}

/** What ffprobe says about the first video stream of a file. */
export interface VideoProbe {
  width: number;
  height: number;
  /** ffmpeg's name of the decoded pixel format, e.g. `yuv420p`, `gray16le`. */
  pixFmt: string;
  /** Largest bit depth of any component of `pixFmt` (8 for yuv420p, 10 for yuv420p10le, 16 for gray16le). */
  bitsPerComponent: number;
  /** Average frame rate (frames/s); undefined when the file states none. */
  fps?: number;
  /** Number of frames: exact from the container, or estimated (see `frameCountEstimated`). */
  frameCount?: number;
  /** True when `frameCount` is duration·fps rounded (containers such as Matroska store no count). */
  frameCountEstimated: boolean;
  /** ffmpeg's decoder name, e.g. `h264`, `ffv1`. */
  codec: string;
}

interface ProbeJson {
  streams?: Array<{
    codec_name?: string;
    width?: number;
    height?: number;
    pix_fmt?: string;
    avg_frame_rate?: string;
    r_frame_rate?: string;
    nb_frames?: string;
    duration?: string;
  }>;
  format?: { duration?: string };
  pixel_formats?: Array<{ name?: string; components?: Array<{ bit_depth?: number }> }>;
}

/**
 * The ffprobe arguments used by `probeVideo` (exported for the docs and tests);
 * `inputArgs` (a live input's demuxer options, e.g. `-f v4l2 -video_size 640x480`) go just before the input.
 */
export function probeArgs(file: string, inputArgs: readonly string[] = []): string[] {
  return [
    '-v', 'error',
    '-select_streams', 'v:0',
    '-show_entries', 'stream=width,height,pix_fmt,avg_frame_rate,r_frame_rate,nb_frames,duration,codec_name',
    '-show_entries', 'format=duration',
    // The pixel-format table gives the real bit depth of whatever pix_fmt the
    // stream has, so no list of format names is kept here; it rides on the same
    // ffprobe run. Not `component=bit_depth`: "component" also names a section
    // under frames, and asking for it makes ffprobe decode the whole file.
    '-show_entries', 'pixel_format=name:pixel_format_components',
    '-of', 'json',
    ...inputArgs,
    file,
  ];
}

/**
 * Probes `file` with ffprobe. Throws InputError when the file is missing, is not
 * a video, has no video stream or one that ffmpeg cannot decode.
 */
export async function probeVideo(file: string, ffprobePath: string): Promise<VideoProbe> {
  await assertReadableFile(file);
  // Absolute, so that a name starting with "-" is not taken for an option.
  const run = await runCapture(ffprobePath, probeArgs(path.resolve(file)));
  return parseProbe(file, ffprobePath, run, 'not a readable video');
}

/**
 * Probes a live input (a URL, or a device with its demuxer options in
 * `inputArgs`). ffprobe is killed after `timeoutMs`: a stream that never
 * answers must not hang the caller.
 */
export async function probeStream(input: string, inputArgs: readonly string[], ffprobePath: string, timeoutMs: number): Promise<VideoProbe> {
  const run = await runCapture(ffprobePath, probeArgs(input, inputArgs), timeoutMs);
  if (run.timedOut) throw new InputError(`${input}: no answer within ${timeoutMs / 1000} s (option ffmpeg.timeout)`);
  return parseProbe(input, ffprobePath, { ...run, stderr: withoutContext(run.stderr.trimStart()) }, 'cannot be opened');
}

function parseProbe(file: string, ffprobePath: string, run: Captured, failure: string): VideoProbe {
  if (run.error) throw new InputError(`option ffmpeg.probePath: cannot run ${ffprobePath}: ${run.error.message}`);
  if (run.code !== 0) {
    const why = firstLine(run.stderr) || `ffprobe exited with ${run.signal ?? `code ${run.code}`}`;
    throw new InputError(`${file}: ${failure}: ${why}`);
  }
  let json: ProbeJson;
  try {
    json = JSON.parse(run.stdout) as ProbeJson;
  } catch {
    throw new InputError(`${file}: ffprobe gave unreadable output (${firstLine(run.stderr) || 'not JSON'})`);
  }
  const s = json.streams?.[0];
  if (!s) throw new InputError(`${file}: no video stream`);
  const codec = s.codec_name ?? 'unknown';
  if (!s.width || !s.height || !s.pix_fmt) {
    throw new InputError(`${file}: video stream cannot be decoded (codec ${codec}, no pixel format or size)`);
  }
  const fps = parseRate(s.avg_frame_rate) ?? parseRate(s.r_frame_rate);
  const nb = Number(s.nb_frames);
  let frameCount: number | undefined;
  let frameCountEstimated = false;
  if (Number.isInteger(nb) && nb > 0) {
    frameCount = nb;
  } else {
    const duration = Number(s.duration ?? json.format?.duration);
    if (fps !== undefined && Number.isFinite(duration) && duration > 0) {
      frameCount = Math.round(duration * fps);
      frameCountEstimated = true;
    }
  }
  return {
    width: s.width,
    height: s.height,
    pixFmt: s.pix_fmt,
    bitsPerComponent: bitDepthOf(s.pix_fmt, json.pixel_formats),
    fps,
    frameCount,
    frameCountEstimated,
    codec,
  };
}

async function assertReadableFile(file: string): Promise<void> {
  try {
    const st = await stat(file);
    if (st.isDirectory()) throw new InputError(`${file}: is a directory, not a video file`);
    await access(file, fsConstants.R_OK);
  } catch (err) {
    if (err instanceof InputError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new InputError(code === 'ENOENT' ? `${file}: no such file` : `${file}: cannot read (${code ?? String(err)})`);
  }
}

/** "24000/1001" → 23.976…; "0/0" (unknown) → undefined. */
function parseRate(rate: string | undefined): number | undefined {
  if (!rate) return undefined;
  const [n, d = '1'] = rate.split('/');
  const v = Number(n) / Number(d);
  return Number.isFinite(v) && v > 0 ? v : undefined;
}

function bitDepthOf(pixFmt: string, table: ProbeJson['pixel_formats']): number {
  const entry = table?.find((p) => p.name === pixFmt);
  const depths = (entry?.components ?? []).map((c) => c.bit_depth ?? 0);
  if (depths.length > 0) return Math.max(...depths);
  // Only for an ffprobe that did not print the table: ffmpeg's naming puts the
  // depth before the byte order (yuv420p10le, gray12be, p010le), and 48/64-bit
  // packed RGB formats have 16-bit components.
  const m = /(9|1[0-6])[lb]e$/.exec(pixFmt) ?? /p0(1[0-6])[lb]e$/.exec(pixFmt);
  if (m) return Number(m[1]);
  if (/(48|64)[lb]e$/.test(pixFmt)) return 16;
  return 8;
}

/** First non-blank line of a tool's stderr, trimmed and capped in length. */
export function firstLine(text: string): string {
  const line = text.split(/\r?\n/).find((l) => l.trim() !== '') ?? '';
  const t = line.trim();
  return t.length > 300 ? `${t.slice(0, 300)}…` : t;
}

/** An ffmpeg log line without its "[tcp @ 0x55d1c…] " context prefix, which means nothing to a user. */
export function withoutContext(line: string): string {
  return line.replace(/^\[[^\]]* @ 0x[0-9a-f]+\] /i, '');
}

interface Captured {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  error?: Error;
  /** Killed because it ran longer than the caller allowed. */
  timedOut?: boolean;
}

function runCapture(cmd: string, args: string[], timeoutMs?: number): Promise<Captured> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let timedOut = false;
    const timer =
      timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            child.kill('SIGKILL');
          }, timeoutMs);
    const out: Buffer[] = [];
    let err = '';
    let spawnError: Error | undefined;
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => {
      // ffprobe's stderr is short with -v error; the cap only guards against a runaway.
      if (err.length < 65536) err += c.toString('utf8');
    });
    let settled = false;
    const settle = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: err, error: spawnError, timedOut });
    };
    // Node documents that 'exit'/'close' may not follow a spawn 'error'.
    child.on('error', (e) => {
      spawnError = e;
      settle(null, null);
    });
    child.on('close', settle);
  });
}
