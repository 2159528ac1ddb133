/**
 * `watch:DIR` (or `watch:DIR/pattern*.tif`): TIFF files that acquisition
 * software writes into a folder, processed in natural name order once each is
 * complete, every page of a stack in turn. "Complete" means the file's size
 * and modification time were the same at two looks one interval apart; files
 * are never read while they still change. A file that cannot be read as a
 * TIFF, or whose frames differ in size or type from the stream's, is skipped
 * and reported through health(), and the folder is still watched.
 * See docs/ingest-live.md.
 */
import { readdir, stat } from 'node:fs/promises';
import * as nodePath from 'node:path';
import { InputError } from '../errors.js';
import type { Frame, FrameSource, HealthReporting, SourceHealth, SourceInfo } from './frame.js';
import { describeInfo, fileError, isFsError, sameInfo } from './imageFile.js';
import { ArrivalClock, HealthTracker, pause } from './live.js';
import { globToRegExp, hasWildcard, naturalCompare } from './sequence.js';
import { TiffReader } from './tiff.js';

export interface WatchFolderOptions {
  /** Time between two looks at the folder, ms (watch.interval). */
  intervalMs: number;
  /** Process the files already there when the source opens (watch.existing). */
  existing: boolean;
  /** Largest page accepted (tiff.maxPixels). */
  maxPixels?: number;
}

export interface WatchFolderStats {
  files: number;
  frames: number;
  skipped: number;
}

const TIFF_EXTENSIONS = new Set(['.tif', '.tiff', '.btf', '.tf8']);

interface Seen {
  size: number;
  mtimeMs: number;
  /** Unchanged at the last two looks. */
  stable: boolean;
}

export class WatchFolderSource implements FrameSource, HealthReporting {
  readonly dir: string;
  private readonly matches: (name: string) => boolean;
  /** Files seen but not yet processed, with what the last look found. */
  private readonly pending = new Map<string, Seen>();
  /** Files processed or skipped: never looked at again (a rewritten file is not read twice). */
  private readonly done = new Set<string>();
  private readonly healthState = new HealthTracker();
  private readonly clock = new ArrivalClock();
  private readonly abort = new AbortController();
  private readonly counters: WatchFolderStats = { files: 0, frames: 0, skipped: 0 };
  private info: SourceInfo | null = null;
  /** The file being read, closed by close() even if the consumer never resumes the iteration. */
  private reader: TiffReader | null = null;
  private opening: Promise<SourceInfo> | null = null;
  private seq = 0;

  constructor(
    readonly uri: string,
    private readonly opts: WatchFolderOptions,
  ) {
    const target = uri.replace(/^watch:/, '');
    if (target === '') throw new InputError(`${uri}: name a folder to watch, e.g. watch:/data/run1 or watch:/data/run1/img_*.tif`);
    if (hasWildcard(target)) {
      this.dir = nodePath.dirname(target);
      if (hasWildcard(this.dir)) throw new InputError(`${uri}: wildcards (* ?) are only supported in the file name, not in folder names`);
      const pattern = nodePath.basename(target);
      const re = globToRegExp(pattern);
      this.matches = (name) => (pattern.startsWith('.') || !name.startsWith('.')) && re.test(name);
    } else {
      this.dir = target;
      // Hidden names and other extensions are how writers keep a file out of sight until it is done (x.tif.part, .x.tif).
      this.matches = (name) => !name.startsWith('.') && TIFF_EXTENSIONS.has(nodePath.extname(name).toLowerCase());
    }
  }

  /**
   * Checks the folder, then waits for the first complete, readable TIFF:
   * its first page fixes the stream's size, channels and type.
   */
  open(): Promise<SourceInfo> {
    this.opening ??= this.doOpen();
    return this.opening;
  }

  frames(): AsyncIterable<Frame> {
    return { [Symbol.asyncIterator]: () => this.iterate() };
  }

  health(): SourceHealth {
    return this.healthState.snapshot();
  }

  get stats(): Readonly<WatchFolderStats> {
    return this.counters;
  }

  async close(): Promise<void> {
    this.abort.abort();
    this.healthState.ended();
    await this.reader?.close();
  }

  private get closed(): boolean {
    return this.abort.signal.aborted;
  }

  private async doOpen(): Promise<SourceInfo> {
    let st;
    try {
      st = await stat(this.dir);
    } catch (err) {
      if (isFsError(err) && err.code === 'ENOENT') throw new InputError(`${this.uri}: no such folder (${this.dir})`);
      throw fileError(`${this.uri}: ${this.dir}`, err);
    }
    if (!st.isDirectory()) throw new InputError(`${this.uri}: ${this.dir} is not a folder`);
    await this.look();
    if (!this.opts.existing) {
      for (const name of this.pending.keys()) this.done.add(name);
      this.pending.clear();
    }
    for (;;) {
      const name = await this.nextComplete();
      if (name === null) throw new InputError(`${this.uri}: closed before any file arrived`);
      const reader = await this.openFile(name);
      if (!reader) continue;
      const first = reader.pageInfo(0);
      await reader.close();
      // The file stays pending: frames() reads it first.
      this.info = { uri: this.uri, ...first, live: true };
      return this.info;
    }
  }

