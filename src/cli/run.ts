import type { Config } from '../config/schema.js';
import type { Message } from '../stream/hub.js';
import { newCounters, runPipeline } from '../stream/pipeline.js';
import { type Service, startService } from '../stream/service.js';
import { StatusLine } from '../stream/status.js';
import { namingInput, onWorkerRestart, openSession } from './session.js';

/**
 * `scopestream run`: a live source until stopped (SIGINT/SIGTERM), served
 * over HTTP/WebSocket (unless server.enabled is false), with a one-line status
 * and an optional record. Stopping drains, writes the `end` line, closes the
 * sockets with a reason and exits 0.
 */
export async function runLive(config: Config): Promise<number> {
  const s = await openSession(config.source, config);
  const counters = newCounters();
  let service: Service | null = null;
  try {
    if (config.server.enabled) {
      service = await startService(config, s.hub, counters, s.source, s.recorder);
      process.stderr.write(`scopestream: serving ${service.server.url}\n`);
    }
    const status = new StatusLine(counters, process.stderr, config.live.statusInterval * 1000);
    s.hub.subscribe((_t, m: Message) => status.onFrame(m), ['frame']);
    status.start();
    process.stderr.write(`scopestream: ${config.source}; Ctrl-C to stop\n`);
    try {
      await namingInput(config.source, () =>
        runPipeline({ config, source: s.source, hub: s.hub, backend: config.registration.backend, signal: s.abort.signal, counters, onWorkerRestart, waitForOutputs: s.waitForOutputs, ...service?.hooks }),
      );
      service?.ended();
      return 0;
    } catch (e) {
      service?.ended(e instanceof Error ? e.message : String(e));
      throw e;
    } finally {
      status.stop();
    }
  } finally {
    await service?.close();
    await s.close();
  }
}
