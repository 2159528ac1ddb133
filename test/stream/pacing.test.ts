/**
 * Replay pacing and the live queue, without real time: pacedReplay runs on an
 * injected clock and sleep; LiveQueue is driven by a producer that never
 * waits and a consumer that yields to the event loop after every frame, and
 * only counts and order are checked.
 */
import { describe, expect, it } from 'vitest';
import type { Frame } from '../../src/ingest/frame.js';
import { LiveQueue, pacedReplay } from '../../src/stream/pacing.js';

function frame(seq: number, t: number): Frame {
  return { seq, t, width: 1, height: 1, channels: 1, data: new Uint16Array(1) };
}

async function* framesAt(times: number[], onPull?: (seq: number) => void): AsyncGenerator<Frame> {
  for (let i = 0; i < times.length; i++) {
    onPull?.(i);
    yield frame(i, times[i]);
  }
}

/** A fake clock: `sleep` moves time forward by exactly what was asked and records it. */
class FakeClock {
  time: number;
  readonly sleeps: number[] = [];
  constructor(start: number) {
    this.time = start;
  }
  now = (): number => this.time;
  sleep = async (ms: number): Promise<void> => {
    this.sleeps.push(ms);
    this.time += ms;
  };
}

describe('pacedReplay', () => {
  it('releases each frame at (t − t0) / speed after the first, by the injected clock', async () => {
    const times = [1000, 1040, 1080, 1200, 1210, 1500];
    for (const speed of [1, 2, 0.5]) {
      const clock = new FakeClock(5000);
      const released: { seq: number; at: number }[] = [];
      for await (const f of pacedReplay(framesAt(times), speed, clock.now, clock.sleep)) released.push({ seq: f.seq, at: clock.time });
      expect(released.map((r) => r.seq)).toEqual([0, 1, 2, 3, 4, 5]);
      expect(released.map((r) => r.at - 5000)).toEqual(times.map((t) => (t - 1000) / speed));
    }
  });

  it('never sleeps to catch up when the consumer is late, and never skips a frame', async () => {
    const times = [0, 10, 20, 30, 40, 50, 60, 70];
    const clock = new FakeClock(0);
    const seen: number[] = [];
    for await (const f of pacedReplay(framesAt(times), 1, clock.now, clock.sleep)) {
      seen.push(f.seq);
      clock.time += 25; // processing takes 25 ms per 10 ms frame: the replay falls behind
    }
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(clock.sleeps).toEqual([]);
  });

  it('sleeps only for the time still missing when the consumer used part of it', async () => {
    const clock = new FakeClock(0);
    const out: number[] = [];
    for await (const f of pacedReplay(framesAt([0, 100, 200]), 1, clock.now, clock.sleep)) {
      out.push(clock.time);
      if (f.seq === 0) clock.time += 30;
      if (f.seq === 1) clock.time += 60;
    }
    expect(out).toEqual([0, 100, 200]);
    expect(clock.sleeps).toEqual([70, 40]);
  });

  it('pulls the next frame from the source only when the consumer asks (lossless backpressure)', async () => {
    const clock = new FakeClock(0);
    const pulled: number[] = [];
    const it = pacedReplay(framesAt([0, 1, 2, 3], (s) => pulled.push(s)), 1, clock.now, clock.sleep)[Symbol.asyncIterator]();
    await it.next();
    expect(pulled).toEqual([0]);
    await it.next();
    expect(pulled).toEqual([0, 1]);
    await it.return?.(undefined);
    expect(pulled).toEqual([0, 1]);
  });
});

/** A producer that makes `n` frames without ever waiting on a clock. */
async function* burst(n: number, produced: number[]): AsyncGenerator<Frame> {
  for (let i = 0; i < n; i++) {
    produced.push(i);
    yield frame(i, i);
  }
}

