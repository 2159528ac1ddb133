import type { Config } from '../config/schema.js';
import { InputError } from '../errors.js';
import type { Frame, SourceInfo } from '../ingest/frame.js';
import { loadLabels } from '../ingest/labels.js';
import { IntensityFeatures } from '../kernels/features/intensity.js';
import type { TraceOptions } from '../kernels/features/traces.js';
import { LocalCorrelation } from '../kernels/localCorrelation.js';
import { type MotionOptions, type RegisteredFrame, MotionCorrector } from '../kernels/motionCorrector.js';
import { ObjectMeasurer } from '../kernels/objectMeasurer.js';
import { PreviewEncoder } from '../kernels/preview.js';
import type { SegmentOptions } from '../kernels/segment.js';
import { TrackedObjects } from '../kernels/trackedObjects.js';
import type { Backend } from './backend.js';
import { loadCustomFeatures } from './customFeatures.js';
import { FeatureJsonWriter } from './featureJson.js';
import type { Message, Topic } from './hub.js';

/**
 * The per-frame work between a source and the hub: register and warp
 * (MotionCorrector), then measure (objects, traces, events, the local
 * correlation map, previews). It runs the same whether on the main thread or
 * in a worker (src/stream/pipelineWorker.ts), so a replay and a live run give
 * the same numbers. Its results are `Output`s; the big ones are serialised
 * here, where they are computed, so that the main thread only forwards text.
 */
export type Output =
  /** A processed frame: its `frame` line without `latencyMs` (the main thread adds it), and stage times. */
  | { kind: 'frame'; seq: number; msg: Message; stages: StageTimes }
  /** A small message (event, error frame line): serialised by whoever needs text. */
  | { kind: 'msg'; topic: Topic; msg: Message }
  /**
   * A large message already serialised (objects, segmentation, heatmap), as
   * UTF-8 bytes in a buffer of its own: transferred from a worker, not copied.
   */
  | { kind: 'json'; topic: Topic; bytes: Uint8Array }
  /** An 8-bit preview image (docs/protocol.md, binary preview frames). */
  | { kind: 'preview'; header: PreviewHeader; pixels: Uint8Array }
  /** The label image of a new segmentation, as runs (docs/protocol.md, /api/labels). */
  | { kind: 'labels'; seq: number; width: number; height: number; rle: number[] };

export interface StageTimes {
  register: number;
  warp: number;
  measure: number;
}

export type PreviewKind = 'registered' | 'raw';

export interface PreviewHeader {
  seq: number;
  t: number;
  kind: PreviewKind;
  width: number;
  height: number;
  lo: number;
  hi: number;
}

/** What the consumers currently want, so that nobody pays for an output nobody reads. */
export interface Wants {
  heatmap: boolean;
  preview: PreviewKind[];
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

/** Rounds for the record: 1e-6 px is far below any registration error and keeps lines short. */
export function round6(v: number | null): number | null {
  return v === null || !Number.isFinite(v) ? null : Math.round(v * 1e6) / 1e6;
}

const encoder = new TextEncoder();

/** A message as UTF-8 JSON bytes (ASCII in practice: feature names and numbers). */
function utf8(msg: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(msg));
}

/** A label image as [label, count, label, count, …] runs in raster order. */
export function runLengths(labels: Int32Array): number[] {
  const out: number[] = [];
  let i = 0;
  while (i < labels.length) {
    const v = labels[i];
    let j = i + 1;
    while (j < labels.length && labels[j] === v) j++;
    out.push(v, j - i);
    i = j;
  }
  return out;
}

interface ObjectsStage {
  measurer: ObjectMeasurer | null;
  tracked: TrackedObjects | null;
  coloc: [number, number] | null;
}

/** The objects stage as configured (null: no objects), checked against the source before anything is published. */
async function prepareObjects(
  config: Config,
  info: SourceInfo,
  { blur: blurKernel, quantiles: quantilesKernel }: Backend['objectKernels'],
): Promise<ObjectsStage | null> {
  const oc = config.objects;
  if (oc.mode === 'none') return null;
  if (typeof oc.channel === 'number' && oc.channel >= info.channels) {
    throw new InputError(`option objects.channel: ${oc.channel}, but ${info.uri} has ${info.channels} channel${info.channels === 1 ? '' : 's'} (0-based)`);
  }
  if (oc.mode === 'tracked') {
    return { measurer: null, tracked: new TrackedObjects(info.width, info.height, segmentOptions(oc), oc.maxDisplacement, blurKernel), coloc: null };
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
    blurKernel,
    quantilesKernel,
  });
  return { measurer, tracked: null, coloc };
}

