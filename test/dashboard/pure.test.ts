import { describe, expect, it } from 'vitest';
import { byteOfValue, displayTable, histogram256, histPercentile, levelsFor, packRGBA, valueOfByte } from '../../dashboard/src/contrast.js';
import { csv, csvField, objectTableCsv } from '../../dashboard/src/csv.js';
import { colormap, COLORMAPS } from '../../dashboard/src/lut.js';
import { decimateMinMax, Ring } from '../../dashboard/src/series.js';
import { joinColumns, parseFilter, resolveColumn, sortRows } from '../../dashboard/src/table.js';
import { decodeLabels, outlines, parsePreview } from '../../dashboard/src/wire.js';
import { seededRandom } from '../helpers/random.js';

const hex = (lut: Uint8Array, i: number) => Array.from(lut.slice(4 * i, 4 * i + 3), (v) => v.toString(16).padStart(2, '0')).join('');

describe('colour maps', () => {
  it("are matplotlib's tables (spot values from matplotlib 3.6)", () => {
    const v = colormap('viridis');
    const m = colormap('magma');
    expect([0, 1, 64, 128, 192, 254, 255].map((i) => hex(v, i))).toEqual(['440154', '440256', '3b528b', '21918c', '5ec962', 'fbe723', 'fde725']);
    expect([0, 1, 64, 128, 192, 254, 255].map((i) => hex(m, i))).toEqual(['000004', '010005', '51127c', 'b73779', 'fc8961', 'fcfbbd', 'fcfdbf']);
    expect([0, 77, 255].map((i) => hex(colormap('gray'), i))).toEqual(['000000', '4d4d4d', 'ffffff']);
  });

  it('have 256 opaque entries each, viridis brightening monotonically', () => {
    for (const name of COLORMAPS) {
      const lut = colormap(name);
      expect(lut.length).toBe(1024);
      for (let i = 0; i < 256; i++) expect(lut[4 * i + 3]).toBe(255);
    }
    const v = colormap('viridis');
    const luma = (i: number) => 0.2126 * v[4 * i] + 0.7152 * v[4 * i + 1] + 0.0722 * v[4 * i + 2];
    for (let i = 1; i < 256; i++) expect(luma(i)).toBeGreaterThanOrEqual(luma(i - 1) - 1);
  });
});

describe('contrast', () => {
  const sortPct = (values: number[], p: number) => {
    const v = [...values].sort((a, b) => a - b);
    const r = (p / 100) * (v.length - 1);
    const k = Math.floor(r);
    return k + 1 >= v.length ? v[k] : v[k] + (r - k) * (v[k + 1] - v[k]);
  };

  it('percentiles of the byte histogram are numpy-linear percentiles of the bytes', () => {
    const rnd = seededRandom(5);
    const hist = new Uint32Array(256);
    for (let trial = 0; trial < 50; trial++) {
      const n = 1 + Math.floor(rnd() * 3000);
      const data = Uint8Array.from({ length: n }, () => Math.floor(rnd() ** 3 * 256));
      expect(histogram256(data, hist)).toBe(n);
      for (const p of [0, 0.5, 1, 25, 50, 73.2, 99, 99.5, 100]) {
        expect(histPercentile(hist, p)).toBeCloseTo(sortPct(Array.from(data), p), 10);
      }
    }
    expect(histPercentile(new Uint32Array(256), 50)).toBeNaN();
    // numpy: np.percentile([0, 10, 10, 255], [0.5, 50, 99.5]) = [0.15, 10, 251.325]
    histogram256(Uint8Array.from([0, 10, 10, 255]), hist);
    expect(histPercentile(hist, 0.5)).toBeCloseTo(0.15, 12);
    expect(histPercentile(hist, 50)).toBe(10);
    expect(histPercentile(hist, 99.5)).toBeCloseTo(251.325, 12);
  });

  it('converts between bytes and data values through lo/hi', () => {
    expect(valueOfByte(0, 100, 355)).toBe(100);
    expect(valueOfByte(255, 100, 355)).toBe(355);
    expect(valueOfByte(51, 100, 355)).toBe(151);
    expect(byteOfValue(151, 100, 355)).toBe(51);
    expect(byteOfValue(5, 3, 3)).toBeNaN();
  });

  it('builds the display table: levels, gamma, colour map', () => {
    const gray = colormap('gray');
    const out = new Uint32Array(256);
    displayTable(0, 255, 1, gray, out);
    for (const b of [0, 1, 100, 255]) expect(out[b]).toBe(packRGBA(b, b, b));
    displayTable(50, 150, 1, gray, out);
    expect(out[0]).toBe(packRGBA(0, 0, 0));
    expect(out[50]).toBe(packRGBA(0, 0, 0));
    expect(out[100]).toBe(packRGBA(128, 128, 128)); // round(255 · 0.5)
    expect(out[150]).toBe(packRGBA(255, 255, 255));
    expect(out[200]).toBe(packRGBA(255, 255, 255));
    displayTable(0, 255, 0.5, gray, out);
    expect(out[64]).toBe(packRGBA(128, 128, 128)); // round(255 · sqrt(64/255)) = 128
    displayTable(100, 100, 1, gray, out); // a step
    expect([out[100], out[101]]).toEqual([packRGBA(0, 0, 0), packRGBA(255, 255, 255)]);
    const v = colormap('viridis');
    displayTable(0, 255, 1, v, out);
    expect(out[255]).toBe(packRGBA(0xfd, 0xe7, 0x25));
  });

  it('levels: auto percentiles of the histogram, or manual data values through the frame lo/hi', () => {
    const hist = new Uint32Array(256);
    histogram256(Uint8Array.from({ length: 256 }, (_, i) => i), hist);
    const auto = { mode: 'auto' as const, lowPct: 10, highPct: 90, black: null, white: null, gamma: 1 };
    expect(levelsFor(auto, hist, 0, 1)).toEqual({ black: 25.5, white: 229.5 });
    const manual = { ...auto, mode: 'manual' as const, black: 200, white: 300 };
    expect(levelsFor(manual, hist, 100, 355)).toEqual({ black: 100, white: 200 });
    // Manual without a usable lo/hi falls back to the percentiles.
    expect(levelsFor(manual, hist, null, null)).toEqual({ black: 25.5, white: 229.5 });
    expect(levelsFor(auto, new Uint32Array(256), 0, 1)).toEqual({ black: 0, white: 255 });
  });
});

