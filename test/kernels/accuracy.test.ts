import { describe, expect, it } from 'vitest';
import { replayThroughPipeline } from '../helpers/pipeline.js';

/**
 * Registration accuracy against ground truth. The simulated microscope renders
 * a field larger than the frame analytically at known sub-pixel shifts and
 * crops it, so new content enters at the edges and nothing wraps around; each
 * frame carries its true shift, reported relative to the template's own
 * position. Bounds are the targets where it sets one, otherwise about
 * twice what we measure (the measured values are printed and kept in the README).
 */
interface Case {
  name: string;
  uri: string;
  maxShift?: number;
  normalization?: 'none' | 'phase';
  rms: number;
  failRate: number;
}

const n = 300;
const CASES: Case[] = [
  { name: '512² moderate noise, |shift| ≤ 8', uri: `synthetic:?width=512&height=512&noise=moderate&maxDrift=8&drift=0.3&frames=${n}&seed=11`, rms: 0.03, failRate: 0 },
  { name: '512² low SNR, |shift| ≤ 8', uri: `synthetic:?width=512&height=512&noise=low-snr&maxDrift=8&drift=0.3&frames=${n}&seed=12`, rms: 0.1, failRate: 0.005 },
  { name: '512² high SNR, |shift| ≤ 8', uri: `synthetic:?width=512&height=512&noise=high-snr&maxDrift=8&drift=0.3&frames=${n}&seed=13`, rms: 0.01, failRate: 0 },
  { name: '752×480 moderate noise, |shift| ≤ 8', uri: `synthetic:?width=752&height=480&noise=moderate&maxDrift=8&drift=0.3&frames=${n}&seed=14`, rms: 0.015, failRate: 0 },
  { name: '256² moderate noise, |shift| ≤ 3', uri: `synthetic:?width=256&height=256&noise=moderate&maxDrift=3&drift=0.2&frames=${n}&seed=15`, rms: 0.015, failRate: 0 },
  { name: '256² moderate noise, |shift| ≤ 20', uri: `synthetic:?width=256&height=256&noise=moderate&maxDrift=20&drift=0.8&jumpRate=0.01&frames=${n}&seed=16`, maxShift: 48, rms: 0.015, failRate: 0 },
  { name: '512² low SNR, phase normalization', uri: `synthetic:?width=512&height=512&noise=low-snr&maxDrift=8&drift=0.3&frames=${n}&seed=12`, normalization: 'phase', rms: 0.3, failRate: 0.005 },
];

describe('registration accuracy on the simulated microscope (ground truth)', () => {
  for (const c of CASES) {
    it(`${c.name}: RMS ≤ ${c.rms} px, failures (error > 1 px) ≤ ${c.failRate * 100} %`, async () => {
      const run = await replayThroughPipeline(
        c.uri,
        (cfg) => {
          cfg.registration.maxShift = c.maxShift ?? null;
          if (c.normalization) cfg.registration.normalization = c.normalization;
        },
        'auto',
      );
      expect(run.frames.length).toBe(n);
      let se = 0;
      let fails = 0;
      let flagged = 0;
      for (const m of run.frames) {
        const f = m as unknown as { ok: boolean; shift: { dy: number; dx: number }; truth: { dy: number; dx: number } };
        const ey = f.shift.dy - f.truth.dy;
        const ex = f.shift.dx - f.truth.dx;
        se += ey * ey + ex * ex;
        if (Math.hypot(ey, ex) > 1) fails++;
        if (!f.ok) flagged++;
      }
      const rms = Math.sqrt(se / (2 * n));
      console.log(`accuracy | ${c.name} | RMS ${rms.toFixed(4)} px | failures ${fails}/${n} | flagged ${flagged}/${n} | ${run.backend}`);
      const rootMeanSquare = rms;
      expect(rootMeanSquare).toBeLessThanOrEqual(c.rms);
      expect(fails / n).toBeLessThanOrEqual(c.failRate);
    });
  }
});
