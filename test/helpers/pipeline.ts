import { defaultConfig, type Config } from '../../src/config/schema.js';
import { openSource } from '../../src/ingest/open.js';
import type { BackendChoice } from '../../src/stream/backend.js';
import { Hub, type Message } from '../../src/stream/hub.js';
import { runPipeline } from '../../src/stream/pipeline.js';

/** Runs a source through the real pipeline and collects what the hub publishes, by topic. */
export async function replayThroughPipeline(
  uri: string,
  edit: (c: Config) => void,
  backend: BackendChoice,
  onMessage?: (topic: string, m: Message) => void,
): Promise<{ frames: Message[]; meta: Message; end: Message; backend: string }> {
  const config = defaultConfig();
  config.source = uri;
  // The simulator is a live source: with the work in a worker thread it runs on while the template
  // is built and would drop frames. A queue longer than the test movies keeps every frame.
  config.live.queue = 10000;
  edit(config);
  const hub = new Hub();
  const frames: Message[] = [];
  let meta: Message | null = null;
  let end: Message | null = null;
  hub.subscribe((topic, m) => {
    onMessage?.(topic, m);
    if (topic === 'frame') frames.push(m);
    else if (topic === 'meta') meta = m;
    else if (topic === 'end') end = m;
  });
  const s = await runPipeline({ config, source: openSource(uri, config), hub, backend });
  if (!meta || !end) throw new Error('pipeline published no meta or end');
  return { frames, meta, end, backend: s.backend };
}
