/**
 * Cameras and network streams through ffmpeg: `v4l2:/dev/videoN`,
 * `rtsp://…`, `http(s)://…` (MJPEG, HLS). ffmpeg decodes to raw grey pixels
 * on its stdout as for video files (video.ts), but the source is live: frames
 * are handed over as they come and never wait for the consumer, and when the
 * stream drops (ffmpeg exits, or nothing arrives for ffmpeg.timeout) ffmpeg is
 * started again after an exponential backoff, for as long as the source is
 * open. See docs/ingest-live.md.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { InputError } from '../errors.js';
import type { Frame, FrameSource, HealthReporting, PixelArray, SourceHealth, SourceInfo } from './frame.js';
import { probeStream, resolveFfmpeg, resolveFfprobe, withoutContext, type VideoProbe } from './ffmpeg.js';
import { HOST_LITTLE_ENDIAN } from './imageFile.js';
import { ArrivalClock, FrameHandoff, HealthTracker, pause } from './live.js';
import { FrameAssembler, StderrLog, terminate } from './video.js';

export interface LiveStreamOptions {
  ffmpegPath?: string;
  ffprobePath?: string;
  /** v4l2 only: the camera's pixel format (`-input_format`, e.g. mjpeg, yuyv422). */
  inputFormat?: string | null;
  /** v4l2 only: `WIDTHxHEIGHT` asked of the camera (`-video_size`). */
  videoSize?: string | null;
  /** v4l2 only: frames per second asked of the camera (`-framerate`). */
  framerate?: number | null;
  rtspTransport?: 'tcp' | 'udp';
  /** Silence (no pixel data from ffmpeg) after which the stream counts as dropped; also the probe's limit. */
  timeoutMs: number;
  reconnectInitialMs: number;
  reconnectMaxMs: number;
}

/** How ffmpeg is to open a live input: demuxer options, then the input itself. */
export interface LiveInput {
  kind: 'v4l2' | 'rtsp' | 'http';
  input: string;
  args: string[];
}

const LIVE_SCHEMES = /^(rtsps?|https?):\/\//i;

/** True for the URIs this module opens. */
export function isLiveStreamUri(uri: string): boolean {
  return uri.startsWith('v4l2:') || LIVE_SCHEMES.test(uri);
}

