#!/usr/bin/env node
// Builds scopestream (the `build` / `prepare` npm script):
//   1. src/kernels/wasm/assembly/*.ts → dist/kernels/correlate.wasm with the
//      AssemblyScript compiler (skipped when the .wasm is newer than its
//      sources and this script);
//   2. tsc -p tsconfig.json (src → dist, incremental).
// Prints one line on success; on failure prints the compiler's message and
// exits non-zero.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const asmDir = join(root, 'src/kernels/wasm/assembly');
const wasmEntry = join(asmDir, 'correlate.ts');
const wasmOut = join(root, 'dist/kernels/correlate.wasm');

// Flags of the WebAssembly build (docs/fft-wasm.md).
const ASC_FLAGS = [
  '--enable', 'simd',
  '-O3',
  '--noAssert',
  '--runtime', 'stub',
  '--use', 'abort=',
  '--initialMemory', '1',
];

function fail(message) {
  process.stderr.write(message.endsWith('\n') ? message : `${message}\n`);
  process.exit(1);
}

function mtime(path) {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return -Infinity;
  }
}

function newestSource(dir) {
  let t = mtime(fileURLToPath(import.meta.url));
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) t = Math.max(t, mtime(join(e.parentPath ?? e.path, e.name)));
  }
  return t;
}

async function buildWasm() {
  if (mtime(wasmOut) > newestSource(asmDir)) return 'up to date';
  const t0 = performance.now();
  const { default: asc } = await import('assemblyscript/asc');
  let binary = null;
  const argv = [wasmEntry, ...ASC_FLAGS, '--outFile', 'correlate.wasm'];
  if (!process.stderr.isTTY) argv.push('--noColors');
  const result = await asc.main(argv, {
    writeFile(name, contents) {
      if (name.endsWith('.wasm')) binary = contents;
    },
  });
  if (result.error || binary === null) {
    const out = `${result.stdout.toString()}${result.stderr.toString()}`.trim();
    fail(`build: AssemblyScript compilation of ${wasmEntry} failed\n${out}\n${result.error?.message ?? 'no output'}`);
  }
  // Write atomically: parallel builds or a running process may read the file.
  mkdirSync(dirname(wasmOut), { recursive: true });
  const tmp = `${wasmOut}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, binary);
    renameSync(tmp, wasmOut);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  return `compiled in ${((performance.now() - t0) / 1000).toFixed(1)} s`;
}

function buildTs() {
  const t0 = performance.now();
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json')], {
    cwd: root,
    encoding: 'utf8',
  });
  if (r.error) fail(`build: cannot run tsc: ${r.error.message}`);
  if (r.status !== 0) fail(`build: tsc failed\n${r.stdout}${r.stderr}`);
  return `${((performance.now() - t0) / 1000).toFixed(1)} s`;
}

const wasm = await buildWasm();
const ts = buildTs();
process.stdout.write(`build: ok (wasm ${wasm}, tsc ${ts})\n`);
