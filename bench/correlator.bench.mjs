#!/usr/bin/env node
// Times one correlate() (forward 2-D real FFT, cross-power, inverse) of the
// WebAssembly correlator, and of the float64 TypeScript reference for
// comparison. Runs against dist/: `npm run build && node bench/correlator.bench.mjs`.
// Prints one JSON line per case: {case, size, padded, median_ms, min_ms, p90_ms, runs}.
//
// Options: --runs N (default 60), --warmup N (default 10, and ≥ 0.5 s), --ts (also time
// TsCorrelator), --sizes 512x512,480x752 (unpadded sizes; padded with fastSize),
// --register (also time Registrar.register of uint16 frames, i.e. prepare + correlate +
// peak search, with the whole surface and with limitSurface(maxShift + 1)).
import { fastSize } from '../dist/kernels/correlator.js';
import { WasmCorrelator } from '../dist/kernels/wasmCorrelator.js';
import { TsCorrelator } from '../dist/kernels/tsCorrelator.js';
import { loadCorrelatorModule } from '../dist/stream/wasmModule.js';
import { Registrar, defaultRegistrationParams } from '../dist/kernels/register.js';

const args = process.argv.slice(2);
function opt(name, def) {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
}
const runs = Number(opt('--runs', '60'));
const warmup = Number(opt('--warmup', '10'));
const withTs = args.includes('--ts');
const withRegister = args.includes('--register');
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

/** A smooth uint16 image with noise, shifted by (dx, dy). */
function frameU16(h, w, dx, dy, seed) {
  const a = new Uint16Array(h * w);
  let s = seed >>> 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      const X = x + dx;
      const Y = y + dy;
      a[y * w + x] = 1000 + 400 * Math.sin(X * 0.05) * Math.cos(Y * 0.031) + 200 * Math.sin((X + Y) * 0.11) + (s >>> 26);
    }
  }
  return a;
}

if (withRegister) {
  for (const [h, w] of sizes) {
    // The two variants alternate run by run, so that load on the machine hits both alike.
    const regs = [false, true].map((limit) => {
      const c = WasmCorrelator.create(mod, fastSize(h), fastSize(w), { normalization: 'none', phaseSigma: 1 });
      const r = new Registrar(w, h, defaultRegistrationParams, c);
      if (limit) c.limitSurface(r.maxShift + 1, r.maxShift + 1);
      r.setTemplate(frameU16(h, w, 0, 0, 1));
      return r;
    });
    const frames = [
      [3, -2],
      [-5, 7],
      [10, 1],
      [0, -9],
    ].map(([dx, dy], k) => frameU16(h, w, dx, dy, 10 + k));
    const tw = performance.now();
    for (let i = 0; i < warmup || performance.now() - tw < 500; i++) for (const r of regs) r.register(frames[i & 3]);
    const t = [[], []];
    for (let i = 0; i < runs; i++) {
      for (const j of i & 1 ? [0, 1] : [1, 0]) {
        const t0 = performance.now();
        regs[j].register(frames[i & 3]);
        t[j].push(performance.now() - t0);
      }
    }
    for (const j of [0, 1]) {
      t[j].sort((a, b) => a - b);
      const line = {
        case: j === 0 ? 'register/u16/none' : 'register/u16/none/limitSurface',
        size: `${h}x${w}`,
        padded: `${fastSize(h)}x${fastSize(w)}`,
        median_ms: Number(quantile(t[j], 0.5).toFixed(3)),
        min_ms: Number(t[j][0].toFixed(3)),
        p90_ms: Number(quantile(t[j], 0.9).toFixed(3)),
        runs,
      };
      process.stdout.write(`${JSON.stringify(line)}\n`);
    }
  }
}
