import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import {
  NOISE_PRESET_PARAMS,
  SYNTHETIC_DEFAULTS,
  SyntheticMicroscope,
  SyntheticSource,
  parseSyntheticUri,
  type SyntheticOptions,
} from '../../src/ingest/synthetic.js';
import { CameraNoise, Rng, normalCdf, normalTable, roundedNormalVariance } from '../../src/kernels/rng.js';

// ───────────────────────────── helpers ─────────────────────────────

/** Expected counts at pixel (y, x) of channel c, evaluated blob by blob (the documented model). */
function bruteExpected(mic: SyntheticMicroscope, dy: number, dx: number, tMs: number, y: number, x: number, c = 0, truncate = true): number {
  const sc = mic.scene;
  let v = sc.offset;
  const add = (cy: number, cx: number, sigma: number, amp: number, radius: number): void => {
    const py = cy + dy;
    const px = cx + dx;
    if (truncate && (Math.abs(y - py) > radius || Math.abs(x - px) > radius)) return;
    v += amp * Math.exp(-((y - py) ** 2 + (x - px) ** 2) / (2 * sigma * sigma));
  };
  for (const b of sc.textureBlobs(c)) add(b.y, b.x, b.sigma, b.amplitude, b.radius);
  sc.objects.forEach((o, i) => add(o.y, o.x, o.sigma, sc.objectIntensity(i, tMs, c), sc.cellRadius(i)));
  return v;
}

function round16(v: number): number {
  return v <= 0 ? 0 : v >= 65534.5 ? 65535 : Math.floor(v + 0.5);
}

function meanVar(a: ArrayLike<number>): { mean: number; variance: number; n: number } {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]!;
  const mean = s / a.length;
  let v = 0;
  for (let i = 0; i < a.length; i++) v += (a[i]! - mean) ** 2;
  return { mean, variance: v / (a.length - 1), n: a.length };
}

/** Poisson pmf. */
function poissonPmf(lam: number, k: number): number {
  let p = Math.exp(-lam);
  for (let j = 1; j <= k; j++) p *= lam / j;
  return p;
}

