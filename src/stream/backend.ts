import type { CorrelatorOptions } from '../kernels/correlator.js';
import type { CorrelatorFactory } from '../kernels/motionCorrector.js';
import { TsCorrelator } from '../kernels/tsCorrelator.js';
import { WasmCorrelator } from '../kernels/wasmCorrelator.js';
import { InputError } from '../errors.js';
import { loadCorrelatorModule } from './wasmModule.js';

export type BackendChoice = 'auto' | 'wasm' | 'ts';

export interface Backend {
  name: 'wasm' | 'ts';
  factory: CorrelatorFactory;
}

/**
 * The FFT backend: WebAssembly SIMD (float32) when it loads, else the float64
 * TypeScript reference. `wasm` insists and fails with a clear message.
 */
export async function selectBackend(choice: BackendChoice, opts: CorrelatorOptions): Promise<Backend> {
  if (choice !== 'ts') {
    try {
      const module = await loadCorrelatorModule();
      return { name: 'wasm', factory: (hp, wp) => WasmCorrelator.create(module, hp, wp, opts) };
    } catch (e) {
      if (choice === 'wasm') {
        throw new InputError(`option registration.backend: wasm is not available (${(e as Error).message.split('\n')[0]})`);
      }
    }
  }
  return { name: 'ts', factory: (hp, wp) => new TsCorrelator(hp, wp, opts) };
}
