import { rmSync } from 'node:fs';
import type { Config } from '../config/schema.js';
import { InputError } from '../errors.js';
import type { FrameSource } from '../ingest/frame.js';
import { openSource } from '../ingest/open.js';
import { Hub } from '../stream/hub.js';
import { RECORDED_TOPICS, Recorder } from '../stream/recorder.js';

/**
 * What `run` and `replay` both set up around the pipeline: the source (opened
 * first, so that an input that cannot be opened leaves no record behind), the
 * hub with its recorder, and SIGINT/SIGTERM turned into an abort.
 * `close()` undoes it in order, flushes the record, and removes a record that
 * never got its first line.
 */
export interface Session {
  source: FrameSource;
  hub: Hub;
  recorder: Recorder | null;
  /** The pipeline's `waitForOutputs`: the record's disk. */
  waitForOutputs: (() => Promise<void> | null) | undefined;
  abort: AbortController;
  close(): Promise<void>;
}

export async function openSession(uri: string, config: Config): Promise<Session> {
  const source = namingInput(uri, () => openSource(uri, config));
  let recorder: Recorder | null = null;
  try {
    await namingInput(uri, () => source.open());
    if (config.record.file) {
      recorder = new Recorder(config.record.file, {
        ...config.record,
        // Said the moment it happens: the run goes on (served, unrecorded) and ends with the same line.
        onFailure: (e) => process.stderr.write(`scopestream: ${e.message}; the run goes on without recording\n`),
      });
      await recorder.ready();
    }
  } catch (e) {
    await source.close().catch(() => undefined);
    throw e;
  }
  const hub = new Hub();
  if (recorder) hub.subscribeText(recorder.write, RECORDED_TOPICS);
  let started = false;
  hub.subscribe(() => (started = true), ['meta']);
  const abort = new AbortController();
  // Kept for the whole session (not `once`): a second Ctrl-C during a long drain must not kill the
  // process before the record's end line is written.
  const onSignal = (): void => {
    if (abort.signal.aborted) process.stderr.write('scopestream: stopping: draining and closing the record\n');
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    source,
    hub,
    recorder,
    waitForOutputs: recorder ? () => (recorder as Recorder).wait() : undefined,
    abort,
    async close() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      await recorder?.close();
      if (recorder && !started) rmSync(recorder.path, { force: true });
    },
  };
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

/** Says on stderr that a pipeline worker failed and was replaced (the frames it held are counted as dropped). */
export function onWorkerRestart(error: Error, lost: number): void {
  process.stderr.write(`scopestream: ${error.message}; replaced by a new worker (${lost} frames lost so far, counted as dropped)\n`);
}
