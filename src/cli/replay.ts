import type { Config } from '../config/schema.js';
import { newCounters, runPipeline } from '../stream/pipeline.js';
import { type Service, startService } from '../stream/service.js';
import { namingInput, onWorkerRestart, openSession } from './session.js';

/**
 * `scopestream replay PATH`: a recorded movie through the live pipeline,
 * lossless, writing the record. With --serve it is served as `run` serves a
 * live source, and stays served after the movie ends (the dashboard and
 * late subscribers still get what the rings hold, then `end`) until SIGINT or
 * SIGTERM. Exit 0 when the whole movie went through; an input problem
 * mid-movie still closes the record with an `end` line that carries the
 * error and the frame count reached.
 */
export async function runReplay(path: string, config: Config, serve: boolean): Promise<number> {
  const s = await openSession(path, config);
  const counters = newCounters();
  let service: Service | null = null;
  const t0 = performance.now();
  try {
    if (serve) {
      service = await startService(config, s.hub, counters, s.source, s.recorder);
      process.stderr.write(`scopestream: serving ${service.server.url}\n`);
    }
    const r = await namingInput(path, () =>
      runPipeline({ config: { ...config, source: path }, source: s.source, hub: s.hub, backend: config.registration.backend, signal: s.abort.signal, counters, onWorkerRestart, waitForOutputs: s.waitForOutputs, ...service?.hooks }),
    ).catch((e: unknown) => {
      service?.ended(e instanceof Error ? e.message : String(e));
      throw e;
    });
    service?.ended();
    const secs = (performance.now() - t0) / 1000;
    process.stderr.write(
      `scopestream: replayed ${r.frames} frames of ${r.info.width}×${r.info.height} in ${secs.toFixed(2)} s ` +
        `(${(r.frames / secs).toFixed(1)} frames/s, ${r.backend} FFT)` +
        (s.recorder ? `; record: ${s.recorder.path}` : '') +
        (r.errors > 0 ? `; ${r.errors} frames could not be processed (see the record)` : '') +
        '\n',
    );
    if (service && !s.abort.signal.aborted) {
      process.stderr.write(`scopestream: replay finished; still serving ${service.server.url}; Ctrl-C to stop\n`);
      await new Promise((resolve) => s.abort.signal.addEventListener('abort', resolve, { once: true }));
    }
    return 0;
  } finally {
    await service?.close('replay finished');
    await s.close();
  }
}
