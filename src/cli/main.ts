import { parseArgs } from 'node:util';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { InputError } from '../errors.js';
import { runBench } from './bench.js';
import { runStreamBench } from './benchStream.js';
import { runSoak } from './soak.js';
import { runReplay } from './replay.js';
import { runLive } from './run.js';
import { parseSubscribeOptions, runSubscribe } from './subscribe.js';

const USAGE = `usage:
  scopestream run       [--source URI] [--record FILE] [--host H] [--port P] [--token T] [--config FILE] [options]
  scopestream replay    PATH [--record FILE] [--speed max|realtime|FACTOR] [--serve] [--config FILE] [options]
  scopestream subscribe WS_URL [--topics t1,t2] [--format ndjson|csv] [--out FILE] [--token T] [--from-start] [--until-end]
  scopestream bench     [--size WxH] [--json]
  scopestream bench stream [--json]   (the server: 512² at 200 fps to 100 subscribers; fan-out to 200 clients)
  scopestream bench soak [--minutes N] (100 fps, 20 subscribers, recording: memory, loop delay, losses per minute)

server (run, replay --serve; docs/protocol.md):
  --host H / --port P    where to listen (server.host 127.0.0.1, server.port 8080; 0: any free port)
  --token T              required from clients (server.token); needed to bind beyond loopback
  --insecure             bind beyond loopback without a token (server.insecure)
  --ws-engine E          ws | uws (server.wsEngine)
  --workers N            auto | 2 (register, measure: two worker threads) | 1 (one) | 0 (main thread) (pipeline.workers)

options (each also lives in the YAML config; the command line wins):
  --max-shift N          largest shift searched, px (registration.maxShift)
  --template-frames N    frames averaged into the template (template.frames)
  --channel C            registered plane: index or luminance (registration.channel)
  --normalization M      none | phase (registration.normalization)
  --backend B            auto | wasm | ts (registration.backend)
  --labels FILE          label image in template coordinates (objects.labels)
  --channels N           group N interleaved planes into one frame (input.channels)
  --channel2 FILE        a second movie, read in lockstep, as further channels (input.channel2)
  --set NAME=VALUE       any option by its dotted name, e.g. --set registration.window=tukey
  -h, --help             this text`;

/** Command-line flags and the config option each one sets. */
const FLAG_OPTIONS: Record<string, string> = {
  source: 'source',
  record: 'record.file',
  speed: 'replay.speed',
  'max-shift': 'registration.maxShift',
  'template-frames': 'template.frames',
  channel: 'registration.channel',
  normalization: 'registration.normalization',
  backend: 'registration.backend',
  labels: 'objects.labels',
  channels: 'input.channels',
  channel2: 'input.channel2',
  host: 'server.host',
  port: 'server.port',
  token: 'server.token',
  'ws-engine': 'server.wsEngine',
  workers: 'pipeline.workers',
};

interface Parsed {
  command: string;
  positionals: string[];
  config: Config;
  values: Record<string, string | boolean | string[] | undefined>;
}

const OPTIONS = {
  // Every flag that sets a config option takes a value.
  ...(Object.fromEntries(Object.keys(FLAG_OPTIONS).map((flag) => [flag, { type: 'string' }])) as Record<string, { type: 'string' }>),
  config: { type: 'string' },
  set: { type: 'string', multiple: true },
  size: { type: 'string' },
  json: { type: 'boolean' },
  serve: { type: 'boolean' },
  insecure: { type: 'boolean' },
  topics: { type: 'string' },
  format: { type: 'string' },
  out: { type: 'string' },
  'until-end': { type: 'boolean' },
  'from-start': { type: 'boolean' },
  minutes: { type: 'string' },
  runs: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/**
 * `--max-shift -3` → `--max-shift=-3`: parseArgs takes a value that starts
 * with "-" for a flag and refuses it as "ambiguous", which would hide the
 * real problem (the value) behind a message about the syntax. A flag whose
 * value is missing is refused here, in words.
 */
function attachNegativeValues(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--') {
      out.push(...args.slice(i));
      break;
    }
    const name = a.startsWith('--') ? a.slice(2) : '';
    const next = args[i + 1];
    const takesValue = Object.prototype.hasOwnProperty.call(OPTIONS, name) && OPTIONS[name as keyof typeof OPTIONS].type === 'string';
    if (takesValue && next !== undefined && /^-[\d.]/.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else if (takesValue && (next === undefined || next.startsWith('-'))) {
      throw new InputError(
        next === undefined ? `${a}: needs a value` : `${a}: needs a value, got the option ${next} (write ${a}=${next} if that is the value)`,
      );
    } else {
      out.push(a);
    }
  }
  return out;
}

