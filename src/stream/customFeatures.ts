import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { InputError } from '../errors.js';
import type { CustomFeature } from '../kernels/features/custom.js';

/**
 * Loads a module of user-defined features (option objects.custom): every
 * exported function becomes the feature `Custom_<export name>`. JavaScript
 * modules (.js, .mjs) are imported as they are. Node 20 does not import
 * TypeScript, so a .ts/.mts module is bundled by esbuild first (with what it
 * imports, types stripped, never type-checked) into a temporary ES module.
 */
export async function loadCustomFeatures(path: string): Promise<Record<string, CustomFeature>> {
  const file = resolve(path);
  if (!existsSync(file)) throw new InputError(`custom features ${path}: no such file`);
  let mod: Record<string, unknown>;
  try {
    mod = /\.(c|m)?ts$/.test(file) ? await importTypeScript(file) : ((await import(pathToFileURL(file).href)) as Record<string, unknown>);
  } catch (e) {
    throw new InputError(`custom features ${path}: cannot be loaded (${(e as Error).message.split('\n')[0]})`);
  }
  const out: Record<string, CustomFeature> = {};
  for (const [name, v] of Object.entries(mod)) {
    if (typeof v !== 'function') continue;
    if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(name)) throw new InputError(`custom features ${path}: export ${name} is not a valid feature name`);
    out[name] = v as CustomFeature;
  }
  if (Object.keys(out).length === 0) throw new InputError(`custom features ${path}: exports no function`);
  return out;
}

async function importTypeScript(file: string): Promise<Record<string, unknown>> {
  // Loaded only for a TypeScript module: esbuild starts a helper process, stopped once it is done.
  const esbuild = await import('esbuild');
  const out = await esbuild
    .build({ entryPoints: [file], bundle: true, platform: 'node', format: 'esm', target: 'node20', write: false, logLevel: 'silent' })
    .finally(() => esbuild.stop());
  const dir = mkdtempSync(join(tmpdir(), 'scopestream-custom-'));
  try {
    const js = join(dir, basename(file).replace(/\.(c|m)?ts$/, '.mjs'));
    writeFileSync(js, out.outputFiles[0].text);
    return (await import(pathToFileURL(js).href)) as Record<string, unknown>;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