function bytesEqual(a: Uint16Array, b: Uint16Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// ───────────────────────────── URI ─────────────────────────────

describe('parseSyntheticUri', () => {
  it('gives the defaults for synthetic: and synthetic:?', () => {
    for (const uri of ['synthetic:', 'synthetic:?']) {
      const o = parseSyntheticUri(uri);
      expect(o).toEqual({ ...SYNTHETIC_DEFAULTS });
      expect(o.frames).toBeUndefined();
    }
    expect(SYNTHETIC_DEFAULTS).toMatchObject({ width: 512, height: 512, fps: 30, objects: 50, seed: 1, drift: 0.15, maxDrift: 8, jumpRate: 0.002, noise: 'moderate', readNoise: 3, gain: 1, offset: 100, channels: 1 });
  });

  it('reads every parameter', () => {
    const o = parseSyntheticUri(
      'synthetic:?width=640&height=480&fps=200&objects=12&seed=7&drift=0.3&maxDrift=5.5&jumpRate=0.01&noise=low-snr&readNoise=2.5&gain=1.5&offset=10&channels=2&frames=99',
    );
    const want: SyntheticOptions = { width: 640, height: 480, fps: 200, objects: 12, seed: 7, drift: 0.3, maxDrift: 5.5, jumpRate: 0.01, noise: 'low-snr', readNoise: 2.5, gain: 1.5, offset: 10, channels: 2, frames: 99 };
    expect(o).toEqual(want);
  });

  it('takes the read noise of the preset unless given', () => {
    expect(parseSyntheticUri('synthetic:?noise=low-snr').readNoise).toBe(5);
    expect(parseSyntheticUri('synthetic:?noise=high-snr').readNoise).toBe(3);
    expect(parseSyntheticUri('synthetic:?noise=none').readNoise).toBe(0);
    expect(parseSyntheticUri('synthetic:?noise=low-snr&readNoise=1').readNoise).toBe(1);
    expect(NOISE_PRESET_PARAMS['low-snr'].scale).toBe(0.05);
    expect(NOISE_PRESET_PARAMS['high-snr'].scale).toBe(10);
  });

  const bad: [string, string, string][] = [
    ['width', 'abc', 'an integer 16..8192'],
    ['width', '15', 'an integer 16..8192'],
    ['width', '8193', 'an integer 16..8192'],
    ['width', '512.5', 'an integer 16..8192'],
    ['width', '', 'an integer 16..8192'],
    ['width', '0x200', 'an integer 16..8192'],
    ['height', '-1', 'an integer 16..8192'],
    ['fps', '0', 'a number > 0 and ≤ 100000'],
    ['fps', 'Infinity', 'a number > 0 and ≤ 100000'],
    ['fps', 'NaN', 'a number > 0 and ≤ 100000'],
    ['objects', '-3', 'an integer 0..10000'],
    ['objects', '10001', 'an integer 0..10000'],
    ['objects', '2.5', 'an integer 0..10000'],
    ['seed', '4294967296', 'an integer 0..4294967295'],
    ['seed', 'x', 'an integer 0..4294967295'],
    ['drift', '-0.1', 'a number 0..100 (px per frame)'],
    ['maxDrift', '1e9', 'a number 0..1000 (px)'],
    ['jumpRate', '1.5', 'a probability 0..1'],
    ['noise', 'loud', 'none|high-snr|moderate|low-snr'],
    ['noise', 'MODERATE', 'none|high-snr|moderate|low-snr'],
    ['readNoise', '-1', 'a number 0..10000 (counts)'],
    ['gain', 'big', 'a number 0..1000'],
    ['offset', '70000', 'a number 0..60000 (counts)'],
    ['channels', '3', '1 or 2'],
    ['frames', '0', 'an integer ≥ 1'],
  ];
  it.each(bad)('refuses %s=%j naming the parameter, the value and what is allowed', (name, value, allowed) => {
    const uri = `synthetic:?${name}=${encodeURIComponent(value)}`;
    expect(() => parseSyntheticUri(uri)).toThrow(InputError);
    expect(() => parseSyntheticUri(uri)).toThrow(`synthetic: ${name} must be ${allowed}, got ${JSON.stringify(value)}`);
  });

  it('gives the exact message of the contract for a bad width', () => {
    expect(() => parseSyntheticUri('synthetic:?width=abc')).toThrow(new InputError('synthetic: width must be an integer 16..8192, got "abc"'));
  });

  it('refuses unknown, repeated and value-less parameters and malformed URIs', () => {
    expect(() => parseSyntheticUri('synthetic:?colour=red')).toThrow(/synthetic: unknown parameter "colour"; allowed: width, height, fps/);
    expect(() => parseSyntheticUri('synthetic:?width=64&width=64')).toThrow('synthetic: width given twice');
    expect(() => parseSyntheticUri('synthetic:?width')).toThrow(/synthetic: width needs a value/);
    expect(() => parseSyntheticUri('synthetic:width=64')).toThrow(/expected "\?" after "synthetic:"/);
    expect(() => parseSyntheticUri('synth:?width=64')).toThrow(/not a synthetic source URI/);
    expect(() => parseSyntheticUri('synthetic:?width=%zz')).toThrow(/malformed percent-encoding/);
    for (const uri of ['synthetic:?colour=red', 'synthetic:width=64', 'synth:']) expect(() => parseSyntheticUri(uri)).toThrow(InputError);
  });

  it('checks options given to the constructor the same way', () => {
    expect(() => new SyntheticMicroscope({ width: 10 })).toThrow('synthetic: width must be an integer 16..8192, got "10"');
    expect(() => new SyntheticMicroscope({ noise: 'loud' as never })).toThrow(InputError);
    expect(() => new SyntheticMicroscope({ bogus: 1 } as never)).toThrow(/unknown parameter "bogus"/);
  });
});

// ───────────────────────────── determinism ─────────────────────────────

describe('determinism', () => {
  it('gives bit-identical frames for the same URI and different ones for another seed', async () => {
    const grab = async (uri: string): Promise<Uint16Array[]> => {
      const src = new SyntheticSource(uri);
      await src.open();
      const out: Uint16Array[] = [];
      for await (const f of src.frames()) out.push(f.data as Uint16Array);
      await src.close();
      return out;
    };
    const uri = 'synthetic:?width=96&height=64&frames=8&jumpRate=0.2';
    const a = await grab(uri);
    const b = await grab(uri);
    const c = await grab(uri + '&seed=2');
    expect(a).toHaveLength(8);
    for (let i = 0; i < 8; i++) {
      expect(bytesEqual(a[i]!, b[i]!)).toBe(true);
      expect(bytesEqual(a[i]!, c[i]!)).toBe(false);
    }
  });

  it('reuses the output buffer without changing the frames', () => {
    const m1 = new SyntheticMicroscope({ width: 64, height: 48, seed: 3 });
    const m2 = new SyntheticMicroscope({ width: 64, height: 48, seed: 3 });
    const buf = new Uint16Array(64 * 48);
    for (let i = 0; i < 5; i++) {
      const f1 = m1.nextFrame(buf);
      const f2 = m2.nextFrame();
      expect(f1.data).toBe(buf);
      expect(bytesEqual(f1.data as Uint16Array, f2.data as Uint16Array)).toBe(true);
      expect(f1.truth).toEqual(f2.truth);
    }
    expect(() => m1.nextFrame(new Uint16Array(10))).toThrow(RangeError);
  });

  it('gives the same scene and event times for the same seed, whatever the query order', () => {
    const a = new SyntheticMicroscope({ width: 128, height: 128, seed: 5 });
    const b = new SyntheticMicroscope({ width: 128, height: 128, seed: 5 });
    expect(a.scene.objects).toEqual(b.scene.objects);
    const i = a.scene.objects.findIndex((o) => o.kind === 'transient');
    // a: far future first; b: step by step.
    const va = a.scene.objectIntensity(i, 100_000);
    for (let t = 0; t <= 100_000; t += 777) b.scene.objectIntensity(i, t);
    expect(b.scene.objectIntensity(i, 100_000)).toBe(va);
    expect(a.scene.objectEvents(i, 0, 100_000)).toEqual(b.scene.objectEvents(i, 0, 100_000));
    const c = new SyntheticMicroscope({ width: 128, height: 128, seed: 6 });
    expect(c.scene.objects).not.toEqual(a.scene.objects);
  });
});

// ───────────────────────────── geometry and signs ─────────────────────────────

describe('rendering and the sign convention', () => {
  const W = 120;
  const H = 90;
  const still = { width: W, height: H, noise: 'none' as const, drift: 0, jumpRate: 0, seed: 11 };

  it('moves content by +dx to the right: f1(y, x) = f0(y, x − 3) for truth (0, +3)', () => {
    const m = new SyntheticMicroscope(still);
    const f0 = m.renderFrame(0, 0, 500);
    const f1 = m.renderFrame(0, 3, 500);
    let diff = 0;
    for (let y = 0; y < H; y++) for (let x = 3; x < W; x++) diff += Math.abs(f1[y * W + x]! - f0[y * W + x - 3]!);
    expect(diff).toBe(0);
    // …and not the other way round.
    let other = 0;
    for (let y = 0; y < H; y++) for (let x = 0; x < W - 3; x++) other += Math.abs(f1[y * W + x]! - f0[y * W + x + 3]!);
    expect(other).toBeGreaterThan(1000);
    // Content that drifts in at the left edge is real (the field is larger than the frame), not wrapped.
    let edge = 0;
    for (let y = 0; y < H; y++) for (let x = 0; x < 3; x++) edge += Math.abs(f1[y * W + x]! - f0[y * W + W - 3 + x]!);
    expect(edge).toBeGreaterThan(0);
  });

  it('renderNoiseless at integer shifts is the exactly shifted crop', () => {
    const m = new SyntheticMicroscope({ ...still, noise: 'moderate' });
    const e0 = m.renderNoiseless(0, 0, 1234, new Float32Array(W * H));
    for (const [dy, dx] of [
      [2, -3],
      [-5, 7],
      [8, 8],
    ] as const) {
      const e1 = m.renderNoiseless(dy, dx, 1234, new Float32Array(W * H));
      let mism = 0;
      for (let y = Math.max(0, dy); y < Math.min(H, H + dy); y++)
        for (let x = Math.max(0, dx); x < Math.min(W, W + dx); x++) if (e1[y * W + x] !== e0[(y - dy) * W + (x - dx)]) mism++;
      expect(mism).toBe(0);
    }
    // Dyadic sub-pixel shifts too: shifting by one more pixel is the exact crop.
    const a = m.renderNoiseless(0.375, -1.625, 99, new Float32Array(W * H));
    const b = m.renderNoiseless(1.375, -1.625, 99, new Float32Array(W * H));
    let mism = 0;
    for (let y = 1; y < H; y++) for (let x = 0; x < W; x++) if (b[y * W + x] !== a[(y - 1) * W + x]) mism++;
    expect(mism).toBe(0);
  });

  it('renders every blob analytically at its shifted sub-pixel position', () => {
    const m = new SyntheticMicroscope({ ...still, objects: 20 });
    const [dy, dx, t] = [1.37, -2.61, 4321];
    const e = m.renderNoiseless(dy, dx, t, new Float32Array(W * H));
    const rng = new Rng(42);
    let maxBoxed = 0;
    let maxFull = 0;
    const pts: [number, number][] = m.scene.objects.map((o) => [Math.round(o.y + dy), Math.round(o.x + dx)]);
    for (let k = 0; k < 300; k++) pts.push([rng.int(H), rng.int(W)]);
    for (const [y, x] of pts) {
      if (y < 0 || y >= H || x < 0 || x >= W) continue;
      maxBoxed = Math.max(maxBoxed, Math.abs(e[y * W + x]! - bruteExpected(m, dy, dx, t, y, x)));
      maxFull = Math.max(maxFull, Math.abs(e[y * W + x]! - bruteExpected(m, dy, dx, t, y, x, 0, false)));
    }
    // Same model with the same boxes: float32 accumulation error only.
    expect(maxBoxed).toBeLessThan(2e-3);
    // Against untruncated Gaussians: each blob leaves out < 0.02 counts per pixel.
    expect(maxFull).toBeLessThan(0.25);
    // A cell's peak lies where its template centre plus the shift says.
    const o = m.scene.objects[0]!;
    const cy = Math.round(o.y + dy);
    const cx = Math.round(o.x + dx);
    if (cy > 0 && cy < H - 1 && cx > 0 && cx < W - 1) {
      const c = e[cy * W + cx]!;
      const gradX = e[cy * W + cx + 1]! - e[cy * W + cx - 1]!;
      // Sign of the horizontal gradient at the nearest pixel points towards the true centre.
      const frac = o.x + dx - cx;
      if (Math.abs(frac) > 0.1) expect(Math.sign(gradX)).toBe(Math.sign(frac));
      expect(c).toBeGreaterThan(m.scene.offset);
    }
  });

  it('frames from nextFrame are the rounded noiseless render at their truth shift (noise=none)', () => {
    const m = new SyntheticMicroscope({ width: 64, height: 48, noise: 'none', drift: 0.4, jumpRate: 0.05, seed: 9 });
    const e = new Float32Array(64 * 48);
    for (let n = 0; n < 40; n++) {
      const f = m.nextFrame();
      expect(f.seq).toBe(n);
      expect(f.t).toBeCloseTo((n * 1000) / 30, 9);
      if (n === 0) expect(f.truth).toEqual({ dy: 0, dx: 0 });
      m.renderNoiseless(f.truth!.dy, f.truth!.dx, f.t, e);
      let mism = 0;
      for (let i = 0; i < e.length; i++) if (f.data[i] !== round16(e[i]!)) mism++;
      expect(mism).toBe(0);
    }
  });

  it('rounds and clamps to uint16 without wrapping', () => {
    const m = new SyntheticMicroscope({ width: 64, height: 64, noise: 'none', gain: 100, objects: 10, drift: 0, jumpRate: 0 });
    const e = m.renderNoiseless(0, 0, 0, new Float32Array(64 * 64));
    const f = m.nextFrame().data;
    let clamped = 0;
    for (let i = 0; i < e.length; i++) {
      expect(f[i]).toBe(round16(e[i]!));
      if (e[i]! > 65535) clamped++;
    }
    expect(clamped).toBeGreaterThan(0);
  });
});

// ───────────────────────────── noise ─────────────────────────────

describe('noise', () => {
  /**
   * Exact mean and variance of the documented model for expected count λ and
   * read noise σ: max(0, K + round(σZ)), K ~ Poisson on the 1/8 grid (λ < 20:
   * λ rounded down or up at random in proportion), or max(0, round(λ + √(λ + c)·Z))
   * above 20, with c = Var(round(σZ)) − 1/12. Includes the clamp at 0.
   */
  const exactMoments = (lam: number, sigma: number): { mean: number; variance: number } => {
    if (lam >= 20) return { mean: lam, variance: lam + roundedNormalVariance(sigma) };
    // Distribution of R = round(σZ).
    const r = new Map<number, number>();
    if (sigma === 0) r.set(0, 1);
    else for (let j = -Math.ceil(10 * sigma) - 2; j <= Math.ceil(10 * sigma) + 2; j++) r.set(j, normalCdf((j + 0.5) / sigma) - normalCdf((j - 0.5) / sigma));
    const b = Math.floor(lam * 8);
    const f = lam * 8 - b;
    let m1 = 0;
    let m2 = 0;
    for (let k = 0; k < 80; k++) {
      const pk = (1 - f) * poissonPmf(b / 8, k) + f * poissonPmf((b + 1) / 8, k);
      for (const [j, pj] of r) {
        const v = Math.max(0, k + j);
        m1 += pk * pj * v;
        m2 += pk * pj * v * v;
      }
    }
    return { mean: m1, variance: m2 - m1 * m1 };
  };

  it('has mean λ and variance λ + Var(round(read noise)) on flat images, on both sides of the λ = 20 switch', () => {
    const N = 200_000;
    const e = new Float32Array(N);
    const out = new Uint16Array(N);
    for (const sigma of [0, 3, 5]) {
      const noise = new CameraNoise(17, sigma);
      for (const lam of [0, 0.05, 0.7, 3.25, 3.3, 7.9, 12, 19.99, 20, 35.5, 100, 1000, 30000]) {
        e.fill(lam);
        noise.apply(e, out);
        const s = meanVar(out);
        const lamF = Math.fround(lam);
        const { mean, variance: v } = exactMoments(lamF, sigma);
        // Away from the clamp at 0, the model's moments are λ and λ + Var(round(σZ)) (+ the grid mixing term).
        if (lamF > 6 * Math.sqrt(lamF + sigma * sigma)) {
          expect(mean).toBeCloseTo(lamF, 6);
          const f = lamF * 8 - Math.floor(lamF * 8);
          expect(v).toBeCloseTo(lamF + roundedNormalVariance(sigma) + (lamF < 20 ? (f * (1 - f)) / 64 : 0), 6);
        }
        // 5-σ bounds of the sample mean and variance (4th cumulant of Poisson = λ).
        const tolMean = 5 * Math.sqrt(Math.max(v, 1e-6) / N) + 1e-9;
        const tolVar = 5 * Math.sqrt((2 * v * v + lamF) / N) + 1e-9;
        expect(Math.abs(s.mean - mean), `mean λ=${lam} σ=${sigma}`).toBeLessThan(tolMean);
        expect(Math.abs(s.variance - v), `variance λ=${lam} σ=${sigma}`).toBeLessThan(tolVar);
      }
    }
  });

  it('samples the exact Poisson distribution below λ = 20 (on the 1/8 grid, no read noise)', () => {
    const N = 400_000;
    const noise = new CameraNoise(3, 0);
    for (const lam of [0.125, 3.25, 11.5, 19.875]) {
      const e = new Float32Array(N).fill(lam);
      const out = new Uint16Array(N);
      noise.apply(e, out);
      const counts = new Map<number, number>();
      for (const v of out) counts.set(v, (counts.get(v) ?? 0) + 1);
      for (let k = 0; k <= Math.ceil(lam + 6 * Math.sqrt(lam) + 3); k++) {
        const p = poissonPmf(lam, k);
        const f = (counts.get(k) ?? 0) / N;
        expect(Math.abs(f - p), `λ=${lam} k=${k}`).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / N) + 1e-6);
      }
    }
  });

  it('keeps the normal shape above λ = 20 (tails cut at 4.33 σ)', () => {
    const N = 400_000;
    const lam = 1000;
    const noise = new CameraNoise(4, 3);
    const e = new Float32Array(N).fill(lam);
    const out = new Uint16Array(N);
    noise.apply(e, out);
    const sd = Math.sqrt(lam + 9);
    const within = (k: number): number => out.filter((v) => Math.abs(v - lam) <= k * sd).length / N;
    expect(Math.abs(within(1) - 0.6827)).toBeLessThan(0.005);
    expect(Math.abs(within(2) - 0.9545)).toBeLessThan(0.003);
    const T = normalTable(16);
    const zmax = T.reduce((a, v) => Math.max(a, v), 0);
    expect(zmax).toBeCloseTo(4.325, 3);
    expect(within(zmax + 0.5 / sd)).toBe(1);
  });

  it('gives a flat field its mean and variance through the microscope (moderate and low-λ)', () => {
    for (const [opts, lam, sigma] of [
      [{ gain: 0 }, 100, 3],
      [{ gain: 0, noise: 'low-snr' as const }, 100, 5],
      [{ gain: 0, offset: 6.5 }, 6.5, 3],
      [{ gain: 0, offset: 2, readNoise: 0.5 }, 2, 0.5],
    ] as const) {
      const m = new SyntheticMicroscope({ width: 128, height: 128, objects: 0, ...opts });
      const all: number[] = [];
      for (let n = 0; n < 12; n++) for (const v of m.nextFrame().data) all.push(v);
      const s = meanVar(all);
      const { mean, variance: v } = exactMoments(lam, sigma);
      expect(Math.abs(s.mean - mean)).toBeLessThan(5 * Math.sqrt(v / s.n));
      expect(Math.abs(s.variance - v)).toBeLessThan(5 * Math.sqrt((2 * v * v + lam) / s.n));
    }
  });

  it('adds unbiased noise of the right size to a textured frame, independently per channel', () => {
    const W = 128;
    const H = 128;
    const m = new SyntheticMicroscope({ width: W, height: H, channels: 2, objects: 20, noise: 'low-snr', seed: 8 });
    const e = new Float32Array(2 * W * H);
    const zs: number[][] = [[], []];
    const c = roundedNormalVariance(5);
    for (let n = 0; n < 6; n++) {
      const f = m.nextFrame();
      m.renderNoiseless(f.truth!.dy, f.truth!.dx, f.t, e);
      for (let i = 0; i < e.length; i++) zs[i < W * H ? 0 : 1]!.push((f.data[i]! - e[i]!) / Math.sqrt(e[i]! + c));
    }
    for (const z of zs) {
      const s = meanVar(z);
      expect(Math.abs(s.mean)).toBeLessThan(5 / Math.sqrt(s.n));
      expect(Math.abs(s.variance - 1)).toBeLessThan(5 * Math.sqrt(2 / s.n) + 0.002);
    }
    let r = 0;
    for (let i = 0; i < zs[0]!.length; i++) r += zs[0]![i]! * zs[1]![i]!;
    r /= zs[0]!.length;
    expect(Math.abs(r)).toBeLessThan(5 / Math.sqrt(zs[0]!.length));
  });
});

