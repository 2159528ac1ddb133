/**
 * Image sequences: every TIFF/PNG file of a folder, or the files matching a
 * glob in the file-name part (`/data/seq/frame_*.tif`), in natural order, or
 * a single image file. A multi-page TIFF contributes all its pages, in order.
 */
import type { Dirent } from 'node:fs';
import { open as openFile, readFile, readdir, stat } from 'node:fs/promises';
import * as nodePath from 'node:path';
import { InputError } from '../errors.js';
import type { Frame, FrameSource, SourceInfo } from './frame.js';
import {
  checkFps, describeInfo, fileError, isFsError, sameInfo, sniffFormat, type ImageFormat, type ImageInfo, type ImageReadOptions,
} from './imageFile.js';
import { PNG_HEADER_BYTES, decodePng, parsePngHeader } from './png.js';
import { TiffReader } from './tiff.js';

export interface SequenceOptions extends ImageReadOptions {
  /** Nominal frame rate: `t = seq * 1000 / fps`; without it `t = seq`. */
  fps?: number;
}

/** One file of the sequence, as probed at open. */
export interface SequenceFile {
  path: string;
  format: ImageFormat;
  pages: number;
}

/** File extensions picked up when the sequence is a folder (a glob takes whatever it matches). */
const FOLDER_EXTENSIONS = new Set(['.tif', '.tiff', '.png']);
/** Files probed concurrently at open. */
const PROBE_BATCH = 16;

export class SequenceSource implements FrameSource {
  private files: SequenceFile[] = [];
  private info: SourceInfo | null = null;

  constructor(readonly uri: string, private readonly opts: SequenceOptions = {}) {
    checkFps(uri, opts.fps);
  }

  /** Lists and sorts the files, then reads every header so that size mismatches surface before frame 0. */
  async open(): Promise<SourceInfo> {
    if (this.info) return this.info;
    const paths = await listSequence(this.uri);
    const files: SequenceFile[] = [];
    let first: ImageInfo | null = null;
    for (let i = 0; i < paths.length; i += PROBE_BATCH) {
      const settled = await Promise.allSettled(paths.slice(i, i + PROBE_BATCH).map((p) => probeImage(p, this.opts)));
      for (const result of settled) {
        // In file order, so that the error reported is the first bad file's, deterministically.
        if (result.status === 'rejected') throw result.reason;
        const { file, info } = result.value;
        if (first === null) first = info;
        else checkSame(file.path, info, paths[0], first);
        files.push(file);
      }
    }
    const head = first as ImageInfo;
    this.files = files;
    this.info = {
      uri: this.uri, width: head.width, height: head.height, channels: head.channels, dtype: head.dtype,
      frameCount: files.reduce((n, f) => n + f.pages, 0), live: false,
      ...(this.opts.fps !== undefined ? { fps: this.opts.fps } : {}),
    };
    return this.info;
  }

  /** The files found at open, in playback order. */
  get fileList(): readonly SequenceFile[] {
    return this.files;
  }

  async *frames(): AsyncGenerator<Frame> {
    const info = await this.open();
    const first = this.files[0].path;
    const fps = this.opts.fps;
    let seq = 0;
    for (const file of this.files) {
      if (file.format === 'png') {
        let bytes: Uint8Array;
        try {
          bytes = await readFile(file.path);
        } catch (err) {
          throw fileError(file.path, err);
        }
        const img = decodePng(bytes, file.path, this.opts);
        checkSame(file.path, img, first, info);
        yield { seq, t: fps ? (seq * 1000) / fps : seq, width: img.width, height: img.height, channels: img.channels, data: img.data };
        seq++;
        continue;
      }
      const reader = await TiffReader.open(file.path, { maxPixels: this.opts.maxPixels });
      try {
        // Re-checked: the file may have changed since open.
        checkSame(file.path, reader.pageInfo(0), first, info);
        for (let i = 0; i < reader.pageCount; i++) {
          const data = await reader.readPage(i);
          yield { seq, t: fps ? (seq * 1000) / fps : seq, width: info.width, height: info.height, channels: info.channels, data };
          seq++;
        }
      } finally {
        await reader.close();
      }
    }
  }

  async close(): Promise<void> {
    this.info = null;
    this.files = [];
  }
}

function checkSame(path: string, info: ImageInfo, firstPath: string, first: ImageInfo): void {
  if (!sameInfo(info, first)) {
    throw new InputError(
      `${path}: is ${describeInfo(info)} but the sequence (from ${nodePath.basename(firstPath)}) is ${describeInfo(first)}: all files must match`,
    );
  }
}

