/**
 * Overload (issue 6; docs/reliability.md): a live source at well over twice
 * what the pipeline can process, for 24 s (the longer runs are the soak
 * benchmark's, `npm run soak`):
 * every frame the source made is either processed or counted
 * dropped (the end line: frames + dropped = what the source produced), the
 * process's memory stays under the bound documented in docs/reliability.md,
 * and /healthz, /metrics and the stats topic keep answering throughout.
 *
 * The source: the simulator at 1024² and 200 fps, cycling 20 pre-rendered
 * frames (`loop=20`: rendering a 1024² frame takes ~10 ms on the main thread,
 * which would itself limit the rate); the pipeline, measuring 600 objects
 * with quartiles on every frame, processes about 60–80 fps on this 2-core
 * machine (one worker; 62 and 80 fps measured on 2026-11-23, before and after
 * that day's faster local correlation): more than half the frames are
 * dropped. The rate is far above the pipeline's so that the premise holds
 * however fast the machine or the code gets (it was 80 fps, and a faster
 * pipeline dropped only 8 %). A source that
 * renders slower than its own fps is a different fault, tested at the end
 * (see there).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { describe, expect, it } from 'vitest';
import { countLines, expectValidRecord, readRecord, waitFor } from '../helpers/cli.js';
import { bounded, rssOf, servingUrl, useFaultFixtures } from './helpers.js';

/**
 * docs/reliability.md: the bound for this configuration. At 1024² the template
 * bootstrap holds its 30 frames at ~9 MiB each, the source cycles 20 frames of
 * 2 MiB (≈ 650 MiB peak measured); the steady state under overload is ≈ 400 MiB.
 */
const RSS_BOUND = 768 * 2 ** 20;

const fx = useFaultFixtures();

interface Probe {
  answered: number;
  failures: string[];
}

/**
 * Asks `url` every 250 ms until `stop()`; a request that fails or is not
 * answered within 10 s (a guard, generous) is a failure. Requests still open
 * when the run ends on its own are not counted.
 */
