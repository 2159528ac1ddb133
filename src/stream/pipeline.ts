import type { Config } from '../config/schema.js';
import type { Frame, FrameSource, SourceInfo } from '../ingest/frame.js';
import { type KernelFactories, type MotionOptions, type RegisteredFrame, MotionCorrector } from '../kernels/motionCorrector.js';
import { InputError } from '../errors.js';
import { loadLabels } from '../ingest/labels.js';
import { columnToJson, type FeatureColumns } from '../kernels/features/columns.js';
import type { TraceOptions } from '../kernels/features/traces.js';
import type { SegmentOptions } from '../kernels/segment.js';
import { IntensityFeatures } from '../kernels/features/intensity.js';
import { LocalCorrelation } from '../kernels/localCorrelation.js';
import { ObjectMeasurer } from '../kernels/objectMeasurer.js';
import { TrackedObjects } from '../kernels/trackedObjects.js';
import { loadCustomFeatures } from './customFeatures.js';
import type { Hub } from './hub.js';
import { LiveQueue, pacedReplay } from './pacing.js';

/**
 * The pipeline: source → register → warp → (measure) → hub. It owns the
 * order of things and the bookkeeping (arrival times, drops, the `end` line);
 * the numeric work is in src/kernels.
 */
export interface PipelineOptions {
  config: Config;
  source: FrameSource;
  hub: Hub;
  kernels: KernelFactories;
  /** Aborting stops the source; the pipeline drains what it has and ends cleanly. */
  signal?: AbortSignal;
  /** Called with each registered frame while its registered pixels are valid. */
  onRegistered?: (r: RegisteredFrame) => void;
  /** Live counters, updated as frames go through (for status lines and, later, /metrics). */
  counters?: PipelineCounters;
}

export interface PipelineCounters {
  received: number;
  processed: number;
  dropped: number;
  queueDepth: number;
  backlog: number;
}

export function newCounters(): PipelineCounters {
  return { received: 0, processed: 0, dropped: 0, queueDepth: 0, backlog: 0 };
}

export interface PipelineSummary {
  info: SourceInfo;
  frames: number;
  dropped: number;
  errors: number;
}

export function motionOptions(cfg: Config): MotionOptions {
  const r = cfg.registration;
  return {
    window: r.window,
    windowFraction: r.windowFraction,
    normalization: r.normalization,
    phaseSigma: r.phaseSigma,
    maxShift: r.maxShift,
    windowCorrection: r.windowCorrection === 'on',
    minPeak: r.minPeak,
    minQuality: r.minQuality,
    channel: r.channel,
    prefilter: r.prefilter,
    dogSigmaLow: r.dogSigmaLow,
    dogSigmaHigh: r.dogSigmaHigh,
    border: r.border,
    borderValue: r.borderValue,
    templateFrames: cfg.template.frames,
    templateUpdate: cfg.template.update,
    templateRate: cfg.template.rate,
    templateUpdateEvery: cfg.template.updateEvery,
    templateRecentreEvery: cfg.template.recentreEvery,
    templateAnnounceEvery: cfg.objects.mode === 'fixed' ? cfg.objects.resegmentEvery : 0,
  };
}

function featuresToJson(cols: FeatureColumns): Record<string, (number | null)[]> {
  const out: Record<string, (number | null)[]> = {};
  for (const [name, col] of Object.entries(cols)) out[name] = columnToJson(col);
  return out;
}

/** Rounds for the record: 1e-6 px is far below any registration error and keeps lines short. */
export function round6(v: number | null): number | null {
  return v === null || !Number.isFinite(v) ? null : Math.round(v * 1e6) / 1e6;
}

/** The pipeline's view of the frames: live through a drop-oldest queue, replay paced or not. */
function framesOf(source: FrameSource, info: SourceInfo, cfg: Config, live: LiveQueue | null): AsyncIterable<Frame> {
  if (live) {
    live.start(source.frames(), info.fps);
    return live.frames();
  }
  const speed = cfg.replay.speed;
  if (speed === 'max') return source.frames();
  const factor = speed === 'realtime' ? 1 : speed;
  return pacedReplay(source.frames(), factor, () => performance.now());
}

export function segmentOptions(oc: Config['objects']): SegmentOptions {
  return {
    sigma: oc.sigma,
    method: oc.method,
    window: oc.sauvolaWindow,
    k: oc.sauvolaK,
    r: oc.sauvolaR ?? undefined,
    connectivity: oc.connectivity === '8' ? 2 : 1,
    minArea: oc.minArea,
    maxArea: oc.maxArea ?? Infinity,
    excludeBorder: oc.excludeBorder,
  };
}

