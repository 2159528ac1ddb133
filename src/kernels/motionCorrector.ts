import type { Dtype, Frame, PixelArray } from '../ingest/frame.js';
import type { Correlator } from './correlator.js';
import { DogFilter } from './gaussian.js';
import { type ChannelChoice, extractPlane } from './plane.js';
import { type RegistrationParams, type ShiftEstimate, Registrar, newShiftEstimate } from './register.js';
import { type BorderMode, type ValidRect, warpTranslate } from './warp.js';
import type { Warper, WarperFactory } from './warper.js';

/**
 * Frame-to-template rigid motion correction with its template life cycle
 * (docs/registration.md, section 7): bootstrap from the first N frames,
 * optional EMA update kept centred on the bootstrap template, reset.
 * Pure computation: frames in, registered frames out through a callback.
 */
export interface MotionOptions extends RegistrationParams {
  channel: ChannelChoice;
  prefilter: 'none' | 'dog';
  dogSigmaLow: number;
  dogSigmaHigh: number;
  templateFrames: number;
  templateUpdate: 'none' | 'ema';
  templateRate: number;
  templateUpdateEvery: number;
  templateRecentreEvery: number;
  border: BorderMode;
  borderValue: number;
  /** Call onTemplate again every N template updates (0: only when a template is built). */
  templateAnnounceEvery: number;
}

export type CorrelatorFactory = (hp: number, wp: number) => Correlator;

/** Where the numeric kernels come from: the TypeScript reference or WebAssembly SIMD. */
export interface KernelFactories {
  correlator: CorrelatorFactory;
  warper: WarperFactory;
}

export interface RegisteredFrame {
  frame: Frame;
  /** The raw measurement against the template. */
  estimate: ShiftEstimate;
  /** The reported shift: the measurement when ok, else the last good one. */
  dy: number;
  dx: number;
  ok: boolean;
  /** Ground truth relative to the template's own position (simulated sources only). */
  truth?: { dy: number; dx: number };
  /** Registered channels (frame warped by (−dy, −dx)); valid only during the callback. */
  registered: Float32Array[];
  valid: ValidRect;
  /** Milliseconds spent registering and warping this frame (0 without a clock). */
  registerMs: number;
  warpMs: number;
}

export type Emit = (r: RegisteredFrame) => void;

const BOOTSTRAP_ROUNDS = 2;
/** Recentre only when the template has moved by more than this (pixels). */
const RECENTRE_TOLERANCE = 0.01;

export class MotionCorrector {
  readonly width: number;
  readonly height: number;
  readonly channels: number;
  readonly opts: MotionOptions;
  private readonly registrar: Registrar;
  private readonly makeCorrelator: CorrelatorFactory;
  private readonly clock: () => number;
  private readonly dog: DogFilter | null;
  private readonly plane: Float32Array;
  private readonly rawPlane: Float32Array;
  private readonly warper: Warper;
  private readonly scratch: Float32Array;
  private readonly estimate = newShiftEstimate();
  private pending: Frame[] = [];
  private templateImg: Float32Array | null = null;
  private rawTemplateImg: Float32Array | null = null;
  private anchor: { registrar: Registrar; corr: Correlator } | null = null;
  private truthOffset: { dy: number; dx: number } | null = null;
  private lastGood = { dy: 0, dx: 0 };
  private updates = 0;

  constructor(
    width: number,
    height: number,
    channels: number,
    dtype: Dtype,
    opts: MotionOptions,
    kernels: KernelFactories,
    clock: () => number = () => 0,
  ) {
    this.width = width;
    this.height = height;
    this.channels = channels;
    this.opts = opts;
    this.makeCorrelator = kernels.correlator;
    this.clock = clock;
    const { hp, wp } = Registrar.paddedSize(width, height);
    this.registrar = new Registrar(width, height, opts, kernels.correlator(hp, wp));
    this.dog = opts.prefilter === 'dog' ? new DogFilter(width, height, opts.dogSigmaLow, opts.dogSigmaHigh) : null;
    const n = width * height;
    this.plane = new Float32Array(n);
    this.rawPlane = new Float32Array(n);
    this.scratch = new Float32Array(n);
    this.warper = kernels.warper(width, height, channels, dtype);
  }

