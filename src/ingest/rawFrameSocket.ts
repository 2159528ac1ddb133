/**
 * `tcp://HOST:PORT`: a raw-frame socket. The source listens; acquisition
 * software connects and pushes uncompressed frames, each a fixed 40-byte
 * little-endian header and a channel-planar payload. Every header is checked
 * before its payload is allocated; a bad one gets a one-line `ERR <reason>`
 * reply and the connection is closed, while the listener carries on.
 * The protocol is specified in docs/ingest-tcp.md.
 */
import net from 'node:net';
import { InputError } from '../errors.js';
import { allocPixels, type Dtype, type Frame, type FrameSource, type HealthReporting, type PixelArray, type SourceHealth, type SourceInfo } from './frame.js';
import { HOST_LITTLE_ENDIAN } from './imageFile.js';
import { ArrivalClock, FrameHandoff, HealthTracker } from './live.js';

export const RAW_MAGIC = 'SSFR';
export const RAW_VERSION = 1;
export const RAW_HEADER_BYTES = 40;
/** Wire codes of the sample types. */
export const RAW_DTYPE_CODES: Readonly<Record<Dtype, number>> = { uint8: 1, uint16: 2, float32: 3 };
const DTYPE_OF_CODE = new Map<number, Dtype>(Object.entries(RAW_DTYPE_CODES).map(([d, c]) => [c, d as Dtype]));
const BYTES_PER_SAMPLE: Readonly<Record<Dtype, number>> = { uint8: 1, uint16: 2, float32: 4 };
const MAGIC_BYTES = Buffer.from(RAW_MAGIC, 'latin1');

export interface RawFrameHeader {
  dtype: Dtype;
  width: number;
  height: number;
  channels: number;
  /** Acquisition time in ms; NaN when the sender has none. */
  t: number;
  payloadBytes: number;
}

/** What is wrong with what a sender sent; `reason` is what the sender is told. */
export class ProtocolError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'ProtocolError';
  }
}

export function describeGeometry(h: Pick<RawFrameHeader, 'width' | 'height' | 'channels' | 'dtype'>): string {
  return `${h.width}×${h.height}×${h.channels} ${h.dtype}`;
}

/** The header of one frame, for senders written in TypeScript (and the tests). */
export function encodeRawHeader(h: Omit<RawFrameHeader, 'payloadBytes'> & { payloadBytes?: number }): Buffer {
  const b = Buffer.alloc(RAW_HEADER_BYTES);
  MAGIC_BYTES.copy(b, 0);
  b.writeUInt16LE(RAW_VERSION, 4);
  b.writeUInt8(RAW_DTYPE_CODES[h.dtype], 6);
  b.writeUInt32LE(h.width, 8);
  b.writeUInt32LE(h.height, 12);
  b.writeUInt32LE(h.channels, 16);
  b.writeDoubleLE(h.t, 24);
  const payload = h.payloadBytes ?? h.width * h.height * h.channels * BYTES_PER_SAMPLE[h.dtype];
  b.writeBigUInt64LE(BigInt(payload), 32);
  return b;
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (x) => x.toString(16).padStart(2, '0')).join(' ');
}

/** A prefix of the header that already cannot be ours: refused without waiting for the rest. */
function checkMagicPrefix(head: Uint8Array, filled: number): void {
  const n = Math.min(filled, MAGIC_BYTES.length);
  for (let i = 0; i < n; i++) {
    if (head[i] !== MAGIC_BYTES[i]) {
      throw new ProtocolError(`bad magic ${hex(head.subarray(0, n))}: not a scopestream frame header (expected "${RAW_MAGIC}")`);
    }
  }
}

/**
 * Validates a complete header against the protocol and the size limit.
 * Nothing is allocated here, whatever the header claims.
 */
export function parseRawHeader(head: Uint8Array, maxFrameBytes: number): RawFrameHeader {
  checkMagicPrefix(head, RAW_HEADER_BYTES);
  const dv = new DataView(head.buffer, head.byteOffset, RAW_HEADER_BYTES);
  const version = dv.getUint16(4, true);
  if (version !== RAW_VERSION) throw new ProtocolError(`unsupported version ${version} (this receiver speaks ${RAW_VERSION})`);
  const code = dv.getUint8(6);
  const dtype = DTYPE_OF_CODE.get(code);
  if (!dtype) throw new ProtocolError(`unknown dtype code ${code} (1 uint8, 2 uint16, 3 float32)`);
  if (dv.getUint8(7) !== 0 || dv.getUint32(20, true) !== 0) throw new ProtocolError('reserved header bytes (7, 20-23) must be 0');
  const width = dv.getUint32(8, true);
  const height = dv.getUint32(12, true);
  const channels = dv.getUint32(16, true);
  const geometry = { width, height, channels, dtype };
  if (width === 0 || height === 0 || channels === 0) {
    throw new ProtocolError(`width, height and channels must be at least 1, got ${describeGeometry(geometry)}`);
  }
  // Up to 2^98 in a double: not exact, but far enough from any sane limit that the comparison is right.
  const need = width * height * channels * BYTES_PER_SAMPLE[dtype];
  if (need > maxFrameBytes) {
    throw new ProtocolError(`frame of ${describeGeometry(geometry)} is ${need} bytes, over the limit of ${maxFrameBytes} (tcp.maxFrameBytes)`);
  }
  const payload = dv.getBigUint64(32, true);
  if (payload !== BigInt(need)) {
    throw new ProtocolError(`payload length ${payload} does not match ${describeGeometry(geometry)} (${need} bytes)`);
  }
  const t = dv.getFloat64(24, true);
  if (t === Infinity || t === -Infinity) throw new ProtocolError(`timestamp must be a finite number of ms or NaN, got ${t}`);
  return { ...geometry, t, payloadBytes: need };
}

