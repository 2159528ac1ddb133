/**
 * The record's disk (issue 6; docs/reliability.md): a disk slower than the
 * pipeline, and a disk that refuses to take more.
 *
 * The slow disk is real: the record is a named pipe whose reader (a small
 * Node process) copies it to a file at a fixed, low rate — a kernel pipe
 * gives the same write back-pressure as a slow device. The full disk is
 * /dev/full, where every write fails with ENOSPC.
 */
import { execFileSync, spawn } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SyntheticMicroscope } from '../../src/ingest/synthetic.js';
import type { RecorderStatus } from '../../src/stream/recorder.js';
import { type CliRun, expectValidRecord, readRecord, waitFor } from '../helpers/cli.js';
import { writeTiff } from '../helpers/imageWriters.js';
import { until } from '../helpers/server.js';
import { bounded, servingUrl, useFaultFixtures } from './helpers.js';

const fx = useFaultFixtures();
const start = (args: string[]): CliRun => fx.start(args);

/**
 * A named pipe at `fifo` whose reader copies it to `copy` at about
 * `bytesPerSecond` (4 KiB reads with a pause between them), until the writer
 * closes it. Resolves when the copy is complete.
 */
function slowDisk(fifo: string, copy: string, bytesPerSecond: number): Promise<void> {
  execFileSync('mkfifo', [fifo]);
  const pause = (4096 / bytesPerSecond) * 1000;
  // A separate Node process (the pipe must be read by someone other than the process that writes
  // it): synchronous 4 KiB reads with a sleep between them.
  const script = [
    "const fs = require('node:fs');",
    "const src = fs.openSync(process.argv[1], 'r');",
    "const dst = fs.openSync(process.argv[2], 'w');",
    'const buf = Buffer.alloc(4096);',
    'const nap = new Int32Array(new SharedArrayBuffer(4));',
    'for (;;) {',
    '  const n = fs.readSync(src, buf, 0, buf.length, null);',
    '  if (n === 0) break;',
    '  fs.writeSync(dst, buf, 0, n);',
    `  Atomics.wait(nap, 0, 0, ${pause});`,
    '}',
    'fs.closeSync(dst);',
  ].join('\n');
  const reader = spawn(process.execPath, ['-e', script, fifo, copy], { stdio: 'ignore' });
  fx.afterEach(() => reader.kill('SIGKILL'));
  return new Promise((resolve, reject) => {
    reader.once('error', reject);
    reader.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`slow-disk reader exited with ${code}`))));
  });
}

async function recordStatus(base: string): Promise<RecorderStatus> {
  const r = await fetch(`${base}/api/status`);
  expect(r.status).toBe(200);
  return ((await r.json()) as { record: RecorderStatus }).record;
}

/** The lines of one frame (frame + objects) stay under this at 96×96 with 12 objects: the largest step past the limit. */
const FRAME_LINES_MAX = 16 * 1024;
const BACKLOG = 65536;

