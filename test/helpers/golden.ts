import { existsSync } from 'node:fs';
import { expect } from 'vitest';
import { fileURLToPath } from 'node:url';

/**
 * What the golden-value tests share: where the real recordings are, and the
 * encodings the generators in tools/golden/ use for images inside their JSON.
 */
export const SHARED = fileURLToPath(new URL('../../../shared/', import.meta.url));
/** ../shared/data beside the repository (absent on a fresh clone without it). */
export const HAVE_SHARED_DATA = existsSync(`${SHARED}data`);

/** Run-length encoding [value, count, value, count, …] of n pixels. */
export function decodeRle(rle: number[], n: number): Int32Array {
  const out = new Int32Array(n);
  let p = 0;
  for (let i = 0; i < rle.length; i += 2) {
    out.fill(rle[i], p, p + rle[i + 1]);
    p += rle[i + 1];
  }
  if (p !== n) throw new Error(`RLE covers ${p} pixels, expected ${n}`);
  return out;
}

/** A small image stored inline: numbers, null for NaN, and [index, ±1] pairs for ±Infinity. */
export function inlineImage(
  dtype: string,
  values: (number | null)[],
  infs: [number, number][] = [],
): Float32Array | Uint16Array | Uint8Array {
  if (dtype === 'uint16') return Uint16Array.from(values as number[]);
  if (dtype === 'uint8') return Uint8Array.from(values as number[]);
  const f = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) f[i] = values[i] === null ? NaN : (values[i] as number);
  for (const [i, s] of infs) f[i] = s * Infinity;
  return f;
}

/**
 * A feature column against its golden values: null ↔ NaN, numbers within
 * 1e-9 · max(|want|, floor) (floor 1 for values that are zero up to rounding,
 * a tiny floor for a purely relative bound).
 */
export function expectColumn(name: string, got: Float64Array, want: (number | null)[], ids: number[], floor: number): void {
  expect(got.length).toBe(want.length);
  for (let k = 0; k < want.length; k++) {
    const w = want[k];
    const g = got[k];
    const where = `${name} of label ${ids[k]}`;
    if (w === null) {
      expect(Number.isNaN(g), `${where}: expected null, got ${g}`).toBe(true);
    } else {
      expect(Math.abs(g - w) <= 1e-9 * Math.max(Math.abs(w), floor), `${where}: got ${g}, expected ${w}`).toBe(true);
    }
  }
}
