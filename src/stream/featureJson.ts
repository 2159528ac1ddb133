import type { FeatureColumns } from '../kernels/features/columns.js';

/**
 * The JSON text of the messages that carry feature columns (objects every
 * frame, segmentation): thousands of numbers per frame, written straight into
 * bytes rather than through arrays of JS numbers, JSON.stringify and a UTF-8
 * encoder (three passes and a shortest-round-trip conversion per number; the
 * largest cost of the worker after the FFT at 200 fps with 200 objects).
 *
 * Values carry 9 significant digits (docs/design.md): features are computed in
 * float64 from float32 pixels, whose own resolution is ~6e-8 relative, and 9
 * digits round-trip any float32. The text is the one JSON.stringify gives for
 * the value rounded to 9 digits (Number.prototype.toString's layout: plain
 * decimals from 1e-6 to 1e21, exponent form outside), so records written
 * before and after this writer match. NaN and ±Infinity are null.
 */
export class FeatureJsonWriter {
  private buf = new Uint8Array(1 << 16);
  private len = 0;
  private readonly ascii = new TextEncoder();

  /**
   * `head` (small: type, seq, ids, …) serialised by JSON.stringify, then
   * `"features":{name:[values…],…}` as its last member; a buffer of its own
   * (it may be transferred to another thread).
   */
  encode(head: Record<string, unknown>, features: FeatureColumns): Uint8Array {
    this.len = 0;
    const h = JSON.stringify(head);
    this.text(h.slice(0, -1));
    this.text(h.length > 2 ? ',"features":{' : '"features":{');
    let first = true;
    for (const name in features) {
      if (!first) this.byte(44);
      first = false;
      this.text(JSON.stringify(name));
      this.byte(58);
      this.column(features[name]);
    }
    this.text('}}');
    return this.buf.slice(0, this.len);
  }

  private column(col: Float64Array): void {
    // At most 24 bytes per value and its comma: room for the whole column at once.
    this.reserve(col.length * 25 + 2);
    this.buf[this.len++] = 91;
    for (let i = 0; i < col.length; i++) {
      if (i > 0) this.buf[this.len++] = 44;
      this.number(col[i]);
    }
    this.buf[this.len++] = 93;
  }

  /** One value, 9 significant digits, in the layout of Number.prototype.toString. */
  private number(v: number): void {
    const buf = this.buf;
    if (!Number.isFinite(v)) {
      buf[this.len++] = 110; // null
      buf[this.len++] = 117;
      buf[this.len++] = 108;
      buf[this.len++] = 108;
      return;
    }
    if (v === 0) {
      buf[this.len++] = 48;
      return;
    }
    if (v < 0) {
      buf[this.len++] = 45;
      v = -v;
    }
    // v ≈ m × 10^(e − 8) with m of 9 digits (10 when rounding carries, 8 when log10 lands just above).
    const e = decimalExponent(v);
    // Scaled by a correctly rounded power of ten (two below 1e-300, where one would leave the table).
    let m = Math.round(e > 8 ? v / POW10[308 + e - 8] : e >= -300 ? v * POW10[308 + 8 - e] : v * 1e300 * POW10[16 - e]);
    let exp = e - 8;
    // m has 9 digits, 10 when rounding carried, 8 when the exponent came out one too high; each
    // trailing zero dropped below takes one off. m < 2^31: integer division from here on.
    let k = m >= 1e9 ? 10 : m >= 1e8 ? 9 : digitCount(m);
    let q = (m / 10) | 0;
    while (m === q * 10) {
      m = q;
      q = (m / 10) | 0;
      exp++;
      k--;
    }
    // ToString layout: value = 0.d1…dk × 10^n.
    const n = k + exp;
    let i = this.len;
    if (k <= n && n <= 21) {
      putDigits(buf, m, k, i);
      i += k;
      for (let j = k; j < n; j++) buf[i++] = 48;
    } else if (0 < n && n <= 21) {
      const hi = (m / POW10_INT[k - n]) | 0;
      putDigits(buf, hi, n, i);
      i += n;
      buf[i++] = 46;
      putDigits(buf, m - hi * POW10_INT[k - n], k - n, i);
      i += k - n;
    } else if (-6 < n && n <= 0) {
      buf[i++] = 48;
      buf[i++] = 46;
      for (let j = 0; j < -n; j++) buf[i++] = 48;
      putDigits(buf, m, k, i);
      i += k;
    } else {
      const d = (m / POW10_INT[k - 1]) | 0;
      buf[i++] = 48 + d;
      if (k > 1) {
        buf[i++] = 46;
        putDigits(buf, m - d * POW10_INT[k - 1], k - 1, i);
        i += k - 1;
      }
      buf[i++] = 101;
      let x = n - 1;
      buf[i++] = x < 0 ? 45 : 43;
      if (x < 0) x = -x;
      if (x >= 100) buf[i++] = 48 + ((x / 100) | 0);
      if (x >= 10) buf[i++] = 48 + (((x / 10) | 0) % 10);
      buf[i++] = 48 + (x % 10);
    }
    this.len = i;
  }

  private text(s: string): void {
    this.reserve(s.length * 3);
    this.len += this.ascii.encodeInto(s, this.buf.subarray(this.len)).written;
  }

  private byte(b: number): void {
    this.reserve(1);
    this.buf[this.len++] = b;
  }

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }
}

const POW10_INT = [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];

/** "00".."99" as ASCII pairs: two digits per division. */
const PAIRS = new Uint8Array(200);
for (let j = 0; j < 100; j++) {
  PAIRS[2 * j] = 48 + ((j / 10) | 0);
  PAIRS[2 * j + 1] = 48 + (j % 10);
}

function digitCount(m: number): number {
  let k = 1;
  while (k < 10 && m >= POW10_INT[k]) k++;
  return k;
}

/** Exactly `count` digits of x (zero-padded on the left) into buf[at, at + count). */
function putDigits(buf: Uint8Array, x: number, count: number, at: number): void {
  let p = at + count;
  while (count >= 2) {
    const q = (x / 100) | 0;
    const r = 2 * (x - q * 100);
    buf[--p] = PAIRS[r + 1];
    buf[--p] = PAIRS[r];
    x = q;
    count -= 2;
  }
  if (count === 1) buf[--p] = 48 + x;
}

/** Powers of ten from 1e-308 to 1e308 (index 308 + p), correctly rounded; exact up to 1e22. */
const POW10 = Float64Array.from({ length: 617 }, (_, i) => Number(`1e${i - 308}`));

const BITS = new Float64Array(1);
const WORDS = new Uint32Array(BITS.buffer);
/** Index of the word holding sign and exponent (1 on little-endian machines). */
const HIGH = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;

/**
 * floor(log10(v)) for v > 0, from the binary exponent and one or two table
 * comparisons: Math.log10 is a call out of optimised code, and was half the
 * writer's time.
 */
function decimalExponent(v: number): number {
  BITS[0] = v;
  const b = (WORDS[HIGH] >>> 20) & 0x7ff;
  if (b === 0) return Math.floor(Math.log10(v)); // subnormal
  let e = Math.floor((b - 1023) * 0.3010299956639812);
  if (v >= POW10[309 + e]) e++;
  else if (v < POW10[308 + e]) e--;
  return e;
}
