import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type Config, coerceOption, defaultConfig } from '../config/schema.js';
import { InputError } from '../errors.js';
import { openSource } from '../ingest/open.js';
import { Hub } from '../stream/hub.js';
import { newCounters, runPipeline } from '../stream/pipeline.js';
import { startService } from '../stream/service.js';
import { loadUws } from '../stream/uwsServer.js';
import type { StageTimes } from '../stream/processor.js';
import { machine } from './bench.js';

/**
 * `npm run bench:stream` (issue 4 targets, loopback, this machine):
 *
 * - stream_pipeline: 512² synthetic input at 200 fps with 200 objects, served,
 *   with 100 subscribers on `frame` and `objects` in a separate process.
 *   Reports processed fps in steady state, end-to-end latency p50/p99 (arrival
 *   → hub) after the template is built, frames dropped by the pipeline, the
 *   worker's median stage times, what the subscribers got (gaps, dropped
 *   messages) and the CPU time of the server and of the clients.
 *   SCOPESTREAM_BENCH_WORKERS=0|1|2 overrides `pipeline.workers`;
 *   SCOPESTREAM_BENCH_TRACE=FILE writes one line per frame (arrival time,
 *   latency, stage times) to see how they move over a run; its abs_ms is the
 *   arrival on the process clock, the one `node --trace-gc` prints.
 * - stream_fanout: 1,000 small messages/s to 200 clients; reports per-client
 *   delivery rates (min, median) over the steady seconds.
 * - host_speed, first: how much this machine's CPU speed moves (hostSpeed).
 *
 * Engines: `ws`, and `uws` when the uWebSockets.js package loads (its native
 * build; SCOPESTREAM_BENCH_ENGINES=ws|uws|ws,uws chooses). One JSON line per
 * case and engine.
 */
const CLIENTS_JS = fileURLToPath(new URL('./benchClients.js', import.meta.url));

interface FleetReport {
  /** The fleet process's CPU time (user + system). */
  cpuSeconds: number;
  clients: Record<string, { received: number; gaps: number; dropped: number; stamps?: number[] }>[];
}

export function startFleet(url: string, n: number, topics: string[], until: number, stamps: boolean): { ready: Promise<void>; done: Promise<FleetReport>; stop(): void } {
  const child = spawn(process.execPath, [CLIENTS_JS, url, String(n), topics.join(','), String(until), stamps ? 'stamps' : ''], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  let readyResolve: () => void = () => undefined;
  const ready = new Promise<void>((r) => (readyResolve = r));
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
    if (err.includes('connected')) readyResolve();
  });
  const done = new Promise<FleetReport>((resolve, reject) => {
    child.on('exit', () => {
      try {
        resolve(JSON.parse(out) as FleetReport);
      } catch {
        reject(new Error(`bench clients failed: ${err.trim()}`));
      }
    });
  });
  return { ready, done, stop: () => child.kill('SIGTERM') };
}

const quantile = (a: number[], q: number): number => {
  const s = [...a].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
};
const r2 = (v: number): number => Math.round(v * 100) / 100;