// ───────────────────────────── motion ─────────────────────────────

describe('motion', () => {
  it('stays within ±maxDrift over 10,000 frames and jumps at about the configured rate', () => {
    for (const [jumpRate, maxDrift] of [
      [0.002, 8],
      [0.03, 8],
      [0.03, 3],
    ] as const) {
      const m = new SyntheticMicroscope({ width: 16, height: 16, objects: 0, noise: 'none', jumpRate, maxDrift });
      let maxAbs = 0;
      let prev = { dy: 0, dx: 0 };
      let bigSteps = 0;
      const steps: number[] = [];
      const N = 10_000;
      for (let n = 0; n < N; n++) {
        const f = m.nextFrame();
        const { dy, dx } = f.truth!;
        maxAbs = Math.max(maxAbs, Math.abs(dy), Math.abs(dx));
        const step = Math.hypot(dy - prev.dy, dx - prev.dx);
        if (step > 0.9) bigSteps++;
        else steps.push(dx - prev.dx * (1 - m.pullBack));
        prev = { dy, dx };
      }
      expect(maxAbs).toBeLessThanOrEqual(maxDrift);
      // It does wander: the walk is not stuck near 0.
      expect(maxAbs).toBeGreaterThan(maxDrift / 3);
      // Jumps: binomial(N − 1, rate), 5-σ bounds; steps > 0.9 px are the jumps (a 0.15-px step
      // exceeds 0.9 px with probability ~1e-8), a few lost by reflection at the bounds.
      const mean = (N - 1) * jumpRate;
      const tol = 5 * Math.sqrt(mean) + 1;
      expect(Math.abs(m.jumpCount - mean)).toBeLessThan(tol);
      expect(bigSteps).toBeLessThanOrEqual(m.jumpCount);
      expect(bigSteps).toBeGreaterThanOrEqual(0.85 * m.jumpCount);
      // Ordinary steps have σ = drift (except near the reflecting bounds).
      const s = meanVar(steps);
      expect(Math.sqrt(s.variance)).toBeGreaterThan(0.15 * 0.95);
      expect(Math.sqrt(s.variance)).toBeLessThan(0.15 * 1.05);
    }
  });

  it('does not move with drift = 0 and jumpRate = 0', () => {
    const m = new SyntheticMicroscope({ width: 16, height: 16, drift: 0, jumpRate: 0 });
    for (let n = 0; n < 100; n++) expect(m.nextFrame().truth).toEqual({ dy: 0, dx: 0 });
  });
});

