/**
 * Pieces shared by the live sources (raw-frame socket, watched folder, streams
 * through ffmpeg): the connection health they report, a small drop-oldest
 * hand-over of frames to the consumer, and an arrival clock for frames that
 * carry no timestamp of their own.
 */
import type { Frame, SourceHealth } from './frame.js';

/**
 * Keeps a live source's `SourceHealth`. Outage time runs from the moment a
 * connection that had delivered frames is lost until the next one delivers;
 * the wait before the very first connection is not an outage.
 */
export class HealthTracker {
  private state: SourceHealth['state'] = 'waiting';
  private reconnects = 0;
  private outageMs = 0;
  private outageSince: number | null = null;
  private lastError: string | null = null;
  private everConnected = false;

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Frames flow (again). A return after a loss counts as a reconnection. */
  connected(): void {
    if (this.state === 'connected' || this.state === 'ended') return;
    this.closeOutage();
    if (this.everConnected) this.reconnects++;
    this.everConnected = true;
    this.state = 'connected';
  }

  /** The connection ended; `next` says whether the source waits for a sender or retries itself. */
  lost(why: string, next: 'waiting' | 'reconnecting'): void {
    if (this.state === 'ended') return;
    this.lastError = why;
    if (this.everConnected && this.outageSince === null) this.outageSince = this.now();
    this.state = next;
  }

  /** A problem worth reporting that does not change the state (a refused sender, a skipped file). */
  error(why: string): void {
    if (this.state !== 'ended') this.lastError = why;
  }

  ended(): void {
    this.closeOutage();
    this.state = 'ended';
  }

  get isConnected(): boolean {
    return this.state === 'connected';
  }

  snapshot(): SourceHealth {
    const ongoing = this.outageSince === null ? 0 : this.now() - this.outageSince;
    return { state: this.state, reconnects: this.reconnects, outageMs: this.outageMs + ongoing, lastError: this.lastError };
  }

  private closeOutage(): void {
    if (this.outageSince === null) return;
    this.outageMs += this.now() - this.outageSince;
    this.outageSince = null;
  }
}

/**
 * Frames produced on the source's own clock, handed to whoever iterates.
 * The pipeline drains it as fast as it can (its LiveQueue does the real
 * dropping and counting); the bound only matters while nobody iterates
 * (between open() and the first pull), so that memory cannot grow then.
 * It is counted in bytes beyond the first few frames because small frames
 * come in bursts (many per socket read, all pushed before the consumer
 * can run), and those must not be lost while the consumer is waiting.
 */
export class FrameHandoff {
  /** Frames dropped here because nobody took them. */
  dropped = 0;
  private readonly buf: Frame[] = [];
  private bytes = 0;
  private waiter: (() => void) | null = null;
  private closed = false;

  constructor(
    /** Frames always kept, whatever their size. */
    private readonly keep = 4,
    private readonly maxBytes = 4 << 20,
    private readonly maxFrames = 1024,
  ) {}

  push(frame: Frame): void {
    if (this.closed) return;
    this.buf.push(frame);
    this.bytes += frame.data.byteLength;
    while (this.buf.length > this.keep && (this.bytes > this.maxBytes || this.buf.length > this.maxFrames)) {
      this.bytes -= (this.buf.shift() as Frame).data.byteLength;
      this.dropped++;
    }
    this.wake();
  }

  /** Ends every iteration once the frames already waiting are taken. */
  close(): void {
    this.closed = true;
    this.wake();
  }

  get depth(): number {
    return this.buf.length;
  }

  async *frames(): AsyncGenerator<Frame, void, undefined> {
    for (;;) {
      const f = this.buf.shift();
      if (f) {
        this.bytes -= f.data.byteLength;
        yield f;
        continue;
      }
      if (this.closed) return;
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }
}

/**
 * Milliseconds since the source was opened, strictly increasing: frames
 * that carry no acquisition time get their arrival time, and two frames
 * read in the same millisecond must still be apart (rates are per Δt).
 */
export class ArrivalClock {
  private readonly start = performance.now();
  private last = -Infinity;

  now(): number {
    let t = performance.now() - this.start;
    if (t <= this.last) t = this.last + 0.001;
    this.last = t;
    return t;
  }
}

/** Resolves after `ms`, or at once when `signal` aborts (never rejects). */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}
