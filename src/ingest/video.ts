/**
 * Video files as a FrameSource: ffmpeg decodes to raw grey pixels on its
 * stdout, which is cut into frames here. Replay is lossless, so a slow
 * consumer pauses the pipe (and through it ffmpeg) instead of losing frames.
 * See docs/ingest-video.md.
 */
import { spawn, type ChildProcess, type ChildProcessByStdio } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { InputError } from '../errors.js';
import type { Frame, FrameSource, PixelArray, SourceInfo } from './frame.js';
import { firstLine, probeVideo, resolveFfmpeg, resolveFfprobe, type VideoProbe } from './ffmpeg.js';

export interface VideoSourceOptions {
  /** ffmpeg binary (default: `ffmpeg` on PATH, then `@ffmpeg-installer/ffmpeg` if installed). */
  ffmpegPath?: string;
  /** ffprobe binary (default: `ffprobe` on PATH, then `@ffprobe-installer/ffprobe` if installed). */
  ffprobePath?: string;
  /** 'auto' (default): 16-bit output only for sources with more than 8 bits per component. */
  bitDepth?: 8 | 16 | 'auto';
  /** Only 1: colour video is reduced to its luminance. */
  channels?: 1;
  /** Decoded frames held for the consumer before ffmpeg is paused (default 4). */
  highWaterMark?: number;
}

/** Counters for diagnostics and tests. */
export interface VideoSourceStats {
  /** Frames handed to the consumer by the current or last iteration. */
  delivered: number;
  /** Times ffmpeg's stdout was paused because the consumer fell behind. */
  pauses: number;
  /** Most frames ever waiting in the queue at once. */
  maxQueued: number;
}

type RawPixFmt = 'gray' | 'gray16le';

/** The ffmpeg arguments that decode `file`'s first video stream to raw grey pixels on stdout. */
export function decodeArgs(file: string, pixFmt: RawPixFmt): string[] {
  return ['-hide_banner', '-loglevel', 'error', '-nostdin', '-i', file, '-map', '0:v:0', '-f', 'rawvideo', '-pix_fmt', pixFmt, '-'];
}

const HOST_BIG_ENDIAN = os.endianness() === 'BE';
/** How long ffmpeg gets to exit after SIGTERM before SIGKILL. */
const KILL_GRACE_MS = 1000;

export class VideoSource implements FrameSource {
  private readonly opts: VideoSourceOptions;
  private opening?: Promise<Opened>;
  private openedValue?: Opened;
  /** Set for the whole of an iteration, including the open() it may await. */
  private iterating = false;
  private active?: Decoder;
  private closed = false;
  private lastChild?: ChildProcess;
  private readonly counters: VideoSourceStats = { delivered: 0, pauses: 0, maxQueued: 0 };

  constructor(
    readonly path: string,
    opts: VideoSourceOptions = {},
  ) {
    if (opts.channels !== undefined && opts.channels !== 1) {
      throw new InputError(`channels: ${String(opts.channels)} is not supported for video files (allowed: 1; colour is reduced to luminance)`);
    }
    if (opts.bitDepth !== undefined && opts.bitDepth !== 8 && opts.bitDepth !== 16 && opts.bitDepth !== 'auto') {
      throw new InputError(`bitDepth: ${String(opts.bitDepth)} is not allowed (allowed: 8, 16, auto)`);
    }
    const hwm = opts.highWaterMark;
    if (hwm !== undefined && !(Number.isInteger(hwm) && hwm >= 1)) {
      throw new InputError(`highWaterMark: ${String(hwm)} is not allowed (a whole number >= 1)`);
    }
    this.opts = opts;
  }

  /**
   * Resolves the binaries and probes the file; safe to call more than once.
   * `frameCount` may be an estimate (duration·fps) for containers that store
   * no count, such as Matroska: `probe.frameCountEstimated` says which.
   */
  async open(): Promise<SourceInfo> {
    return (await this.ensureOpen()).info;
  }

  /** What ffprobe reported, once `open()` has succeeded. */
  get probe(): VideoProbe | undefined {
    return this.openedValue?.probe;
  }

  get stats(): Readonly<VideoSourceStats> {
    return this.counters;
  }

  /** The ffmpeg process of the current or last iteration (diagnostics and tests). */
  get decoderProcess(): ChildProcess | undefined {
    return this.lastChild;
  }

  /**
   * Each iteration starts its own ffmpeg at the first frame. Leaving the loop
   * early (break, throw) kills that ffmpeg before the loop statement completes.
   */
  frames(): AsyncIterable<Frame> {
    return { [Symbol.asyncIterator]: () => this.iterate() };
  }

  /**
   * Stops any running ffmpeg and waits until it has exited. A running iteration
   * then ends without error, and later ones yield nothing.
   */
  async close(): Promise<void> {
    this.closed = true;
    await this.active?.stop();
  }

  private ensureOpen(): Promise<Opened> {
    if (!this.opening) {
      this.opening = this.doOpen().then(
        (o) => (this.openedValue = o),
        (err: unknown) => {
          this.opening = undefined; // a later call may succeed (e.g. the file appeared)
          throw err;
        },
      );
    }
    return this.opening;
  }

