import { MessageChannel, Worker } from 'node:worker_threads';
import type { Config } from '../config/schema.js';
import { InputError } from '../errors.js';
import { availableParallelism } from 'node:os';
import type { Frame, SourceInfo } from '../ingest/frame.js';
import { type BackendChoice, selectBackend } from './backend.js';
import type { MessagePort } from 'node:worker_threads';
import type { FromWorker, ToWorker, WorkerInit } from './pipelineWorker.js';
import { FrameProcessor, type Output, type Wants } from './processor.js';
import type { ThreadPriority } from './threadPriority.js';

/**
 * Where the per-frame work runs, seen from the main thread: inline (workers:
 * 0, for tests and tools) or in a worker thread. Both hand every Output to
 * `onOutput` in frame order; a frame pushed to a worker is transferred (its
 * buffer is detached here), so the source must give each frame its own buffer.
 */
export interface ProcessingStage {
  readonly backend: string;
  /** Each worker thread's priority (pipeline.priority); none when the work runs on the main thread. */
  readonly priority: ThreadPriority[];
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
 * `workers: auto` → one worker thread on a machine of two cores or fewer
 * (the main thread keeps the sockets), two (register | measure) on more.
 * Never more than two: every frame is registered against the template that
 * the frames before it updated (and a frame that fails holds the last good
 * shift), and its traces continue theirs, so frames cannot be processed side
 * by side without changing the numbers; the two halves of the work can
 * (docs/design.md).
 */
export function workerCount(setting: Config['pipeline']['workers'], cores = availableParallelism()): number {
  return setting === 'auto' ? (cores > 2 ? 2 : 1) : setting;
}

export async function openStage(
  config: Config,
  info: SourceInfo,
  backend: BackendChoice,
  onOutput: (o: Output) => void,
  onFailure: (e: Error) => void,
): Promise<ProcessingStage> {
  const n = workerCount(config.pipeline.workers);
  if (n === 0) return InlineStage.open(config, info, backend, onOutput);
  return WorkerStage.open({ config, info, backend }, n === 2, onOutput, onFailure);
}

class InlineStage implements ProcessingStage {
  readonly inFlight = 0;
  // The main thread keeps its priority: it also serves the sockets and the dashboard.
  readonly priority: ThreadPriority[] = [];
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

/**
 * The work in worker threads: one (`whole`), or two (`register` → `measure`,
 * linked by a MessagePort of their own). Frames go to the first, outputs come
 * from the last; a failure of either is the stage's.
 */
class WorkerStage implements ProcessingStage {
  inFlight = 0;
  private waiters: { limit: number; resolve: () => void }[] = [];
  private flushWaiter: (() => void) | null = null;
  private closed = false;
  private shutDown = false;
  /** Workers that have exited (one that failed while the other runs on). */
  private readonly exited = new Set<Worker>();

  private constructor(
    readonly backend: string,
    readonly priority: ThreadPriority[],
    /** Frames, flush and template resets go here. */
    private readonly input: Worker,
    /** Outputs come from here; wants go here. */
    private readonly output: Worker,
  ) {}

  static async open(init: Omit<WorkerInit, 'role' | 'handoff'>, split: boolean, onOutput: (o: Output) => void, onFailure: (e: Error) => void): Promise<WorkerStage> {
    const workers: Worker[] = [];
    let stage: WorkerStage | null = null;
    const failed = (e: Error): void => {
      if (stage !== null && !stage.closed) onFailure(e);
    };
    const start = (role: WorkerInit['role'], handoff?: MessagePort): Promise<{ worker: Worker; backend: string; priority: ThreadPriority }> => {
      const worker = new Worker(WORKER_URL, { workerData: { ...init, role, handoff } satisfies WorkerInit, transferList: handoff ? [handoff] : [] });
      workers.push(worker);
      // The same words for either half: what the user needs is that the pipeline's worker died.
      const name = 'pipeline worker';
      return new Promise((resolve, reject) => {
        let started = false;
        worker.on('message', (m: FromWorker) => {
          if (m.type === 'ready') {
            started = true;
            resolve({ worker, backend: m.backend, priority: m.priority });
          } else if (m.type === 'failed') reject(m.input ? new InputError(m.message) : new Error(m.message));
          else if (stage) {
            for (const o of m.items) onOutput(o);
            stage.settle(m.done, m.flushed);
          }
        });
        worker.on('error', (e) => (started ? failed(new Error(`${name} failed: ${e.message}`)) : reject(e)));
        worker.on('exit', (code) => {
          stage?.exited.add(worker);
          if (!started) reject(new Error(`${name} exited (code ${code}) before it was ready`));
          else failed(new Error(`${name} exited unexpectedly (code ${code})`));
          stage?.release();
        });
      });
    };
    try {
      if (!split) {
        const w = await start('whole');
        stage = new WorkerStage(w.backend, [w.priority], w.worker, w.worker);
      } else {
        const { port1, port2 } = new MessageChannel();
        const [reg, meas] = await Promise.all([start('register', port1), start('measure', port2)]);
        stage = new WorkerStage(reg.backend, [reg.priority, meas.priority], reg.worker, meas.worker);
      }
      return stage;
    } catch (e) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw e;
    }
  }

  push(frame: Frame): void {
    const buf = frame.data.buffer;
    // Transfer only a buffer the frame owns whole; a view into a shared one is copied.
    const data = frame.data.byteOffset === 0 && frame.data.byteLength === buf.byteLength ? frame.data : frame.data.slice();
    this.inFlight++;
    this.post(this.input, { type: 'frame', frame: { ...frame, data } }, [data.buffer as ArrayBuffer]);
  }

  below(limit: number): Promise<void> {
    if (this.inFlight < limit || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ limit, resolve }));
  }

  flush(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.flushWaiter = resolve;
      this.post(this.input, { type: 'flush' });
    });
  }

  setWants(wants: Wants): void {
    this.post(this.output, { type: 'wants', wants });
  }

  resetTemplate(): void {
    this.post(this.input, { type: 'resetTemplate' });
  }

  async close(): Promise<void> {
    if (this.shutDown) return;
    this.shutDown = true;
    this.closed = true;
    // A worker that is gone is not waited for; the other half of a split stage still is.
    const workers = (this.input === this.output ? [this.input] : [this.input, this.output]).filter((w) => !this.exited.has(w));
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            w.postMessage({ type: 'close' } satisfies ToWorker);
            const timer = setTimeout(() => void w.terminate().then(() => resolve()), 2000);
            w.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
          }),
      ),
    );
    this.release();
  }

  private post(w: Worker, m: ToWorker, transfer: ArrayBuffer[] = []): void {
    if (!this.closed) w.postMessage(m, transfer);
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