/** Gives the event loop a full turn (no time involved, just ordering). */
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('LiveQueue', () => {
  it('a fast producer and a slow consumer: the oldest frames are dropped, each one counted, the newest kept', async () => {
    const N = 200;
    const CAP = 4;
    const produced: number[] = [];
    const droppedSeqs: number[] = [];
    const q = new LiveQueue(CAP, (f) => droppedSeqs.push(f.seq));
    q.start(burst(N, produced));
    const delivered: number[] = [];
    for await (const f of q.frames()) {
      delivered.push(f.seq);
      expect(q.depth).toBeLessThanOrEqual(CAP);
      await turn(); // slow consumer: the producer runs ahead while it "works"
    }
    expect(produced).toHaveLength(N);
    expect(q.received).toBe(N);
    // Every frame is accounted for, exactly once: delivered or dropped.
    expect(q.dropped).toBe(droppedSeqs.length);
    expect(delivered.length + q.dropped).toBe(N);
    expect([...delivered, ...droppedSeqs].sort((a, b) => a - b)).toEqual(Array.from({ length: N }, (_, i) => i));
    // The producer outran the consumer, so frames were dropped, yet the queue kept the newest.
    expect(q.dropped).toBeGreaterThan(0);
    expect(delivered[delivered.length - 1]).toBe(N - 1);
    // Order is kept, among delivered and among dropped frames (the oldest go first).
    for (const seqs of [delivered, droppedSeqs]) for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBeGreaterThan(seqs[i - 1]);
    // Drop-oldest: what was still queued when the producer finished, the CAP newest frames, all got through.
    expect(delivered.slice(-CAP)).toEqual(Array.from({ length: CAP }, (_, i) => N - CAP + i));
  });

  it('a consumer that keeps up loses nothing', async () => {
    const N = 50;
    // The producer yields to the event loop after each frame; the consumer takes each at once.
    async function* paced(): AsyncGenerator<Frame> {
      for (let i = 0; i < N; i++) {
        yield frame(i, i);
        await turn();
      }
    }
    const q = new LiveQueue(2);
    q.start(paced());
    const delivered: number[] = [];
    for await (const f of q.frames()) delivered.push(f.seq);
    expect(delivered).toEqual(Array.from({ length: N }, (_, i) => i));
    expect(q.dropped).toBe(0);
    expect(q.received).toBe(N);
  });

  it('stop() ends the consumer after what is queued and stops pulling from the source', async () => {
    const produced: number[] = [];
    async function* endless(): AsyncGenerator<Frame> {
      for (let i = 0; ; i++) {
        produced.push(i);
        yield frame(i, i);
        await turn();
      }
    }
    const q = new LiveQueue(8);
    q.start(endless());
    const delivered: number[] = [];
    for await (const f of q.frames()) {
      delivered.push(f.seq);
      if (f.seq === 20) q.stop();
    }
    expect(delivered.slice(0, 21)).toEqual(Array.from({ length: 21 }, (_, i) => i));
    expect(q.received).toBe(delivered.length + q.dropped);
    // The source stops soon after: let the pump notice, then check it made no more frames.
    await turn();
    await turn();
    const made = produced.length;
    await turn();
    await turn();
    expect(produced.length).toBe(made);
  });

  /**
   * The pump paced at `fps` is a camera's clock: when the event loop was
   * blocked (here 120 ms, twelve 10 ms periods), the frames due meanwhile are
   * taken at once, one per turn of the loop with no timer, and those beyond
   * the queue's capacity are dropped and counted. It used to restart its
   * clock instead, so the simulator made those frames later and the rate fell
   * without a drop showing anywhere. Only counts are checked: the stall only
   * makes at least twelve frames due, however slow the machine.
   */
  it('paced at fps, a blocked event loop is caught up: the frames due are taken at once and the overflow is counted', async () => {
    const FPS = 100;
    const CAP = 4;
    async function* camera(): AsyncGenerator<Frame> {
      for (let i = 0; i < 1000; i++) yield frame(i, i * 10);
    }
    const due: number[] = [];
    const taken: number[] = [];
    const q = new LiveQueue(CAP, undefined, (f, d) => {
      due[f.seq] = d;
      taken[f.seq] = performance.now();
    });
    q.start(camera(), FPS);
    const delivered: number[] = [];
    let afterStall = -1;
    let caughtUp = -1;
    let droppedInBurst = -1;
    for await (const f of q.frames()) {
      delivered.push(f.seq);
      if (delivered.length === 5) {
        const until = performance.now() + 120;
        while (performance.now() < until);
        afterStall = q.received;
        // Twenty turns of the loop, far less than one period: only a catch-up pulls frames here.
        for (let k = 0; k < 20; k++) await turn();
        caughtUp = q.received;
        droppedInBurst = q.dropped;
        q.stop();
      }
    }
    expect(caughtUp - afterStall, 'frames taken right after the stall').toBeGreaterThanOrEqual(10);
    // Twelve or more were due; the queue holds CAP, so the rest were dropped, each one counted.
    expect(droppedInBurst).toBeGreaterThanOrEqual(12 - CAP - 2);
    expect(q.received).toBe(delivered.length + q.dropped + q.depth);
    // Each frame's arrival is its time on the camera's clock, one period after the one before, dropped
    // or not (or the time it was taken, when a timer fired early); the frames taken late carry their
    // lateness (the first one after the stall, at least 100 ms).
    expect(due).toHaveLength(q.received);
    for (let k = 0; k < due.length; k++) {
      const clock = due[0] + k * 10;
      expect(due[k]).toBeLessThanOrEqual(clock + 1e-6);
      expect(taken[k]).toBeGreaterThanOrEqual(due[k]);
      // Earlier than the clock only when taken early: then it is the time taken (read in the same call).
      if (due[k] < clock - 1e-6) expect(taken[k] - due[k]).toBeLessThan(1);
    }
    expect(taken[afterStall] - due[afterStall]).toBeGreaterThanOrEqual(100);
  });

  it('paced at fps, the clock starts with the first frame, not before a slow first frame', async () => {
    let firstMade = -1;
    async function* slowStart(): AsyncGenerator<Frame> {
      await new Promise((r) => setTimeout(r, 150)); // a source that renders its loop first
      firstMade = performance.now();
      for (let i = 0; i < 10; i++) yield frame(i, i * 10);
    }
    const due: number[] = [];
    const q = new LiveQueue(4, undefined, (f, d) => (due[f.seq] = d));
    q.start(slowStart(), 100);
    const delivered: number[] = [];
    for await (const f of q.frames()) delivered.push(f.seq);
    expect(delivered).toEqual(Array.from({ length: 10 }, (_, i) => i));
    expect(q.dropped).toBe(0);
    // Frame 0 fell due when it was made, not 150 ms earlier when the pump started waiting for it.
    expect(due[0]).toBeGreaterThanOrEqual(firstMade);
    for (let k = 1; k < 10; k++) expect(due[k]).toBeLessThanOrEqual(due[0] + k * 10 + 1e-6);
  });

  it("a source's error reaches the consumer after the frames queued before it", async () => {
    async function* failing(): AsyncGenerator<Frame> {
      yield frame(0, 0);
      yield frame(1, 1);
      throw new Error('camera unplugged');
    }
    const q = new LiveQueue(8);
    q.start(failing());
    const delivered: number[] = [];
    let error: unknown;
    try {
      for await (const f of q.frames()) delivered.push(f.seq);
    } catch (e) {
      error = e;
    }
    expect(delivered).toEqual([0, 1]);
    expect((error as Error).message).toBe('camera unplugged');
  });
});
