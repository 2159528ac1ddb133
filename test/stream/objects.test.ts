import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SyntheticMicroscope, parseSyntheticUri } from '../../src/ingest/synthetic.js';
import { TiffStackWriter } from '../../src/ingest/tiffWriter.js';
import type { Message } from '../../src/stream/hub.js';
import { replayThroughPipeline } from '../helpers/pipeline.js';

/**
 * Objects in fixed mode through the whole pipeline: segmented on the template,
 * measured on every registered frame, published as columnar `segmentation`
 * and `objects` messages (DESIGN.md). Ground truth from the simulated
 * microscope: where its cells are and how bright each is over time.
 */
const W = 160;
const H = 128;
const N = 60;
const uri = `synthetic:?width=${W}&height=${H}&objects=12&noise=high-snr&drift=0.2&maxDrift=3&frames=${N}&seed=4`;

interface Objects {
  seq: number;
  ids: number[];
  features: Record<string, (number | null)[]>;
}

async function run(edit: Parameters<typeof replayThroughPipeline>[1], source = uri) {
  const hub: { seg: Message[]; objects: Objects[]; events: Message[]; heatmaps: Message[] } = { seg: [], objects: [], events: [], heatmaps: [] };
  const r = await replayThroughPipeline(source, edit, 'auto', (topic, m) => {
    if (topic === 'segmentation') hub.seg.push(m);
    if (topic === 'objects') hub.objects.push(m as unknown as Objects);
    if (topic === 'event') hub.events.push(m);
    if (topic === 'heatmap') hub.heatmaps.push(m);
  });
  return { ...r, ...hub };
}

