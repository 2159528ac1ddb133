import { createWriteStream, type WriteStream } from 'node:fs';
import { basename } from 'node:path';
import { InputError } from '../errors.js';
import type { Topic } from './hub.js';

/** Topics that go into a record file, in the order DESIGN.md lists them. */
export const RECORDED_TOPICS: readonly Topic[] = ['meta', 'segmentation', 'frame', 'objects', 'end'];

export interface RecorderOptions {
  /** Start a new part once the current one holds this many bytes (0: never). */
  rotateBytes?: number;
  /** Start a new part once the current one is this many seconds old (0: never). */
  rotateSeconds?: number;
  /** The clock, in ms (injected by tests; default performance.now). */
  now?: () => number;
  /**
   * Bytes of lines not yet on disk (batched, or in the file stream's buffer) past which `wait()`
   * holds the pipeline until the disk has caught up to half of it (default 64 MiB).
   */
  maxBacklogBytes?: number;
  /** Called once, as soon as the record cannot be written any more (the run goes on unrecorded). */
  onFailure?: (error: InputError) => void;
}

/** What `/api/status` and `/metrics` say of the record. */
export interface RecorderStatus {
  path: string;
  parts: number;
  /** Bytes the disk has taken. */
  bytesWritten: number;
  /** Bytes of lines waiting for the disk. */
  backlogBytes: number;
  peakBacklogBytes: number;
  /** Times the pipeline waited for the disk, and for how long in all. */
  waits: number;
  waitedMs: number;
  /** Why the record could not be written (null while it can). */
  error: string | null;
}

interface Part {
  path: string;
  out: WriteStream;
  /** Bytes handed to this part so far (written or batched). */
  bytes: number;
  /** Frame lines in this part. */
  frames: number;
  /** Frames skipped (gaps in seq) before frame lines of this part. */
  dropped: number;
  opened: number;
}

/**
 * Writes the NDJSON record (DESIGN.md, record format version 1). Lines are
 * appended to an in-memory batch and handed to the file stream once per tick,
 * so the pipeline does not wait on the disk for every line. `close()` flushes
 * and resolves once everything is on disk; a record without its `end` line was
 * cut short.
 *
 * A disk slower than the pipeline (a network share, a USB disk, a full page
 * cache) would make the lines waiting for it grow without bound. Past
 * `maxBacklogBytes` of them, `wait()` gives the pipeline a promise to await
 * before it takes the next frame: a replay is then not read on, a live source's
 * frames wait in its queue and the oldest are dropped and counted. So every
 * frame that is processed is recorded, and memory stays bounded.
 *
 * A record that cannot be written (disk full, a removed drive) is said at once
 * through `onFailure`, with the last frame known to be on disk; the lines
 * after it are discarded (the run goes on, served but unrecorded) and `close()`
 * throws the same error.
 *
 * Rotation (`record.rotateBytes`, `record.rotateSeconds`, docs/reliability.md):
 * the first part is FILE itself, the next ones FILE.1, FILE.2 … beside it.
 * Once the current part has reached either limit, the next part starts at the
 * next frame boundary (before a `frame` or `segmentation` line, never between
 * a frame and its `objects` line; a part holds at least one frame). Every
 * part is a record of its own: it starts with the meta line and the current
 * segmentation, and ends with an `end` line whose `frames` and `dropped` count
 * that part's frames, and, for every part but the last, whose `next` names the
 * following part (its file name, in the same folder). The last part ends with
 * the pipeline's own end line (its `error`, if any, kept), with that part's
 * counts in `frames`/`dropped` and the whole recording's in `totalFrames`/
 * `totalDropped`. Without rotation the file is exactly as before.
 */
