import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { TiffStackWriter } from '../../src/ingest/tiffWriter.js';
import { runCli } from '../helpers/cli.js';

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