  private async doOpen(): Promise<Opened> {
    const [ffmpeg, ffprobe] = await Promise.all([resolveFfmpeg(this.opts.ffmpegPath), resolveFfprobe(this.opts.ffprobePath)]);
    const probe = await probeVideo(this.path, ffprobe);
    const want = this.opts.bitDepth ?? 'auto';
    const sixteen = want === 16 || (want === 'auto' && probe.bitsPerComponent > 8);
    const info: SourceInfo = {
      uri: this.path,
      width: probe.width,
      height: probe.height,
      channels: 1,
      dtype: sixteen ? 'uint16' : 'uint8',
      fps: probe.fps,
      frameCount: probe.frameCount,
      live: false,
    };
    return { ffmpeg, probe, info, pixFmt: sixteen ? 'gray16le' : 'gray' };
  }

  private async *iterate(): AsyncGenerator<Frame, void, undefined> {
    if (this.closed) return;
    if (this.iterating) throw new Error(`VideoSource(${this.path}): frames() is already being iterated`);
    this.iterating = true;
    try {
      const opened = await this.ensureOpen();
      if (this.closed) return;
      const stats = this.counters;
      stats.delivered = 0;
      stats.pauses = 0;
      stats.maxQueued = 0;
      const decoder = new Decoder(this.path, opened, this.opts.highWaterMark ?? 4, stats);
      this.active = decoder;
      this.lastChild = decoder.child;
      try {
        for (;;) {
          const frame = await decoder.next();
          if (!frame) return;
          stats.delivered++;
          yield frame;
        }
      } finally {
        await decoder.stop();
        this.active = undefined;
      }
    } finally {
      this.iterating = false;
    }
  }
}

interface Opened {
  ffmpeg: string;
  probe: VideoProbe;
  info: SourceInfo;
  pixFmt: RawPixFmt;
}

/**
 * Cuts a byte stream into fixed-size frames whatever the chunking. Each frame
 * gets its own freshly allocated typed array (the consumer may keep it, or
 * transfer its buffer to a worker), allocated as the final element type so a
 * Uint16Array is always aligned; bytes are copied in with `TypedArray.set`.
 */
export class FrameAssembler {
  private current?: PixelArray;
  private bytes?: Uint8Array;
  private filled = 0;

  constructor(
    readonly frameBytes: number,
    private readonly alloc: () => PixelArray,
  ) {
    if (!(frameBytes > 0)) throw new RangeError(`frameBytes must be positive, got ${frameBytes}`);
  }

  /** Appends a chunk; returns the frames it completed, in order. */
  push(chunk: Uint8Array): PixelArray[] {
    const done: PixelArray[] = [];
    let pos = 0;
    while (pos < chunk.length) {
      if (!this.current || !this.bytes) {
        this.current = this.alloc();
        this.bytes = new Uint8Array(this.current.buffer, this.current.byteOffset, this.current.byteLength);
        if (this.bytes.length !== this.frameBytes) throw new RangeError('alloc() returned the wrong size');
        this.filled = 0;
      }
      const n = Math.min(this.frameBytes - this.filled, chunk.length - pos);
      this.bytes.set(chunk.subarray(pos, pos + n), this.filled);
      this.filled += n;
      pos += n;
      if (this.filled === this.frameBytes) {
        done.push(this.current);
        this.current = undefined;
        this.bytes = undefined;
      }
    }
    return done;
  }

  /** Bytes of an unfinished frame (non-zero at the end of the stream means it was cut). */
  get partialBytes(): number {
    return this.current ? this.filled : 0;
  }
}

/** Keeps the first line and the last ~4 KB of a process's stderr, however much it writes. */
export class StderrLog {
  private head = '';
  private tail = '';
  static readonly LIMIT = 4096;

  append(text: string): void {
    if (this.head.length < StderrLog.LIMIT) this.head = (this.head + text).slice(0, StderrLog.LIMIT);
    this.tail = (this.tail + text).slice(-StderrLog.LIMIT);
  }

  get firstLine(): string {
    return firstLine(this.head);
  }

  /** The last non-blank line: why a long-running process stopped, rather than its first complaint. */
  get lastLine(): string {
    return firstLine(this.tail.split(/\r?\n/).filter((l) => l.trim() !== '').pop() ?? '');
  }

  get empty(): boolean {
    return this.head.trim() === '';
  }
}

/** One ffmpeg run: its process, the frames it has produced and how it ended. */
class Decoder {
  readonly child: ChildProcessByStdio<null, Readable, Readable>;
  private readonly queue: Frame[] = [];
  private readonly assembler: FrameAssembler;
  private readonly stderr = new StderrLog();
  private readonly lowWater: number;
  private paused = false;
  private produced = 0;
  private ended?: { code: number | null; signal: NodeJS.Signals | null };
  private failure?: Error;
  private stopping?: Promise<void>;
  private wake?: () => void;

