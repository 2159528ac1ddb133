/**
 * The process (issue 6; docs/reliability.md): SIGTERM and SIGINT on a served
 * `scopestream run` with a record drain the queue, write and close the record
 * (its end line last), send every connected WebSocket client the frames it
 * asked for, the end message and a close frame with code 1001 and a reason,
 * and exit 0 — also with a client that does not read (with each WebSocket
 * engine that loads). A pipeline worker that
 * dies (a user's custom-feature module calling process.exit in the worker
 * thread) is replaced, the frames it held counted as dropped; one that keeps
 * dying ends the run with the error in the record's end line.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { type CliRun, countLines, expectValidRecord, readRecord, waitFor } from '../helpers/cli.js';
import { SyntheticMicroscope } from '../../src/ingest/synthetic.js';
import { writeTiff } from '../helpers/imageWriters.js';
import { TestClient, describeEngines, expectConsecutive } from '../helpers/server.js';
import { bounded, servingUrl, useFaultFixtures } from './helpers.js';

const fx = useFaultFixtures();
const start = (args: string[]): CliRun => fx.start(args);
const client = (url: string): TestClient => fx.client(url);

describeEngines('stopping a served run', (engine) => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal}: drains, closes the record with its end line, says goodbye to clients with 1001 and a reason, exits 0`, async () => {
      const record = path.join(fx.dir, `stop-${engine}-${signal}.ndjson`);
      const run = start(['run', '--source', 'synthetic:?width=96&height=96&fps=100&objects=10&seed=41', '--port', '0', '--record', record, '--template-frames', '10', '--ws-engine', engine]);
      const url = (await servingUrl(run)).replace('http', 'ws') + '/ws';
      const reader = client(url);
      const deaf = client(url);
      await Promise.all([reader.opened, deaf.opened]);
      reader.send({ type: 'subscribe', topics: ['frame', 'objects'], from: 0 });
      deaf.send({ type: 'subscribe', topics: ['frame', 'objects', 'heatmap'], from: 0 });
      deaf.socket.pause();
      await waitFor(() => countLines(record, 'frame') >= 60 && reader.topic('frame').length >= 30, run, '60 frame lines and a client being served');
      expect(run.child.kill(signal)).toBe(true);
      // A guard against a hang (issue 6 asks for an exit within 5 s), not a measurement.
      const r = await bounded(run.done, 20_000, `the run to exit after ${signal}`);
      expect(r.signal, r.stderr).toBeNull();
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).not.toContain('    at ');

      const rec = expectValidRecord(readRecord(record));
      expect(rec.end.error).toBeUndefined();
      expect(rec.end.frames).toBe(rec.frames.length);
      // Drained: every frame the source made up to the last one processed is recorded or counted dropped.
      const last = rec.frames[rec.frames.length - 1].seq;
      expect((rec.end.frames as number) + (rec.end.dropped as number)).toBe(last + 1);

      // The reading client got every frame of the record, then the end message, then the close frame.
      await reader.closed;
      expect(reader.closeCode).toBe(1001);
      expect(reader.closeReason).toBe('server shutting down');
      const frames = reader.topic('frame');
      expect(expectConsecutive(frames)).toEqual({ first: 0, last: rec.frames.length - 1, gaps: 0 });
      expect(frames.map((m) => m.seq)).toEqual(rec.frames.map((f) => f.seq));
      const { type, frames: n, dropped } = rec.end;
      expect(reader.of('end')).toEqual([{ type, frames: n, dropped }]);
      // The one that did not read was cut off rather than waited for.
      deaf.socket.resume();
      await bounded(deaf.closed, 20_000, 'the deaf client to be closed');
    });
  }
});

describe('stopping a run before the template is built', () => {
  it('SIGTERM while the first frames are held for the template: they are registered and recorded, exit 0', async () => {
    const record = path.join(fx.dir, 'stop-early.ndjson');
    const run = start(['run', '--source', 'synthetic:?width=64&height=64&fps=20&objects=5&seed=45', '--port', '0', '--record', record]);
    const base = await servingUrl(run);
    // 30 template frames at 20 fps: stop after 8 have arrived, long before the template exists.
    let received = 0;
    const poll = setInterval(() => {
      void fetch(`${base}/api/status`)
        .then((r) => r.json() as Promise<{ counters: { received: number } }>)
        .then((s) => (received = s.counters.received))
        .catch(() => undefined);
    }, 50);
    try {
      await waitFor(() => received >= 8, run, '8 frames received');
    } finally {
      clearInterval(poll);
    }
    expect(countLines(record, 'frame'), 'no frame line yet: the template is not built').toBe(0);
    run.child.kill('SIGTERM');
    const r = await bounded(run.done, 20_000, 'the run to exit after SIGTERM');
    expect(r.code, r.stderr).toBe(0);
    const rec = expectValidRecord(readRecord(record));
    expect(rec.frames.length).toBeGreaterThanOrEqual(8);
    expect(rec.frames.map((f) => f.seq)).toEqual(rec.frames.map((_, i) => i));
    expect(rec.end).toMatchObject({ frames: rec.frames.length, dropped: 0 });
  });
});

describe('stopping a replay', () => {
  it('SIGTERM mid-replay: exit 0, the record holds the frames 0…k−1 and ends with its end line', async () => {
    const movie = path.join(fx.dir, 'stop-replay.tif');
    const sim = new SyntheticMicroscope({ width: 64, height: 64, seed: 44, objects: 5 });
    const N = 300;
    writeTiff(
      movie,
      Array.from({ length: N }, () => ({ width: 64, height: 64, channels: 1, dtype: 'uint16' as const, data: sim.nextFrame().data })),
      { description: `ImageJ=1.53t\nimages=${N}\nframes=${N}\nfps=30\n` },
    );
    const record = path.join(fx.dir, 'stop-replay.ndjson');
    const run = start(['replay', movie, '--record', record, '--speed', 'realtime', '--template-frames', '5']);
    await waitFor(() => countLines(record, 'frame') >= 30, run, '30 frame lines');
    run.child.kill('SIGTERM');
    const r = await bounded(run.done, 20_000, 'the replay to exit after SIGTERM');
    expect(r.code, r.stderr).toBe(0);
    const rec = expectValidRecord(readRecord(record));
    expect(rec.end.error).toBeUndefined();
    expect(rec.frames.length).toBeLessThan(N);
    expect(rec.frames.map((f) => f.seq)).toEqual(rec.frames.map((_, i) => i));
    expect(rec.end).toMatchObject({ frames: rec.frames.length, dropped: 0 });
  });
});

/** A custom-feature module that kills its worker thread once, at the first frame ≥ 40. */
function crashingModule(name: string): { module: string; marker: string } {
  const module = path.join(fx.dir, `${name}.mjs`);
  const marker = path.join(fx.dir, `${name}.crashed`);
  fs.writeFileSync(
    module,
    `import { existsSync, writeFileSync } from 'node:fs';
export function Crash(values, ctx) {
  if (ctx.seq >= 40 && !existsSync(${JSON.stringify(marker)})) {
    writeFileSync(${JSON.stringify(marker)}, String(ctx.seq));
    process.exit(7);
  }
  return values.length;
}
`,
  );
  return { module, marker };
}

