/**
 * The process (issue 6; docs/reliability.md): SIGTERM and SIGINT on a served
 * `scopestream run` with a record drain the queue, write and close the record
 * (its end line last), send every connected WebSocket client the frames it
 * asked for, the end message and a close frame with code 1001 and a reason,
 * and exit 0 — also with a client that does not read. A pipeline worker that
 * dies (a user's custom-feature module calling process.exit in the worker
 * thread) ends the record with the error; replacing the worker is still to
 * come (the `it.fails` below is the test it has to pass).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type CliRun, countLines, expectValidRecord, readRecord, startCli, waitFor } from '../helpers/cli.js';
import { tempDir } from '../helpers/imageWriters.js';
import { TestClient, expectConsecutive } from '../helpers/server.js';
import { bounded, killAll, servingUrl } from './helpers.js';

let dir: string;
const runs: CliRun[] = [];
const clients: TestClient[] = [];
beforeAll(() => {
  dir = tempDir();
});
afterEach(async () => {
  for (const c of clients.splice(0)) c.socket.terminate();
  await killAll(runs);
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function start(args: string[]): CliRun {
  const r = startCli(args, { timeoutMs: 120_000 });
  runs.push(r);
  return r;
}

function client(url: string): TestClient {
  const c = new TestClient(url);
  clients.push(c);
  return c;
}

describe('stopping a served run', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal}: drains, closes the record with its end line, says goodbye to clients with 1001 and a reason, exits 0`, async () => {
      const record = path.join(dir, `stop-${signal}.ndjson`);
      const run = start(['run', '--source', 'synthetic:?width=96&height=96&fps=100&objects=10&seed=41', '--port', '0', '--record', record, '--template-frames', '10']);
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

/** A custom-feature module that kills its worker thread once, at the first frame ≥ 40. */
function crashingModule(name: string): { module: string; marker: string } {
  const module = path.join(dir, `${name}.mjs`);
  const marker = path.join(dir, `${name}.crashed`);
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
  it('today: the record keeps every frame before the crash and ends with the error', async () => {
    const { module, marker } = crashingModule('crash-now');
    const record = path.join(dir, 'crash-now.ndjson');
    const run = start([
      'run', '--source', 'synthetic:?width=64&height=64&fps=50&frames=200&objects=5&seed=42', '--port', '0', '--record', record,
      '--template-frames', '10', '--set', `objects.custom=${module}`,
    ]);
    const r = await bounded(run.done, 60_000, 'the run to end');
    expect(fs.existsSync(marker), 'the module crashed the worker').toBe(true);
    expect(r.code).not.toBe(0);
    const rec = expectValidRecord(readRecord(record));
    expect(rec.end.error).toBe('pipeline worker exited unexpectedly (code 7)');
    const crashedAt = Number(fs.readFileSync(marker, 'utf8'));
    expect(rec.frames.map((f) => f.seq)).toEqual(rec.frames.map((_, i) => i));
    expect(rec.frames[rec.frames.length - 1].seq).toBeLessThan(crashedAt);
  });

  // Issue 6: "a crashing worker thread is replaced and the frames it held are counted as dropped,
  // never silently lost". Today the run ends (exit 1, a stack trace) and the frame(s) the worker held
  // are neither recorded nor counted. Remove `.fails` once workers are replaced.
  it.fails('wanted: the worker is replaced, the run goes on to the end of the source, and in = processed + dropped', async () => {
    const N = 200;
    const { module, marker } = crashingModule('crash-replace');
    const record = path.join(dir, 'crash-replace.ndjson');
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
    // The frame(s) the dead worker held are counted, never silently lost.
    expect(rec.end.dropped as number).toBeGreaterThanOrEqual(1);
    expect((rec.end.frames as number) + (rec.end.dropped as number)).toBe(N);
  });
});
