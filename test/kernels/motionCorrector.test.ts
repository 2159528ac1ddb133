import { motionOptions } from '../../src/stream/pipeline.js';
import { defaultConfig } from '../../src/config/schema.js';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Dtype, Frame } from '../../src/ingest/frame.js';
import { SyntheticMicroscope, parseSyntheticUri } from '../../src/ingest/synthetic.js';
import { type KernelFactories, type MotionOptions, type RegisteredFrame, MotionCorrector } from '../../src/kernels/motionCorrector.js';
import { Registrar } from '../../src/kernels/register.js';
import { warpGeometry, warpTranslate } from '../../src/kernels/warp.js';
import { selectBackend } from '../../src/stream/backend.js';
import { makeBlobs, renderBlobs } from '../helpers/blobs.js';
import { seededRandom } from '../helpers/random.js';

/**
 * MotionCorrector (docs/registration.md, sections 5–7): template bootstrap,
 * hold of the last good shift, EMA update kept centred, reset, frame checks,
 * multi-channel warp, DoG prefilter, and TS/WASM agreement. Pure: frames
 * come from the simulated microscope (ground truth `truth`) or from the
 * analytic blob field of test/helpers/blobs.ts, never from files.
 */

const BACKENDS = ['ts', 'wasm'] as const;
type BackendName = (typeof BACKENDS)[number];
const kernels = {} as Record<BackendName, KernelFactories>;

beforeAll(async () => {
  for (const name of BACKENDS) {
    const b = await selectBackend(name, { normalization: 'none', phaseSigma: 1 });
    expect(b.name).toBe(name);
    kernels[name] = b.kernels;
  }
});

function options(over: Partial<MotionOptions> = {}): MotionOptions {
  return { ...motionOptions(defaultConfig()), templateFrames: 10, ...over };
}

/** What a test keeps of a result (`registered` is only valid during the callback). */
interface Out {
  seq: number;
  dy: number;
  dx: number;
  ok: boolean;
  peak: number | null;
  quality: number | null;
  /** The raw measurement (before the hold). */
  estDy: number;
  estDx: number;
  truth?: { dy: number; dx: number };
  frameTruth?: { dy: number; dx: number };
}

function keep(r: RegisteredFrame): Out {
  return {
    seq: r.frame.seq,
    dy: r.dy,
    dx: r.dx,
    ok: r.ok,
    peak: r.estimate.peak,
    quality: r.estimate.quality,
    estDy: r.estimate.dy,
    estDx: r.estimate.dx,
    truth: r.truth && { ...r.truth },
    frameTruth: r.frame.truth && { ...r.frame.truth },
  };
}

function microscope(query: string): SyntheticMicroscope {
  return new SyntheticMicroscope(parseSyntheticUri(`synthetic:?${query}`));
}

function toFloat32(f: Frame): Frame {
  return { ...f, data: Float32Array.from(f.data) };
}

/** Pushes every frame and returns everything emitted (after flush). */
function runAll(mc: MotionCorrector, frames: Frame[]): Out[] {
  const out: Out[] = [];
  for (const f of frames) mc.push(f, (r) => out.push(keep(r)));
  mc.flush((r) => out.push(keep(r)));
  return out;
}

const err = (o: Out): [number, number] => [o.dy - o.truth!.dy, o.dx - o.truth!.dx];
function rms(outs: Out[]): number {
  let s = 0;
  for (const o of outs) {
    const [ey, ex] = err(o);
    s += ey * ey + ex * ex;
  }
  return Math.sqrt(s / (2 * outs.length));
}
const mean = (v: number[]): number => v.reduce((a, b) => a + b, 0) / v.length;

const W = 128;
const H = 128;
/**
 * Moderate noise, drifting by up to ±6 px, a dozen cells. The cells' intensity
 * dynamics (pulsing, transients) bias the registration of small frames: with
 * the default 50 cells crowded into 128², errors reach 0.2 px with no template
 * update at all (measured), which would hide what these tests look at.
 */
const MOVIE = `width=${W}&height=${H}&noise=moderate&drift=0.4&maxDrift=6&objects=12`;

