/**
 * The built-in simulated microscope: `synthetic:[?param=value&…]`.
 *
 * A field larger than the frame, made of Gaussian "cells" with their own
 * intensity dynamics and a faint textured background, is cropped at a
 * drifting sub-pixel offset, rendered analytically (no image interpolation,
 * so the true shift is exact) and given camera noise. Every frame carries its
 * true shift. Everything follows from `seed`. Model, parameters and the noise
 * approximation: docs/synthetic.md.
 *
 * Conventions (DESIGN.md): `frame(y, x) = template(y − dy, x − dx)`, where the
 * template is the field seen at shift (0, 0); a blob at template centre
 * (cy, cx) appears in the frame at (cy + dy, cx + dx).
 */
import { InputError } from '../errors.js';
import { CameraNoise, Rng, deriveSeed, roundToUint16 } from '../kernels/rng.js';
import type { Frame, FrameSource, SourceInfo } from './frame.js';

// ───────────────────────────── options ─────────────────────────────

export type NoisePreset = 'none' | 'high-snr' | 'moderate' | 'low-snr';
export const NOISE_PRESETS: readonly NoisePreset[] = ['none', 'high-snr', 'moderate', 'low-snr'];

export interface SyntheticOptions {
  /** Frame size in pixels. */
  width: number;
  height: number;
  /** Nominal frame rate: frame n has t = n · 1000 / fps ms. */
  fps: number;
  /** Number of cells. */
  objects: number;
  seed: number;
  /** σ of each random-walk step, px per frame and axis. */
  drift: number;
  /** The shift never leaves ±maxDrift on either axis. */
  maxDrift: number;
  /** Probability per frame of a 1–4 px jump. */
  jumpRate: number;
  noise: NoisePreset;
  /** σ of the Gaussian read noise, counts (ignored with noise=none). */
  readNoise: number;
  /** Multiplier of every blob amplitude (on top of the noise preset's). */
  gain: number;
  /** Constant background, counts. */
  offset: number;
  /** 1, or 2 for a second (colocalization) channel. */
  channels: number;
  /** Stop after this many frames; undefined: endless. */
  frames?: number;
  /**
   * Render this many frames once and cycle them (0: render every frame). A
   * camera costs the host nothing; rendering 512² costs ~2.5 ms, which would
   * compete with the pipeline in throughput benchmarks. Seq and t go on; the
   * content (and its truth) repeats every `loop` frames.
   */
  loop?: number;
}

/** Amplitude scale and default read noise of each preset. */
export const NOISE_PRESET_PARAMS: Readonly<Record<NoisePreset, { scale: number; readNoise: number }>> = {
  none: { scale: 1, readNoise: 0 },
  'high-snr': { scale: 10, readNoise: 3 },
  moderate: { scale: 1, readNoise: 3 },
  'low-snr': { scale: 0.05, readNoise: 5 },
};

export const SYNTHETIC_DEFAULTS: Readonly<SyntheticOptions> = {
  width: 512,
  height: 512,
  fps: 30,
  objects: 50,
  seed: 1,
  drift: 0.15,
  maxDrift: 8,
  jumpRate: 0.002,
  noise: 'moderate',
  readNoise: 3,
  gain: 1,
  offset: 100,
  channels: 1,
};

type Kind = 'int' | 'number' | 'enum';
interface ParamSpec {
  kind: Kind;
  min?: number;
  max?: number;
  /** The lower bound is exclusive. */
  minExclusive?: boolean;
  values?: readonly string[];
  allowed: string;
}

