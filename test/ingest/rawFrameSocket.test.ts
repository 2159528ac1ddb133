/**
 * The raw-frame socket (tcp://) over real loopback sockets: valid streams end
 * to end through openSource(), every malformed case refused with its ERR line
 * (and a valid stream working afterwards on the same listener), one sender at
 * a time, health(), and the Python example client when numpy is available.
 * Headers are built here field by field from docs/ingest-tcp.md, not with the
 * module's own encoder, so the wire layout itself is under test.
 */
import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/schema.js';
import type { Dtype, Frame, PixelArray } from '../../src/ingest/frame.js';
import {
  encodeRawHeader, parseTcpUri, RAW_HEADER_BYTES, RawFrameReader, RawFrameSocketSource, type RawFrameHeader,
} from '../../src/ingest/rawFrameSocket.js';
import { expectInputError, expectInputErrorSync } from '../helpers/errors.js';
import { REPO } from '../helpers/cli.js';
import { configWith, openAs, ownsBuffer, pullFrames, sameBytes, waitUntil, within, type FramePuller } from './liveHelpers.js';

const CODES: Record<Dtype, number> = { uint8: 1, uint16: 2, float32: 3 };

interface HeaderFields {
  magic?: string;
  version?: number;
  dtype?: number;
  width: number;
  height: number;
  channels: number;
  t?: number;
  payload?: number | bigint;
}

/** docs/ingest-tcp.md, offset by offset. */
function header(h: HeaderFields): Buffer {
  const b = Buffer.alloc(40);
  b.write(h.magic ?? 'SSFR', 0, 'latin1');
  b.writeUInt16LE(h.version ?? 1, 4);
  b.writeUInt8(h.dtype ?? 2, 6);
  b.writeUInt32LE(h.width, 8);
  b.writeUInt32LE(h.height, 12);
  b.writeUInt32LE(h.channels, 16);
  b.writeDoubleLE(h.t ?? NaN, 24);
  b.writeBigUInt64LE(BigInt(h.payload ?? 0), 32);
  return b;
}

function pixels(dtype: Dtype, n: number, seed: number): PixelArray {
  const a = dtype === 'uint8' ? new Uint8Array(n) : dtype === 'uint16' ? new Uint16Array(n) : new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = dtype === 'float32' ? (i * 0.37 - 50) * (seed + 1) : (i * 7 + seed * 131) % (dtype === 'uint8' ? 256 : 65536);
  if (dtype === 'float32' && n > 2) {
    a[0] = NaN;
    a[1] = -0;
  }
  return a;
}

function frameMessage(dtype: Dtype, width: number, height: number, channels: number, data: PixelArray, t = NaN): Buffer {
  const payload = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.concat([header({ dtype: CODES[dtype], width, height, channels, t, payload: payload.length }), payload]);
}

const sources: RawFrameSocketSource[] = [];
const sockets: net.Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(sources.splice(0).map((s) => s.close()));
});

function config(tcp: Partial<Config['tcp']> = {}): Config {
  return configWith('tcp', tcp);
}

async function listen(cfg = config(), query = ''): Promise<{ src: RawFrameSocketSource; port: number }> {
  const tcp = openAs(RawFrameSocketSource, `tcp://127.0.0.1:0${query}`, cfg, sources);
  const { port } = await within(tcp.listening(), 5000, 'listening');
  expect(tcp.port).toBe(port);
  return { src: tcp, port };
}

/** A client connection and everything the server says to it until it closes. */
interface Client {
  socket: net.Socket;
  /** All the server sent, once it closed the connection. */
  reply: Promise<string>;
}

async function connect(port: number): Promise<Client> {
  const socket = net.connect(port, '127.0.0.1');
  sockets.push(socket);
  socket.on('error', () => undefined); // a reset after the ERR line is expected in some cases
  let text = '';
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => (text += d));
  const reply = new Promise<string>((resolve) => socket.on('close', () => resolve(text)));
  await within(new Promise<void>((resolve) => socket.once('connect', () => resolve())), 5000, 'connecting');
  return { socket, reply };
}

function refusedWith(c: Client, what: string): Promise<string> {
  return within(c.reply, 15_000, `server closing the connection after ${what}`);
}

