import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { TiffStackWriter } from '../../src/ingest/tiffWriter.js';
import { REPO, runCli } from '../helpers/cli.js';

/** Bad objects options are refused before anything is recorded: one line, exit 2, no record left behind. */
describe('objects options that cannot work', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'scopestream-'));
  const movie = path.join(dir, 'm.tif');
  const w = new TiffStackWriter(movie, 32, 32, 'uint16');
  for (let i = 0; i < 3; i++) w.write(new Uint16Array(32 * 32).fill(100 + i));
  w.close();
  const labels = path.join(dir, 'labels.tif');
  const lw = new TiffStackWriter(labels, 16, 16, 'uint16');
  lw.write(new Uint16Array(256));
  lw.close();

  const cases: [string, string[], RegExp][] = [
    ['a feature that does not exist for traces', ['--set', 'traces.of=Intensity_Nope'], /traces\.of: Intensity_Nope/],
    ['a channel the movie does not have', ['--set', 'objects.channel=3'], /objects\.channel: 3/],
    ['a label image of another size', ['--labels', labels], /labels .*labels\.tif: 16×16/],
    ['a missing custom-feature module', ['--set', `objects.custom=${path.join(dir, 'none.mjs')}`], /custom features .*none\.mjs: no such file/],
  ];
  for (const [what, args, message] of cases) {
    it(`refuses ${what}`, async () => {
      const record = path.join(dir, `${what.replace(/\W+/g, '-')}.ndjson`);
      const r = await runCli(['replay', movie, '--record', record, ...args]);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toContain('    at ');
      expect(fs.existsSync(record)).toBe(false);
    });
  }
});

/**
 * --labels with 32-bit integer label images (tifffile-written, test/golden/labels/): the object ids
 * on the record are the label values, gaps and values above 65535 included; a negative label is
 * refused like any bad input.
 */
describe('32-bit label images', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'scopestream-'));
  const movie = path.join(dir, 'm.tif');
  const w = new TiffStackWriter(movie, 24, 20, 'uint16');
  for (let i = 0; i < 3; i++) w.write(Uint16Array.from({ length: 24 * 20 }, (_, j) => 100 + ((j * 37 + i * 11) % 200)));
  w.close();
  const golden = (name: string): string => path.join(REPO, 'test/golden/labels', `${name}.tif`);

  it('object ids are the int32 label values (gaps, above 65535, up to 2147483647)', async () => {
    const record = path.join(dir, 'int32.ndjson');
    const r = await runCli(['replay', movie, '--record', record, '--labels', golden('i32_le_strips'), '--template-frames', '2']);
    expect(r.code, r.stderr).toBe(0);
    const lines = fs.readFileSync(record, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; ids?: number[] });
    const seg = lines.find((l) => l.type === 'segmentation');
    expect(seg?.ids).toEqual([1, 7, 65535, 65536, 70000, 1_000_000, 2_147_483_647]);
    const objects = lines.filter((l) => l.type === 'objects');
    expect(objects).toHaveLength(3);
    for (const o of objects) expect(o.ids).toEqual(seg?.ids);
  });

  it('a negative label: one line naming the file, exit 2, no record', async () => {
    const record = path.join(dir, 'negative.ndjson');
    const labels = golden('i32_negative');
    const r = await runCli(['replay', movie, '--record', record, '--labels', labels]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(labels);
    expect(r.stderr).toMatch(/negative label -2 at pixel/);
    expect(fs.existsSync(record)).toBe(false);
  });
});
