import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig } from '../config/schema.js';
import { SyntheticMicroscope, parseSyntheticUri } from '../ingest/synthetic.js';
import { TiffSource } from '../ingest/tiff.js';
import { TiffStackWriter } from '../ingest/tiffWriter.js';
import type { Backend } from '../stream/backend.js';
import { Hub } from '../stream/hub.js';
import { runPipeline } from '../stream/pipeline.js';
import { RECORDED_TOPICS, Recorder } from '../stream/recorder.js';

const FRAMES = 600;
const SIZE = 512;

/**
 * End-to-end replay of a 512² uint16 TIFF movie written for the occasion:
 * read, register, warp, record (and, with objects, segment the template,
 * measure every frame and compute the local correlation map). Reports frames/s over the whole movie and the
 * median/p90 of the time between consecutive results after the template is
 * built (the per-frame cost in steady state).
 */
export async function benchReplay(backend: Backend, withObjects: boolean, workers: 1 | 2 = 1): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), 'scopestream-bench-'));
  try {
    const movie = join(dir, 'movie.tif');
    const sim = new SyntheticMicroscope(parseSyntheticUri(`synthetic:?width=${SIZE}&height=${SIZE}&seed=5`));
    const writer = new TiffStackWriter(movie, SIZE, SIZE, 'uint16');
    for (let i = 0; i < FRAMES; i++) writer.write(sim.nextFrame().data);
    writer.close();

    const config = defaultConfig();
    // One worker (this machine's auto), or registration and measurement in two.
    config.pipeline.workers = workers;
    // The spine alone (read, register, warp, record), or with the default objects and local correlation.
    if (!withObjects) {
      config.objects.mode = 'none';
      config.localCorrelation.block = 0;
    }
    const hub = new Hub();
    const recorder = new Recorder(join(dir, 'record.ndjson'));
    await recorder.ready();
    hub.subscribeText(recorder.write, RECORDED_TOPICS);
    const stamps: number[] = [];
    hub.subscribe(() => stamps.push(performance.now()), ['frame']);
    const t0 = performance.now();
    const s = await runPipeline({ config, source: new TiffSource(movie, {}), hub, backend: backend.name });
    await recorder.close();
    const secs = (performance.now() - t0) / 1000;
    const gaps: number[] = [];
    for (let i = config.template.frames + 1; i < stamps.length; i++) gaps.push(stamps[i] - stamps[i - 1]);
    gaps.sort((a, b) => a - b);
    const q = (p: number): number => Math.round(gaps[Math.floor(p * (gaps.length - 1))] * 1e4) / 1e4;
    return {
      case: (withObjects ? 'replay_tiff_objects' : 'replay_tiff') + (workers === 2 ? '_workers2' : ''),
      size: `${SIZE}x${SIZE}`,
      frames: s.frames,
      fps: Math.round((s.frames / secs) * 10) / 10,
      median_ms: q(0.5),
      p90_ms: q(0.9),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
