import type { CorrelatorOptions } from '../kernels/correlator.js';
import type { KernelFactories } from '../kernels/motionCorrector.js';
import { TsCorrelator } from '../kernels/tsCorrelator.js';
import { TsWarper } from '../kernels/warper.js';
import { WasmCorrelator } from '../kernels/wasmCorrelator.js';
import { WasmWarper } from '../kernels/wasmWarper.js';
import { InputError } from '../errors.js';
import type { WasmModule } from '../kernels/wasmInstance.js';
import { loadKernelModule } from './wasmModule.js';

export type BackendChoice = 'auto' | 'wasm' | 'ts';

export interface Backend {
  name: 'wasm' | 'ts';
  kernels: KernelFactories;
  /** The measurement's WebAssembly modules (local correlation sums, segmentation blur, intensity quantiles); absent on the TS backend. */
  objectKernels: { localcorr?: WasmModule; blur?: WasmModule; quantiles?: WasmModule };
}

/**
 * The kernels: WebAssembly SIMD (float32) when they load, else the float64
 * TypeScript reference. `wasm` insists and fails with a clear message.
 */
export async function selectBackend(choice: BackendChoice, opts: CorrelatorOptions): Promise<Backend> {
  if (choice !== 'ts') {
    try {
      const [correlate, warp, localcorr, blur, quantiles] = await Promise.all(
        (['correlate', 'warp', 'localcorr', 'blur', 'quantiles'] as const).map((k) => loadKernelModule(k)),
      );
      return {
        name: 'wasm',
        objectKernels: { localcorr, blur, quantiles },
        kernels: {
          correlator: (hp, wp) => WasmCorrelator.create(correlate, hp, wp, opts),
          warper: (w, h, c, dtype) => WasmWarper.create(warp, w, h, c, dtype),
        },
      };
    } catch (e) {
      if (choice === 'wasm') {
        throw new InputError(`option registration.backend: wasm is not available (${(e as Error).message.split('\n')[0]})`);
      }
    }
  }
  return {
    name: 'ts',
    objectKernels: {},
    kernels: {
      correlator: (hp, wp) => new TsCorrelator(hp, wp, opts),
      warper: (w, h, c) => new TsWarper(w, h, c),
    },
  };
}