const PARAMS: Record<string, ParamSpec> = {
  width: { kind: 'int', min: 16, max: 8192, allowed: 'an integer 16..8192' },
  height: { kind: 'int', min: 16, max: 8192, allowed: 'an integer 16..8192' },
  fps: { kind: 'number', min: 0, minExclusive: true, max: 100000, allowed: 'a number > 0 and ≤ 100000' },
  objects: { kind: 'int', min: 0, max: 10000, allowed: 'an integer 0..10000' },
  seed: { kind: 'int', min: 0, max: 4294967295, allowed: 'an integer 0..4294967295' },
  drift: { kind: 'number', min: 0, max: 100, allowed: 'a number 0..100 (px per frame)' },
  maxDrift: { kind: 'number', min: 0, max: 1000, allowed: 'a number 0..1000 (px)' },
  jumpRate: { kind: 'number', min: 0, max: 1, allowed: 'a probability 0..1' },
  noise: { kind: 'enum', values: NOISE_PRESETS, allowed: NOISE_PRESETS.join('|') },
  readNoise: { kind: 'number', min: 0, max: 10000, allowed: 'a number 0..10000 (counts)' },
  gain: { kind: 'number', min: 0, max: 1000, allowed: 'a number 0..1000' },
  offset: { kind: 'number', min: 0, max: 60000, allowed: 'a number 0..60000 (counts)' },
  channels: { kind: 'int', min: 1, max: 2, allowed: '1 or 2' },
  frames: { kind: 'int', min: 1, max: Number.MAX_SAFE_INTEGER, allowed: 'an integer ≥ 1' },
  loop: { kind: 'int', min: 0, max: 10000, allowed: 'an integer 0..10000 (frames rendered once and cycled)' },
};

/** The parameters `synthetic:` accepts, in documentation order. */
export const SYNTHETIC_PARAMS: readonly string[] = Object.keys(PARAMS);

function parseValue(name: string, raw: string): number | string {
  const spec = PARAMS[name]!;
  const bad = (): InputError => new InputError(`synthetic: ${name} must be ${spec.allowed}, got ${JSON.stringify(raw)}`);
  if (spec.kind === 'enum') {
    if (!spec.values!.includes(raw)) throw bad();
    return raw;
  }
  const s = raw.trim();
  // Plain decimal notation only (no hex, no empty string, no "Infinity").
  const re = spec.kind === 'int' ? /^[+]?\d+$/ : /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
  if (!re.test(s)) throw bad();
  const v = Number(s);
  if (!Number.isFinite(v)) throw bad();
  if (spec.kind === 'int' && !Number.isSafeInteger(v)) throw bad();
  if (spec.min !== undefined && (spec.minExclusive ? v <= spec.min : v < spec.min)) throw bad();
  if (spec.max !== undefined && v > spec.max) throw bad();
  return v;
}

/**
 * Parses `synthetic:` or `synthetic:?width=512&height=512&…` into complete
 * options (defaults filled in; `readNoise` defaults to the noise preset's).
 * Throws InputError naming the parameter, the value and what is allowed.
 */
export function parseSyntheticUri(uri: string): SyntheticOptions {
  const prefix = 'synthetic:';
  if (!uri.startsWith(prefix)) throw new InputError(`synthetic: not a synthetic source URI: ${JSON.stringify(uri)} (expected "synthetic:" or "synthetic:?name=value&…")`);
  let rest = uri.slice(prefix.length);
  if (rest !== '' && !rest.startsWith('?')) {
    throw new InputError(`synthetic: expected "?" after "synthetic:", got ${JSON.stringify(rest)} (form: synthetic:?name=value&…)`);
  }
  rest = rest.slice(1);
  const given: Record<string, number | string> = {};
  if (rest !== '') {
    for (const part of rest.split('&')) {
      if (part === '') continue;
      const eq = part.indexOf('=');
      const rawName = eq < 0 ? part : part.slice(0, eq);
      let name: string;
      let value: string;
      try {
        name = decodeURIComponent(rawName.replace(/\+/g, ' '));
        value = eq < 0 ? '' : decodeURIComponent(part.slice(eq + 1).replace(/\+/g, ' '));
      } catch {
        throw new InputError(`synthetic: malformed percent-encoding in ${JSON.stringify(part)}`);
      }
      if (!Object.prototype.hasOwnProperty.call(PARAMS, name)) {
        throw new InputError(`synthetic: unknown parameter ${JSON.stringify(name)}; allowed: ${SYNTHETIC_PARAMS.join(', ')}`);
      }
      if (eq < 0) throw new InputError(`synthetic: ${name} needs a value (${name}=…), must be ${PARAMS[name]!.allowed}`);
      if (Object.prototype.hasOwnProperty.call(given, name)) throw new InputError(`synthetic: ${name} given twice`);
      given[name] = parseValue(name, value);
    }
  }
  return resolveOptions(given as Partial<SyntheticOptions>);
}

