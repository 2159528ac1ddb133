import { statSync } from 'node:fs';
import { extname } from 'node:path';
import type { Config } from '../config/schema.js';
import { InputError } from '../errors.js';
import type { FrameSource } from './frame.js';
import { SequenceSource } from './sequence.js';
import { SyntheticSource } from './synthetic.js';
import { TiffSource } from './tiff.js';
import { VideoSource } from './video.js';

const TIFF_EXT = new Set(['.tif', '.tiff', '.btf', '.tf8']);
const IMAGE_EXT = new Set(['.png']);

/** Turns what the user named (--source, or replay's PATH) into a FrameSource. */
export function openSource(uri: string, cfg: Config): FrameSource {
  if (uri.startsWith('synthetic:')) return new SyntheticSource(uri);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(uri)) {
    throw new InputError(`source ${uri}: this kind of source is not supported yet (files, folders, globs and synthetic: are)`);
  }
  if (/[*?]/.test(uri)) return new SequenceSource(uri, { maxPixels: cfg.tiff.maxPixels });
  let isDir = false;
  try {
    isDir = statSync(uri).isDirectory();
  } catch (e) {
    throw new InputError(`${uri}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or folder' : 'cannot be read'}`);
  }
  if (isDir) return new SequenceSource(uri, { maxPixels: cfg.tiff.maxPixels });
  const ext = extname(uri).toLowerCase();
  if (TIFF_EXT.has(ext)) return new TiffSource(uri, { maxPixels: cfg.tiff.maxPixels });
  if (IMAGE_EXT.has(ext)) return new SequenceSource(uri, { maxPixels: cfg.tiff.maxPixels });
  return new VideoSource(uri, { ffmpegPath: cfg.ffmpeg.path ?? undefined, ffprobePath: cfg.ffmpeg.probePath ?? undefined });
}