describe('a pipeline worker that dies', () => {
  it('once: it is replaced, the run goes on to the end of the source, the frames it held are counted as dropped', async () => {
    const N = 200;
    const { module, marker } = crashingModule('crash-once');
    const record = path.join(fx.dir, 'crash-once.ndjson');
    const run = start([
      'run', '--source', `synthetic:?width=64&height=64&fps=50&frames=${N}&objects=5&seed=43`, '--port', '0', '--record', record,
      '--template-frames', '10', '--set', `objects.custom=${module}`,
    ]);
    const r = await bounded(run.done, 60_000, 'the run to end');
    expect(fs.existsSync(marker), 'the module crashed the worker').toBe(true);
    expect(r.stderr).not.toContain('    at ');
    expect(r.code, r.stderr).toBe(0);
    const rec = expectValidRecord(readRecord(record));
    expect(rec.end.error).toBeUndefined();
    expect(rec.frames[rec.frames.length - 1].seq).toBe(N - 1);
    // The frame the worker died on is not in the record, and it is counted: never silently lost.
    const crashedAt = Number(fs.readFileSync(marker, 'utf8'));
    expect(rec.frames.some((f) => f.seq === crashedAt)).toBe(false);
    expect(rec.end.dropped as number).toBeGreaterThanOrEqual(1);
    expect((rec.end.frames as number) + (rec.end.dropped as number)).toBe(N);
    // The new worker built a new template: a second segmentation line.
    expect(readRecord(record).filter((l) => l.type === 'segmentation').length).toBe(2);
  });

  /** A module that kills every worker that reaches frame 40: the replacement dies too. */
  function alwaysCrashing(): string {
    const module = path.join(fx.dir, 'crash-always.mjs');
    fs.writeFileSync(module, 'export function Crash(values, ctx) {\n  if (ctx.seq >= 40) process.exit(7);\n  return values.length;\n}\n');
    return module;
  }

  it('on every frame: after the replacements give up, the record keeps every frame before and ends with the error and the frames lost', async () => {
    const record = path.join(fx.dir, 'crash-always.ndjson');
    const run = start([
      'run', '--source', 'synthetic:?width=64&height=64&fps=50&frames=200&objects=5&seed=46', '--port', '0', '--record', record,
      '--template-frames', '10', '--set', `objects.custom=${alwaysCrashing()}`,
    ]);
    const r = await bounded(run.done, 60_000, 'the run to end');
    expect(r.code).not.toBe(0);
    const rec = expectValidRecord(readRecord(record));
    expect(rec.end.error).toBe('pipeline worker exited unexpectedly (code 7)');
    expect(rec.frames.map((f) => f.seq)).toEqual(Array.from({ length: 40 }, (_, i) => i));
    // The frames the dead workers held (in flight, or kept for their new templates) are counted.
    expect(rec.end.dropped as number).toBeGreaterThan(0);
  });

  /**
   * When the run cannot go on, the command used to die with Node's stack trace
   * (main.ts rethrew anything but an InputError). Now any error ends it with
   * one `scopestream: …` line (the stack only with SCOPESTREAM_DEBUG=1).
   */
  it('on every frame: the command says so in one line, without a stack trace', async () => {
    const record = path.join(fx.dir, 'crash-always-line.ndjson');
    const run = start([
      'run', '--source', 'synthetic:?width=64&height=64&fps=50&frames=200&objects=5&seed=47', '--port', '0', '--record', record,
      '--template-frames', '10', '--set', `objects.custom=${alwaysCrashing()}`,
    ]);
    const r = await bounded(run.done, 60_000, 'the run to end');
    expect(r.code).not.toBe(0);
    expect(r.stderr).not.toContain('    at ');
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines[lines.length - 1]).toMatch(/^scopestream: .*pipeline worker exited unexpectedly \(code 7\)/);
  });
});
