import { type Config, redactConfig } from '../config/schema.js';
import type { Frame, FrameSource, SourceInfo } from '../ingest/frame.js';
import type { BackendChoice } from './backend.js';
import type { Hub, Message } from './hub.js';
import { LiveQueue, pacedReplay } from './pacing.js';
import type { Output, PreviewHeader, PreviewKind, StageTimes } from './processor.js';
import { openStage, type ProcessingStage } from './stage.js';
import type { ThreadPriority } from './threadPriority.js';

export { motionOptions, round6, segmentOptions, traceOptions } from './processor.js';

/**
 * The pipeline: source → (worker: register → warp → measure) → hub. It owns
 * the order of things and the bookkeeping (arrival times, drops, the `end`
 * line); the per-frame work is a ProcessingStage (src/stream/stage.ts), the
 * numbers come from src/kernels.
 */
export interface PipelineOptions {
  config: Config;
  source: FrameSource;
  hub: Hub;
  backend: BackendChoice;
  /** Aborting stops the source; the pipeline drains what it has and ends cleanly. */
  signal?: AbortSignal;
  /** Live counters, updated as frames go through (status line, stats topic, /metrics). */
  counters?: PipelineCounters;
  /** Called once the source is open and the stage ready, before the meta line. */
  onStart?: (info: SourceInfo, control: PipelineControl) => void;
  /** Every processed frame's latency (arrival → hub, ms) and stage times. */
  onTiming?: (latencyMs: number, stages: StageTimes) => void;
  /** Previews, when `control.setPreview` asked for some. */
  onPreview?: (header: PreviewHeader, pixels: Uint8Array) => void;
  /** A failed worker was replaced; `lost` frames so far went with failed workers. */
  onWorkerRestart?: (error: Error, lost: number) => void;
  /** The label image of each new segmentation. */
  onLabels?: (labels: { seq: number; width: number; height: number; rle: number[] }) => void;
  /**
   * An output that cannot keep up (the record's disk): a promise to await
   * before the next frame is taken, or null. A live source's queue fills and
   * drops (counted) meanwhile; a replay is not read on.
   */
  waitForOutputs?: () => Promise<void> | null;
}

/** What the outputs may change while the pipeline runs. */
export interface PipelineControl {
  readonly backend: string;
  /** The worker threads' priorities (those of the current workers, after any replacement). */
  readonly priority: ThreadPriority[];
  setPreview(kinds: PreviewKind[]): void;
  resetTemplate(): void;
}

export interface PipelineCounters {
  received: number;
  processed: number;
  dropped: number;
  queueDepth: number;
  backlog: number;
  /** Worker threads that failed and were replaced. */
  workerRestarts: number;
}

export function newCounters(): PipelineCounters {
  return { received: 0, processed: 0, dropped: 0, queueDepth: 0, backlog: 0, workerRestarts: 0 };
}

/** A worker that fails this many times in a row without producing a frame is not replaced again. */
const MAX_RESTARTS = 3;

export interface PipelineSummary {
  info: SourceInfo;
  backend: string;
  priority: ThreadPriority[];
  frames: number;
  dropped: number;
  errors: number;
}

/** Frames handed to the stage before the pipeline waits: one being processed, one ready. */
const IN_FLIGHT = 2;

/** The pipeline's view of the frames: live through a drop-oldest queue, replay paced or not. */
function framesOf(frames: AsyncIterable<Frame>, info: SourceInfo, cfg: Config, live: LiveQueue | null): AsyncIterable<Frame> {
  if (live) {
    live.start(frames, info.fps);
    return live.frames();
  }
  const speed = cfg.replay.speed;
  if (speed === 'max') return frames;
  const factor = speed === 'realtime' ? 1 : speed;
  return pacedReplay(frames, factor, () => performance.now());
}

async function* stamped(frames: AsyncIterable<Frame>, arrival: Map<number, number>): AsyncIterable<Frame> {
  for await (const f of frames) {
    arrival.set(f.seq, performance.now());
    yield f;
  }
}