/**
 * The register half of the per-frame work: frames in (checked against the
 * stream), registered frames and template announcements out, in frame order.
 * `RegisteredFrame.registered` is valid only during the callback.
 */
export type RegisterOutput =
  | { kind: 'template'; template: Float32Array; firstSeq: number }
  | { kind: 'registered'; r: RegisteredFrame }
  /** A frame that does not fit the stream: its `frame` line (ok: false, error), never processed. */
  | { kind: 'misfit'; msg: Message };

export class FrameRegistration {
  private readonly mc: MotionCorrector;
  private out: (o: RegisterOutput) => void = () => undefined;

  private constructor(
    private readonly info: SourceInfo,
    mc: MotionCorrector,
  ) {
    this.mc = mc;
    this.mc.onTemplate = (template, firstSeq) => this.out({ kind: 'template', template, firstSeq });
  }

  /** Checks the registration options against the source (InputError). */
  static create(config: Config, info: SourceInfo, backend: Backend, now: () => number = () => performance.now()): FrameRegistration {
    const ch = config.registration.channel;
    if (typeof ch === 'number' && ch >= info.channels) {
      throw new InputError(`option registration.channel: ${ch}, but ${info.uri} has ${info.channels} channel${info.channels === 1 ? '' : 's'} (0-based)`);
    }
    return new FrameRegistration(info, new MotionCorrector(info.width, info.height, info.channels, info.dtype, motionOptions(config), backend.kernels, now));
  }

  /** Frames held until the template is built. */
  get pendingCount(): number {
    return this.mc.pendingCount;
  }

  /**
   * Registers one frame; its results (and those of frames held for the
   * template) go to `out` before this returns. A frame of the wrong size is
   * reported on its `frame` line, never processed, never fatal.
   */
  push(frame: Frame, out: (o: RegisterOutput) => void): void {
    this.out = out;
    const problem = this.misfit(frame);
    if (problem === null) this.mc.push(frame, this.emit);
    else {
      out({
        kind: 'misfit',
        msg: {
          type: 'frame',
          seq: frame.seq,
          t: round6(frame.t),
          shift: { dy: null, dx: null, peak: null, quality: null },
          ok: false,
          latencyMs: null,
          error: problem,
        },
      });
    }
  }

  /** End of stream: frames still held for the template are registered. */
  flush(out: (o: RegisterOutput) => void): void {
    this.out = out;
    this.mc.flush(this.emit);
  }

  resetTemplate(): void {
    this.mc.resetTemplate();
  }

  dispose(): void {
    this.mc.dispose();
  }

  private readonly emit = (r: RegisteredFrame): void => this.out({ kind: 'registered', r });

  /** Why a frame does not fit the stream (its size, channels or pixel count), or null. */
  private misfit(f: Frame): string | null {
    const i = this.info;
    if (f.width !== i.width || f.height !== i.height || f.channels !== i.channels) {
      return `frame ${f.seq} is ${f.width}×${f.height}×${f.channels}, expected ${i.width}×${i.height}×${i.channels}`;
    }
    if (f.data.length !== i.width * i.height * i.channels) {
      return `frame ${f.seq} has ${f.data.length} values, expected ${i.width * i.height * i.channels}`;
    }
    return null;
  }
}

/**
 * The measure half: from registered frames (in frame order) to the outputs —
 * the frame line, objects, segmentation, events, the local correlation map
 * and previews, the big ones serialised here.
 */
export class FrameMeasurement {
  /** Wanted outputs; changed by the consumer at any time. */
  wants: Wants = { heatmap: false, preview: [] };
  private readonly json = new FeatureJsonWriter();
  private readonly local: LocalCorrelation | null;
  private readonly luma: Float32Array | null;
  private readonly labelImage: Int32Array | null;
  private readonly previewEncoder: PreviewEncoder;
  private readonly rawPlane: Float32Array;
  private readonly previewInterval: number;
  private readonly lastPreview: Record<PreviewKind, number> = { registered: -Infinity, raw: -Infinity };

