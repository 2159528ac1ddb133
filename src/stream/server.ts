import { timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Config } from '../config/schema.js';
import { InputError } from '../errors.js';
import type { Metrics } from './metrics.js';
import type { Subscribers } from './subscribers.js';

/**
 * The HTTP server of `run` and `replay --serve` (docs/protocol.md): the
 * dashboard's files, `/ws` (WebSocket engine `ws`), `/metrics`, `/healthz`
 * and the small JSON API. Authentication and the Origin check happen here,
 * before any data or upgrade; the protocol itself is Subscribers'.
 */
export interface HttpApi {
  status(): unknown;
  config(): unknown;
  labels(): unknown | null;
  healthy(): boolean;
}

export interface ServerParts {
  options: Config['server'];
  subscribers: Subscribers;
  metrics: Metrics;
  api: HttpApi;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost|::ffff:127\.\d+\.\d+\.\d+)$/;

/** Refuses a configuration that would expose the feed without a token. */
export function checkExposure(o: Config['server']): void {
  if (!LOOPBACK.test(o.host) && o.token === null && !o.insecure) {
    throw new InputError(
      `option server.host: ${o.host} is reachable from other machines; give a token (--token or server.token) or --insecure to serve it without one`,
    );
  }
}

// The built dashboard: dist/dashboard beside dist/stream (under vitest, this file is the source).
const DASHBOARD_DIR = fileURLToPath(
  import.meta.url.endsWith('.ts') ? new URL('../../dist/dashboard/', import.meta.url) : new URL('../dashboard/', import.meta.url),
);

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.map': 'application/json',
  '.json': 'application/json',
};

export class StreamServer {
  private readonly wss: WebSocketServer;
  private readonly sockets = new Set<Socket>();
  private heartbeat: NodeJS.Timeout | null = null;