function checkFrame(f: Frame, seq: number, w: number, h: number, channels: number, data: PixelArray, t?: number): void {
  expect(f.seq).toBe(seq);
  expect([f.width, f.height, f.channels]).toEqual([w, h, channels]);
  expect(sameBytes(f.data, data)).toBe(true);
  expect(ownsBuffer(f)).toBe(true);
  if (t !== undefined) expect(f.t).toBe(t);
}

/** A sender's stream is still accepted: a fresh connection's frame arrives. */
async function validStreamStillWorks(port: number, puller: FramePuller, w: number, h: number, dtype: Dtype, seq: number): Promise<void> {
  const c = await connect(port);
  const data = pixels(dtype, w * h, 99);
  c.socket.write(frameMessage(dtype, w, h, 1, data, 1234.5));
  const f = await puller.next('a valid frame after a refused connection');
  checkFrame(f, seq, w, h, 1, data, 1234.5);
  c.socket.end();
  expect(await refusedWith(c, 'a clean end')).toBe('');
}

describe('tcp:// valid streams', () => {
  const cases: Array<[Dtype, number, number, number]> = [
    ['uint8', 64, 48, 1],
    ['uint16', 64, 48, 1],
    ['float32', 33, 17, 1],
    ['uint16', 40, 30, 2],
  ];
  for (const [dtype, w, h, c] of cases) {
    it(`${dtype}, ${c} channel${c > 1 ? 's' : ''}: open() resolves on the first header, frames arrive intact with the sender's timestamps`, async () => {
      const { src, port } = await listen();
      const opening = src.open();
      expect(src.health().state).toBe('waiting');
      const client = await connect(port);
      const frames = [0, 1, 2].map((k) => pixels(dtype, w * h * c, k));
      const bytes = Buffer.concat(frames.map((d, k) => frameMessage(dtype, w, h, c, d, 100 + k * 33.25)));
      // The header of frame 0 alone first, then the rest split at awkward places.
      client.socket.write(bytes.subarray(0, RAW_HEADER_BYTES));
      const info = await within(opening, 10_000, 'open() after the first header');
      expect(info).toEqual({ uri: 'tcp://127.0.0.1:0', width: w, height: h, channels: c, dtype, live: true });
      for (const [a, b] of [[RAW_HEADER_BYTES, RAW_HEADER_BYTES + 7], [RAW_HEADER_BYTES + 7, bytes.length - 3], [bytes.length - 3, bytes.length]]) {
        client.socket.write(bytes.subarray(a, b));
      }
      const puller = pullFrames(src);
      for (let k = 0; k < 3; k++) checkFrame(await puller.next(`frame ${k}`), k, w, h, c, frames[k], 100 + k * 33.25);
      expect(src.health()).toMatchObject({ state: 'connected', reconnects: 0, lastError: null });
      client.socket.end();
      expect(await refusedWith(client, 'a clean end')).toBe('');
    });
  }

  it('a burst of small frames (many per socket read) reaches a waiting consumer without a loss', async () => {
    const { src, port } = await listen();
    const c = await connect(port);
    const sent = Array.from({ length: 200 }, (_, k) => pixels('uint8', 12, k));
    c.socket.write(Buffer.concat(sent.map((d, k) => frameMessage('uint8', 4, 3, 1, d, k))));
    await within(src.open(), 10_000, 'open');
    const puller = pullFrames(src);
    for (let k = 0; k < sent.length; k++) checkFrame(await puller.next(`frame ${k} of the burst`), k, 4, 3, 1, sent[k], k);
    expect(src.stats.dropped).toBe(0);
  });

  it('a NaN timestamp gets the arrival time (ms since open, increasing)', async () => {
    const { src, port } = await listen();
    const c = await connect(port);
    const d = pixels('uint8', 16, 1);
    c.socket.write(Buffer.concat([frameMessage('uint8', 4, 4, 1, d), frameMessage('uint8', 4, 4, 1, d)]));
    await within(src.open(), 10_000, 'open');
    const puller = pullFrames(src);
    const a = await puller.next('frame 0');
    const b = await puller.next('frame 1');
    expect(Number.isFinite(a.t) && a.t >= 0).toBe(true);
    expect(b.t).toBeGreaterThan(a.t);
  });

  it('a geometry declared in the URI opens at once and refuses other frames', async () => {
    const { src, port } = await listen(config(), '?width=8&height=4&dtype=float32');
    const info = await within(src.open(), 5000, 'open() with a declared geometry');
    expect(info).toMatchObject({ width: 8, height: 4, channels: 1, dtype: 'float32', live: true });
    const bad = await connect(port);
    bad.socket.write(frameMessage('uint16', 8, 4, 1, pixels('uint16', 32, 0)));
    expect(await refusedWith(bad, 'a uint16 frame')).toBe('ERR frame is 8×4×1 uint16 but the stream is 8×4×1 float32\n');
    const good = await connect(port);
    const d = pixels('float32', 32, 3);
    good.socket.write(frameMessage('float32', 8, 4, 1, d, 5));
    checkFrame(await pullFrames(src).next('the declared frame'), 0, 8, 4, 1, d, 5);
  });

  it('the header encoder of the module writes the documented layout', () => {
    const h = { dtype: 'uint16' as const, width: 640, height: 480, channels: 3, t: 12.5 };
    expect(encodeRawHeader(h).equals(header({ dtype: 2, width: 640, height: 480, channels: 3, t: 12.5, payload: 640 * 480 * 3 * 2 }))).toBe(true);
  });
});