  private constructor(
    private readonly config: Config,
    private readonly info: SourceInfo,
    backend: Backend,
    private readonly objects: ObjectsStage | null,
    private readonly now: () => number,
  ) {
    const block = config.localCorrelation.block;
    this.local = block > 0 ? new LocalCorrelation(info.width, info.height, block, backend.objectKernels.localcorr) : null;
    this.luma = info.channels >= 3 ? new Float32Array(info.width * info.height) : null;
    this.labelImage = objects?.measurer ? new Int32Array(info.width * info.height) : null;
    this.previewEncoder = new PreviewEncoder(info.width, info.height, config.server.previewMaxSize);
    this.rawPlane = new Float32Array(info.width * info.height);
    this.previewInterval = config.server.previewFps > 0 ? 1000 / config.server.previewFps : Infinity;
  }

  /** Checks the objects options against the source (InputError) and builds the stages. */
  static async create(config: Config, info: SourceInfo, backend: Backend, now: () => number = () => performance.now()): Promise<FrameMeasurement> {
    const objects = await prepareObjects(config, info, backend.objectKernels);
    return new FrameMeasurement(config, info, backend, objects, now);
  }

  /** One output of the register half. */
  take(o: RegisterOutput, out: (o: Output) => void): void {
    switch (o.kind) {
      case 'template':
        return this.onTemplate(o.template, o.firstSeq, out);
      case 'registered':
        return this.measure(o.r, out);
      case 'misfit':
        return out({ kind: 'msg', topic: 'frame', msg: o.msg });
    }
  }

  private onTemplate(template: Float32Array, firstSeq: number, out: (o: Output) => void): void {
    this.local?.setTemplate(template);
    const measurer = this.objects?.measurer;
    if (!measurer) return;
    const seg = measurer.setTemplate(template);
    const head = { type: 'segmentation', seq: firstSeq, count: seg.count, ids: Array.from(seg.ids) };
    out({ kind: 'json', topic: 'segmentation', bytes: this.json.encode(head, seg.features) });
    if (this.labelImage && measurer.writeLabelImage(this.labelImage)) {
      out({ kind: 'labels', seq: firstSeq, width: this.info.width, height: this.info.height, rle: runLengths(this.labelImage) });
    }
  }

  /** A registered channel by config choice (an index, or luminance of an RGB frame). */
  private plane(r: RegisteredFrame, choice: number | 'luminance'): Float32Array {
    const luma = this.luma;
    if (choice !== 'luminance' || luma === null) return r.registered[choice === 'luminance' ? 0 : choice];
    const [red, green, blue] = r.registered;
    for (let i = 0; i < luma.length; i++) luma[i] = 0.2125 * red[i] + 0.7154 * green[i] + 0.0721 * blue[i];
    return luma;
  }

