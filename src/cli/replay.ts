import type { Config } from '../config/schema.js';
import { openSource } from '../ingest/open.js';
import { Hub } from '../stream/hub.js';
import { selectBackend } from '../stream/backend.js';
import { runPipeline } from '../stream/pipeline.js';
import { RECORDED_TOPICS, Recorder } from '../stream/recorder.js';

/**
 * `scopestream replay PATH`: a recorded movie through the live pipeline,
 * lossless, writing the record. Exit 0 when the whole movie went through;
 * an input problem mid-movie still closes the record with an `end` line that
 * carries the error and the frame count reached.
 */
export async function runReplay(path: string, config: Config): Promise<number> {
  const source = openSource(path, config);
  const backend = await selectBackend(config.registration.backend, {
    normalization: config.registration.normalization,
    phaseSigma: config.registration.phaseSigma,
  });
  const hub = new Hub();
  let recorder: Recorder | null = null;
  if (config.record.file) {
    recorder = new Recorder(config.record.file);
    await recorder.ready();
    hub.subscribe(recorder.write, RECORDED_TOPICS);
  }
  const abort = new AbortController();
  const onSignal = (): void => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const t0 = performance.now();
  try {
    const s = await runPipeline({ config: { ...config, source: path }, source, hub, kernels: backend.kernels, signal: abort.signal });
    const secs = (performance.now() - t0) / 1000;
    process.stderr.write(
      `scopestream: replayed ${s.frames} frames of ${s.info.width}×${s.info.height} in ${secs.toFixed(2)} s ` +
        `(${(s.frames / secs).toFixed(1)} frames/s, ${backend.name} FFT)` +
        (recorder ? `; record: ${recorder.path}` : '') +
        (s.errors > 0 ? `; ${s.errors} frames could not be processed (see the record)` : '') +
        '\n',
    );
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await recorder?.close();
  }
}