function parse(argv: string[]): Parsed {
  const command = argv[0];
  let parsed;
  try {
    const args = attachNegativeValues(argv.slice(1));
    parsed = parseArgs({ args, allowPositionals: true, strict: true, options: OPTIONS });
  } catch (e) {
    throw new InputError(`${(e as Error).message.split('\n')[0]} (see scopestream --help)`);
  }
  const overrides: Record<string, unknown> = {};
  for (const [flag, option] of Object.entries(FLAG_OPTIONS)) {
    const v = parsed.values[flag as keyof typeof parsed.values];
    if (typeof v === 'string') overrides[option] = v;
  }
  // Boolean flags that set options.
  if (parsed.values.insecure === true) overrides['server.insecure'] = 'true';
  for (const kv of parsed.values.set ?? []) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new InputError(`--set ${kv}: expected NAME=VALUE`);
    overrides[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  const config = loadConfig(parsed.values.config, overrides);
  return { command, positionals: parsed.positionals, config, values: parsed.values };
}

export async function main(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    process.stdout.write(USAGE + '\n');
    return argv.length === 0 ? 2 : 0;
  }
  try {
    const p = parse(argv);
    if (p.values.help) {
      process.stdout.write(USAGE + '\n');
      return 0;
    }
    switch (p.command) {
      case 'run':
        if (p.positionals.length > 0) throw new InputError(`run: unexpected argument ${p.positionals[0]} (use --source)`);
        return await runLive(p.config);
      case 'replay':
        if (p.positionals.length !== 1) throw new InputError('replay: expected exactly one PATH (a TIFF, a folder or glob of images, or a video)');
        return await runReplay(p.positionals[0], p.config, p.values.serve === true);
      case 'subscribe':
        if (p.positionals.length > 1) throw new InputError(`subscribe: unexpected argument ${p.positionals[1]}`);
        return await runSubscribe(parseSubscribeOptions(p.positionals[0], p.values));
      case 'bench':
        if (p.positionals[0] === 'stream') return await runStreamBench(p.values.json === true);
        if (p.positionals[0] === 'soak') return await runSoak(typeof p.values.minutes === 'string' ? p.values.minutes : undefined);
        return await runBench({
          size: typeof p.values.size === 'string' ? p.values.size : undefined,
          json: p.values.json === true,
          runs: typeof p.values.runs === 'string' ? p.values.runs : undefined,
          backend: p.config.registration.backend,
        });
      default:
        throw new InputError(`unknown command ${p.command}; expected run, replay, subscribe or bench (see scopestream --help)`);
    }
  } catch (e) {
    if (e instanceof InputError) {
      process.stderr.write(`scopestream: ${e.message}\n`);
      return 2;
    }
    // Anything else (a worker that keeps failing, a bug): one line too; the stack with SCOPESTREAM_DEBUG=1.
    const err = e instanceof Error ? e : new Error(String(e));
    process.stderr.write(`scopestream: ${err.message}\n`);
    if (process.env.SCOPESTREAM_DEBUG) process.stderr.write(`${err.stack ?? ''}\n`);
    return 1;
  }
}
