/**
 * FeatureJsonWriter (src/stream/featureJson.ts): the objects and segmentation
 * messages written as bytes. The reference for every number is the platform's
 * own correctly rounded formatting: `v.toPrecision(9)` gives the 9
 * significant digits, `String(Number(…))` the layout JSON.stringify uses. The
 * writer rounds with one multiplication by a power of ten (as the records
 * always have), which can differ from exact rounding by one unit in the 9th
 * digit when v × 10^k is not exact; nothing else may differ.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FeatureJsonWriter } from '../../src/stream/featureJson.js';

const decoder = new TextDecoder();

/** The text of one value, as written in a one-column message. */
function written(w: FeatureJsonWriter, v: number): string {
  const text = decoder.decode(w.encode({}, { a: new Float64Array([v]) }));
  const prefix = '{"features":{"a":[';
  expect(text.startsWith(prefix) && text.endsWith(']}}'), text).toBe(true);
  return text.slice(prefix.length, -3);
}

describe('FeatureJsonWriter numbers', () => {
  const w = new FeatureJsonWriter();

  it('writes the layout of Number.prototype.toString, 9 significant digits', () => {
    const cases: [number, string][] = [
      [0, '0'],
      [-0, '0'],
      [1, '1'],
      [-2.5, '-2.5'],
      [0.1, '0.1'],
      [108461.40512, '108461.405'],
      [123456789.4, '123456789'],
      [999999999.6, '1000000000'],
      [1234567891234, '1234567890000'],
      [0.000001, '0.000001'],
      [0.0000012345678912, '0.00000123456789'],
      [1e-7, '1e-7'],
      [-1.23456789123e-7, '-1.23456789e-7'],
      [1e21, '1e+21'],
      [123456789123456789012, '123456789000000000000'],
      [1.5e300, '1.5e+300'],
      [2.2250738585072014e-308, '2.22507386e-308'],
      [5e-324, '4.94065646e-324'],
      [Number.MAX_VALUE, '1.79769313e+308'],
      [NaN, 'null'],
      [Infinity, 'null'],
      [-Infinity, 'null'],
    ];
    for (const [v, text] of cases) expect(written(w, v), String(v)).toBe(text);
  });

  it('agrees with toPrecision(9) to one unit in the 9th digit, in canonical layout, at every magnitude', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (v) => {
        const text = written(w, v);
        const x = Number(text);
        // Canonical: exactly what JSON.stringify prints for the value read back (subnormals have
        // fewer than 9 digits of their own, so their 9 digits do not come back).
        if (Math.abs(v) >= 2.2250738585072014e-308) expect(text).toBe(JSON.stringify(x));
        if (v === 0) {
          expect(text).toBe('0');
          return;
        }
        const ref = Number(v.toPrecision(9));
        const unit = 10 ** (Math.floor(Math.log10(Math.abs(ref))) - 8);
        expect(Math.abs(x - ref), `${v}: ${text} vs ${ref}`).toBeLessThanOrEqual(unit * 1.000001);
      }),
      { numRuns: 20000 },
    );
  });

  it('is exact to 9 digits on the values features take (within 1e-6 … 1e9)', () => {
    fc.assert(
      fc.property(fc.double({ min: 1e-6, max: 1e9, noNaN: true }), fc.boolean(), (a, neg) => {
        const v = neg ? -a : a;
        expect(written(w, v)).toBe(JSON.stringify(Number(v.toPrecision(9))));
      }),
      { numRuns: 20000 },
    );
  });
});

describe('FeatureJsonWriter messages', () => {
  it('gives the head, then the columns as the last member, parseable and in order', () => {
    const w = new FeatureJsonWriter();
    const features = {
      Intensity_MeanIntensity: new Float64Array([1.5, 2.25, NaN]),
      Trace_EventCount: new Float64Array([0, 3, 1]),
      'Odd "name"\\é': new Float64Array([-1e-9, 7, Infinity]),
    };
    const head = { type: 'objects', seq: 12, ids: [4, 8, 15] };
    const bytes = w.encode(head, features);
    const msg = JSON.parse(decoder.decode(bytes)) as Record<string, unknown>;
    expect(Object.keys(msg)).toEqual(['type', 'seq', 'ids', 'features']);
    expect(msg).toEqual({
      ...head,
      features: {
        Intensity_MeanIntensity: [1.5, 2.25, null],
        Trace_EventCount: [0, 3, 1],
        'Odd "name"\\é': [-1e-9, 7, null],
      },
    });
    expect(Object.keys(msg.features as object)).toEqual(Object.keys(features));
  });

  it('grows past its first buffer and returns a buffer of its own each time', () => {
    const w = new FeatureJsonWriter();
    const n = 5000;
    const col = Float64Array.from({ length: n }, (_, i) => (i + 0.123456789123) * 1e4);
    const features = { a: col, b: col.map((v) => -v), c: col.map((v) => v / 1e12) };
    const first = w.encode({ type: 'objects', seq: 1 }, features);
    const second = w.encode({ type: 'objects', seq: 2 }, { a: new Float64Array([1]) });
    expect(first.buffer).not.toBe(second.buffer);
    expect(first.byteOffset).toBe(0);
    expect(first.byteLength).toBe(first.buffer.byteLength);
    const msg = JSON.parse(decoder.decode(first)) as { seq: number; features: Record<string, number[]> };
    expect(msg.seq).toBe(1);
    for (const [name, values] of Object.entries(msg.features)) {
      expect(values).toHaveLength(n);
      values.forEach((x, i) => expect(x, `${name}[${i}]`).toBe(Number(features[name as 'a'][i].toPrecision(9))));
    }
    expect(JSON.parse(decoder.decode(second))).toEqual({ type: 'objects', seq: 2, features: { a: [1] } });
  });
});