  private async *iterate(): AsyncGenerator<Frame, void, undefined> {
    const info = await this.open();
    for (;;) {
      const name = await this.nextComplete();
      if (name === null) return;
      const reader = await this.openFile(name);
      if (!reader) continue;
      this.reader = reader;
      const path = nodePath.join(this.dir, name);
      try {
        const page = reader.pageInfo(0);
        if (!sameInfo(page, info)) {
          this.skip(name, new InputError(`${path}: is ${describeInfo(page)} but the stream is ${describeInfo(info)}`));
          continue;
        }
        this.done.add(name);
        this.pending.delete(name);
        this.counters.files++;
        for (let i = 0; i < reader.pageCount; i++) {
          let data;
          try {
            data = await reader.readPage(i);
          } catch (err) {
            if (this.closed) return; // close() closed the reader under us
            this.skip(name, fileError(path, err), `after ${i} of ${reader.pageCount} pages`);
            break;
          }
          if (this.closed) return;
          this.counters.frames++;
          // No acquisition time in a plain TIFF: frames are stamped when read, which for a stack is its read rate, not the camera's.
          yield { seq: this.seq++, t: this.clock.now(), width: info.width, height: info.height, channels: info.channels, data };
        }
      } finally {
        this.reader = null;
        await reader.close();
      }
    }
  }

  /**
   * Opens a complete file as a TIFF. Null when it is skipped (reported) or
   * turned out to change after all (it then waits to be stable again).
   */
  private async openFile(name: string): Promise<TiffReader | null> {
    const path = nodePath.join(this.dir, name);
    let reader: TiffReader;
    try {
      reader = await TiffReader.open(path, { maxPixels: this.opts.maxPixels });
    } catch (err) {
      if (await this.changedSinceLook(name)) return null;
      this.skip(name, fileError(path, err));
      return null;
    }
    // Read after the last look: if the writer was still at it, wait for the file to settle.
    if (await this.changedSinceLook(name)) {
      await reader.close();
      return null;
    }
    return reader;
  }

  private skip(name: string, err: Error, when = ''): void {
    this.done.add(name);
    this.pending.delete(name);
    this.counters.skipped++;
    const why = err instanceof InputError ? err.message : String(err);
    this.healthState.error(`${this.uri}: skipped ${name}${when ? ` ${when}` : ''}: ${why}`);
  }

  /** Compares the file with the last look, recording what is found now. */
  private async changedSinceLook(name: string): Promise<boolean> {
    const seen = this.pending.get(name);
    let now;
    try {
      now = await stat(nodePath.join(this.dir, name));
    } catch {
      this.pending.delete(name); // gone (moved away, deleted): nothing to read
      return true;
    }
    if (seen && seen.size === now.size && seen.mtimeMs === now.mtimeMs) return false;
    this.pending.set(name, { size: now.size, mtimeMs: now.mtimeMs, stable: false });
    return true;
  }

  /**
   * The first pending file in name order once it is complete; later files
   * wait for it, so that the order holds. Null when the source is closed.
   */
  private async nextComplete(): Promise<string | null> {
    for (;;) {
      if (this.closed) return null;
      const first = [...this.pending.keys()].sort(naturalCompare)[0];
      if (first !== undefined && this.pending.get(first)?.stable) return first;
      await pause(this.opts.intervalMs, this.abort.signal);
      if (this.closed) return null;
      await this.look();
    }
  }

  /** One look at the folder: new files, and whether each pending one changed since the last look. */
  private async look(): Promise<void> {
    let names: string[];
    try {
      names = (await readdir(this.dir, { withFileTypes: true })).filter((e) => !e.isDirectory() && this.matches(e.name)).map((e) => e.name);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      this.healthState.lost(`${this.uri}: cannot list ${this.dir} (${code})`, 'reconnecting');
      return;
    }
    this.healthState.connected();
    const present = new Set(names);
    for (const name of this.pending.keys()) if (!present.has(name)) this.pending.delete(name);
    await Promise.all(
      names
        .filter((name) => !this.done.has(name))
        .map(async (name) => {
          let st;
          try {
            st = await stat(nodePath.join(this.dir, name));
          } catch {
            return; // vanished between the listing and now
          }
          if (!st.isFile()) return;
          const seen = this.pending.get(name);
          // An empty file is a file just created: nothing written yet.
          const stable = seen !== undefined && st.size > 0 && seen.size === st.size && seen.mtimeMs === st.mtimeMs;
          this.pending.set(name, { size: st.size, mtimeMs: st.mtimeMs, stable });
        }),
    );
  }
}
