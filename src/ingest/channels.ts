/**
 * Several channels from single-channel inputs (colocalization feeds):
 *
 * - `InterleavedChannels` (`--channels N`): consecutive frames of one source
 *   (planes c0, c1, …, c(N-1), c0, c1, …) grouped N at a time into one
 *   N-channel planar frame.
 * - `MergedChannels` (`--channel2 FILE`): a second movie read in lockstep with
 *   the first; frame i of each becomes one frame with the channels of the first
 *   followed by those of the second.
 *
 * Both are pull-based (an inner frame is read only when the consumer asks for
 * the frame that needs it, so backpressure passes through), allocate a fresh
 * buffer per output frame (frames are handed off and may be kept), close their
 * inner sources when iteration stops (early break, error or end) and never
 * swallow an error: a failure while cleaning up after another error is kept
 * and thrown by the next `close()`.
 */
import { InputError } from '../errors.js';
import { allocPixels, dtypeOf, type Frame, type FrameSource, type PixelArray, type SourceInfo } from './frame.js';

type Iter = AsyncIterator<Frame>;

/** One error as is; several as an AggregateError whose message lists them on one line. */
function combine(errors: unknown[]): unknown {
  if (errors.length === 1) return errors[0];
  const text = errors.map((e) => (e instanceof Error ? e.message : String(e))).join('; ');
  return new AggregateError(errors, text);
}

function describe(w: number, h: number, c: number, dtype: string): string {
  return `${w}×${h}, ${c} channel${c === 1 ? '' : 's'}, ${dtype}`;
}

/** Refuses a frame that does not match what its source announced (a broken source, not a user error). */
function checkFrame(f: Frame, info: SourceInfo, name: string, index: number): void {
  const dtype = dtypeOf(f.data);
  if (f.width !== info.width || f.height !== info.height || f.channels !== info.channels || dtype !== info.dtype
    || f.data.length !== f.width * f.height * f.channels) {
    throw new InputError(`${name}: frame ${index} is ${describe(f.width, f.height, f.channels, dtype)} (${f.data.length} samples) `
      + `but the source is ${describe(info.width, info.height, info.channels, info.dtype)}`);
  }
}

/** `it.next()`, marking the iterator finished when it throws (a thrown generator is done). */
async function pull(it: Iter, state: { done: boolean }): Promise<IteratorResult<Frame>> {
  try {
    const r = await it.next();
    if (r.done) state.done = true;
    return r;
  } catch (e) {
    state.done = true;
    throw e;
  }
}

/**
 * The inner sources of a wrapper and their closing: at most once per open,
 * both closed even if one throws, and a failure nobody has seen yet is kept
 * for the next `close()`.
 */
class Inner {
  private closing: Promise<void> | null = null;
  private unreported: unknown[] = [];

  constructor(private readonly sources: readonly FrameSource[]) {}

  /** Called by the wrapper's open(): after a close, the sources may be opened again. */
  reopen(): void {
    if (this.closing) {
      this.closing = null;
      this.unreported = [];
    }
  }

  private closeOnce(): Promise<void> {
    this.closing ??= (async () => {
      const results = await Promise.allSettled(this.sources.map((s) => s.close()));
      const errors = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
      if (errors.length > 0) throw combine(errors);
    })();
    return this.closing;
  }

  /** The wrapper's close(). */
  async close(): Promise<void> {
    if (this.closing) {
      // Already closed when iteration stopped: report only what was not reported then.
      await this.closing.catch(() => undefined);
      const pending = this.unreported;
      this.unreported = [];
      if (pending.length > 0) throw combine(pending);
      return;
    }
    await this.closeOnce();
  }

  /**
   * End of a frames() iteration: stop the inner iterators that are not finished
   * (early break, or the other input failed), then close the sources. After a
   * failure (`failed`), cleanup errors are kept for close() and the original
   * error propagates; otherwise they are thrown here.
   */
  async finish(iters: readonly { it: Iter; state: { done: boolean } }[], failed: boolean): Promise<void> {
    const errors: unknown[] = [];
    for (const { it, state } of iters) {
      if (state.done || !it.return) continue;
      try {
        await it.return();
      } catch (e) {
        errors.push(e);
      }
    }
    try {
      await this.closeOnce();
    } catch (e) {
      errors.push(e);
    }
    if (errors.length === 0) return;
    if (failed) this.unreported.push(...errors);
    else throw combine(errors);
  }
}

/**
 * `--channels N` on a source whose planes are interleaved: inner frames
 * 0..N-1 become output frame 0 (channel c = inner frame c), and so on.
 * Output: seq 0, 1, 2, …; `t` and `truth` of the group's first inner frame;
 * fps and frameCount of the inner source divided by N (frameCount rounded down).
 * A trailing incomplete group is an InputError, thrown after the complete groups.
 */
export class InterleavedChannels implements FrameSource {
  private info: SourceInfo | null = null;
  private readonly inner: Inner;

  constructor(private readonly source: FrameSource, readonly channels: number) {
    if (!Number.isInteger(channels) || channels < 1) {
      throw new InputError(`option --channels: ${channels} is not allowed; expected a whole number ≥ 1`);
    }
    this.inner = new Inner([source]);
  }

  async open(): Promise<SourceInfo> {
    if (this.info) return this.info;
    this.inner.reopen();
    const inner = await this.source.open();
    const n = this.channels;
    if (inner.channels !== 1) {
      throw new InputError(`${inner.uri}: has ${inner.channels} channels per frame, but --channels ${n} groups consecutive single-channel frames (interleaved planes)`);
    }
    const info: SourceInfo = { ...inner, channels: n };
    if (inner.frameCount !== undefined) info.frameCount = Math.floor(inner.frameCount / n);
    if (inner.fps !== undefined) info.fps = inner.fps / n;
    this.info = info;
    return info;
  }

