import type { PixelArray } from '../ingest/frame.js';
import {
  type Correlator,
  type CorrelatorOptions,
  fastSize,
  phasePeakScale,
  spectralGaussian,
} from './correlator.js';
import { type WasmSource, instantiate } from './wasmInstance.js';

/**
 * The float32 WebAssembly SIMD correlator (docs/fft-wasm.md), compiled from
 * `src/kernels/wasm/assembly/correlate.ts` to `dist/kernels/correlate.wasm`.
 *
 * Kernels stay free of Node APIs: the compiled module (or its bytes) is given
 * to `WasmCorrelator.create()`; `src/stream/wasmModule.ts` loads it from disk
 * (`loadKernelModule('correlate')`).
 * Each correlator owns its own instance and linear memory, laid out once at
 * construction (memory never grows afterwards, so `input` and `surface` stay
 * valid views); nothing is allocated per frame.
 */

interface CorrelateExports {
  readonly memory: { readonly buffer: ArrayBuffer };
  init(h: number, w: number): number;
  inputPtr(): number;
  surfacePtr(): number;
  gyPtr(): number;
  gxPtr(): number;
  setTemplate(): void;
  correlate(mode: number): void;
  winYPtr(): number;
  winXPtr(): number;
  stagePtr(): number;
  prepare(kind: number, w: number, h: number): number;
  stage(kind: number, w: number, h: number): number;
  materialize(): void;
  limitSurface(ry: number, rx: number): void;
}

const INIT_ERRORS: Record<number, string> = {
  1: 'unsupported size',
  2: 'out of WebAssembly memory',
  3: 'instance already initialised',
};

export class WasmCorrelator implements Correlator {
  readonly hp: number;
  readonly wp: number;
  private readonly inputView: Float32Array;
  readonly surface: Float32Array;
  readonly phasePeakScale: number;
  private exports: CorrelateExports | null;
  private readonly mode: number;
  private windowY: Float64Array | null = null;
  private windowX: Float64Array | null = null;

  private constructor(exports: CorrelateExports, hp: number, wp: number, opts: CorrelatorOptions) {
    this.hp = hp;
    this.wp = wp;
    this.mode = opts.normalization === 'phase' ? 1 : 0;
    const rc = exports.init(hp, wp);
    if (rc !== 0) {
      throw new RangeError(`WasmCorrelator ${hp}×${wp}: ${INIT_ERRORS[rc] ?? `init failed (${rc})`}`);
    }
    // Memory is sized once by init() and never grows, so these views stay valid.
    const buf = exports.memory.buffer;
    this.inputView = new Float32Array(buf, exports.inputPtr(), hp * wp);
    this.surface = new Float32Array(buf, exports.surfacePtr(), hp * wp);
    // Spectral Gaussian: bins ky = 0..hp/2 along y (the rest is padding, left 0), all kx.
    const gy = spectralGaussian(hp, opts.phaseSigma);
    const gx = spectralGaussian(wp, opts.phaseSigma);
    new Float32Array(buf, exports.gyPtr(), hp / 2 + 1).set(gy.subarray(0, hp / 2 + 1));
    new Float32Array(buf, exports.gxPtr(), wp).set(gx);
    this.phasePeakScale = phasePeakScale(hp, wp, opts.phaseSigma);
    this.exports = exports;
  }

  /**
   * A correlator of padded size hp × wp (each a fast size: a multiple of 4 of
   * the form 2^a 3^b 5^c, see `fastSize`), with its own WebAssembly instance.
   */
  static create(source: WasmSource, hp: number, wp: number, opts: CorrelatorOptions): WasmCorrelator {
    for (const n of [hp, wp]) {
      if (!Number.isInteger(n) || n < 4 || fastSize(n) !== n) {
        throw new RangeError(`WasmCorrelator: ${hp}×${wp} is not a padded fast size (see fastSize)`);
      }
    }
    return new WasmCorrelator(instantiate(source) as unknown as CorrelateExports, hp, wp, opts);
  }

  /**
   * The input plane. After `prepare()` of an integer plane the frame is only
   * staged (pass 1 of the next `setTemplate()`/`correlate()` prepares it on the
   * fly); reading `input` then writes the prepared image into it first.
   */
  get input(): Float32Array {
    this.live().materialize();
    return this.inputView;
  }

  setTemplate(): void {
    this.live().setTemplate();
  }

  correlate(): void {
    this.live().correlate(this.mode);
  }

  /**
   * The SIMD preparation (docs/registration.md, section 2): the plane is
   * copied into the instance once (a memcpy) and mean-subtracted, apodised and
   * padded there, with no float conversion pass in JavaScript.
   */
  prepare(plane: PixelArray, width: number, height: number, wy: Float64Array, wx: Float64Array): number {
    const ex = this.live();
    if (wy !== this.windowY || wx !== this.windowX) {
      const buf = ex.memory.buffer;
      new Float32Array(buf, ex.winYPtr(), height).set(wy);
      new Float32Array(buf, ex.winXPtr(), width).set(wx);
      this.windowY = wy;
      this.windowX = wx;
    }
    const n = width * height;
    const buf = ex.memory.buffer;
    const at = ex.stagePtr();
    let kind: number;
    if (plane instanceof Uint8Array) {
      new Uint8Array(buf, at, n).set(plane.subarray(0, n));
      kind = 0;
    } else if (plane instanceof Uint16Array) {
      new Uint16Array(buf, at, n).set(plane.subarray(0, n));
      kind = 1;
    } else {
      new Float32Array(buf, at, n).set(plane.subarray(0, n));
      kind = 2;
    }
    // Integer planes are staged: mean and Σ g² now, g itself while pass 1 loads it.
    return ex.stage(kind, width, height);
  }

  /**
   * Restricts what `correlate()` computes of `surface` to the lags
   * |dy| ≤ ry and |dx| ≤ rx (circular: rows 0..ry and hp−ry..hp−1, columns
   * likewise, rounded out to whole row pairs and 16-column strips); the rest
   * of the surface is left stale. A caller that only searches a window of
   * lags (the Registrar reads |d| ≤ maxShift + 1) skips most of the inverse
   * column pass. Negative (the default): the whole axis.
   */
  limitSurface(ry: number, rx: number): void {
    this.live().limitSurface(Math.floor(ry), Math.floor(rx));
  }

  /** Drops the instance; its memory is reclaimed by the garbage collector. */
  dispose(): void {
    this.exports = null;
  }

  private live(): CorrelateExports {
    if (this.exports === null) throw new Error('WasmCorrelator used after dispose()');
    return this.exports;
  }
}
