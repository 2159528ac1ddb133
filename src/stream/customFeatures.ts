import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { InputError } from '../errors.js';
import type { CustomFeature } from '../kernels/features/custom.js';

/**
 * Loads a module of user-defined features (option objects.custom): every
 * exported function becomes the feature `Custom_<export name>`. Plain
 * JavaScript modules (.js, .mjs); a TypeScript module must be compiled first,
 * since Node 20 does not import .ts files.
 */
export async function loadCustomFeatures(path: string): Promise<Record<string, CustomFeature>> {
  const file = resolve(path);
  if (!existsSync(file)) throw new InputError(`custom features ${path}: no such file`);
  if (/\.(c|m)?ts$/.test(file)) throw new InputError(`custom features ${path}: a TypeScript module; compile it to .js (Node 20 imports JavaScript only)`);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
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
