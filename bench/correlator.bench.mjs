#!/usr/bin/env node
// Times one correlate() (forward 2-D real FFT, cross-power, inverse) of the
// WebAssembly correlator, and of the float64 TypeScript reference for
// comparison. Runs against dist/: `npm run build && node bench/correlator.bench.mjs`.
// Prints one JSON line per case: {case, size, padded, median_ms, min_ms, p90_ms, runs}.
//
// Options: --runs N (default 60), --warmup N (default 10, and ≥ 0.5 s), --ts (also time
// TsCorrelator), --sizes 512x512,480x752 (unpadded sizes; padded with fastSize).
import { fastSize } from '../dist/kernels/correlator.js';
import { WasmCorrelator } from '../dist/kernels/wasmCorrelator.js';
import { TsCorrelator } from '../dist/kernels/tsCorrelator.js';
import { loadCorrelatorModule } from '../dist/stream/wasmModule.js';

const args = process.argv.slice(2);
function opt(name, def) {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
}
const runs = Number(opt('--runs', '60'));
const warmup = Number(opt('--warmup', '10'));
const withTs = args.includes('--ts');
const sizes = opt('--sizes', '256x256,512x512,1024x1024,480x752')
  .split(',')
  .map((s) => s.split('x').map(Number));

function quantile(sorted, q) {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))));
  return sorted[i];
}

function fill(a, seed) {
  let s = seed >>> 0;
  for (let i = 0; i < a.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 4294967296 - 0.5;
  }
}

function time(name, corr, h, w, n, warm) {
  fill(corr.input, 1);
  corr.setTemplate();
  const frames = [0, 1, 2, 3].map((k) => {
    const f = new Float32Array(corr.hp * corr.wp);
    fill(f, 100 + k);
    return f;
  });
  // Warm-up: at least `warm` runs and 0.5 s, so that V8 has tiered the
  // WebAssembly up from its baseline compiler (Liftoff) to TurboFan.
  const tw = performance.now();
  for (let i = 0; i < warm || performance.now() - tw < 500; i++) {
    corr.input.set(frames[i & 3]);
    corr.correlate();
  }
  const t = [];
  for (let i = 0; i < n; i++) {
    corr.input.set(frames[i & 3]);
    const t0 = performance.now();
    corr.correlate();
    t.push(performance.now() - t0);
  }
  t.sort((a, b) => a - b);
  const line = {
    case: name,
    size: `${h}x${w}`,
    padded: `${corr.hp}x${corr.wp}`,
    median_ms: Number(quantile(t, 0.5).toFixed(3)),
    min_ms: Number(t[0].toFixed(3)),
    p90_ms: Number(quantile(t, 0.9).toFixed(3)),
    runs: n,
  };
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

const mod = await loadCorrelatorModule();
for (const [h, w] of sizes) {
  const hp = fastSize(h);
  const wp = fastSize(w);
  for (const normalization of ['none', 'phase']) {
    const opts = { normalization, phaseSigma: 1 };
    const c = WasmCorrelator.create(mod, hp, wp, opts);
    time(`wasm/${normalization}`, c, h, w, runs, warmup);
    c.dispose();
    if (withTs) time(`ts/${normalization}`, new TsCorrelator(hp, wp, opts), h, w, Math.min(runs, 20), 2);
  }
}