  private measure(r: RegisteredFrame, out: (o: Output) => void): void {
    const { config } = this;
    const f = r.frame;
    const t0 = this.now();
    const msg: Message = {
      type: 'frame',
      seq: f.seq,
      t: round6(f.t),
      shift: { dy: round6(r.dy), dx: round6(r.dx), peak: round6(r.estimate.peak), quality: round6(r.estimate.quality) },
      ok: r.ok,
    };
    if (r.truth) msg.truth = { dy: round6(r.truth.dy), dx: round6(r.truth.dx) };
    const local = this.local;
    if (local) {
      const lc = local.compute(this.plane(r, config.registration.channel));
      msg.localCorrelation = { median: round6(lc.median), p10: round6(lc.p10) };
      if (this.wants.heatmap) {
        const heat = { type: 'heatmap', seq: f.seq, block: config.localCorrelation.block, cols: local.cols, rows: local.rows, r: Array.from(local.map, (v) => round6(v)) };
        out({ kind: 'json', topic: 'heatmap', bytes: utf8(heat) });
      }
    }
    const oc = config.objects;
    const tracked = this.objects?.tracked ?? null;
    const measurer = this.objects?.measurer ?? null;
    const coloc = this.objects?.coloc ?? null;
    const extra: Output[] = [];
    // Tracked objects change from frame to frame: a segmentation line (before the frame it applies
    // to, as in fixed mode) whenever tracks are born or die.
    if (tracked) {
      const tr = tracked.measure(this.plane(r, oc.channel), f.t);
      if (tr.changed) {
        const shape = { AreaShape_Area: tr.features.AreaShape_Area, AreaShape_Center_X: tr.features.AreaShape_Center_X, AreaShape_Center_Y: tr.features.AreaShape_Center_Y };
        const seg = { type: 'segmentation', seq: f.seq, count: tr.ids.length, ids: Array.from(tr.ids), births: tr.births, deaths: tr.deaths };
        out({ kind: 'json', topic: 'segmentation', bytes: this.json.encode(seg, shape) });
      }
      extra.push({ kind: 'json', topic: 'objects', bytes: this.json.encode({ type: 'objects', seq: f.seq, ids: Array.from(tr.ids) }, tr.features) });
    }
    if (measurer?.ready) {
      const o = measurer.measure(this.plane(r, oc.channel), f.t, coloc ? [r.registered[coloc[0]], r.registered[coloc[1]]] : undefined, f.seq);
      extra.push({ kind: 'json', topic: 'objects', bytes: this.json.encode({ type: 'objects', seq: f.seq, ids: Array.from(o.ids) }, o.features) });
      for (const ev of measurer.events) {
        extra.push({ kind: 'msg', topic: 'event', msg: { type: 'event', seq: f.seq, t: round6(ev.tMs), id: o.ids[ev.object], amplitude: round6(ev.amplitude) } });
      }
    }
    this.previews(r, out);
    const measure = this.now() - t0;
    out({ kind: 'frame', seq: f.seq, msg, stages: { register: r.registerMs, warp: r.warpMs, measure } });
    for (const o of extra) out(o);
  }

  /** Previews at most previewFps per kind, only of the kinds someone watches. */
  private previews(r: RegisteredFrame, out: (o: Output) => void): void {
    const kinds = this.wants.preview;
    if (kinds.length === 0) return;
    const now = this.now();
    const ch = this.config.registration.channel;
    for (const kind of kinds) {
      if (now - this.lastPreview[kind] < this.previewInterval) continue;
      this.lastPreview[kind] = now;
      const plane = kind === 'registered' ? this.plane(r, ch) : this.rawChannel(r.frame, ch === 'luminance' ? 0 : ch);
      const p = this.previewEncoder.encode(plane);
      // A copy: the encoder reuses its output, and the copy may be transferred to another thread.
      const pixels = p.data.slice();
      out({ kind: 'preview', header: { seq: r.frame.seq, t: r.frame.t, kind, width: p.width, height: p.height, lo: p.lo, hi: p.hi }, pixels });
    }
  }

  private rawChannel(f: Frame, c: number): Float32Array {
    const n = f.width * f.height;
    const src = f.data;
    const dst = this.rawPlane;
    const base = c * n;
    for (let i = 0; i < n; i++) dst[i] = src[base + i];
    return dst;
  }
}

/** Both halves in one thread (inline, or one worker): registered frames go straight to the measurement, no copy. */
export class FrameProcessor {
  private out: (o: Output) => void = () => undefined;
  /** The register half's outputs, straight into the measure half (one function for the whole run). */
  private readonly measure = (o: RegisterOutput): void => this.measurement.take(o, this.out);

  private constructor(
    private readonly registration: FrameRegistration,
    private readonly measurement: FrameMeasurement,
  ) {}

  static async create(config: Config, info: SourceInfo, backend: Backend, now: () => number = () => performance.now()): Promise<FrameProcessor> {
    const registration = FrameRegistration.create(config, info, backend, now);
    return new FrameProcessor(registration, await FrameMeasurement.create(config, info, backend, now));
  }

  get wants(): Wants {
    return this.measurement.wants;
  }

  set wants(w: Wants) {
    this.measurement.wants = w;
  }

  get pendingCount(): number {
    return this.registration.pendingCount;
  }

  push(frame: Frame, out: (o: Output) => void): void {
    this.out = out;
    this.registration.push(frame, this.measure);
  }

  flush(out: (o: Output) => void): void {
    this.out = out;
    this.registration.flush(this.measure);
  }

  resetTemplate(): void {
    this.registration.resetTemplate();
  }

  dispose(): void {
    this.registration.dispose();
  }
}
