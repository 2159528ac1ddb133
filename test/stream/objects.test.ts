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

async function run(edit: Parameters<typeof replayThroughPipeline>[1]) {
  const hub: { seg: Message[]; objects: Objects[] } = { seg: [], objects: [] };
  const r = await replayThroughPipeline(uri, edit, 'auto', (topic, m) => {
    if (topic === 'segmentation') hub.seg.push(m);
    if (topic === 'objects') hub.objects.push(m as unknown as Objects);
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