describe('bootstrap', () => {
  it('emits nothing until N frames, then the N in order, then one per push', () => {
    const N = 10;
    const mic = microscope(`${MOVIE}&seed=1`);
    const mc = new MotionCorrector(W, H, 1, 'uint16', options({ templateFrames: N }), kernels.ts);
    expect(mc.template).toBeNull();
    for (let i = 0; i < 25; i++) {
      const got: Out[] = [];
      mc.push(mic.nextFrame(), (r) => got.push(keep(r)));
      if (i < N - 1) {
        expect(got).toHaveLength(0);
        expect(mc.pendingCount).toBe(i + 1);
        expect(mc.template).toBeNull();
      } else if (i === N - 1) {
        expect(got.map((o) => o.seq)).toEqual(Array.from({ length: N }, (_, k) => k));
        expect(mc.pendingCount).toBe(0);
        expect(mc.template).not.toBeNull();
      } else {
        expect(got.map((o) => o.seq)).toEqual([i]);
      }
    }
    // flush() after the bootstrap emits nothing more.
    let extra = 0;
    mc.flush(() => extra++);
    expect(extra).toBe(0);
    mc.dispose();
  });

  it('flush() on a movie shorter than templateFrames bootstraps from what it has', () => {
    const mic = microscope(`${MOVIE}&seed=2`);
    const mc = new MotionCorrector(W, H, 1, 'uint16', options({ templateFrames: 30 }), kernels.ts);
    const got: Out[] = [];
    const frames = Array.from({ length: 7 }, () => mic.nextFrame());
    for (const f of frames) mc.push(f, (r) => got.push(keep(r)));
    expect(got).toHaveLength(0);
    mc.flush((r) => got.push(keep(r)));
    expect(got.map((o) => o.seq)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(mc.template).not.toBeNull();
    for (const o of got) {
      expect(o.ok).toBe(true);
      const [ey, ex] = err(o);
      expect(Math.hypot(ey, ex)).toBeLessThan(0.2);
    }
    // Later frames go straight through.
    const later: Out[] = [];
    mc.push(mic.nextFrame(), (r) => later.push(keep(r)));
    expect(later.map((o) => o.seq)).toEqual([7]);
    // Nothing pending: flush is a no-op.
    let extra = 0;
    mc.flush(() => extra++);
    expect(extra).toBe(0);
    mc.dispose();
  });

  for (const backend of BACKENDS) {
    it(`${backend}: the template is centred on the bootstrap frames and truth is relative to it`, () => {
      const N = 20;
      // A faster drift so that the bootstrap frames spread over a few pixels.
      const mic = microscope(`width=${W}&height=${H}&noise=moderate&drift=0.6&maxDrift=6&objects=12&seed=3`);
      const frames = Array.from({ length: N + 30 }, () => mic.nextFrame());
      const mc = new MotionCorrector(W, H, 1, 'uint16', options({ templateFrames: N }), kernels[backend]);
      const outs = runAll(mc, frames);
      expect(outs).toHaveLength(frames.length);
      const boot = outs.slice(0, N);
      expect(boot.every((o) => o.ok)).toBe(true);
      // All bootstrap frames are good, so the template sits at the mean true position of
      // the N frames, and `truth` is the frame's truth minus that mean.
      const ty = mean(frames.slice(0, N).map((f) => f.truth!.dy));
      const tx = mean(frames.slice(0, N).map((f) => f.truth!.dx));
      // The test is discriminating: a template at frame 0's position (truth 0, 0) would
      // put the mean shift at (ty, tx), and the frames do spread.
      expect(Math.hypot(ty, tx)).toBeGreaterThan(0.5);
      const spread = Math.max(...frames.slice(0, N).map((f) => Math.hypot(f.truth!.dy - ty, f.truth!.dx - tx)));
      expect(spread).toBeGreaterThan(1);
      for (let i = 0; i < outs.length; i++) {
        expect(outs[i].truth!.dy).toBeCloseTo(frames[i].truth!.dy - ty, 12);
        expect(outs[i].truth!.dx).toBeCloseTo(frames[i].truth!.dx - tx, 12);
      }
      // Centred: the mean reported shift of the bootstrap frames is the mean error of
      // N measurements against leave-one-out templates. Per-frame errors here are
      // ~0.02 px RMS (printed), so the mean is a few 1e-3; 0.03 px leaves > 5× margin
      // and is 20× smaller than the offset an uncentred template would give.
      const my = mean(boot.map((o) => o.dy));
      const mx = mean(boot.map((o) => o.dx));
      const e = rms(outs);
      console.log(
        `bootstrap ${backend} | mean shift (${my.toFixed(4)}, ${mx.toFixed(4)}) px vs truth mean (${ty.toFixed(3)}, ${tx.toFixed(3)}) | RMS |shift − truth| ${e.toFixed(4)} px`,
      );
      expect(Math.abs(my)).toBeLessThan(0.03);
      expect(Math.abs(mx)).toBeLessThan(0.03);
      expect(e).toBeLessThan(0.06);
      for (const o of outs) {
        const [ey, ex] = err(o);
        expect(Math.hypot(ey, ex)).toBeLessThan(0.2);
      }
      mc.dispose();
    });
  }
});

describe('bootstrap: centring and leave-one-out', () => {
  it('centres the template on the mean position even when the bootstrap positions are skewed', () => {
    // 15 frames near (0, 0) and 5 near (4, −3): the plain mean of the frames correlates
    // best at the mode (0, 0), so aligning the frames to it without subtracting the mean
    // measured shift would leave the template there, and the mean reported shift at
    // ≈ (1, −0.75). Centred (section 7, step 3) it is the mean position: mean shift ≈ 0.
    const mic = microscope(`${MOVIE}&seed=13`);
    const r = seededRandom(5);
    const frames: Frame[] = [];
    for (let i = 0; i < 20; i++) {
      const far = i % 4 === 3;
      const dy = (far ? 4 : 0) + (r() - 0.5) * 0.4;
      const dx = (far ? -3 : 0) + (r() - 0.5) * 0.4;
      frames.push({ seq: i, t: i * 33, width: W, height: H, channels: 1, data: mic.renderFrame(dy, dx, i * 33), truth: { dy, dx } });
    }
    for (const backend of BACKENDS) {
      const outs = runAll(new MotionCorrector(W, H, 1, 'uint16', options({ templateFrames: 20 }), kernels[backend]), frames);
      expect(outs.every((o) => o.ok)).toBe(true);
      const my = mean(outs.map((o) => o.dy));
      const mx = mean(outs.map((o) => o.dx));
      console.log(`centring ${backend} | skewed bootstrap: mean shift (${my.toFixed(4)}, ${mx.toFixed(4)}) px, RMS |shift − truth| ${rms(outs).toFixed(4)} px`);
      // Same tolerance as above: a few times the mean of N per-frame errors.
      expect(Math.abs(my)).toBeLessThan(0.03);
      expect(Math.abs(mx)).toBeLessThan(0.03);
      expect(rms(outs)).toBeLessThan(0.06);
    }
  });

  it('registers each bootstrap frame against the others only: at low SNR no self-match pull', () => {
    // A frame's own noise inside the template correlates with itself and pulls its shift
    // toward 0. Frames after the bootstrap are independent of the template's noise, so with
    // leave-one-out the bootstrap frames must be about as accurate as the later ones.
    // Measured (128², low SNR, seeds 1–3): bootstrap/later RMS 0.8–1.1 with leave-one-out,
    // 1.8–2.5 with the plain template.
    const boot: Out[] = [];
    const later: Out[] = [];
    for (const seed of [1, 2, 3]) {
      const mic = microscope(`width=${W}&height=${H}&noise=low-snr&drift=0.4&maxDrift=6&objects=12&seed=${seed}`);
      const outs = runAll(
        new MotionCorrector(W, H, 1, 'uint16', options({ templateFrames: 30 }), kernels.wasm),
        Array.from({ length: 60 }, () => mic.nextFrame()),
      );
      expect(outs.every((o) => o.ok)).toBe(true);
      boot.push(...outs.slice(0, 30));
      later.push(...outs.slice(30));
    }
    console.log(`leave-one-out | low SNR 128²: RMS bootstrap frames ${rms(boot).toFixed(4)} px, later frames ${rms(later).toFixed(4)} px`);
    expect(rms(boot)).toBeLessThan(1.4 * rms(later));
    expect(rms(later)).toBeLessThan(0.15);
  });
});

describe('hold of the last good shift', () => {
  for (const backend of BACKENDS) {
    it(`${backend}: zero, constant, NaN, noise and out-of-range frames are flagged, hold the shift and never enter the EMA template`, () => {
      const mic = microscope(`${MOVIE}&seed=4`);
      // EMA with the spectrum refreshed after every update, and a recentre every 3: any
      // update by a bad frame would change the template array.
      const opts = options({ templateFrames: 10, templateUpdate: 'ema', templateRate: 0.1, templateUpdateEvery: 1, templateRecentreEvery: 3 });
      const mc = new MotionCorrector(W, H, 1, 'float32', opts, kernels[backend]);
      const outs: Out[] = [];
      const push = (f: Frame): Out => {
        const before = outs.length;
        mc.push(f, (r) => outs.push(keep(r)));
        expect(outs.length).toBe(before + 1);
        return outs[outs.length - 1];
      };
      for (let i = 0; i < 10; i++) mc.push(toFloat32(mic.nextFrame()), (r) => outs.push(keep(r)));
      expect(outs).toHaveLength(10);
      const n = W * H;
      const rnd = seededRandom(77);
      const noise = new Float32Array(n);
      for (let i = 0; i < n; i++) noise[i] = 100 + 30 * Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
      const M = mc.maxShift;
      expect(M).toBe(12); // 10 % of 128
      const bad: [string, Float32Array][] = [
        ['all-zero', new Float32Array(n)],
        ['constant', new Float32Array(n).fill(321)],
        ['NaN-only', new Float32Array(n).fill(NaN)],
        ['pure noise', noise],
        ['shifted beyond maxShift', Float32Array.from(mic.renderFrame(M + 7, -(M + 5), 0))],
        ['shifted beyond maxShift on one axis', Float32Array.from(mic.renderFrame(0.3, M + 4.5, 0))],
      ];
      let seq = 100;
      for (const [name, data] of bad) {
        // A good frame first: it moves the template (the positive control) and sets the hold.
        const tBefore = mc.template!.slice();
        const good = push(toFloat32(mic.nextFrame()));
        expect(good.ok, `good frame before ${name}`).toBe(true);
        let changed = 0;
        for (let i = 0; i < n; i++) if (mc.template![i] !== tBefore[i]) changed++;
        expect(changed, 'a good frame updates the template').toBeGreaterThan(n / 2);

        const snapshot = mc.template!.slice();
        const o = push({ seq: seq++, t: 0, width: W, height: H, channels: 1, data });
        expect(o.ok, name).toBe(false);
        expect(o.dy, name).toBe(good.dy);
        expect(o.dx, name).toBe(good.dx);
        let moved = 0;
        for (let i = 0; i < n; i++) if (!Object.is(mc.template![i], snapshot[i])) moved++;
        expect(moved, `${name}: template unchanged`).toBe(0);
        if (name === 'all-zero' || name === 'constant' || name === 'NaN-only') expect(o.peak, name).toBeNull();
        console.log(`hold ${backend} | ${name}: ok=${o.ok} peak=${o.peak?.toFixed(3) ?? 'null'} quality=${o.quality?.toFixed(2) ?? 'null'}`);
      }
      // Two bad frames in a row still hold the same shift; the next good frame is measured again.
      const last = outs[outs.length - 1];
      const again = push({ seq: seq++, t: 0, width: W, height: H, channels: 1, data: new Float32Array(n) });
      expect([again.ok, again.dy, again.dx]).toEqual([false, last.dy, last.dx]);
      const next = push(toFloat32(mic.nextFrame()));
      expect(next.ok).toBe(true);
      const [ey, ex] = err(next);
      expect(Math.hypot(ey, ex)).toBeLessThan(0.2);
      mc.dispose();
    });
  }

  it('before any good frame the hold is (0, 0)', () => {
    // A bootstrap made only of the same blank frame: nothing is good, every shift is (0, 0).
    const mc = new MotionCorrector(W, H, 1, 'uint16', options({ templateFrames: 3 }), kernels.ts);
    const frames: Frame[] = Array.from({ length: 4 }, (_, i) => ({ seq: i, t: 0, width: W, height: H, channels: 1, data: new Uint16Array(W * H).fill(50) }));
    const outs = runAll(mc, frames);
    expect(outs.map((o) => [o.ok, o.dy, o.dx])).toEqual(frames.map(() => [false, 0, 0]));
    mc.dispose();
  });
});

describe('non-finite pixels (float32 frames)', () => {
  for (const backend of BACKENDS) {
    it(`${backend}: NaN/±Inf pixels never enter the template (bootstrap or EMA) and stay in the registered frame`, () => {
      // docs/registration.md section 1: non-finite pixels are replaced by the mean of the
      // finite ones. Before the fix, the EMA folded the frame's own NaN pixels into the
      // template, where they stayed forever and spread with every recentring warp: with 5 NaN
      // pixels per frame, 61 % of a 128² template was NaN after 300 frames, 97 % after 600,
      // and from then on every frame was flagged.
      const mic = microscope(`${MOVIE}&seed=14`);
      const opts = options({ templateFrames: 20, templateUpdate: 'ema', templateRate: 0.05, templateUpdateEvery: 5, templateRecentreEvery: 25 });
      const mc = new MotionCorrector(W, H, 1, 'float32', opts, kernels[backend]);
      const r = seededRandom(99);
      const n = W * H;
      const outs: Out[] = [];
      let keptNaN = 0;
      for (let i = 0; i < 200; i++) {
        const f = toFloat32(mic.nextFrame());
        const d = f.data as Float32Array;
        const special = [NaN, NaN, NaN, Infinity, -Infinity];
        for (const v of special) d[Math.floor(r() * n)] = v;
        const nonFinite = d.filter((v) => !Number.isFinite(v)).length;
        mc.push(f, (res) => {
          outs.push(keep(res));
          // The registered frame is the warp of the frame as it is: its NaN pixels remain.
          if (res.registered[0].some((v) => Number.isNaN(v))) keptNaN++;
        });
        // The frame itself is not modified.
        expect(d.filter((v) => !Number.isFinite(v)).length).toBe(nonFinite);
        if (mc.template !== null) {
          const bad = mc.template.filter((v) => !Number.isFinite(v)).length;
          expect(bad, `frame ${i}: non-finite template pixels`).toBe(0);
        }
      }
      expect(outs).toHaveLength(200);
      expect(outs.every((o) => o.ok)).toBe(true);
      expect(keptNaN).toBeGreaterThan(150);
      expect(rms(outs)).toBeLessThan(0.06);
      mc.dispose();
    });
  }

  it('with the DoG prefilter, a NaN pixel costs its own value only (not a blurred region)', () => {
    const mic = microscope(`${MOVIE}&seed=15`);
    const frames = Array.from({ length: 40 }, (_, i) => {
      const f = toFloat32(mic.nextFrame());
      if (i % 2 === 0) for (let k = 0; k < 40; k++) (f.data as Float32Array)[(k * 977 + i * 131) % (W * H)] = NaN;
      return f;
    });
    const outs = runAll(new MotionCorrector(W, H, 1, 'float32', options({ prefilter: 'dog', templateFrames: 20 }), kernels.ts), frames);
    expect(outs.every((o) => o.ok)).toBe(true);
    expect(rms(outs)).toBeLessThan(0.06);
  });
});

describe('EMA template update', () => {
  it('stays unbiased against ground truth over a long drifting run with jumps (wasm)', () => {
    // 20 bootstrap frames, then 1500 good frames = 1500 updates: the last update is the
    // 15th recentre (every 100), so the final template has just been put back in place.
    const N = 20;
    const frames = N + 1500;
    // A static textured scene (objects=0): the cells' intensity dynamics would bias the
    // registration itself at 128² (see MOVIE) and hide the template's own drift.
    const uri = `width=${W}&height=${H}&noise=moderate&drift=0.3&maxDrift=6&jumpRate=0.01&objects=0&seed=21`;
    const run = (recentreEvery: number) => {
      const mic = microscope(uri);
      const opts = options({ templateFrames: N, templateUpdate: 'ema', templateRate: 0.02, templateUpdateEvery: 10, templateRecentreEvery: recentreEvery });
      const mc = new MotionCorrector(W, H, 1, 'uint16', opts, kernels.wasm);
      const outs: Out[] = [];
      let bootstrapTemplate: Float32Array | null = null;
      for (let i = 0; i < frames; i++) {
        mc.push(mic.nextFrame(), (r) => outs.push(keep(r)));
        if (bootstrapTemplate === null && mc.template !== null) bootstrapTemplate = mc.template.slice();
      }
      // Where the updated template now sits relative to the bootstrap one (TS reference).
      const { hp, wp } = Registrar.paddedSize(W, H);
      const reg = new Registrar(W, H, { ...opts, minQuality: 0 }, kernels.ts.correlator(hp, wp));
      reg.setTemplate(bootstrapTemplate!);
      const e = reg.register(mc.template!);
      mc.dispose();
      return { outs, templateDrift: Math.hypot(e.dy, e.dx), jumps: mic.jumpCount };
    };
    const stats = (outs: Out[]) => {
      const first = outs.slice(0, 300);
      const last = outs.slice(-300);
      const meanErr = (s: Out[]) => [mean(s.map((o) => err(o)[0])), mean(s.map((o) => err(o)[1]))];
      return { rmsFirst: rms(first), rmsLast: rms(last), meanLast: meanErr(last), flagged: outs.filter((o) => !o.ok).length };
    };
    const on = run(100);
    const off = run(1e9);
    const a = stats(on.outs);
    const b = stats(off.outs);
    const fmt = (s: typeof a, drift: number) =>
      `RMS first 300 ${s.rmsFirst.toFixed(4)} px, last 300 ${s.rmsLast.toFixed(4)} px (×${(s.rmsLast / s.rmsFirst).toFixed(2)}), mean error last 300 (${s.meanLast[0].toFixed(4)}, ${s.meanLast[1].toFixed(4)}) px, final template vs bootstrap template ${drift.toFixed(4)} px, flagged ${s.flagged}`;
    console.log(`ema | recentre every 100: ${fmt(a, on.templateDrift)}`);
    console.log(`ema | recentre disabled:  ${fmt(b, off.templateDrift)}`);
    expect(on.outs).toHaveLength(frames);
    // The motion is real: drift and jumps over several pixels.
    expect(on.jumps).toBeGreaterThan(5);
    const span = Math.max(...on.outs.map((o) => Math.hypot(o.frameTruth!.dy, o.frameTruth!.dx)));
    expect(span).toBeGreaterThan(3);
    expect(a.flagged).toBe(0);
    // Measured over seeds 21–26 (this scene): with recentring the last-300 RMS is 1.0–1.7×
    // the first-300 one and |mean error| ≤ 0.045 px; with recentring disabled 1.3–4.6× and
    // up to 0.13 px. Only the recentred run is asserted, with the bounds of the brief.
    const { rmsLast: lastError, rmsFirst: firstError } = a;
    expect(lastError).toBeLessThanOrEqual(2 * firstError);
    expect(lastError).toBeLessThan(0.1);
    expect(Math.abs(a.meanLast[0])).toBeLessThan(0.06);
    expect(Math.abs(a.meanLast[1])).toBeLessThan(0.06);
    // Just recentred: the template is back on the bootstrap template, up to the recentre
    // tolerance (0.01 px) and the residual of re-measuring a warped template.
    expect(on.templateDrift).toBeLessThan(0.02);
  });
});

describe('resetTemplate()', () => {
  for (const backend of BACKENDS) {
    it(`${backend}: the next N frames rebuild the template, results pause then resume, shifts consistent`, () => {
      const N = 10;
      const mic = microscope(`${MOVIE}&seed=5`);
      const mc = new MotionCorrector(W, H, 1, 'uint16', options({ templateFrames: N, templateUpdate: 'ema' }), kernels[backend]);
      const outs: Out[] = [];
      for (let i = 0; i < 30; i++) mc.push(mic.nextFrame(), (r) => outs.push(keep(r)));
      expect(outs).toHaveLength(30);
      mc.resetTemplate();
      expect(mc.template).toBeNull();
      // Move well away from the first template's position, so that the new one differs.
      const frames: Frame[] = [];
      for (let i = 0; i < N + 10; i++) {
        const seq = 1000 + i;
        const dy = 3.2 + 0.15 * Math.sin(i);
        const dx = -2.7 + 0.15 * Math.cos(i);
        frames.push({ seq, t: seq * 33, width: W, height: H, channels: 1, data: mic.renderFrame(dy, dx, seq * 33), truth: { dy, dx } });
      }
      const after: Out[] = [];
      frames.forEach((f, i) => {
        const before = after.length;
        mc.push(f, (r) => after.push(keep(r)));
        const emitted = after.length - before;
        expect(emitted, `push ${i}`).toBe(i < N - 1 ? 0 : i === N - 1 ? N : 1);
      });
      expect(after.map((o) => o.seq)).toEqual(frames.map((f) => f.seq));
      // The new template sits at the mean position of its N frames: shifts are small again
      // and truth is relative to that position.
      const ty = mean(frames.slice(0, N).map((f) => f.truth!.dy));
      const tx = mean(frames.slice(0, N).map((f) => f.truth!.dx));
      for (let i = 0; i < after.length; i++) {
        const o = after[i];
        expect(o.ok).toBe(true);
        expect(o.truth!.dy).toBeCloseTo(frames[i].truth!.dy - ty, 12);
        expect(o.truth!.dx).toBeCloseTo(frames[i].truth!.dx - tx, 12);
        expect(Math.abs(o.dy)).toBeLessThan(1);
        expect(Math.abs(o.dx)).toBeLessThan(1);
        const [ey, ex] = err(o);
        expect(Math.hypot(ey, ex)).toBeLessThan(0.2);
      }
      console.log(`reset ${backend} | RMS |shift − truth| after reset ${rms(after).toFixed(4)} px (before: ${rms(outs).toFixed(4)} px)`);
      mc.dispose();
    });
  }
});

describe('frame checks and channels', () => {
  it('a frame of the wrong size or channel count throws a RangeError naming both sizes', () => {
    const mc = new MotionCorrector(W, H, 1, 'uint16', options(), kernels.ts);
    const f = (w: number, h: number, c: number): Frame => ({ seq: 7, t: 0, width: w, height: h, channels: c, data: new Uint16Array(w * h * c) });
    expect(() => mc.push(f(64, 128, 1), () => {})).toThrow(RangeError);
    expect(() => mc.push(f(64, 128, 1), () => {})).toThrow('64×128×1, expected 128×128×1');
    expect(() => mc.push(f(128, 127, 1), () => {})).toThrow('128×127×1, expected 128×128×1');
    expect(() => mc.push(f(128, 128, 2), () => {})).toThrow('128×128×2, expected 128×128×1');
    // Nothing was queued by the refused frames.
    expect(mc.pendingCount).toBe(0);
    mc.dispose();
  });

  for (const backend of BACKENDS) {
    for (const [border, cval] of [['constant', -5], ['nearest', 0], ['nan', 0]] as const) {
      it(`${backend}, border ${border}: registered[] has one plane per channel, each warped by the same shift`, () => {
        const w = 96;
        const h = 80;
        const mic = microscope(`width=${w}&height=${h}&noise=moderate&drift=0.5&maxDrift=5&channels=2&seed=6`);
        const mc = new MotionCorrector(w, h, 2, 'uint16', options({ templateFrames: 5, border, borderValue: cval }), kernels[backend]);
        const n = w * h;
        const ref = new Float32Array(n);
        let frames = 0;
        let worst = 0;
        let subPixel = 0;
        for (let i = 0; i < 15; i++) {
          mc.push(mic.nextFrame(), (r) => {
            frames++;
            expect(r.registered).toHaveLength(2);
            expect(r.valid).toEqual(warpGeometry(w, h, -r.dy, -r.dx).rect);
            if (!Number.isInteger(r.dy) || !Number.isInteger(r.dx)) subPixel++;
            for (let c = 0; c < 2; c++) {
              const plane = r.frame.data.subarray(c * n, (c + 1) * n);
              const rect = warpTranslate(plane, w, h, -r.dy, -r.dx, ref, border, cval);
              expect(rect).toEqual(r.valid);
              const got = r.registered[c];
              expect(got).toHaveLength(n);
              for (let k = 0; k < n; k++) {
                if (Number.isNaN(ref[k])) {
                  expect(got[k]).toBeNaN();
                  continue;
                }
                // TS: the same code, exactly; WASM: f32 arithmetic, ≤ 8·2^-24 of the taps
                // (see test/kernels/warper.test.ts), here ≤ 65535.
                worst = Math.max(worst, Math.abs(got[k] - ref[k]));
              }
            }
          });
        }
        expect(frames).toBe(15);
        expect(subPixel).toBeGreaterThan(10);
        if (backend === 'ts') expect(worst).toBe(0);
        else expect(worst).toBeLessThanOrEqual(8 * 2 ** -24 * 65535);
        mc.dispose();
      });
    }
  }

  it('registers the chosen channel (channel 1 of a two-channel frame)', () => {
    // Channel 0 is blank, channel 1 carries the moving field: registering channel 0
    // can find nothing, channel 1 recovers the truth.
    const w = 96;
    const h = 96;
    const blobs = makeBlobs(h, w, 31);
    const frames: Frame[] = [];
    const r = seededRandom(9);
    for (let i = 0; i < 20; i++) {
      const dy = (r() - 0.5) * 6;
      const dx = (r() - 0.5) * 6;
      const data = new Float32Array(2 * w * h);
      data.fill(100, 0, w * h);
      data.set(renderBlobs(blobs, h, w, dy, dx), w * h);
      frames.push({ seq: i, t: i, width: w, height: h, channels: 2, data, truth: { dy, dx } });
    }
    const on1 = runAll(new MotionCorrector(w, h, 2, 'float32', options({ channel: 1, templateFrames: 8 }), kernels.ts), frames);
    const on0 = runAll(new MotionCorrector(w, h, 2, 'float32', options({ channel: 0, templateFrames: 8 }), kernels.ts), frames);
    expect(on1.every((o) => o.ok)).toBe(true);
    expect(rms(on1)).toBeLessThan(0.05);
    expect(on0.every((o) => !o.ok && o.dy === 0 && o.dx === 0)).toBe(true);
  });
});

describe('DoG prefilter', () => {
  it('recovers the motion of blobs under a strong static illumination that pulls plain registration toward 0', () => {
    const w = 128;
    const h = 128;
    const blobs = makeBlobs(h, w, 41);
    // Static illumination: a bright off-centre spot (σ 35 px, 3000 counts) on a ramp;
    // the blobs (50–550 counts) move under it. Plus a little white noise.
    const illum = new Float64Array(w * h);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        illum[y * w + x] = 3000 * Math.exp(-((y - 50) ** 2 + (x - 75) ** 2) / (2 * 35 * 35)) + 8 * x + 4 * y;
      }
    }
    const r = seededRandom(12);
    const gauss = () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
    const frames: Frame[] = [];
    for (let i = 0; i < 50; i++) {
      const dy = (r() - 0.5) * 8;
      const dx = (r() - 0.5) * 8;
      const b = renderBlobs(blobs, h, w, dy, dx);
      const data = new Float32Array(w * h);
      for (let k = 0; k < data.length; k++) data[k] = b[k] + illum[k] + 3 * gauss();
      frames.push({ seq: i, t: i, width: w, height: h, channels: 1, data, truth: { dy, dx } });
    }
    const run = (prefilter: 'none' | 'dog', backend: BackendName): Out[] =>
      runAll(new MotionCorrector(w, h, 1, 'float32', options({ prefilter, templateFrames: 10, dogSigmaLow: 1, dogSigmaHigh: 8 }), kernels[backend]), frames);
    for (const backend of BACKENDS) {
      const plain = run('none', backend);
      const dog = run('dog', backend);
      // Without the prefilter the static illumination dominates the correlation: the
      // measurement is pulled toward 0 (regression slope of measured on true shift < 1),
      // while its normalised peak stays high (the illumination matches itself), so the
      // frames are not even flagged.
      const rawErr = (outs: Out[]) => Math.sqrt(mean(outs.map((o) => (o.estDy - o.truth!.dy) ** 2 + (o.estDx - o.truth!.dx) ** 2)) / 2);
      const slope = (outs: Out[]) => {
        let sxy = 0;
        let sxx = 0;
        for (const o of outs) {
          sxy += o.estDy * o.truth!.dy + o.estDx * o.truth!.dx;
          sxx += o.truth!.dy ** 2 + o.truth!.dx ** 2;
        }
        return sxy / sxx;
      };
      console.log(
        `dog ${backend} | none: raw RMS error ${rawErr(plain).toFixed(3)} px, slope ${slope(plain).toFixed(3)}, reported RMS ${rms(plain).toFixed(3)} px, ok ${plain.filter((o) => o.ok).length}/50 | dog: raw RMS ${rawErr(dog).toFixed(4)} px, slope ${slope(dog).toFixed(4)}, reported RMS ${rms(dog).toFixed(4)} px, ok ${dog.filter((o) => o.ok).length}/50`,
      );
      expect(dog.every((o) => o.ok)).toBe(true);
      expect(rms(dog)).toBeLessThan(0.05);
      expect(Math.abs(slope(dog) - 1)).toBeLessThan(0.02);
      expect(slope(plain)).toBeLessThan(0.7);
      expect(rawErr(plain)).toBeGreaterThan(10 * rms(dog));
      expect(rms(plain)).toBeGreaterThan(10 * rms(dog));
    }
  });
});

