/**
 * The hub: every result of the pipeline is published here once, by topic, and
 * every output (recorder, status line, server, metrics) subscribes. Publishing
 * is synchronous and never waits on a subscriber; a subscriber that needs to
 * do I/O buffers on its own side.
 *
 * A message is published either as an object or as its JSON as UTF-8 bytes
 * (large messages are serialised in the worker that computed them).
 * Subscribers ask for the form they use — objects (`subscribe`) or bytes
 * (`subscribeBytes`: the recorder, the server) — and each form is made at
 * most once per message, only if someone wants it.
 */
export type Topic = 'meta' | 'frame' | 'segmentation' | 'objects' | 'stats' | 'event' | 'heatmap' | 'end';

export const TOPICS: readonly Topic[] = ['meta', 'frame', 'segmentation', 'objects', 'stats', 'event', 'heatmap', 'end'];

export type Message = { type: string } & Record<string, unknown>;
export type Subscriber = (topic: Topic, msg: Message) => void;
/** The message's JSON, one line without its newline; shared by all subscribers: do not modify. */
export type BytesSubscriber = (topic: Topic, json: Buffer) => void;
export type TextSubscriber = (topic: Topic, json: string) => void;

interface Entry {
  topics: ReadonlySet<Topic> | null;
  /** Whether this subscriber currently wants a topic it is subscribed to (default: always). */
  interested?: (topic: Topic) => boolean;
  fn: Subscriber | null;
  bytes: BytesSubscriber | null;
  text: TextSubscriber | null;
}

export class Hub {
  private readonly subs = new Set<Entry>();

  /** Subscribes to some topics (all when `topics` is omitted) as objects; returns the unsubscribe function. */
  subscribe(fn: Subscriber, topics?: readonly Topic[]): () => void {
    return this.add({ topics: topics ? new Set(topics) : null, fn, bytes: null, text: null });
  }

  /**
   * Subscribes to some topics as JSON bytes (one line, no newline).
   * `interested` lets a relay (the server) say when it has no reader for a
   * topic, so that a producer can skip it (see `wants`).
   */
  subscribeBytes(bytes: BytesSubscriber, topics?: readonly Topic[], interested?: (topic: Topic) => boolean): () => void {
    return this.add({ topics: topics ? new Set(topics) : null, fn: null, bytes, text: null, interested });
  }

  /** Subscribes to some topics as JSON text (one line, no newline). */
  subscribeText(text: TextSubscriber, topics?: readonly Topic[]): () => void {
    return this.add({ topics: topics ? new Set(topics) : null, fn: null, bytes: null, text });
  }

  /** Whether anyone listens to `topic`: lets a producer skip building a message nobody reads. */
  wants(topic: Topic): boolean {
    for (const s of this.subs) if ((s.topics === null || s.topics.has(topic)) && (s.interested?.(topic) ?? true)) return true;
    return false;
  }

  publish(topic: Topic, message: Message | Buffer): void {
    let msg = Buffer.isBuffer(message) ? null : message;
    let json = Buffer.isBuffer(message) ? message : null;
    let text: string | null = null;
    for (const s of this.subs) {
      if (s.topics !== null && !s.topics.has(topic)) continue;
      if (s.fn) s.fn(topic, (msg ??= JSON.parse((text ??= json!.toString('utf8'))) as Message));
      else if (s.bytes) s.bytes(topic, (json ??= Buffer.from((text ??= JSON.stringify(msg)), 'utf8')));
      else s.text!(topic, (text ??= json === null ? JSON.stringify(msg) : json.toString('utf8')));
    }
  }

  private add(e: Entry): () => void {
    this.subs.add(e);
    return () => this.subs.delete(e);
  }
}
