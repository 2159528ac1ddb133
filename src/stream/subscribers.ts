import { randomBytes } from 'node:crypto';
import type { Config } from '../config/schema.js';
import { parseClientMessage, WS_TOPICS, type WsTopic } from './clientMessages.js';
import type { Message, Topic } from './hub.js';
import type { PreviewHeader, PreviewKind } from './processor.js';
import { type LogEntry, TopicLog } from './topicLog.js';

/**
 * The WebSocket side of protocol v1 (docs/protocol.md), independent of the
 * engine that carries the bytes: topic logs (rings) for resume, per-client
 * subscriptions, catch-up from the rings, per-client backpressure with
 * `dropped` notices, and client-message validation. An engine (src/stream/
 * server.ts for `ws`, src/stream/uwsServer.ts for `uws`) hands it sockets and messages.
 */
export interface ClientSocket {
  /** Bytes queued for this client and not yet written to the network. */
  readonly buffered: number;
  send(data: Buffer, binary: boolean): void;
  close(code: number, reason: string): void;
}

/** Topics kept in rings for resume (previews are latest-only). */
const LOGGED: readonly WsTopic[] = ['frame', 'objects', 'segmentation', 'stats', 'heatmap', 'event'];


export interface Control {
  resetTemplate(): void;
  setPreview(kinds: PreviewKind[]): void;
}

class Client {
  readonly topics = new Set<WsTopic>();
  preview: PreviewKind = 'registered';
  /** Topics being caught up from the rings: the next topicSeq to send. */
  readonly cursors = new Map<WsTopic, number>();
  /** Messages not sent since the client last caught up, per topic. */
  readonly drops = new Map<WsTopic, { count: number; fromSeq: number }>();
  /** Messages dropped in a row (any topic) since the last one sent. */
  streak = 0;
  closed = false;
  /** The stream's `end` was sent (after everything the client asked for). */
  endSent = false;
  constructor(readonly socket: ClientSocket) {}
}

export type SubscribersOptions = Pick<
  Config['server'],
  'bufferMessages' | 'bufferSeconds' | 'bufferBytes' | 'clientBufferBytes' | 'clientMaxDropped'
>;

export class Subscribers {
  /** A random id of this process's session: topicSeq values are comparable only within one. */
  readonly session = randomBytes(8).toString('hex');
  private readonly logs = new Map<WsTopic, TopicLog>();
  private readonly clients = new Set<Client>();
  private meta: Message | null = null;
  private ended: Message | null = null;
  private control: Control | null = null;
  private previewSeq = 0;
  private previewKinds = '';
  private pumpScheduled = false;
  bytesSent = 0;
  messagesDropped = 0;

  constructor(private readonly opts: SubscribersOptions) {
    const limits = { messages: opts.bufferMessages, seconds: opts.bufferSeconds, bytes: opts.bufferBytes };
    for (const t of LOGGED) this.logs.set(t, new TopicLog(t, limits));
  }

  get count(): number {
    return this.clients.size;
  }

  setMeta(meta: Message): void {
    this.meta = meta;
  }

  setControl(c: Control | null): void {
    this.control = c;
    this.previewKinds = '';
    this.updatePreviewKinds();
  }

  /** A new connection: greets it; returns the handlers the engine calls. */
  connect(socket: ClientSocket): { message(text: string): void; binary(): void; close(): void } {
    const c = new Client(socket);
    this.clients.add(c);
    const buffered: Record<string, { first: number; last: number }> = {};
    for (const [t, log] of this.logs) buffered[t] = { first: log.first, last: log.next - 1 };
    this.sendJson(c, { type: 'hello', version: 1, session: this.session, topics: WS_TOPICS, meta: this.meta, buffered });
    return {
      message: (text) => this.onMessage(c, text),
      binary: () => this.error(c, 'binary messages are not accepted; send JSON text'),
      close: () => {
        c.closed = true;
        this.clients.delete(c);
        this.updatePreviewKinds();
      },
    };
  }

