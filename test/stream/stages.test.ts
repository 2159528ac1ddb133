/**
 * Where the work runs changes nothing in the numbers: the same frames through
 * the pipeline with `pipeline.workers` 0 (main thread), 1 (one worker) and 2
 * (registration and measurement in two workers, linked by their own port)
 * give identical frame, objects, segmentation, event and heatmap messages, in
 * the same order — with an EMA template updated and re-segmented during the
 * run (so template announcements cross from one worker to the other), two
 * channels with colocalization, tracked objects, and a frame of the wrong size
 * mid-stream. Only latencyMs differs (a time).
 */
import { describe, expect, it } from 'vitest';
import { type Config, defaultConfig } from '../../src/config/schema.js';
import type { Frame, FrameSource, SourceInfo } from '../../src/ingest/frame.js';
import { SyntheticMicroscope } from '../../src/ingest/synthetic.js';
import { Hub, type Message } from '../../src/stream/hub.js';
import { runPipeline } from '../../src/stream/pipeline.js';
import { workerCount } from '../../src/stream/stage.js';

const W = 96;
const H = 80;

/** A finite, non-live movie from the simulator (replay: lossless), with one frame of another size at `odd`. */
class Movie implements FrameSource {
  constructor(
    private readonly n: number,
    private readonly channels: 1 | 2,
    private readonly seed: number,
    private readonly odd: number | null = null,
  ) {}
  async open(): Promise<SourceInfo> {
    return { uri: `test:movie-${this.seed}`, width: W, height: H, channels: this.channels, dtype: 'uint16', live: false };
  }
  async *frames(): AsyncIterable<Frame> {
    const sim = new SyntheticMicroscope({ width: W, height: H, seed: this.seed, objects: 14, channels: this.channels, jumpRate: 0.02, maxDrift: 3 });
    for (let seq = 0; seq < this.n; seq++) {
      if (seq === this.odd) {
        yield { seq, t: seq * 33.3, width: W - 8, height: H, channels: this.channels, data: new Uint16Array((W - 8) * H * this.channels).fill(100) };
        continue;
      }
      const f = sim.nextFrame();
      yield { seq, t: seq * 33.3, width: W, height: H, channels: this.channels, data: f.data.slice(), truth: f.truth };
    }
  }
  async close(): Promise<void> {}
}

async function run(workers: 0 | 1 | 2, source: FrameSource, edit: (c: Config) => void): Promise<Message[]> {
  const config = defaultConfig();
  config.pipeline.workers = workers;
  config.template.frames = 8;
  edit(config);
  const hub = new Hub();
  const out: Message[] = [];
  // Someone watches the heatmap, so it is made (the worker asks the hub).
  hub.subscribe((_t, m) => {
    const { latencyMs: _latency, ...rest } = m;
    out.push(rest as Message);
  }, ['frame', 'objects', 'segmentation', 'event', 'heatmap', 'end']);
  const s = await runPipeline({ config, source, hub, backend: 'auto' });
  expect(s.dropped).toBe(0);
  return out;
}

describe('pipeline.workers', () => {
  it('auto: one worker on two cores or fewer, two (register | measure) on more; explicit values as given', () => {
    expect(workerCount('auto', 1)).toBe(1);
    expect(workerCount('auto', 2)).toBe(1);
    expect(workerCount('auto', 3)).toBe(2);
    expect(workerCount('auto', 64)).toBe(2);
    for (const n of [0, 1, 2]) expect(workerCount(n, 8)).toBe(n);
  });

  it('fixed objects, EMA template with re-segmentation, traces and events, two channels, heatmap, a misfit frame: 0, 1 and 2 workers agree exactly', async () => {
    const edit = (c: Config): void => {
      c.template.update = 'ema';
      c.template.rate = 0.2;
      c.template.updateEvery = 3;
      c.objects.resegmentEvery = 4;
      c.colocalization.mode = 'auto';
      c.colocalization.channels = '0,1';
    };
    const runs = [];
    for (const w of [0, 1, 2] as const) runs.push(await run(w, new Movie(90, 2, 31, 45), edit));
    const [inline, one, two] = runs;
    // The premise: every kind of message is there, re-segmentations included.
    const count = (t: string): number => inline.filter((m) => m.type === t).length;
    expect(count('frame')).toBe(90);
    expect(count('objects')).toBe(89);
    expect(count('segmentation')).toBeGreaterThan(3);
    expect(count('heatmap')).toBeGreaterThan(0);
    expect(inline.find((m) => m.type === 'frame' && m.seq === 45)).toMatchObject({ ok: false, error: 'frame 45 is 88×80×2, expected 96×80×2' });
    expect(one).toEqual(inline);
    expect(two).toEqual(inline);
  });

  it('tracked objects: 0, 1 and 2 workers agree exactly', async () => {
    const edit = (c: Config): void => {
      c.objects.mode = 'tracked';
    };
    const runs = [];
    for (const w of [0, 1, 2] as const) runs.push(await run(w, new Movie(50, 1, 32), edit));
    const [inline, one, two] = runs;
    expect(inline.filter((m) => m.type === 'objects')).toHaveLength(50);
    expect(one).toEqual(inline);
    expect(two).toEqual(inline);
  });

  it('previews (raw and registered) from the measure worker: the same images as on the main thread', async () => {
    const previews = async (workers: 0 | 2): Promise<Map<string, { lo: number; hi: number; pixels: number[] }>> => {
      const config = defaultConfig();
      config.pipeline.workers = workers;
      config.template.frames = 8;
      // No throttle worth the name: which frames get a preview then depends only on the clock, so
      // the two runs are compared on the frames both previewed.
      config.server.previewFps = 120;
      const got = new Map<string, { lo: number; hi: number; pixels: number[] }>();
      await runPipeline({
        config,
        source: new Movie(40, 1, 34),
        hub: new Hub(),
        backend: 'auto',
        onStart: (_info, control) => control.setPreview(['raw', 'registered']),
        onPreview: (h, px) => got.set(`${h.kind}:${h.seq}`, { lo: h.lo, hi: h.hi, pixels: Array.from(px) }),
      });
      return got;
    };
    const inline = await previews(0);
    const split = await previews(2);
    const both = [...split.keys()].filter((k) => inline.has(k));
    expect(both.some((k) => k.startsWith('raw:')), 'a raw preview in both runs').toBe(true);
    expect(both.some((k) => k.startsWith('registered:')), 'a registered preview in both runs').toBe(true);
    for (const k of both) expect(split.get(k), k).toEqual(inline.get(k));
  });

  it('a movie shorter than the template: the frames held are flushed through both workers', async () => {
    const edit = (c: Config): void => {
      c.template.frames = 30;
    };
    const [inline, two] = [await run(0, new Movie(12, 1, 33), edit), await run(2, new Movie(12, 1, 33), edit)];
    expect(inline.filter((m) => m.type === 'frame')).toHaveLength(12);
    expect(two).toEqual(inline);
  });
});