/**
 * Cuts a sender's byte stream into frames whatever its chunking. `onHeader`
 * sees each validated header before its payload is allocated and may refuse
 * it by throwing a ProtocolError; each payload goes into a fresh typed array
 * of its own (frames are transferred to workers).
 */
export class RawFrameReader {
  /** Frames completed so far. */
  frames = 0;
  private readonly head = new Uint8Array(RAW_HEADER_BYTES);
  private headFilled = 0;
  private current: { header: RawFrameHeader; data: PixelArray; bytes: Uint8Array; filled: number } | null = null;

  constructor(
    private readonly maxFrameBytes: number,
    private readonly onHeader: (h: RawFrameHeader) => void,
    private readonly onFrame: (h: RawFrameHeader, data: PixelArray) => void,
  ) {}

  /** Throws ProtocolError at the first thing that is wrong; the reader is then unusable. */
  push(chunk: Uint8Array): void {
    let pos = 0;
    while (pos < chunk.length) {
      const cur = this.current;
      if (!cur) {
        const n = Math.min(RAW_HEADER_BYTES - this.headFilled, chunk.length - pos);
        this.head.set(chunk.subarray(pos, pos + n), this.headFilled);
        this.headFilled += n;
        pos += n;
        checkMagicPrefix(this.head, this.headFilled);
        if (this.headFilled < RAW_HEADER_BYTES) return;
        const header = parseRawHeader(this.head, this.maxFrameBytes);
        this.onHeader(header);
        const data = allocate(header);
        this.current = { header, data, bytes: new Uint8Array(data.buffer), filled: 0 };
        this.headFilled = 0;
        continue;
      }
      const n = Math.min(cur.header.payloadBytes - cur.filled, chunk.length - pos);
      cur.bytes.set(chunk.subarray(pos, pos + n), cur.filled);
      cur.filled += n;
      pos += n;
      if (cur.filled === cur.header.payloadBytes) {
        this.current = null;
        this.frames++;
        if (!HOST_LITTLE_ENDIAN) swapToHost(cur.data);
        this.onFrame(cur.header, cur.data);
      }
    }
  }

  /** True between frames (nothing of a next frame received yet). */
  get atBoundary(): boolean {
    return this.headFilled === 0 && this.current === null;
  }

  /** Bytes received of the unfinished frame, and its total size when the header is known. */
  get partial(): { received: number; total: number | null } {
    if (this.current) return { received: RAW_HEADER_BYTES + this.current.filled, total: RAW_HEADER_BYTES + this.current.header.payloadBytes };
    return { received: this.headFilled, total: null };
  }
}

function allocate(h: RawFrameHeader): PixelArray {
  try {
    return allocPixels(h.dtype, h.width * h.height * h.channels);
  } catch (err) {
    // Only when tcp.maxFrameBytes is set beyond what this machine can hold.
    throw new ProtocolError(`cannot allocate ${h.payloadBytes} bytes for a ${describeGeometry(h)} frame: ${(err as Error).message}`);
  }
}

function swapToHost(data: PixelArray): void {
  const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof Uint16Array) b.swap16();
  else if (data instanceof Float32Array) b.swap32();
}

export interface RawFrameSocketOptions {
  /** Largest payload accepted (tcp.maxFrameBytes). */
  maxFrameBytes: number;
  /** Silence allowed after connecting or mid-frame, ms (tcp.timeout). */
  timeoutMs: number;
  /** How long a refused connection is drained so that its ERR line arrives before the close (default 1000 ms). */
  lingerMs?: number;
}

export interface RawFrameSocketStats {
  frames: number;
  /** Connections refused: busy, bad header, timeout. */
  refused: number;
  /** Frames dropped because nobody was iterating. */
  dropped: number;
}

/** Most sockets open at once; further connections are closed by the kernel-side listener at once. */
const MAX_CONNECTIONS = 64;