describe('series', () => {
  it('a ring keeps the last `capacity` rows in order', () => {
    const r = new Ring(2, 3);
    for (let i = 0; i < 5; i++) r.push([i, i * 10]);
    expect(r.length).toBe(3);
    expect([0, 1, 2].map((i) => r.get(0, i))).toEqual([2, 3, 4]);
    expect(r.last(1)).toBe(40);
    r.push([7, null]);
    expect(r.last(1)).toBeNaN();
    r.clear();
    expect(r.length).toBe(0);
    expect(r.last(0)).toBeNaN();
  });

  it('min/max decimation keeps every extreme, aligned, within 2 points per bucket', () => {
    const n = 10_000;
    const rnd = seededRandom(9);
    const a = Float64Array.from({ length: n }, () => rnd());
    const b = Float64Array.from({ length: n }, (_, i) => (i % 1000 === 500 ? NaN : Math.sin(i / 300)));
    a[1234] = 50; // a spike
    a[8765] = -50; // a dip
    const [xs, ya, yb] = decimateMinMax(n, (i) => i, [(i) => a[i], (i) => b[i]], 200);
    expect(xs.length).toBeLessThanOrEqual(400);
    expect(ya.length).toBe(xs.length);
    expect(yb.length).toBe(xs.length);
    expect(Math.max(...(ya as number[]))).toBe(50);
    expect(Math.min(...(ya as number[]))).toBe(-50);
    for (let i = 1; i < xs.length; i++) expect(xs[i]).toBeGreaterThanOrEqual(xs[i - 1]);
    // A short series passes through unchanged, NaN as null.
    const [x2, y2] = decimateMinMax(3, (i) => i * 2, [(i) => [1, NaN, 3][i]], 200);
    expect(x2).toEqual([0, 2, 4]);
    expect(y2).toEqual([1, null, 3]);
    // A bucket with only NaN is a gap.
    const [, y3] = decimateMinMax(100, (i) => i, [(i) => (i < 50 ? NaN : i)], 10);
    expect(y3.slice(0, 2)).toEqual([null, null]);
  });
});