  get maxShift(): number {
    return this.registrar.maxShift;
  }

  /** The current template in registration space (null while bootstrapping). */
  get template(): Float32Array | null {
    return this.templateImg;
  }

  /**
   * The template in the frames' own units (the registered channel without the
   * prefilter): what objects are segmented on. The same array as `template`
   * when there is no prefilter.
   */
  get measurementTemplate(): Float32Array | null {
    return this.rawTemplateImg ?? this.templateImg;
  }

  /**
   * Called when a template has been built, before the frames it was built
   * from are emitted (so that whatever depends on it, like the objects, is
   * ready for them).
   */
  onTemplate: ((template: Float32Array, firstSeq: number) => void) | null = null;

  /** Frames waiting for the template to be built. */
  get pendingCount(): number {
    return this.pending.length;
  }

  push(frame: Frame, emit: Emit): void {
    if (frame.width !== this.width || frame.height !== this.height || frame.channels !== this.channels) {
      throw new RangeError(
        `frame ${frame.seq} is ${frame.width}×${frame.height}×${frame.channels}, expected ${this.width}×${this.height}×${this.channels}`,
      );
    }
    if (this.templateImg === null) {
      this.pending.push(frame);
      if (this.pending.length >= this.opts.templateFrames) this.bootstrap(emit);
      return;
    }
    this.process(frame, emit);
  }

  /** End of stream: a movie shorter than templateFrames bootstraps from what it has. */
  flush(emit: Emit): void {
    if (this.templateImg === null && this.pending.length > 0) this.bootstrap(emit);
  }

  /** Discards the template; the next templateFrames frames build a new one. */
  resetTemplate(): void {
    this.templateImg = null;
    this.rawTemplateImg = null;
    this.anchor?.corr.dispose();
    this.anchor = null;
    this.truthOffset = null;
    this.updates = 0;
  }

  dispose(): void {
    this.anchor?.corr.dispose();
    this.anchor = null;
    this.warper.dispose();
  }

  /** The registration plane of a frame: channel pick, non-finite pixels → mean, then prefilter. */
  private registrationPlane(frame: Frame, out: Float32Array): Float32Array {
    extractPlane(frame.data, this.width, this.height, this.channels, this.opts.channel, this.rawPlane);
    if (frame.data instanceof Float32Array) finiteOnly(this.rawPlane, this.rawPlane);
    if (this.dog) return this.dog.apply(this.rawPlane, out);
    out.set(this.rawPlane);
    return out;
  }

  /**
   * The registration plane, as a view of the frame's own channel where no
   * conversion is needed (the fast path: the kernels read uint8/uint16 directly).
   */
  private planeView(frame: Frame): PixelArray {
    const ch = this.opts.channel;
    if (this.dog === null && (ch !== 'luminance' || this.channels < 3)) {
      const c = ch === 'luminance' ? 0 : ch;
      const n = this.width * this.height;
      if (this.channels === 1) return frame.data;
      if (c < this.channels) return frame.data.subarray(c * n, (c + 1) * n);
    }
    return this.registrationPlane(frame, this.plane);
  }

