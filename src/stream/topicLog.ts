/**
 * The recent messages of one topic, already serialised for the wire, numbered
 * by `topicSeq` from 0 without gaps. A ring bounded by count, age and bytes:
 * what a reconnecting subscriber can resume from (docs/protocol.md).
 *
 * The messages' bytes are copied into large blocks that are recycled once
 * every message in them has been evicted. A buffer per message, kept for the
 * ring's ~60 s, would be promoted to the old generation and freed only by a
 * full collection: at 200 fps (~9 MB/s of `objects`) V8 ran a Mark-Compact
 * for "external memory pressure" every ~6.5 s on the thread that takes the
 * frames. With recycled blocks the memory the rings hold stops growing once
 * they are full.
 */
export interface LogEntry {
  readonly seq: number;
  /** When it was appended (ms, the log's clock). */
  readonly t: number;
  /**
   * The message as sent: UTF-8 JSON with `topic` and `topicSeq`. A view into
   * a block that is reused once the entry has been evicted and the event loop
   * has turned: consumers copy it (or send it) within the tick they got it.
   */
  readonly bytes: Buffer;
}

export interface LogLimits {
  messages: number;
  seconds: number;
  bytes: number;
}

interface Block {
  readonly buf: Buffer;
  /** Bytes written from the start. */
  used: number;
  /** Entries of the ring in it. */
  entries: number;
}

interface StoredEntry extends LogEntry {
  readonly block: Block;
}

/** The first block of a topic: small, so a quiet topic (stats at 2 Hz, ~120 KB a minute) holds little. */
const FIRST_BLOCK = 64 * 1024;
/** Blocks grow by doubling up to this, or a sixteenth of the byte limit if that is smaller. */
const MAX_BLOCK = 4 * 1024 * 1024;
/** Evicted blocks kept for reuse; more are left to the collector. */
const SPARE_BLOCKS = 2;
const CLOSE_BRACE = 0x7d;

export class TopicLog {
  private ring: (StoredEntry | undefined)[];
  /** Index in `ring` of the oldest entry. */
  private head = 0;
  private count = 0;
  private totalBytes = 0;
  private nextSeq = 0;
  private readonly prefix: string;
  /** Blocks holding ring entries, oldest first; the last one is written to. */
  private readonly blocks: Block[] = [];
  /** Blocks free to be written. */
  private spare: Buffer[] = [];
  /** Blocks evicted this tick: views of their entries may still be on their way out. */
  private cooling: Buffer[] = [];
  private coolingScheduled = false;
  private nextBlockSize = FIRST_BLOCK;
  private readonly maxBlock: number;

