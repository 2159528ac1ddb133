/**
 * Live streams through the real ffmpeg, without a camera: an MJPEG stream
 * (multipart/x-mixed-replace, JPEGs made by ffmpeg at the start) served by an
 * HTTP server in this process, cut off mid-stream and brought back. The source
 * must reconnect by itself, say so through health(), and keep seq increasing.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/schema.js';
import { resolveFfmpeg } from '../../src/ingest/ffmpeg.js';
import type { Frame } from '../../src/ingest/frame.js';
import { liveDecodeArgs, liveInput, LiveStreamSource } from '../../src/ingest/liveStream.js';
import { expectInputError, expectInputErrorSync } from '../helpers/errors.js';
import { tempDir } from '../helpers/imageWriters.js';
import { configWith, MjpegServer, openAs, ownsBuffer, pidAlive, pullFrames, waitUntil, within } from './liveHelpers.js';

const W = 64;
const H = 48;
let dir: string;
let jpegs: Buffer[] = [];
/** ffmpeg's own grey decoding of each JPEG: every frame received must be one of these, whole. */
let greys: Buffer[] = [];

beforeAll(async () => {
  dir = tempDir();
  const ffmpeg = await resolveFfmpeg();
  const made = spawnSync(
    ffmpeg,
    ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', `testsrc=size=${W}x${H}:rate=10`, '-frames:v', '8', '-q:v', '3', path.join(dir, 'f%02d.jpg')],
    { encoding: 'utf8' },
  );
  if (made.status !== 0) throw new Error(`making the JPEG frames failed: ${made.stderr}`);
  jpegs = fs.readdirSync(dir).filter((n) => n.endsWith('.jpg')).sort().map((n) => fs.readFileSync(path.join(dir, n)));
  greys = jpegs.map((jpg) => {
    const r = spawnSync(ffmpeg, ['-hide_banner', '-loglevel', 'error', '-f', 'jpeg_pipe', '-i', '-', '-f', 'rawvideo', '-pix_fmt', 'gray', '-'], { input: jpg });
    if (r.status !== 0 || r.stdout.length !== W * H) throw new Error(`decoding a JPEG to grey failed: ${r.stderr.toString()}`);
    return r.stdout;
  });
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const servers: MjpegServer[] = [];
const sources: LiveStreamSource[] = [];

afterEach(async () => {
  await Promise.all(sources.splice(0).map((s) => s.close()));
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

function config(ffmpeg: Partial<Config['ffmpeg']> = {}): Config {
  return configWith('ffmpeg', { reconnectInitial: 0.1, reconnectMax: 0.4, timeout: 10, ...ffmpeg });
}

function live(uri: string, cfg = config()): LiveStreamSource {
  return openAs(LiveStreamSource, uri, cfg, sources);
}

function expectWholeFrame(f: Frame): void {
  expect([f.width, f.height, f.channels]).toEqual([W, H, 1]);
  expect(f.data).toBeInstanceOf(Uint8Array);
  expect(ownsBuffer(f)).toBe(true);
  const bytes = Buffer.from(f.data.buffer);
  expect(greys.some((g) => g.equals(bytes)), `frame ${f.seq} is not one of the JPEGs, whole`).toBe(true);
}

describe('http:// MJPEG through ffmpeg', () => {
  it('receives frames, survives the server going away, reconnects with backoff and carries on with seq increasing', async () => {
    const server = new MjpegServer(jpegs);
    servers.push(server);
    const port = await server.start();
    const src = live(`http://127.0.0.1:${port}/stream.mjpg`);
    const info = await within(src.open(), 30_000, 'open() probing the stream');
    expect(info).toEqual({ uri: `http://127.0.0.1:${port}/stream.mjpg`, width: W, height: H, channels: 1, dtype: 'uint8', live: true });
    expect(src.health().state).toBe('waiting');

    const puller = pullFrames(src);
    let last = -1;
    for (let i = 0; i < 5; i++) {
      const f = await puller.next(`frame ${i} before the outage`, 30_000);
      expect(f.seq).toBeGreaterThan(last);
      last = f.seq;
      expectWholeFrame(f);
    }
    expect(src.health()).toMatchObject({ state: 'connected', reconnects: 0, lastError: null });
    const firstPid = src.decoderPid as number;
    expect(firstPid).toBeGreaterThan(0);

    await server.stop();
    await waitUntil(() => src.health().state === 'reconnecting', () => JSON.stringify(src.health()));
    expect(src.health().lastError).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${port}/stream\\.mjpg: `));
    // Two more attempts fail against the closed port (the backoff at work) before the camera is back.
    const attempts = src.stats.connections;
    await waitUntil(() => src.stats.connections >= attempts + 2, () => `connections ${src.stats.connections}, ${JSON.stringify(src.health())}`);
    expect(pidAlive(firstPid)).toBe(false);

    const again = new MjpegServer(jpegs);
    servers.push(again);
    await again.start(port);
    await waitUntil(() => src.health().state === 'connected', () => JSON.stringify(src.health()), 30_000);
    const h = src.health();
    expect(h.reconnects).toBeGreaterThanOrEqual(1);
    expect(h.outageMs).toBeGreaterThan(0);
    for (let i = 0; i < 5; i++) {
      const f = await puller.next(`frame ${i} after reconnecting`, 30_000);
      expect(f.seq).toBeGreaterThan(last);
      last = f.seq;
      expectWholeFrame(f);
    }
    expect(again.clients).toBeGreaterThanOrEqual(1);

    const pid = src.decoderPid as number;
    await src.close();
    expect(src.health().state).toBe('ended');
    expect(src.decoderPid).toBeUndefined();
    expect(pidAlive(pid)).toBe(false);
    await expect(puller.next('a frame after close', 5000)).rejects.toThrow(/the source ended/);
  });

  it('a stream that stalls (connected, no data) counts as dropped after ffmpeg.timeout', async () => {
    const server = new MjpegServer(jpegs);
    servers.push(server);
    const port = await server.start();
    const src = live(`http://127.0.0.1:${port}/stream.mjpg`, config({ timeout: 1 }));
    await within(src.open(), 30_000, 'open()');
    const puller = pullFrames(src);
    await puller.next('a first frame', 30_000);
    // Freeze every stream without closing it: the connection stays up, nothing flows.
    (server as unknown as { timers: Set<NodeJS.Timeout> }).timers.forEach((t) => clearInterval(t));
    await waitUntil(() => src.health().state === 'reconnecting', () => JSON.stringify(src.health()), 30_000);
    expect(src.health().lastError).toMatch(/no data for 1 s after \d+ frames? \(option ffmpeg\.timeout\)$/);
    // The server still answers new connections, so the source comes back by itself.
    await waitUntil(() => src.health().state === 'connected', () => JSON.stringify(src.health()), 30_000);
    expect(src.health().reconnects).toBeGreaterThanOrEqual(1);
  });

  it('a stream that cannot be opened at all is refused at open() with one line', async () => {
    const server = new MjpegServer(jpegs);
    servers.push(server);
    const port = await server.start();
    await server.stop();
    const uri = `http://127.0.0.1:${port}/stream.mjpg`;
    await expectInputError(live(uri).open(), uri, /cannot be opened: .*(refused|Connection)/i);
  });
});

describe('live inputs: command lines and refusals', () => {
  it('v4l2 takes the camera options; rtsp its transport; http nothing extra', () => {
    expect(liveInput('v4l2:/dev/video2', { inputFormat: 'mjpeg', videoSize: '1280x720', framerate: 30 })).toEqual({
      kind: 'v4l2',
      input: '/dev/video2',
      args: ['-f', 'v4l2', '-input_format', 'mjpeg', '-video_size', '1280x720', '-framerate', '30'],
    });
    expect(liveInput('rtsp://cam.local/stream1', { rtspTransport: 'udp' })).toEqual({ kind: 'rtsp', input: 'rtsp://cam.local/stream1', args: ['-rtsp_transport', 'udp'] });
    expect(liveInput('https://example.org/live.m3u8')).toEqual({ kind: 'http', input: 'https://example.org/live.m3u8', args: [] });
    const args = liveDecodeArgs(liveInput('v4l2:/dev/video0'), 'gray', 640, 480);
    expect(args.join(' ')).toBe(
      '-hide_banner -loglevel error -nostdin -f v4l2 -i /dev/video0 -map 0:v:0 -an -vsync passthrough -s 640x480 -f rawvideo -pix_fmt gray -',
    );
  });

  it('refuses a bad video size, a relative device and a missing device', async () => {
    expectInputErrorSync(() => liveInput('v4l2:/dev/video0', { videoSize: '640*480' }), 'option ffmpeg.videoSize', /expected WIDTHxHEIGHT/);
    expectInputErrorSync(() => live('v4l2:video0'), 'v4l2:video0', /expected v4l2:\/dev\/videoN/);
    await expectInputError(live('v4l2:/dev/video-none-here').open(), 'v4l2:/dev/video-none-here', /no such device/);
  });

  it('refuses a reconnect ceiling below the first wait', () => {
    expectInputErrorSync(() => live('http://127.0.0.1:1/x', config({ reconnectInitial: 2, reconnectMax: 1 })), 'option ffmpeg.reconnectMax', /less than ffmpeg\.reconnectInitial/);
  });
});