async function streamPipeline(engine: string): Promise<Record<string, unknown>> {
  const FPS = 200;
  const FRAMES = Number(process.env.SCOPESTREAM_BENCH_FRAMES ?? 4000);
  const SUBSCRIBERS = Number(process.env.SCOPESTREAM_BENCH_SUBSCRIBERS ?? 100);
  const uri = `synthetic:?width=512&height=512&fps=${FPS}&objects=200&frames=${FRAMES}&loop=200&seed=31`;
  const config = defaultConfig();
  config.source = uri;
  config.server.port = 0;
  config.server.wsEngine = engine as 'ws' | 'uws';
  const workers = process.env.SCOPESTREAM_BENCH_WORKERS;
  if (workers !== undefined) {
    if (!['0', '1', '2'].includes(workers)) throw new Error(`SCOPESTREAM_BENCH_WORKERS: ${JSON.stringify(workers)} is not allowed; expected 0, 1 or 2`);
    config.pipeline.workers = Number(workers) as 0 | 1 | 2;
  }
  // Read as the command line's --set reads it (the same checks and message).
  const priority = process.env.SCOPESTREAM_BENCH_PRIORITY;
  if (priority !== undefined) {
    try {
      config.pipeline.priority = coerceOption('pipeline.priority', priority) as Config['pipeline']['priority'];
    } catch (e) {
      throw new InputError(`SCOPESTREAM_BENCH_PRIORITY: ${(e as Error).message}`);
    }
  }
  const hub = new Hub();
  const counters = newCounters();
  const source = openSource(uri, config);
  await source.open();
  const service = await startService(config, hub, counters, source);
  const fleet = startFleet(`ws://127.0.0.1:${service.server.port}/ws`, SUBSCRIBERS, ['frame', 'objects'], FRAMES, false);
  await fleet.ready;
  const stamps: number[] = [];
  const latencies: number[] = [];
  const stages: StageTimes[] = [];
  const arrivals: number[] = [];
  hub.subscribe(() => stamps.push(performance.now()), ['frame']);
  const summary = await runPipeline({
    config,
    source,
    hub,
    backend: 'auto',
    counters,
    ...service.hooks,
    onTiming(latency, s) {
      service.hooks.onTiming?.(latency, s);
      latencies.push(latency);
      stages.push(s);
      arrivals.push(performance.now() - latency);
    },
  });
  const traceFile = process.env.SCOPESTREAM_BENCH_TRACE;
  if (traceFile) {
    const lines = latencies.map((l, i) => `${r2(arrivals[i] - arrivals[0])}\t${r2(l)}\t${r2(stages[i].register)}\t${r2(stages[i].warp)}\t${r2(stages[i].measure)}\t${r2(arrivals[i])}\n`);
    writeFileSync(traceFile, `t_ms\tlatency_ms\tregister_ms\twarp_ms\tmeasure_ms\tabs_ms\n${lines.join('')}`);
  }
  // Wait for the subscribers to receive the last messages (bounded), then collect.
  const timer = setTimeout(() => fleet.stop(), 30_000);
  const report = await fleet.done;
  clearTimeout(timer);
  await service.close();
  // Steady state: from 2 s after the template is built to the end.
  const skip = config.template.frames + 2 * FPS;
  const steady = stamps.slice(skip);
  const fps = steady.length > 1 ? (steady.length - 1) / ((steady[steady.length - 1] - steady[0]) / 1000) : 0;
  const lat = latencies.slice(skip);
  const stage = (k: keyof StageTimes): number => r2(quantile(stages.slice(skip).map((s) => s[k]), 0.5));
  const perClient = report.clients.map((c) => c.frame.received);
  return {
    case: 'stream_pipeline',
    engine,
    size: '512x512',
    source_fps: FPS,
    objects: 200,
    subscribers: SUBSCRIBERS,
    frames: summary.frames,
    pipeline_dropped: summary.dropped,
    processed_fps: r2(fps),
    latency_p50_ms: r2(quantile(lat, 0.5)),
    latency_p99_ms: r2(quantile(lat, 0.99)),
    // Per frame in the worker, medians: what the pipeline's own work costs under this load.
    register_ms: stage('register'),
    warp_ms: stage('warp'),
    measure_ms: stage('measure'),
    subscriber_frames_min: Math.min(...perClient),
    subscriber_gaps: report.clients.reduce((s, c) => s + c.frame.gaps + c.objects.gaps, 0),
    subscriber_dropped: report.clients.reduce((s, c) => s + c.frame.dropped + c.objects.dropped, 0),
    clients_cpu_s: r2(report.cpuSeconds),
    // The worker threads' nice values (pipeline.priority), or why one could not be set.
    worker_priority: summary.priority.map((p) => p.error ?? p.applied),
    targets: { processed_fps: '≥ 199', latency_p99_ms: '≤ 15', subscriber_dropped: 0 },
  };
}

