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
 * so the pipeline never waits on the disk. `close()` flushes and resolves once
 * everything is on disk; a record without its `end` line was cut short.
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
  private closed = false;
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
    this.part = this.openPart(path);
  }

  /** Resolves once the (first) file is open, or throws an InputError naming it. */
  ready(): Promise<void> {
    const out = this.part.out;
    return new Promise((resolve, reject) => {
      if (this.failure) return reject(this.asInputError(this.failure));
      if (out.pending === false) return resolve();
      out.once('ready', () => resolve());
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

  private add(json: string): void {
    this.batch.push(json);
    this.part.bytes += Buffer.byteLength(json) + 1;
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
    out.on('error', (e) => {
      this.failure ??= { error: e, path };
    });
    this.parts.push(path);
    return { path, out, bytes: 0, frames: 0, dropped: 0, opened: this.now() };
  }

  private drain = (): void => {
    this.scheduled = false;
    if (this.batch.length === 0) return;
    const text = this.batch.join('\n') + '\n';
    this.batch = [];
    this.part.out.write(text);
  };

  async close(): Promise<void> {
    if (this.closed) return;
    this.drain();
    this.closed = true;
    this.ending.push(endStream(this.part.out));
    await Promise.all(this.ending);
    if (this.failure) throw this.asInputError(this.failure);
  }

  private asInputError(f: { error: Error; path: string }): InputError {
    const code = (f.error as NodeJS.ErrnoException).code;
    return new InputError(`record file ${f.path}: cannot be written (${code ?? f.error.message})`);
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
