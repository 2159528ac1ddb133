/**
 * Contrast for the 8-bit preview: its histogram, percentile levels on it,
 * and the 256-entry table from a preview byte to a displayed colour (levels,
 * gamma, colour map). Levels are in preview-byte units (0…255, fractional
 * allowed); a preview byte b stands for the value lo + b · (hi − lo) / 255.
 */

/** Counts of each byte value into `hist` (256 entries); returns the number of pixels. */
export function histogram256(data: Uint8Array, hist: Uint32Array): number {
  hist.fill(0);
  for (let i = 0; i < data.length; i++) hist[data[i]]++;
  return data.length;
}

/** The value of rank k (0-based) among the counted bytes. */
function rankValue(hist: ArrayLike<number>, k: number): number {
  let cum = 0;
  for (let b = 0; b < 256; b++) {
    cum += hist[b];
    if (k < cum) return b;
  }
  return 255;
}

/**
 * numpy's linear-interpolation percentile (np.percentile's default) of the
 * bytes counted in `hist`, exact: rank p/100 · (n − 1) between the two
 * neighbouring order statistics. NaN when nothing was counted.
 */
export function histPercentile(hist: ArrayLike<number>, p: number): number {
  let n = 0;
  for (let b = 0; b < 256; b++) n += hist[b];
  if (n === 0) return NaN;
  const r = (Math.min(100, Math.max(0, p)) / 100) * (n - 1);
  const k = Math.floor(r);
  const a = rankValue(hist, k);
  if (r === k || k + 1 >= n) return a;
  return a + (r - k) * (rankValue(hist, k + 1) - a);
}

/** The data value a preview byte stands for. */
export function valueOfByte(b: number, lo: number, hi: number): number {
  return lo + (b * (hi - lo)) / 255;
}

/** The (fractional) preview byte of a data value; NaN when the preview has no range. */
export function byteOfValue(v: number, lo: number, hi: number): number {
  return hi > lo ? ((v - lo) * 255) / (hi - lo) : NaN;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** RGBA packed for a Uint32Array view of ImageData on this machine. */
export function packRGBA(r: number, g: number, b: number, a = 255): number {
  return LITTLE_ENDIAN ? ((a << 24) | (b << 16) | (g << 8) | r) >>> 0 : ((r << 24) | (g << 16) | (b << 8) | a) >>> 0;
}

/**
 * out[b] = the colour of preview byte b: x = (b − black) / (white − black)
 * clamped to [0, 1], then x^gamma (gamma < 1 brightens the darks), then the
 * colour map's entry round(255 · x^gamma). With white ≤ black the table is a
 * step at black. `lut` is 256 RGBA entries.
 */
export function displayTable(black: number, white: number, gamma: number, lut: Uint8Array, out: Uint32Array): Uint32Array {
  const g = gamma > 0 && Number.isFinite(gamma) ? gamma : 1;
  for (let b = 0; b < 256; b++) {
    let x: number;
    if (white > black) x = Math.min(1, Math.max(0, (b - black) / (white - black)));
    else x = b > black ? 1 : 0;
    const i = Math.round(255 * Math.pow(x, g));
    out[b] = packRGBA(lut[4 * i], lut[4 * i + 1], lut[4 * i + 2], 255);
  }
  return out;
}

export type ContrastMode = 'auto' | 'manual';

export interface ContrastSettings {
  mode: ContrastMode;
  /** Percentiles of the preview for auto. */
  lowPct: number;
  highPct: number;
  /** Black and white levels in data units for manual (null: not set yet). */
  black: number | null;
  white: number | null;
  gamma: number;
}

/**
 * The black and white levels, in preview bytes, for the current frame:
 * percentiles of its histogram (auto), or the manual data values converted
 * through the frame's lo/hi.
 */
export function levelsFor(s: ContrastSettings, hist: ArrayLike<number>, lo: number | null, hi: number | null): { black: number; white: number } {
  if (s.mode === 'manual' && s.black !== null && s.white !== null && lo !== null && hi !== null && hi > lo) {
    return { black: byteOfValue(s.black, lo, hi), white: byteOfValue(s.white, lo, hi) };
  }
  const black = histPercentile(hist, s.lowPct);
  const white = histPercentile(hist, s.highPct);
  return Number.isNaN(black) ? { black: 0, white: 255 } : { black, white };
}
