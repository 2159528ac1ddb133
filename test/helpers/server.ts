/**
 * A served pipeline in this process (synthetic source → worker → hub →
 * server on a loopback port chosen by the OS) and WebSocket clients that
 * record what they receive. Everything is real: the worker thread, the
 * sockets, the engine (`ws`, or `uws` when uWebSockets.js loads).
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import WebSocket from 'ws';
import { describe } from 'vitest';
import { defaultConfig, type Config } from '../../src/config/schema.js';
import { openSource } from '../../src/ingest/open.js';
import { Hub } from '../../src/stream/hub.js';
import { newCounters, type PipelineCounters, type PipelineSummary, runPipeline } from '../../src/stream/pipeline.js';
import { type Service, startService } from '../../src/stream/service.js';
import { loadUws } from '../../src/stream/uwsServer.js';

export type Engine = 'ws' | 'uws';

/** Why uWebSockets.js cannot serve here, or null when it loads (its native build). */
export const UWS_PROBLEM: string | null = await loadUws().then(
  () => null,
  (e: Error) => e.message,
);

let noticeGiven = false;

/**
 * The integration tests run against every engine that loads: `describe`
 * once per engine. Without uWebSockets.js the uws cases are skipped with a
 * notice, except under CI (CI=true), where they run and fail: CI must test
 * both engines.
 */
export function describeEngines(name: string, body: (engine: Engine) => void): void {
  for (const engine of ['ws', 'uws'] as const) {
    const skip = engine === 'uws' && UWS_PROBLEM !== null && process.env.CI !== 'true';
    if (skip && !noticeGiven) {
      noticeGiven = true;
      process.stderr.write(`uws engine cases skipped: ${UWS_PROBLEM}\n`);
    }
    (skip ? describe.skip : describe)(`${name} [${engine}]`, () => body(engine));
  }
}

export interface Served {
  config: Config;
  service: Service;
  counters: PipelineCounters;
  hub: Hub;
  /** http://127.0.0.1:PORT */
  http: string;
  /** ws://127.0.0.1:PORT/ws */
  ws: string;
  /** Settles when the pipeline ends (source exhausted or stopped). */
  done: Promise<PipelineSummary>;
  stop(): Promise<void>;
}

/**
 * The close code a client sees after sending a message over
 * server.maxClientMessageBytes. `ws` answers with a close frame, 1009.
 * uWebSockets.js refuses the frame from its header by cutting the TCP
 * connection without a close frame: the client sees 1006 (abnormal closure),
 * and uWS offers no hook to send one first (docs/protocol.md, engines).
 */
export function tooBigCloseCode(engine: Engine): number {
  return engine === 'ws' ? 1009 : 1006;
}

export async function startServed(uri: string, edit: (c: Config) => void = () => undefined, engine: Engine = 'ws'): Promise<Served> {
  const config = defaultConfig();
  config.source = uri;
  config.server.port = 0;
  config.server.wsEngine = engine;
  edit(config);
  const hub = new Hub();
  const counters = newCounters();
  const source = openSource(uri, config);
  await source.open();
  const service = await startService(config, hub, counters, source);
  const abort = new AbortController();
  const done = runPipeline({ config, source, hub, backend: config.registration.backend, signal: abort.signal, counters, ...service.hooks });
  done.catch(() => undefined);
  const port = service.server.port;
  return {
    config,
    service,
    counters,
    hub,
    http: `http://127.0.0.1:${port}`,
    ws: `ws://127.0.0.1:${port}/ws`,
    done,
    async stop() {
      abort.abort();
      await done.catch(() => undefined);
      await service.close();
    },
  };
}

export type Received = { type: string; topic?: string; topicSeq?: number } & Record<string, unknown>;

/** A WebSocket client that keeps every message (parsed) and every binary frame. */
export class TestClient {
  readonly messages: Received[] = [];
  readonly binary: Buffer[] = [];
  closeCode: number | null = null;
  closeReason = '';
  readonly opened: Promise<void>;
  readonly closed: Promise<void>;

  constructor(
    url: string,
    readonly socket: WebSocket = new WebSocket(url),
  ) {
    this.opened = new Promise((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    this.closed = new Promise((resolve) => {
      socket.once('close', (code, reason) => {
        this.closeCode = code;
        this.closeReason = reason.toString();
        resolve();
      });
    });
    socket.on('error', () => undefined);
    socket.on('message', (data, isBinary) => {
      if (isBinary) this.binary.push(data as Buffer);
      else this.messages.push(JSON.parse(data.toString()) as Received);
    });
  }

  send(m: unknown): void {
    this.socket.send(typeof m === 'string' ? m : JSON.stringify(m));
  }

  of(type: string): Received[] {
    return this.messages.filter((m) => m.type === type);
  }

  /** The topic messages of `t` (not the gap or dropped notices about it). */
  topic(t: string): Received[] {
    return this.messages.filter((m) => m.topic === t && m.topicSeq !== undefined);
  }

  close(): Promise<void> {
    this.socket.close();
    return this.closed;
  }
}

/**
 * A free TCP port on 127.0.0.1 below the kernel's ephemeral range: for a
 * test that stops its server and listens again on the same port. A port the
 * OS chose (port 0) lies in that range, where the other tests' connections
 * and listeners take their ports, and one of them may take it in between.
 */
export async function freePortOutsideEphemeral(): Promise<number> {
  let low = 32768;
  try {
    low = Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || low;
  } catch {
    // not Linux: the usual lower bound
  }
  const lo = Math.min(10000, low - 1000);
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = lo + Math.floor(Math.random() * (low - lo));
    const free = await new Promise<boolean>((resolve) => {
      const probe = net.createServer();
      probe.once('error', () => resolve(false));
      probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error(`no free port found between ${lo} and ${low}`);
}

/** Polls `cond` until true; throws naming `what` after `limitMs` (a guard against hangs, not a measurement). */
export async function until(cond: () => boolean, what: string, limitMs = 30_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > limitMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The topicSeqs of a topic's messages are 0-based consecutive from their first. */
export function expectConsecutive(msgs: Received[]): { first: number; last: number; gaps: number } {
  let gaps = 0;
  for (let i = 1; i < msgs.length; i++) if (msgs[i].topicSeq !== (msgs[i - 1].topicSeq as number) + 1) gaps++;
  return { first: msgs[0]?.topicSeq ?? -1, last: msgs[msgs.length - 1]?.topicSeq ?? -1, gaps };
}
