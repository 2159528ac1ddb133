/**
 * The recent messages of one topic, already serialised for the wire, numbered
 * by `topicSeq` from 0 without gaps. A ring bounded by count, age and bytes:
 * what a reconnecting subscriber can resume from (docs/protocol.md).
 */
export interface LogEntry {
  readonly seq: number;
  /** When it was appended (ms, the log's clock). */
  readonly t: number;
  /** The message as sent: UTF-8 JSON with `topic` and `topicSeq`. */
  readonly bytes: Buffer;
}

export interface LogLimits {
  messages: number;
  seconds: number;
  bytes: number;
}

const CLOSE = Buffer.from('}');

export class TopicLog {
  private ring: (LogEntry | undefined)[];
  /** Index in `ring` of the oldest entry. */
  private head = 0;
  private count = 0;
  private totalBytes = 0;
  private nextSeq = 0;
  private readonly prefix: string;

  constructor(
    readonly topic: string,
    private readonly limits: LogLimits,
    private readonly now: () => number = () => performance.now(),
  ) {
    // Grown on demand up to the message limit, so an idle topic costs nothing.
    this.ring = new Array<LogEntry | undefined>(Math.min(64, Math.max(1, limits.messages)));
    this.prefix = `{"topic":${JSON.stringify(topic)},"topicSeq":`;
  }

  /** The seq the next message will get. */
  get next(): number {
    return this.nextSeq;
  }

  /** The oldest seq still held (=== next when empty). */
  get first(): number {
    return this.nextSeq - this.count;
  }

  get size(): number {
    return this.count;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  /**
   * Appends a message given as its JSON object (`{…}`, UTF-8 bytes); returns
   * the entry whose bytes carry `topic` and `topicSeq` in front of the
   * message's own fields.
   */
  append(json: Buffer): LogEntry {
    const seq = this.nextSeq++;
    const head = Buffer.from(`${this.prefix}${seq}${json.length > 2 ? ',' : ''}`, 'latin1');
    const entry: LogEntry = { seq, t: this.now(), bytes: Buffer.concat([head, json.length > 2 ? json.subarray(1) : CLOSE]) };
    if (this.limits.messages === 0 || this.limits.bytes === 0 || this.limits.seconds === 0) {
      this.head = 0;
      this.count = 0;
      this.totalBytes = 0;
      return entry;
    }
    if (this.count === this.ring.length && this.count < this.limits.messages) this.grow();
    if (this.count === this.ring.length) this.evictOldest();
    this.ring[(this.head + this.count) % this.ring.length] = entry;
    this.count++;
    this.totalBytes += entry.bytes.length;
    this.trim(entry.t);
    return entry;
  }

  /** The entry with this seq, if still held. */
  get(seq: number): LogEntry | undefined {
    this.trim(this.now());
    const k = seq - this.first;
    if (k < 0 || k >= this.count) return undefined;
    return this.ring[(this.head + k) % this.ring.length];
  }

  private trim(now: number): void {
    const maxAge = this.limits.seconds * 1000;
    while (this.count > 1 && (this.totalBytes > this.limits.bytes || now - this.ring[this.head]!.t > maxAge)) this.evictOldest();
  }

  private evictOldest(): void {
    const e = this.ring[this.head]!;
    this.ring[this.head] = undefined;
    this.totalBytes -= e.bytes.length;
    this.head = (this.head + 1) % this.ring.length;
    this.count--;
  }

  private grow(): void {
    const size = Math.min(this.limits.messages, this.ring.length * 2);
    const next = new Array<LogEntry | undefined>(size);
    for (let k = 0; k < this.count; k++) next[k] = this.ring[(this.head + k) % this.ring.length];
    this.ring = next;
    this.head = 0;
  }
}