/**
 * Complete and check options given as an object (constructor use). Values are
 * checked like URI values; a missing `readNoise` takes the preset's default.
 */
export function resolveOptions(partial: Partial<SyntheticOptions> = {}): SyntheticOptions {
  const out: Record<string, unknown> = { ...SYNTHETIC_DEFAULTS };
  for (const [name, value] of Object.entries(partial)) {
    if (value === undefined) continue;
    if (!Object.prototype.hasOwnProperty.call(PARAMS, name)) {
      throw new InputError(`synthetic: unknown parameter ${JSON.stringify(name)}; allowed: ${SYNTHETIC_PARAMS.join(', ')}`);
    }
    out[name] = typeof value === 'string' ? parseValue(name, value) : parseValue(name, String(value));
  }
  const noise = out.noise as NoisePreset;
  if (partial.readNoise === undefined) out.readNoise = NOISE_PRESET_PARAMS[noise].readNoise;
  return out as unknown as SyntheticOptions;
}

// ───────────────────────────── scene ─────────────────────────────

export type CellKind = 'steady' | 'pulsing' | 'transient';

/** One transient event: I(t) += amplitude · base · h(t − t0) (docs/synthetic.md). */
export interface CellEvent {
  /** Onset, ms. */
  t: number;
  /** Relative amplitude, 0.5–2 (i.e. +50 … +200 % of the base amplitude). */
  amplitude: number;
}

/** Ground truth of one cell. */
export interface SyntheticObject {
  /** 1-based label (object i of `scene.objects` has id i + 1). */
  id: number;
  /** Centre, template coordinates (px, 0-based pixel centres). */
  y: number;
  x: number;
  sigma: number;
  kind: CellKind;
  /** Base peak amplitude in counts above the offset (preset scale and gain applied). */
  amplitude: number;
  /** pulsing: I = A · (1 + depth · sin(2π t / periodMs + phase)). */
  periodMs: number;
  depth: number;
  phase: number;
  /** transient: decay time constant of the events, ms. */
  tauMs: number;
  /** transient: mean rate of events, per second (plus a refractory time of 3τ). */
  eventRate: number;
  /** Base amplitude in channel 2 (0: absent from channel 2). */
  amplitude2: number;
}

export interface SyntheticScene {
  readonly width: number;
  readonly height: number;
  /** The field spans template coordinates [−margin, height + margin) × [−margin, width + margin). */
  readonly margin: number;
  readonly offset: number;
  /** Rise time of transient events (one frame interval), ms. */
  readonly riseMs: number;
  readonly objects: readonly SyntheticObject[];
  /** Number of faint background blobs per channel. */
  readonly textureCount: number;
  /**
   * Peak amplitude (counts above the offset) of object i at time tMs, in
   * channel 0 or 1: its blob adds I · exp(−r² / 2σ²) to the expected counts.
   */
  objectIntensity(i: number, tMs: number, channel?: number): number;
  /** The events of object i with onset in [fromMs, toMs) (none unless transient). */
  objectEvents(i: number, fromMs: number, toMs: number): CellEvent[];
  /** The faint background blobs of a channel (template coordinates, amplitudes in counts). */
  textureBlobs(channel?: number): BlobTruth[];
  /** Render radius of cell i (its box is ±radius around the shifted centre). */
  cellRadius(i: number): number;
}

/** A static background blob. */
export interface BlobTruth {
  y: number;
  x: number;
  sigma: number;
  amplitude: number;
  /** Render radius, px: contributions beyond it are below 0.02 counts and left out. */
  radius: number;
}

/** Render radius: the Gaussian tail beyond it is below this many counts. */
const TAIL_EPS = 0.02;
/** How far the transient events of one object reach back: exp(−30) ≈ 1e−13. */
const EVENT_REACH_TAUS = 30;
/** Channel 2 follows channel 1's relative dynamics with this coupling. */
const CHANNEL2_COUPLING = 0.5;

function renderRadius(sigma: number, peak: number): number {
  const r = Math.max(3, Math.sqrt(2 * Math.log(Math.max(peak, 1) / TAIL_EPS)));
  return sigma * r;
}

