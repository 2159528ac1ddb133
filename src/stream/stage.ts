import { Worker } from 'node:worker_threads';
import type { Config } from '../config/schema.js';
import { InputError } from '../errors.js';
import type { Frame, SourceInfo } from '../ingest/frame.js';
import { type BackendChoice, selectBackend } from './backend.js';
import type { FromWorker, ToWorker, WorkerInit } from './pipelineWorker.js';
import { FrameProcessor, type Output, type Wants } from './processor.js';

/**
 * Where the per-frame work runs, seen from the main thread: inline (workers:
 * 0, for tests and tools) or in a worker thread. Both hand every Output to
 * `onOutput` in frame order; a frame pushed to a worker is transferred (its
 * buffer is detached here), so the source must give each frame its own buffer.
 */
export interface ProcessingStage {
  readonly backend: string;
  /** Frames pushed whose outputs have not come back yet. */
  readonly inFlight: number;
  push(frame: Frame): void;
  /** Resolves once fewer than `limit` frames are in flight (at once if so already). */
  below(limit: number): Promise<void>;
  /** Processes the frames held for the template; resolves when their outputs are out. */
  flush(): Promise<void>;
  setWants(w: Wants): void;
  resetTemplate(): void;
  close(): Promise<void>;
}

/**
 * `workers: auto` → one worker thread (the main thread keeps the sockets).
 * One, not cores − 1: every frame is registered against the template that the
 * frames before it updated, and its traces continue theirs, so frames cannot
 * be processed side by side without changing the numbers (docs/design.md).
 */
export function workerCount(setting: Config['pipeline']['workers']): number {
  return setting === 'auto' ? 1 : setting;
}

export async function openStage(
  config: Config,
  info: SourceInfo,
  backend: BackendChoice,
  onOutput: (o: Output) => void,
  onFailure: (e: Error) => void,
): Promise<ProcessingStage> {
  if (workerCount(config.pipeline.workers) === 0) return InlineStage.open(config, info, backend, onOutput);
  return WorkerStage.open({ config, info, backend }, onOutput, onFailure);
}

class InlineStage implements ProcessingStage {
  readonly inFlight = 0;
  private constructor(
    readonly backend: string,
    private readonly processor: FrameProcessor,
    private readonly onOutput: (o: Output) => void,
  ) {}

  static async open(config: Config, info: SourceInfo, choice: BackendChoice, onOutput: (o: Output) => void): Promise<InlineStage> {
    const b = await selectBackend(choice, { normalization: config.registration.normalization, phaseSigma: config.registration.phaseSigma });
    return new InlineStage(b.name, await FrameProcessor.create(config, info, b), onOutput);
  }

  push(frame: Frame): void {
    this.processor.push(frame, this.onOutput);
  }

  below(): Promise<void> {
    return Promise.resolve();
  }

  flush(): Promise<void> {
    this.processor.flush(this.onOutput);
    return Promise.resolve();
  }

  setWants(w: Wants): void {
    this.processor.wants = w;
  }

  resetTemplate(): void {
    this.processor.resetTemplate();
  }

  close(): Promise<void> {
    this.processor.dispose();
    return Promise.resolve();
  }
}

// Under vitest this module is the TypeScript source, which a worker cannot load: the worker is always
// the built one (npm test builds first).
const WORKER_URL = import.meta.url.endsWith('.ts')
  ? new URL('../../dist/stream/pipelineWorker.js', import.meta.url)
  : new URL('./pipelineWorker.js', import.meta.url);

class WorkerStage implements ProcessingStage {
  inFlight = 0;
  private waiters: { limit: number; resolve: () => void }[] = [];
  private flushWaiter: (() => void) | null = null;
  private closed = false;

  private constructor(
    readonly backend: string,
    private readonly worker: Worker,
  ) {}

  static open(init: WorkerInit, onOutput: (o: Output) => void, onFailure: (e: Error) => void): Promise<WorkerStage> {
    const worker = new Worker(WORKER_URL, { workerData: init });
    return new Promise((resolve, reject) => {
      let stage: WorkerStage | null = null;
      worker.on('message', (m: FromWorker) => {
        if (m.type === 'ready') {
          stage = new WorkerStage(m.backend, worker);
          resolve(stage);
        } else if (m.type === 'failed') {
          void worker.terminate();
          reject(m.input ? new InputError(m.message) : new Error(m.message));
        } else if (stage) {
          for (const o of m.items) onOutput(o);
          stage.settle(m.done, m.flushed);
        }
      });
      worker.on('error', (e) => {
        if (stage === null) reject(e);
        else if (!stage.closed) onFailure(new Error(`pipeline worker failed: ${e.message}`));
      });
      worker.on('exit', (code) => {
        if (stage === null) reject(new Error(`pipeline worker exited (code ${code}) before it was ready`));
        else if (!stage.closed) onFailure(new Error(`pipeline worker exited unexpectedly (code ${code})`));
        stage?.release();
      });
    });
  }

  push(frame: Frame): void {
    const buf = frame.data.buffer;
    // Transfer only a buffer the frame owns whole; a view into a shared one is copied.
    const data = frame.data.byteOffset === 0 && frame.data.byteLength === buf.byteLength ? frame.data : frame.data.slice();
    this.inFlight++;
    this.post({ type: 'frame', frame: { ...frame, data } }, [data.buffer as ArrayBuffer]);
  }

  below(limit: number): Promise<void> {
    if (this.inFlight < limit || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ limit, resolve }));
  }

  flush(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.flushWaiter = resolve;
      this.post({ type: 'flush' });
    });
  }

  setWants(wants: Wants): void {
    this.post({ type: 'wants', wants });
  }

  resetTemplate(): void {
    this.post({ type: 'resetTemplate' });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.post({ type: 'close' });
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => void this.worker.terminate().then(() => resolve()), 2000);
      this.worker.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    this.release();
  }

  private post(m: ToWorker, transfer: ArrayBuffer[] = []): void {
    if (!this.closed || m.type === 'close') this.worker.postMessage(m, transfer);
  }

  private settle(done: number, flushed: boolean): void {
    this.inFlight -= done;
    if (flushed) {
      this.flushWaiter?.();
      this.flushWaiter = null;
    }
    this.waiters = this.waiters.filter((w) => {
      if (this.inFlight >= w.limit) return true;
      w.resolve();
      return false;
    });
  }

  /** Nobody waits on a worker that is gone. */
  private release(): void {
    this.closed = true;
    for (const w of this.waiters) w.resolve();
    this.waiters = [];
    this.flushWaiter?.();
    this.flushWaiter = null;
  }
}