  private constructor(
    private readonly http: Server,
    private readonly parts: ServerParts,
  ) {
    this.wss = new WebSocketServer({ noServer: true, maxPayload: parts.options.maxClientMessageBytes, perMessageDeflate: false });
    http.on('request', (req, res) => void this.onRequest(req, res));
    http.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket as Socket, head));
    http.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
  }

  static async start(parts: ServerParts): Promise<StreamServer> {
    checkExposure(parts.options);
    if (parts.options.wsEngine === 'uws') await refuseUws();
    const server = new StreamServer(createServer(), parts);
    await server.listen();
    return server;
  }

  get port(): number {
    return (this.http.address() as AddressInfo).port;
  }

  get url(): string {
    const host = this.parts.options.host.includes(':') ? `[${this.parts.options.host}]` : this.parts.options.host;
    return `http://${host}:${this.port}/`;
  }

  /** Starts listening (again after `stopListening`; pass the old port to keep it when it was chosen by the OS). */
  async listen(port = this.parts.options.port): Promise<void> {
    const o = this.parts.options;
    await new Promise<void>((resolve, reject) => {
      const onError = (e: NodeJS.ErrnoException): void => {
        this.http.off('listening', onListening);
        const why = e.code === 'EADDRINUSE' ? 'the address is in use' : e.code === 'EACCES' ? 'permission denied' : e.message;
        reject(new InputError(`server ${o.host}:${port}: cannot listen (${why})`));
      };
      const onListening = (): void => {
        this.http.off('error', onError);
        resolve();
      };
      this.http.once('error', onError);
      this.http.once('listening', onListening);
      this.http.listen(port, o.host);
    });
    this.heartbeat ??= setInterval(() => this.ping(), 30_000).unref();
  }

  /** Closes the listener and every connection with a close reason; the rings stay (clients resume). */
  async stopListening(reason = 'server restarting'): Promise<void> {
    this.parts.subscribers.closeAll(1012, reason);
    // The close frames sit in the sockets' cork until the end of the tick: let them leave first.
    await new Promise((r) => setImmediate(r));
    await new Promise<void>((resolve) => {
      this.http.close(() => resolve());
      for (const s of this.sockets) s.destroy();
      this.http.closeAllConnections();
    });
  }

  async close(reason = 'server shutting down'): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    this.parts.subscribers.closeAll(1001, reason);
    // Clients get a moment to answer the close frame; those that do not (not reading, gone) are cut.
    const t0 = performance.now();
    while (this.wss.clients.size > 0 && performance.now() - t0 < 1000) await new Promise((r) => setTimeout(r, 10));
    for (const ws of this.wss.clients) ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    if (this.http.listening) await this.stopListening(reason);
  }

  private authorized(req: IncomingMessage, url: URL): boolean {
    const token = this.parts.options.token;
    if (token === null) return true;
    const auth = req.headers.authorization;
    const given = url.searchParams.get('token') ?? (auth?.startsWith('Bearer ') ? auth.slice(7) : null);
    return given !== null && sameSecret(given, token);
  }

  /**
   * Without a token the server is reachable only on loopback, but a page on
   * another site could still reach it through a DNS name that resolves to
   * 127.0.0.1 (DNS rebinding): then Origin and Host agree with each other,
   * not with us. Requests must name loopback or the configured host.
   */
  private knownHost(req: IncomingMessage): boolean {
    if (this.parts.options.token !== null) return true;
    const host = req.headers.host;
    if (host === undefined) return true;
    let name: string;
    try {
      name = new URL(`http://${host}`).hostname.replace(/^\[|\]$/g, '');
    } catch {
      return false;
    }
    return LOOPBACK.test(name) || name === this.parts.options.host;
  }

  /** A browser's upgrade must come from a page of this server. */
  private sameOrigin(req: IncomingMessage): boolean {
    const origin = req.headers.origin;
    if (origin === undefined) return true;
    try {
      return new URL(origin).host === req.headers.host;
    } catch {
      return false;
    }
  }

  private onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    // Node removes its own error handler from an upgraded socket: a client that resets the connection
    // before reading our refusal must not crash the process.
    socket.on('error', () => socket.destroy());
    const refuse = (status: string, why: string): void => {
      socket.end(`HTTP/1.1 ${status}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(why)}\r\nConnection: close\r\n\r\n${why}`);
    };
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://x');
    } catch {
      return refuse('400 Bad Request', 'malformed request target\n');
    }
    if (url.pathname !== '/ws') return refuse('404 Not Found', 'WebSocket endpoint is /ws\n');
    if (!this.knownHost(req)) return refuse('403 Forbidden', 'unknown host\n');
    if (!this.authorized(req, url)) return refuse('401 Unauthorized', 'token required\n');
    if (!this.sameOrigin(req)) return refuse('403 Forbidden', 'foreign origin\n');
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws, socket));
  }

  /**
   * Data messages bypass ws's per-send framing: each message is framed once
   * (framedOf, shared by every client) and written to the client's socket,
   * corked for the rest of the tick so that the messages of one pipeline
   * output (a frame line, its objects line …) leave in one write. ws keeps the
   * handshake, control frames, reading and closing; it writes whole frames
   * synchronously, so the two never interleave inside a frame.
   */
  private onConnection(ws: WebSocket, socket: Socket): void {
    const alive = ws as WebSocket & { alive?: boolean };
    alive.alive = true;
    ws.on('pong', () => (alive.alive = true));
    let corked = false;
    // Bytes written while corked in this tick: not a sign of a slow client, only of a busy tick.
    let tickBytes = 0;
    const uncork = (): void => {
      corked = false;
      tickBytes = 0;
      socket.uncork();
    };
    const handlers = this.parts.subscribers.connect({
      get buffered() {
        return Math.max(0, socket.writableLength - tickBytes);
      },
      send(data, binary) {
        if (ws.readyState !== ws.OPEN) return;
        if (!corked) {
          corked = true;
          socket.cork();
          process.nextTick(uncork);
        }
        const f = framedOf(data, binary);
        tickBytes += f.length;
        socket.write(f);
      },
      close(code, reason) {
        ws.close(code, reason);
      },
    });
    ws.on('message', (data, isBinary) => {
      if (isBinary) return handlers.binary();
      handlers.message(Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.concat(data as Buffer[]).toString('utf8'));
    });
    ws.on('close', () => handlers.close());
    ws.on('error', () => handlers.close());
  }

  /** Clients that answer no ping for a whole interval are gone (a cable pulled, a laptop asleep). */
  private ping(): void {
    for (const ws of this.wss.clients) {
      const a = ws as WebSocket & { alive?: boolean };
      if (a.alive === false) {
        ws.terminate();
        continue;
      }
      a.alive = false;
      ws.ping();
    }
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://x');
      const path = url.pathname;
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'only GET and HEAD\n', { Allow: 'GET, HEAD' });
      if (path === '/healthz') {
        const ok = this.parts.api.healthy();
        return sendJson(res, ok ? 200 : 503, { ok });
      }
      const guarded = path === '/metrics' || path === '/ws' || path.startsWith('/api/');
      if (guarded && !this.knownHost(req)) return send(res, 403, 'text/plain', 'unknown host\n');
      if (guarded && !this.authorized(req, url)) return send(res, 401, 'text/plain', 'token required\n', { 'WWW-Authenticate': 'Bearer' });
      switch (path) {
        case '/metrics':
          return send(res, 200, this.parts.metrics.contentType, await this.parts.metrics.text());
        case '/api/status':
          return sendJson(res, 200, this.parts.api.status());
        case '/api/config':
          return sendJson(res, 200, this.parts.api.config());
        case '/api/labels': {
          const l = this.parts.api.labels();
          return l === null ? sendJson(res, 404, { error: 'no segmentation yet' }) : sendJson(res, 200, l);
        }
        case '/ws':
          return send(res, 426, 'text/plain', 'this endpoint takes WebSocket upgrades\n');
      }
      if (path.startsWith('/api/')) return sendJson(res, 404, { error: `unknown endpoint ${path}` });
      return await this.serveStatic(path, res);
    } catch (e) {
      if (!res.headersSent) send(res, 500, 'text/plain', `internal error: ${(e as Error).message}\n`);
      else res.destroy();
    }
  }

  private async serveStatic(path: string, res: ServerResponse): Promise<void> {
    const rel = path === '/' ? 'index.html' : decodeURIComponent(path.slice(1));
    const file = normalize(join(DASHBOARD_DIR, rel));
    if (!file.startsWith(DASHBOARD_DIR.endsWith(sep) ? DASHBOARD_DIR : DASHBOARD_DIR + sep)) return send(res, 404, 'text/plain', 'not found\n');
    let body: Buffer;
    try {
      body = await readFile(file);
    } catch {
      if (rel === 'index.html') return send(res, 503, 'text/plain', `the dashboard is not built (${DASHBOARD_DIR}); run npm run build\n`);
      return send(res, 404, 'text/plain', 'not found\n');
    }
    send(res, 200, CONTENT_TYPES[extname(file)] ?? 'application/octet-stream', body, { 'Cache-Control': 'no-cache' });
  }
}

