/**
 * A pipeline worker that dies (here: a user-defined feature that exits its
 * thread on one frame) is replaced; the frames it held are counted as
 * dropped, never silently lost, and the run goes on to its end.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { replayThroughPipeline } from '../helpers/pipeline.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'scopestream-crash-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe.each([1, 2] as const)('a crashing pipeline worker (pipeline.workers %i)', (workers) => {
  it('is replaced; frames processed + frames dropped = frames the source made', async () => {
    const mod = path.join(dir, `crash${workers}.mjs`);
    // Exits the worker thread (process.exit in a worker ends that thread only) on frame 40.
    fs.writeFileSync(mod, 'export function crash(values, ctx) { if (ctx.seq === 40) process.exit(3); return values.length; }\n');
    const N = 120;
    const r = await replayThroughPipeline(`synthetic:?width=64&height=64&fps=200&objects=5&frames=${N}&seed=41`, (c) => {
      c.template.frames = 10;
      c.objects.custom = mod;
      c.pipeline.workers = workers;
    }, 'auto');
    expect(r.end.error).toBeUndefined();
    const seqs = r.frames.map((f) => f.seq as number);
    expect(new Set(seqs).size).toBe(seqs.length);
    // Frame 40 and the frames the worker held with it are gone, and counted.
    expect(seqs).not.toContain(40);
    expect(r.end.dropped as number).toBeGreaterThan(0);
    expect((r.end.frames as number) + (r.end.dropped as number)).toBe(N);
    expect(r.frames.length).toBe(r.end.frames);
    // Frames after the crash were processed by the new worker (a new template, then measured).
    expect(Math.max(...seqs)).toBe(N - 1);
  });

  it('that keeps failing is not replaced forever: the run ends with its error', async () => {
    const mod = path.join(dir, `always${workers}.mjs`);
    fs.writeFileSync(mod, 'export function crash() { process.exit(4); }\n');
    const r = await replayThroughPipeline(`synthetic:?width=64&height=64&fps=200&objects=5&frames=200&seed=42`, (c) => {
      c.template.frames = 5;
      c.objects.custom = mod;
      c.pipeline.workers = workers;
    }, 'auto').catch((e: unknown) => e as Error);
    expect(r).toBeInstanceOf(Error);
    expect((r as Error).message).toMatch(/pipeline worker exited unexpectedly \(code 4\)/);
  });
});
