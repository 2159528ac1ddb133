import { statSync } from 'node:fs';
import { extname } from 'node:path';
import type { Config } from '../config/schema.js';
import { InputError } from '../errors.js';
import { InterleavedChannels, MergedChannels } from './channels.js';
import type { FrameSource } from './frame.js';
import { isLiveStreamUri, LiveStreamSource } from './liveStream.js';
import { RawFrameSocketSource } from './rawFrameSocket.js';
import { SequenceSource } from './sequence.js';
import { SyntheticSource } from './synthetic.js';
import { TiffSource } from './tiff.js';
import { VideoSource } from './video.js';
import { WatchFolderSource } from './watchFolder.js';

const TIFF_EXT = new Set(['.tif', '.tiff', '.btf', '.tf8']);
const IMAGE_EXT = new Set(['.png']);

/**
 * Turns what the user named (--source, or replay's PATH) into a FrameSource,
 * with its planes grouped into channels (--channels N) and a second movie
 * merged in as further channels (--channel2 FILE) when configured.
 */
export function openSource(uri: string, cfg: Config): FrameSource {
  let source = openOne(uri, cfg);
  if (cfg.input.channels > 1) source = new InterleavedChannels(source, cfg.input.channels);
  if (cfg.input.channel2 !== null) source = new MergedChannels(source, openOne(cfg.input.channel2, cfg), cfg.input.channel2);
  return source;
}

function openOne(uri: string, cfg: Config): FrameSource {
  if (uri.startsWith('synthetic:')) return new SyntheticSource(uri);
  if (uri.startsWith('watch:')) {
    return new WatchFolderSource(uri, { intervalMs: cfg.watch.interval * 1000, existing: cfg.watch.existing, maxPixels: cfg.tiff.maxPixels });
  }
  if (/^tcp:\/\//i.test(uri)) {
    return new RawFrameSocketSource(uri, { maxFrameBytes: cfg.tcp.maxFrameBytes, timeoutMs: cfg.tcp.timeout * 1000 });
  }
  if (isLiveStreamUri(uri)) {
    const f = cfg.ffmpeg;
    return new LiveStreamSource(uri, {
      ffmpegPath: f.path ?? undefined,
      ffprobePath: f.probePath ?? undefined,
      inputFormat: f.inputFormat,
      videoSize: f.videoSize,
      framerate: f.framerate,
      rtspTransport: f.rtspTransport,
      timeoutMs: f.timeout * 1000,
      reconnectInitialMs: f.reconnectInitial * 1000,
      reconnectMaxMs: f.reconnectMax * 1000,
    });
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(uri)) {
    throw new InputError(
      `source ${uri}: this kind of source is not supported (files, folders, globs, synthetic:, watch:, tcp://, v4l2:, rtsp://, http(s):// are)`,
    );
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