  /** A hub message of a topic (JSON bytes): into its ring, then to every subscriber. */
  publish(topic: Topic, json: Buffer): void {
    const log = this.logs.get(topic as WsTopic);
    if (log === undefined) return;
    const entry = log.append(json);
    for (const c of this.clients) {
      if (!c.topics.has(topic as WsTopic) || c.cursors.has(topic as WsTopic)) continue;
      this.deliver(c, topic as WsTopic, entry);
    }
  }

  /**
   * The stream's `end`: sent to every client once it has everything it
   * subscribed to (a client still catching up from the rings gets it after
   * them), and to clients that subscribe later.
   */
  end(msg: Message): void {
    this.ended = msg;
    for (const c of this.clients) this.sendEndIfDone(c);
  }

  private sendEndIfDone(c: Client): void {
    if (this.ended === null || c.endSent || c.cursors.size > 0 || c.topics.size === 0) return;
    // What it lost at the very end is said before `end`: nothing follows that would show a jump.
    this.sendDropNotices(c);
    c.endSent = true;
    this.sendJson(c, this.ended);
  }

  /** Whether some client is subscribed to `topic`. */
  watching(topic: WsTopic): boolean {
    for (const c of this.clients) if (c.topics.has(topic)) return true;
    return false;
  }

  /** Which preview kinds someone is subscribed to (the worker encodes only those). */
  wantedPreviews(): PreviewKind[] {
    const kinds = new Set<PreviewKind>();
    for (const c of this.clients) if (c.topics.has('preview')) kinds.add(c.preview);
    return [...kinds].sort();
  }

  publishPreview(h: PreviewHeader, pixels: Uint8Array): void {
    const header = Buffer.from(
      JSON.stringify({ type: 'preview', topic: 'preview', topicSeq: this.previewSeq++, seq: h.seq, t: h.t, kind: h.kind, width: h.width, height: h.height, lo: h.lo, hi: h.hi }),
      'utf8',
    );
    const bytes = Buffer.allocUnsafe(4 + header.length + pixels.length);
    bytes.writeUInt32LE(header.length, 0);
    header.copy(bytes, 4);
    bytes.set(pixels, 4 + header.length);
    for (const c of this.clients) {
      // Latest-only: a client that is behind skips previews rather than queueing them.
      if (!c.topics.has('preview') || c.preview !== h.kind || c.socket.buffered > this.opts.clientBufferBytes) continue;
      this.write(c, bytes, true);
    }
  }

  closeAll(code: number, reason: string): void {
    for (const c of this.clients) {
      c.closed = true;
      c.socket.close(code, reason);
    }
    this.clients.clear();
    this.updatePreviewKinds();
  }

  private deliver(c: Client, topic: WsTopic, entry: LogEntry): void {
    if (c.socket.buffered > this.opts.clientBufferBytes) {
      const d = c.drops.get(topic);
      if (d) d.count++;
      else c.drops.set(topic, { count: 1, fromSeq: entry.seq });
      this.messagesDropped++;
      if (++c.streak > this.opts.clientMaxDropped) this.disconnect(c);
      return;
    }
    this.sendDropNotices(c);
    this.write(c, entry.bytes, false);
    c.streak = 0;
  }

  /** The hard limit: a client that keeps falling behind is closed. */
  private disconnect(c: Client): void {
    if (c.closed) return;
    c.closed = true;
    this.clients.delete(c);
    c.socket.close(1008, `too slow: ${c.streak} messages dropped`);
    this.updatePreviewKinds();
  }

  private sendDropNotices(c: Client): void {
    if (c.drops.size === 0) return;
    for (const [topic, d] of c.drops) this.sendJson(c, { type: 'dropped', topic, count: d.count, fromSeq: d.fromSeq });
    c.drops.clear();
  }

  private write(c: Client, bytes: Buffer, binary: boolean): void {
    if (c.closed) return;
    c.socket.send(bytes, binary);
    this.bytesSent += bytes.length;
  }

  private sendJson(c: Client, msg: unknown): void {
    this.write(c, Buffer.from(JSON.stringify(msg), 'utf8'), false);
  }