/** The input half of ffmpeg's (and ffprobe's) command line for `uri`. */
export function liveInput(uri: string, opts: Pick<LiveStreamOptions, 'inputFormat' | 'videoSize' | 'framerate' | 'rtspTransport'> = {}): LiveInput {
  if (uri.startsWith('v4l2:')) {
    const device = uri.slice('v4l2:'.length);
    if (!device.startsWith('/')) throw new InputError(`${uri}: expected v4l2:/dev/videoN (an absolute device path)`);
    const args = ['-f', 'v4l2'];
    if (opts.inputFormat) args.push('-input_format', opts.inputFormat);
    if (opts.videoSize) {
      if (!/^[1-9]\d*x[1-9]\d*$/.test(opts.videoSize)) {
        throw new InputError(`option ffmpeg.videoSize: ${JSON.stringify(opts.videoSize)} is not allowed; expected WIDTHxHEIGHT, e.g. 640x480`);
      }
      args.push('-video_size', opts.videoSize);
    }
    if (opts.framerate) args.push('-framerate', String(opts.framerate));
    return { kind: 'v4l2', input: device, args };
  }
  if (/^rtsps?:\/\//i.test(uri)) return { kind: 'rtsp', input: uri, args: ['-rtsp_transport', opts.rtspTransport ?? 'tcp'] };
  if (/^https?:\/\//i.test(uri)) return { kind: 'http', input: uri, args: [] };
  throw new InputError(`${uri}: not a live stream (v4l2:/dev/videoN, rtsp://…, http(s)://…)`);
}

/**
 * The whole ffmpeg command line of one connection. The output size is forced
 * to the probed one so that a stream coming back at another size still cuts
 * into whole frames; `-vsync passthrough` keeps every decoded frame exactly
 * once (rawvideo output would otherwise get constant-rate duplication).
 */
export function liveDecodeArgs(input: LiveInput, pixFmt: 'gray' | 'gray16le', width: number, height: number): string[] {
  return [
    '-hide_banner', '-loglevel', 'error', '-nostdin',
    ...input.args, '-i', input.input,
    '-map', '0:v:0', '-an', '-vsync', 'passthrough', '-s', `${width}x${height}`,
    '-f', 'rawvideo', '-pix_fmt', pixFmt, '-',
  ];
}

/** Counters for diagnostics and tests. */
export interface LiveStreamStats {
  /** ffmpeg processes started (the first connection and every retry). */
  connections: number;
  frames: number;
  /** Frames dropped because nobody was iterating. */
  dropped: number;
}

interface Opened {
  ffmpeg: string;
  probe: VideoProbe;
  info: SourceInfo;
  pixFmt: 'gray' | 'gray16le';
}

/** How long ffmpeg gets to exit after SIGTERM before SIGKILL. */
const KILL_GRACE_MS = 1000;

export class LiveStreamSource implements FrameSource, HealthReporting {
  readonly input: LiveInput;
  private opening?: Promise<Opened>;
  private readonly handoff: FrameHandoff;
  private readonly healthState = new HealthTracker();
  private readonly clock = new ArrivalClock();
  private readonly abort = new AbortController();
  private supervisor?: Promise<void>;
  private current?: Connection;
  private seq = 0;
  private connections = 0;

  constructor(
    readonly uri: string,
    private readonly opts: LiveStreamOptions,
  ) {
    this.input = liveInput(uri, opts);
    if (!(opts.reconnectInitialMs > 0 && opts.reconnectMaxMs >= opts.reconnectInitialMs)) {
      throw new InputError(
        `option ffmpeg.reconnectMax: ${opts.reconnectMaxMs / 1000} is less than ffmpeg.reconnectInitial (${opts.reconnectInitialMs / 1000})`,
      );
    }
    this.handoff = new FrameHandoff();
  }

  /**
   * Finds ffmpeg and probes the stream once for its size and bit depth. A
   * stream that cannot be opened now is refused (a typo should not look like
   * an outage); once frames have flowed, drops are retried instead.
   */
  async open(): Promise<SourceInfo> {
    return (await this.opened()).info;
  }

  /** ffmpeg starts with the first iteration; leaving the loop closes the source. */
  frames(): AsyncIterable<Frame> {
    return { [Symbol.asyncIterator]: () => this.iterate() };
  }

  health(): SourceHealth {
    return this.healthState.snapshot();
  }

  get stats(): Readonly<LiveStreamStats> {
    return { connections: this.connections, frames: this.seq, dropped: this.handoff.dropped };
  }

  /** The ffmpeg process of the current connection, if one is running (diagnostics and tests). */
  get decoderPid(): number | undefined {
    return this.current?.child.pid;
  }

  /** Stops ffmpeg, waits for it to exit and ends any iteration. */
  async close(): Promise<void> {
    this.abort.abort();
    this.healthState.ended();
    this.handoff.close();
    await this.current?.stop();
    await this.supervisor;
  }

  private get closed(): boolean {
    return this.abort.signal.aborted;
  }

  private opened(): Promise<Opened> {
    this.opening ??= this.doOpen().catch((err: unknown) => {
      this.opening = undefined; // a later call may succeed (the camera was plugged in)
      throw err;
    });
    return this.opening;
  }

  private async doOpen(): Promise<Opened> {
    const [ffmpeg, ffprobe] = await Promise.all([resolveFfmpeg(this.opts.ffmpegPath), resolveFfprobe(this.opts.ffprobePath)]);
    if (this.input.kind === 'v4l2') {
      try {
        await stat(this.input.input);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        throw new InputError(`${this.uri}: ${code === 'ENOENT' ? 'no such device' : `cannot open the device (${code ?? String(err)})`}`);
      }
    }
    const probe = await probeStream(this.input.input, this.input.args, ffprobe, this.opts.timeoutMs);
    const sixteen = probe.bitsPerComponent > 8;
    // No fps: frames come on the camera's clock, and a nominal rate would make the pipeline pace its pulls.
    const info: SourceInfo = { uri: this.uri, width: probe.width, height: probe.height, channels: 1, dtype: sixteen ? 'uint16' : 'uint8', live: true };
    return { ffmpeg, probe, info, pixFmt: sixteen ? 'gray16le' : 'gray' };
  }

  private async *iterate(): AsyncGenerator<Frame, void, undefined> {
    if (this.closed) return;
    if (this.supervisor) throw new Error(`LiveStreamSource(${this.uri}): frames() is already being iterated`);
    const opened = await this.opened();
    if (this.closed) return;
    this.supervisor = this.supervise(opened);
    try {
      yield* this.handoff.frames();
    } finally {
      await this.close();
    }
  }

  /** One ffmpeg after another until closed; the wait between them doubles while connections fail. */
  private async supervise(opened: Opened): Promise<void> {
    let backoff = this.opts.reconnectInitialMs;
    while (!this.closed) {
      this.connections++;
      const conn = new Connection(opened, this.input, this.opts.timeoutMs, (data) => this.deliver(opened.info, data));
      this.current = conn;
      const end = await conn.ended;
      this.current = undefined;
      if (this.closed) return;
      this.healthState.lost(`${this.uri}: ${end.why}`, 'reconnecting');
      if (end.frames > 0) backoff = this.opts.reconnectInitialMs;
      await pause(backoff, this.abort.signal);
      backoff = Math.min(backoff * 2, this.opts.reconnectMaxMs);
    }
  }

  private deliver(info: SourceInfo, data: PixelArray): void {
    this.healthState.connected();
    this.handoff.push({ seq: this.seq++, t: this.clock.now(), width: info.width, height: info.height, channels: 1, data });
  }
}

/** One ffmpeg process: frames out as they are cut, and why it ended. */
class Connection {
  readonly child: ChildProcessByStdio<null, Readable, Readable>;
  /** Resolves once ffmpeg has exited (or could not start), with the reason in words. */
  readonly ended: Promise<{ why: string; frames: number }>;
  private readonly stderr = new StderrLog();
  private frames = 0;
  private watchdog?: NodeJS.Timeout;
  private silent = false;
  private stopping?: Promise<void>;

  constructor(
    opened: Opened,
    private readonly input: LiveInput,
    private readonly timeoutMs: number,
    onFrame: (data: PixelArray) => void,
  ) {
    const { width, height } = opened.info;
    const pixels = width * height;
    const sixteen = opened.pixFmt === 'gray16le';
    const assembler = new FrameAssembler(pixels * (sixteen ? 2 : 1), () => (sixteen ? new Uint16Array(pixels) : new Uint8Array(pixels)));
    this.child = spawn(opened.ffmpeg, liveDecodeArgs(input, opened.pixFmt, width, height), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.armWatchdog();
    this.child.stdout.on('data', (chunk: Buffer) => {
      this.armWatchdog();
      for (const data of assembler.push(chunk)) {
        if (!HOST_LITTLE_ENDIAN && data instanceof Uint16Array) Buffer.from(data.buffer).swap16();
        this.frames++;
        onFrame(data);
      }
    });
    this.child.stdout.on('error', () => undefined); // the exit that follows says what happened
    this.child.stderr.setEncoding('utf8');
    this.child.stderr.on('data', (text: string) => this.stderr.append(text));
    this.child.stderr.on('error', () => undefined);
    this.ended = new Promise((resolve) => {
      let settled = false;
      const settle = (why: string): void => {
        if (settled) return;
        settled = true;
        clearTimeout(this.watchdog);
        resolve({ why, frames: this.frames });
      };
      // Node documents that 'close' may not follow a spawn 'error'.
      this.child.on('error', (err) => settle(`cannot run ${opened.ffmpeg}: ${err.message}`));
      this.child.on('close', (code, signal) => settle(this.reason(code, signal)));
    });
  }

  /** Kills ffmpeg (idempotent) and resolves once it has exited. */
  stop(): Promise<void> {
    this.stopping ??= terminate(this.child, KILL_GRACE_MS);
    return this.stopping;
  }

  private armWatchdog(): void {
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => {
      this.silent = true;
      void this.stop();
    }, this.timeoutMs);
  }

  private reason(code: number | null, signal: NodeJS.Signals | null): string {
    const n = `after ${this.frames} frame${this.frames === 1 ? '' : 's'}`;
    if (this.silent) return `no data for ${this.timeoutMs / 1000} s ${n} (option ffmpeg.timeout)`;
    // ffmpeg names the input first ("http://…: Connection refused"); the health line names it already.
    const said = withoutContext(this.stderr.lastLine).replace(`${this.input.input}: `, '');
    if (said) return `ffmpeg stopped ${n}: ${said}`;
    if (code === 0) return `stream ended ${n}`;
    return `ffmpeg ${signal ? `was killed by ${signal}` : `exited with code ${code}`} ${n}`;
  }
}