interface Declared {
  width: number;
  height: number;
  channels: number;
  dtype: Dtype;
}

export class RawFrameSocketSource implements FrameSource, HealthReporting {
  readonly host: string;
  private readonly requestedPort: number;
  private readonly declared: Declared | null;
  private readonly handoff: FrameHandoff;
  private readonly healthState = new HealthTracker();
  private readonly clock = new ArrivalClock();
  private readonly sockets = new Set<net.Socket>();
  private server: net.Server | null = null;
  private listeningPromise: Promise<net.AddressInfo> | null = null;
  private geometry: Declared | null;
  private geometryWaiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  private sender: net.Socket | null = null;
  private seq = 0;
  private closed = false;
  private refusedCount = 0;

  constructor(
    readonly uri: string,
    private readonly opts: RawFrameSocketOptions,
  ) {
    const parsed = parseTcpUri(uri);
    this.host = parsed.host;
    this.requestedPort = parsed.port;
    this.declared = parsed.declared;
    this.geometry = parsed.declared;
    this.handoff = new FrameHandoff();
  }

  /** Starts listening (once); resolves with the bound address (port 0 picks a free port). */
  listening(): Promise<net.AddressInfo> {
    this.listeningPromise ??= this.listen();
    return this.listeningPromise;
  }

  /** The bound port, once listening. */
  get port(): number | undefined {
    const a = this.server?.address();
    return a && typeof a === 'object' ? a.port : undefined;
  }

  /**
   * Listens, then resolves once the stream's geometry is known: at once when
   * the URI declares it, else when the first valid frame header arrives.
   */
  async open(): Promise<SourceInfo> {
    await this.listening();
    if (!this.geometry) {
      await new Promise<void>((resolve, reject) => {
        if (this.closed) reject(this.closedEarly());
        else this.geometryWaiters.push({ resolve, reject });
      });
    }
    const g = this.geometry as Declared;
    // No fps: frames come on the sender's clock, and a nominal rate would make the pipeline pace its pulls.
    return { uri: this.uri, width: g.width, height: g.height, channels: g.channels, dtype: g.dtype, live: true };
  }

  frames(): AsyncIterable<Frame> {
    return this.handoff.frames();
  }

  health(): SourceHealth {
    return this.healthState.snapshot();
  }

