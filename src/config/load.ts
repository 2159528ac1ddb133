import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { InputError } from '../errors.js';
import { type Config, coerceOption, defaultConfig, flattenConfig, setPath } from './schema.js';

/**
 * The effective configuration: defaults, then the YAML file, then the
 * command line (dotted option names → raw string values), each value checked.
 */
export function loadConfig(file: string | undefined, overrides: Record<string, unknown> = {}): Config {
  const cfg = defaultConfig() as unknown as Record<string, unknown>;
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new InputError(`config file ${file}: cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
    }
    let doc: unknown;
    try {
      doc = parse(text);
    } catch (e) {
      throw new InputError(`config file ${file}: not valid YAML (${(e as Error).message.split('\n')[0]})`);
    }
    for (const [name, value] of Object.entries(flattenConfig(doc, `config file ${file}`))) {
      try {
        setPath(cfg, name, coerceOption(name, value));
      } catch (e) {
        // Name the file too: the same option may also come from the command line.
        if (e instanceof InputError) throw new InputError(`config file ${file}: ${e.message}`);
        throw e;
      }
    }
  }
  for (const [name, value] of Object.entries(overrides)) setPath(cfg, name, coerceOption(name, value));
  return cfg as unknown as Config;
}