describe('a disk slower than the pipeline', () => {
  it('replay: the pipeline waits for the disk (the source is not read on); the record is complete; the lines waiting stay bounded', async () => {
    const movie = path.join(fx.dir, 'movie.tif');
    const sim = new SyntheticMicroscope({ width: 96, height: 96, objects: 12, seed: 5 });
    writeTiff(
      movie,
      Array.from({ length: 240 }, () => ({ width: 96, height: 96, channels: 1, dtype: 'uint16' as const, data: sim.nextFrame().data })),
      { description: 'ImageJ=1.53t\nimages=240\nframes=240\nfps=30\n' },
    );
    const fifo = path.join(fx.dir, 'replay.fifo');
    const copy = path.join(fx.dir, 'replay.ndjson');
    // ≈ 240 frames × ≈ 4 KB of lines at 256 KB/s: about 4 s of disk against well under 1 s of pipeline.
    const copied = slowDisk(fifo, copy, 256 * 1024);
    const run = start(['replay', movie, '--serve', '--port', '0', '--record', fifo, '--template-frames', '10', '--set', `record.maxBacklogBytes=${BACKLOG}`]);
    const base = await servingUrl(run);
    await waitFor(() => run.output.stderr.includes('replay finished'), run, 'the end of the replay');
    const status = await recordStatus(base);
    expect(status.error).toBeNull();
    // The back-pressure was used, and held the lines waiting for the disk to the limit plus one frame's lines.
    expect(status.waits).toBeGreaterThan(0);
    expect(status.peakBacklogBytes).toBeGreaterThanOrEqual(BACKLOG);
    expect(status.peakBacklogBytes).toBeLessThan(BACKLOG + FRAME_LINES_MAX);
    run.child.kill('SIGINT');
    const r = await bounded(run.done, 60_000, 'the replay to exit');
    expect(r.code, r.stderr).toBe(0);
    await bounded(copied, 60_000, 'the slow disk to take the whole record');
    const rec = expectValidRecord(readRecord(copy));
    expect(rec.frames.map((f) => f.seq)).toEqual(Array.from({ length: 240 }, (_, i) => i));
    expect(rec.end).toMatchObject({ frames: 240, dropped: 0 });
    expect(rec.end.error).toBeUndefined();
  });

  it('live: frames wait in the live queue and the oldest are dropped and counted; every processed frame is recorded', async () => {
    const fifo = path.join(fx.dir, 'live.fifo');
    const copy = path.join(fx.dir, 'live.ndjson');
    // The simulator makes ≈ 300 frames/s of ≈ 4 KB of lines each (≈ 1.2 MB/s) into a 128 KB/s disk.
    const copied = slowDisk(fifo, copy, 128 * 1024);
    const run = start([
      'run',
      '--source',
      'synthetic:?width=96&height=96&fps=300&objects=12&seed=8',
      '--port',
      '0',
      '--record',
      fifo,
      '--template-frames',
      '10',
      '--set',
      `record.maxBacklogBytes=${BACKLOG}`,
    ]);
    const base = await servingUrl(run);
    let status = await recordStatus(base);
    for (let i = 0; status.waits < 20; i++) {
      if (i > 600) throw new Error(`the pipeline waited for the disk only ${status.waits} times`);
      await new Promise((r) => setTimeout(r, 100));
      status = await recordStatus(base);
    }
    const live = (await (await fetch(`${base}/api/status`)).json()) as { counters: { dropped: number; processed: number } };
    expect(live.counters.dropped).toBeGreaterThan(0);
    expect(status.peakBacklogBytes).toBeLessThan(BACKLOG + FRAME_LINES_MAX);
    // /healthz answers while the pipeline waits for the disk.
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    run.child.kill('SIGTERM');
    const r = await bounded(run.done, 60_000, 'the run to exit');
    expect(r.code, r.stderr).toBe(0);
    await bounded(copied, 60_000, 'the slow disk to take the whole record');
    const rec = expectValidRecord(readRecord(copy));
    const last = rec.frames[rec.frames.length - 1].seq;
    // Every frame made is either in the record or counted as dropped; none is lost between the two.
    expect(rec.end.frames).toBe(rec.frames.length);
    expect((rec.end.frames as number) + (rec.end.dropped as number)).toBeGreaterThanOrEqual(last + 1);
    expect(rec.end.dropped as number).toBeGreaterThan(0);
    // Seqs increase; the gaps between them are the drops (dropped counts them, plus any after the last frame).
    let gaps = 0;
    for (let i = 0; i < rec.frames.length; i++) gaps += rec.frames[i].seq - (i === 0 ? 0 : rec.frames[i - 1].seq + 1);
    expect(gaps).toBeLessThanOrEqual(rec.end.dropped as number);
  });
});

describe('a disk that takes nothing more', () => {
  it('/dev/full: said at once on stderr, the run goes on serving, /api/status and /metrics report it, the run ends with the same line', async () => {
    const run = start(['run', '--source', 'synthetic:?width=64&height=64&fps=100&objects=5&seed=3', '--port', '0', '--record', '/dev/full', '--template-frames', '5']);
    const base = await servingUrl(run);
    const said = 'scopestream: record file /dev/full: cannot be written (ENOSPC); the run goes on without recording';
    await waitFor(() => run.output.stderr.includes(said), run, 'the record failure on stderr');
    const status = await recordStatus(base);
    expect(status.error).toBe('record file /dev/full: cannot be written (ENOSPC)');
    expect(status.backlogBytes).toBe(0);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/^scopestream_record_failed 1$/m);
    // Frames still reach subscribers after the failure.
    const ws = fx.client(base.replace('http', 'ws') + '/ws');
    await ws.opened;
    ws.send({ type: 'subscribe', topics: ['frame'] });
    await until(() => ws.topic('frame').length >= 20, '20 frames after the record failed');
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    run.child.kill('SIGTERM');
    const r = await bounded(run.done, 30_000, 'the run to exit');
    // The user asked for a record and did not get it: not a success.
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n').pop()).toBe('scopestream: record file /dev/full: cannot be written (ENOSPC)');
  });
});
