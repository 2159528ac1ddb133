import { rmSync } from 'node:fs';
import type { Config } from '../config/schema.js';
import { openSource } from '../ingest/open.js';
import { Hub, type Message } from '../stream/hub.js';
import { selectBackend } from '../stream/backend.js';
import { newCounters, runPipeline } from '../stream/pipeline.js';
import { RECORDED_TOPICS, Recorder } from '../stream/recorder.js';
import { StatusLine } from '../stream/status.js';
import { namingInput } from './replay.js';

/**
 * `scopestream run`: a live source until stopped (SIGINT/SIGTERM), with a
 * one-line status and an optional record. Stopping drains, writes the `end`
 * line and exits 0.
 */
export async function runLive(config: Config): Promise<number> {
  const source = namingInput(config.source, () => openSource(config.source, config));
  // Opened before the record is created: a source that cannot be opened leaves no empty record behind.
  try {
    await namingInput(config.source, () => source.open());
  } catch (e) {
    await source.close().catch(() => undefined);
    throw e;
  }
  const backend = await selectBackend(config.registration.backend, {
    normalization: config.registration.normalization,
    phaseSigma: config.registration.phaseSigma,
  });
  const hub = new Hub();
  let recorder: Recorder | null = null;
  if (config.record.file) {
    recorder = new Recorder(config.record.file);
    try {
      await recorder.ready();
    } catch (e) {
      await source.close().catch(() => undefined);
      throw e;
    }
    hub.subscribe(recorder.write, RECORDED_TOPICS);
  }
  // Nothing published (refused before the first line): no empty record is left behind.
  let started = false;
  hub.subscribe(() => (started = true), ['meta']);
  const counters = newCounters();
  const status = new StatusLine(counters, process.stderr, config.live.statusInterval * 1000);
  hub.subscribe((_t, m: Message) => status.onFrame(m), ['frame']);
  const abort = new AbortController();
  const onSignal = (): void => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  status.start();
  process.stderr.write(`scopestream: ${config.source} (${backend.name} FFT); Ctrl-C to stop\n`);
  try {
    await namingInput(config.source, () => runPipeline({ config, source, hub, kernels: backend.kernels, signal: abort.signal, counters }));
    return 0;
  } finally {
    status.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await recorder?.close();
    if (recorder && !started) rmSync(recorder.path, { force: true });
  }
}
