import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import type { Config } from '../config/schema.js';
import { InputError } from '../errors.js';
import type { Frame, SourceInfo } from '../ingest/frame.js';
import type { RegisteredFrame } from '../kernels/motionCorrector.js';
import { type BackendChoice, selectBackend } from './backend.js';
import { FrameMeasurement, FrameProcessor, FrameRegistration, type Output, type RegisterOutput, type Wants } from './processor.js';
import { type ThreadPriority, resolvePriority, setThisThreadPriority } from './threadPriority.js';

/**
 * Worker-thread entry (src/stream/stage.ts starts it). Its role:
 * - `whole`: one FrameProcessor (register, then measure), fed frames by
 *   transfer from the main thread, answering each with one batch of outputs;
 * - `register` and `measure`: the two halves in two workers (pipeline.workers
 *   2). The register worker hands each frame's registered frames (copies of
 *   the warped planes, and the frame itself, transferred) and template
 *   announcements to the measure worker over a MessagePort of their own; the
 *   measure worker answers the main thread. Both keep frame order, so the
 *   numbers are those of one worker, while frame i+1 is registered as frame i
 *   is measured.
 * Messages in (from the main thread): frame, flush, resetTemplate (to the
 * register side), wants (to the measure side), close.
 */
export interface WorkerInit {
  config: Config;
  info: SourceInfo;
  backend: BackendChoice;
  role: 'whole' | 'register' | 'measure';
  /** register → measure, for the split roles. */
  handoff?: MessagePort;
}

export type ToWorker =
  | { type: 'frame'; frame: Frame }
  | { type: 'flush' }
  | { type: 'wants'; wants: Wants }
  | { type: 'resetTemplate' }
  | { type: 'close' };

export type FromWorker =
  | { type: 'ready'; backend: string; priority: ThreadPriority }
  | { type: 'failed'; message: string; input: boolean }
  /** The outputs of one frame (or of a flush), and how many frames they account for. */
  | { type: 'out'; items: Output[]; done: number; flushed: boolean };

/** One frame's (or a flush's) register outputs, from the register worker to the measure worker. */
interface Handoff {
  items: RegisterOutput[];
  done: number;
  flushed: boolean;
}

const port = parentPort;
if (port === null) throw new Error('pipelineWorker.js runs only as a worker thread');
const init = workerData as WorkerInit;

function fail(e: unknown): void {
  port!.postMessage({ type: 'failed', message: e instanceof Error ? e.message : String(e), input: e instanceof InputError } satisfies FromWorker);
}

/** Sends a batch of outputs to the main thread, their big buffers transferred. */
function sendOut(items: Output[], done: number, flushed: boolean): void {
  const transfer: ArrayBuffer[] = [];
  for (const o of items) {
    if (o.kind === 'preview') transfer.push(o.pixels.buffer as ArrayBuffer);
    else if (o.kind === 'json') transfer.push(o.bytes.buffer as ArrayBuffer);
  }
  port!.postMessage({ type: 'out', items, done, flushed } satisfies FromWorker, transfer);
}

try {
  // First: the priority is the thread's, and everything after runs at it.
  const priority = setThisThreadPriority(resolvePriority(init.config.pipeline.priority));
  const backend = await selectBackend(init.backend, {
    normalization: init.config.registration.normalization,
    phaseSigma: init.config.registration.phaseSigma,
  });
  if (init.role === 'whole') runWhole(await FrameProcessor.create(init.config, init.info, backend));
  else if (init.role === 'register') runRegister(FrameRegistration.create(init.config, init.info, backend), init.handoff as MessagePort);
  else runMeasure(await FrameMeasurement.create(init.config, init.info, backend), init.handoff as MessagePort);
  port.postMessage({ type: 'ready', backend: backend.name, priority } satisfies FromWorker);
} catch (e) {
  fail(e);
}

function runWhole(p: FrameProcessor): void {
  let items: Output[] = [];
  const collect = (o: Output): void => {
    items.push(o);
  };
  const send = (done: number, flushed: boolean): void => {
    sendOut(items, done, flushed);
    items = [];
  };
  port!.on('message', (m: ToWorker) => {
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
        port!.close();
        break;
    }
  });
}

function runRegister(reg: FrameRegistration, handoff: MessagePort): void {
  let items: RegisterOutput[] = [];
  // The warped planes are the warper's own buffers, valid only during the callback: copied here.
  // The shift estimate is reused by the corrector from frame to frame: copied too.
  const collect = (o: RegisterOutput): void => {
    if (o.kind === 'registered') {
      const r = o.r;
      items.push({ kind: 'registered', r: { ...r, estimate: { ...r.estimate }, valid: { ...r.valid }, registered: r.registered.map((p) => p.slice()) } });
    } else if (o.kind === 'template') items.push({ kind: 'template', template: o.template.slice(), firstSeq: o.firstSeq });
    else items.push(o);
  };
  const send = (done: number, flushed: boolean): void => {
    // The frames emitted are no longer needed here (the corrector is done with them once push returns).
    const transfer: ArrayBuffer[] = [];
    for (const o of items) {
      if (o.kind === 'registered') {
        const r: RegisteredFrame = o.r;
        for (const p of r.registered) transfer.push(p.buffer as ArrayBuffer);
        const buf = r.frame.data.buffer as ArrayBuffer;
        if (!transfer.includes(buf)) transfer.push(buf);
      } else if (o.kind === 'template') transfer.push(o.template.buffer as ArrayBuffer);
    }
    handoff.postMessage({ items, done, flushed } satisfies Handoff, transfer);
    items = [];
  };
  port!.on('message', (m: ToWorker) => {
    switch (m.type) {
      case 'frame':
        reg.push(m.frame, collect);
        send(1, false);
        break;
      case 'flush':
        reg.flush(collect);
        send(0, true);
        break;
      case 'resetTemplate':
        reg.resetTemplate();
        break;
      case 'wants':
        break;
      case 'close':
        reg.dispose();
        handoff.close();
        port!.close();
        break;
    }
  });
}

function runMeasure(meas: FrameMeasurement, handoff: MessagePort): void {
  let items: Output[] = [];
  const collect = (o: Output): void => {
    items.push(o);
  };
  handoff.on('message', (h: Handoff) => {
    for (const o of h.items) meas.take(o, collect);
    sendOut(items, h.done, h.flushed);
    items = [];
  });
  port!.on('message', (m: ToWorker) => {
    if (m.type === 'wants') meas.wants = m.wants;
    else if (m.type === 'close') {
      handoff.close();
      port!.close();
    }
  });
}