/**
 * uWebSockets.js is distributed from GitHub, not npm, so it could not be
 * installed or tested here and no adapter exists yet (docs/protocol.md).
 * Asking for it says so rather than silently serving with ws.
 */
async function refuseUws(): Promise<never> {
  let loaded = true;
  try {
    // @ts-expect-error: optional, not on npm; never a dependency.
    await import('uWebSockets.js');
  } catch {
    loaded = false;
  }
  throw new InputError(
    loaded
      ? 'option server.wsEngine: uws is installed, but this version has no uWebSockets.js adapter; use ws'
      : 'option server.wsEngine: uws needs the uWebSockets.js package, which cannot be loaded (it is distributed from GitHub, not npm); use ws',
  );
}

// Framed messages of the current tick: a message goes to all its subscribers in the tick it is
// published. Not kept longer, or every message in the rings would be held twice.
let framed = new Map<Buffer, Buffer>();
let clearScheduled = false;

/**
 * A message as one unmasked, final WebSocket frame (RFC 6455 §5.2): opcode 1
 * (text) or 2 (binary), then the payload length in 7, 7+16 or 7+64 bits.
 * Cached for the tick, so a message sent to many clients is framed once.
 */
export function framedOf(payload: Buffer, binary: boolean): Buffer {
  let f = framed.get(payload);
  if (f !== undefined) return f;
  if (!clearScheduled) {
    clearScheduled = true;
    setImmediate(() => {
      framed = new Map();
      clearScheduled = false;
    });
  }
  const n = payload.length;
  const head = n < 126 ? 2 : n < 65536 ? 4 : 10;
  f = Buffer.allocUnsafe(head + n);
  f[0] = 0x80 | (binary ? 2 : 1);
  if (n < 126) f[1] = n;
  else if (n < 65536) {
    f[1] = 126;
    f.writeUInt16BE(n, 2);
  } else {
    f[1] = 127;
    f.writeBigUInt64BE(BigInt(n), 2);
  }
  payload.copy(f, head);
  framed.set(payload, f);
  return f;
}

/** Token comparison in constant time (no timing hint of how much of a guess was right). */
function sameSecret(given: string, token: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, 'application/json', JSON.stringify(value));
}
