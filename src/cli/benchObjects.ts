import { defaultConfig } from '../config/schema.js';
import { segmentOptions, traceOptions } from '../stream/pipeline.js';
import { ColocalizationFeatures } from '../kernels/features/colocalization.js';
import { IntensityFeatures } from '../kernels/features/intensity.js';
import { computeShape } from '../kernels/features/shape.js';
import { LocalCorrelation } from '../kernels/localCorrelation.js';
import { type MotionOptions, MotionCorrector } from '../kernels/motionCorrector.js';
import { buildObjectIndex } from '../kernels/objectIndex.js';
import { type ObjectsOptions, ObjectMeasurer } from '../kernels/objectMeasurer.js';
import { Segmenter } from '../kernels/segment.js';
import { TrackedObjects } from '../kernels/trackedObjects.js';
import { SyntheticMicroscope, parseSyntheticUri } from '../ingest/synthetic.js';
import type { Frame } from '../ingest/frame.js';
import { motionOptions } from '../stream/pipeline.js';
import type { Backend } from '../stream/backend.js';
import { loadKernelModuleSync } from '../stream/wasmModule.js';
import type { WasmSource } from '../kernels/wasmInstance.js';

/**
 * The object-measurement cases of `scopestream bench` (one core, one JSON line
 * each): frames of the simulated microscope (2 channels, 200 objects at 512²,
 * scaled with the area at other sizes), registered and warped to float32 by a
 * MotionCorrector as in the pipeline; objects from segmenting its template with
 * the default `objects.*` options. `target_ms` is the budget of the issue
 * (given at 512×512 only, null at other sizes).
 */
const TARGETS_512: Record<string, number> = {
  intensity: 0.5,
  intensity_quartiles: 2,
  colocalization: 1,
  local_correlation: 0.3,
  segment_template: 15,
  objects_frame: 3,
  tracked_frame: 4,
};

type Timer = (runs: number, fn: (i: number) => void) => number[];
type Stats = (samples: number[]) => { median_ms: number; p90_ms: number };

/** Segmentation and measurement options of the pipeline's defaults (src/stream/pipeline.ts). */
export function defaultObjectsOptions(): ObjectsOptions {
  const cfg = defaultConfig();
  return {
    labels: null,
    segment: segmentOptions(cfg.objects),
    quartilesEvery: 1,
    traceOf: cfg.traces.of,
    traces: traceOptions(cfg.traces),
    colocalization: null,
  };
}