  private error(c: Client, message: string): void {
    this.sendJson(c, { type: 'error', message });
  }

  private onMessage(c: Client, text: string): void {
    // A client that sends but does not read its replies: its requests are not answered (nor carried
    // out) past its buffer limit, and count towards the hard limit like dropped messages.
    if (c.socket.buffered > this.opts.clientBufferBytes) {
      this.messagesDropped++;
      if (++c.streak > this.opts.clientMaxDropped) this.disconnect(c);
      return;
    }
    const p = parseClientMessage(text);
    if (!p.ok) return this.error(c, p.error);
    const msg = p.message;
    switch (msg.type) {
      case 'subscribe':
        return this.subscribe(c, msg.topics, msg.from, msg.preview);
      case 'unsubscribe':
        for (const t of msg.topics) {
          c.topics.delete(t);
          c.cursors.delete(t);
          c.drops.delete(t);
        }
        this.updatePreviewKinds();
        return this.sendJson(c, { type: 'unsubscribed', topics: msg.topics });
      case 'command':
        if (this.control === null) return this.error(c, `${msg.command}: the pipeline is not running`);
        this.control.resetTemplate();
        return this.sendJson(c, { type: 'ack', command: msg.command });
      case 'ping':
        return this.sendJson(c, { type: 'pong' });
    }
  }

  private subscribe(c: Client, topics: WsTopic[], from: number | Partial<Record<WsTopic, number>> | null, preview: PreviewKind | null): void {
    const fromOf = (t: WsTopic): number | null => (from === null ? null : typeof from === 'number' ? from : (from[t] ?? null));
    if (preview !== null) c.preview = preview;
    const next: Record<string, number> = {};
    for (const t of topics) {
      c.topics.add(t);
      const log = this.logs.get(t);
      const f = fromOf(t);
      if (log === undefined || f === null) {
        c.cursors.delete(t);
        next[t] = log?.next ?? this.previewSeq;
        continue;
      }
      if (f > log.next) this.error(c, `from ${f} is ahead of topic ${t} (next is ${log.next}); delivering from ${log.next}`);
      const start = Math.min(f, log.next);
      next[t] = start;
      c.drops.delete(t);
      c.cursors.set(t, start);
    }
    this.sendJson(c, { type: 'subscribed', topics: [...c.topics], next });
    this.updatePreviewKinds();
    this.schedulePump();
  }

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => this.pump());
  }

  /** Catch-up from the rings, as fast as each client's buffer allows. */
  private pump(): void {
    this.pumpScheduled = false;
    let waiting = false;
    for (const c of this.clients) {
      if (c.cursors.size === 0) {
        this.sendEndIfDone(c);
        continue;
      }
      // What this pass may write: the socket's buffer only shows earlier ticks' bytes, not this one's.
      let budget = this.opts.clientBufferBytes - c.socket.buffered;
      this.sendDropNotices(c);
      for (const [t, cursor] of c.cursors) {
        const log = this.logs.get(t)!;
        let seq = cursor;
        while (budget > 0) {
          if (seq >= log.next) break;
          const e = log.get(seq);
          if (e === undefined) {
            // Evicted before it could be sent (or asked for from before the ring's start).
            this.sendJson(c, { type: 'gap', topic: t, fromSeq: seq, toSeq: log.first - 1 });
            seq = log.first;
            continue;
          }
          this.write(c, e.bytes, false);
          budget -= e.bytes.length;
          seq++;
        }
        if (seq >= log.next) c.cursors.delete(t);
        else {
          c.cursors.set(t, seq);
          waiting = true;
        }
      }
      this.sendEndIfDone(c);
    }
    if (waiting && !this.pumpScheduled) {
      this.pumpScheduled = true;
      setTimeout(() => this.pump(), 5);
    }
  }

  private updatePreviewKinds(): void {
    const kinds = this.wantedPreviews();
    const key = kinds.join(',');
    if (key === this.previewKinds) return;
    this.previewKinds = key;
    this.control?.setPreview(kinds);
  }
}
