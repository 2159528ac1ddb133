/**
 * The configuration: defaults, the YAML file, command-line overrides, and the
 * commented config/default.yaml, which must list every option of the schema
 * with exactly the schema's default (so the two cannot drift apart). Each kind
 * of refusal is checked for its message: the option (and the file), the value,
 * what is allowed.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { OPTIONS, type Config, coerceOption, defaultConfig, flattenConfig } from '../../src/config/schema.js';
import { InputError } from '../../src/errors.js';
import { SyntheticMicroscope } from '../../src/ingest/synthetic.js';
import { REPO, readRecord, runCli } from '../helpers/cli.js';
import { writeTiff } from '../helpers/imageWriters.js';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'scopestream-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function yamlFile(name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

/** The InputError `fn` throws; fails when it throws nothing or something else. */
function refusal(fn: () => unknown): string {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(InputError);
  const msg = (caught as InputError).message;
  expect(msg).not.toContain('\n');
  return msg;
}

/** The value at a dotted option name. */
function at(cfg: Config, name: string): unknown {
  return name.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], cfg);
}

const DEFAULT_YAML = path.join(REPO, 'config', 'default.yaml');

describe('loadConfig', () => {
  it('with nothing given is the schema defaults', () => {
    const cfg = loadConfig(undefined);
    expect(cfg).toEqual(defaultConfig());
    expect(cfg.registration.window).toBe('tukey');
    expect(cfg.registration.maxShift).toBeNull();
    expect(cfg.template.frames).toBe(30);
    expect(cfg.replay.speed).toBe('max');
    expect(cfg.record.file).toBeNull();
  });

  it('defaultConfig() returns a fresh object each time', () => {
    const a = defaultConfig();
    a.registration.window = 'hann';
    expect(defaultConfig().registration.window).toBe('tukey');
  });

  it('takes the YAML file over the defaults, converting and checking each value', () => {
    const file = yamlFile(
      'some.yaml',
      [
        'registration:',
        '  window: hann',
        '  maxShift: 12',
        '  channel: luminance',
        '  windowCorrection: off',
        'template:',
        '  frames: 5',
        'replay:',
        '  speed: 2.5',
        'record:',
        '  file: out.ndjson',
        'live: {queue: 3}',
        '',
      ].join('\n'),
    );
    const cfg = loadConfig(file);
    expect(cfg.registration).toMatchObject({ window: 'hann', maxShift: 12, channel: 'luminance', windowCorrection: 'off' });
    expect(cfg.template.frames).toBe(5);
    expect(cfg.replay.speed).toBe(2.5);
    expect(cfg.record.file).toBe('out.ndjson');
    expect(cfg.live.queue).toBe(3);
    // Untouched options keep their defaults, also inside a section the file touched.
    expect(cfg.registration.normalization).toBe('none');
    expect(cfg.template.update).toBe('none');
    expect(cfg.source).toBe('synthetic:');
  });

  it('takes command-line overrides (strings) over the file', () => {
    const file = yamlFile('over.yaml', 'registration:\n  window: hann\n  maxShift: 12\ntemplate:\n  frames: 5\n');
    const cfg = loadConfig(file, {
      'registration.maxShift': '20',
      'template.frames': '7',
      'replay.speed': 'realtime',
      'registration.channel': '1',
      'registration.minPeak': '-0.5',
    });
    expect(cfg.registration.window).toBe('hann'); // from the file
    expect(cfg.registration.maxShift).toBe(20); // the command line wins, as a number
    expect(cfg.template.frames).toBe(7);
    expect(cfg.replay.speed).toBe('realtime');
    expect(cfg.registration.channel).toBe(1);
    expect(cfg.registration.minPeak).toBe(-0.5);
  });

  it('parses "null" from the command line for nullable numbers, and speed factors as numbers', () => {
    const cfg = loadConfig(undefined, { 'registration.maxShift': 'null', 'replay.speed': '0.5' });
    expect(cfg.registration.maxShift).toBeNull();
    expect(cfg.replay.speed).toBe(0.5);
  });

  it('accepts an empty file and sections whose options are all commented out', () => {
    expect(loadConfig(yamlFile('empty.yaml', ''))).toEqual(defaultConfig());
    expect(loadConfig(yamlFile('comments.yaml', '# nothing\n'))).toEqual(defaultConfig());
    expect(loadConfig(yamlFile('bare-sections.yaml', 'registration:\n  # window: hann\ntemplate:\n'))).toEqual(defaultConfig());
  });
});