export function benchObjects(
  backend: Backend,
  w: number,
  h: number,
  runs: number,
  time: Timer,
  stats: Stats,
  print: (o: Record<string, unknown>) => void,
): void {
  const size = `${w}x${h}`;
  const n = w * h;
  const nObjects = Math.max(1, Math.min(10000, Math.round((200 * n) / (512 * 512))));
  const sim = new SyntheticMicroscope(parseSyntheticUri(`synthetic:?width=${w}&height=${h}&objects=${nObjects}&channels=2&seed=7`));
  const frames2: Frame[] = Array.from({ length: 16 }, () => sim.nextFrame());
  // Channel 0 alone, as a one-channel source (objects_frame: register + warp one plane).
  const frames1: Frame[] = frames2.map((f) => ({ ...f, channels: 1, data: f.data.slice(0, n) }));
  const target = (c: string): number | null => (w === 512 && h === 512 ? TARGETS_512[c] : null);

  // Registered float32 planes (both channels) and the template, as the pipeline gets them.
  const mopts: MotionOptions = { ...motionOptions(defaultConfig()), templateFrames: 8, templateAnnounceEvery: 0 };
  const mc2 = new MotionCorrector(w, h, 2, 'uint16', mopts, backend.kernels);
  let template: Float32Array | null = null;
  mc2.onTemplate = (t) => {
    template = Float32Array.from(t);
  };
  const reg: [Float32Array, Float32Array][] = [];
  const keep = (r: { registered: Float32Array[] }): void => {
    reg.push([Float32Array.from(r.registered[0]), Float32Array.from(r.registered[1])]);
  };
  for (const f of frames2) mc2.push(f, keep);
  mc2.flush(keep);
  mc2.dispose();
  if (template === null) throw new Error('bench: no template was built');
  const tpl: Float32Array = template;
  const planes = reg.slice(-8);

  const blurKernel = objectKernel(backend, 'blur');
  const quantilesKernel = objectKernel(backend, 'quantiles');
  const oo = { ...defaultObjectsOptions(), blurKernel, quantilesKernel };
  const segmenter = new Segmenter(w, h, blurKernel);
  const labels = new Int32Array(n);
  segmenter.segment(tpl, oo.segment, labels);
  const index = buildObjectIndex(labels, w, h);
  let maxPx = 0;
  for (let k = 0; k < index.count; k++) maxPx = Math.max(maxPx, index.offsets[k + 1] - index.offsets[k]);
  const info = { size, objects: index.count, mean_px: Math.round(index.pixels.length / Math.max(1, index.count)), max_px: maxPx };
  const line = (c: string, samples: number[]): void => print({ case: c, ...info, ...stats(samples), target_ms: target(c) });

  const plain = new IntensityFeatures(index, { quartiles: false });
  line('intensity', time(runs, (i) => plain.compute(planes[i % 8][0])));
  // With the wasm backend the quantiles are computed by the `quantiles` kernel (as in the pipeline);
  // the `_ts` cases then time the TypeScript path (the reference) on the same objects, after all
  // the kernel's cases: the pipeline runs one path only, and V8 optimises `compute` for what it
  // has seen so far (a kernel case right after a TypeScript one measured up to 50 % slower).
  // Controlled counts: 200 discs (radius 7 ≈ 150 px, radius 11 ≈ 370 px) on the same planes.
  const discs = [7, 11].map((r) => ({ r, index: buildObjectIndex(discLabels(w, h, nObjects, r), w, h) }));
  const variants: [string, WasmSource | undefined][] = [['', quantilesKernel]];
  if (quantilesKernel !== undefined) variants.push(['_ts', undefined]);
  for (const [suffix, kernel] of variants) {
    const withQ = new IntensityFeatures(index, { quartiles: true, kernel });
    line(`intensity_quartiles${suffix}`, time(runs, (i) => withQ.compute(planes[i % 8][0])));
    for (const { r, index: di } of discs) {
      const f = new IntensityFeatures(di, { quartiles: true, kernel });
      const s = time(runs, (i) => f.compute(planes[i % 8][0]));
      print({
        case: `intensity_quartiles_disc${r}${suffix}`,
        size,
        objects: di.count,
        mean_px: Math.round(di.pixels.length / Math.max(1, di.count)),
        ...stats(s),
        target_ms: target('intensity_quartiles'),
      });
    }
  }
  const coloc = new ColocalizationFeatures(index, { thresholdFraction: 0.15, rwc: false });
  line('colocalization', time(runs, (i) => coloc.compute(planes[i % 8][0], planes[i % 8][1])));
  const localKernel = objectKernel(backend, 'localcorr');
  const local = new LocalCorrelation(w, h, 32, localKernel);
  local.setTemplate(tpl);
  line('local_correlation', time(runs, (i) => local.compute(planes[i % 8][0])));
  line(
    'segment_template',
    time(runs, () => {
      segmenter.segment(tpl, oo.segment, labels);
      computeShape(buildObjectIndex(labels, w, h));
    }),
  );

  // Tracked mode as the pipeline runs it on each registered frame: segment (σ blur, Otsu, labels,
  // area filter), link to the previous frame, measure area, centre, intensity, displacement, speed.
  const cfg = defaultConfig();
  const tracked = new TrackedObjects(w, h, oo.segment, cfg.objects.maxDisplacement, blurKernel);
  let tTrack = 0;
  line('tracked_frame', time(runs, (i) => tracked.measure(planes[i % 8][0], (tTrack += 1000 / 30))));

  // The whole per-frame path: MotionCorrector.push → local correlation + ObjectMeasurer.measure (intensity with quartiles, traces).
  const mc = new MotionCorrector(w, h, 1, 'uint16', mopts, backend.kernels);
  const measurer = new ObjectMeasurer(w, h, oo);
  const lc = new LocalCorrelation(w, h, 32, localKernel);
  mc.onTemplate = (t) => {
    lc.setTemplate(t);
    measurer.setTemplate(t);
  };
  let tMs = 0;
  const emit = (r: { registered: Float32Array[] }): void => {
    lc.compute(r.registered[0]);
    if (measurer.ready) measurer.measure(r.registered[0], (tMs += 1000 / 30));
  };
  for (const f of frames1.slice(0, 8)) mc.push(f, emit);
  line('objects_frame', time(runs, (i) => mc.push(frames1[8 + (i % 8)], emit)));
  mc.dispose();
}

/** A kernel of the objects stage with the WebAssembly backend (as Backend.objectKernels). */
function objectKernel(backend: Backend, name: 'localcorr' | 'blur' | 'quantiles'): WasmSource | undefined {
  return backend.name === 'wasm' ? loadKernelModuleSync(name) : undefined;
}

/** Up to `count` discs of radius r on a grid (labels 1 … count), for a controlled object count and size. */
function discLabels(w: number, h: number, count: number, r: number): Int32Array {
  const out = new Int32Array(w * h);
  const step = 2 * r + 3;
  let id = 0;
  for (let cy = r + 1; cy + r < h && id < count; cy += step) {
    for (let cx = r + 1; cx + r < w && id < count; cx += step) {
      id++;
      for (let y = -r; y <= r; y++) for (let x = -r; x <= r; x++) if (x * x + y * y <= r * r) out[(cy + y) * w + cx + x] = id;
    }
  }
  return out;
}
