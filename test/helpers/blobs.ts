import { seededRandom } from './random.js';

/**
 * A textured field of Gaussian blobs rendered analytically at a sub-pixel
 * offset: frame(y, x) = field(y − dy, x − dx). No interpolation, so the
 * true shift is exact. Independent of the simulated microscope on purpose.
 */
export interface Blob {
  y: number;
  x: number;
  s: number;
  a: number;
}

export function makeBlobs(h: number, w: number, seed: number, margin = 12): Blob[] {
  const r = seededRandom(seed);
  const n = Math.max(20, Math.round(((h + 2 * margin) * (w + 2 * margin)) / 300));
  return Array.from({ length: n }, () => ({
    y: -margin + r() * (h + 2 * margin),
    x: -margin + r() * (w + 2 * margin),
    s: 1.5 + r() * 3,
    a: 50 + r() * 500,
  }));
}

export function renderBlobs(blobs: Blob[], h: number, w: number, dy: number, dx: number, background = 100): Float64Array {
  const img = new Float64Array(h * w).fill(background);
  for (const b of blobs) {
    const cy = b.y + dy;
    const cx = b.x + dx;
    const r = Math.ceil(4 * b.s);
    const y0 = Math.max(0, Math.floor(cy - r));
    const y1 = Math.min(h - 1, Math.ceil(cy + r));
    const x0 = Math.max(0, Math.floor(cx - r));
    const x1 = Math.min(w - 1, Math.ceil(cx + r));
    const k = -0.5 / (b.s * b.s);
    for (let y = y0; y <= y1; y++) {
      const gy = Math.exp(k * (y - cy) * (y - cy));
      for (let x = x0; x <= x1; x++) img[y * w + x] += b.a * gy * Math.exp(k * (x - cx) * (x - cx));
    }
  }
  return img;
}