describe('config/default.yaml', () => {
  const doc: unknown = parse(fs.readFileSync(DEFAULT_YAML, 'utf8'));
  const flat = flattenConfig(doc, DEFAULT_YAML);

  it('lists every option of the schema, and nothing else', () => {
    expect(Object.keys(flat).sort()).toEqual(Object.keys(OPTIONS).sort());
  });

  for (const [name, spec] of Object.entries(OPTIONS)) {
    it(`${name}: parses and equals the schema default (${JSON.stringify(spec.default)})`, () => {
      expect(name in flat, `${name} is missing from config/default.yaml`).toBe(true);
      expect(coerceOption(name, flat[name])).toEqual(spec.default);
    });
  }

  it('loads as a whole to exactly the defaults', () => {
    expect(loadConfig(DEFAULT_YAML)).toEqual(defaultConfig());
  });
});

describe('refusals', () => {
  it('a bad value: option, value and what is allowed', () => {
    expect(refusal(() => loadConfig(undefined, { 'registration.maxShift': '-3' }))).toBe(
      'option registration.maxShift: "-3" is not allowed; expected an integer ≥ 0 (or null)',
    );
    expect(refusal(() => loadConfig(undefined, { 'registration.maxShift': 'abc' }))).toBe(
      'option registration.maxShift: "abc" is not allowed; expected an integer ≥ 0 (or null)',
    );
    expect(refusal(() => loadConfig(undefined, { 'registration.maxShift': '2.5' }))).toContain('"2.5" is not allowed');
    expect(refusal(() => loadConfig(undefined, { 'registration.maxShift': '' }))).toContain('"" is not allowed');
    expect(refusal(() => loadConfig(undefined, { 'template.frames': '0' }))).toBe(
      'option template.frames: "0" is not allowed; expected an integer from 1 to 10000',
    );
    expect(refusal(() => loadConfig(undefined, { 'registration.windowFraction': '1.5' }))).toBe(
      'option registration.windowFraction: "1.5" is not allowed; expected a number from 0.01 to 1',
    );
    expect(refusal(() => loadConfig(undefined, { 'registration.window': 'square' }))).toBe(
      'option registration.window: "square" is not allowed; expected one of hann, tukey, none',
    );
    expect(refusal(() => loadConfig(undefined, { 'registration.channel': 'x' }))).toBe(
      'option registration.channel: "x" is not allowed; expected a channel index (0, 1, …) or "luminance"',
    );
    expect(refusal(() => loadConfig(undefined, { 'registration.channel': '-1' }))).toContain('"-1" is not allowed');
    for (const bad of ['0', '-2', 'fast', 'Infinity', '']) {
      expect(refusal(() => loadConfig(undefined, { 'replay.speed': bad }))).toBe(
        `option replay.speed: ${JSON.stringify(bad)} is not allowed; expected "max", "realtime" or a positive speed factor`,
      );
    }
    expect(refusal(() => loadConfig(undefined, { 'template.frames': 'null' }))).toBe(
      'option template.frames: "null" is not allowed; expected an integer from 1 to 10000',
    );
  });

  it('an unknown option, including names inherited by every object', () => {
    for (const name of ['nosuch.option', 'registration', 'toString', 'constructor', '__proto__', 'registration.hasOwnProperty']) {
      const msg = refusal(() => loadConfig(undefined, { [name]: '1' }));
      expect(msg.startsWith(`unknown option ${name}; known options: source, registration.channel,`), msg).toBe(true);
    }
  });

  it('a file that is not YAML', () => {
    const file = yamlFile('broken.yaml', 'registration:\n  window: [tukey\n');
    expect(refusal(() => loadConfig(file))).toMatch(new RegExp(`^config file ${escape(file)}: not valid YAML \\(.+\\)$`));
  });

  it('a file that cannot be read', () => {
    const file = path.join(dir, 'absent.yaml');
    expect(refusal(() => loadConfig(file))).toBe(`config file ${file}: cannot be read (ENOENT)`);
  });

  it('a file with an unknown key names the file and the key', () => {
    expect(refusal(() => loadConfig(yamlFile('unknown.yaml', 'registration:\n  windw: hann\n')))).toBe(
      `config file ${path.join(dir, 'unknown.yaml')}: unknown option registration.windw`,
    );
    expect(refusal(() => loadConfig(yamlFile('unknown-top.yaml', 'colour: red\n')))).toBe(
      `config file ${path.join(dir, 'unknown-top.yaml')}: unknown option colour`,
    );
    expect(refusal(() => loadConfig(yamlFile('proto.yaml', 'toString: 1\n')))).toBe(
      `config file ${path.join(dir, 'proto.yaml')}: unknown option toString`,
    );
  });

  it('a file with a bad value names the file, the option, the value and what is allowed', () => {
    const file = yamlFile('badvalue.yaml', 'registration:\n  maxShift: -3\n');
    expect(refusal(() => loadConfig(file))).toBe(
      `config file ${file}: option registration.maxShift: -3 is not allowed; expected an integer ≥ 0 (or null)`,
    );
    const file2 = yamlFile('badtype.yaml', 'registration:\n  windowCorrection: true\n');
    expect(refusal(() => loadConfig(file2))).toBe(
      `config file ${file2}: option registration.windowCorrection: true is not allowed; expected one of on, off`,
    );
  });

  it('a file whose document or section is not a mapping', () => {
    const list = yamlFile('list.yaml', '- a\n- b\n');
    expect(refusal(() => loadConfig(list))).toBe(`config file ${list}: the document must be a mapping of options, got ["a","b"]`);
    const scalar = yamlFile('scalar-section.yaml', 'registration: 5\n');
    expect(refusal(() => loadConfig(scalar))).toBe(`config file ${scalar}: section registration must be a mapping of options, got 5`);
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

describe('the command line and the file together (through the CLI)', () => {
  it('flags and --set override the --config file, which overrides the defaults; meta.config has the result', async () => {
    const movie = path.join(dir, 'tiny.tif');
    const sim = new SyntheticMicroscope({ width: 32, height: 32, seed: 2, objects: 4 });
    writeTiff(movie, Array.from({ length: 4 }, () => ({ width: 32, height: 32, channels: 1, dtype: 'uint16' as const, data: sim.nextFrame().data })));
    const file = yamlFile('cli.yaml', 'registration:\n  window: hann\n  maxShift: 4\n  minQuality: 2\ntemplate:\n  frames: 3\n');
    const record = path.join(dir, 'cli.ndjson');
    const r = await runCli(['replay', movie, '--config', file, '--max-shift', '6', '--set', 'registration.window=none', '--record', record]);
    expect(r.code, r.stderr).toBe(0);
    const meta = readRecord(record)[0];
    const cfg = meta.config as unknown as Config;
    expect(cfg.registration.window).toBe('none'); // --set beats the file
    expect(cfg.registration.maxShift).toBe(6); // --max-shift beats the file
    expect(cfg.registration.minQuality).toBe(2); // the file beats the default
    expect(cfg.template.frames).toBe(3);
    expect(cfg.registration.normalization).toBe('none'); // the default
    expect(cfg.record.file).toBe(record);
    expect(cfg.source).toBe(movie);
    // Every option is in meta.config: a record says how it was made.
    for (const name of Object.keys(OPTIONS)) expect(at(cfg, name), name).not.toBeUndefined();
  });
});