// ───────────────────────────── objects ─────────────────────────────

describe('object dynamics', () => {
  const m = new SyntheticMicroscope({ width: 512, height: 512 });
  const sc = m.scene;

  it('has 30 % steady, 30 % pulsing and 40 % transient cells with the documented parameters', () => {
    const kinds = sc.objects.map((o) => o.kind);
    expect(kinds.filter((k) => k === 'steady')).toHaveLength(15);
    expect(kinds.filter((k) => k === 'pulsing')).toHaveLength(15);
    expect(kinds.filter((k) => k === 'transient')).toHaveLength(20);
    sc.objects.forEach((o, i) => {
      expect(o.id).toBe(i + 1);
      expect(o.sigma).toBeGreaterThanOrEqual(2.5);
      expect(o.sigma).toBeLessThanOrEqual(6);
      expect(o.amplitude).toBeGreaterThanOrEqual(200);
      expect(o.amplitude).toBeLessThanOrEqual(1500);
      expect(o.y).toBeGreaterThanOrEqual(0);
      expect(o.y).toBeLessThan(512);
      expect(o.x).toBeGreaterThanOrEqual(0);
      expect(o.x).toBeLessThan(512);
      if (o.kind === 'pulsing') {
        expect(o.periodMs).toBeGreaterThanOrEqual(2000);
        expect(o.periodMs).toBeLessThanOrEqual(10000);
        expect(o.depth).toBeGreaterThanOrEqual(0.2);
        expect(o.depth).toBeLessThanOrEqual(0.5);
      }
      if (o.kind === 'transient') {
        expect(o.tauMs).toBeGreaterThanOrEqual(300);
        expect(o.tauMs).toBeLessThanOrEqual(1500);
      }
    });
    // Texture: one faint blob per 400 px² of field.
    const field = (512 + 2 * sc.margin) ** 2;
    expect(Math.abs(sc.textureCount - field / 400)).toBeLessThanOrEqual(1);
    for (const b of sc.textureBlobs()) {
      expect(b.sigma).toBeGreaterThanOrEqual(1);
      expect(b.sigma).toBeLessThanOrEqual(2.5);
      expect(b.amplitude).toBeGreaterThanOrEqual(20);
      expect(b.amplitude).toBeLessThanOrEqual(150);
    }
    // Margin covers the drift plus 3σ of the largest blob.
    expect(sc.margin).toBeGreaterThanOrEqual(8 + 3 * 6);
  });

  it('keeps steady cells constant and pulses the pulsing ones', () => {
    sc.objects.forEach((o, i) => {
      if (o.kind === 'steady') for (const t of [0, 33.3, 5000, 1e6]) expect(sc.objectIntensity(i, t)).toBe(o.amplitude);
      if (o.kind === 'pulsing') {
        let lo = Infinity;
        let hi = -Infinity;
        for (let t = 0; t < o.periodMs; t += o.periodMs / 1000) {
          const v = sc.objectIntensity(i, t);
          expect(v).toBeCloseTo(o.amplitude * (1 + o.depth * Math.sin((2 * Math.PI * t) / o.periodMs + o.phase)), 9);
          lo = Math.min(lo, v);
          hi = Math.max(hi, v);
        }
        expect(hi / o.amplitude).toBeCloseTo(1 + o.depth, 3);
        expect(lo / o.amplitude).toBeCloseTo(1 - o.depth, 3);
        expect(sc.objectIntensity(i, 1234 + o.periodMs)).toBeCloseTo(sc.objectIntensity(i, 1234), 6);
      }
    });
  });

  it('gives transient cells calcium-like events at the times objectEvents reports', () => {
    const T = 300_000;
    let total = 0;
    sc.objects.forEach((o, i) => {
      const ev = sc.objectEvents(i, 0, T);
      if (o.kind !== 'transient') {
        expect(ev).toHaveLength(0);
        return;
      }
      total += ev.length;
      // Poisson-like process at 0.1–0.3 Hz plus a 3τ refractory time.
      expect(ev.length).toBeGreaterThan(5);
      for (let k = 0; k < ev.length; k++) {
        const e = ev[k]!;
        expect(e.t).toBeGreaterThanOrEqual(0);
        expect(e.amplitude).toBeGreaterThanOrEqual(0.5);
        expect(e.amplitude).toBeLessThanOrEqual(2);
        if (k > 0) expect(e.t - ev[k - 1]!.t).toBeGreaterThanOrEqual(3 * o.tauMs);
        // Rise within one frame to +amplitude·A, then decay with τ.
        const before = sc.objectIntensity(i, e.t);
        const peak = sc.objectIntensity(i, e.t + sc.riseMs);
        expect((peak - before) / o.amplitude).toBeCloseTo(e.amplitude, 1);
        expect(Math.abs((peak - before) / o.amplitude - e.amplitude)).toBeLessThan(0.02 * e.amplitude + 0.02);
        const later = sc.objectIntensity(i, e.t + sc.riseMs + o.tauMs);
        const next = ev[k + 1];
        if (!next || next.t > e.t + sc.riseMs + o.tauMs) {
          expect((later - o.amplitude) / (peak - o.amplitude)).toBeCloseTo(Math.exp(-1), 1);
        }
      }
      // The documented formula, exactly.
      const rng = new Rng(i);
      for (let k = 0; k < 50; k++) {
        const t = rng.uniform(0, T);
        let rel = 1;
        for (const e of ev) {
          const s = t - e.t;
          if (s < 0) continue;
          rel += e.amplitude * (s < sc.riseMs ? s / sc.riseMs : Math.exp(-(s - sc.riseMs) / o.tauMs));
        }
        expect(sc.objectIntensity(i, t) / o.amplitude).toBeCloseTo(rel, 9);
      }
      // Baseline between events.
      expect(sc.objectIntensity(i, -1)).toBe(o.amplitude);
    });
    expect(total).toBeGreaterThan(20 * 10);
  });

  it('renders the cell intensity of the frame time', () => {
    const small = new SyntheticMicroscope({ width: 96, height: 96, objects: 6, noise: 'none', seed: 21 });
    const i = small.scene.objects.findIndex((o) => o.kind !== 'steady');
    expect(i).toBeGreaterThanOrEqual(0);
    const o = small.scene.objects[i]!;
    const y = Math.round(o.y);
    const x = Math.round(o.x);
    const e = new Float32Array(96 * 96);
    for (const t of [0, 700, 1900, 4200]) {
      small.renderNoiseless(0, 0, t, e);
      expect(e[y * 96 + x]!).toBeCloseTo(bruteExpected(small, 0, 0, t, y, x), 2);
    }
  });
});