  constructor(
    readonly topic: string,
    private readonly limits: LogLimits,
    private readonly now: () => number = () => performance.now(),
  ) {
    // Grown on demand up to the message limit, so an idle topic costs nothing.
    this.ring = new Array<StoredEntry | undefined>(Math.min(64, Math.max(1, limits.messages)));
    this.prefix = `{"topic":${JSON.stringify(topic)},"topicSeq":`;
    this.maxBlock = Math.max(FIRST_BLOCK, Math.min(MAX_BLOCK, Math.floor(limits.bytes / 16)));
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

  /** Bytes of the messages held (the byte limit's measure). */
  get bytes(): number {
    return this.totalBytes;
  }

  /** Bytes of the blocks allocated, in use or spare (the memory held). */
  get blockBytes(): number {
    let n = 0;
    for (const b of this.blocks) n += b.buf.length;
    for (const b of this.spare) n += b.length;
    for (const b of this.cooling) n += b.length;
    return n;
  }

  /**
   * Appends a message given as its JSON object (`{…}`, UTF-8 bytes); returns
   * the entry whose bytes carry `topic` and `topicSeq` in front of the
   * message's own fields.
   */
  append(json: Buffer): LogEntry {
    const seq = this.nextSeq++;
    const t = this.now();
    const fields = json.length > 2;
    // The prefix is ASCII (topic names and digits): one byte per character.
    const head = `${this.prefix}${seq}${fields ? ',' : ''}`;
    const n = head.length + (fields ? json.length - 1 : 1);
    if (this.limits.messages === 0 || this.limits.bytes === 0 || this.limits.seconds === 0) {
      this.head = 0;
      this.count = 0;
      this.totalBytes = 0;
      const bytes = Buffer.allocUnsafe(n);
      writeMessage(bytes, 0, head, json);
      return { seq, t, bytes };
    }
    const block = this.blockFor(n);
    const at = block.used;
    writeMessage(block.buf, at, head, json);
    block.used += n;
    block.entries++;
    const entry: StoredEntry = { seq, t, bytes: block.buf.subarray(at, at + n), block };
    if (this.count === this.ring.length && this.count < this.limits.messages) this.grow();
    if (this.count === this.ring.length) this.evictOldest();
    this.ring[(this.head + this.count) % this.ring.length] = entry;
    this.count++;
    this.totalBytes += n;
    this.trim(t);
    return entry;
  }

  /** The entry with this seq, if still held. */
  get(seq: number): LogEntry | undefined {
    this.trim(this.now());
    const k = seq - this.first;
    if (k < 0 || k >= this.count) return undefined;
    return this.ring[(this.head + k) % this.ring.length];
  }

  /** The block to write `n` bytes to: the current one if they fit, else a spare or a new one. */
  private blockFor(n: number): Block {
    const current = this.blocks.length > 0 ? this.blocks[this.blocks.length - 1] : undefined;
    if (current !== undefined && current.buf.length - current.used >= n) return current;
    let buf: Buffer | undefined;
    for (let i = 0; i < this.spare.length; i++) {
      if (this.spare[i].length >= n) {
        buf = this.spare[i];
        this.spare.splice(i, 1);
        break;
      }
    }
    if (buf === undefined) {
      // A message larger than a block gets a block of its own size.
      buf = Buffer.allocUnsafeSlow(Math.max(n, this.nextBlockSize));
      this.nextBlockSize = Math.min(this.maxBlock, this.nextBlockSize * 2);
    }
    const block: Block = { buf, used: 0, entries: 0 };
    this.blocks.push(block);
    return block;
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
    // The newest entry is never evicted, so the block written to always keeps one.
    if (--e.block.entries === 0) this.release(e.block);
  }

  /**
   * A block none of whose entries is in the ring any more. Entries evicted in
   * this tick may still be referenced by code that got them in this tick (an
   * engine's sends pending until the tick's end), so the block is written
   * again only after the event loop has turned.
   */
  private release(b: Block): void {
    // Entries leave in order, so the block emptied is the oldest.
    this.blocks.shift();
    this.cooling.push(b.buf);
    if (this.coolingScheduled) return;
    this.coolingScheduled = true;
    setImmediate(() => {
      this.coolingScheduled = false;
      const all = this.spare.concat(this.cooling);
      this.cooling = [];
      // The largest are kept: the early small blocks are not written again once blocks have grown.
      all.sort((a, b) => b.length - a.length);
      this.spare = all.slice(0, SPARE_BLOCKS);
    });
  }

  private grow(): void {
    const size = Math.min(this.limits.messages, this.ring.length * 2);
    const next = new Array<StoredEntry | undefined>(size);
    for (let k = 0; k < this.count; k++) next[k] = this.ring[(this.head + k) % this.ring.length];
    this.ring = next;
    this.head = 0;
  }
}

/** `head` (ASCII) then the fields of the JSON object `json` after its `{`, or `}` when it has none. */
function writeMessage(to: Buffer, at: number, head: string, json: Buffer): void {
  const h = to.write(head, at, 'latin1');
  if (json.length > 2) json.copy(to, at + h, 1);
  else to[at + h] = CLOSE_BRACE;
}