/** Quantize to 1/1024 px so that integer shifts of every centre are exact in float64. */
function q(v: number): number {
  return Math.round(v * 1024) / 1024;
}

/** Blobs of one layer in struct-of-arrays form for the renderer. */
interface BlobSet {
  n: number;
  y: Float64Array;
  x: Float64Array;
  sigma: Float64Array;
  /** 1 / (2σ²) */
  a: Float64Array;
  radius: Float64Array;
  amp: Float64Array;
}

function makeBlobSet(n: number): BlobSet {
  return { n, y: new Float64Array(n), x: new Float64Array(n), sigma: new Float64Array(n), a: new Float64Array(n), radius: new Float64Array(n), amp: new Float64Array(n) };
}

class Scene implements SyntheticScene {
  readonly width: number;
  readonly height: number;
  readonly margin: number;
  readonly offset: number;
  readonly riseMs: number;
  readonly objects: SyntheticObject[] = [];
  readonly textureCount: number;
  /** Per channel: static texture blobs. */
  readonly texture: BlobSet[] = [];
  /** Cells as blobs (amplitudes are filled per frame). */
  readonly cells: BlobSet;
  private readonly events: CellEvent[][] = [];
  private readonly eventRng: (Rng | undefined)[] = [];
  /** Onset of the next event not yet generated, per object. */
  private readonly nextEventT: number[] = [];

