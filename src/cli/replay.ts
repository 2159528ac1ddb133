import type { Config } from '../config/schema.js';
import { runPipeline } from '../stream/pipeline.js';
import { namingInput, openSession } from './session.js';

/**
 * `scopestream replay PATH`: a recorded movie through the live pipeline,
 * lossless, writing the record. Exit 0 when the whole movie went through;
 * an input problem mid-movie still closes the record with an `end` line that
 * carries the error and the frame count reached.
 */
export async function runReplay(path: string, config: Config): Promise<number> {
  const s = await openSession(path, config);
  const t0 = performance.now();
  try {
    const r = await namingInput(path, () =>
      runPipeline({ config: { ...config, source: path }, source: s.source, hub: s.hub, kernels: s.backend.kernels, signal: s.abort.signal }),
    );
    const secs = (performance.now() - t0) / 1000;
    process.stderr.write(
      `scopestream: replayed ${r.frames} frames of ${r.info.width}×${r.info.height} in ${secs.toFixed(2)} s ` +
        `(${(r.frames / secs).toFixed(1)} frames/s, ${s.backend.name} FFT)` +
        (s.recorder ? `; record: ${s.recorder.path}` : '') +
        (r.errors > 0 ? `; ${r.errors} frames could not be processed (see the record)` : '') +
        '\n',
    );
    return 0;
  } finally {
    await s.close();
  }
}