function probe(url: string, stop: () => boolean, check: (status: number, body: string) => string | null): { probe: Probe; done: Promise<void> } {
  const p: Probe = { answered: 0, failures: [] };
  const done = (async () => {
    while (!stop()) {
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
        const body = await res.text();
        const problem = check(res.status, body);
        if (problem !== null) p.failures.push(problem);
        else p.answered++;
      } catch (e) {
        if (!stop()) p.failures.push(`${url}: ${(e as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  return { probe: p, done };
}

/** Whether the record's last line is its end line (reads only the tail: the record grows to tens of MB). */
function endWritten(file: string): boolean {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return false;
  }
  try {
    const size = fs.fstatSync(fd).size;
    const tail = Buffer.alloc(Math.min(size, 512));
    fs.readSync(fd, tail, 0, tail.length, size - tail.length);
    return tail.toString('utf8').includes('\n{"type":"end"');
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The record of the 60 s run is hundreds of MB (600 objects per frame): read
 * it line by line, every line parsed (so every line is JSON) but only the
 * frame seqs and the end line kept. Checks the order meta … end.
 */
async function scanRecord(file: string): Promise<{ seqs: number[]; end: Record<string, unknown>; lines: number }> {
  const seqs: number[] = [];
  let end: Record<string, unknown> | null = null;
  let lines = 0;
  for await (const line of readline.createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity })) {
    const v = JSON.parse(line) as { type: string; seq?: number };
    if (lines === 0) expect(v.type, 'the first line').toBe('meta');
    expect(end, 'nothing after the end line').toBeNull();
    if (v.type === 'frame') seqs.push(v.seq as number);
    else if (v.type === 'end') end = v;
    else if (lines > 0) expect(['segmentation', 'objects']).toContain(v.type);
    lines++;
  }
  expect(end, 'the end line').not.toBeNull();
  return { seqs, end: end as Record<string, unknown>, lines };
}

/** A counter from Prometheus text. */
function counter(text: string, name: string): number | null {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : null;
}

describe('overload: a live source at over twice the pipeline capacity', () => {
  it('1024² at 200 fps for 24 s: in = processed + dropped, RSS under the bound, /healthz, /metrics and stats answer throughout', async () => {
    const N = 4800;
    const record = path.join(fx.dir, 'overload.ndjson');
    const uri = `synthetic:?width=1024&height=1024&fps=200&frames=${N}&loop=20&objects=600&seed=51`;
    const run = fx.start(['run', '--source', uri, '--record', record, '--port', '0', '--set', 'objects.quartilesEvery=1'], { timeoutMs: 400_000 });
    const base = await servingUrl(run);
    const pid = run.child.pid as number;
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, rssOf(pid) ?? 0)), 100);
    const ended = (): boolean => run.child.exitCode !== null || endWritten(record);
    const health = probe(`${base}/healthz`, ended, (s, body) => (s === 200 && body === '{"ok":true}' ? null : `/healthz: ${s} ${body}`));
    const scraped: { received: number; processed: number; dropped: number }[] = [];
    const metrics = probe(`${base}/metrics`, ended, (s, body) => {
      const received = counter(body, 'scopestream_frames_received_total');
      const processed = counter(body, 'scopestream_frames_processed_total');
      const dropped = counter(body, 'scopestream_frames_dropped_total');
      if (s !== 200 || received === null || processed === null || dropped === null) return `/metrics: ${s} ${body.slice(0, 200)}`;
      scraped.push({ received, processed, dropped });
      return null;
    });
    const watcher = fx.client(base.replace('http', 'ws') + '/ws');
    await watcher.opened;
    watcher.send({ type: 'subscribe', topics: ['stats'] });
    try {
      const r = await bounded(run.done, 300_000, 'the run to end with its source');
      expect(r.code, r.stderr).toBe(0);
    } finally {
      clearInterval(sampler);
      await Promise.all([health.done, metrics.done]);
    }

    const rec = await scanRecord(record);
    expect(rec.end.error).toBeUndefined();
    expect(rec.end.frames).toBe(rec.seqs.length);
    // The premise: the source outran the pipeline.
    expect(rec.end.dropped as number, 'frames dropped (else this was no overload)').toBeGreaterThan(N / 10);
    // Every frame the source made is accounted for, exactly.
    expect((rec.end.frames as number) + (rec.end.dropped as number)).toBe(N);
    const seqs = rec.seqs;
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBeGreaterThan(seqs[i - 1]);
    expect(seqs[seqs.length - 1], 'the newest frame is never the one dropped').toBe(N - 1);

    expect(peak, `peak RSS ${(peak / 2 ** 20).toFixed(0)} MiB`).toBeLessThan(RSS_BOUND);
    expect(health.probe.failures).toEqual([]);
    expect(metrics.probe.failures).toEqual([]);
    expect(health.probe.answered, '/healthz answered during the run').toBeGreaterThan(10);
    expect(scraped.length, '/metrics answered during the run').toBeGreaterThan(10);
    // The counters moved while the overload went on, and dropped frames were visible in them.
    expect(scraped[scraped.length - 1].processed).toBeGreaterThan(scraped[0].processed);
    expect(scraped[scraped.length - 1].dropped).toBeGreaterThan(0);
    const stats = watcher.topic('stats');
    expect(stats.length, 'stats messages during the run').toBeGreaterThan(10);
    expect(stats.some((m) => (m.dropped as number) > 0)).toBe(true);
  }, 420_000);

  /**
   * A source that cannot even keep its own pace (the simulator at 1024² renders
   * in ~10 ms; asked for 1000 fps it is always behind): LiveQueue.pump
   * (src/stream/pacing.ts) used to never await a timer then, and the
   * simulator's generator awaits nothing, so the pump ran as one long chain of
   * microtasks and the event loop never turned (seen: /healthz unanswered for
   * 7.7 s, 10 frames processed of 1500). The pump now yields to the event loop
   * whenever it is behind.
   */
  it('a source slower than its own fps (1024² asked at 1000 fps): the pipeline still processes frames and /healthz answers', async () => {
    const N = 600;
    const record = path.join(fx.dir, 'starved.ndjson');
    const run = fx.start(['run', '--source', `synthetic:?width=1024&height=1024&fps=1000&frames=${N}&seed=52`, '--record', record, '--port', '0'], {
      timeoutMs: 120_000,
    });
    const base = await servingUrl(run);
    // The template (30 frames) must be built and frames flowing while the source still runs.
    await waitFor(() => countLines(record, 'frame') >= 40 || run.child.exitCode !== null, run, 'frame lines or the end');
    expect(run.child.exitCode, 'frames were processed while the source ran').toBeNull();
    const res = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(2000) });
    expect(res.status).toBe(200);
    const r = await bounded(run.done, 110_000, 'the run to end');
    expect(r.code).toBe(0);
    const rec = expectValidRecord(readRecord(record));
    expect((rec.end.frames as number) + (rec.end.dropped as number)).toBe(N);
    expect(rec.end.frames as number).toBeGreaterThan(N / 20);
  });
});