describe('tcp:// refusals', () => {
  /** Opens a stream of 16×8 uint16 frames and sends one, so the geometry is fixed. */
  async function established(cfg = config()): Promise<{ src: RawFrameSocketSource; port: number; puller: FramePuller; first: Client }> {
    const { src, port } = await listen(cfg);
    const first = await connect(port);
    first.socket.write(frameMessage('uint16', 16, 8, 1, pixels('uint16', 128, 0), 0));
    await within(src.open(), 10_000, 'open');
    const puller = pullFrames(src);
    await puller.next('the first frame');
    first.socket.end();
    expect(await refusedWith(first, 'a clean end')).toBe('');
    return { src, port, puller, first };
  }

  const malformed: Array<[string, () => Buffer, RegExp]> = [
    ['garbage bytes (an HTTP request)', () => Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), /^ERR bad magic 47 45 54 20: not a scopestream frame header \(expected "SSFR"\)\n$/],
    ['a bad magic', () => header({ magic: 'SSFX', width: 16, height: 8, channels: 1, payload: 256 }), /^ERR bad magic 53 53 46 58/],
    ['another protocol version', () => header({ version: 2, width: 16, height: 8, channels: 1, payload: 256 }), /^ERR unsupported version 2 \(this receiver speaks 1\)\n$/],
    ['an unknown dtype', () => header({ dtype: 9, width: 16, height: 8, channels: 1, payload: 256 }), /^ERR unknown dtype code 9 \(1 uint8, 2 uint16, 3 float32\)\n$/],
    ['a zero width', () => header({ width: 0, height: 8, channels: 1, payload: 0 }), /^ERR width, height and channels must be at least 1, got 0×8×1 uint16\n$/],
    ['zero channels', () => header({ width: 16, height: 8, channels: 0, payload: 0 }), /^ERR width, height and channels must be at least 1/],
    ['a payload length that does not match', () => header({ width: 16, height: 8, channels: 1, payload: 255 }), /^ERR payload length 255 does not match 16×8×1 uint16 \(256 bytes\)\n$/],
    ['a 100000×100000 header', () => header({ width: 100000, height: 100000, channels: 1, payload: 2e10 }), /^ERR frame of 100000×100000×1 uint16 is 20000000000 bytes, over the limit of 268435456 \(tcp\.maxFrameBytes\)\n$/],
    ['an infinite timestamp', () => header({ width: 16, height: 8, channels: 1, t: Infinity, payload: 256 }), /^ERR timestamp must be a finite number of ms or NaN, got Infinity\n$/],
    ['a size change mid-stream', () => frameMessage('uint16', 8, 8, 1, pixels('uint16', 64, 0)), /^ERR frame is 8×8×1 uint16 but the stream is 16×8×1 uint16\n$/],
    ['a dtype change mid-stream', () => frameMessage('uint8', 16, 8, 1, pixels('uint8', 128, 0)), /^ERR frame is 16×8×1 uint8 but the stream is 16×8×1 uint16\n$/],
    ['a channel count change mid-stream', () => frameMessage('uint16', 16, 8, 2, pixels('uint16', 256, 0)), /^ERR frame is 16×8×2 uint16 but the stream is 16×8×1 uint16\n$/],
  ];
  for (const [what, bytes, message] of malformed) {
    it(`${what} is refused with its reason, and a valid stream works afterwards`, async () => {
      const { src, port, puller } = await established();
      const c = await connect(port);
      c.socket.write(bytes());
      expect(await refusedWith(c, what)).toMatch(message);
      expect(src.health().lastError).toMatch(/^tcp:\/\/127\.0\.0\.1:0: sender 127\.0\.0\.1:\d+ refused: /);
      await validStreamStillWorks(port, puller, 16, 8, 'uint16', 1);
      expect(src.stats.refused).toBe(1);
    });
  }

  it('a header over tcp.maxFrameBytes is refused before its payload is allocated', async () => {
    const { port, puller } = await established(config({ maxFrameBytes: 1 << 20 }));
    const before = process.memoryUsage().arrayBuffers;
    const c = await connect(port);
    // 64 MiB announced, and the payload follows: a receiver that allocated first would hold it all.
    c.socket.write(header({ width: 4096, height: 4096, channels: 2, payload: 4096 * 4096 * 4 }));
    for (let i = 0; i < 16 && !c.socket.destroyed; i++) c.socket.write(Buffer.alloc(1 << 16));
    expect(await refusedWith(c, 'an oversized header')).toBe(
      'ERR frame of 4096×4096×2 uint16 is 67108864 bytes, over the limit of 1048576 (tcp.maxFrameBytes)\n',
    );
    const grown = process.memoryUsage().arrayBuffers - before;
    expect(grown, `array buffers grew by ${grown} bytes`).toBeLessThan(16 << 20);
    await validStreamStillWorks(port, puller, 16, 8, 'uint16', 1);
  });

  it('a partial frame and then silence times out', async () => {
    const { port, puller } = await established(config({ timeout: 0.3 }));
    const c = await connect(port);
    const whole = frameMessage('uint16', 16, 8, 1, pixels('uint16', 128, 1));
    c.socket.write(whole.subarray(0, 100));
    expect(await refusedWith(c, 'a partial frame')).toBe('ERR timeout: 100 of 296 bytes of a frame, then nothing for 0.3 s\n');
    await validStreamStillWorks(port, puller, 16, 8, 'uint16', 1);
  });

  it('a client that connects and never sends times out', async () => {
    const { src, port } = await listen(config({ timeout: 0.3 }));
    const opening = src.open();
    const c = await connect(port);
    expect(await refusedWith(c, 'silence')).toBe('ERR timeout: nothing received for 0.3 s after connecting\n');
    // The listener is free again and open() still waits for a real sender.
    const d = pixels('uint8', 6, 2);
    const good = await connect(port);
    good.socket.write(frameMessage('uint8', 3, 2, 1, d, 7));
    await within(opening, 10_000, 'open() after a silent client');
    checkFrame(await pullFrames(src).next('the frame after a silent client'), 0, 3, 2, 1, d, 7);
  });

  it('a sender may pause between whole frames for longer than the timeout', async () => {
    const { src, port } = await listen(config({ timeout: 0.2 }));
    const c = await connect(port);
    c.socket.write(frameMessage('uint8', 2, 2, 1, pixels('uint8', 4, 0), 1));
    await within(src.open(), 10_000, 'open');
    const puller = pullFrames(src);
    await puller.next('frame 0');
    await new Promise((r) => setTimeout(r, 600));
    c.socket.write(frameMessage('uint8', 2, 2, 1, pixels('uint8', 4, 1), 2));
    expect((await puller.next('frame 1 after a pause')).t).toBe(2);
    expect(c.socket.destroyed).toBe(false);
  });

  it('one sender at a time: others are told the port is busy, and many at once break nothing', async () => {
    const { src, port } = await listen();
    const sender = await connect(port);
    sender.socket.write(frameMessage('uint8', 4, 4, 1, pixels('uint8', 16, 0), 0));
    await within(src.open(), 10_000, 'open');
    const puller = pullFrames(src);
    await puller.next('frame 0');
    const crowd = await Promise.all(Array.from({ length: 40 }, () => connect(port)));
    for (const c of crowd) c.socket.write(frameMessage('uint8', 4, 4, 1, pixels('uint8', 16, 9), 9));
    const replies = await within(Promise.all(crowd.map((c) => c.reply)), 15_000, 'the crowd refused');
    for (const r of replies) expect(r).toMatch(/^ERR busy: another sender \(127\.0\.0\.1:\d+\) is connected; one sender at a time\n$/);
    // The sender was not disturbed.
    const d = pixels('uint8', 16, 1);
    sender.socket.write(frameMessage('uint8', 4, 4, 1, d, 1));
    checkFrame(await puller.next('frame 1 from the sender'), 1, 4, 4, 1, d, 1);
    expect(src.stats).toMatchObject({ frames: 2, refused: 40 });
  });

  it('health: waiting for a sender, connected, back to waiting on a disconnect, a reconnection counted', async () => {
    const { src, port } = await listen();
    expect(src.health()).toEqual({ state: 'waiting', reconnects: 0, outageMs: 0, lastError: null });
    const a = await connect(port);
    a.socket.write(frameMessage('uint8', 2, 2, 1, pixels('uint8', 4, 0), 0));
    await within(src.open(), 10_000, 'open');
    const puller = pullFrames(src);
    await puller.next('frame 0');
    expect(src.health()).toMatchObject({ state: 'connected', reconnects: 0 });
    a.socket.write(frameMessage('uint8', 2, 2, 1, pixels('uint8', 4, 0), 0).subarray(0, 42));
    a.socket.end();
    await refusedWith(a, 'an end mid-frame');
    await waitUntil(() => src.health().state === 'waiting', () => JSON.stringify(src.health()));
    expect(src.health().lastError).toMatch(/^tcp:\/\/127\.0\.0\.1:0: sender 127\.0\.0\.1:\d+: disconnected in the middle of a frame \(42 bytes of it received\)$/);
    const outage = src.health().outageMs;
    expect(outage).toBeGreaterThanOrEqual(0);
    const b = await connect(port);
    b.socket.write(frameMessage('uint8', 2, 2, 1, pixels('uint8', 4, 1), 1));
    expect((await puller.next('frame after reconnecting')).seq).toBe(1);
    const h = src.health();
    expect(h).toMatchObject({ state: 'connected', reconnects: 1 });
    expect(h.outageMs).toBeGreaterThanOrEqual(outage);
    await src.close();
    expect(src.health().state).toBe('ended');
  });

  it('close() ends the iteration, rejects a pending open() and frees the port', async () => {
    const { src, port } = await listen();
    const opening = src.open();
    await src.close();
    await expectInputError(opening, 'tcp://127.0.0.1:0', /closed before any sender sent a frame/);
    const refused = await new Promise<string>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      s.on('connect', () => {
        s.destroy();
        resolve('connected');
      });
    });
    expect(refused).toBe('ECONNREFUSED');
    const it2 = src.frames()[Symbol.asyncIterator]();
    expect((await within(it2.next(), 5000, 'iteration after close')).done).toBe(true);
  });

  it('a port in use is refused with one line', async () => {
    const { port } = await listen();
    const other = openAs(RawFrameSocketSource, `tcp://127.0.0.1:${port}`, config(), sources);
    await expectInputError(other.open(), `tcp://127.0.0.1:${port}`, /cannot listen: address already in use/);
  });
});