  /**
   * Builds the template from the pending frames and emits them, registered
   * against it. Each frame is registered against the template built from the
   * *other* frames (leave-one-out): a frame's own noise in the template would
   * otherwise correlate with itself and pull its shift toward zero, which at
   * low SNR dominates the estimate.
   */
  private bootstrap(emit: Emit): void {
    const frames = this.pending;
    this.pending = [];
    const n = this.width * this.height;
    const planes = frames.map((f) => this.registrationPlane(f, new Float32Array(n)));
    // aligned[i] is frame i's contribution to the template; the first template is the plain mean.
    const aligned = planes.map((p) => p.slice());
    const sum = new Float64Array(n);
    const loo = new Float32Array(n);
    const shifts = planes.map(() => newShiftEstimate());
    let used = planes.map((_, i) => i);
    const inUsed = new Uint8Array(planes.length);

    const sumAligned = (): void => {
      sum.fill(0);
      inUsed.fill(0);
      for (const i of used) {
        inUsed[i] = 1;
        const a = aligned[i];
        for (let k = 0; k < n; k++) sum[k] += a[k];
      }
    };
    /** The template without frame i's own contribution (all of it when i is the only one). */
    const leaveOneOut = (i: number): Float32Array => {
      const own = inUsed[i] === 1 && used.length > 1;
      const count = own ? used.length - 1 : used.length;
      const a = aligned[i];
      for (let k = 0; k < n; k++) loo[k] = (own ? sum[k] - a[k] : sum[k]) / count;
      return loo;
    };

    sumAligned();
    for (let round = 0; round < BOOTSTRAP_ROUNDS; round++) {
      planes.forEach((p, i) => {
        this.registrar.setTemplate(leaveOneOut(i));
        this.registrar.register(p, shifts[i]);
      });
      used = planes.map((_, i) => i).filter((i) => shifts[i].ok);
      if (used.length === 0) used = planes.map((_, i) => i);
      let my = 0;
      let mx = 0;
      for (const i of used) {
        my += shifts[i].dy;
        mx += shifts[i].dx;
      }
      my /= used.length;
      mx /= used.length;
      planes.forEach((p, i) => warpTranslate(p, this.width, this.height, -(shifts[i].dy - my), -(shifts[i].dx - mx), aligned[i], 'nearest'));
      sumAligned();
    }

    const template = new Float32Array(n);
    for (let k = 0; k < n; k++) template[k] = sum[k] / used.length;
    this.templateImg = template;
    this.rawTemplateImg = this.dog === null ? null : this.alignedMean(frames, shifts, used);
    this.lastGood = { dy: 0, dx: 0 };
    const truths = used.map((i) => frames[i].truth).filter((t) => t !== undefined);
    if (truths.length === used.length && truths.length > 0) {
      this.truthOffset = {
        dy: truths.reduce((s, t) => s + t.dy, 0) / truths.length,
        dx: truths.reduce((s, t) => s + t.dx, 0) / truths.length,
      };
    }
    this.onTemplate?.(this.measurementTemplate as Float32Array, frames[0].seq);
    frames.forEach((f, i) => {
      this.registrar.setTemplate(leaveOneOut(i));
      this.process(f, emit, false);
    });
    this.registrar.setTemplate(template);
    if (this.opts.templateUpdate === 'ema') this.setAnchor(template);
  }

  private process(frame: Frame, emit: Emit, mayUpdate = true): void {
    const t0 = this.clock();
    const plane = this.planeView(frame);
    const est = this.registrar.register(plane, this.estimate);
    if (est.ok) this.lastGood = { dy: est.dy, dx: est.dx };
    const { dy, dx } = this.lastGood;
    const t1 = this.clock();
    const valid: ValidRect = this.warper.warp(frame.data, -dy, -dx, this.opts.border, this.opts.borderValue);
    const t2 = this.clock();
    const truth =
      frame.truth && this.truthOffset
        ? { dy: frame.truth.dy - this.truthOffset.dy, dx: frame.truth.dx - this.truthOffset.dx }
        : undefined;
    emit({
      frame,
      estimate: est,
      dy,
      dx,
      ok: est.ok,
      truth,
      registered: this.warper.outputs,
      valid,
      registerMs: t1 - t0,
      warpMs: t2 - t1,
    });
    if (mayUpdate && est.ok && this.opts.templateUpdate === 'ema') this.updateTemplate(plane, dy, dx, frame.seq + 1);
  }