describe('table', () => {
  const seg = { ids: [1, 2, 3], features: { AreaShape_Area: [100, 50, 200] } };
  const obj = { ids: [3, 1, 2], features: { Intensity_MeanIntensity: [5, 7, null], Trace_DeltaFOverF: [0.1, 0.9, 0.2] } };

  it('joins segmentation and objects columns by id', () => {
    const t = joinColumns(obj.ids, seg, obj);
    expect(t.columns).toEqual(['id', 'AreaShape_Area', 'Intensity_MeanIntensity', 'Trace_DeltaFOverF']);
    expect(t.rows).toEqual([
      [3, 200, 5, 0.1],
      [1, 100, 7, 0.9],
      [2, 50, null, 0.2],
    ]);
  });

  it('sorts by any column, nulls last both ways', () => {
    const t = joinColumns(obj.ids, seg, obj);
    expect(sortRows(t.rows, 2, false).map((r) => r[0])).toEqual([3, 1, 2]);
    expect(sortRows(t.rows, 2, true).map((r) => r[0])).toEqual([1, 3, 2]);
    expect(sortRows(t.rows, 0, false).map((r) => r[0])).toEqual([1, 2, 3]);
  });

  it('filters by column comparisons, aliases, substrings, ids and id ranges', () => {
    const t = joinColumns(obj.ids, seg, obj);
    const ids = (text: string) => {
      const f = parseFilter(text, t.columns);
      if (!f.ok) throw new Error(f.error);
      return t.rows.filter(f.test).map((r) => r[0]);
    };
    expect(ids('')).toEqual([3, 1, 2]);
    expect(ids('area > 60')).toEqual([3, 1]);
    expect(ids('area>60, dff>=0.5')).toEqual([1]);
    expect(ids('MeanIntensity<6')).toEqual([3]); // null never passes
    expect(ids('2')).toEqual([2]);
    expect(ids('2-3')).toEqual([3, 2]);
    expect(ids('id!=1')).toEqual([3, 2]);
    const bad = parseFilter('intensity>3', ['id', 'Intensity_A', 'Intensity_B']);
    expect(bad.ok).toBe(false);
    expect(!bad.ok && bad.error).toMatch(/matches 2 columns/);
    expect(parseFilter('what?', t.columns).ok).toBe(false);
    expect(resolveColumn('nothing', t.columns)).toMatch(/no column/);
  });
});

describe('csv', () => {
  it('quotes where needed and leaves undefined values empty', () => {
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField(null)).toBe('');
    expect(csvField(NaN)).toBe('');
    expect(csvField(1.5)).toBe('1.5');
    expect(csv(['x', 'y'], [[1, null], ['a\nb', true]])).toBe('x,y\r\n1,\r\n"a\nb",true\r\n');
  });

  it('writes the object table with seq and t first', () => {
    expect(objectTableCsv(7, 233.3, ['id', 'AreaShape_Area'], [[1, 10], [2, null]])).toBe('seq,t,id,AreaShape_Area\r\n7,233.3,1,10\r\n7,233.3,2,\r\n');
  });
});

describe('wire', () => {
  const frame = (header: object, pixels: number) => {
    const h = new TextEncoder().encode(JSON.stringify(header));
    const buf = new ArrayBuffer(4 + h.length + pixels);
    new DataView(buf).setUint32(0, h.length, true);
    new Uint8Array(buf).set(h, 4);
    new Uint8Array(buf, 4 + h.length).fill(7);
    return buf;
  };

  it('parses a binary preview frame and refuses one that does not add up', () => {
    const header = { type: 'preview', topic: 'preview', topicSeq: 3, seq: 9, t: 1, kind: 'registered', width: 4, height: 2, lo: null, hi: 5 };
    const p = parsePreview(frame(header, 8));
    expect(p.header).toEqual(header);
    expect(Array.from(p.pixels)).toEqual([7, 7, 7, 7, 7, 7, 7, 7]);
    expect(() => parsePreview(frame(header, 7))).toThrow(/8 pixel|7 pixel/);
    expect(() => parsePreview(new ArrayBuffer(2))).toThrow();
    const big = frame(header, 8);
    new DataView(big).setUint32(0, 1e6, true);
    expect(() => parsePreview(big)).toThrow(/header/);
    expect(() => parsePreview(frame({ ...header, width: 0 }, 0))).toThrow(/size/);
  });

  it('decodes the label runs and finds outlines and centres', () => {
    // 5×4: a 3×3 square of label 2 at (1..3, 0..2), label 9 in the bottom-right corner.
    const labels = [0, 2, 2, 2, 0, 0, 2, 2, 2, 0, 0, 2, 2, 2, 0, 0, 0, 0, 0, 9];
    const rle: number[] = [];
    for (const l of labels) {
      if (rle.length && rle[rle.length - 2] === l) rle[rle.length - 1]++;
      else rle.push(l, 1);
    }
    const img = decodeLabels({ seq: 4, width: 5, height: 4, rle });
    expect(Array.from(img.labels)).toEqual(labels);
    const o = outlines(img);
    // Every pixel of the square but its centre (2, 1), and the corner pixel.
    expect(Array.from(o.pixels).sort((a, b) => a - b)).toEqual([1, 2, 3, 6, 8, 11, 12, 13, 19]);
    expect(o.centres.get(2)).toEqual({ x: 2, y: 1 });
    expect(o.centres.get(9)).toEqual({ x: 4, y: 3 });
    expect(() => decodeLabels({ seq: 0, width: 2, height: 2, rle: [0, 3] })).toThrow(/3 pixels/);
    expect(() => decodeLabels({ seq: 0, width: 2, height: 2, rle: [0, 5] })).toThrow(/more than 4/);
  });
});
