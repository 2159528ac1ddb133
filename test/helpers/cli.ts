/**
 * Runs the built command line (`node bin/scopestream.js …`) as a child
 * process, the way a user does, and reads the records it writes. The CLI
 * tests run after the build (`npm test` builds first).
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = fileURLToPath(new URL('../../bin/scopestream.js', import.meta.url));
export const BUILT = fs.existsSync(fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url)));

export interface CliResult {
  /** Exit code; null when the process was killed by a signal (see `signal`). */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The helper killed the process because it outlived `timeoutMs`. */
  timedOut: boolean;
}

export interface CliOptions {
  /** Kill (SIGKILL) after this long; default 60 s. Generous: a guard against hangs, not a measurement. */
  timeoutMs?: number;
  /** Environment of the child (default: this process's). */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export interface CliRun {
  child: ChildProcessWithoutNullStreams;
  /** stdout/stderr so far (grows while the process runs). */
  readonly output: { stdout: string; stderr: string };
  done: Promise<CliResult>;
}

/** Starts `scopestream ARGS…`; `done` settles when it has exited and its pipes are drained. */
export function startCli(args: string[], opts: CliOptions = {}): CliRun {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: opts.cwd ?? REPO,
    env: opts.env ?? process.env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin.end();
  const output = { stdout: '', stderr: '' };
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (s: string) => (output.stdout += s));
  child.stderr.on('data', (s: string) => (output.stderr += s));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, opts.timeoutMs ?? 60_000);
  const done = new Promise<CliResult>((resolve, reject) => {
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: output.stdout, stderr: output.stderr, timedOut });
    });
  });
  return { child, output, done };
}

/** Runs `scopestream ARGS…` to the end. */
export function runCli(args: string[], opts: CliOptions = {}): Promise<CliResult> {
  return startCli(args, opts).done;
}

export type RecordLine = { type: string } & Record<string, unknown>;

/** Parses an NDJSON record strictly: every line one JSON object with a string `type`, a final newline. */
export function readRecord(file: string): RecordLine[] {
  const text = fs.readFileSync(file, 'utf8');
  if (text === '') return [];
  if (!text.endsWith('\n')) throw new Error(`${file}: the last line has no newline`);
  return text
    .slice(0, -1)
    .split('\n')
    .map((line, i) => {
      let v: unknown;
      try {
        v = JSON.parse(line);
      } catch (e) {
        throw new Error(`${file}:${i + 1}: not JSON (${(e as Error).message}): ${line.slice(0, 80)}`);
      }
      if (typeof v !== 'object' || v === null || Array.isArray(v) || typeof (v as { type?: unknown }).type !== 'string') {
        throw new Error(`${file}:${i + 1}: not an object with a "type": ${line.slice(0, 80)}`);
      }
      return v as RecordLine;
    });
}

/**
 * The complete lines of a file another process is still writing (none while
 * it does not exist yet): the text after the last newline may be half a line
 * and is left for a later read.
 */
function completeLines(file: string): string[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const end = text.lastIndexOf('\n');
  return end < 0 ? [] : text.slice(0, end).split('\n').filter((l) => l !== '');
}

