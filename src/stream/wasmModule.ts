import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { type CorrelatorWasmModule, compileCorrelatorModule } from '../kernels/wasmCorrelator.js';

/**
 * Node-side loading of the compiled correlator (dist/kernels/correlate.wasm,
 * built by tools/build.mjs). Looked for next to the compiled kernels first
 * (running from dist/), then in <repo>/dist/kernels/ (running from src/, as
 * under vitest). The compiled module is cached: compile once, instantiate per
 * correlator (a WebAssembly.Module can also be posted to worker threads).
 */

function candidates(): URL[] {
  return [
    new URL('../kernels/correlate.wasm', import.meta.url),
    new URL('../../dist/kernels/correlate.wasm', import.meta.url),
  ];
}

function notFound(tried: URL[]): Error {
  const where = tried.map((u) => fileURLToPath(u)).join(', ');
  return new Error(`correlate.wasm not found (looked in ${where}); run \`npm run build\``);
}

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | null)?.code === 'ENOENT';
}

let cached: CorrelatorWasmModule | null = null;
let pending: Promise<CorrelatorWasmModule> | null = null;

/** The compiled correlator module, loaded and compiled once (synchronous). */
export function loadCorrelatorModuleSync(): CorrelatorWasmModule {
  if (cached !== null) return cached;
  const tried = candidates();
  for (const url of tried) {
    let bytes: Buffer;
    try {
      bytes = readFileSync(url);
    } catch (err) {
      if (isMissing(err)) continue;
      throw err;
    }
    cached = compileCorrelatorModule(bytes);
    return cached;
  }
  throw notFound(tried);
}

/** The compiled correlator module, loaded and compiled once. */
export function loadCorrelatorModule(): Promise<CorrelatorWasmModule> {
  if (cached !== null) return Promise.resolve(cached);
  pending ??= (async () => {
    const tried = candidates();
    for (const url of tried) {
      let bytes: Buffer;
      try {
        bytes = await readFile(url);
      } catch (err) {
        if (isMissing(err)) continue;
        throw err;
      }
      cached ??= compileCorrelatorModule(bytes);
      return cached;
    }
    throw notFound(tried);
  })();
  const p = pending;
  // A failed load may be retried (e.g. after a build).
  p.catch(() => {
    if (pending === p) pending = null;
  });
  return p;
}