/** Time-series options from the config's seconds to the kernel's milliseconds. */
export function traceOptions(t: Config['traces']): TraceOptions {
  return {
    tauMs: t.tau * 1000,
    baseline: t.baseline,
    baselineWindowMs: t.baselineWindow * 1000,
    baselinePercentile: t.baselinePercentile,
    eventK: t.eventK,
    refractoryMs: t.refractory * 1000,
  };
}

/** The objects stage as configured (null: no objects), checked against the source before anything is published. */
async function prepareObjects(
  config: Config,
  info: SourceInfo,
): Promise<{ measurer: ObjectMeasurer | null; tracked: TrackedObjects | null; coloc: [number, number] | null } | null> {
  const oc = config.objects;
  if (oc.mode === 'none') return null;
  if (typeof oc.channel === 'number' && oc.channel >= info.channels) {
    throw new InputError(`option objects.channel: ${oc.channel}, but ${info.uri} has ${info.channels} channel${info.channels === 1 ? '' : 's'} (0-based)`);
  }
  if (oc.mode === 'tracked') {
    return { measurer: null, tracked: new TrackedObjects(info.width, info.height, segmentOptions(oc), oc.maxDisplacement), coloc: null };
  }
  const known = IntensityFeatures.names(true);
  if (config.traces.of !== null && !known.includes(config.traces.of)) {
    throw new InputError(`option traces.of: ${config.traces.of} is not allowed; expected one of ${known.join(', ')} (or null)`);
  }
  const labels = oc.labels === null ? null : await loadLabels(oc.labels, info, config.tiff.maxPixels);
  const cc = config.colocalization;
  let coloc: [number, number] | null = null;
  if (cc.mode === 'auto' && info.channels >= 2) {
    const m = /^\s*(\d+)\s*,\s*(\d+)\s*$/.exec(cc.channels);
    const pair: [number, number] | null = m ? [Number(m[1]), Number(m[2])] : null;
    if (pair === null || pair[0] === pair[1] || pair[0] >= info.channels || pair[1] >= info.channels) {
      throw new InputError(`option colocalization.channels: "${cc.channels}" is not allowed; expected two different channels "A,B" below ${info.channels}`);
    }
    coloc = pair;
  }
  const custom = oc.custom === null ? null : await loadCustomFeatures(oc.custom);
  const measurer = new ObjectMeasurer(info.width, info.height, {
    labels,
    segment: segmentOptions(oc),
    quartilesEvery: oc.quartilesEvery,
    traceOf: config.traces.of,
    traces: traceOptions(config.traces),
    colocalization: coloc === null ? null : { thresholdFraction: cc.threshold, rwc: cc.rwc },
    custom,
  });
  return { measurer, tracked: null, coloc };
}

