import { InputError } from '../errors.js';

/**
 * Every option, its type, default and allowed values, in one table. The YAML
 * file (config/default.yaml) and the command line are both checked against it,
 * and a bad value is refused with a message naming the option, the value and
 * what is allowed.
 */
type Kind =
  | { type: 'number'; min?: number; max?: number; integer?: boolean; nullable?: boolean }
  | { type: 'enum'; values: readonly string[] }
  | { type: 'string'; nullable?: boolean }
  | { type: 'boolean' }
  | { type: 'channel' }
  | { type: 'speed' }
  | { type: 'workers' }
  | { type: 'priority' };

interface OptionSpec {
  kind: Kind;
  default: unknown;
}

export const OPTIONS = {
  source: { kind: { type: 'string' }, default: 'synthetic:' },
  'registration.channel': { kind: { type: 'channel' }, default: 0 },
  'registration.window': { kind: { type: 'enum', values: ['hann', 'tukey', 'none'] }, default: 'tukey' },
  'registration.windowCorrection': { kind: { type: 'enum', values: ['on', 'off'] }, default: 'on' },
  'registration.windowFraction': { kind: { type: 'number', min: 0.01, max: 1 }, default: 0.25 },
  'registration.normalization': { kind: { type: 'enum', values: ['none', 'phase'] }, default: 'none' },
  'registration.phaseSigma': { kind: { type: 'number', min: 0, max: 100 }, default: 1 },
  'registration.maxShift': { kind: { type: 'number', min: 0, integer: true, nullable: true }, default: null },
  'registration.minPeak': { kind: { type: 'number', min: -1, max: 1, nullable: true }, default: null },
  'registration.minQuality': { kind: { type: 'number', min: 0, nullable: true }, default: null },
  'registration.prefilter': { kind: { type: 'enum', values: ['none', 'dog'] }, default: 'none' },
  'registration.dogSigmaLow': { kind: { type: 'number', min: 0, max: 100 }, default: 1 },
  'registration.dogSigmaHigh': { kind: { type: 'number', min: 0, max: 200 }, default: 8 },
  'registration.border': { kind: { type: 'enum', values: ['constant', 'nan', 'nearest'] }, default: 'nan' },
  'registration.borderValue': { kind: { type: 'number' }, default: 0 },
  'registration.backend': { kind: { type: 'enum', values: ['auto', 'wasm', 'ts'] }, default: 'auto' },
  'template.frames': { kind: { type: 'number', min: 1, max: 10000, integer: true }, default: 30 },
  'template.update': { kind: { type: 'enum', values: ['none', 'ema'] }, default: 'none' },
  'template.rate': { kind: { type: 'number', min: 0, max: 1 }, default: 0.02 },
  'template.updateEvery': { kind: { type: 'number', min: 1, integer: true }, default: 10 },
  'template.recentreEvery': { kind: { type: 'number', min: 1, integer: true }, default: 100 },
  'input.channels': { kind: { type: 'number', min: 1, max: 64, integer: true }, default: 1 },
  'input.channel2': { kind: { type: 'string', nullable: true }, default: null },
  'replay.speed': { kind: { type: 'speed' }, default: 'max' },
  'record.file': { kind: { type: 'string', nullable: true }, default: null },
  'live.queue': { kind: { type: 'number', min: 1, max: 10000, integer: true }, default: 8 },
  'live.statusInterval': { kind: { type: 'number', min: 0.1, max: 3600 }, default: 1 },
  'pipeline.workers': { kind: { type: 'workers' }, default: 'auto' },
  'pipeline.priority': { kind: { type: 'priority' }, default: 'auto' },
  'server.enabled': { kind: { type: 'boolean' }, default: true },
  'server.host': { kind: { type: 'string' }, default: '127.0.0.1' },
  'server.port': { kind: { type: 'number', min: 0, max: 65535, integer: true }, default: 8080 },
  'server.token': { kind: { type: 'string', nullable: true }, default: null },
  'server.insecure': { kind: { type: 'boolean' }, default: false },
  'server.wsEngine': { kind: { type: 'enum', values: ['ws', 'uws'] }, default: 'ws' },
  'server.bufferMessages': { kind: { type: 'number', min: 0, max: 10000000, integer: true }, default: 10000 },
  'server.bufferSeconds': { kind: { type: 'number', min: 0, max: 86400 }, default: 60 },
  'server.bufferBytes': { kind: { type: 'number', min: 0, integer: true }, default: 128 * 2 ** 20 },
  'server.clientBufferBytes': { kind: { type: 'number', min: 1024, integer: true }, default: 4 * 2 ** 20 },
  'server.clientMaxDropped': { kind: { type: 'number', min: 1, integer: true }, default: 20000 },
  'server.maxClientMessageBytes': { kind: { type: 'number', min: 256, max: 16 * 2 ** 20, integer: true }, default: 64 * 1024 },
  'server.statsHz': { kind: { type: 'number', min: 0.1, max: 50 }, default: 2 },
  'server.latencyWindow': { kind: { type: 'number', min: 10, max: 1000000, integer: true }, default: 500 },
  'server.previewFps': { kind: { type: 'number', min: 0, max: 120 }, default: 15 },
  'server.previewMaxSize': { kind: { type: 'number', min: 16, max: 4096, integer: true }, default: 512 },
  'record.rotateBytes': { kind: { type: 'number', min: 0, integer: true }, default: 0 },
  'record.rotateSeconds': { kind: { type: 'number', min: 0 }, default: 0 },
  'record.maxBacklogBytes': { kind: { type: 'number', min: 65536, integer: true }, default: 64 * 2 ** 20 },
  'ffmpeg.path': { kind: { type: 'string', nullable: true }, default: null },
  'ffmpeg.probePath': { kind: { type: 'string', nullable: true }, default: null },
  'ffmpeg.inputFormat': { kind: { type: 'string', nullable: true }, default: null },
  'ffmpeg.videoSize': { kind: { type: 'string', nullable: true }, default: null },
  'ffmpeg.framerate': { kind: { type: 'number', min: 0.001, max: 10000, nullable: true }, default: null },
  'ffmpeg.rtspTransport': { kind: { type: 'enum', values: ['tcp', 'udp'] }, default: 'tcp' },
  'ffmpeg.timeout': { kind: { type: 'number', min: 0.1, max: 3600 }, default: 10 },
  'ffmpeg.reconnectInitial': { kind: { type: 'number', min: 0.01, max: 3600 }, default: 0.5 },
  'ffmpeg.reconnectMax': { kind: { type: 'number', min: 0.01, max: 3600 }, default: 10 },
  'tcp.maxFrameBytes': { kind: { type: 'number', min: 1, integer: true }, default: 256 * 2 ** 20 },
  'tcp.timeout': { kind: { type: 'number', min: 0.1, max: 3600 }, default: 10 },
  'watch.interval': { kind: { type: 'number', min: 0.01, max: 3600 }, default: 0.5 },
  'watch.existing': { kind: { type: 'boolean' }, default: true },
  'tiff.maxPixels': { kind: { type: 'number', min: 1, integer: true }, default: 2 ** 28 },
  'localCorrelation.block': { kind: { type: 'number', min: 0, max: 4096, integer: true }, default: 32 },
  'objects.mode': { kind: { type: 'enum', values: ['fixed', 'tracked', 'none'] }, default: 'fixed' },
  'objects.maxDisplacement': { kind: { type: 'number', min: 0, max: 10000 }, default: 10 },
  'objects.labels': { kind: { type: 'string', nullable: true }, default: null },
  'objects.channel': { kind: { type: 'channel' }, default: 0 },
  'objects.method': { kind: { type: 'enum', values: ['otsu', 'sauvola'] }, default: 'otsu' },
  'objects.sigma': { kind: { type: 'number', min: 0, max: 50 }, default: 2 },
  'objects.sauvolaWindow': { kind: { type: 'number', min: 3, max: 1001, integer: true }, default: 31 },
  'objects.sauvolaK': { kind: { type: 'number', min: 0, max: 1 }, default: 0.2 },
  'objects.sauvolaR': { kind: { type: 'number', min: 0, nullable: true }, default: null },
  'objects.connectivity': { kind: { type: 'enum', values: ['4', '8'] }, default: '4' },
  'objects.minArea': { kind: { type: 'number', min: 0, integer: true }, default: 20 },
  'objects.maxArea': { kind: { type: 'number', min: 0, integer: true, nullable: true }, default: null },
  'objects.excludeBorder': { kind: { type: 'boolean' }, default: false },
  'objects.custom': { kind: { type: 'string', nullable: true }, default: null },
  'objects.resegmentEvery': { kind: { type: 'number', min: 0, integer: true }, default: 100 },
  'objects.quartilesEvery': { kind: { type: 'number', min: 0, integer: true }, default: 1 },
  'colocalization.mode': { kind: { type: 'enum', values: ['auto', 'off'] }, default: 'auto' },
  'colocalization.channels': { kind: { type: 'string' }, default: '0,1' },
  'colocalization.threshold': { kind: { type: 'number', min: 0, max: 1 }, default: 0.15 },
  'colocalization.rwc': { kind: { type: 'boolean' }, default: false },
  'traces.of': { kind: { type: 'string', nullable: true }, default: 'Intensity_MeanIntensity' },
  'traces.tau': { kind: { type: 'number', min: 0.001, max: 86400 }, default: 2 },
  'traces.baseline': { kind: { type: 'enum', values: ['percentile', 'maximin'] }, default: 'percentile' },
  'traces.baselineWindow': { kind: { type: 'number', min: 0.001, max: 86400 }, default: 30 },
  'traces.baselinePercentile': { kind: { type: 'number', min: 0, max: 100 }, default: 8 },
  'traces.eventK': { kind: { type: 'number', min: 0.1, max: 100 }, default: 3 },
  'traces.refractory': { kind: { type: 'number', min: 0, max: 86400 }, default: 1 },
} as const satisfies Record<string, OptionSpec>;

