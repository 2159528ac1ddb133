/** Pixel storage accepted everywhere in the pipeline. */
export type PixelArray = Uint8Array | Uint16Array | Float32Array;
export type Dtype = 'uint8' | 'uint16' | 'float32';

/**
 * One acquired image. `data` is channel-planar: plane c occupies
 * `data[c * width * height .. (c + 1) * width * height)`, each plane row-major.
 * `t` is the acquisition time in ms (the source's own timestamp where it has one).
 */
export interface Frame {
  seq: number;
  t: number;
  width: number;
  height: number;
  channels: number;
  data: PixelArray;
  /** Ground-truth shift of the content, known only for the simulated microscope. */
  truth?: { dy: number; dx: number };
}

/** What a source knows about itself once opened. */
export interface SourceInfo {
  /** The URI or path as the user gave it. */
  uri: string;
  width: number;
  height: number;
  channels: number;
  dtype: Dtype;
  /** Nominal frame rate, when the source has one (video, synthetic). */
  fps?: number;
  /** Number of frames, when known in advance (files). */
  frameCount?: number;
  /** Live sources produce frames on their own clock; replayed ones wait for the consumer. */
  live: boolean;
}

/**
 * A source of frames. `frames()` is pulled by the consumer, which gives
 * backpressure for free: a file source reads the next page only when asked.
 * Sources throw `InputError` for problems with their input.
 */
export interface FrameSource {
  open(): Promise<SourceInfo>;
  frames(): AsyncIterable<Frame>;
  close(): Promise<void>;
}

export function dtypeOf(data: PixelArray): Dtype {
  if (data instanceof Uint8Array) return 'uint8';
  if (data instanceof Uint16Array) return 'uint16';
  return 'float32';
}

export function allocPixels(dtype: Dtype, n: number): PixelArray {
  if (dtype === 'uint8') return new Uint8Array(n);
  if (dtype === 'uint16') return new Uint16Array(n);
  return new Float32Array(n);
}

/**
 * How a live source's connection is doing, for the `stats` topic and /metrics:
 * a camera or stream that drops is reconnected with backoff while the server
 * keeps serving, and the outage is reported rather than hidden.
 */
export interface SourceHealth {
  state: 'connected' | 'waiting' | 'reconnecting' | 'ended';
  /** Reconnections since the source was opened. */
  reconnects: number;
  /** Total time spent without a connection, ms. */
  outageMs: number;
  /** Why the last connection ended, if it did. */
  lastError: string | null;
}

/** A source that can report its connection state (live streams, sockets, watched folders). */
export interface HealthReporting {
  health(): SourceHealth;
}

export function reportsHealth(s: FrameSource): s is FrameSource & HealthReporting {
  return typeof (s as Partial<HealthReporting>).health === 'function';
}
