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

  it('takes a TypeScript module, with types and a relative import of another TypeScript file', async () => {
    write('helper.ts', 'export function sum(v: Float64Array): number { let s = 0; for (const x of v) s += x; return s; }\n');
    const f = await loadCustomFeatures(
      write('typed.ts', "import { sum } from './helper';\ninterface Ctx { id: number }\nexport function total(values: Float64Array, _ctx: Ctx): number { return sum(values); }\nexport const ids = (_v: Float64Array, ctx: Ctx): number => ctx.id as number;\n"),
    );
    expect(Object.keys(f).sort()).toEqual(['ids', 'total']);
    const ctx = { id: 7, seq: 0, coords: () => ({ x: new Int32Array(0), y: new Int32Array(0) }) };
    expect(f.total(Float64Array.of(1, 2, 3.5), ctx)).toBe(6.5);
    expect(f.ids(new Float64Array(0), ctx)).toBe(7);
  });

  it('refuses a missing file, a module that does not load (JavaScript or TypeScript), and one without functions', async () => {
    await expectInputError(loadCustomFeatures(path.join(dir, 'nope.mjs')), 'nope.mjs', /no such file/);
    await expectInputError(loadCustomFeatures(write('broken.ts', 'export const a = (: number => 1;')), 'broken.ts', /cannot be loaded/);
    await expectInputError(loadCustomFeatures(write('bad.mjs', 'export const = ;')), 'bad.mjs', /cannot be loaded/);
    await expectInputError(loadCustomFeatures(write('none.mjs', 'export const x = 1;')), 'none.mjs', /exports no function/);
  });
});
