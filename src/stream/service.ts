import { type Config, redactConfig } from '../config/schema.js';
import { type FrameSource, reportsHealth, type SourceHealth, type SourceInfo } from '../ingest/frame.js';
import type { Hub, Message, Topic } from './hub.js';
import { Metrics } from './metrics.js';
import type { Recorder } from './recorder.js';
import type { PipelineControl, PipelineCounters, PipelineOptions } from './pipeline.js';
import { startServer, type StreamServer } from './server.js';
import { StatsBuilder, TimingWindow } from './stats.js';
import { Subscribers } from './subscribers.js';

/**
 * Everything that serves a running pipeline: the subscribers (rings,
 * backpressure), the HTTP/WebSocket server, the stats topic and /metrics.
 * `hooks` are the pipeline options that feed it; `close()` stops it with a
 * close reason for every client.
 */
export interface Service {
  readonly server: StreamServer;
  readonly subscribers: Subscribers;
  hooks: Pick<PipelineOptions, 'onStart' | 'onTiming' | 'onPreview' | 'onLabels'>;
  /** The pipeline has ended (with an error message, if it failed). */
  ended(error?: string): void;
  close(reason?: string): Promise<void>;
}

const SERVED: readonly Topic[] = ['frame', 'objects', 'segmentation', 'stats', 'heatmap', 'event'];

export async function startService(config: Config, hub: Hub, counters: PipelineCounters, source: FrameSource, recorder: Recorder | null = null): Promise<Service> {
  const o = config.server;
  const subscribers = new Subscribers(o);
  const timing = new TimingWindow(o.latencyWindow);
  const stats = new StatsBuilder(counters, timing);
  const health = (): SourceHealth | null => (reportsHealth(source) ? source.health() : null);
  const metrics = new Metrics({
    counters,
    subscribers: () => subscribers.count,
    bytesSent: () => subscribers.bytesSent,
    messagesDropped: () => subscribers.messagesDropped,
    source: health,
    record: () => recorder?.status() ?? null,
  });
  let info: SourceInfo | null = null;
  let control: PipelineControl | null = null;
  let labels: unknown = null;
  let failed: string | null = null;
  const started = performance.now();

  const server = await startServer({
    options: o,
    subscribers,
    metrics,
    api: {
      healthy: () => failed === null,
      config: () => redactConfig(config),
      labels: () => labels,
      status: () => ({
        source: info?.uri ?? config.source,
        width: info?.width ?? null,
        height: info?.height ?? null,
        channels: info?.channels ?? null,
        dtype: info?.dtype ?? null,
        live: info?.live ?? null,
        backend: control?.backend ?? null,
        workerPriority: control?.priority ?? null,
        engine: o.wsEngine,
        uptimeS: Math.round((performance.now() - started) / 100) / 10,
        counters: { ...counters },
        latencyMs: { p50: timing.latencyQuantile(0.5), p99: timing.latencyQuantile(0.99) },
        stageMs: timing.stageMedians(),
        subscribers: subscribers.count,
        bytesSent: subscribers.bytesSent,
        sourceHealth: health(),
        record: recorder?.status() ?? null,
        session: subscribers.session,
        error: failed,
      }),
    },
  });

  const unsubscribe = [
    // The local map is made (in the worker) only while a client watches it.
    hub.subscribeBytes((topic, json) => subscribers.publish(topic, json), SERVED, (t) => t !== 'heatmap' || subscribers.watching('heatmap')),
    hub.subscribe((_t, m: Message) => subscribers.setMeta(m), ['meta']),
    hub.subscribe((_t, m: Message) => {
      // Nothing follows `end` on the wire: the stats stop with the stream.
      clearInterval(statsTimer);
      subscribers.end(m);
    }, ['end']),
  ];
  const statsTimer = setInterval(
    () => hub.publish('stats', stats.build({ subscribers: subscribers.count, bytesSent: subscribers.bytesSent, source: health() })),
    1000 / o.statsHz,
  );
  statsTimer.unref();

  return {
    server,
    subscribers,
    hooks: {
      onStart(i, c) {
        info = i;
        control = c;
        subscribers.setControl(c);
      },
      onTiming(latency, s) {
        timing.record(latency, s);
        metrics.observe(latency, s);
      },
      onPreview: (h, px) => subscribers.publishPreview(h, px),
      onLabels(l) {
        labels = l;
      },
    },
    ended(error) {
      if (error !== undefined) failed = error;
      subscribers.setControl(null);
    },
    async close(reason) {
      clearInterval(statsTimer);
      for (const u of unsubscribe) u();
      await server.close(reason);
    },
  };
}
