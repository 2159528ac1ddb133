import { createServer } from 'node:net';
import { InputError } from '../errors.js';
import { type Answer, answerRequest, cannotListen, type RequestHead, refuseUpgrade, type ServerParts, serverUrl, statusLine, type UpgradeHead } from './http.js';
import type { StreamServer } from './server.js';

/**
 * The `uws` engine: uWebSockets.js (server.wsEngine: uws). It carries the
 * same routes (http.ts) and the same protocol (Subscribers) as the `ws`
 * engine; only the sockets are uWS's. The package is an optional dependency
 * loaded on demand, so the types below are the part of its API used here
 * (its own are in the package's docs/index.d.ts).
 */
interface UwsRequest {
  getHeader(lowerCaseKey: string): string;
  getUrl(): string;
  getQuery(): string | undefined;
  getCaseSensitiveMethod(): string;
}

interface UwsResponse {
  writeStatus(status: string): UwsResponse;
  writeHeader(key: string, value: string): UwsResponse;
  end(body?: string | Uint8Array, closeConnection?: boolean): UwsResponse;
  endWithoutBody(reportedContentLength?: number, closeConnection?: boolean): UwsResponse;
  onAborted(handler: () => void): UwsResponse;
  cork(cb: () => void): UwsResponse;
  upgrade(userData: UserData, key: string, protocol: string, extensions: string, context: unknown): void;
}

interface UwsWebSocket {
  send(message: Uint8Array, isBinary: boolean, compress?: boolean): number;
  cork(cb: () => void): void;
  getBufferedAmount(): number;
  end(code: number, shortMessage: string): void;
  getUserData(): UserData;
}

interface UwsApp {
  ws(pattern: string, behavior: Record<string, unknown>): UwsApp;
  any(pattern: string, handler: (res: UwsResponse, req: UwsRequest) => void): UwsApp;
  listen(host: string, port: number, options: number, cb: (listenSocket: unknown) => void): UwsApp;
  close(): void;
}

export interface Uws {
  App(): UwsApp;
  us_socket_local_port(listenSocket: unknown): number;
  DISABLED: number;
  LIBUS_LISTEN_EXCLUSIVE_PORT: number;
}

/** uWS copies the user data's properties onto its own object: the connection rides in one of them. */
interface UserData {
  conn: Connection;
}

interface Connection {
  ws: UwsWebSocket | null;
  /** Until uWS's close handler: after it, touching `ws` throws. */
  open: boolean;
  handlers: { message(text: string): void; binary(): void; close(): void } | null;
  /** Messages of this tick not yet handed to uWS (a message and whether it is binary, in turn). */
  pending: (Buffer | boolean)[];
}

// A variable, so that neither TypeScript nor a bundler resolves the optional package.
const UWS_MODULE: string = 'uWebSockets.js';

/**
 * Loads uWebSockets.js, or refuses with one line naming the option. The
 * npm build (@trufflesuite/uws-js-unofficial) falls back, with a console
 * warning, to a JavaScript imitation built on ws when it has no binary for
 * this platform and Node; that is refused too: it is neither uWS nor fast.
 * The native module has exports the imitation lacks (getParts, H3App).
 */
export async function loadUws(importer: () => Promise<unknown> = () => import(UWS_MODULE)): Promise<Uws> {
  // The package says why it fell back on the console, over several lines: kept for our one line instead.
  const said: string[] = [];
  const { log, warn } = console;
  console.log = console.warn = (...args: unknown[]) => void said.push(args.map(String).join(' '));
  let mod: unknown;
  try {
    mod = await importer();
  } catch (e) {
    const why = (e as Error).message.split('\n')[0];
    throw new InputError(`option server.wsEngine: uws needs the uWebSockets.js package, which cannot be loaded (${why}); reinstall with its optional dependencies (npm ci) or use ws`);
  } finally {
    console.log = log;
    console.warn = warn;
  }
  const m = ((mod as { default?: unknown }).default ?? mod) as Record<string, unknown>;
  const native = typeof m.App === 'function' && typeof m.getParts === 'function' && typeof m.H3App === 'function';
  if (!native) {
    const reason = said.join('\n').match(/Error: [^\n]*/)?.[0] ?? (said.length > 0 ? said[0].trim() : 'no reason given');
    throw new InputError(
      `option server.wsEngine: uws: the uWebSockets.js package loaded its slow JavaScript fallback, not its native build (${reason.slice(0, 160)}); use ws`,
    );
  }
  for (const line of said) warn(line);
  return m as unknown as Uws;
}