// ───────────────────────────── two channels ─────────────────────────────

describe('two channels', () => {
  it('puts a random half of the cells into channel 2 with their own amplitudes, planar', () => {
    const W = 80;
    const H = 72;
    const m = new SyntheticMicroscope({ width: W, height: H, channels: 2, objects: 10, noise: 'none', seed: 4 });
    const present = m.scene.objects.filter((o) => o.amplitude2 > 0);
    expect(present).toHaveLength(5);
    for (const o of present) {
      expect(o.amplitude2).toBeGreaterThanOrEqual(200);
      expect(o.amplitude2).toBeLessThanOrEqual(1500);
    }
    m.scene.objects.forEach((o, i) => {
      const rel = m.scene.objectIntensity(i, 2500) / o.amplitude;
      expect(m.scene.objectIntensity(i, 2500, 1)).toBeCloseTo(o.amplitude2 * (1 + 0.5 * (rel - 1)), 9);
    });
    const f = m.nextFrame();
    expect(f.channels).toBe(2);
    expect(f.data).toHaveLength(2 * W * H);
    const e = m.renderNoiseless(0, 0, 0, new Float32Array(2 * W * H));
    const rng = new Rng(1);
    for (let k = 0; k < 100; k++) {
      const y = rng.int(H);
      const x = rng.int(W);
      expect(e[W * H + y * W + x]!).toBeCloseTo(bruteExpected(m, 0, 0, 0, y, x, 1), 2);
      expect(e[y * W + x]!).toBeCloseTo(bruteExpected(m, 0, 0, 0, y, x, 0), 2);
    }
    for (let i = 0; i < e.length; i++) expect(f.data[i]).toBe(round16(e[i]!));
  });
});

