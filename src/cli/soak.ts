import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { defaultConfig } from '../config/schema.js';
import { InputError } from '../errors.js';
import { openSource } from '../ingest/open.js';
import { Hub } from '../stream/hub.js';
import { newCounters, runPipeline } from '../stream/pipeline.js';
import { RECORDED_TOPICS, Recorder } from '../stream/recorder.js';
import { startService } from '../stream/service.js';
import { machine } from './bench.js';
import { startFleet } from './benchStream.js';

/**
 * `npm run soak -- --minutes N` (issue 6): the simulated microscope at
 * 100 fps (512², 100 objects) served to 20 subscribers on frame and objects,
 * with the record on, for N minutes. Prints one JSON line per minute (RSS,
 * heap, event-loop delay p99, frames in/processed/dropped, messages dropped
 * for subscribers) and a summary line: memory growth after the first minute,
 * and the subscribers' losses (gaps and dropped messages), which must be zero
 * for subscribers that keep up.
 */
export async function runSoak(minutesArg: string | undefined): Promise<number> {
  const minutes = minutesArg === undefined ? 1 : Number(minutesArg);
  if (!Number.isFinite(minutes) || minutes <= 0 || minutes > 24 * 60) throw new InputError(`--minutes ${minutesArg}: expected a number of minutes, > 0 and ≤ 1440`);
  const FPS = 100;
  const SUBSCRIBERS = 20;
  const frames = Math.round(minutes * 60 * FPS);
  const uri = `synthetic:?width=512&height=512&fps=${FPS}&objects=100&frames=${frames}&loop=200&seed=51`;
  const dir = mkdtempSync(join(tmpdir(), 'scopestream-soak-'));
  const m = machine();
  try {
    const config = defaultConfig();
    config.source = uri;
    config.server.port = 0;
    const hub = new Hub();
    const counters = newCounters();
    const source = openSource(uri, config);
    await source.open();
    const recordPath = join(dir, 'soak.ndjson');
    const recorder = new Recorder(recordPath, config.record);
    await recorder.ready();
    hub.subscribeText(recorder.write, RECORDED_TOPICS);
    const service = await startService(config, hub, counters, source, recorder);
    const fleet = startFleet(`ws://127.0.0.1:${service.server.port}/ws`, SUBSCRIBERS, ['frame', 'objects'], Number.MAX_SAFE_INTEGER, false);
    await fleet.ready;
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    const t0 = performance.now();
    const samples: number[] = [];
    let minute = 0;
    const timer = setInterval(() => {
      minute++;
      const mem = process.memoryUsage();
      samples.push(mem.rss);
      const line = {
        case: 'soak',
        minute,
        rss_mb: Math.round(mem.rss / 2 ** 20),
        heap_mb: Math.round(mem.heapUsed / 2 ** 20),
        array_buffers_mb: Math.round(mem.arrayBuffers / 2 ** 20),
        event_loop_p99_ms: Math.round((loop.percentile(99) / 1e6) * 100) / 100,
        received: counters.received,
        processed: counters.processed,
        dropped: counters.dropped,
        messages_dropped: service.subscribers.messagesDropped,
        record_mb: Math.round(statSync(recordPath).size / 2 ** 20),
        record_waits: recorder.status().waits,
      };
      loop.reset();
      process.stdout.write(JSON.stringify(line) + '\n');
    }, 60_000);
    const summary = await runPipeline({ config, source, hub, backend: 'auto', counters, waitForOutputs: () => recorder.wait(), ...service.hooks });
    clearInterval(timer);
    // The subscribers get the last messages, then report.
    await new Promise((r) => setTimeout(r, 2000));
    fleet.stop();
    const report = await fleet.done;
    await service.close();
    await recorder.close();
    const growth = samples.length >= 2 ? Math.round((Math.max(...samples.slice(1)) - samples[0]) / 2 ** 20) : null;
    process.stdout.write(
      JSON.stringify({
        case: 'soak_summary',
        minutes: Math.round(((performance.now() - t0) / 60000) * 100) / 100,
        source_fps: FPS,
        subscribers: SUBSCRIBERS,
        frames: summary.frames,
        dropped: summary.dropped,
        rss_growth_after_first_minute_mb: growth,
        subscriber_frames_min: Math.min(...report.clients.map((c) => c.frame.received)),
        subscriber_gaps: report.clients.reduce((s, c) => s + c.frame.gaps + c.objects.gaps, 0),
        subscriber_dropped: report.clients.reduce((s, c) => s + c.frame.dropped + c.objects.dropped, 0),
        machine: m,
      }) + '\n',
    );
    return 0;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
