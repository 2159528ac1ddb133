import type { SourceHealth } from '../ingest/frame.js';
import type { Message } from './hub.js';
import type { PipelineCounters } from './pipeline.js';
import type { StageTimes } from './processor.js';

/**
 * Sliding-window timing of the pipeline: the latency (arrival → hub) and the
 * stage times of the last N frames, with percentiles on demand. Fixed-size
 * rings: recording a frame costs a few stores, whatever the rate.
 */
export class TimingWindow {
  private readonly latency: Float64Array;
  private readonly register: Float64Array;
  private readonly warp: Float64Array;
  private readonly measure: Float64Array;
  private readonly scratch: Float64Array;
  private n = 0;
  private next = 0;

  constructor(readonly size: number) {
    this.latency = new Float64Array(size);
    this.register = new Float64Array(size);
    this.warp = new Float64Array(size);
    this.measure = new Float64Array(size);
    this.scratch = new Float64Array(size);
  }

  record(latencyMs: number, s: StageTimes): void {
    const i = this.next;
    this.latency[i] = latencyMs;
    this.register[i] = s.register;
    this.warp[i] = s.warp;
    this.measure[i] = s.measure;
    this.next = (i + 1) % this.size;
    if (this.n < this.size) this.n++;
  }

  get count(): number {
    return this.n;
  }

  /** Latency percentile (q in [0, 1], nearest rank), null with no frames. */
  latencyQuantile(q: number): number | null {
    return this.quantile(this.latency, q);
  }

  /** Median time of each stage over the window, ms. */
  stageMedians(): { register: number | null; warp: number | null; measure: number | null; total: number | null } {
    const register = this.quantile(this.register, 0.5);
    const warp = this.quantile(this.warp, 0.5);
    const measure = this.quantile(this.measure, 0.5);
    const total = register === null || warp === null || measure === null ? null : register + warp + measure;
    return { register, warp, measure, total };
  }

  private quantile(a: Float64Array, q: number): number | null {
    if (this.n === 0) return null;
    const s = this.scratch.subarray(0, this.n);
    s.set(a.subarray(0, this.n));
    s.sort();
    return s[Math.min(this.n - 1, Math.max(0, Math.ceil(q * this.n) - 1))];
  }
}

/** Frames per second in and out between two readings of the pipeline's counters. */
export class RateMeter {
  private prevReceived = 0;
  private prevProcessed = 0;
  private prevT: number;

  constructor(
    private readonly counters: PipelineCounters,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.prevT = now();
  }

  /** The rates since the previous call (or since construction). */
  read(): { fpsIn: number; fpsOut: number } {
    const now = this.now();
    const dt = (now - this.prevT) / 1000;
    const c = this.counters;
    const fpsIn = dt > 0 ? (c.received - this.prevReceived) / dt : 0;
    const fpsOut = dt > 0 ? (c.processed - this.prevProcessed) / dt : 0;
    this.prevT = now;
    this.prevReceived = c.received;
    this.prevProcessed = c.processed;
    return { fpsIn, fpsOut };
  }
}

const r3 = (v: number | null): number | null => (v === null ? null : Math.round(v * 1000) / 1000);

/**
 * The `stats` message (docs/protocol.md): rates over the interval since the
 * previous one, latency and stage times over the timing window.
 */
export class StatsBuilder {
  private readonly rates: RateMeter;
  private readonly t0: number;

  constructor(
    private readonly counters: PipelineCounters,
    private readonly timing: TimingWindow,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.t0 = now();
    this.rates = new RateMeter(counters, now);
  }

  build(extra: { subscribers: number; bytesSent: number; source: SourceHealth | null }): Message {
    const now = this.now();
    const c = this.counters;
    const { fpsIn, fpsOut } = this.rates.read();
    const st = this.timing.stageMedians();
    return {
      type: 'stats',
      t: Date.now(),
      uptimeS: Math.round((now - this.t0) / 100) / 10,
      fpsIn: Math.round(fpsIn * 10) / 10,
      fpsOut: Math.round(fpsOut * 10) / 10,
      received: c.received,
      processed: c.processed,
      dropped: c.dropped,
      queueDepth: c.queueDepth,
      latencyMs: { p50: r3(this.timing.latencyQuantile(0.5)), p99: r3(this.timing.latencyQuantile(0.99)) },
      stageMs: { register: r3(st.register), warp: r3(st.warp), measure: r3(st.measure), total: r3(st.total) },
      subscribers: extra.subscribers,
      bytesSent: extra.bytesSent,
      source: extra.source,
    };
  }
}