  constructor(o: SyntheticOptions) {
    const { width: W, height: H, seed } = o;
    const scale = NOISE_PRESET_PARAMS[o.noise].scale * o.gain;
    this.width = W;
    this.height = H;
    this.offset = o.offset;
    this.riseMs = 1000 / o.fps;
    // Largest render radius of any blob: a cell of σ 6 at 1500 · 3.3 (events) · scale.
    const rMax = Math.max(renderRadius(6, 1500 * 3.3 * scale), renderRadius(2.5, 150 * scale));
    this.margin = Math.ceil(o.maxDrift + rMax);
    const m = this.margin;

    // Cells: uniform in the template frame (inset by 2σ where the frame allows),
    // kept apart by 2(σ1 + σ2) when possible: up to 100 tries each, 10 once
    // the frame is found crowded. A grid of 24-px cells (the largest
    // separation) keeps the check local.
    const rng = new Rng(deriveSeed(seed, 1));
    const n = o.objects;
    const kinds: CellKind[] = [];
    const nSteady = Math.round(0.3 * n);
    const nPulsing = Math.round(0.3 * n);
    for (let i = 0; i < n; i++) kinds.push(i < nSteady ? 'steady' : i < nSteady + nPulsing ? 'pulsing' : 'transient');
    rng.shuffle(kinds);
    const G = 24;
    const gw = Math.ceil(W / G) + 1;
    const gh = Math.ceil(H / G) + 1;
    const grid: number[][] = Array.from({ length: gw * gh }, () => []);
    let maxTries = 100;
    for (let i = 0; i < n; i++) {
      const sigma = rng.uniform(2.5, 6);
      const inset = Math.min(2 * sigma, W / 4, H / 4);
      let y = 0;
      let x = 0;
      let placed = false;
      for (let tries = 0; tries < maxTries && !placed; tries++) {
        y = q(rng.uniform(inset, H - 1 - inset));
        x = q(rng.uniform(inset, W - 1 - inset));
        placed = true;
        const gy0 = Math.floor(y / G);
        const gx0 = Math.floor(x / G);
        for (let a = Math.max(0, gy0 - 1); a <= Math.min(gh - 1, gy0 + 1) && placed; a++) {
          for (let b = Math.max(0, gx0 - 1); b <= Math.min(gw - 1, gx0 + 1) && placed; b++) {
            for (const j of grid[a * gw + b]!) {
              const c = this.objects[j]!;
              const d = 2 * (c.sigma + sigma);
              if ((c.y - y) ** 2 + (c.x - x) ** 2 < d * d) {
                placed = false;
                break;
              }
            }
          }
        }
      }
      if (!placed) maxTries = 10;
      grid[Math.floor(y / G) * gw + Math.floor(x / G)]!.push(i);
      const kind = kinds[i]!;
      const obj: SyntheticObject = {
        id: i + 1,
        y,
        x,
        sigma,
        kind,
        amplitude: rng.uniform(200, 1500) * scale,
        periodMs: 0,
        depth: 0,
        phase: 0,
        tauMs: 0,
        eventRate: 0,
        amplitude2: 0,
      };
      // Draw every parameter for every cell so that the streams do not depend on the kind.
      const periodMs = rng.uniform(2000, 10000);
      const depth = rng.uniform(0.2, 0.5);
      const phase = rng.uniform(0, 2 * Math.PI);
      const tauMs = rng.uniform(300, 1500);
      const eventRate = rng.uniform(0.1, 0.3);
      if (kind === 'pulsing') Object.assign(obj, { periodMs, depth, phase });
      if (kind === 'transient') Object.assign(obj, { tauMs, eventRate });
      this.objects.push(obj);
    }
    // Channel 2: a random half of the cells, with their own amplitudes.
    if (o.channels === 2) {
      const rng2 = new Rng(deriveSeed(seed, 2));
      const order = rng2.shuffle(Array.from({ length: n }, (_, i) => i));
      const amps = order.map(() => rng2.uniform(200, 1500) * scale);
      for (let j = 0; j < Math.round(n / 2); j++) this.objects[order[j]!]!.amplitude2 = amps[j]!;
    }
    this.cells = makeBlobSet(n);
    for (let i = 0; i < n; i++) {
      const c = this.objects[i]!;
      const peak = c.amplitude * (c.kind === 'transient' ? 3.3 : c.kind === 'pulsing' ? 1.5 : 1);
      const peak2 = c.amplitude2 * 1.6;
      this.cells.y[i] = c.y;
      this.cells.x[i] = c.x;
      this.cells.sigma[i] = c.sigma;
      this.cells.a[i] = 1 / (2 * c.sigma * c.sigma);
      this.cells.radius[i] = renderRadius(c.sigma, Math.max(peak, peak2));
    }
    for (let i = 0; i < n; i++) {
      this.events.push([]);
      const c = this.objects[i]!;
      if (c.kind === 'transient') {
        const r = new Rng(deriveSeed(seed, 3, i));
        this.eventRng.push(r);
        this.nextEventT.push(r.exponential(1000 / c.eventRate));
      } else {
        this.eventRng.push(undefined);
        this.nextEventT.push(Infinity);
      }
    }

    // Background texture: σ 1–2.5, amplitude 20–150, one per 400 px² of field.
    const fieldArea = (W + 2 * m) * (H + 2 * m);
    this.textureCount = Math.round(fieldArea / 400);
    for (let c = 0; c < o.channels; c++) {
      const r = new Rng(deriveSeed(seed, 4, c));
      const t = makeBlobSet(this.textureCount);
      for (let i = 0; i < t.n; i++) {
        const sigma = r.uniform(1, 2.5);
        t.y[i] = q(r.uniform(-m, H + m));
        t.x[i] = q(r.uniform(-m, W + m));
        t.sigma[i] = sigma;
        t.a[i] = 1 / (2 * sigma * sigma);
        t.amp[i] = r.uniform(20, 150) * scale;
        t.radius[i] = renderRadius(sigma, t.amp[i]!);
      }
      this.texture.push(t);
    }
  }

  textureBlobs(channel = 0): BlobTruth[] {
    const t = this.texture[channel];
    if (!t) throw new RangeError(`textureBlobs: no channel ${channel}`);
    const out: BlobTruth[] = [];
    for (let i = 0; i < t.n; i++) out.push({ y: t.y[i]!, x: t.x[i]!, sigma: t.sigma[i]!, amplitude: t.amp[i]!, radius: t.radius[i]! });
    return out;
  }

  cellRadius(i: number): number {
    if (!this.objects[i]) throw new RangeError(`cellRadius: no object ${i} (there are ${this.objects.length})`);
    return this.cells.radius[i]!;
  }

