import { createWriteStream, type WriteStream } from 'node:fs';
import { InputError } from '../errors.js';
import type { Topic } from './hub.js';

/** Topics that go into a record file, in the order DESIGN.md lists them. */
export const RECORDED_TOPICS: readonly Topic[] = ['meta', 'segmentation', 'frame', 'objects', 'end'];

/**
 * Writes the NDJSON record (DESIGN.md, record format version 1). Lines are
 * appended to an in-memory batch and handed to the file stream once per tick,
 * so the pipeline never waits on the disk. `close()` flushes and resolves once
 * everything is on disk; a record without its `end` line was cut short.
 */
export class Recorder {
  readonly path: string;
  private readonly out: WriteStream;
  private batch: string[] = [];
  private scheduled = false;
  private failure: Error | null = null;
  private closed = false;

  constructor(path: string) {
    this.path = path;
    this.out = createWriteStream(path, { flags: 'w' });
    this.out.on('error', (e) => {
      this.failure = e;
    });
  }

  /** Resolves once the file is open, or throws an InputError naming it. */
  ready(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.failure) return reject(this.asInputError(this.failure));
      this.out.once('ready', () => resolve());
      this.out.once('error', (e) => reject(this.asInputError(e)));
    });
  }

  /** A hub text subscriber: one record line per message. */
  write = (_topic: Topic, json: string): void => {
    if (this.closed) return;
    this.batch.push(json);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.drain);
    }
  };

  private drain = (): void => {
    this.scheduled = false;
    if (this.batch.length === 0) return;
    const text = this.batch.join('\n') + '\n';
    this.batch = [];
    this.out.write(text);
  };

  async close(): Promise<void> {
    if (this.closed) return;
    this.drain();
    this.closed = true;
    await new Promise<void>((resolve) => this.out.end(resolve));
    if (this.failure) throw this.asInputError(this.failure);
  }

  private asInputError(e: Error): InputError {
    const code = (e as NodeJS.ErrnoException).code;
    return new InputError(`record file ${this.path}: cannot be written (${code ?? e.message})`);
  }
}
