import type { Config } from '../config/schema.js';
import type { Message } from '../stream/hub.js';
import { newCounters, runPipeline } from '../stream/pipeline.js';
import { StatusLine } from '../stream/status.js';
import { namingInput, openSession } from './session.js';

/**
 * `scopestream run`: a live source until stopped (SIGINT/SIGTERM), with a
 * one-line status and an optional record. Stopping drains, writes the `end`
 * line and exits 0.
 */
export async function runLive(config: Config): Promise<number> {
  const s = await openSession(config.source, config);
  const counters = newCounters();
  const status = new StatusLine(counters, process.stderr, config.live.statusInterval * 1000);
  s.hub.subscribe((_t, m: Message) => status.onFrame(m), ['frame']);
  status.start();
  process.stderr.write(`scopestream: ${config.source} (${s.backend.name} FFT); Ctrl-C to stop\n`);
  try {
    await namingInput(config.source, () =>
      runPipeline({ config, source: s.source, hub: s.hub, kernels: s.backend.kernels, signal: s.abort.signal, counters }),
    );
    return 0;
  } finally {
    status.stop();
    await s.close();
  }
}
