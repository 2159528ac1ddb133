import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { SourceHealth } from '../ingest/frame.js';
import type { PipelineCounters } from './pipeline.js';
import type { RecorderStatus } from './recorder.js';
import type { StageTimes } from './processor.js';

/**
 * The `/metrics` endpoint (Prometheus text format). Totals that the pipeline
 * already keeps (frames in/out/dropped) are read when scraped; per-frame
 * timings are observed as they happen into histograms.
 */
export interface MetricsSources {
  counters: PipelineCounters;
  subscribers: () => number;
  bytesSent: () => number;
  messagesDropped: () => number;
  source: () => SourceHealth | null;
  /** The record, when there is one. */
  record?: () => RecorderStatus | null;
}

const LATENCY_BUCKETS = [0.5, 1, 2, 3, 5, 7.5, 10, 15, 25, 50, 100, 250, 1000];
const STAGE_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 25, 100];

export class Metrics {
  readonly registry = new Registry();
  private readonly latency: Histogram;
  private readonly stage: Histogram<'stage'>;

  constructor(src: MetricsSources) {
    const registers = [this.registry];
    /** A counter that mirrors a total kept elsewhere: it moves by the difference at each scrape. */
    const mirror = (name: string, help: string, read: () => number): void => {
      let last = 0;
      new Counter({
        name,
        help,
        registers,
        collect() {
          const v = read();
          if (v > last) this.inc(v - last);
          last = Math.max(last, v);
        },
      });
    };
    mirror('scopestream_frames_received_total', 'Frames received from the source.', () => src.counters.received);
    mirror('scopestream_frames_processed_total', 'Frames registered, measured and handed to the hub.', () => src.counters.processed);
    mirror('scopestream_frames_dropped_total', 'Frames dropped because processing fell behind a live source.', () => src.counters.dropped);
    mirror('scopestream_ws_bytes_sent_total', 'Bytes sent to WebSocket subscribers.', src.bytesSent);
    mirror('scopestream_ws_messages_dropped_total', 'Messages not sent to subscribers that fell behind.', src.messagesDropped);
    mirror('scopestream_source_reconnects_total', 'Reconnections of a live source.', () => src.source()?.reconnects ?? 0);
    mirror('scopestream_record_bytes_written_total', 'Bytes of the record the disk has taken.', () => src.record?.()?.bytesWritten ?? 0);
    mirror('scopestream_record_waits_total', 'Times the pipeline waited for the record to reach the disk.', () => src.record?.()?.waits ?? 0);
    new Gauge({
      name: 'scopestream_record_backlog_bytes',
      help: 'Bytes of record lines waiting for the disk.',
      registers,
      collect() {
        this.set(src.record?.()?.backlogBytes ?? 0);
      },
    });
    new Gauge({
      name: 'scopestream_record_failed',
      help: '1 once the record could not be written (see /api/status).',
      registers,
      collect() {
        this.set(src.record?.()?.error ? 1 : 0);
      },
    });
    new Gauge({
      name: 'scopestream_queue_depth',
      help: 'Frames waiting in the live queue.',
      registers,
      collect() {
        this.set(src.counters.queueDepth);
      },
    });
    new Gauge({
      name: 'scopestream_ws_subscribers',
      help: 'Connected WebSocket clients.',
      registers,
      collect() {
        this.set(src.subscribers());
      },
    });
    new Gauge({
      name: 'scopestream_source_connected',
      help: '1 while the source delivers frames (always 1 for files and the simulator).',
      registers,
      collect() {
        const h = src.source();
        this.set(h === null || h.state === 'connected' ? 1 : 0);
      },
    });
    this.latency = new Histogram({
      name: 'scopestream_latency_ms',
      help: 'End-to-end latency of a frame, arrival to hub, in milliseconds.',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.stage = new Histogram({
      name: 'scopestream_stage_ms',
      help: 'Time per frame in each pipeline stage, in milliseconds.',
      labelNames: ['stage'],
      buckets: STAGE_BUCKETS,
      registers,
    });
    collectDefaultMetrics({ register: this.registry, prefix: 'scopestream_process_' });
  }

  observe(latencyMs: number, s: StageTimes): void {
    this.latency.observe(latencyMs);
    this.stage.observe({ stage: 'register' }, s.register);
    this.stage.observe({ stage: 'warp' }, s.warp);
    this.stage.observe({ stage: 'measure' }, s.measure);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