describe('objects in fixed mode', () => {
  it('finds the simulated cells on the template and follows their intensity on every frame', async () => {
    const r = await run((c) => {
      c.template.frames = 20;
    });
    expect(r.seg).toHaveLength(1);
    const seg = r.seg[0] as unknown as Objects & { count: number };
    expect(seg.seq).toBe(0);
    const scene = new SyntheticMicroscope(parseSyntheticUri(uri)).scene;
    // Every segmented object sits on a simulated cell (its centre within 3 px of one).
    const cx = seg.features.AreaShape_Center_X as number[];
    const cy = seg.features.AreaShape_Center_Y as number[];
    let matched = 0;
    const cellOf: number[] = [];
    for (let k = 0; k < seg.count; k++) {
      let best = -1;
      let bestD = Infinity;
      scene.objects.forEach((o, i) => {
        const d = Math.hypot(o.x - cx[k], o.y - cy[k]);
        if (d < bestD) {
          bestD = d;
          best = i;
        }
      });
      cellOf.push(bestD <= 3 ? best : -1);
      if (bestD <= 3) matched++;
    }
    expect(seg.count).toBeGreaterThanOrEqual(6);
    expect(matched).toBe(seg.count);
    expect(r.objects).toHaveLength(N);
    r.objects.forEach((o, i) => {
      expect(o.seq).toBe(i);
      expect(o.ids).toEqual(seg.ids);
    });
    // The measured integrated intensity of a cell follows the simulated one over time
    // (Pearson r over the movie, for every matched cell whose brightness changes).
    let checked = 0;
    for (let k = 0; k < seg.count; k++) {
      const cell = cellOf[k];
      const truth = r.frames.map((f) => scene.objectIntensity(cell, f.t as number));
      const sd = Math.sqrt(truth.reduce((s, v) => s + (v - truth[0]) ** 2, 0) / truth.length);
      if (sd < 0.05 * truth[0]) continue;
      const meas = r.objects.map((o) => o.features.Intensity_IntegratedIntensity[k] as number);
      expect(pearson(truth, meas), `object ${seg.ids[k]}`).toBeGreaterThan(0.9);
      checked++;
    }
    expect(checked).toBeGreaterThan(0);
    // The map itself goes out on the heatmap topic, one per frame, 32-px blocks.
    expect(r.heatmaps).toHaveLength(N);
    const hm = r.heatmaps[N - 1] as unknown as { seq: number; block: number; cols: number; rows: number; r: (number | null)[] };
    expect([hm.seq, hm.block, hm.cols, hm.rows, hm.r.length]).toEqual([N - 1, 32, Math.ceil(W / 32), Math.ceil(H / 32), Math.ceil(W / 32) * Math.ceil(H / 32)]);
    // The specimen is rigid here: every frame's blockwise correlation with the template is high.
    for (const f of r.frames) {
      const lc = f.localCorrelation as { median: number; p10: number };
      expect(lc.median).toBeGreaterThan(0.8);
      expect(lc.p10).toBeLessThanOrEqual(lc.median);
    }
  });

  it('measures inside a label image given with --labels, with its own label values as ids', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'scopestream-'));
    const labels = new Uint16Array(W * H);
    // Two rectangles with labels 7 and 300 (gaps, not starting at 1).
    for (let y = 10; y < 20; y++) for (let x = 10; x < 30; x++) labels[y * W + x] = 7;
    for (let y = 50; y < 54; y++) for (let x = 100; x < 103; x++) labels[y * W + x] = 300;
    const file = path.join(dir, 'labels.tif');
    const w = new TiffStackWriter(file, W, H, 'uint16');
    w.write(labels);
    w.close();
    const r = await run((c) => {
      c.template.frames = 10;
      c.objects.labels = file;
    });
    const seg = r.seg[0] as unknown as Objects;
    expect(seg.ids).toEqual([7, 300]);
    expect(seg.features.AreaShape_Area).toEqual([200, 12]);
    expect(r.objects[5].ids).toEqual([7, 300]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('follows each object over time and reports the cells that light up as events', async () => {
    const long = `synthetic:?width=${W}&height=${H}&objects=12&noise=high-snr&drift=0.1&maxDrift=2&frames=450&fps=30&seed=8`;
    const r = await run((c) => {
      c.template.frames = 20;
    }, long);
    const seg = r.seg[0] as unknown as Objects;
    const last = r.objects[r.objects.length - 1];
    for (const name of ['Trace_RunningMean', 'Trace_RunningStd', 'Trace_Min', 'Trace_Max', 'Trace_EMA', 'Trace_Baseline', 'Trace_DeltaFOverF', 'Trace_EventCount']) {
      expect(last.features[name], name).toHaveLength(seg.ids.length);
    }
    // Running statistics of the followed feature agree with the batch ones over the whole movie.
    const k = 0;
    const trace = r.objects.map((o) => o.features.Intensity_MeanIntensity[k] as number);
    const mean = trace.reduce((a, v) => a + v, 0) / trace.length;
    expect(last.features.Trace_RunningMean[k]).toBeCloseTo(mean, 6);
    expect(last.features.Trace_Max[k]).toBe(Math.max(...trace));
    // Every event names a segmented object, and each object's count equals its events.
    const count = new Map<number, number>();
    for (const e of r.events) {
      expect(seg.ids).toContain(e.id as number);
      count.set(e.id as number, (count.get(e.id as number) ?? 0) + 1);
    }
    seg.ids.forEach((id, i) => expect(last.features.Trace_EventCount[i], `object ${id}`).toBe(count.get(id) ?? 0));
    // The simulated transients are seen. On this high-SNR movie the robust σ of ΔF/F is tiny, so
    // the k·σ rule also fires on the slow rise of pulsing cells (ΔF/F of a few %); the calcium-like
    // transients (ΔF/F ≥ 0.5) are what must be caught, within 2 frames of their onset, and every
    // large event must be one of them.
    const scene = new SyntheticMicroscope(parseSyntheticUri(long)).scene;
    const cx = seg.features.AreaShape_Center_X as number[];
    const cy = seg.features.AreaShape_Center_Y as number[];
    const cellOf = seg.ids.map((_, i) =>
      scene.objects.reduce((b, o, j) => (Math.hypot(o.x - cx[i], o.y - cy[i]) < Math.hypot(scene.objects[b].x - cx[i], scene.objects[b].y - cy[i]) ? j : b), 0),
    );
    const frameMs = 1000 / 30;
    const end = (r.frames.length - 1) * frameMs;
    let onsets = 0;
    let caught = 0;
    seg.ids.forEach((id, i) => {
      // After the first ~25 frames, which the detector needs to learn its noise.
      for (const ev of scene.objectEvents(cellOf[i], 25 * frameMs, end - 2 * frameMs)) {
        if (ev.amplitude < 0.5) continue;
        onsets++;
        if (r.events.some((e) => e.id === id && (e.t as number) >= ev.t - 1 && (e.t as number) <= ev.t + 2 * frameMs + 1)) caught++;
      }
    });
    const large = r.events.filter((e) => (e.amplitude as number) >= 0.3);
    const largeNearOnset = large.filter((e) => {
      const i = seg.ids.indexOf(e.id as number);
      return scene.objectEvents(cellOf[i], (e.t as number) - 2 * frameMs - 1, (e.t as number) + 1).length > 0;
    });
    console.log(`events | ${r.events.length} detected; ${caught}/${onsets} simulated transients caught; ${largeNearOnset.length}/${large.length} large events at a simulated onset`);
    expect(onsets).toBeGreaterThan(3);
    expect(caught / onsets).toBeGreaterThanOrEqual(0.8);
    expect(largeNearOnset.length).toBe(large.length);
  });

  it('measures colocalization per object on two-channel frames', async () => {
    const two = `synthetic:?width=${W}&height=${H}&objects=12&channels=2&noise=high-snr&drift=0.2&maxDrift=3&frames=40&seed=4`;
    const r = await run((c) => {
      c.template.frames = 20;
      c.colocalization.rwc = true;
    }, two);
    const seg = r.seg[0] as unknown as Objects;
    const scene = new SyntheticMicroscope(parseSyntheticUri(two)).scene;
    const cx = seg.features.AreaShape_Center_X as number[];
    const cy = seg.features.AreaShape_Center_Y as number[];
    const last = r.objects[r.objects.length - 1];
    for (const name of ['Correlation_Pearson', 'Correlation_Slope', 'Correlation_M1', 'Correlation_M2', 'Correlation_Overlap', 'Correlation_K1', 'Correlation_K2', 'Correlation_RWC1', 'Correlation_RWC2']) {
      expect(last.features[name], name).toHaveLength(seg.ids.length);
    }
    // Cells that are bright in both channels correlate strongly; cells absent from channel 2 do not.
    let both = 0;
    let only1 = 0;
    seg.ids.forEach((_, i) => {
      const cell = scene.objects.reduce((b, o, j) => (Math.hypot(o.x - cx[i], o.y - cy[i]) < Math.hypot(scene.objects[b].x - cx[i], scene.objects[b].y - cy[i]) ? j : b), 0);
      const rr = last.features.Correlation_Pearson[i] as number;
      if (scene.objects[cell].amplitude2 > 0) {
        expect(rr, `object ${seg.ids[i]} (in both channels)`).toBeGreaterThan(0.8);
        both++;
      } else {
        expect(rr, `object ${seg.ids[i]} (channel 1 only)`).toBeLessThan(0.5);
        only1++;
      }
    });
    expect(both).toBeGreaterThan(0);
    expect(only1).toBeGreaterThan(0);
  });

  it('segments the updated template again on its cadence, keeping the ids of the same cells', async () => {
    const r = await run((c) => {
      c.template.frames = 10;
      c.template.update = 'ema';
      c.template.rate = 0.05;
      c.objects.resegmentEvery = 15;
    });
    // 60 frames, the first 10 bootstrap (no updates): re-segmentations after updates 15, 30, 45.
    expect(r.seg.length).toBe(4);
    const first = r.seg[0] as unknown as Objects;
    for (const s of r.seg.slice(1) as unknown as Objects[]) {
      // The scene is static but for drift: the same cells, so the same ids.
      expect(s.ids).toEqual(first.ids);
      expect(s.seq).toBeGreaterThan(10);
    }
    // Objects lines always carry the ids of the latest segmentation (checked in order).
    let ids = first.ids;
    let k = 1;
    for (const o of r.objects) {
      if (k < r.seg.length && o.seq >= (r.seg[k] as unknown as Objects).seq) ids = (r.seg[k++] as unknown as Objects).ids;
      expect(o.ids).toEqual(ids);
    }
  });

  it.each(['mjs', 'ts'])('runs user-defined features (a .%s module) once per object per frame over its values', async (ext) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'scopestream-'));
    const mod = path.join(dir, `features.${ext}`);
    // The TypeScript module carries types (stripped when it is bundled in the worker).
    const typed = (js: string, ts: string): string => (ext === 'ts' ? ts : js);
    fs.writeFileSync(
      mod,
      [
        typed('export function range(values) {', 'export function range(values: Float64Array): number {') +
          ' let lo = Infinity, hi = -Infinity; for (const v of values) { if (v < lo) lo = v; if (v > hi) hi = v; } return hi - lo; }',
        typed('export function idPlusSeq(values, ctx) {', 'export function idPlusSeq(values: Float64Array, ctx: { id: number; seq: number }): number {') +
          ' return ctx.id * 1000 + ctx.seq; }',
        'export function meanX(values, ctx) { const { x } = ctx.coords(); let s = 0; for (const v of x) s += v; return s / x.length; }',
        "export function broken() { throw new Error('no'); }",
        'export const notAFeature = 3;',
      ].join('\n'),
    );
    const r = await run((c) => {
      c.template.frames = 10;
      c.objects.custom = mod;
    });
    const seg = r.seg[0] as unknown as Objects;
    // Record values carry 9 significant digits (docs/features.md): each of a, b is within
    // 5e-9 relative of its exact value, so exact equalities hold to 1e-8 of the magnitudes.
    const near = (a: number, b: number, scale: number): void => expect(Math.abs(a - b)).toBeLessThanOrEqual(1e-8 * scale);
    for (const o of r.objects) {
      const f = o.features;
      seg.ids.forEach((id, k) => {
        const max = f.Intensity_MaxIntensity[k] as number;
        const min = f.Intensity_MinIntensity[k] as number;
        near(f.Custom_range[k] as number, max - min, Math.abs(max) + Math.abs(min) + Math.abs(max - min));
        expect(f.Custom_idPlusSeq[k]).toBe(id * 1000 + o.seq);
        // The mean column of the pixels is the plain centroid's x.
        const cx = seg.features.AreaShape_Center_X[k] as number;
        near(f.Custom_meanX[k] as number, cx, 2 * Math.abs(cx));
        expect(f.Custom_broken[k]).toBeNull();
      });
      expect('Custom_notAFeature' in f).toBe(false);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('tracks the objects of every registered frame in tracked mode', async () => {
    const r = await run((c) => {
      c.template.frames = 10;
      c.objects.mode = 'tracked';
    });
    expect(r.objects).toHaveLength(N);
    // The simulated cells do not move once registered: the tracks found on the first frame last,
    // with speeds of a fraction of a pixel per frame (noise), and a segmentation line only when
    // the set of tracks changes.
    const first = r.seg[0] as unknown as Objects & { births: number[] };
    expect(first.seq).toBe(0);
    expect(first.births).toEqual(first.ids);
    // Some cells blink below the threshold for a while and come back as new tracks (no gap closing).
    const persistent = first.ids.filter((id) => r.objects.every((o) => o.ids.includes(id)));
    console.log(`tracked | ${first.ids.length} tracks on frame 0, ${persistent.length} through all ${N} frames, ${r.seg.length} segmentation lines`);
    expect(persistent.length).toBeGreaterThanOrEqual(first.ids.length / 2);
    const fps = 30;
    for (const o of r.objects.slice(1)) {
      for (const id of persistent) {
        const k = o.ids.indexOf(id);
        expect(o.features.Track_Speed[k] as number).toBeLessThan(0.5 * fps);
      }
    }
    expect(r.seg.length).toBeLessThan(N / 2);
  });

  it('publishes nothing about objects with objects.mode none', async () => {
    const r = await run((c) => {
      c.template.frames = 10;
      c.objects.mode = 'none';
    });
    expect(r.seg).toHaveLength(0);
    expect(r.objects).toHaveLength(0);
  });
});

function pearson(a: number[], b: number[]): number {
  const n = a.length;
  const ma = a.reduce((s, v) => s + v, 0) / n;
  const mb = b.reduce((s, v) => s + v, 0) / n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) ** 2;
    sbb += (b[i] - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}
