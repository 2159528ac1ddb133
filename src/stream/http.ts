import { timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { STATUS_CODES } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config/schema.js';
import { InputError } from '../errors.js';
import type { Metrics } from './metrics.js';
import type { Subscribers } from './subscribers.js';

/**
 * The HTTP side of the server (docs/protocol.md), independent of the
 * WebSocket engine: every route, the Host (DNS rebinding), token and Origin
 * checks, and the refusal of upgrades. The engines (server.ts for `ws`,
 * uwsServer.ts for `uws`) only read a request into a RequestHead and write
 * the Answer back, so the two cannot answer differently.
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

/** What the routes look at in a request. uWS's request object is valid only during its handler, so it is read at once. */
export interface RequestHead {
  method: string;
  /** The request target as sent: path and query. */
  target: string;
  host: string | undefined;
  origin: string | undefined;
  authorization: string | undefined;
}

/** The WebSocket handshake headers an upgrade must carry (RFC 6455 §4.2.1). */
export interface UpgradeHead extends RequestHead {
  upgrade: string | undefined;
  key: string | undefined;
  version: string | undefined;
}

export interface Answer {
  status: number;
  type: string;
  body: string | Buffer;
  /** Besides Content-Type and Content-Length, which each engine writes its own way. */
  headers?: Record<string, string>;
}

/** The status line's text, e.g. `404 Not Found` (uWS takes it whole). */
export function statusLine(status: number): string {
  return `${status} ${STATUS_CODES[status] ?? ''}`.trimEnd();
}

export function serverUrl(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}/`;
}

/** The one-line refusal of an address the engine cannot listen on (`code`: the errno name, when known). */
export function cannotListen(host: string, port: number, code: string | undefined, message: string): InputError {
  const why = code === 'EADDRINUSE' ? 'the address is in use' : code === 'EACCES' ? 'permission denied' : message;
  return new InputError(`server ${host}:${port}: cannot listen (${why})`);
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

const text = (status: number, body: string, headers?: Record<string, string>): Answer => ({ status, type: 'text/plain', body, headers });
const json = (status: number, value: unknown): Answer => ({ status, type: 'application/json', body: JSON.stringify(value) });

function parseTarget(target: string): URL | null {
  try {
    return new URL(target, 'http://x');
  } catch {
    return null;
  }
}

function authorized(o: Config['server'], req: RequestHead, url: URL): boolean {
  if (o.token === null) return true;
  const auth = req.authorization;
  const given = url.searchParams.get('token') ?? (auth?.startsWith('Bearer ') ? auth.slice(7) : null);
  return given !== null && sameSecret(given, o.token);
}

/**
 * Without a token the server is reachable only on loopback, but a page on
 * another site could still reach it through a DNS name that resolves to
 * 127.0.0.1 (DNS rebinding): then Origin and Host agree with each other,
 * not with us. Requests must name loopback or the configured host.
 */
function knownHost(o: Config['server'], req: RequestHead): boolean {
  if (o.token !== null) return true;
  if (req.host === undefined) return true;
  let name: string;
  try {
    name = new URL(`http://${req.host}`).hostname.replace(/^\[|\]$/g, '');
  } catch {
    return false;
  }
  return LOOPBACK.test(name) || name === o.host;
}

/** A browser's upgrade must come from a page of this server. */
function sameOrigin(req: RequestHead): boolean {
  if (req.origin === undefined) return true;
  try {
    return new URL(req.origin).host === req.host;
  } catch {
    return false;
  }
}

const WS_KEY = /^[+/0-9A-Za-z]{22}==$/;

/**
 * Why an upgrade request is refused, or null to accept it. Checked before
 * the engine sees the handshake, in the order: endpoint, host, token,
 * origin, then the handshake itself (which uWS would otherwise accept
 * half-formed).
 */
export function refuseUpgrade(o: Config['server'], req: UpgradeHead): Answer | null {
  const url = parseTarget(req.target);
  if (url === null) return text(400, 'malformed request target\n');
  if (url.pathname !== '/ws') return text(404, 'WebSocket endpoint is /ws\n');
  if (!knownHost(o, req)) return text(403, 'unknown host\n');
  if (!authorized(o, req, url)) return text(401, 'token required\n');
  if (!sameOrigin(req)) return text(403, 'foreign origin\n');
  if (req.method !== 'GET') return text(405, 'WebSocket upgrades are GET requests\n', { Allow: 'GET' });
  if (req.upgrade?.toLowerCase() !== 'websocket') return text(400, 'Upgrade must be websocket\n');
  if (req.key === undefined || !WS_KEY.test(req.key.trim())) return text(400, 'missing or invalid Sec-WebSocket-Key\n');
  if (req.version !== '13' && req.version !== '8') return text(400, 'unsupported Sec-WebSocket-Version\n', { 'Sec-WebSocket-Version': '13, 8' });
  return null;
}

/** The answer to a plain (not upgrade) request. Never throws: a failing route is a 500. */
export async function answerRequest(parts: ServerParts, req: RequestHead): Promise<Answer> {
  try {
    const url = parseTarget(req.target);
    if (url === null) return text(400, 'malformed request target\n');
    const path = url.pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') return text(405, 'only GET and HEAD\n', { Allow: 'GET, HEAD' });
    if (path === '/healthz') {
      const ok = parts.api.healthy();
      return json(ok ? 200 : 503, { ok });
    }
    const guarded = path === '/metrics' || path === '/ws' || path.startsWith('/api/');
    if (guarded && !knownHost(parts.options, req)) return text(403, 'unknown host\n');
    if (guarded && !authorized(parts.options, req, url)) return text(401, 'token required\n', { 'WWW-Authenticate': 'Bearer' });
    switch (path) {
      case '/metrics':
        return { status: 200, type: parts.metrics.contentType, body: await parts.metrics.text() };
      case '/api/status':
        return json(200, parts.api.status());
      case '/api/config':
        return json(200, parts.api.config());
      case '/api/labels': {
        const l = parts.api.labels();
        return l === null ? json(404, { error: 'no segmentation yet' }) : json(200, l);
      }
      case '/ws':
        return text(426, 'this endpoint takes WebSocket upgrades\n');
    }
    if (path.startsWith('/api/')) return json(404, { error: `unknown endpoint ${path}` });
    return await serveStatic(path);
  } catch (e) {
    return text(500, `internal error: ${(e as Error).message}\n`);
  }
}

async function serveStatic(path: string): Promise<Answer> {
  const rel = path === '/' ? 'index.html' : decodeURIComponent(path.slice(1));
  const file = normalize(join(DASHBOARD_DIR, rel));
  if (!file.startsWith(DASHBOARD_DIR.endsWith(sep) ? DASHBOARD_DIR : DASHBOARD_DIR + sep)) return text(404, 'not found\n');
  let body: Buffer;
  try {
    body = await readFile(file);
  } catch {
    if (rel === 'index.html') return text(503, `the dashboard is not built (${DASHBOARD_DIR}); run npm run build\n`);
    return text(404, 'not found\n');
  }
  return { status: 200, type: CONTENT_TYPES[extname(file)] ?? 'application/octet-stream', body, headers: { 'Cache-Control': 'no-cache' } };
}

/** Token comparison in constant time (no timing hint of how much of a guess was right). */
function sameSecret(given: string, token: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}
