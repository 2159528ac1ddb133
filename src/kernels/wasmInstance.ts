/**
 * The little of the WebAssembly JS API the kernels use, typed structurally
 * (the project's `lib` does not declare it), and one way to instantiate a
 * compiled kernel module. Kernels get modules (or bytes) from outside; they
 * never read files.
 */
declare const wasmModuleBrand: unique symbol;

/** A compiled `WebAssembly.Module`, as an opaque handle. */
export interface WasmModule {
  readonly [wasmModuleBrand]: true;
}

/** Bytes of a .wasm file or the module compiled from them. */
export type WasmSource = WasmModule | ArrayBuffer | ArrayBufferView;

interface WasmApi {
  Module: new (bytes: ArrayBuffer | ArrayBufferView) => WasmModule;
  Instance: new (module: WasmModule, imports: Record<string, Record<string, unknown>>) => { readonly exports: unknown };
}

function wasmApi(): WasmApi {
  const api = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;
  if (api === undefined) throw new Error('WebAssembly is not available in this runtime');
  return api;
}

export function compileModule(bytes: ArrayBuffer | ArrayBufferView): WasmModule {
  return new (wasmApi().Module)(bytes);
}

/** A new instance with its own memory; the modules are built with abort as their only import. */
export function instantiate(source: WasmSource): Record<string, unknown> {
  const api = wasmApi();
  const module = source instanceof ArrayBuffer || ArrayBuffer.isView(source) ? new api.Module(source) : source;
  const instance = new api.Instance(module, {
    env: {
      abort: () => {
        throw new Error('WebAssembly kernel aborted');
      },
    },
  });
  return instance.exports as Record<string, unknown>;
}
