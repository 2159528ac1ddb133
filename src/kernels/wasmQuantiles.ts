import { type WasmSource, instantiate } from './wasmInstance.js';

interface QuantilesExports {
  readonly memory: { readonly buffer: ArrayBuffer };
  init(count: number, total: number, maxSize: number): number;
  offsetsPtr(): number;
  countsPtr(): number;
  valuesPtr(): number;
  outPtr(): number;
  run(): void;
}

/**
 * The `quantiles` WebAssembly kernel (src/kernels/wasm/assembly/quantiles.ts)
 * for one object index: median, quartiles and MAD of every object, the same
 * numbers as IntensityFeatures' TypeScript path (docs/features.md). The
 * caller writes each object's finite values into `values` from the object's
 * CSR offset and their count into `counts`, then calls `run`; the results are
 * in `median`, `lower`, `upper`, `mad`. Memory is sized once here and never
 * grows, so the views stay valid and nothing is allocated per frame.
 */
export class WasmQuantiles {
  readonly values: Float32Array;
  readonly counts: Int32Array;
  readonly median: Float64Array;
  readonly lower: Float64Array;
  readonly upper: Float64Array;
  readonly mad: Float64Array;
  private readonly ex: QuantilesExports;

  constructor(source: WasmSource, offsets: Int32Array, count: number) {
    const ex = instantiate(source) as unknown as QuantilesExports;
    const total = offsets[count];
    let maxSize = 0;
    for (let k = 0; k < count; k++) maxSize = Math.max(maxSize, offsets[k + 1] - offsets[k]);
    if (ex.init(count, total, maxSize) !== 0) throw new Error(`WebAssembly quantiles: out of memory for ${count} objects of ${total} pixels`);
    const buf = ex.memory.buffer;
    new Int32Array(buf, ex.offsetsPtr(), count + 1).set(offsets.subarray(0, count + 1));
    this.values = new Float32Array(buf, ex.valuesPtr(), total);
    this.counts = new Int32Array(buf, ex.countsPtr(), count);
    const out = ex.outPtr();
    this.median = new Float64Array(buf, out, count);
    this.lower = new Float64Array(buf, out + 8 * count, count);
    this.upper = new Float64Array(buf, out + 16 * count, count);
    this.mad = new Float64Array(buf, out + 24 * count, count);
    this.ex = ex;
  }

  run(): void {
    this.ex.run();
  }
}