export async function runPipeline(opts: PipelineOptions): Promise<PipelineSummary> {
  const { config, source, hub, signal } = opts;
  const counters = opts.counters ?? newCounters();
  const info = await source.open();
  // Checked before the meta line: a record that starts must end with its `end` line.
  let objects: Awaited<ReturnType<typeof prepareObjects>>;
  try {
    const ch = config.registration.channel;
    if (typeof ch === 'number' && ch >= info.channels) {
      throw new InputError(`option registration.channel: ${ch}, but ${info.uri} has ${info.channels} channel${info.channels === 1 ? '' : 's'} (0-based)`);
    }
    objects = await prepareObjects(config, info);
  } catch (e) {
    await source.close();
    throw e;
  }
  const measurer = objects?.measurer ?? null;
  const tracked = objects?.tracked ?? null;
  const coloc = objects?.coloc ?? null;
  const oc = config.objects;
  hub.publish('meta', {
    type: 'meta',
    version: 1,
    source: info.uri,
    width: info.width,
    height: info.height,
    channels: info.channels,
    dtype: info.dtype,
    config: config as unknown as Record<string, unknown>,
  });

  const mc = new MotionCorrector(info.width, info.height, info.channels, info.dtype, motionOptions(config), opts.kernels, () =>
    performance.now(),
  );
  const arrival = new Map<number, number>();
  let frames = 0;
  let errors = 0;
  const live = info.live ? new LiveQueue(config.live.queue, (f) => arrival.delete(f.seq)) : null;
  const onAbort = (): void => live?.stop();
  signal?.addEventListener('abort', onAbort);

  const block = config.localCorrelation.block;
  const local = block > 0 ? new LocalCorrelation(info.width, info.height, block) : null;
  mc.onTemplate = (template, firstSeq) => {
    local?.setTemplate(template);
    if (measurer) {
      const seg = measurer.setTemplate(template);
      hub.publish('segmentation', { type: 'segmentation', seq: firstSeq, count: seg.count, ids: Array.from(seg.ids), features: featuresToJson(seg.features) });
    }
  };
  const luma = info.channels >= 3 ? new Float32Array(info.width * info.height) : null;
  /** A registered channel by config choice (an index, or luminance of an RGB frame). */
  const registeredPlane = (r: RegisteredFrame, choice: number | 'luminance'): Float32Array => {
    if (choice !== 'luminance' || luma === null) return r.registered[choice === 'luminance' ? 0 : choice];
    const [red, green, blue] = r.registered;
    for (let i = 0; i < luma.length; i++) luma[i] = 0.2125 * red[i] + 0.7154 * green[i] + 0.0721 * blue[i];
    return luma;
  };

  const emit = (r: RegisteredFrame): void => {
    const f = r.frame;
    const t0 = arrival.get(f.seq);
    arrival.delete(f.seq);
    opts.onRegistered?.(r);
    const msg: Record<string, unknown> & { type: string } = {
      type: 'frame',
      seq: f.seq,
      t: round6(f.t),
      shift: { dy: round6(r.dy), dx: round6(r.dx), peak: round6(r.estimate.peak), quality: round6(r.estimate.quality) },
      ok: r.ok,
      latencyMs: t0 === undefined ? null : round6(performance.now() - t0),
    };
    if (r.truth) msg.truth = { dy: round6(r.truth.dy), dx: round6(r.truth.dx) };
    if (local) {
      const lc = local.compute(registeredPlane(r, config.registration.channel));
      msg.localCorrelation = { median: round6(lc.median), p10: round6(lc.p10) };
      if (hub.wants('heatmap')) {
        hub.publish('heatmap', { type: 'heatmap', seq: f.seq, block, cols: local.cols, rows: local.rows, r: Array.from(local.map, (v) => round6(v)) });
      }
    }
    // Tracked objects change from frame to frame: a segmentation line (before the frame it applies
    // to, as in fixed mode) whenever tracks are born or die.
    const tr = tracked ? tracked.measure(registeredPlane(r, oc.channel), f.t) : null;
    if (tr?.changed) {
      const shape = { AreaShape_Area: tr.features.AreaShape_Area, AreaShape_Center_X: tr.features.AreaShape_Center_X, AreaShape_Center_Y: tr.features.AreaShape_Center_Y };
      hub.publish('segmentation', { type: 'segmentation', seq: f.seq, count: tr.ids.length, ids: Array.from(tr.ids), births: tr.births, deaths: tr.deaths, features: featuresToJson(shape) });
    }
    frames++;
    counters.processed = frames;
    hub.publish('frame', msg);
    if (tr) hub.publish('objects', { type: 'objects', seq: f.seq, ids: Array.from(tr.ids), features: featuresToJson(tr.features) });
    if (measurer?.ready) {
      const o = measurer.measure(registeredPlane(r, oc.channel), f.t, coloc ? [r.registered[coloc[0]], r.registered[coloc[1]]] : undefined, f.seq);
      hub.publish('objects', { type: 'objects', seq: f.seq, ids: Array.from(o.ids), features: featuresToJson(o.features) });
      for (const ev of measurer.events) {
        hub.publish('event', { type: 'event', seq: f.seq, t: round6(ev.tMs), id: o.ids[ev.object], amplitude: round6(ev.amplitude) });
      }
    }
  };

  const end = (error?: string): void => {
    const msg: Record<string, unknown> & { type: string } = {
      type: 'end',
      frames,
      dropped: live?.dropped ?? 0,
    };
    if (error !== undefined) msg.error = error;
    hub.publish('end', msg);
  };

  try {
    for await (const frame of framesOf(source, info, config, live)) {
      arrival.set(frame.seq, performance.now());
      counters.received++;
      if (live) {
        counters.dropped = live.dropped;
        counters.queueDepth = live.depth;
      }
      try {
        mc.push(frame, emit);
      } catch (e) {
        if (!(e instanceof RangeError)) throw e;
        // A frame of the wrong size: reported in the record, never processed, never fatal.
        arrival.delete(frame.seq);
        errors++;
        frames++;
        hub.publish('frame', {
          type: 'frame',
          seq: frame.seq,
          t: round6(frame.t),
          shift: { dy: null, dx: null, peak: null, quality: null },
          ok: false,
          latencyMs: null,
          error: e.message,
        });
      }
      counters.backlog = mc.pendingCount;
      // Replay stops at once; a live queue was stopped by the abort and drains what it holds.
      if (signal?.aborted && live === null) break;
      // Let timers and I/O (the recorder, the live queue's clock) run between frames.
      if (live === null && frames % 16 === 0) await new Promise((r) => setImmediate(r));
    }
    mc.flush(emit);
  } catch (e) {
    try {
      mc.flush(emit);
    } catch {
      // The frames held for the template are lost with the error; the end line says how far we got.
    }
    end(e instanceof Error ? e.message : String(e));
    throw e;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    live?.stop();
    mc.dispose();
    await source.close();
  }
  end();
  return { info, frames, dropped: live?.dropped ?? 0, errors };
}