function readHead(req: UwsRequest): RequestHead {
  const header = (name: string): string | undefined => req.getHeader(name) || undefined;
  const query = req.getQuery();
  return {
    method: req.getCaseSensitiveMethod(),
    target: query ? `${req.getUrl()}?${query}` : req.getUrl(),
    host: header('host'),
    origin: header('origin'),
    authorization: header('authorization'),
  };
}

function readUpgrade(req: UwsRequest): UpgradeHead {
  const header = (name: string): string | undefined => req.getHeader(name) || undefined;
  return { ...readHead(req), upgrade: header('upgrade'), key: header('sec-websocket-key'), version: header('sec-websocket-version') };
}

function write(res: UwsResponse, a: Answer, method: string, closeConnection: boolean): void {
  res.writeStatus(statusLine(a.status)).writeHeader('Content-Type', a.type);
  for (const [k, v] of Object.entries(a.headers ?? {})) res.writeHeader(k, v);
  if (method === 'HEAD') res.endWithoutBody(Buffer.byteLength(a.body), closeConnection);
  else res.end(a.body, closeConnection);
}

/** A client that does not read: its close frame waits behind its backlog. How long it gets to drain on shutdown. */
const CLOSE_GRACE_MS = 1000;

/**
 * Idle clients (a cable pulled, a laptop asleep): uWS pings a client that
 * has sent nothing for a while and closes it if the silence lasts this long
 * (the `ws` engine pings every 30 s and cuts after an unanswered ping).
 */
const IDLE_TIMEOUT_S = 60;

export class UwsServer implements StreamServer {
  readonly engine = 'uws';
  private app: UwsApp | null = null;
  private lastPort = 0;
  private readonly conns = new Set<Connection>();
  /** A client was told to close while its backlog was not yet sent. */
  private lagging = false;
  /** Connections with messages pending in this tick. */
  private toFlush: Connection[] = [];

  constructor(
    private readonly parts: ServerParts,
    private readonly uws: Uws,
  ) {}

  get port(): number {
    return this.lastPort;
  }

  get url(): string {
    return serverUrl(this.parts.options.host, this.port);
  }

  /** A fresh App per listen: stopListening closes the old one with every socket it holds (App.close). */
  async listen(port = this.parts.options.port): Promise<void> {
    const o = this.parts.options;
    const app = this.build();
    // Exclusive: without it uWS binds with SO_REUSEPORT and would share a port another server holds.
    const listenSocket = await new Promise<unknown>((resolve) => app.listen(o.host, port, this.uws.LIBUS_LISTEN_EXCLUSIVE_PORT, resolve));
    if (listenSocket === false || listenSocket == null) {
      app.close();
      // uWS does not say why: node:net, binding the same address, does.
      const e = await whyNotListening(o.host, port);
      throw cannotListen(o.host, port, e?.code, e?.message ?? 'uWebSockets.js could not bind it');
    }
    this.app = app;
    this.lastPort = this.uws.us_socket_local_port(listenSocket);
  }

  async stopListening(reason = 'server restarting'): Promise<void> {
    await this.shutdown(1012, reason);
  }

  async close(reason = 'server shutting down'): Promise<void> {
    await this.shutdown(1001, reason);
  }

  private async shutdown(code: number, reason: string): Promise<void> {
    this.lagging = false;
    this.parts.subscribers.closeAll(code, reason);
    // end() wrote each close frame, or queued it behind a slow client's backlog, which uWS drains by itself
    // (its sockets cannot be asked after their close handler has run, so the wait is a fixed grace).
    await new Promise((r) => (this.lagging ? setTimeout(r, CLOSE_GRACE_MS) : setImmediate(r)));
    // Every socket, keep-alive HTTP ones included: nothing is left to keep the process alive.
    this.app?.close();
    this.app = null;
    for (const c of this.conns) this.gone(c);
  }

