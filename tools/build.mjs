#!/usr/bin/env node
// Builds scopestream (the `build` / `prepare` npm script):
//   1. every src/kernels/wasm/assembly/<name>.ts (top level: one kernel each;
//      shared AssemblyScript code goes in a subfolder) → dist/kernels/<name>.wasm
//      with the AssemblyScript compiler, skipped when the .wasm is newer than
//      every file under assembly/ and this script;
//   2. tsc -p tsconfig.json (src → dist, incremental);
//   3. the dashboard: type-checked with its own tsconfig (DOM lib), then
//      dashboard/src/main.ts bundled by esbuild with uPlot and the CSS into
//      dist/dashboard/ (index.html, app.js, app.css), skipped when
//      dist/dashboard/index.html is newer than every file under dashboard/,
//      uPlot's package.json and this script.
// Prints one line on success; on failure prints the compiler's message and
// exits non-zero.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const asmDir = join(root, 'src/kernels/wasm/assembly');
const outDir = join(root, 'dist/kernels');

// Flags of the WebAssembly builds (docs/fft-wasm.md): 128-bit SIMD, no GC
// (kernels lay out their memory themselves), no assertions, no imports.
const ASC_FLAGS = [
  '--enable', 'simd',
  '-O3',
  '--noAssert',
  '--runtime', 'stub',
  '--use', 'abort=',
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

/** Writes through a temporary file: parallel builds or a running process may read the file. */
function writeAtomic(path, contents) {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, contents);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

async function compileKernel(asc, entry, out) {
  let binary = null;
  const argv = [entry, ...ASC_FLAGS, '--outFile', 'kernel.wasm'];
  if (!process.stderr.isTTY) argv.push('--noColors');
  const result = await asc.main(argv, {
    writeFile(name, contents) {
      if (name.endsWith('.wasm')) binary = contents;
    },
  });
  if (result.error || binary === null) {
    const msg = `${result.stdout.toString()}${result.stderr.toString()}`.trim();
    fail(`build: AssemblyScript compilation of ${entry} failed\n${msg}\n${result.error?.message ?? 'no output'}`);
  }
  writeAtomic(out, binary);
}

async function buildWasm() {
  const newest = newestSource(asmDir);
  const stale = readdirSync(asmDir, { withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => ({ entry: join(asmDir, e.name), out: join(outDir, e.name.replace(/\.ts$/, '.wasm')) }))
    .filter(({ out }) => !(mtime(out) > newest));
  if (stale.length === 0) return 'wasm up to date';
  const t0 = performance.now();
  const { default: asc } = await import('assemblyscript/asc');
  mkdirSync(outDir, { recursive: true });
  for (const { entry, out } of stale) await compileKernel(asc, entry, out);
  const names = stale.map(({ out }) => basename(out)).join(', ');
  return `${names} compiled in ${((performance.now() - t0) / 1000).toFixed(1)} s`;
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

async function buildDashboard() {
  const dir = join(root, 'dashboard');
  const out = join(root, 'dist/dashboard');
  const stamp = join(out, 'index.html');
  const require = createRequire(import.meta.url);
  const newest = Math.max(newestSource(dir), mtime(require.resolve('uplot/package.json')));
  if (mtime(stamp) > newest) return 'dashboard up to date';
  const t0 = performance.now();
  const tsc = require.resolve('typescript/bin/tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')], { cwd: root, encoding: 'utf8' });
  if (r.error) fail(`build: cannot run tsc: ${r.error.message}`);
  if (r.status !== 0) fail(`build: dashboard type check failed\n${r.stdout}${r.stderr}`);
  const { build } = await import('esbuild');
  let result;
  try {
    result = await build({
      entryPoints: { app: join(dir, 'src/main.ts') },
      bundle: true,
      format: 'esm',
      target: ['chrome109', 'firefox115', 'safari16'],
      minify: true,
      sourcemap: true,
      outdir: out,
      write: false,
      logLevel: 'silent',
    });
  } catch (err) {
    const msgs = (err.errors ?? []).map((e) => `${e.location ? `${e.location.file}:${e.location.line}: ` : ''}${e.text}`).join('\n');
    fail(`build: dashboard bundle failed\n${msgs || err.message}`);
  }
  mkdirSync(out, { recursive: true });
  for (const f of result.outputFiles) {
    mkdirSync(dirname(f.path), { recursive: true });
    writeAtomic(f.path, f.contents);
  }
  // Last: its time stamp says the bundle is complete.
  writeAtomic(stamp, readFileSync(join(dir, 'index.html')));
  return `dashboard ${((performance.now() - t0) / 1000).toFixed(1)} s`;
}

const wasm = await buildWasm();
const ts = buildTs();
const dashboard = await buildDashboard();
process.stdout.write(`build: ok (${wasm}; tsc ${ts}; ${dashboard})\n`);
