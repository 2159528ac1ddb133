/**
 * The hub: every result of the pipeline is published here once, by topic, and
 * every output (recorder, status line, server, metrics) subscribes. Publishing
 * is synchronous and never waits on a subscriber; a subscriber that needs to
 * do I/O buffers on its own side.
 *
 * A message is published either as an object or as its JSON text (large
 * messages are serialised in the worker that computed them). Subscribers ask
 * for the form they use — objects (`subscribe`) or text (`subscribeText`) —
 * and each form is made at most once per message, only if someone wants it.
 */
export type Topic = 'meta' | 'frame' | 'segmentation' | 'objects' | 'stats' | 'event' | 'heatmap' | 'end';

export const TOPICS: readonly Topic[] = ['meta', 'frame', 'segmentation', 'objects', 'stats', 'event', 'heatmap', 'end'];

export type Message = { type: string } & Record<string, unknown>;
export type Subscriber = (topic: Topic, msg: Message) => void;
export type TextSubscriber = (topic: Topic, json: string) => void;

interface Entry {
  topics: ReadonlySet<Topic> | null;
  fn: Subscriber | null;
  text: TextSubscriber | null;
}

export class Hub {
  private readonly subs = new Set<Entry>();

  /** Subscribes to some topics (all when `topics` is omitted) as objects; returns the unsubscribe function. */
  subscribe(fn: Subscriber, topics?: readonly Topic[]): () => void {
    return this.add({ topics: topics ? new Set(topics) : null, fn, text: null });
  }

  /** Subscribes to some topics as JSON text (one line, no newline). */
  subscribeText(text: TextSubscriber, topics?: readonly Topic[]): () => void {
    return this.add({ topics: topics ? new Set(topics) : null, fn: null, text });
  }

  /** Whether anyone listens to `topic`: lets a producer skip building a message nobody reads. */
  wants(topic: Topic): boolean {
    for (const s of this.subs) if (s.topics === null || s.topics.has(topic)) return true;
    return false;
  }

  publish(topic: Topic, message: Message | string): void {
    let msg = typeof message === 'string' ? null : message;
    let json = typeof message === 'string' ? message : null;
    for (const s of this.subs) {
      if (s.topics !== null && !s.topics.has(topic)) continue;
      if (s.fn) s.fn(topic, (msg ??= JSON.parse(json!) as Message));
      else s.text!(topic, (json ??= JSON.stringify(msg)));
    }
  }

  private add(e: Entry): () => void {
    this.subs.add(e);
    return () => this.subs.delete(e);
  }
}
