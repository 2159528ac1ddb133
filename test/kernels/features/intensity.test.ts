import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readImageFile } from '../../../src/ingest/tiff.js';
import { buildObjectIndex } from '../../../src/kernels/objectIndex.js';
import { IntensityFeatures, type IntensityImage } from '../../../src/kernels/features/intensity.js';
import { loadKernelModuleSync } from '../../../src/stream/wasmModule.js';
import { HAVE_SHARED_DATA, SHARED, decodeRle, inlineImage, expectColumn } from '../../helpers/golden.js';

/**
 * Intensity features against tools/golden/features.py (numpy on float64 copies of
 * the finite pixels, cross-checked there with scikit-image regionprops).
 * Tolerance: |got − want| ≤ 1e-9 · max(|want|, 1). The floor of 1 (one grey
 * level, one pixel) is there for values that are 0 up to rounding (a mass
 * displacement of a symmetric object, a standard deviation of near-equal values),
 * which no relative tolerance can compare.
 */
interface Case {
  name: string;
  source: { kind: string; path?: string; greenSum?: number };
  width: number;
  height: number;
  dtype?: string;
  labelsRle: number[];
  image?: (number | null)[];
  infs?: [number, number][];
  ids: number[];
  intensity?: Record<string, (number | null)[]>;
}

const golden = JSON.parse(readFileSync(new URL('../../golden/features.json', import.meta.url), 'utf8')) as { cases: Case[] };
const shared = SHARED;
const haveData = HAVE_SHARED_DATA;
/** The compiled `quantiles` kernel (dist/kernels/quantiles.wasm, built by `npm run build`). */
const quantilesKernel = loadKernelModuleSync('quantiles');


function caseImage(c: Case): IntensityImage {
  return inlineImage(c.dtype as string, c.image as (number | null)[], c.infs ?? []);
}

function checkCase(c: Case, image: IntensityImage): void {
  const labels = decodeRle(c.labelsRle, c.width * c.height);
  const index = buildObjectIndex(labels, c.width, c.height);
  expect(Array.from(index.ids)).toEqual(c.ids);
  // The TypeScript path (the reference) and the WebAssembly quantiles.
  for (const kernel of [undefined, quantilesKernel]) {
    const f = new IntensityFeatures(index, { quartiles: true, kernel });
    f.compute(image);
    const want = c.intensity as Record<string, (number | null)[]>;
    expect(Object.keys(f.columns).sort()).toEqual(Object.keys(want).sort());
    for (const name of Object.keys(want)) expectColumn(name, f.columns[name], want[name], c.ids, 1);
  }
}

function snapshot(f: IntensityFeatures): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const [k, v] of Object.entries(f.columns)) out[k] = Array.from(v);
  return out;
}

describe('IntensityFeatures against the golden values', () => {
  for (const c of golden.cases.filter((c) => c.source.kind === 'inline' && c.intensity)) {
    it(`${c.name}`, () => checkCase(c, caseImage(c)));
  }
  const real = golden.cases.filter((c) => c.source.kind === 'shared');
  for (const c of real) {
    it.skipIf(!haveData)(`${c.name} (real data; skipped when ../shared/data is absent)`, async () => {
      const img = await readImageFile(`${shared}${c.source.path}`);
      expect([img.width, img.height, img.channels]).toEqual([c.width, c.height, 3]);
      const n = c.width * c.height;
      const green = (img.data as Uint8Array).slice(n, 2 * n); // channel-planar: plane 1
      let sum = 0;
      for (let i = 0; i < n; i++) sum += green[i];
      expect(sum).toBe(c.source.greenSum);
      checkCase(c, green);
    });
  }
  if (!haveData) {
    it('notes that the real-data cases are skipped', () => {
      console.warn(`features: ${real.length} real-data golden case(s) skipped: ${shared}data not found`);
    });
  }
});

