import { cpus, totalmem } from 'node:os';
import type { Correlator } from '../kernels/correlator.js';
import { type MotionOptions, MotionCorrector } from '../kernels/motionCorrector.js';
import { Registrar, defaultRegistrationParams } from '../kernels/register.js';
import { defaultConfig } from '../config/schema.js';
import { motionOptions } from '../stream/pipeline.js';
import { SyntheticMicroscope, parseSyntheticUri } from '../ingest/synthetic.js';
import { InputError } from '../errors.js';
import { type BackendChoice, selectBackend } from '../stream/backend.js';
import { benchReplay } from './benchReplay.js';
import { benchObjects } from './benchObjects.js';

/**
 * `scopestream bench`: one JSON line per case (median and p90 of ≥ 30 timed
 * runs after warm-up), on frames from the simulated microscope.
 *
 * Object-measurement cases (intensity, intensity_quartiles, colocalization,
 * local_correlation, segment_template, objects_frame; src/cli/benchObjects.ts)
 * run at 512×512 by default, or at the --size given. SCOPESTREAM_BENCH_CASES=objects
 * runs only those (=registration: only the registration cases and replay).
 */
export interface BenchOptions {
  size?: string;
  json: boolean;
  runs?: string;
  backend: BackendChoice;
}

const DEFAULT_SIZES: [number, number][] = [
  [256, 256],
  [512, 512],
  [1024, 1024],
  [752, 480],
];
/** Warm-up until V8 has optimised the hot functions: at least this many runs and this long. */
const WARMUP_RUNS = 20;
const WARMUP_MS = 300;

export function machine(): Record<string, unknown> {
  return { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, memGiB: Math.round(totalmem() / 2 ** 30), node: process.version, nodeFlags: process.execArgv.join(' ') };
}

function stats(samples: number[]): { median_ms: number; p90_ms: number } {
  const s = [...samples].sort((a, b) => a - b);
  const q = (p: number): number => s[Math.min(s.length - 1, Math.floor(p * (s.length - 1) + 0.5))];
  return { median_ms: Math.round(q(0.5) * 1e4) / 1e4, p90_ms: Math.round(q(0.9) * 1e4) / 1e4 };
}

function time(runs: number, fn: (i: number) => void): number[] {
  const start = performance.now();
  for (let i = 0; i < WARMUP_RUNS || performance.now() - start < WARMUP_MS; i++) fn(i);
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    fn(i);
    out.push(performance.now() - t);
  }
  return out;
}

function parseSize(s: string): [number, number] {
  const m = /^(\d+)x(\d+)$/.exec(s);
  if (!m) throw new InputError(`--size ${s}: expected WxH, e.g. 512x512`);
  const w = Number(m[1]);
  const h = Number(m[2]);
  if (w < 16 || h < 16 || w > 8192 || h > 8192) throw new InputError(`--size ${s}: width and height must be 16..8192`);
  return [w, h];
}

export async function runBench(opts: BenchOptions): Promise<number> {
  const sizes = opts.size ? [parseSize(opts.size)] : DEFAULT_SIZES;
  const runs = opts.runs ? Number(opts.runs) : 50;
  if (!Number.isInteger(runs) || runs < 30) throw new InputError(`--runs ${opts.runs}: expected an integer ≥ 30`);
  const backend = await selectBackend(opts.backend, { normalization: 'none', phaseSigma: 1 });
  const m = machine();
  const print = (o: Record<string, unknown>): void => {
    const line = { ...o, backend: backend.name, runs, machine: m };
    process.stdout.write((opts.json ? JSON.stringify(line) : humanLine(line)) + '\n');
  };

  const only = process.env.SCOPESTREAM_BENCH_CASES ?? '';
  if (only !== '' && only !== 'objects' && only !== 'registration') {
    throw new InputError(`SCOPESTREAM_BENCH_CASES=${only}: expected objects or registration`);
  }
  for (const [w, h] of only === 'objects' ? [] : sizes) {
    const sim = new SyntheticMicroscope(parseSyntheticUri(`synthetic:?width=${w}&height=${h}&seed=3`));
    const frames = Array.from({ length: 8 }, () => sim.nextFrame());
    const planes = frames.map((f) => Float32Array.from(f.data));
    const size = `${w}x${h}`;
    const { hp, wp } = Registrar.paddedSize(w, h);

    const corr: Correlator = backend.kernels.correlator(hp, wp);
    corr.input.set(new Float32Array(hp * wp).fill(1));
    corr.setTemplate();
    print({ case: 'fft_roundtrip', size, padded: `${wp}x${hp}`, ...stats(time(runs, () => corr.correlate())) });

    const reg = new Registrar(w, h, defaultRegistrationParams, corr);
    reg.setTemplate(planes[0]);
    print({ case: 'register', size, ...stats(time(runs, (i) => reg.register(planes[1 + (i % 7)]))) });
    corr.dispose();

    const warper = backend.kernels.warper(w, h, 1, 'uint16');
    print({ case: 'warp', size, ...stats(time(runs, (i) => warper.warp(frames[i % 8].data, 1.37, -2.61, 'constant', 0))) });
    warper.dispose();

    const opts2: MotionOptions = { ...motionOptions(defaultConfig()), templateFrames: 8 };
    const mc = new MotionCorrector(w, h, 1, 'uint16', opts2, backend.kernels);
    const sink = (): void => {};
    for (const f of frames) mc.push(f, sink);
    print({ case: 'frame', size, ...stats(time(runs, (i) => mc.push(frames[i % 8], sink))) });
    mc.dispose();
  }
  if (only !== 'registration') {
    const [ow, oh] = opts.size ? sizes[0] : [512, 512];
    benchObjects(backend, ow, oh, runs, time, stats, print);
  }
  if (!opts.size && only !== 'objects') {
    print(await benchReplay(backend, false));
    print(await benchReplay(backend, true));
    print(await benchReplay(backend, true, 2));
  }
  return 0;
}

function humanLine(o: Record<string, unknown>): string {
  let extra = o.fps !== undefined ? ` ${o.fps} frames/s` : '';
  if (o.objects !== undefined) extra += `  ${o.objects} objects${typeof o.target_ms === 'number' ? `, target ≤ ${o.target_ms} ms` : ''}`;
  return `${String(o.case).padEnd(26)} ${String(o.size).padEnd(10)} median ${o.median_ms} ms  p90 ${o.p90_ms} ms${extra}  (${o.backend})`;
}