  objectIntensity(i: number, tMs: number, channel = 0): number {
    const c = this.objects[i];
    if (!c) throw new RangeError(`objectIntensity: no object ${i} (there are ${this.objects.length})`);
    if (!Number.isFinite(tMs)) throw new RangeError(`objectIntensity: time must be finite, got ${tMs}`);
    let rel = 1;
    if (c.kind === 'pulsing') {
      rel = 1 + c.depth * Math.sin((2 * Math.PI * tMs) / c.periodMs + c.phase);
    } else if (c.kind === 'transient') {
      this.generateEvents(i, tMs);
      const ev = this.events[i]!;
      const reach = EVENT_REACH_TAUS * c.tauMs;
      // Events are sorted by onset: walk back from the last one at or before t.
      let k = upperBound(ev, tMs) - 1;
      for (; k >= 0; k--) {
        const s = tMs - ev[k]!.t;
        if (s > reach) break;
        rel += ev[k]!.amplitude * eventShape(s, this.riseMs, c.tauMs);
      }
    }
    if (channel === 0) return c.amplitude * rel;
    if (channel === 1) return c.amplitude2 * (1 + CHANNEL2_COUPLING * (rel - 1));
    throw new RangeError(`objectIntensity: channel must be 0 or 1, got ${channel}`);
  }

  objectEvents(i: number, fromMs: number, toMs: number): CellEvent[] {
    if (!this.objects[i]) throw new RangeError(`objectEvents: no object ${i} (there are ${this.objects.length})`);
    if (!Number.isFinite(toMs)) throw new RangeError(`objectEvents: toMs must be finite, got ${toMs}`);
    this.generateEvents(i, toMs);
    return this.events[i]!.filter((e) => e.t >= fromMs && e.t < toMs).map((e) => ({ ...e }));
  }

  /** Extends object i's event list past tMs (lazily, in order: deterministic whatever the query order). */
  private generateEvents(i: number, tMs: number): void {
    const r = this.eventRng[i];
    if (!r) return;
    const c = this.objects[i]!;
    while (this.nextEventT[i]! <= tMs) {
      const t = this.nextEventT[i]!;
      this.events[i]!.push({ t, amplitude: r.uniform(0.5, 2) });
      this.nextEventT[i] = t + 3 * c.tauMs + r.exponential(1000 / c.eventRate);
    }
  }
}

/** Event response h(s): 0 before onset, linear rise over riseMs to 1, then exp decay. */
function eventShape(s: number, riseMs: number, tauMs: number): number {
  if (s < 0) return 0;
  if (s < riseMs) return s / riseMs;
  return Math.exp(-(s - riseMs) / tauMs);
}