/** The complete lines of an NDJSON file being written, parsed. */
export function readNdjsonSoFar(file: string): Record<string, unknown>[] {
  return completeLines(file).map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Complete lines of `type` in a record being written (a partial last line is ignored). */
export function countLines(file: string, type: string): number {
  const needle = `{"type":"${type}"`;
  return completeLines(file).filter((l) => l.startsWith(needle)).length;
}

/**
 * Polls until `cond()` holds (checked every `everyMs`); throws after `limitMs`
 * or as soon as `run` has exited. A wait, never a measurement.
 */
export async function waitFor(cond: () => boolean, run: CliRun, what: string, limitMs = 60_000, everyMs = 25): Promise<void> {
  let exited = false;
  void run.done.then(() => (exited = true), () => (exited = true));
  const deadline = Date.now() + limitMs;
  for (;;) {
    if (cond()) return;
    if (exited) throw new Error(`the process exited before ${what}; stderr: ${run.output.stderr}`);
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}; stderr: ${run.output.stderr}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Expectations shared by the tests of a failed command: one line, `scopestream: `, no stack trace. */
export function oneLineError(r: CliResult): string {
  const lines = r.stderr.split('\n');
  if (lines.length !== 2 || lines[1] !== '') throw new Error(`expected one stderr line, got ${JSON.stringify(r.stderr)}`);
  return lines[0];
}

export interface FrameLine {
  type: 'frame';
  seq: number;
  t: number;
  shift: { dy: number; dx: number; peak: number | null; quality: number | null };
  ok: boolean;
  latencyMs: number;
  truth?: { dy: number; dx: number };
  error?: string;
}

export interface ParsedRecord {
  meta: RecordLine;
  frames: FrameLine[];
  end: RecordLine;
}

/**
 * Checks a record against DESIGN.md (record format, version 1): meta first,
 * then frame lines (segmentation/objects lines may sit between them), end
 * last; every field of meta and of each frame line present with its type.
 * Returns the parts for further checks.
 */
export function expectValidRecord(lines: RecordLine[]): ParsedRecord {
  expect(lines.length).toBeGreaterThanOrEqual(2);
  const meta = lines[0];
  const end = lines[lines.length - 1];
  expect(meta.type).toBe('meta');
  expect(end.type).toBe('end');
  expect(meta.version).toBe(1);
  expect(typeof meta.source).toBe('string');
  for (const k of ['width', 'height', 'channels'] as const) {
    expect(Number.isInteger(meta[k]) && (meta[k] as number) > 0, `meta.${k} = ${String(meta[k])}`).toBe(true);
  }
  expect(['uint8', 'uint16', 'float32']).toContain(meta.dtype);
  expect(typeof meta.config === 'object' && meta.config !== null).toBe(true);

  const middle = lines.slice(1, -1);
  for (const l of middle) expect(['frame', 'segmentation', 'objects']).toContain(l.type);
  const frames = middle.filter((l) => l.type === 'frame') as unknown as FrameLine[];
  for (const f of frames) {
    expect(Number.isInteger(f.seq), `seq ${String(f.seq)}`).toBe(true);
    expect(Number.isFinite(f.t), `t of frame ${f.seq}`).toBe(true);
    expect(typeof f.shift).toBe('object');
    for (const k of ['dy', 'dx'] as const) {
      expect(Number.isFinite(f.shift[k]), `shift.${k} of frame ${f.seq} = ${String(f.shift[k])}`).toBe(true);
    }
    // peak and quality are null where undefined (a constant frame; too small a search window for sidelobes).
    for (const k of ['peak', 'quality'] as const) {
      expect(f.shift[k] === null || Number.isFinite(f.shift[k]), `shift.${k} of frame ${f.seq} = ${String(f.shift[k])}`).toBe(true);
    }
    expect(typeof f.ok).toBe('boolean');
    expect(Number.isFinite(f.latencyMs) && f.latencyMs >= 0, `latencyMs of frame ${f.seq} = ${String(f.latencyMs)}`).toBe(true);
  }
  // Objects: columnar (ids[i] goes with features[name][i]), values numbers or null, every objects
  // line after a segmentation with the same ids, and right after the frame line of its seq.
  let ids: number[] | null = null;
  middle.forEach((l, i) => {
    if (l.type !== 'segmentation' && l.type !== 'objects') return;
    const lineIds = l.ids as number[];
    expect(Array.isArray(lineIds)).toBe(true);
    for (const [name, col] of Object.entries(l.features as Record<string, unknown[]>)) {
      expect(col.length, `${l.type} ${String(l.seq)}: ${name}`).toBe(lineIds.length);
      for (const v of col) expect(v === null || Number.isFinite(v), `${name} = ${String(v)}`).toBe(true);
    }
    if (l.type === 'segmentation') {
      expect(l.count).toBe(lineIds.length);
      ids = lineIds;
    } else {
      expect(ids, 'objects line before any segmentation').not.toBeNull();
      expect(lineIds).toEqual(ids);
      const prev = middle[i - 1];
      expect(prev.type === 'frame' && prev.seq === l.seq, `objects ${String(l.seq)} follows its frame`).toBe(true);
    }
  });
  expect(Number.isInteger(end.frames)).toBe(true);
  expect(Number.isInteger(end.dropped)).toBe(true);
  return { meta, frames, end };
}
