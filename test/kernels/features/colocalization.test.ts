import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readImageFile } from '../../../src/ingest/tiff.js';
import { buildObjectIndex } from '../../../src/kernels/objectIndex.js';
import {
  ColocalizationFeatures,
  type ColocalizationImage,
} from '../../../src/kernels/features/colocalization.js';
import { HAVE_SHARED_DATA, SHARED, decodeRle, inlineImage, expectColumn } from '../../helpers/golden.js';

/**
 * Colocalization features against tools/golden/colocalization.py (scipy.stats
 * pearsonr / linregress / rankdata and numpy on float64 copies of the finite
 * pixel pairs, cross-checked there against a transcription of CellProfiler's
 * MeasureColocalization code). Tolerance: |got − want| ≤ 1e-9 · max(|want|, 1e-300)
 * — purely relative: every golden value is either exactly 0 (a sum of nothing,
 * which the kernel also gives exactly) or of order 1e-3 … 1e1.
 */
interface Case {
  name: string;
  source: { kind: string; ch1?: string; ch2?: string; sum1?: number; sum2?: number };
  width: number;
  height: number;
  dtype: string;
  thresholdFraction: number;
  labelsRle: number[];
  ch1?: (number | null)[];
  ch2?: (number | null)[];
  infs1?: [number, number][];
  infs2?: [number, number][];
  ids: number[];
  features: Record<string, (number | null)[]>;
}

const golden = JSON.parse(
  readFileSync(new URL('../../golden/colocalization.json', import.meta.url), 'utf8'),
) as { cases: Case[] };
const shared = SHARED;
const haveData = HAVE_SHARED_DATA;


function caseImage(c: Case, src: (number | null)[], infs: [number, number][]): ColocalizationImage {
  return inlineImage(c.dtype, src, infs);
}

function checkCase(c: Case, ch1: ColocalizationImage, ch2: ColocalizationImage): void {
  const labels = decodeRle(c.labelsRle, c.width * c.height);
  const index = buildObjectIndex(labels, c.width, c.height);
  expect(Array.from(index.ids)).toEqual(c.ids);
  for (const rwc of [false, true]) {
    const f = new ColocalizationFeatures(index, { thresholdFraction: c.thresholdFraction, rwc });
    f.compute(ch1, ch2);
    expect(Object.keys(f.columns).sort()).toEqual(ColocalizationFeatures.names(rwc).sort());
    for (const name of Object.keys(f.columns)) expectColumn(name, f.columns[name], c.features[name], c.ids, 1e-300);
  }
}

describe('ColocalizationFeatures against the golden values', () => {
  for (const c of golden.cases.filter((c) => c.source.kind === 'inline')) {
    it(c.name, () =>
      checkCase(c, caseImage(c, c.ch1 ?? [], c.infs1 ?? []), caseImage(c, c.ch2 ?? [], c.infs2 ?? [])),
    );
  }
  const real = golden.cases.filter((c) => c.source.kind === 'shared');
  for (const c of real) {
    it.skipIf(!haveData)(`${c.name} (real data; skipped when ../shared/data is absent)`, async () => {
      const channels: Uint16Array[] = [];
      for (const [path, sum] of [
        [c.source.ch1, c.source.sum1],
        [c.source.ch2, c.source.sum2],
      ] as const) {
        const img = await readImageFile(`${shared}${path}`);
        expect([img.width, img.height, img.channels, img.dtype]).toEqual([c.width, c.height, 1, 'uint16']);
        const data = img.data as Uint16Array;
        let s = 0;
        for (let i = 0; i < data.length; i++) s += data[i];
        expect(s).toBe(sum);
        channels.push(data);
      }
      checkCase(c, channels[0], channels[1]);
    });
  }
  if (!haveData) {
    it('notes that the real-data cases are skipped', () => {
      console.warn(`colocalization: ${real.length} real-data golden case(s) skipped: ${shared}data not found`);
    });
  }
});