  async *frames(): AsyncGenerator<Frame> {
    const info = await this.open();
    const innerInfo: SourceInfo = { ...info, channels: 1 };
    const n = this.channels;
    const plane = info.width * info.height;
    const it = this.source.frames()[Symbol.asyncIterator]();
    const state = { done: false };
    let failed = false;
    try {
      for (let seq = 0; ; seq++) {
        let first: Frame | null = null;
        let data: PixelArray | null = null;
        for (let c = 0; c < n; c++) {
          const index = seq * n + c;
          const r = await pull(it, state);
          if (r.done) {
            if (c === 0) return;
            throw new InputError(`${info.uri}: ${index} frames is not a multiple of --channels ${n}`);
          }
          checkFrame(r.value, innerInfo, info.uri, index);
          if (first === null || data === null) {
            first = r.value;
            data = allocPixels(info.dtype, plane * n);
          }
          data.set(r.value.data, c * plane);
        }
        if (first === null || data === null) return; // unreachable: n ≥ 1
        const frame: Frame = { seq, t: first.t, width: info.width, height: info.height, channels: n, data };
        if (first.truth) frame.truth = first.truth;
        yield frame;
      }
    } catch (e) {
      failed = true;
      throw e;
    } finally {
      await this.inner.finish([{ it, state }], failed);
    }
  }

  async close(): Promise<void> {
    this.info = null;
    await this.inner.close();
  }
}

/**
 * `--channel2 FILE`: `first` and `second` read in lockstep; frame i of each
 * becomes one frame with the first's channels then the second's (C1 + C2).
 * They must have the same width, height and dtype. seq is renumbered 0, 1, …;
 * `t`, `truth` and fps come from the first (fps from the second if the first
 * has none); frameCount is the smaller when both are known. When one input
 * ends before the other, an InputError names it and the frame, after every
 * complete pair was yielded.
 */
export class MergedChannels implements FrameSource {
  private info: SourceInfo | null = null;
  private infos: [SourceInfo, SourceInfo] | null = null;
  private readonly inner: Inner;

  constructor(private readonly first: FrameSource, private readonly second: FrameSource, readonly secondName: string) {
    this.inner = new Inner([first, second]);
  }

  async open(): Promise<SourceInfo> {
    if (this.info) return this.info;
    this.inner.reopen();
    const a = await this.first.open();
    const b = await this.second.open();
    const differs: string[] = [];
    if (b.width !== a.width) differs.push('width');
    if (b.height !== a.height) differs.push('height');
    if (b.dtype !== a.dtype) differs.push('dtype');
    if (differs.length > 0) {
      throw new InputError(`${this.secondName}: --channel2 movie is ${b.width}×${b.height} ${b.dtype} but ${a.uri} is ${a.width}×${a.height} ${a.dtype} `
        + `(${differs.join(' and ')} differ${differs.length === 1 ? 's' : ''}); both must have the same width, height and dtype`);
    }
    const info: SourceInfo = {
      uri: a.uri, width: a.width, height: a.height, channels: a.channels + b.channels, dtype: a.dtype,
      live: a.live || b.live,
    };
    const fps = a.fps ?? b.fps;
    if (fps !== undefined) info.fps = fps;
    if (a.frameCount !== undefined && b.frameCount !== undefined) info.frameCount = Math.min(a.frameCount, b.frameCount);
    this.infos = [a, b];
    this.info = info;
    return info;
  }

  async *frames(): AsyncGenerator<Frame> {
    const info = await this.open();
    const [ia, ib] = this.infos as [SourceInfo, SourceInfo];
    const nameA = ia.uri;
    const nameB = this.secondName;
    const planeA = ia.width * ia.height * ia.channels;
    const a = { it: this.first.frames()[Symbol.asyncIterator](), state: { done: false } };
    const b = { it: this.second.frames()[Symbol.asyncIterator](), state: { done: false } };
    let failed = false;
    try {
      for (let seq = 0; ; seq++) {
        // One after the other, each only when this frame is asked for.
        const ra = await pull(a.it, a.state);
        const rb = await pull(b.it, b.state);
        if (ra.done && rb.done) return;
        if (ra.done) {
          throw new InputError(`${nameA}: ran out at frame ${seq} (it has ${seq} frames) while the --channel2 movie ${nameB} has more; both must have the same number of frames`);
        }
        if (rb.done) {
          throw new InputError(`${nameB}: ran out at frame ${seq} (it has ${seq} frames) while ${nameA} has more; the --channel2 movie must have the same number of frames`);
        }
        checkFrame(ra.value, ia, nameA, seq);
        checkFrame(rb.value, ib, nameB, seq);
        const data = allocPixels(info.dtype, info.width * info.height * info.channels);
        data.set(ra.value.data, 0);
        data.set(rb.value.data, planeA);
        const frame: Frame = { seq, t: ra.value.t, width: info.width, height: info.height, channels: info.channels, data };
        if (ra.value.truth) frame.truth = ra.value.truth;
        yield frame;
      }
    } catch (e) {
      failed = true;
      throw e;
    } finally {
      await this.inner.finish([a, b], failed);
    }
  }

  /** Closes both inputs, even if closing one throws (then that error is thrown; both: an AggregateError). */
  async close(): Promise<void> {
    this.info = null;
    this.infos = null;
    await this.inner.close();
  }
}
