import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCustomFeatures } from '../../src/stream/customFeatures.js';
import { expectInputError } from '../helpers/errors.js';

describe('loadCustomFeatures', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'scopestream-'));
  const write = (name: string, text: string): string => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, text);
    return p;
  };

  it('takes every exported function, by its export name', async () => {
    const f = await loadCustomFeatures(write('ok.mjs', 'export const a = (v) => v.length; export function b() { return 1; } export const c = 2;'));
    expect(Object.keys(f).sort()).toEqual(['a', 'b']);
    expect(f.a(new Float64Array(3), { id: 1, seq: 0, coords: () => ({ x: new Int32Array(0), y: new Int32Array(0) }) })).toBe(3);
  });

  it('refuses a missing file, a TypeScript module, one that does not load, and one without functions', async () => {
    await expectInputError(loadCustomFeatures(path.join(dir, 'nope.mjs')), 'nope.mjs', /no such file/);
    await expectInputError(loadCustomFeatures(write('f.ts', 'export const a = () => 1;')), 'f.ts', /TypeScript/);
    await expectInputError(loadCustomFeatures(write('bad.mjs', 'export const = ;')), 'bad.mjs', /cannot be loaded/);
    await expectInputError(loadCustomFeatures(write('none.mjs', 'export const x = 1;')), 'none.mjs', /exports no function/);
  });
});
