import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { type WasmModule, compileModule } from '../kernels/wasmInstance.js';

/**
 * Node-side loading of the compiled WebAssembly kernels
 * (dist/kernels/<name>.wasm, built by tools/build.mjs from
 * src/kernels/wasm/assembly/<name>.ts). Looked for next to the compiled
 * kernels first (running from dist/), then in <repo>/dist/kernels/ (running
 * from src/, as under vitest). Each module is compiled once and cached:
 * compile once, instantiate per kernel object (a WebAssembly.Module can also
 * be posted to worker threads).
 */

export type KernelName = 'correlate' | 'warp' | 'localcorr' | 'blur' | 'quantiles';

function candidates(name: KernelName): URL[] {
  return [
    new URL(`../kernels/${name}.wasm`, import.meta.url),
    new URL(`../../dist/kernels/${name}.wasm`, import.meta.url),
  ];
}

function notFound(name: KernelName, tried: URL[]): Error {
  const where = tried.map((u) => fileURLToPath(u)).join(', ');
  return new Error(`${name}.wasm not found (looked in ${where}); run \`npm run build\``);
}

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | null)?.code === 'ENOENT';
}

const cached = new Map<KernelName, WasmModule>();
const pending = new Map<KernelName, Promise<WasmModule>>();

/** The compiled kernel module, read and compiled once (synchronous). */
export function loadKernelModuleSync(name: KernelName): WasmModule {
  const hit = cached.get(name);
  if (hit !== undefined) return hit;
  const tried = candidates(name);
  for (const url of tried) {
    let bytes: Buffer;
    try {
      bytes = readFileSync(url);
    } catch (err) {
      if (isMissing(err)) continue;
      throw err;
    }
    const mod = compileModule(bytes);
    cached.set(name, mod);
    return mod;
  }
  throw notFound(name, tried);
}

/** The compiled kernel module, read and compiled once. */
export function loadKernelModule(name: KernelName): Promise<WasmModule> {
  const hit = cached.get(name);
  if (hit !== undefined) return Promise.resolve(hit);
  let p = pending.get(name);
  if (p === undefined) {
    p = (async () => {
      const tried = candidates(name);
      for (const url of tried) {
        let bytes: Buffer;
        try {
          bytes = await readFile(url);
        } catch (err) {
          if (isMissing(err)) continue;
          throw err;
        }
        const mod = cached.get(name) ?? compileModule(bytes);
        cached.set(name, mod);
        return mod;
      }
      throw notFound(name, tried);
    })();
    const mine = p;
    pending.set(name, mine);
    // Settled either way: later calls hit the cache, or retry after a failure
    // (e.g. once the build has run).
    mine.then(
      () => pending.delete(name),
      () => pending.delete(name),
    );
  }
  return p;
}

/** `loadKernelModule('correlate')`: the module for `WasmCorrelator.create`. */
export function loadCorrelatorModule(): Promise<WasmModule> {
  return loadKernelModule('correlate');
}

/** `loadKernelModuleSync('correlate')`. */
export function loadCorrelatorModuleSync(): WasmModule {
  return loadKernelModuleSync('correlate');
}