/** Number of events with onset ≤ t. */
function upperBound(ev: CellEvent[], t: number): number {
  let lo = 0;
  let hi = ev.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ev[mid]!.t <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// ───────────────────────────── rendering ─────────────────────────────

/**
 * Adds the blobs of `set` (amplitudes `amp`) shifted by (dy, dx) to the W×H
 * plane of `out` starting at `base`. Separable: per blob, gx over its box
 * (by the recurrence g(x+1) = g(x)·q(x), q(x+1) = q(x)·e^(−2a), three exps
 * per axis), gy likewise, then the outer product is accumulated row by row.
 */
function addBlobs(
  set: BlobSet,
  amp: Float64Array,
  dy: number,
  dx: number,
  out: Float32Array,
  base: number,
  W: number,
  H: number,
  gx: Float64Array,
  gy: Float64Array,
): void {
  for (let b = 0; b < set.n; b++) {
    const A = amp[b]!;
    if (A === 0) continue;
    const r = set.radius[b]!;
    const py = set.y[b]! + dy;
    const px = set.x[b]! + dx;
    const x0 = Math.max(0, Math.ceil(px - r));
    const x1 = Math.min(W - 1, Math.floor(px + r));
    if (x0 > x1) continue;
    const y0 = Math.max(0, Math.ceil(py - r));
    const y1 = Math.min(H - 1, Math.floor(py + r));
    if (y0 > y1) continue;
    const a = set.a[b]!;
    const c = Math.exp(-2 * a);
    const nx = x1 - x0 + 1;
    let d = x0 - px;
    let g = Math.exp(-a * d * d);
    let qq = Math.exp(-a * (2 * d + 1));
    for (let j = 0; j < nx; j++) {
      gx[j] = g;
      g *= qq;
      qq *= c;
    }
    const ny = y1 - y0 + 1;
    d = y0 - py;
    g = A * Math.exp(-a * d * d);
    qq = Math.exp(-a * (2 * d + 1));
    for (let i = 0; i < ny; i++) {
      gy[i] = g;
      g *= qq;
      qq *= c;
    }
    let row = base + y0 * W + x0;
    for (let i = 0; i < ny; i++, row += W) {
      const v = gy[i]!;
      for (let j = 0; j < nx; j++) out[row + j]! += v * gx[j]!;
    }
  }
}

// ───────────────────────────── microscope ─────────────────────────────

/**
 * The pure generator: scene + motion + noise. Frames come in sequence
 * (the random walk is sequential); the same options give bit-identical frames.
 */
export class SyntheticMicroscope {
  readonly options: SyntheticOptions;
  readonly scene: SyntheticScene;
  readonly width: number;
  readonly height: number;
  readonly channels: number;
  /** Pull of the random walk back to 0, per frame (AR(1) coefficient 1 − k). */
  readonly pullBack: number;
  private readonly sc: Scene;
  private readonly motionRng: Rng;
  private readonly noise: CameraNoise | undefined;
  private readonly expected: Float32Array;
  private readonly gx: Float64Array;
  private readonly gy: Float64Array;
  private readonly cellAmp: Float64Array;
  private seqNext = 0;
  private dy = 0;
  private dx = 0;
  private jumps = 0;

  constructor(opts: Partial<SyntheticOptions> = {}) {
    this.options = resolveOptions(opts);
    const o = this.options;
    this.sc = new Scene(o);
    this.scene = this.sc;
    this.width = o.width;
    this.height = o.height;
    this.channels = o.channels;
    // Stationary σ of the walk ≈ maxDrift / 3: k = 4.5 drift² / maxDrift².
    this.pullBack = o.maxDrift > 0 ? Math.min(0.5, (4.5 * o.drift * o.drift) / (o.maxDrift * o.maxDrift)) : 0;
    this.motionRng = new Rng(deriveSeed(o.seed, 5));
    this.noise = o.noise === 'none' ? undefined : new CameraNoise(deriveSeed(o.seed, 6), o.readNoise);
    this.expected = new Float32Array(o.width * o.height * o.channels);
    let maxBox = 0;
    for (const s of [this.sc.cells, ...this.sc.texture]) for (let i = 0; i < s.n; i++) maxBox = Math.max(maxBox, 2 * Math.ceil(s.radius[i]!) + 2);
    const len = Math.max(o.width, o.height, maxBox);
    this.gx = new Float64Array(len);
    this.gy = new Float64Array(len);
    this.cellAmp = new Float64Array(o.objects);
  }

  /** Sequence number of the next frame. */
  get seq(): number {
    return this.seqNext;
  }

  /** Number of jumps so far. */
  get jumpCount(): number {
    return this.jumps;
  }

  /** The true shift of the last frame produced (0, 0 before the first). */
  get shift(): { dy: number; dx: number } {
    return { dy: this.dy, dx: this.dx };
  }

  /**
   * The next frame: advances the random walk (frame 0 is at shift (0, 0)),
   * renders and adds noise. `out` (channels·width·height) is reused if given.
   */
  nextFrame(out?: Uint16Array): Frame {
    const seq = this.seqNext++;
    if (seq > 0) this.stepMotion();
    const t = (seq * 1000) / this.options.fps;
    const data = this.renderFrame(this.dy, this.dx, t, out);
    return { seq, t, width: this.width, height: this.height, channels: this.channels, data, truth: { dy: this.dy, dx: this.dx } };
  }

  /**
   * Expected counts (no noise) of all channels at shift (dy, dx) and time tMs
   * into `out` (channels·width·height, planar). Does not touch any random state.
   */
  renderNoiseless(dy: number, dx: number, tMs: number, out: Float32Array): Float32Array {
    const { width: W, height: H, channels: C } = this;
    const n = W * H;
    if (out.length !== n * C) throw new RangeError(`renderNoiseless: out must have ${n * C} elements, has ${out.length}`);
    if (!Number.isFinite(dy) || !Number.isFinite(dx)) throw new RangeError(`renderNoiseless: shift must be finite, got (${dy}, ${dx})`);
    out.fill(this.sc.offset);
    const amp = this.cellAmp;
    for (let c = 0; c < C; c++) {
      const base = c * n;
      const tex = this.sc.texture[c]!;
      addBlobs(tex, tex.amp, dy, dx, out, base, W, H, this.gx, this.gy);
      for (let i = 0; i < amp.length; i++) amp[i] = this.sc.objectIntensity(i, tMs, c);
      addBlobs(this.sc.cells, amp, dy, dx, out, base, W, H, this.gx, this.gy);
    }
    return out;
  }

  /**
   * A noisy frame at a given shift and time, without moving the random walk
   * (the noise stream does advance). For tests that need a known shift.
   */
  renderFrame(dy: number, dx: number, tMs: number, out?: Uint16Array): Uint16Array {
    const len = this.width * this.height * this.channels;
    if (out && out.length !== len) throw new RangeError(`out must have ${len} elements, has ${out.length}`);
    const data = out ?? new Uint16Array(len);
    const e = this.renderNoiseless(dy, dx, tMs, this.expected);
    if (this.noise) this.noise.apply(e, data);
    else roundToUint16(e, data);
    return data;
  }

  /** One step of the walk: pull to 0, Gaussian step, maybe a jump, reflect into ±maxDrift. */
  private stepMotion(): void {
    const o = this.options;
    const r = this.motionRng;
    const k = this.pullBack;
    let dy = this.dy * (1 - k) + o.drift * r.normal();
    let dx = this.dx * (1 - k) + o.drift * r.normal();
    if (r.float() < o.jumpRate) {
      const size = r.uniform(1, 4);
      const th = r.uniform(0, 2 * Math.PI);
      dy += size * Math.sin(th);
      dx += size * Math.cos(th);
      this.jumps++;
    }
    this.dy = reflect(dy, o.maxDrift);
    this.dx = reflect(dx, o.maxDrift);
  }
}

/** Folds v into [−m, m] by reflection at the bounds. */
function reflect(v: number, m: number): number {
  if (m === 0) return 0;
  for (let i = 0; i < 8 && (v > m || v < -m); i++) v = v > m ? 2 * m - v : -2 * m - v;
  return Math.min(m, Math.max(-m, v));
}

// ───────────────────────────── source ─────────────────────────────

/** `synthetic:` as a FrameSource: frames as fast as they are pulled, t = seq · 1000 / fps. */
export class SyntheticSource implements FrameSource {
  readonly uri: string;
  readonly options: SyntheticOptions;
  private mic: SyntheticMicroscope | undefined;
  private closed = false;

  constructor(uri: string) {
    this.uri = uri;
    this.options = parseSyntheticUri(uri);
  }

  /** The generator behind the source (after open()). */
  get microscope(): SyntheticMicroscope | undefined {
    return this.mic;
  }

  async open(): Promise<SourceInfo> {
    this.mic ??= new SyntheticMicroscope(this.options);
    this.closed = false;
    const o = this.options;
    const info: SourceInfo = { uri: this.uri, width: o.width, height: o.height, channels: o.channels, dtype: 'uint16', fps: o.fps, live: true };
    if (o.frames !== undefined) info.frameCount = o.frames;
    return info;
  }

  async *frames(): AsyncIterable<Frame> {
    if (!this.mic) await this.open();
    const mic = this.mic!;
    const limit = this.options.frames ?? Infinity;
    const loop = this.options.loop ?? 0;
    if (loop === 0) {
      while (!this.closed && mic.seq < limit) yield mic.nextFrame();
      return;
    }
    // The whole cycle is rendered before the first frame, so that the camera's clock (which starts
    // with its first frame) never waits on rendering: a cycle rendered on the fly took the main
    // thread's whole first second or more at 512², and frames fell due while it rendered. Between
    // renders the event loop runs, so a server stays responsive meanwhile.
    const cycle: Frame[] = [];
    while (!this.closed && cycle.length < Math.min(loop, limit)) {
      cycle.push(mic.nextFrame());
      await new Promise((r) => setImmediate(r));
    }
    for (let seq = 0; !this.closed && seq < limit; seq++) {
      const f = cycle[seq % loop];
      // Each frame its own buffer: frames are transferred to the pipeline's worker.
      yield { ...f, seq, t: (seq * 1000) / this.options.fps, data: f.data.slice() };
    }
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