export async function runPipeline(opts: PipelineOptions): Promise<PipelineSummary> {
  const { config, source, hub, signal } = opts;
  const counters = opts.counters ?? newCounters();
  const info = await source.open();
  const arrival = new Map<number, number>();
  let frames = 0;
  let errors = 0;
  let failure: Error | null = null;
  /** Frames handed to the current stage, and frames it gave back (processed or refused). */
  let pushed = 0;
  let returned = 0;
  /** Frames lost with failed workers: counted as dropped, never silently lost. */
  let lost = 0;
  let restarts = 0;

  const publishFrame = (msg: Message, stages: StageTimes | null): void => {
    const t0 = arrival.get(msg.seq as number);
    arrival.delete(msg.seq as number);
    const latency = t0 === undefined ? null : performance.now() - t0;
    msg.latencyMs = latency === null ? null : Math.round(latency * 1e6) / 1e6;
    frames++;
    returned++;
    restarts = 0;
    counters.processed = frames;
    hub.publish('frame', msg);
    if (latency !== null && stages) opts.onTiming?.(latency, stages);
  };
  const onOutput = (o: Output): void => {
    switch (o.kind) {
      case 'frame':
        publishFrame(o.msg, o.stages);
        break;
      case 'msg':
        if (o.topic === 'frame') {
          errors++;
          publishFrame(o.msg, null);
        } else hub.publish(o.topic, o.msg);
        break;
      case 'json':
        hub.publish(o.topic, Buffer.from(o.bytes.buffer, o.bytes.byteOffset, o.bytes.byteLength));
        break;
      case 'preview':
        opts.onPreview?.(o.header, o.pixels);
        break;
      case 'labels':
        opts.onLabels?.(o);
        break;
    }
  };

  // Checked before the meta line: a record that starts must end with its `end` line.
  const open = (): Promise<ProcessingStage> => openStage(config, info, opts.backend, onOutput, (e) => (failure ??= e));
  let stage: ProcessingStage;
  try {
    stage = await open();
  } catch (e) {
    await source.close();
    throw e;
  }
  let heatmap = hub.wants('heatmap');
  stage.setWants({ heatmap, preview: [] });
  let preview: PreviewKind[] = [];
  opts.onStart?.(info, {
    backend: stage.backend,
    get priority() {
      return stage.priority;
    },
    setPreview(kinds) {
      preview = kinds;
      stage.setWants({ heatmap, preview });
    },
    resetTemplate: () => stage.resetTemplate(),
  });
  hub.publish('meta', {
    type: 'meta',
    version: 1,
    source: info.uri,
    width: info.width,
    height: info.height,
    channels: info.channels,
    dtype: info.dtype,
    config: redactConfig(config) as unknown as Record<string, unknown>,
  });

  /**
   * A worker that crashed (a custom feature that exits, an out-of-memory) is
   * replaced: the frames it held (in flight, or kept for the template) are
   * counted as dropped, and the new worker builds a new template. A worker
   * that keeps failing before it produces a frame ends the run with the error.
   */
  const replaceStage = async (): Promise<void> => {
    const why = failure as Error;
    lost += pushed - returned;
    pushed = 0;
    returned = 0;
    counters.dropped = (live?.dropped ?? 0) + lost;
    if (restarts >= MAX_RESTARTS) throw why;
    restarts++;
    counters.workerRestarts++;
    await stage.close();
    failure = null;
    stage = await open();
    stage.setWants({ heatmap, preview });
    opts.onWorkerRestart?.(why, lost);
  };

  // A paced live source (the simulator) has a clock of its own: its frames arrive when they fall due on
  // it, however late the main thread takes them.
  const live = info.live
    ? new LiveQueue(
        config.live.queue,
        (f) => arrival.delete(f.seq),
        (f, due) => arrival.set(f.seq, due),
      )
    : null;
  const onAbort = (): void => live?.stop();
  signal?.addEventListener('abort', onAbort);
  // Stopped while the worker was starting: the listener came too late to hear it.
  if (signal?.aborted) live?.stop();

  const end = (error?: string): void => {
    const msg: Message = { type: 'end', frames, dropped: (live?.dropped ?? 0) + lost };
    if (error !== undefined) msg.error = error;
    hub.publish('end', msg);
  };

  try {
    for await (const frame of framesOf(stamped(source.frames(), arrival), info, config, live)) {
      // Counted where frames arrive: a live source's frames dropped in its queue were received too.
      counters.received = live ? live.received : counters.received + 1;
      if (live) {
        counters.dropped = live.dropped + lost;
        counters.queueDepth = live.depth;
      }
      if (hub.wants('heatmap') !== heatmap) {
        heatmap = !heatmap;
        stage.setWants({ heatmap, preview });
      }
      stage.push(frame);
      pushed++;
      // A live queue keeps filling (and dropping) while we wait; a replayed source is simply not read.
      await stage.below(IN_FLIGHT);
      if (failure) await replaceStage();
      const outputs = opts.waitForOutputs?.();
      if (outputs) await outputs;
      counters.backlog = stage.inFlight;
      // Replay stops at once; a live queue was stopped by the abort and drains what it holds.
      if (signal?.aborted && live === null) break;
      // Inline processing never waits: let timers and I/O (the recorder, the server) run between frames.
      if (stage.inFlight === 0 && counters.received % 16 === 0) await new Promise((r) => setImmediate(r));
    }
    await stage.below(1);
    if (failure) await replaceStage();
    await stage.flush();
    if (failure) throw failure;
  } catch (e) {
    await stage.below(1).catch(() => undefined);
    // Frames held for the template are processed when possible; the end line says how far we got.
    await stage.flush().catch(() => undefined);
    // Whatever a failed worker still held is counted as dropped, never silently lost.
    if (failure !== null) lost += pushed - returned;
    pushed = returned = 0;
    end(e instanceof Error ? e.message : String(e));
    throw e;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    live?.stop();
    counters.dropped = (live?.dropped ?? 0) + lost;
    await stage.close();
    await source.close();
  }
  end();
  return { info, backend: stage.backend, priority: stage.priority, frames, dropped: (live?.dropped ?? 0) + lost, errors };
}