describe('IntensityFeatures edge cases', () => {
  it('uint16 and uint8 at their maximum over a whole 512² image: no overflow', () => {
    const w = 512;
    const h = 512;
    const labels = new Uint8Array(w * h).fill(1);
    const index = buildObjectIndex(labels, w, h);
    for (const [img, max] of [
      [new Uint16Array(w * h).fill(65535), 65535],
      [new Uint8Array(w * h).fill(255), 255],
    ] as const) {
      const f = new IntensityFeatures(index);
      f.compute(img);
      const c = f.columns;
      expect(c.Intensity_IntegratedIntensity[0]).toBe(max * w * h);
      expect(c.Intensity_MeanIntensity[0]).toBe(max);
      expect(c.Intensity_StdIntensity[0]).toBe(0);
      expect(c.Intensity_MedianIntensity[0]).toBe(max);
      expect(c.Intensity_MADIntensity[0]).toBe(0);
      expect(c.Location_CenterMassIntensity_X[0]).toBe(255.5);
      expect(c.Location_CenterMassIntensity_Y[0]).toBe(255.5);
      expect(c.Intensity_MassDisplacement[0]).toBe(0);
      expect([c.Location_MaxIntensity_X[0], c.Location_MaxIntensity_Y[0]]).toEqual([0, 0]);
      // One object filling the image has no edge pixel (the image border is not an edge).
      expect(Number.isNaN(c.Intensity_MeanIntensityEdge[0])).toBe(true);
      expect(Number.isNaN(c.Intensity_IntegratedIntensityEdge[0])).toBe(true);
    }
  });

  it('uint16 products near the maximum: Σ x·X stays exact', () => {
    const w = 300;
    const h = 2;
    const labels = new Uint8Array(w * h).fill(7);
    const img = new Uint16Array(w * h);
    for (let i = 0; i < w * h; i++) img[i] = 65535 - (i % 3);
    const f = new IntensityFeatures(buildObjectIndex(labels, w, h));
    f.compute(img);
    let s = 0;
    let sx = 0;
    for (let i = 0; i < w * h; i++) {
      s += img[i];
      sx += img[i] * (i % w);
    }
    expect(f.columns.Intensity_IntegratedIntensity[0]).toBe(s);
    expect(f.columns.Location_CenterMassIntensity_X[0]).toBe(sx / s);
  });

  it('empty label image: no objects, empty columns', () => {
    const index = buildObjectIndex(new Uint8Array(64 * 48), 64, 48);
    const f = new IntensityFeatures(index);
    f.compute(new Float32Array(64 * 48));
    expect(index.count).toBe(0);
    for (const name of IntensityFeatures.names(true)) expect(f.columns[name].length).toBe(0);
  });

  it('ten thousand one-pixel objects', () => {
    const w = 200;
    const h = 200;
    const labels = new Int32Array(w * h);
    const img = new Uint16Array(w * h);
    let next = 1;
    for (let y = 0; y < h; y += 2) for (let x = 0; x < w; x += 2) labels[y * w + x] = next++;
    for (let i = 0; i < w * h; i++) img[i] = (i * 7919) % 65536;
    const index = buildObjectIndex(labels, w, h);
    expect(index.count).toBe(10000);
    const f = new IntensityFeatures(index);
    f.compute(img);
    const c = f.columns;
    for (let k = 0; k < index.count; k++) {
      const i = index.pixels[index.offsets[k]];
      const v = img[i];
      expect(c.Intensity_MeanIntensity[k]).toBe(v);
      expect(c.Intensity_StdIntensity[k]).toBe(0);
      expect(c.Intensity_MedianIntensity[k]).toBe(v);
      expect(c.Intensity_LowerQuartileIntensity[k]).toBe(v);
      expect(c.Intensity_UpperQuartileIntensity[k]).toBe(v);
      expect(c.Intensity_MADIntensity[k]).toBe(0);
      expect(c.Intensity_MeanIntensityEdge[k]).toBe(v);
      expect(c.Location_MaxIntensity_X[k]).toBe(i % w);
      if (v === 0) expect(Number.isNaN(c.Location_CenterMassIntensity_X[k])).toBe(true);
      else expect(c.Intensity_MassDisplacement[k]).toBe(0);
    }
  });

  it('quantiles by selection equal a sort-based reference (many ties)', () => {
    const w = 64;
    const h = 64;
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296);
    const labels = new Int32Array(w * h);
    for (let i = 0; i < w * h; i++) labels[i] = 1 + Math.floor(rand() * 5) + (i < 2000 ? 0 : 5);
    const img = new Uint8Array(w * h);
    for (let i = 0; i < w * h; i++) img[i] = rand() < 0.3 ? 255 : Math.floor(rand() * 8);
    const index = buildObjectIndex(labels, w, h);
    const f = new IntensityFeatures(index);
    f.compute(img);
    const lerp = (a: number, b: number, t: number) => (t >= 0.5 ? b - (b - a) * (1 - t) : a + (b - a) * t);
    const q = (s: number[], p: number) => {
      const pos = (s.length - 1) * p;
      const i = Math.floor(pos);
      return lerp(s[i], s[Math.min(i + 1, s.length - 1)], pos - i);
    };
    for (let k = 0; k < index.count; k++) {
      const v: number[] = [];
      for (let p = index.offsets[k]; p < index.offsets[k + 1]; p++) v.push(img[index.pixels[p]]);
      v.sort((a, b) => a - b);
      const med = q(v, 0.5);
      expect(f.columns.Intensity_MedianIntensity[k]).toBe(med);
      expect(f.columns.Intensity_LowerQuartileIntensity[k]).toBe(q(v, 0.25));
      expect(f.columns.Intensity_UpperQuartileIntensity[k]).toBe(q(v, 0.75));
      const d = v.map((x) => Math.abs(x - med)).sort((a, b) => a - b);
      expect(f.columns.Intensity_MADIntensity[k]).toBe(q(d, 0.5));
    }
  });

  it('float32 quantiles by buckets equal a sort-based reference (ties, outliers, negatives, NaN/Inf, large objects)', () => {
    const w = 256;
    const h = 256;
    let seed = 777;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296);
    const lerp = (a: number, b: number, t: number) => (t >= 0.5 ? b - (b - a) * (1 - t) : a + (b - a) * t);
    const q = (s: number[], p: number) => {
      const pos = (s.length - 1) * p;
      const i = Math.floor(pos);
      return lerp(s[i], s[Math.min(i + 1, s.length - 1)], pos - i);
    };
    // Object sizes from 49 (just above insertion sort) to 40 000 (more than 2^15 buckets' worth).
    const labels = new Int32Array(w * h);
    let next = 0;
    let id = 0;
    for (const size of [49, 50, 63, 64, 65, 100, 169, 373, 500, 1000, 1500, 3000, 6000, 12000]) {
      id++;
      for (let j = 0; j < size; j++) labels[next++] = id;
    }
    id++;
    while (next < w * h) labels[next++] = id; // the rest: one object of ≈ 40 000 pixels
    const index = buildObjectIndex(labels, w, h);
    const f = new IntensityFeatures(index);
    const kinds: ((i: number) => number)[] = [
      () => 100 + rand() * 3000, // smooth
      () => Math.floor(rand() * 12) * 0.5, // few distinct values, many ties
      () => (rand() < 0.01 ? 1e30 : 50 + rand()), // far outliers: crowded buckets → selection
      () => (rand() - 0.5) * 1e-3 * 10 ** Math.floor(rand() * 8), // negatives, many magnitudes
      () => (rand() < 0.05 ? NaN : rand() < 0.05 ? -Infinity : rand() < 0.05 ? Infinity : rand() * 7), // non-finite left out
      () => 3.25, // all equal
      () => (rand() < 0.5 ? 0 : 65535), // two values
      (i) => (i % 97) * 1.5 + Math.fround(rand()), // warped-like: non-integer, clustered
      () => (rand() < 0.05 ? 5000 + rand() * 1000 : 100 + rand() * 10), // a bright tail: buckets span mean ± 4σ, the tail in the last
      () => 3e5 + rand() * 0.1, // bright and flat: Σx²/n − mean² cancels (σ estimate unusable, min … max instead)
      () => (rand() < 0.5 ? -1 : 1) * (rand() < 0.02 ? 1e4 : 1 + rand()), // symmetric with far values both sides: the MAD's two ranges
    ];
    for (const kind of kinds) {
      const img = new Float32Array(w * h);
      for (let i = 0; i < img.length; i++) img[i] = kind(i);
      f.compute(img);
      for (let k = 0; k < index.count; k++) {
        const v: number[] = [];
        for (let p = index.offsets[k]; p < index.offsets[k + 1]; p++) {
          const x = img[index.pixels[p]];
          if (Number.isFinite(x)) v.push(x);
        }
        v.sort((a, b) => a - b);
        const med = q(v, 0.5);
        const where = `kind ${kinds.indexOf(kind)}, object ${k} (${v.length} values)`;
        expect(f.columns.Intensity_MedianIntensity[k], where).toBe(med);
        expect(f.columns.Intensity_LowerQuartileIntensity[k], where).toBe(q(v, 0.25));
        expect(f.columns.Intensity_UpperQuartileIntensity[k], where).toBe(q(v, 0.75));
        const d = v.map((x) => Math.abs(x - med)).sort((a, b) => a - b);
        expect(f.columns.Intensity_MADIntensity[k], where).toBe(q(d, 0.5));
      }
    }
  });

  it('compute twice gives identical results (no state leak), also after another image', () => {
    const c = golden.cases.find((c) => c.name === 'synthetic-float32') as Case;
    const labels = decodeRle(c.labelsRle, c.width * c.height);
    const index = buildObjectIndex(labels, c.width, c.height);
    const img = caseImage(c);
    const f = new IntensityFeatures(index);
    f.compute(img);
    const first = snapshot(f);
    f.compute(img);
    expect(snapshot(f)).toEqual(first);
    f.compute(new Float32Array(img.length).fill(3));
    f.compute(img);
    expect(snapshot(f)).toEqual(first);
  });

  it('quartiles on demand: skipped frames keep the last exact values; names without quartiles', () => {
    const c = golden.cases.find((c) => c.name === 'synthetic-uint16') as Case;
    const index = buildObjectIndex(decodeRle(c.labelsRle, c.width * c.height), c.width, c.height);
    const img = caseImage(c) as Uint16Array;
    const f = new IntensityFeatures(index, { quartiles: true });
    f.compute(img, true);
    const med = Array.from(f.columns.Intensity_MedianIntensity);
    const other = img.map((v) => v >> 1);
    f.compute(other, false);
    expect(Array.from(f.columns.Intensity_MedianIntensity)).toEqual(med);
    expect(f.columns.Intensity_MeanIntensity[1]).not.toBe(c.intensity?.Intensity_MeanIntensity[1]);
    const g = new IntensityFeatures(index, { quartiles: false });
    expect(Object.keys(g.columns).sort()).toEqual(IntensityFeatures.names(false).sort());
    expect(IntensityFeatures.names(false)).not.toContain('Intensity_MedianIntensity');
    g.compute(img);
    expect(() => g.compute(img, true)).toThrow(RangeError);
    expect(() => g.compute(img.subarray(1))).toThrow(RangeError);
  });

  it('compute and its helpers contain no allocation (no new, no array literal, no closure)', () => {
    const proto = IntensityFeatures.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
    for (const name of ['compute', 'quartilesOf', 'radixSort', 'fromSorted', 'bySelection', 'floatQuartiles', 'madOf', 'valueBucket', 'markRanks', 'decode', 'unsorted']) {
      const src = proto[name].toString();
      // Argument errors are thrown before any work; only their path allocates.
      const body = src.slice(src.indexOf('{')).replace(/throw new RangeError\([^;]*\);/g, '');
      expect(body, name).not.toMatch(/\bnew\b/);
      expect(body, name).not.toMatch(/=>|\bfunction\b/);
      expect(body, name).not.toMatch(/[=(,:]\s*\[/);
      expect(body, name).not.toMatch(/[=(,:]\s*\{/);
      expect(body, name).not.toMatch(/\.(subarray|slice|map|filter|from)\(/);
    }
  });
});

describe('IntensityFeatures with the WebAssembly quantiles kernel', () => {
  /** Every column of `a` and `b`, value by value with Object.is (bit for bit; NaN equals NaN). */
  function expectSame(a: IntensityFeatures, b: IntensityFeatures, where: string, sizes: Int32Array): void {
    expect(Object.keys(b.columns).sort()).toEqual(Object.keys(a.columns).sort());
    for (const [name, col] of Object.entries(a.columns)) {
      const other = b.columns[name];
      for (let k = 0; k < col.length; k++) {
        if (!Object.is(col[k], other[k])) {
          expect.fail(`${where}, ${name}, object ${k} (${sizes[k]} pixels): TypeScript ${col[k]}, WebAssembly ${other[k]}`);
        }
      }
    }
  }

  it('gives the TypeScript path\'s values bit for bit on random objects (sizes 1 … 2000, NaN/±Inf, ties, constants, integer and float data)', () => {
    const w = 384;
    const h = 256;
    let seed = 2024;
    const rand = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296;
    // Every size from 1 to 64 (both sides of the insertion-sort limit), then random sizes up to
    // 2000 and a few at the limit; pixels scattered over the image (labels shuffled).
    const labels = new Int32Array(w * h);
    let next = 0;
    let id = 0;
    const place = (size: number): void => {
      id++;
      for (let j = 0; j < size && next < w * h; j++) labels[next++] = id;
    };
    for (let size = 1; size <= 64; size++) place(size);
    for (const size of [1999, 2000, 2000]) place(size);
    while (next < w * h) place(1 + Math.floor(rand() * rand() * 2000));
    for (let i = labels.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      const t = labels[i];
      labels[i] = labels[j];
      labels[j] = t;
    }
    const index = buildObjectIndex(labels, w, h);
    const sizes = new Int32Array(index.count);
    for (let k = 0; k < index.count; k++) sizes[k] = index.offsets[k + 1] - index.offsets[k];
    const ts = new IntensityFeatures(index);
    const wasm = new IntensityFeatures(index, { kernel: quantilesKernel });
    const gauss = (): number => rand() + rand() + rand() + rand() - 2;
    const kinds: [string, (i: number) => number][] = [
      ['normal', () => 100 + 30 * gauss()],
      ['uniform', () => 100 + rand() * 3000],
      ['uint8-like', () => Math.floor(rand() * 256)],
      ['uint16-like', () => Math.floor(rand() * 65536)],
      ['uint16 near saturation', () => Math.min(65535, 60000 + Math.floor(rand() * 8000))],
      ['few values, many ties', () => Math.floor(rand() * 12) * 0.5],
      ['two values', () => (rand() < 0.5 ? 0 : 65535)],
      ['constant', () => 3.25],
      ['constant zero', () => 0],
      ['NaN and ±Inf left out', () => (rand() < 0.1 ? NaN : rand() < 0.05 ? -Infinity : rand() < 0.05 ? Infinity : rand() * 7)],
      ['mostly NaN', () => (rand() < 0.9 ? NaN : 10 + rand())],
      ['far outliers', () => (rand() < 0.01 ? 1e30 : 50 + rand())],
      ['bright tail', () => (rand() < 0.05 ? 5000 + rand() * 1000 : 100 + rand() * 10)],
      ['bright and flat', () => 3e5 + rand() * 0.1],
      ['symmetric, far values both sides', () => (rand() < 0.5 ? -1 : 1) * (rand() < 0.02 ? 1e4 : 1 + rand())],
      ['negatives, many magnitudes', () => (rand() - 0.5) * 1e-3 * 10 ** Math.floor(rand() * 8)],
      ['powers of two', () => 2 ** Math.floor(rand() * 200 - 100)],
      ['±float32 max', () => (rand() < 0.5 ? -3.4e38 : 3.4e38) * rand()],
      ['denormals and zeros', () => (rand() < 0.3 ? 0 : rand() * 1e-40)],
      ['warped-like, clustered', (i) => (i % 97) * 1.5 + Math.fround(rand())],
    ];
    for (const [name, kind] of kinds) {
      const img = new Float32Array(w * h);
      for (let i = 0; i < img.length; i++) img[i] = kind(i);
      ts.compute(img);
      wasm.compute(img);
      expectSame(ts, wasm, `float32 ${name}`, sizes);
    }
    // Integer images take the TypeScript path's counting/radix sort.
    const u16 = new Uint16Array(w * h);
    const u8 = new Uint8Array(w * h);
    for (const [name, kind] of kinds.slice(0, 8)) {
      for (let i = 0; i < u16.length; i++) {
        const v = Math.abs(Math.floor(kind(i)));
        u16[i] = v % 65536;
        u8[i] = v % 256;
      }
      ts.compute(u16);
      wasm.compute(u16);
      expectSame(ts, wasm, `uint16 ${name}`, sizes);
      ts.compute(u8);
      wasm.compute(u8);
      expectSame(ts, wasm, `uint8 ${name}`, sizes);
    }
  });

  it('keeps the sign of a zero as the TypeScript path does (input order up to 48 values, −0 before +0 above)', () => {
    // Two −0 at the median's ranks give a −0 median (lerp(−0, −0, ½) = −0), one −0 and one +0
    // give +0. Up to 48 values both paths sort by insertion (stable: zeros in input order);
    // above, the reference's buckets order −0 before +0 as the kernel does. (Where the reference
    // falls back to in-place selection, a crowded bucket, the order of its zeros is arbitrary
    // and the sign of a zero result may differ; records print both as 0.)
    const w = 110;
    const labels = new Int32Array(w);
    labels.fill(1, 0, 10);
    labels.fill(2, 10, 110);
    const index = buildObjectIndex(labels, w, 1);
    const img = new Float32Array(w);
    img.set([3, 0, 0, -0, 0, -0, -0, 5, 6, 7]); // sorted in input order: ranks 4 and 5 are −0
    // 100 values: 36 negative, 24 × +0 then 16 × −0, 24 positive → ranks 49, 50 are −0 in key order.
    for (let j = 0; j < 100; j++) img[10 + j] = j < 36 ? -1 - j : j < 60 ? 0 : j < 76 ? -0 : 1 + j;
    const ts = new IntensityFeatures(index);
    const wasm = new IntensityFeatures(index, { kernel: quantilesKernel });
    ts.compute(img);
    wasm.compute(img);
    expectSame(ts, wasm, 'signed zeros', new Int32Array([10, 100]));
    expect(Object.is(wasm.columns.Intensity_MedianIntensity[0], -0)).toBe(true);
    expect(Object.is(wasm.columns.Intensity_MedianIntensity[1], -0)).toBe(true);
  });

  it('skips and keeps the quartiles like the TypeScript path; without quartiles the kernel is not used', () => {
    const c = golden.cases.find((c) => c.name === 'synthetic-float32') as Case;
    const index = buildObjectIndex(decodeRle(c.labelsRle, c.width * c.height), c.width, c.height);
    const img = caseImage(c) as Float32Array;
    const ts = new IntensityFeatures(index);
    const wasm = new IntensityFeatures(index, { kernel: quantilesKernel });
    const sizes = new Int32Array(index.count);
    ts.compute(img);
    wasm.compute(img);
    const other = img.map((v) => v * 0.5 + 1);
    ts.compute(other, false);
    wasm.compute(other, false);
    expectSame(ts, wasm, 'after a frame without quartiles', sizes);
    ts.compute(other);
    wasm.compute(other);
    expectSame(ts, wasm, 'the next frame with quartiles', sizes);
    const plain = new IntensityFeatures(index, { quartiles: false, kernel: quantilesKernel });
    plain.compute(img);
    expect(Object.keys(plain.columns).sort()).toEqual(IntensityFeatures.names(false).sort());
  });
});