export class Recorder {
  readonly path: string;
  /** Every part opened so far, in order (FILE first). */
  readonly parts: string[] = [];
  private readonly rotateBytes: number;
  private readonly rotateMs: number;
  private readonly now: () => number;
  private part: Part;
  private readonly ending: Promise<void>[] = [];
  private batch: string[] = [];
  private scheduled = false;
  private failure: { error: Error; path: string } | null = null;
  private readonly onFailure: ((error: InputError) => void) | undefined;
  /** ready() resolved: a failure from now on is one the run goes on through (before, ready() rejects). */
  private opened = false;
  private closed = false;
  private readonly maxBacklog: number;
  /** Bytes in `batch`, and bytes handed to a file stream whose write has not completed. */
  private batchBytes = 0;
  private pendingBytes = 0;
  private peakBacklog = 0;
  private bytesWritten = 0;
  private waiters: (() => void)[] = [];
  private waits = 0;
  private waitedMs = 0;
  /** The seq of the last frame line whose write completed (−1: none). */
  private durableSeq = -1;
  private meta: string | null = null;
  private segmentation: string | null = null;
  private lastSeq = -1;
  /** Frames dropped as reported in the end lines of the parts before the current one. */
  private droppedBefore = 0;
  private framesBefore = 0;

  constructor(path: string, opts: RecorderOptions = {}) {
    this.path = path;
    this.rotateBytes = opts.rotateBytes ?? 0;
    this.rotateMs = (opts.rotateSeconds ?? 0) * 1000;
    this.now = opts.now ?? (() => performance.now());
    this.maxBacklog = opts.maxBacklogBytes ?? 64 * 2 ** 20;
    this.onFailure = opts.onFailure;
    this.part = this.openPart(path);
  }

  /** Resolves once the (first) file is open, or throws an InputError naming it. */
  ready(): Promise<void> {
    const out = this.part.out;
    return new Promise((resolve, reject) => {
      if (this.failure) return reject(this.asInputError(this.failure));
      const opened = (): void => {
        this.opened = true;
        resolve();
      };
      if (out.pending === false) return opened();
      out.once('ready', opened);
      out.once('error', (e) => reject(this.asInputError({ error: e, path: this.part.path })));
    });
  }

  /** A hub text subscriber: one record line per message. */
  write = (topic: Topic, json: string): void => {
    if (this.closed) return;
    if ((topic === 'frame' || topic === 'segmentation') && this.rotationDue()) this.rotate(topic === 'frame');
    switch (topic) {
      case 'meta':
        this.meta = json;
        break;
      case 'segmentation':
        this.segmentation = json;
        break;
      case 'frame': {
        const seq = frameSeq(json);
        if (seq !== null) {
          if (seq > this.lastSeq + 1) this.part.dropped += seq - this.lastSeq - 1;
          this.lastSeq = Math.max(this.lastSeq, seq);
        }
        this.part.frames++;
        break;
      }
      case 'end':
        if (this.parts.length > 1) json = this.lastEndLine(json);
        break;
    }
    this.add(json);
  };

  /** Lines waiting for the disk, in bytes. */
  get backlogBytes(): number {
    return this.batchBytes + this.pendingBytes;
  }

  /**
   * null while the disk keeps up; past `maxBacklogBytes` waiting, a promise
   * that resolves once half of it is on disk (or the record has failed, or is
   * closed). The pipeline awaits it before taking the next frame.
   */
  wait(): Promise<void> | null {
    if (this.failure || this.closed || this.backlogBytes < this.maxBacklog) return null;
    this.waits++;
    const t0 = this.now();
    // Hand the batch to the disk now rather than at the next tick: the pipeline is about to idle.
    this.drain();
    return new Promise<void>((resolve) =>
      this.waiters.push(() => {
        this.waitedMs += this.now() - t0;
        resolve();
      }),
    );
  }

  status(): RecorderStatus {
    return {
      path: this.path,
      parts: this.parts.length,
      bytesWritten: this.bytesWritten,
      backlogBytes: this.backlogBytes,
      peakBacklogBytes: this.peakBacklog,
      waits: this.waits,
      waitedMs: Math.round(this.waitedMs),
      error: this.failure ? this.asInputError(this.failure).message : null,
    };
  }

