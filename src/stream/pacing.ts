import type { Frame } from '../ingest/frame.js';

/** Waits `ms` milliseconds (the real clock; tests inject a fake one). */
export function sleepMs(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Replay pacing: frames are released no earlier than their time in the
 * recording divided by `speed`, measured from the first frame. Lossless: a
 * slow consumer just makes the replay late, it never skips a frame. `now` and
 * `sleep` are the clock (injected so that tests need no real time).
 */
export async function* pacedReplay(
  frames: AsyncIterable<Frame>,
  speed: number,
  now: () => number,
  sleep: (ms: number) => Promise<void> = sleepMs,
): AsyncGenerator<Frame> {
  let start = -1;
  let t0 = 0;
  for await (const f of frames) {
    if (start < 0) {
      start = now();
      t0 = f.t;
    }
    const due = start + (f.t - t0) / speed;
    const wait = due - now();
    if (wait > 1) await sleep(wait);
    yield f;
  }
}

/**
 * A live source's frames as they come, through a bounded queue: when the
 * consumer falls behind, the oldest waiting frame is dropped (and counted)
 * so that the newest are always processed and the camera never waits.
 * `fps` (for sources that produce on demand, like the simulator) makes the
 * queue pull one frame per 1/fps seconds on its own clock, which, like a
 * camera's, keeps running while the consumer or the event loop is late.
 */
export class LiveQueue {
  dropped = 0;
  received = 0;
  private readonly buf: Frame[] = [];
  private waiter: (() => void) | null = null;
  private done = false;
  private error: unknown = null;
  private stopped = false;

  /**
   * `onDue`, for a paced source: the time (performance.now()) each frame fell
   * due on the queue's clock, which is when a camera would have delivered it.
   * It is earlier than the time the frame was taken whenever the main thread
   * was late, and that lateness belongs in the frame's latency. A frame taken
   * early (timers fire up to a millisecond before the exact time) arrives
   * when it is taken: its processing starts then.
   */
  constructor(
    private readonly capacity: number,
    private readonly onDrop?: (f: Frame) => void,
    private readonly onDue?: (f: Frame, due: number) => void,
  ) {}

  /** Starts pulling from `frames`; paced at `fps` when given. */
  start(frames: AsyncIterable<Frame>, fps?: number): void {
    void this.pump(frames, fps);
  }

  stop(): void {
    this.stopped = true;
    this.wake();
  }

  get depth(): number {
    return this.buf.length;
  }

  private async pump(frames: AsyncIterable<Frame>, fps?: number): Promise<void> {
    const period = fps ? 1000 / fps : 0;
    // The clock starts with the first frame: a source may take a while to open or to make its first
    // frame (the simulator renders its loop first), and those are not frames late.
    let next = -1;
    try {
      for await (const f of frames) {
        if (this.stopped) break;
        if (period > 0) {
          const now = performance.now();
          if (next < 0) next = now;
          this.onDue?.(f, Math.min(next, now));
        }
        this.push(f);
        if (period > 0) {
          next += period;
          const wait = next - performance.now();
          // Behind (the main thread was busy): no waiting, and no restart of the clock either. A camera
          // keeps its rate while we are late, so the frames due meanwhile are taken at once, one per
          // turn of the event loop, and the queue drops (and counts) the oldest if they overflow it.
          // Restarting the clock instead made the simulator slow down silently whenever we were late.
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        }
        // A source slower than its own rate never waits on the timer above, and one that makes frames
        // synchronously (the simulator) would then starve sockets and the pipeline.
        if (period > 0 && performance.now() > next) await new Promise((r) => setImmediate(r));
        if (this.stopped) break;
      }
    } catch (e) {
      this.error = e;
    }
    this.done = true;
    this.wake();
  }

  private push(f: Frame): void {
    this.received++;
    if (this.buf.length >= this.capacity) {
      const old = this.buf.shift() as Frame;
      this.dropped++;
      this.onDrop?.(old);
    }
    this.buf.push(f);
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  async *frames(): AsyncGenerator<Frame> {
    for (;;) {
      if (this.buf.length > 0) {
        yield this.buf.shift() as Frame;
        continue;
      }
      if (this.stopped) return;
      if (this.done) {
        if (this.error) throw this.error;
        return;
      }
      await new Promise<void>((r) => (this.waiter = r));
    }
  }
}
