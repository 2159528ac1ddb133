/**
 * Bounded waits for tests of live sources: every wait has a limit and fails
 * with a message saying what did not happen, never a hung test.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'vitest';
import { defaultConfig, type Config } from '../../src/config/schema.js';
import type { Frame, FrameSource } from '../../src/ingest/frame.js';
import { openSource } from '../../src/ingest/open.js';

/** `p`, or a failure naming `what` if it has not settled within `ms`. */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms / 1000} s`)), ms);
  });
  try {
    return await Promise.race([p, limit]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `cond` until it holds; fails with `describe()` (the state seen last) after `ms`. */
export async function waitUntil(cond: () => boolean, describe: () => string, ms = 15_000, step = 20): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`gave up after ${ms / 1000} s waiting: ${describe()}`);
    await new Promise((r) => setTimeout(r, step));
  }
}

/** Pulls frames one at a time, each within a limit. */
export interface FramePuller {
  next(what: string, ms?: number): Promise<Frame>;
  /** Ends the iteration (the source's own clean-up on early exit runs). */
  stop(): Promise<void>;
}

export function pullFrames(source: FrameSource): FramePuller {
  const it = source.frames()[Symbol.asyncIterator]();
  return {
    async next(what, ms = 15_000) {
      const r = await within(it.next(), ms, what);
      if (r.done) throw new Error(`${what}: the source ended`);
      return r.value;
    },
    async stop() {
      await it.return?.();
    },
  };
}

/** Same bytes, same element type (deep equality over large arrays is slow in vitest). */
export function sameBytes(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return a.constructor === b.constructor && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** The pipeline transfers frame buffers to workers: each frame must own exactly its buffer. */
export function ownsBuffer(f: Frame): boolean {
  return f.data.byteOffset === 0 && f.data.byteLength === f.data.buffer.byteLength;
}

/** The default configuration with some options of one section changed. */
export function configWith<K extends keyof Config>(section: K, values: Partial<Config[K]>): Config {
  const cfg = defaultConfig();
  Object.assign(cfg[section], values);
  return cfg;
}

/** openSource(uri, cfg), checked to be a `kind`, and remembered in `opened` so that the test can close it. */
export function openAs<T extends FrameSource>(kind: abstract new (...args: never[]) => T, uri: string, cfg: Config, opened: T[]): T {
  const src = openSource(uri, cfg);
  expect(src).toBeInstanceOf(kind);
  opened.push(src as T);
  return src as T;
}

/** Whether a process exists (left-over ffmpeg processes are leaks). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** An MJPEG camera on HTTP: each client gets the JPEGs in a loop, one every 40 ms. */
export class MjpegServer {
  private readonly server = http.createServer((req, res) => this.serve(req, res));
  private readonly timers = new Set<NodeJS.Timeout>();
  clients = 0;

  constructor(private readonly jpegs: Buffer[]) {}

  async start(port = 0): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => resolve());
    });
    return (this.server.address() as AddressInfo).port;
  }

  /** Stops at once, cutting every stream mid-flight. */
  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers.clear();
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private serve(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (req.url !== '/stream.mjpg') {
      res.writeHead(404).end();
      return;
    }
    this.clients++;
    res.writeHead(200, { 'Content-Type': 'multipart/x-mixed-replace; boundary=frame', 'Cache-Control': 'no-cache' });
    let k = 0;
    const timer = setInterval(() => {
      const jpg = this.jpegs[k++ % this.jpegs.length];
      res.write(`--frame\r\nContent-Type: image/jpeg\r\nContent-Length: ${jpg.length}\r\n\r\n`);
      res.write(jpg);
      res.write('\r\n');
    }, 40);
    this.timers.add(timer);
    res.on('close', () => {
      clearInterval(timer);
      this.timers.delete(timer);
    });
  }
}
