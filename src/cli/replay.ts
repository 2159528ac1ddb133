import { rmSync } from 'node:fs';
import type { Config } from '../config/schema.js';
import { InputError } from '../errors.js';
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
  // Opened before the record is created: an input that cannot be opened leaves no empty record behind.
  const source = namingInput(path, () => openSource(path, config));
  try {
    await namingInput(path, () => source.open());
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
  const abort = new AbortController();
  const onSignal = (): void => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const t0 = performance.now();
  try {
    const s = await namingInput(path, () =>
      runPipeline({ config: { ...config, source: path }, source, hub, kernels: backend.kernels, signal: abort.signal }),
    );
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
    if (recorder && !started) rmSync(recorder.path, { force: true });
  }
}

/**
 * Runs `fn` (sync or async) so that an InputError it throws names the input the
 * user gave: a message about a tool or an option (`ffmpeg not found: …`) gets
 * `INPUT: ` in front; one that already names it is left alone.
 */
export function namingInput<T>(input: string, fn: () => T): T {
  const rename = (e: unknown): never => {
    throw e instanceof InputError && !mentions(e.message, input) ? new InputError(`${input}: ${e.message}`) : e;
  };
  let r: T;
  try {
    r = fn();
  } catch (e) {
    return rename(e);
  }
  if (r instanceof Promise) return r.catch(rename) as T;
  return r;
}

function mentions(message: string, input: string): boolean {
  // The simulator's messages start with "synthetic:" and quote the parameter at fault.
  return message.includes(input) || (input.startsWith('synthetic:') && message.startsWith('synthetic:'));
}