describe('tcp:// URIs', () => {
  it('parses host, port and a declared geometry', () => {
    expect(parseTcpUri('tcp://127.0.0.1:5555')).toEqual({ host: '127.0.0.1', port: 5555, declared: null });
    expect(parseTcpUri('tcp://[::1]:7?width=3&height=2&dtype=uint8&channels=2')).toEqual({
      host: '::1', port: 7, declared: { width: 3, height: 2, channels: 2, dtype: 'uint8' },
    });
  });
  it('refuses what it cannot use, naming the URI', () => {
    expectInputErrorSync(() => parseTcpUri('tcp://127.0.0.1'), 'tcp://127.0.0.1', /expected tcp:\/\/HOST:PORT/);
    expectInputErrorSync(() => parseTcpUri('tcp://h:1/path'), 'tcp://h:1/path', /expected tcp:\/\/HOST:PORT/);
    expectInputErrorSync(() => parseTcpUri('tcp://h:1?fps=3'), 'tcp://h:1?fps=3', /unknown parameter fps/);
    expectInputErrorSync(() => parseTcpUri('tcp://h:1?width=3&height=0&dtype=uint8'), 'tcp://h:1', /height must be a whole number ≥ 1, got 0/);
    expectInputErrorSync(() => parseTcpUri('tcp://h:1?width=3&height=2'), 'tcp://h:1', /dtype must be uint8, uint16 or float32 \(width, height and dtype go together\)/);
  });
});

