import type { Message } from './hub.js';
import type { PipelineCounters } from './pipeline.js';
import { RateMeter } from './stats.js';

/**
 * The one-line live status of `scopestream run`: rates over the last
 * interval, the last shift and its quality, latency p50/p99 over the
 * interval, drops. Rewritten in place on a terminal, one line per interval
 * otherwise (logs).
 */
export class StatusLine {
  private timer: NodeJS.Timeout | null = null;
  private last: Message | null = null;
  private latencies: number[] = [];
  private readonly rates: RateMeter;

  constructor(
    private readonly counters: PipelineCounters,
    private readonly out: NodeJS.WritableStream & { isTTY?: boolean },
    private readonly intervalMs: number,
  ) {
    this.rates = new RateMeter(counters);
  }

  onFrame(m: Message): void {
    this.last = m;
    if (typeof m.latencyMs === 'number') this.latencies.push(m.latencyMs);
  }

  start(): void {
    this.timer = setInterval(() => this.print(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.print();
    if (this.out.isTTY) this.out.write('\n');
  }

  format(): string {
    const c = this.counters;
    const { fpsIn, fpsOut } = this.rates.read();
    const lat = this.latencies.sort((a, b) => a - b);
    this.latencies = [];
    const pct = (q: number): string => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(q * lat.length))].toFixed(1) : '-');
    let shift = 'template: building';
    const m = this.last;
    if (m && typeof m.shift === 'object' && m.shift !== null) {
      const s = m.shift as { dy: number | null; dx: number | null; peak: number | null; quality: number | null };
      const f = (v: number | null, d: number): string => (v === null ? '-' : v.toFixed(d));
      shift = `shift dy ${f(s.dy, 2)} dx ${f(s.dx, 2)} peak ${f(s.peak, 2)} psr ${f(s.quality, 1)} ${m.ok ? 'ok' : 'FLAGGED'}`;
    }
    return (
      `in ${fpsIn.toFixed(1)} fps, out ${fpsOut.toFixed(1)} fps | ${shift} | latency p50 ${pct(0.5)} p99 ${pct(0.99)} ms | ` +
      `dropped ${c.dropped} | frames ${c.processed}`
    );
  }

  private print(): void {
    const line = this.format();
    this.out.write(this.out.isTTY ? `\r\x1b[K${line}` : `${line}\n`);
  }
}