describe('ColocalizationFeatures edge cases', () => {
  it('columns are null before the first compute and for an object without a finite pair', () => {
    const labels = new Uint8Array([1, 1, 0, 2]);
    const index = buildObjectIndex(labels, 2, 2);
    const f = new ColocalizationFeatures(index, { rwc: true });
    for (const col of Object.values(f.columns)) expect(Array.from(col).every(Number.isNaN)).toBe(true);
    f.compute(new Float32Array([NaN, 1, 0, 5]), new Float32Array([2, Infinity, 0, 5]));
    for (const [name, col] of Object.entries(f.columns)) expect(Number.isNaN(col[0]), name).toBe(true);
    // Object 2: one pixel (5, 5): Pearson and Slope undefined; thresholds 0.75, ratios 1.
    expect(Number.isNaN(f.columns.Correlation_Pearson[1])).toBe(true);
    expect(Number.isNaN(f.columns.Correlation_Slope[1])).toBe(true);
    for (const name of ['M1', 'M2', 'Overlap', 'K1', 'K2', 'RWC1', 'RWC2']) {
      expect(f.columns[`Correlation_${name}`][1], name).toBe(1);
    }
  });

  it('uint16 at 65535 over a whole 512² image: sums stay exact, ratios exactly 1', () => {
    const w = 512;
    const h = 512;
    const index = buildObjectIndex(new Uint8Array(w * h).fill(1), w, h);
    const a = new Uint16Array(w * h);
    for (let i = 0; i < w * h; i++) a[i] = 65535 - (i & 1);
    const f = new ColocalizationFeatures(index, { rwc: true });
    f.compute(a, a);
    const c = f.columns;
    expect(c.Correlation_Pearson[0]).toBe(1);
    expect(c.Correlation_Slope[0]).toBe(1);
    for (const name of ['M1', 'M2', 'Overlap', 'K1', 'K2', 'RWC1', 'RWC2']) expect(c[`Correlation_${name}`][0]).toBe(1);
  });

  it('constant channel 1: Pearson and Slope null; constant channel 2 only: Slope 0', () => {
    const index = buildObjectIndex(new Uint8Array([1, 1, 1, 2, 2, 2]), 6, 1);
    const f = new ColocalizationFeatures(index);
    f.compute(new Uint8Array([7, 7, 7, 1, 2, 3]), new Uint8Array([1, 2, 3, 9, 9, 9]));
    expect(Number.isNaN(f.columns.Correlation_Pearson[0])).toBe(true);
    expect(Number.isNaN(f.columns.Correlation_Slope[0])).toBe(true);
    expect(Number.isNaN(f.columns.Correlation_Pearson[1])).toBe(true);
    expect(f.columns.Correlation_Slope[1]).toBe(0);
  });

  it('thresholds are inclusive (≥), as in CellProfiler', () => {
    // fraction 0.5 of max 10 = 5: the pixel (5, 5) counts as above both thresholds.
    const index = buildObjectIndex(new Uint8Array([1, 1, 1]), 3, 1);
    const f = new ColocalizationFeatures(index, { thresholdFraction: 0.5 });
    f.compute(new Uint8Array([10, 5, 4]), new Uint8Array([0, 5, 10]));
    expect(f.columns.Correlation_M1[0]).toBe(5 / 15);
    expect(f.columns.Correlation_M2[0]).toBe(5 / 15);
    expect(f.columns.Correlation_K1[0]).toBe(1);
  });

  it('RWC: dense per-object ranks, the same for every dtype and size path', () => {
    // One object large enough for the radix path and its 20 first pixels as another (insertion path).
    const w = 300;
    let seed = 99;
    const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296;
    const labels = new Uint8Array(w).fill(1);
    labels.fill(2, 0, 20);
    const a8 = new Uint8Array(w);
    const b8 = new Uint8Array(w);
    for (let i = 0; i < w; i++) {
      a8[i] = Math.floor(rand() * 40) * 6;
      b8[i] = Math.min(255, a8[i] + Math.floor(rand() * 30));
    }
    const index = buildObjectIndex(labels, w, 1);
    const results = [Uint8Array, Uint16Array, Float32Array].map((T) => {
      const f = new ColocalizationFeatures(index, { rwc: true });
      f.compute(T.from(a8), T.from(b8));
      return [f.columns.Correlation_RWC1[0], f.columns.Correlation_RWC2[0], f.columns.Correlation_RWC1[1]];
    });
    // Reference: dense ranks by sorting the distinct values.
    for (const k of [1, 2]) {
      const idx = [...labels.keys()].filter((i) => labels[i] === k);
      const x = idx.map((i) => a8[i]);
      const y = idx.map((i) => b8[i]);
      const rank = (v: number[]) => {
        const d = [...new Set(v)].sort((p, q) => p - q);
        return v.map((u) => d.indexOf(u));
      };
      const r1 = rank(x);
      const r2 = rank(y);
      const R = Math.max(...r1, ...r2) + 1;
      const t1 = 0.15 * Math.max(...x);
      const t2 = 0.15 * Math.max(...y);
      let num = 0;
      let den = 0;
      for (let j = 0; j < x.length; j++) {
        if (x[j] >= t1) den += x[j];
        if (x[j] >= t1 && y[j] >= t2) num += (x[j] * (R - Math.abs(r1[j] - r2[j]))) / R;
      }
      const want = num / den;
      for (const r of results) expect(Math.abs((k === 1 ? r[0] : r[2]) - want)).toBeLessThan(1e-12);
    }
    expect(results[1]).toEqual(results[0]);
    expect(results[2]).toEqual(results[0]);
  });

  it('refuses a bad threshold fraction and short images', () => {
    const index = buildObjectIndex(new Uint8Array([1, 1]), 2, 1);
    expect(() => new ColocalizationFeatures(index, { thresholdFraction: 1.5 })).toThrow(/thresholdFraction/);
    expect(() => new ColocalizationFeatures(index, { thresholdFraction: NaN })).toThrow(/thresholdFraction/);
    const f = new ColocalizationFeatures(index);
    expect(() => f.compute(new Uint8Array(1), new Uint8Array(2))).toThrow(RangeError);
  });

  it('empty label image: no objects, empty columns', () => {
    const index = buildObjectIndex(new Uint8Array(64), 8, 8);
    const f = new ColocalizationFeatures(index, { rwc: true });
    f.compute(new Float32Array(64), new Float32Array(64));
    for (const name of ColocalizationFeatures.names(true)) expect(f.columns[name].length).toBe(0);
  });
});