describe('RawFrameReader', () => {
  it('cuts any chunking of a stream into the same frames', () => {
    const frameArb = fc.record({
      dtype: fc.constantFrom<Dtype>('uint8', 'uint16', 'float32'),
      width: fc.integer({ min: 1, max: 9 }),
      height: fc.integer({ min: 1, max: 5 }),
      channels: fc.integer({ min: 1, max: 3 }),
      seed: fc.integer({ min: 0, max: 1000 }),
      t: fc.double({ noNaN: true, noDefaultInfinity: true }),
    });
    fc.assert(
      fc.property(fc.array(frameArb, { minLength: 1, maxLength: 6 }), fc.array(fc.integer({ min: 1, max: 97 }), { minLength: 1, maxLength: 20 }), (specs, cuts) => {
        const sent = specs.map((s) => ({ ...s, data: pixels(s.dtype, s.width * s.height * s.channels, s.seed) }));
        const stream = Buffer.concat(sent.map((s) => frameMessage(s.dtype, s.width, s.height, s.channels, s.data, s.t)));
        const got: Array<{ h: RawFrameHeader; data: PixelArray }> = [];
        const reader = new RawFrameReader(1 << 20, () => undefined, (h, data) => got.push({ h, data }));
        let pos = 0;
        for (let i = 0; pos < stream.length; i++) {
          const n = cuts[i % cuts.length];
          reader.push(stream.subarray(pos, pos + n));
          pos += n;
        }
        expect(reader.atBoundary).toBe(true);
        expect(got.length).toBe(sent.length);
        got.forEach(({ h, data }, i) => {
          const s = sent[i];
          expect([h.dtype, h.width, h.height, h.channels]).toEqual([s.dtype, s.width, s.height, s.channels]);
          expect(Object.is(h.t, s.t)).toBe(true);
          expect(sameBytes(data, s.data)).toBe(true);
          expect(data.byteOffset === 0 && data.byteLength === data.buffer.byteLength).toBe(true);
        });
      }),
      { numRuns: 200 },
    );
  });
});

