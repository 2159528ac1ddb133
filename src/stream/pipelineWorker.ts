import { parentPort, workerData } from 'node:worker_threads';
import type { Config } from '../config/schema.js';
import { InputError } from '../errors.js';
import type { Frame, SourceInfo } from '../ingest/frame.js';
import { type BackendChoice, selectBackend } from './backend.js';
import { FrameProcessor, type Output, type Wants } from './processor.js';

/**
 * Worker-thread entry: one FrameProcessor, fed frames by transfer from the
 * main thread (src/stream/frameWorker.ts), answering each frame with one
 * batch of outputs. Messages in: frame, flush, wants, resetTemplate, close.
 */
export interface WorkerInit {
  config: Config;
  info: SourceInfo;
  backend: BackendChoice;
}

export type ToWorker =
  | { type: 'frame'; frame: Frame }
  | { type: 'flush' }
  | { type: 'wants'; wants: Wants }
  | { type: 'resetTemplate' }
  | { type: 'close' };

export type FromWorker =
  | { type: 'ready'; backend: string }
  | { type: 'failed'; message: string; input: boolean }
  /** The outputs of one frame (or of a flush), and how many frames they account for. */
  | { type: 'out'; items: Output[]; done: number; flushed: boolean };

const port = parentPort;
if (port === null) throw new Error('pipelineWorker.js runs only as a worker thread');

const init = workerData as WorkerInit;
let processor: FrameProcessor | null = null;
const items: Output[] = [];
const collect = (o: Output): void => {
  items.push(o);
};

function send(done: number, flushed: boolean): void {
  const transfer: ArrayBuffer[] = [];
  for (const o of items) {
    if (o.kind === 'preview') transfer.push(o.pixels.buffer as ArrayBuffer);
    else if (o.kind === 'json') transfer.push(o.bytes.buffer as ArrayBuffer);
  }
  port!.postMessage({ type: 'out', items: items.slice(), done, flushed } satisfies FromWorker, transfer);
  items.length = 0;
}

try {
  const backend = await selectBackend(init.backend, {
    normalization: init.config.registration.normalization,
    phaseSigma: init.config.registration.phaseSigma,
  });
  processor = await FrameProcessor.create(init.config, init.info, backend);
  port.postMessage({ type: 'ready', backend: backend.name } satisfies FromWorker);
} catch (e) {
  port.postMessage({ type: 'failed', message: e instanceof Error ? e.message : String(e), input: e instanceof InputError } satisfies FromWorker);
}

port.on('message', (m: ToWorker) => {
  const p = processor;
  if (p === null) return;
  switch (m.type) {
    case 'frame':
      p.push(m.frame, collect);
      send(1, false);
      break;
    case 'flush':
      p.flush(collect);
      send(0, true);
      break;
    case 'wants':
      p.wants = m.wants;
      break;
    case 'resetTemplate':
      p.resetTemplate();
      break;
    case 'close':
      p.dispose();
      port.close();
      break;
  }
});
