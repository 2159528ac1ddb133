import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { type Answer, answerRequest, cannotListen, checkExposure, type RequestHead, refuseUpgrade, type ServerParts, serverUrl, statusLine } from './http.js';
import { loadUws, UwsServer } from './uwsServer.js';

export { checkExposure, type HttpApi, type ServerParts } from './http.js';

/**
 * The HTTP/WebSocket server of `run` and `replay --serve` (docs/protocol.md),
 * whichever engine carries it: `ws` (WsServer, below) or `uws`
 * (uWebSockets.js, uwsServer.ts). The routes and checks are http.ts's, the
 * protocol is Subscribers'; an engine only moves bytes.
 */
export interface StreamServer {
  readonly engine: 'ws' | 'uws';
  /** The port listened on (the last one, after stopListening). */
  readonly port: number;
  readonly url: string;
  /** Starts listening (again after `stopListening`; pass the old port to keep it when it was chosen by the OS). */
  listen(port?: number): Promise<void>;
  /** Closes the listener and every connection with close code 1012; the rings stay (clients resume). */
  stopListening(reason?: string): Promise<void>;
  /** Closes every connection with close code 1001 and the listener; the process can then exit. */
  close(reason?: string): Promise<void>;
}

export async function startServer(parts: ServerParts): Promise<StreamServer> {
  checkExposure(parts.options);
  const server: StreamServer = parts.options.wsEngine === 'uws' ? new UwsServer(parts, await loadUws()) : new WsServer(parts);
  await server.listen();
  return server;
}

function readHead(req: IncomingMessage): RequestHead {
  return { method: req.method ?? 'GET', target: req.url ?? '/', host: req.headers.host, origin: req.headers.origin, authorization: req.headers.authorization };
}

/** The `ws` engine: node:http for HTTP, the ws package for upgrades and reading, our own framing for sending. */
class WsServer implements StreamServer {
  readonly engine = 'ws';
  private readonly http: Server = createServer();
  private readonly wss: WebSocketServer;
  private readonly sockets = new Set<Socket>();
  private heartbeat: NodeJS.Timeout | null = null;
  private lastPort = 0;

  constructor(private readonly parts: ServerParts) {
    const http = this.http;
    this.wss = new WebSocketServer({ noServer: true, maxPayload: parts.options.maxClientMessageBytes, perMessageDeflate: false });
    http.on('request', (req, res) => void this.onRequest(req, res));
    http.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket as Socket, head));
    http.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
  }

  get port(): number {
    return (this.http.address() as AddressInfo | null)?.port ?? this.lastPort;
  }

  get url(): string {
    return serverUrl(this.parts.options.host, this.port);
  }

  /** Starts listening (again after `stopListening`; pass the old port to keep it when it was chosen by the OS). */
  async listen(port = this.parts.options.port): Promise<void> {
    const o = this.parts.options;
    await new Promise<void>((resolve, reject) => {
      const onError = (e: NodeJS.ErrnoException): void => {
        this.http.off('listening', onListening);
        reject(cannotListen(o.host, port, e.code, e.message));
      };
      const onListening = (): void => {
        this.http.off('error', onError);
        this.lastPort = this.port;
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

  private onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    // Node removes its own error handler from an upgraded socket: a client that resets the connection
    // before reading our refusal must not crash the process.
    socket.on('error', () => socket.destroy());
    const h = req.headers;
    const refusal = refuseUpgrade(this.parts.options, {
      ...readHead(req),
      upgrade: h.upgrade,
      key: h['sec-websocket-key'],
      version: h['sec-websocket-version'] as string | undefined,
    });
    if (refusal !== null) {
      const head = Object.entries({ 'Content-Type': refusal.type, 'Content-Length': String(Buffer.byteLength(refusal.body)), ...refusal.headers, Connection: 'close' });
      socket.end(`HTTP/1.1 ${statusLine(refusal.status)}\r\n${head.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n${refusal.body}`);
      return;
    }
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
    const a = await answerRequest(this.parts, readHead(req));
    // A client gone while the answer was made: nothing to write to.
    if (res.destroyed) return;
    send(res, a);
  }
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

function send(res: ServerResponse, a: Answer): void {
  res.writeHead(a.status, { 'Content-Type': a.type, 'Content-Length': Buffer.byteLength(a.body), ...a.headers });
  res.end(res.req.method === 'HEAD' ? undefined : a.body);
}