const PUSH = path.join(REPO, 'tools', 'examples', 'push_frames.py');
const hasNumpy = spawnSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;

/** Runs the example client (asynchronously: the listener lives in this process). */
function push(port: number, args: string[]): { exited: Promise<{ code: number | null; stderr: string }>; kill: () => void } {
  const child = spawn('python3', [PUSH, '--port', String(port), ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; stderr: string }>((resolve) => child.on('close', (code) => resolve({ code, stderr })));
  return { exited: within(exited, 30_000, 'the Python client exiting'), kill: () => child.kill() };
}

describe('tools/examples/push_frames.py', () => {
  it.skipIf(!hasNumpy)('pushes its exact test pattern (2 channels, uint16) through openSource()', async () => {
    const { src, port } = await listen();
    const client = push(port, ['--frames', '5', '--width', '20', '--height', '10', '--channels', '2', '--dtype', 'uint16', '--pattern', 'ramp']);
    try {
      // Pulling before open() resolves, as nothing stops a consumer from doing.
      const puller = pullFrames(src);
      const first = puller.next('Python frame 0', 20_000);
      const info = await within(src.open(), 20_000, 'open() with the Python client');
      expect(info).toMatchObject({ width: 20, height: 10, channels: 2, dtype: 'uint16' });
      let lastT = -Infinity;
      for (let k = 0; k < 5; k++) {
        const f = await (k === 0 ? first : puller.next(`Python frame ${k}`));
        const want = new Uint16Array(400);
        for (let c = 0; c < 2; c++) for (let y = 0; y < 10; y++) for (let x = 0; x < 20; x++) want[c * 200 + y * 20 + x] = (7 * x + 13 * y + 31 * k + 101 * c) % 65536;
        checkFrame(f, k, 20, 10, 2, want);
        expect(f.t).toBeGreaterThanOrEqual(lastT);
        lastT = f.t;
      }
      expect(await client.exited).toEqual({ code: 0, stderr: '' });
    } finally {
      client.kill();
    }
  });

  it.skipIf(!hasNumpy)('reports the ERR line when refused', async () => {
    const { port } = await listen(config({ maxFrameBytes: 100 }));
    const client = push(port, ['--frames', '1', '--width', '20', '--height', '10']);
    try {
      expect(await client.exited).toEqual({ code: 1, stderr: 'push_frames: ERR frame of 20×10×1 uint16 is 400 bytes, over the limit of 100 (tcp.maxFrameBytes)\n' });
    } finally {
      client.kill();
    }
  });
});