export type OptionName = keyof typeof OPTIONS;

/** Own keys only: `toString`, `constructor`, `__proto__` … are not options. */
function isOption(name: string): boolean {
  return Object.prototype.hasOwnProperty.call(OPTIONS, name);
}

export type Speed = 'max' | 'realtime' | number;

export interface Config {
  source: string;
  registration: {
    channel: number | 'luminance';
    window: 'hann' | 'tukey' | 'none';
    windowCorrection: 'on' | 'off';
    windowFraction: number;
    normalization: 'none' | 'phase';
    phaseSigma: number;
    maxShift: number | null;
    minPeak: number | null;
    minQuality: number | null;
    prefilter: 'none' | 'dog';
    dogSigmaLow: number;
    dogSigmaHigh: number;
    border: 'constant' | 'nan' | 'nearest';
    borderValue: number;
    backend: 'auto' | 'wasm' | 'ts';
  };
  template: { frames: number; update: 'none' | 'ema'; rate: number; updateEvery: number; recentreEvery: number };
  input: { channels: number; channel2: string | null };
  replay: { speed: Speed };
  record: { file: string | null; rotateBytes: number; rotateSeconds: number; maxBacklogBytes: number };
  live: { queue: number; statusInterval: number };
  pipeline: { workers: 'auto' | number; priority: 'auto' | number | null };
  server: {
    enabled: boolean;
    host: string;
    port: number;
    token: string | null;
    insecure: boolean;
    wsEngine: 'ws' | 'uws';
    bufferMessages: number;
    bufferSeconds: number;
    bufferBytes: number;
    clientBufferBytes: number;
    clientMaxDropped: number;
    maxClientMessageBytes: number;
    statsHz: number;
    latencyWindow: number;
    previewFps: number;
    previewMaxSize: number;
  };
  ffmpeg: {
    path: string | null;
    probePath: string | null;
    inputFormat: string | null;
    videoSize: string | null;
    framerate: number | null;
    rtspTransport: 'tcp' | 'udp';
    timeout: number;
    reconnectInitial: number;
    reconnectMax: number;
  };
  tcp: { maxFrameBytes: number; timeout: number };
  watch: { interval: number; existing: boolean };
  tiff: { maxPixels: number };
  localCorrelation: { block: number };
  colocalization: { mode: 'auto' | 'off'; channels: string; threshold: number; rwc: boolean };
  traces: {
    of: string | null;
    tau: number;
    baseline: 'percentile' | 'maximin';
    baselineWindow: number;
    baselinePercentile: number;
    eventK: number;
    refractory: number;
  };
  objects: {
    mode: 'fixed' | 'tracked' | 'none';
    maxDisplacement: number;
    labels: string | null;
    channel: number | 'luminance';
    method: 'otsu' | 'sauvola';
    sigma: number;
    sauvolaWindow: number;
    sauvolaK: number;
    sauvolaR: number | null;
    connectivity: '4' | '8';
    minArea: number;
    maxArea: number | null;
    excludeBorder: boolean;
    custom: string | null;
    resegmentEvery: number;
    quartilesEvery: number;
  };
}