  private release(): void {
    if (this.waiters.length === 0) return;
    if (!this.failure && !this.closed && this.backlogBytes > this.maxBacklog / 2) return;
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private add(json: string): void {
    if (this.failure) return;
    const bytes = Buffer.byteLength(json) + 1;
    this.batch.push(json);
    this.batchBytes += bytes;
    this.part.bytes += bytes;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.drain);
    }
  }

  private rotationDue(): boolean {
    const p = this.part;
    if (p.frames === 0) return false;
    return (this.rotateBytes > 0 && p.bytes >= this.rotateBytes) || (this.rotateMs > 0 && this.now() - p.opened >= this.rotateMs);
  }

  /**
   * Ends the current part with an end line naming the next, and starts the
   * next with the meta line and (before a frame) the current segmentation.
   */
  private rotate(beforeFrame: boolean): void {
    const p = this.part;
    const next = `${this.path}.${this.parts.length}`;
    this.add(JSON.stringify({ type: 'end', frames: p.frames, dropped: p.dropped, next: basename(next) }));
    this.drain();
    this.droppedBefore += p.dropped;
    this.framesBefore += p.frames;
    this.ending.push(endStream(p.out));
    this.part = this.openPart(next);
    if (this.meta !== null) this.add(this.meta);
    if (beforeFrame && this.segmentation !== null) this.add(this.segmentation);
  }

  /** The pipeline's end line for the last part of a rotated record: this part's counts, and the totals. */
  private lastEndLine(json: string): string {
    let end: Record<string, unknown>;
    try {
      end = JSON.parse(json) as Record<string, unknown>;
    } catch {
      return json;
    }
    const totalFrames = typeof end.frames === 'number' ? end.frames : this.framesBefore + this.part.frames;
    const totalDropped = typeof end.dropped === 'number' ? end.dropped : this.droppedBefore + this.part.dropped;
    // The pipeline's count is the truth; frames dropped after the last recorded one show only there.
    const dropped = Math.max(0, totalDropped - this.droppedBefore);
    return JSON.stringify({ ...end, frames: this.part.frames, dropped, totalFrames, totalDropped });
  }

  private openPart(path: string): Part {
    const out = createWriteStream(path, { flags: 'w' });
    out.on('error', (e) => this.fail(e, path));
    this.parts.push(path);
    return { path, out, bytes: 0, frames: 0, dropped: 0, opened: this.now() };
  }

  private drain = (): void => {
    this.scheduled = false;
    if (this.batch.length === 0 || this.failure) return;
    const text = this.batch.join('\n') + '\n';
    const bytes = this.batchBytes;
    const seq = this.lastSeq;
    this.batch = [];
    this.batchBytes = 0;
    this.pendingBytes += bytes;
    this.peakBacklog = Math.max(this.peakBacklog, this.pendingBytes);
    this.part.out.write(text, (e) => {
      if (this.failure) return;
      this.pendingBytes -= bytes;
      if (e) return; // the stream's 'error' event follows
      this.bytesWritten += bytes;
      this.durableSeq = seq;
      this.release();
    });
  };

  /** The first failure of any part: said once, the lines not yet written discarded, the pipeline released. */
  private fail(error: Error, path: string): void {
    if (this.failure) return;
    this.failure = { error, path };
    this.batch = [];
    this.batchBytes = 0;
    this.pendingBytes = 0;
    const said = this.asInputError(this.failure);
    this.release();
    if (this.opened) this.onFailure?.(said);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.drain();
    this.closed = true;
    this.release();
    this.ending.push(endStream(this.part.out));
    await Promise.all(this.ending);
    if (this.failure) throw this.asInputError(this.failure);
  }

  private asInputError(f: { error: Error; path: string }): InputError {
    const code = (f.error as NodeJS.ErrnoException).code;
    const kept = this.durableSeq < 0 ? '' : `; the record holds the frames up to seq ${this.durableSeq}`;
    return new InputError(`record file ${f.path}: cannot be written (${code ?? f.error.message})${kept}`);
  }
}

function endStream(out: WriteStream): Promise<void> {
  return new Promise<void>((resolve) => {
    if (out.destroyed) return resolve();
    out.once('error', () => resolve());
    out.end(() => resolve());
  });
}

/** The `seq` of a frame line (the second key as the pipeline writes it; parsed in full otherwise). */
function frameSeq(json: string): number | null {
  const m = /^\{"type":"frame","seq":(\d+)[,}]/.exec(json);
  if (m) return Number(m[1]);
  try {
    const seq = (JSON.parse(json) as { seq?: unknown }).seq;
    return typeof seq === 'number' && Number.isInteger(seq) ? seq : null;
  } catch {
    return null;
  }
}
