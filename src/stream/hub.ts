/**
 * The hub: every result of the pipeline is published here once, by topic, and
 * every output (recorder, status line, later the WebSocket server and the
 * metrics) subscribes. Publishing is synchronous and never waits on a
 * subscriber; a subscriber that needs to do I/O buffers on its own side.
 */
export type Topic = 'meta' | 'frame' | 'segmentation' | 'objects' | 'stats' | 'event' | 'heatmap' | 'end';

export type Message = { type: string } & Record<string, unknown>;
export type Subscriber = (topic: Topic, msg: Message) => void;

export class Hub {
  private readonly subs = new Set<{ topics: ReadonlySet<Topic> | null; fn: Subscriber }>();

  /** Subscribes to some topics (all when `topics` is omitted); returns the unsubscribe function. */
  subscribe(fn: Subscriber, topics?: readonly Topic[]): () => void {
    const entry = { topics: topics ? new Set(topics) : null, fn };
    this.subs.add(entry);
    return () => this.subs.delete(entry);
  }

  /** Whether anyone listens to `topic`: lets a producer skip building a message nobody reads. */
  wants(topic: Topic): boolean {
    for (const s of this.subs) if (s.topics === null || s.topics.has(topic)) return true;
    return false;
  }

  publish(topic: Topic, msg: Message): void {
    for (const s of this.subs) {
      if (s.topics === null || s.topics.has(topic)) s.fn(topic, msg);
    }
  }
}