// ───────────────────────────── source ─────────────────────────────

describe('SyntheticSource', () => {
  it('describes itself and yields the requested frames with simulated times', async () => {
    const uri = 'synthetic:?width=64&height=32&fps=200&frames=5';
    const src = new SyntheticSource(uri);
    const info = await src.open();
    expect(info).toEqual({ uri, width: 64, height: 32, channels: 1, dtype: 'uint16', fps: 200, frameCount: 5, live: true });
    const frames = [];
    for await (const f of src.frames()) frames.push(f);
    expect(frames.map((f) => f.seq)).toEqual([0, 1, 2, 3, 4]);
    expect(frames.map((f) => f.t)).toEqual([0, 5, 10, 15, 20]);
    for (const f of frames) {
      expect(f.width).toBe(64);
      expect(f.height).toBe(32);
      expect(f.channels).toBe(1);
      expect(f.data).toBeInstanceOf(Uint16Array);
      expect(f.data).toHaveLength(64 * 32);
      expect(f.truth).toBeDefined();
    }
    // Each frame owns its buffer (frames are transferred to workers).
    expect(frames[0]!.data.buffer).not.toBe(frames[1]!.data.buffer);
    await src.close();
  });

  it('is endless without frames= and stops on close()', async () => {
    const src = new SyntheticSource('synthetic:?width=32&height=32&channels=2');
    const info = await src.open();
    expect(info.frameCount).toBeUndefined();
    expect(info.channels).toBe(2);
    let n = 0;
    for await (const f of src.frames()) {
      expect(f.data).toHaveLength(2 * 32 * 32);
      if (++n === 50) await src.close();
    }
    expect(n).toBe(50);
  });

  it('with loop, renders the whole cycle before the first frame, then cycles it with seq and t going on', async () => {
    const src = new SyntheticSource('synthetic:?width=48&height=32&fps=100&frames=11&loop=4&jumpRate=0.3');
    await src.open();
    const frames = [];
    let renderedAtFirst = -1;
    for await (const f of src.frames()) {
      // The camera's clock starts with the first frame: by then nothing is left to render.
      if (renderedAtFirst < 0) renderedAtFirst = src.microscope!.seq;
      frames.push(f);
    }
    expect(renderedAtFirst).toBe(4);
    expect(src.microscope!.seq).toBe(4);
    expect(frames.map((f) => f.seq)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(frames.map((f) => f.t)).toEqual([0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
    for (let i = 4; i < 11; i++) {
      expect(bytesEqual(frames[i]!.data as Uint16Array, frames[i % 4]!.data as Uint16Array)).toBe(true);
      expect(frames[i]!.data.buffer).not.toBe(frames[i % 4]!.data.buffer);
    }
    expect(bytesEqual(frames[0]!.data as Uint16Array, frames[1]!.data as Uint16Array)).toBe(false);
    // A loop longer than the frames asked for renders only those.
    const short = new SyntheticSource('synthetic:?width=16&height=16&frames=3&loop=50');
    await short.open();
    const seqs: number[] = [];
    for await (const f of short.frames()) seqs.push(f.seq);
    expect(seqs).toEqual([0, 1, 2]);
    expect(short.microscope!.seq).toBe(3);
  });

  it('refuses a bad URI when constructed', () => {
    expect(() => new SyntheticSource('synthetic:?fps=-1')).toThrow(InputError);
  });
});