async function streamFanout(engine: string): Promise<Record<string, unknown>> {
  const RATE = 1000;
  const SECONDS = Number(process.env.SCOPESTREAM_BENCH_SECONDS ?? 10);
  const CLIENTS = 200;
  const config = defaultConfig();
  config.server.port = 0;
  config.server.wsEngine = engine as 'ws' | 'uws';
  const hub = new Hub();
  const counters = newCounters();
  const source = openSource('synthetic:', config);
  const service = await startService(config, hub, counters, source);
  const total = RATE * SECONDS;
  const fleet = startFleet(`ws://127.0.0.1:${service.server.port}/ws`, CLIENTS, ['event'], total, true);
  await fleet.ready;
  await new Promise((r) => setTimeout(r, 500));
  // Small messages (an event line, ~80 bytes) on a 1 ms clock, caught up in bursts when the timer is late.
  const t0 = performance.now();
  let sent = 0;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * RATE));
      for (; sent < due; sent++) hub.publish('event', { type: 'event', seq: sent, t: sent, id: sent % 200, amplitude: 0.5 });
      if (sent >= total) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  const timer = setTimeout(() => fleet.stop(), 30_000);
  const report = await fleet.done;
  clearTimeout(timer);
  await service.close();
  await source.close();
  // Per-client rate over the steady seconds: messages received from 1 s after the first to 1 s before the last.
  const rates = report.clients.map((c) => {
    const s = c.event.stamps ?? [];
    if (s.length < 2) return 0;
    const a = s[0] + 1000;
    const b = s[s.length - 1] - 1000;
    const inside = s.filter((x) => x >= a && x <= b).length;
    return b > a ? inside / ((b - a) / 1000) : 0;
  });
  return {
    case: 'stream_fanout',
    engine,
    clients: CLIENTS,
    rate: RATE,
    seconds: SECONDS,
    per_client_rate_min: r2(Math.min(...rates)),
    per_client_rate_median: r2(quantile(rates, 0.5)),
    received_min: Math.min(...report.clients.map((c) => c.event.received)),
    sent: total,
    gaps: report.clients.reduce((s, c) => s + c.event.gaps, 0),
    targets: { per_client_rate_min: '≥ 950' },
  };
}

/**
 * How steady this machine's CPU is: a fixed amount of arithmetic (about as
 * long as the pipeline's work on one frame) every 5 ms, as the worker runs,
 * with nothing else of ours running. On a VM whose host has other tenants its
 * time moves by phases of seconds; the pipeline's work moves with it, and a
 * phase slow enough leaves no room at 200 fps whatever the code does. Reported
 * beside the pipeline's figures so that they can be read against it.
 */
async function hostSpeed(): Promise<Record<string, unknown>> {
  const SECONDS = 10;
  const table = Float64Array.from({ length: 4096 }, (_, i) => i * 1e-3);
  const work = (): number => {
    let s = 0;
    for (let r = 0; r < 680; r++) for (let i = 0; i < 4096; i++) s += table[i] * table[(i * 7) & 4095];
    return s;
  };
  let sink = 0;
  for (let i = 0; i < 100; i++) sink += work();
  const perSecond: number[][] = [];
  const t0 = performance.now();
  for (let now = t0; now - t0 < SECONDS * 1000; now = performance.now()) {
    const s = performance.now();
    sink += work();
    const d = performance.now() - s;
    (perSecond[Math.floor((s - t0) / 1000)] ??= []).push(d);
    await new Promise((r) => setTimeout(r, Math.max(0, 5 - d)));
  }
  // Read, so that the arithmetic is not optimised away.
  if (!Number.isFinite(sink)) throw new Error('host_speed: the probe arithmetic went non-finite');
  const medians = perSecond.filter((x) => x !== undefined).map((x) => quantile(x, 0.5));
  return {
    case: 'host_speed',
    seconds: SECONDS,
    work_ms_per_second_median: medians.map(r2),
    slowest_over_fastest: r2(Math.max(...medians) / Math.min(...medians)),
  };
}

export async function runStreamBench(json: boolean): Promise<number> {
  const m = machine();
  const print = (line: Record<string, unknown>): void => void process.stdout.write((json ? JSON.stringify(line) : JSON.stringify(line, null, 1)) + '\n');
  print({ ...(await hostSpeed()), machine: m });
  // SCOPESTREAM_BENCH_ENGINES=uws measures one engine (repeated runs); by default every engine that loads.
  const wanted = (process.env.SCOPESTREAM_BENCH_ENGINES ?? 'ws,uws').split(',');
  const engines: string[] = wanted.filter((e) => e === 'ws');
  if (wanted.includes('uws')) {
    try {
      await loadUws();
      engines.push('uws');
    } catch (e) {
      process.stderr.write(`bench:stream: ${(e as Error).message}; not measuring the uws engine\n`);
    }
  }
  for (const engine of engines) {
    for (const run of [streamPipeline, streamFanout]) {
      // This process's CPU (main thread and pipeline workers, not the clients): what the engine costs,
      // comparable across runs on a machine shared with other work, unlike the rates.
      const cpu0 = process.cpuUsage();
      const result = await run(engine);
      const cpu = process.cpuUsage(cpu0);
      print({ ...result, server_cpu_s: r2((cpu.user + cpu.system) / 1e6), machine: m });
    }
  }
  return 0;
}