  get stats(): RawFrameSocketStats {
    return { frames: this.seq, refused: this.refusedCount, dropped: this.handoff.dropped };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.healthState.ended();
    this.handoff.close();
    for (const w of this.geometryWaiters) w.reject(this.closedEarly());
    this.geometryWaiters = [];
    for (const s of this.sockets) s.destroy();
    const server = this.server;
    if (server?.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private closedEarly(): InputError {
    return new InputError(`${this.uri}: closed before any sender sent a frame`);
  }

  private listen(): Promise<net.AddressInfo> {
    if (this.closed) return Promise.reject(new InputError(`${this.uri}: source is closed`));
    const server = net.createServer((socket) => this.accept(socket));
    server.maxConnections = MAX_CONNECTIONS;
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => reject(new InputError(`${this.uri}: cannot listen: ${listenProblem(err)}`)));
      server.listen(this.requestedPort, this.host, () => {
        // Later server errors (none expected once bound) must not crash the process.
        server.on('error', (err) => this.healthState.error(`${this.uri}: listener: ${err.message}`));
        resolve(server.address() as net.AddressInfo);
      });
    });
  }

  private accept(socket: net.Socket): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    // Errors (a reset peer) are answered by the close that follows; never an unhandled 'error'.
    socket.on('error', () => undefined);
    const peer = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    if (this.sender) {
      const current = this.sender;
      this.refuse(socket, `busy: another sender (${current.remoteAddress ?? '?'}:${current.remotePort ?? '?'}) is connected; one sender at a time`, peer, false);
      return;
    }
    this.sender = socket;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 10_000);
    let connectedHere = false;
    let ended = false;
    const finish = (why: string): void => {
      if (ended) return;
      ended = true;
      if (this.sender === socket) this.sender = null;
      // A connection that never carried a valid frame did not change what the source is doing.
      if (connectedHere) this.healthState.lost(`${this.uri}: sender ${peer}: ${why}`, 'waiting');
    };
    const reader = new RawFrameReader(
      this.opts.maxFrameBytes,
      (h) => {
        const g = this.geometry;
        if (g && (g.width !== h.width || g.height !== h.height || g.channels !== h.channels || g.dtype !== h.dtype)) {
          throw new ProtocolError(`frame is ${describeGeometry(h)} but the stream is ${describeGeometry(g)}`);
        }
        if (!connectedHere) {
          connectedHere = true;
          this.healthState.connected();
        }
        if (!g) this.fixGeometry(h);
      },
      (h, data) => {
        const t = Number.isNaN(h.t) ? this.clock.now() : h.t;
        this.handoff.push({ seq: this.seq++, t, width: h.width, height: h.height, channels: h.channels, data });
      },
    );
    const armTimeout = (): void => {
      // Between whole frames a sender may pause as long as it likes (time-lapse); before its first frame and mid-frame it may not.
      socket.setTimeout(reader.frames > 0 && reader.atBoundary ? 0 : this.opts.timeoutMs);
    };
    armTimeout();
    socket.on('timeout', () => {
      const { received, total } = reader.partial;
      const secs = `${this.opts.timeoutMs / 1000} s`;
      const why =
        reader.frames === 0 && received === 0
          ? `timeout: nothing received for ${secs} after connecting`
          : `timeout: ${received} of ${total ?? RAW_HEADER_BYTES} bytes of a frame, then nothing for ${secs}`;
      finish(why);
      this.refuse(socket, why, peer, connectedHere);
    });
    socket.on('data', (chunk: Buffer) => {
      if (ended) return;
      try {
        reader.push(chunk);
      } catch (err) {
        if (!(err instanceof ProtocolError)) throw err;
        finish(err.reason);
        this.refuse(socket, err.reason, peer, connectedHere);
        return;
      }
      armTimeout();
    });
    socket.on('end', () => {
      const { received } = reader.partial;
      finish(received > 0 ? `disconnected in the middle of a frame (${received} bytes of it received)` : 'disconnected');
      socket.end();
    });
    socket.on('close', () => finish('connection lost'));
  }

  private fixGeometry(h: RawFrameHeader): void {
    this.geometry = { width: h.width, height: h.height, channels: h.channels, dtype: h.dtype };
    for (const w of this.geometryWaiters) w.resolve();
    this.geometryWaiters = [];
  }

  /**
   * Tells the peer why, then closes. The peer may still be writing (a large
   * payload): its bytes are read and discarded for a moment, because closing
   * with unread data makes the kernel send a reset, which can destroy the
   * ERR line before the peer reads it.
   */
  private refuse(socket: net.Socket, reason: string, peer: string, alreadyReported: boolean): void {
    this.refusedCount++;
    if (!alreadyReported) this.healthState.error(`${this.uri}: sender ${peer} refused: ${reason}`);
    socket.removeAllListeners('data');
    socket.removeAllListeners('timeout');
    socket.removeAllListeners('end');
    socket.on('data', () => undefined);
    socket.on('end', () => socket.destroy());
    socket.setTimeout(this.opts.lingerMs ?? 1000, () => socket.destroy());
    socket.end(`ERR ${reason}\n`);
  }
}

function listenProblem(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'EADDRINUSE':
      return 'address already in use';
    case 'EACCES':
      return 'permission denied (ports below 1024 need privileges)';
    case 'EADDRNOTAVAIL':
      return 'not an address of this machine';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'unknown host';
    default:
      return err.message;
  }
}

const DECLARED_KEYS = new Set(['width', 'height', 'channels', 'dtype']);

/** `tcp://HOST:PORT[?width=W&height=H&dtype=D[&channels=C]]`. */
export function parseTcpUri(uri: string): { host: string; port: number; declared: Declared | null } {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new InputError(`${uri}: not a valid tcp://HOST:PORT address`);
  }
  if (url.protocol !== 'tcp:' || url.hostname === '' || url.port === '' || url.pathname.replace(/^\/$/, '') !== '' || url.username || url.hash) {
    throw new InputError(`${uri}: expected tcp://HOST:PORT (e.g. tcp://127.0.0.1:5555), optionally ?width=&height=&dtype=&channels=`);
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(url.port);
  const q = url.searchParams;
  for (const key of q.keys()) {
    if (!DECLARED_KEYS.has(key)) throw new InputError(`${uri}: unknown parameter ${key} (allowed: width, height, channels, dtype)`);
  }
  if ([...q.keys()].length === 0) return { host, port, declared: null };
  const dim = (key: string, fallback?: number): number => {
    const raw = q.get(key);
    if (raw === null && fallback !== undefined) return fallback;
    const v = Number(raw);
    if (raw === null || !Number.isInteger(v) || v < 1 || v > 0xffffffff) {
      throw new InputError(`${uri}: ${key} must be a whole number ≥ 1${raw === null ? ' (width, height and dtype go together)' : `, got ${raw}`}`);
    }
    return v;
  };
  const dtype = q.get('dtype');
  if (dtype !== 'uint8' && dtype !== 'uint16' && dtype !== 'float32') {
    throw new InputError(`${uri}: dtype must be uint8, uint16 or float32${dtype === null ? ' (width, height and dtype go together)' : `, got ${dtype}`}`);
  }
  return { host, port, declared: { width: dim('width'), height: dim('height'), channels: dim('channels', 1), dtype } };
}