function describeAllowed(kind: Kind): string {
  switch (kind.type) {
    case 'number': {
      const what = kind.integer ? 'an integer' : 'a number';
      const range =
        kind.min !== undefined && kind.max !== undefined
          ? ` from ${kind.min} to ${kind.max}`
          : kind.min !== undefined
            ? ` ≥ ${kind.min}`
            : kind.max !== undefined
              ? ` ≤ ${kind.max}`
              : '';
      return what + range + (kind.nullable ? ' (or null)' : '');
    }
    case 'enum':
      return `one of ${kind.values.join(', ')}`;
    case 'boolean':
      return 'true or false';
    case 'string':
      return kind.nullable ? 'a string (or null)' : 'a string';
    case 'channel':
      return 'a channel index (0, 1, …) or "luminance"';
    case 'speed':
      return '"max", "realtime" or a positive speed factor';
    case 'workers':
      return '"auto", 2 (registration and measurement in two worker threads), 1 (both in one) or 0 (on the main thread)';
    case 'priority':
      return '"auto", a nice value from -20 to 19, or null (left as started)';
  }
}

function refuse(name: string, value: unknown, kind: Kind): never {
  throw new InputError(`option ${name}: ${JSON.stringify(value)} is not allowed; expected ${describeAllowed(kind)}`);
}