/** Reads just enough of a file to know its format, geometry and page count. */
export async function probeImage(path: string, opts: ImageReadOptions = {}): Promise<{ file: SequenceFile; info: ImageInfo }> {
  let head: Uint8Array;
  try {
    const fh = await openFile(path, 'r');
    try {
      head = new Uint8Array(PNG_HEADER_BYTES);
      const { bytesRead } = await fh.read(head, 0, head.length, 0);
      head = head.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  } catch (err) {
    throw fileError(path, err);
  }
  const format = sniffFormat(head);
  if (format === 'png') {
    const h = parsePngHeader(head, path, opts);
    return { file: { path, format, pages: 1 }, info: { width: h.width, height: h.height, channels: h.channels, dtype: h.dtype } };
  }
  if (format !== 'tiff') throw new InputError(`${path}: not a TIFF or PNG file (unrecognised magic bytes)`);
  const reader = await TiffReader.open(path, opts);
  try {
    return { file: { path, format, pages: reader.pageCount }, info: reader.pageInfo(0) };
  } finally {
    await reader.close();
  }
}

export function hasWildcard(s: string): boolean {
  return s.includes('*') || s.includes('?');
}

/**
 * The files of a sequence, naturally sorted: a folder's TIFF/PNG files
 * (hidden files skipped), or the files matching a `*`/`?` pattern in the
 * file-name part of the path; a single file path is a sequence of one.
 */
export async function listSequence(uri: string): Promise<string[]> {
  let dir: string;
  let matches: (name: string) => boolean;
  if (hasWildcard(uri)) {
    dir = nodePath.dirname(uri);
    const pattern = nodePath.basename(uri);
    if (hasWildcard(dir)) {
      throw new InputError(`${uri}: wildcards (* ?) are only supported in the file name, not in folder names`);
    }
    const re = globToRegExp(pattern);
    // Like a shell, a wildcard does not match a leading dot unless the pattern starts with one.
    const hidden = pattern.startsWith('.');
    matches = (name) => (hidden || !name.startsWith('.')) && re.test(name);
  } else {
    dir = uri;
    matches = (name) => !name.startsWith('.') && FOLDER_EXTENSIONS.has(nodePath.extname(name).toLowerCase());
  }

  let entries: Dirent[];
  try {
    const st = await stat(dir);
    // A single image file is a sequence of one (its pages, for a TIFF).
    if (st.isFile() && !hasWildcard(uri)) return [uri];
    if (!st.isDirectory()) throw new InputError(`${dir}: not a folder or an image file`);
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (isFsError(err) && err.code === 'ENOENT') throw new InputError(`${dir}: no such ${hasWildcard(uri) ? 'folder' : 'file or folder'}`);
    throw fileError(dir, err);
  }
  const found: string[] = [];
  for (const entry of entries) {
    if (!matches(entry.name)) continue;
    const full = nodePath.join(dir, entry.name);
    // Only regular files (symlinks followed); sub-folders are not descended into.
    if (entry.isFile() || (entry.isSymbolicLink() && (await stat(full).catch(() => null))?.isFile())) found.push(full);
  }
  found.sort((a, b) => naturalCompare(nodePath.basename(a), nodePath.basename(b)));
  if (found.length === 0) {
    throw new InputError(hasWildcard(uri) ? `${uri}: no file matches this pattern` : `${uri}: no TIFF or PNG files in this folder`);
  }
  return found;
}

/** `*` = any run of characters, `?` = one character; everything else literal. Whole-name match. */
export function globToRegExp(pattern: string): RegExp {
  let re = '^';
  for (const ch of pattern) {
    if (ch === '*') re += '.*';
    else if (ch === '?') re += '.';
    else re += ch.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
  }
  return new RegExp(re + '$', 's');
}

/**
 * Natural order, compared character by character: where both strings have a
 * digit run, the runs compare by numeric value (leading zeros ignored, any
 * length, no overflow); other characters compare case-insensitively by code
 * unit (locale-independent, so the order is the same on every machine). Ties
 * (`frame_01` vs `frame_1`, `A` vs `a`) fall back to a plain comparison so
 * that the order is total.
 */
export function naturalCompare(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(j);
    if (isDigit(ca) && isDigit(cb)) {
      while (a.charCodeAt(i) === 48) i++;
      while (b.charCodeAt(j) === 48) j++;
      let ei = i;
      let ej = j;
      while (isDigit(a.charCodeAt(ei))) ei++;
      while (isDigit(b.charCodeAt(ej))) ej++;
      if (ei - i !== ej - j) return ei - i - (ej - j);
      for (; i < ei; i++, j++) {
        const d = a.charCodeAt(i) - b.charCodeAt(j);
        if (d !== 0) return d;
      }
      continue;
    }
    if (ca !== cb) {
      const d = foldCase(ca) - foldCase(cb);
      if (d !== 0) return d;
    }
    i++;
    j++;
  }
  const rest = a.length - i - (b.length - j);
  if (rest !== 0) return rest;
  return a < b ? -1 : a > b ? 1 : 0;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57; // NaN (past the end) is not a digit
}

function foldCase(c: number): number {
  if (c >= 65 && c <= 90) return c + 32;
  if (c < 128) return c;
  return String.fromCharCode(c).toLowerCase().charCodeAt(0);
}
