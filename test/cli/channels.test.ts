import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SyntheticMicroscope, parseSyntheticUri } from '../../src/ingest/synthetic.js';
import { TiffStackWriter } from '../../src/ingest/tiffWriter.js';
import { expectValidRecord, readRecord, runCli } from '../helpers/cli.js';

/**
 * Two-channel movies through the command line: the same frames given as two
 * files (--channel2) or as one stack of interleaved planes (--channels 2) give
 * the same record, with per-object colocalization.
 */
describe('two-channel replay', () => {
  it('gives identical colocalization records for --channel2 and --channels 2', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'scopestream-'));
    const W = 96;
    const H = 80;
    const N = 24;
    const sim = new SyntheticMicroscope(parseSyntheticUri(`synthetic:?width=${W}&height=${H}&objects=8&channels=2&noise=high-snr&seed=6`));
    const a = new TiffStackWriter(path.join(dir, 'c1.tif'), W, H, 'uint16');
    const b = new TiffStackWriter(path.join(dir, 'c2.tif'), W, H, 'uint16');
    const both = new TiffStackWriter(path.join(dir, 'both.tif'), W, H, 'uint16');
    for (let i = 0; i < N; i++) {
      const f = sim.nextFrame();
      const d = f.data as Uint16Array;
      a.write(d.subarray(0, W * H));
      b.write(d.subarray(W * H));
      both.write(d.subarray(0, W * H));
      both.write(d.subarray(W * H));
    }
    a.close();
    b.close();
    both.close();
    const rec1 = path.join(dir, 'merged.ndjson');
    const rec2 = path.join(dir, 'interleaved.ndjson');
    const common = ['--template-frames', '10', '--set', 'objects.minArea=5'];
    const r1 = await runCli(['replay', path.join(dir, 'c1.tif'), '--channel2', path.join(dir, 'c2.tif'), '--record', rec1, ...common]);
    const r2 = await runCli(['replay', path.join(dir, 'both.tif'), '--channels', '2', '--record', rec2, ...common]);
    expect(r1.code, r1.stderr).toBe(0);
    expect(r2.code, r2.stderr).toBe(0);
    const l1 = readRecord(rec1);
    const l2 = readRecord(rec2);
    const p1 = expectValidRecord(l1);
    expectValidRecord(l2);
    expect(p1.meta.channels).toBe(2);
    expect(p1.frames).toHaveLength(N);
    const o1 = l1.filter((l) => l.type === 'objects');
    const o2 = l2.filter((l) => l.type === 'objects');
    expect(o1).toHaveLength(N);
    const pearson = (o1[N - 1].features as Record<string, (number | null)[]>).Correlation_Pearson;
    expect(pearson.length).toBeGreaterThan(0);
    expect(pearson.some((v) => v !== null && v > 0.5)).toBe(true);
    // Same pixels, same pipeline: the object measurements agree exactly. (Trace_* depend on the
    // frame times too, and a TIFF without a frame rate times its pages by index: page 2k starts
    // frame k of the interleaved stack, frame k of the merged pair.)
    const measured = (o: (typeof o1)[number]) =>
      Object.fromEntries(Object.entries(o.features as Record<string, unknown>).filter(([name]) => !name.startsWith('Trace_')));
    expect(o2.map(measured)).toEqual(o1.map(measured));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a second movie of another size, naming it', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'scopestream-'));
    const a = new TiffStackWriter(path.join(dir, 'a.tif'), 32, 32, 'uint16');
    const b = new TiffStackWriter(path.join(dir, 'b.tif'), 32, 30, 'uint16');
    for (let i = 0; i < 3; i++) {
      a.write(new Uint16Array(32 * 32));
      b.write(new Uint16Array(32 * 30));
    }
    a.close();
    b.close();
    const r = await runCli(['replay', path.join(dir, 'a.tif'), '--channel2', path.join(dir, 'b.tif')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('b.tif');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