  constructor(
    private readonly file: string,
    private readonly opened: Opened,
    private readonly highWater: number,
    private readonly stats: VideoSourceStats,
  ) {
    const { probe, pixFmt } = opened;
    const pixels = probe.width * probe.height;
    const sixteen = pixFmt === 'gray16le';
    this.assembler = new FrameAssembler(pixels * (sixteen ? 2 : 1), () => (sixteen ? new Uint16Array(pixels) : new Uint8Array(pixels)));
    // Resume well below the pause mark so that a consumer just keeping pace
    // does not toggle the pipe on every frame.
    this.lowWater = Math.floor(highWater / 2);
    this.child = spawn(opened.ffmpeg, decodeArgs(path.resolve(file), pixFmt), { stdio: ['ignore', 'pipe', 'pipe'] });
    const { stdout, stderr } = this.child;
    stdout.on('data', (chunk: Buffer) => this.onData(chunk));
    stdout.on('error', (err) => this.fail(new InputError(`${file}: reading ffmpeg's output failed: ${err.message}`)));
    stderr.setEncoding('utf8');
    stderr.on('data', (text: string) => this.stderr.append(text));
    stderr.on('error', () => undefined); // stderr is diagnostic only
    this.child.on('error', (err) => this.fail(new InputError(`option ffmpeg.path: cannot run ${opened.ffmpeg}: ${err.message}`)));
    // 'close' (not 'exit'): every byte of stdout has been emitted by then.
    this.child.on('close', (code, signal) => {
      this.ended = { code, signal };
      this.notify();
    });
  }

  /** The next frame, undefined at a clean end; throws InputError when the decode failed. */
  async next(): Promise<Frame | undefined> {
    for (;;) {
      if (this.stopping) return undefined;
      const frame = this.queue.shift();
      if (frame) {
        if (this.paused && this.queue.length <= this.lowWater) this.resume();
        return frame;
      }
      if (this.failure) throw this.failure;
      if (this.ended) return this.finish(this.ended);
      if (this.paused) this.resume(); // never wait on a pipe we paused ourselves
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  /** Kills ffmpeg (idempotent) and resolves once it has exited and been reaped. */
  stop(): Promise<void> {
    this.stopping ??= terminate(this.child, KILL_GRACE_MS);
    this.notify();
    return this.stopping;
  }

  private onData(chunk: Buffer): void {
    const { fps } = this.opened.probe;
    for (const data of this.assembler.push(chunk)) {
      if (HOST_BIG_ENDIAN && data instanceof Uint16Array) Buffer.from(data.buffer, data.byteOffset, data.byteLength).swap16();
      const seq = this.produced++;
      // Without a stated rate there is no clock: t is then the frame index.
      const t = fps ? (seq * 1000) / fps : seq;
      this.queue.push({ seq, t, width: this.opened.probe.width, height: this.opened.probe.height, channels: 1, data });
    }
    if (this.queue.length > this.stats.maxQueued) this.stats.maxQueued = this.queue.length;
    if (!this.paused && this.queue.length >= this.highWater) {
      this.paused = true;
      this.stats.pauses++;
      this.child.stdout.pause();
    }
    this.notify();
  }

  private resume(): void {
    this.paused = false;
    this.child.stdout.resume();
  }

  private fail(err: Error): void {
    this.failure ??= err;
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** Decides, once ffmpeg has exited and every frame was taken, whether that was a clean end. */
  private finish({ code, signal }: { code: number | null; signal: NodeJS.Signals | null }): undefined {
    const n = this.produced;
    const said = this.stderr.firstLine;
    const suffix = said ? `: ${said}` : '';
    if (code !== 0) {
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      throw new InputError(`${this.file}: ffmpeg ${how} after ${n} frame${n === 1 ? '' : 's'}${suffix}`);
    }
    const partial = this.assembler.partialBytes;
    if (partial > 0) {
      throw new InputError(
        `${this.file}: video ended mid-frame after ${n} frame${n === 1 ? '' : 's'} (${partial} of ${this.assembler.frameBytes} bytes of the next)${suffix}`,
      );
    }
    // ffmpeg exits 0 on a truncated file after logging an error: report it when
    // frames are missing, but not for the harmless errors some streams log.
    const { frameCount, frameCountEstimated } = this.opened.probe;
    if (!this.stderr.empty && frameCount !== undefined) {
      const missing = frameCount - n;
      if (missing > (frameCountEstimated ? 1 : 0)) {
        throw new InputError(`${this.file}: ffmpeg stopped after ${n} of ${frameCountEstimated ? '~' : ''}${frameCount} frames${suffix}`);
      }
    }
    return undefined;
  }
}

/**
 * Ends `child` and resolves when it has exited (Node reaps it then, so no
 * zombie is left). stdin is /dev/null already (-nostdin), so the polite signal
 * is SIGTERM; destroying our end of stdout first turns a write that is blocked
 * on the paused pipe into EPIPE, so ffmpeg notices at once. SIGKILL follows if
 * it is still there after `graceMs`.
 */
export async function terminate(child: ChildProcess, graceMs: number): Promise<void> {
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  child.stdout?.destroy();
  child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(true), graceMs);
  });
  const stillRunning = await Promise.race([exited.then(() => false), timedOut]);
  clearTimeout(timer);
  if (stillRunning) {
    child.kill('SIGKILL');
    await exited;
  }
}