  private updateTemplate(plane: ArrayLike<number>, dy: number, dx: number, nextSeq: number): void {
    const t = this.templateImg as Float32Array;
    const a = this.opts.templateRate;
    // The fast path hands over the frame's own float32 data: a NaN/Inf pixel must not enter the
    // template, where the EMA would keep it forever and every recentring warp would spread it.
    const src = finiteOnly(plane, this.rawPlane);
    warpTranslate(src, this.width, this.height, -dy, -dx, this.scratch, 'nearest');
    for (let i = 0; i < t.length; i++) t[i] = (1 - a) * t[i] + a * this.scratch[i];
    this.updates++;
    if (this.updates % this.opts.templateRecentreEvery === 0) this.recentre(t);
    if (this.updates % this.opts.templateUpdateEvery === 0) this.registrar.setTemplate(t);
    // The updated template is announced (e.g. for re-segmentation) only when it is in the frames'
    // own units: a prefiltered template is not what objects are segmented on.
    const every = this.opts.templateAnnounceEvery;
    if (every > 0 && this.dog === null && this.updates % every === 0) this.onTemplate?.(t, nextSeq);
  }

  /** Mean of the frames' unfiltered registration channel, aligned by the bootstrap's last shifts. */
  private alignedMean(frames: Frame[], shifts: ShiftEstimate[], used: number[]): Float32Array {
    const n = this.width * this.height;
    let my = 0;
    let mx = 0;
    for (const i of used) {
      my += shifts[i].dy / used.length;
      mx += shifts[i].dx / used.length;
    }
    const sum = new Float64Array(n);
    for (const i of used) {
      extractPlane(frames[i].data, this.width, this.height, this.channels, this.opts.channel, this.rawPlane);
      finiteOnly(this.rawPlane, this.rawPlane);
      warpTranslate(this.rawPlane, this.width, this.height, -(shifts[i].dy - my), -(shifts[i].dx - mx), this.scratch, 'nearest');
      for (let k = 0; k < n; k++) sum[k] += this.scratch[k];
    }
    const out = new Float32Array(n);
    for (let k = 0; k < n; k++) out[k] = sum[k] / used.length;
    return out;
  }

  /** The bootstrap template, kept so that the updated one can be held in place. */
  private setAnchor(template: Float32Array): void {
    this.anchor?.corr.dispose();
    const { hp, wp } = Registrar.paddedSize(this.width, this.height);
    const corr = this.makeCorrelator(hp, wp);
    const registrar = new Registrar(this.width, this.height, { ...this.opts, minPeak: -Infinity, minQuality: -Infinity }, corr);
    registrar.setTemplate(template);
    this.anchor = { registrar, corr };
  }

  /** Registers the updated template against the bootstrap one and moves it back if it drifted. */
  private recentre(t: Float32Array): void {
    if (this.anchor === null) return;
    const est = this.anchor.registrar.register(t);
    if (Math.hypot(est.dy, est.dx) > RECENTRE_TOLERANCE) {
      warpTranslate(t, this.width, this.height, -est.dy, -est.dx, this.scratch, 'nearest');
      t.set(this.scratch);
    }
  }
}

/**
 * Section 1 of docs/registration.md: non-finite pixels are replaced by the mean
 * of the finite ones (0 when there are none). Returns `img` itself when it has
 * none (always for integer pixels), else `out` (which may be `img`).
 */
function finiteOnly(img: ArrayLike<number>, out: Float32Array): ArrayLike<number> {
  if (img instanceof Uint8Array || img instanceof Uint16Array) return img;
  const n = img.length;
  let sum = 0;
  let count = 0;
  for (let i = 0; i < n; i++) {
    const v = img[i];
    if (Number.isFinite(v)) {
      sum += v;
      count++;
    }
  }
  if (count === n) return img;
  const fill = count > 0 ? sum / count : 0;
  for (let i = 0; i < n; i++) {
    const v = img[i];
    out[i] = Number.isFinite(v) ? v : fill;
  }
  return out;
}