/** Checks and converts one value; strings from the command line are parsed. */
export function coerceOption(name: string, value: unknown): unknown {
  const spec = isOption(name) ? (OPTIONS as Record<string, OptionSpec>)[name] : undefined;
  if (!spec) throw new InputError(`unknown option ${name}; known options: ${Object.keys(OPTIONS).join(', ')}`);
  const kind = spec.kind;
  const fromCli = typeof value === 'string';
  switch (kind.type) {
    case 'number': {
      if (value === null || (fromCli && value === 'null')) return kind.nullable ? null : refuse(name, value, kind);
      const v = fromCli && value.trim() !== '' ? Number(value) : value;
      if (typeof v !== 'number' || !Number.isFinite(v)) refuse(name, value, kind);
      if (kind.integer && !Number.isInteger(v)) refuse(name, value, kind);
      if (kind.min !== undefined && v < kind.min) refuse(name, value, kind);
      if (kind.max !== undefined && v > kind.max) refuse(name, value, kind);
      return v;
    }
    case 'enum': {
      // YAML reads `connectivity: 4` as a number; the allowed values are written as text.
      const v = typeof value === 'number' ? String(value) : value;
      if (typeof v !== 'string' || !kind.values.includes(v)) refuse(name, value, kind);
      return v;
    }
    case 'boolean':
      if (value === true || value === 'true') return true;
      if (value === false || value === 'false') return false;
      return refuse(name, value, kind);
    case 'string':
      if (value === null || (fromCli && kind.nullable && value === 'null')) return kind.nullable ? null : refuse(name, value, kind);
      if (typeof value !== 'string') refuse(name, value, kind);
      return value;
    case 'channel': {
      if (value === 'luminance') return value;
      const v = fromCli && value.trim() !== '' ? Number(value) : value;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) refuse(name, value, kind);
      return v;
    }
    case 'speed': {
      if (value === 'max' || value === 'realtime') return value;
      const v = fromCli && value.trim() !== '' ? Number(value) : value;
      if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) refuse(name, value, kind);
      return v;
    }
    case 'workers': {
      if (value === 'auto') return value;
      const v = fromCli && value.trim() !== '' ? Number(value) : value;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 2) refuse(name, value, kind);
      return v;
    }
    case 'priority': {
      if (value === 'auto' || value === null || (fromCli && value === 'null')) return value === 'null' ? null : value;
      const v = fromCli && value.trim() !== '' ? Number(value) : value;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < -20 || v > 19) refuse(name, value, kind);
      return v;
    }
  }
}

export function defaultConfig(): Config {
  const cfg: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(OPTIONS)) setPath(cfg, name, spec.default);
  return cfg as unknown as Config;
}

export function setPath(obj: Record<string, unknown>, name: string, value: unknown): void {
  const parts = name.split('.');
  let o = obj;
  for (const p of parts.slice(0, -1)) {
    if (typeof o[p] !== 'object' || o[p] === null) o[p] = {};
    o = o[p] as Record<string, unknown>;
  }
  o[parts[parts.length - 1]] = value;
}

function shortJson(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 60)}…` : s;
}

/** Flattens a parsed YAML document to dotted option names, refusing unknown keys. */
export function flattenConfig(doc: unknown, file: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const walk = (node: unknown, prefix: string): void => {
    if (node === null || node === undefined) return;
    if (typeof node !== 'object' || Array.isArray(node)) {
      throw new InputError(`${file}: ${prefix ? `section ${prefix}` : 'the document'} must be a mapping of options, got ${shortJson(node)}`);
    }
    for (const [k, v] of Object.entries(node as Record<string, unknown>)) {
      const name = prefix ? `${prefix}.${k}` : k;
      if (isOption(name)) out[name] = v;
      // A section (`registration:` …): a mapping, or empty when all its options are commented out.
      else if (Object.keys(OPTIONS).some((o) => o.startsWith(name + '.'))) walk(v, name);
      else throw new InputError(`${file}: unknown option ${name}`);
    }
  };
  walk(doc, '');
  return out;
}

/** The config as shown on /api/config and in the meta line: the token is a secret. */
export function redactConfig(config: Config): Config {
  return { ...config, server: { ...config.server, token: config.server.token === null ? null : '(redacted)' } };
}