describe('TS and WASM backends agree', () => {
  for (const [update, dtype] of [['none', 'uint16'], ['ema', 'uint16'], ['ema', 'float32']] as const) {
    it(`same shifts within 1e-3 px on the same movie (templateUpdate ${update}, ${dtype})`, () => {
      const mic = microscope(`${MOVIE}&jumpRate=0.02&seed=8`);
      const frames = Array.from({ length: 200 }, () => {
        const f = mic.nextFrame();
        return dtype === 'float32' ? toFloat32(f) : f;
      });
      const opts = options({ templateFrames: 15, templateUpdate: update, templateUpdateEvery: 5, templateRecentreEvery: 20 });
      const run = (b: BackendName): Out[] => runAll(new MotionCorrector(W, H, 1, dtype as Dtype, opts, kernels[b]), frames);
      const ts = run('ts');
      const wa = run('wasm');
      expect(wa.map((o) => o.seq)).toEqual(ts.map((o) => o.seq));
      expect(wa.map((o) => o.ok)).toEqual(ts.map((o) => o.ok));
      let worst = 0;
      for (let i = 0; i < ts.length; i++) worst = Math.max(worst, Math.abs(wa[i].dy - ts[i].dy), Math.abs(wa[i].dx - ts[i].dx));
      console.log(`backends | update ${update} ${dtype}: max |Δshift| ${worst.toExponential(2)} px over ${ts.length} frames, RMS vs truth ts ${rms(ts).toFixed(4)} wasm ${rms(wa).toFixed(4)}`);
      expect(worst).toBeLessThan(1e-3);
      // Not a vacuous comparison of held shifts: the frames are measured, and well.
      expect(ts.filter((o) => o.ok).length).toBe(ts.length);
      expect(rms(ts)).toBeLessThan(0.06);
    });
  }
});
