/**
 * `scopestream run` on the simulated microscope through the built CLI: a
 * finite source ends the run by itself; SIGINT or SIGTERM stops an endless one
 * cleanly (exit 0, the record closed with its `end` line); the status lines
 * on stderr report rates and the shift. No timing assertions: waits are
 * polls on the record, bounded by generous limits against hangs.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, type ParsedRecord, countLines, expectValidRecord, readRecord, runCli, startCli, waitFor } from '../helpers/cli.js';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'scopestream-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const STATUS =
  /^in \d+(?:\.\d+)? fps, out \d+(?:\.\d+)? fps \| (?<shift>shift dy -?\d+\.\d\d dx -?\d+\.\d\d peak \S+ psr \S+ (?:ok|FLAGGED)|template: building) \| latency p50 \S+ p99 \S+ ms \| dropped (?<dropped>\d+) \| frames (?<frames>\d+)$/;

/** Checks what every stopped run leaves: exit 0, a complete record, the banner and the status lines. */
function expectCleanRun(r: CliResult, record: string, uri: string): ParsedRecord {
  expect(r.timedOut, 'the run was killed by the test timeout').toBe(false);
  expect(r.stderr).not.toContain('    at ');
  expect(r.signal, r.stderr).toBeNull();
  expect(r.code, r.stderr).toBe(0);
  const rec = expectValidRecord(readRecord(record));
  expect(rec.meta).toMatchObject({ version: 1, source: uri, width: 64, height: 64, channels: 1, dtype: 'uint16' });
  expect((rec.meta.config as { source: string }).source).toBe(uri);
  expect(rec.end.error).toBeUndefined();
  expect(rec.end.frames).toBe(rec.frames.length);
  // Live: frames may be dropped when processing falls behind, but those processed keep their order.
  const seqs = rec.frames.map((f) => f.seq);
  for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBeGreaterThan(seqs[i - 1]);
  // The simulator knows the truth and the record carries it (relative to the template's position).
  for (const f of rec.frames) {
    expect(f.truth, `truth of frame ${f.seq}`).toBeDefined();
    expect(Number.isFinite(f.truth?.dy) && Number.isFinite(f.truth?.dx)).toBe(true);
  }

  const lines = r.stderr.split('\n').filter((l) => l !== '');
  expect(lines[0]).toMatch(/^scopestream: serving http:\/\/127\.0\.0\.1:\d+\/$/);
  expect(lines[1]).toBe(`scopestream: ${uri}; Ctrl-C to stop`);
  const status = lines.slice(2);
  expect(status.length).toBeGreaterThan(0);
  for (const l of status) expect(l).toMatch(STATUS);
  // The last status line is printed on stop, after the last frame: it has the final counts and a shift.
  const last = (STATUS.exec(status[status.length - 1]) as RegExpExecArray).groups as Record<string, string>;
  expect(last.shift).toMatch(/^shift dy/);
  expect(Number(last.dropped)).toBe(rec.end.dropped);
  expect(Number(last.frames)).toBe(rec.end.frames);
  return rec;
}

describe('scopestream run', () => {
  it('a finite synthetic source ends the run by itself when its frames run out', async () => {
    const N = 60;
    const uri = `synthetic:?width=64&height=64&fps=50&frames=${N}&seed=4`;
    const record = path.join(dir, 'finite.ndjson');
    const r = await runCli(['run', '--source', uri, '--record', record, '--port', '0']);
    const rec = expectCleanRun(r, record, uri);
    // Every frame the source made is either in the record or counted as dropped.
    expect((rec.end.frames as number) + (rec.end.dropped as number)).toBe(N);
    expect(rec.frames[rec.frames.length - 1].seq).toBe(N - 1);
  });

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal} stops an endless synthetic run cleanly: exit 0, a record ending with its end line`, async () => {
      const uri = 'synthetic:?width=64&height=64&fps=50&seed=5';
      const record = path.join(dir, `endless-${signal}.ndjson`);
      const run = startCli(['run', '--source', uri, '--record', record, '--port', '0'], { timeoutMs: 90_000 });
      // 40 frame lines: the template (30 frames) is built and the run is in its steady state.
      await waitFor(() => countLines(record, 'frame') >= 40, run, 'the record to hold 40 frame lines');
      expect(run.child.kill(signal)).toBe(true);
      const r = await run.done;
      const rec = expectCleanRun(r, record, uri);
      expect(rec.frames.length).toBeGreaterThanOrEqual(40);
    });
  }
});