  private build(): UwsApp {
    const o = this.parts.options;
    const app = this.uws.App();
    app.ws('/ws', {
      compression: this.uws.DISABLED,
      // Past it uWS cuts the connection itself (the client sees 1006, not 1009: docs/protocol.md).
      maxPayloadLength: o.maxClientMessageBytes,
      // Subscribers' limits (clientBufferBytes, clientMaxDropped) decide about slow clients, not uWS's:
      // uWS would silently drop sends past maxBackpressure.
      maxBackpressure: 1 << 30,
      closeOnBackpressureLimit: false,
      idleTimeout: IDLE_TIMEOUT_S,
      sendPingsAutomatically: true,
      upgrade: (res: UwsResponse, req: UwsRequest, context: unknown) => this.onUpgrade(res, req, context),
      open: (ws: UwsWebSocket) => this.onOpen(ws),
      message: (ws: UwsWebSocket, message: ArrayBuffer, isBinary: boolean) => {
        const c = ws.getUserData().conn;
        if (isBinary) c.handlers?.binary();
        // The ArrayBuffer is valid only during this call: decoded at once.
        else c.handlers?.message(Buffer.from(message).toString('utf8'));
      },
      close: (ws: UwsWebSocket) => this.gone(ws.getUserData().conn),
    });
    app.any('/*', (res, req) => this.onRequest(res, req));
    return app;
  }

  private onUpgrade(res: UwsResponse, req: UwsRequest, context: unknown): void {
    const head = readUpgrade(req);
    const refusal = refuseUpgrade(this.parts.options, head);
    if (refusal !== null) return write(res, refusal, head.method, true);
    const conn: Connection = { ws: null, open: false, handlers: null, pending: [] };
    res.upgrade({ conn }, head.key!, req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions'), context);
  }

  /**
   * Sends are gathered for the rest of the tick and handed to uWS corked,
   * one connection at a time, so that a client's messages of one tick (a
   * frame line, its objects line, a burst of events) leave in one write
   * rather than one system call each, like the `ws` engine's cork.
   */
  private onOpen(ws: UwsWebSocket): void {
    const conn = ws.getUserData().conn;
    conn.ws = ws;
    conn.open = true;
    this.conns.add(conn);
    const markLagging = (): void => void (this.lagging = true);
    const queue = (data: Buffer, binary: boolean): void => {
      if (conn.pending.length === 0) {
        if (this.toFlush.length === 0) process.nextTick(() => this.flush());
        this.toFlush.push(conn);
      }
      conn.pending.push(data, binary);
    };
    conn.handlers = this.parts.subscribers.connect({
      // What uWS holds; this tick's pending messages are not a sign of a slow client, only of a busy tick.
      get buffered() {
        return conn.open ? ws.getBufferedAmount() : 0;
      },
      send(data, binary) {
        if (conn.open) queue(data, binary);
      },
      close(code, reason) {
        if (!conn.open) return;
        flushOne(conn);
        if (ws.getBufferedAmount() > 0) markLagging();
        // Runs uWS's close handler (gone) before it returns.
        ws.end(code, reason);
      },
    });
  }

  private flush(): void {
    const conns = this.toFlush;
    this.toFlush = [];
    for (const c of conns) flushOne(c);
  }

  private gone(conn: Connection): void {
    if (!conn.open) return;
    conn.open = false;
    conn.ws = null;
    this.conns.delete(conn);
    conn.handlers?.close();
  }

  private onRequest(res: UwsResponse, req: UwsRequest): void {
    // uWS aborts the process when a handler returns without answering or an abort handler.
    let aborted = false;
    res.onAborted(() => (aborted = true));
    const upgrade = req.getHeader('upgrade') !== '' && /\bupgrade\b/i.test(req.getHeader('connection'));
    if (upgrade) {
      // Upgrades to /ws are the ws route's; an upgrade here is for another path, or malformed.
      const head = readUpgrade(req);
      const refusal = refuseUpgrade(this.parts.options, head) ?? { status: 400, type: 'text/plain', body: 'not a WebSocket upgrade\n' };
      return write(res, refusal, head.method, true);
    }
    const head = readHead(req);
    void answerRequest(this.parts, head).then((a) => {
      if (!aborted) res.cork(() => write(res, a, head.method, false));
    });
  }
}

function flushOne(c: Connection): void {
  const p = c.pending;
  if (p.length === 0) return;
  c.pending = [];
  if (!c.open) return;
  const ws = c.ws!;
  ws.cork(() => {
    for (let i = 0; i < p.length; i += 2) ws.send(p[i] as Buffer, p[i + 1] as boolean, false);
  });
}

function whyNotListening(host: string, port: number): Promise<NodeJS.ErrnoException | null> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', (e: NodeJS.ErrnoException) => resolve(e));
    probe.listen(port, host, () => probe.close(() => resolve(null)));
  });
}
