/**
 * The raw-frame socket under abuse, end to end through `scopestream run
 * --source tcp://…` (issue 6; docs/reliability.md): 200 connections at once
 * (silent, then sending garbage), a 100000×100000 header, a partial frame and
 * silence, and then a valid sender whose frames must all reach the record.
 * The process stays up, its memory stays bounded, and it stops cleanly.
 * Each refusal's exact ERR line is tested in test/ingest/rawFrameSocket.test.ts.
 */

import net from 'node:net';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { countLines, expectValidRecord, readRecord, waitFor } from '../helpers/cli.js';
import { bounded, freePort, rssOf, servingUrl, useFaultFixtures } from './helpers.js';

const fx = useFaultFixtures();

/** docs/ingest-tcp.md: the 40-byte header, field by field. */
function header(width: number, height: number, payload: number | bigint, t = NaN): Buffer {
  const b = Buffer.alloc(40);
  b.write('SSFR', 0, 'latin1');
  b.writeUInt16LE(1, 4);
  b.writeUInt8(2, 6);
  b.writeUInt32LE(width, 8);
  b.writeUInt32LE(height, 12);
  b.writeUInt32LE(1, 16);
  b.writeDoubleLE(t, 24);
  b.writeBigUInt64LE(BigInt(payload), 32);
  return b;
}

/** A connection and all the server said to it until it closed (null: still open). */
interface Conn {
  socket: net.Socket;
  reply: Promise<string>;
}

function connect(port: number): Promise<Conn> {
  const socket = net.connect(port, '127.0.0.1');
  fx.afterEach(() => socket.destroy());
  socket.on('error', () => undefined);
  let text = '';
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => (text += d));
  const reply = new Promise<string>((resolve) => socket.on('close', () => resolve(text)));
  return new Promise((resolve) => {
    socket.once('connect', () => resolve({ socket, reply }));
    // Refused or reset before connecting: a reply of nothing.
    socket.once('close', () => resolve({ socket, reply }));
  });
}

/** Moving specimen: a bright square drifting one pixel every 4 frames over a ramp. */
function pixels(k: number): Buffer {
  const W = 64;
  const b = Buffer.alloc(W * W * 2);
  const ox = 20 + Math.floor(k / 4) % 6;
  for (let y = 0; y < W; y++) {
    for (let x = 0; x < W; x++) {
      const inSquare = x >= ox && x < ox + 12 && y >= 24 && y < 36;
      b.writeUInt16LE(1000 + x * 7 + y * 3 + (inSquare ? 3000 : 0) + ((x * 31 + y * 17 + k) % 13), (y * W + x) * 2);
    }
  }
  return b;
}

describe('tcp:// in a running scopestream under abuse', () => {
  it('200 connections at once (silent, then garbage), a huge header, a partial frame: all refused or timed out; then every frame of a valid sender is recorded', async () => {
    const port = await freePort();
    const record = path.join(fx.dir, 'tcp.ndjson');
    const uri = `tcp://127.0.0.1:${port}?width=64&height=64&dtype=uint16`;
    const run = fx.start(['run', '--source', uri, '--record', record, '--port', '0', '--template-frames', '5', '--set', 'tcp.timeout=0.5'], {
      timeoutMs: 120_000,
    });
    const base = await servingUrl(run);
    const pid = run.child.pid as number;
    const rss0 = rssOf(pid) as number;
    let peak = rss0;
    const sampler = setInterval(() => (peak = Math.max(peak, rssOf(pid) ?? 0)), 20);
    try {
      // 200 that connect and say nothing.
      const silent = await Promise.all(Array.from({ length: 200 }, () => connect(port)));
      const silentReplies = await bounded(Promise.all(silent.map((c) => c.reply)), 30_000, '200 silent connections to be closed');
      for (const r of silentReplies) expect(r, 'closed without a word, timed out or busy').toMatch(/^(|ERR timeout: nothing received for 0\.5 s after connecting\n|ERR busy: .*\n)$/);
      expect(silentReplies.filter((r) => r.startsWith('ERR timeout')).length, 'some were held and timed out').toBeGreaterThan(0);

      // 200 that send garbage at once.
      const noisy = await Promise.all(Array.from({ length: 200 }, () => connect(port)));
      for (const c of noisy) if (!c.socket.destroyed) c.socket.write('GET / HTTP/1.1\r\nHost: camera\r\n\r\n');
      const noisyReplies = await bounded(Promise.all(noisy.map((c) => c.reply)), 30_000, '200 garbage senders to be closed');
      for (const r of noisyReplies) expect(r).toMatch(/^(|ERR bad magic 47 45 54 20: .*\n|ERR busy: .*\n)$/);
      expect(noisyReplies.filter((r) => r.startsWith('ERR bad magic')).length).toBeGreaterThan(0);

      // 100000×100000 announced, payload following: refused before anything is allocated for it.
      const huge = await connect(port);
      huge.socket.write(header(100000, 100000, 2e10));
      for (let i = 0; i < 64 && !huge.socket.destroyed; i++) huge.socket.write(Buffer.alloc(1 << 16));
      expect(await bounded(huge.reply, 15_000, 'the huge header refused')).toMatch(/^ERR frame of 100000×100000×1 uint16 is 20000000000 bytes, over the limit/);

      // Part of a frame, then silence.
      const partial = await connect(port);
      partial.socket.write(Buffer.concat([header(64, 64, 64 * 64 * 2), pixels(0).subarray(0, 1000)]));
      expect(await bounded(partial.reply, 15_000, 'the partial frame timed out')).toBe('ERR timeout: 1040 of 8232 bytes of a frame, then nothing for 0.5 s\n');
    } finally {
      clearInterval(sampler);
    }
    expect(run.child.exitCode, run.output.stderr).toBeNull();
    const grown = peak - rss0;
    expect(grown, `RSS grew by ${(grown / 2 ** 20).toFixed(1)} MiB`).toBeLessThan(64 * 2 ** 20);
    expect(countLines(record, 'frame'), 'nothing refused reached the pipeline').toBe(0);

    // A valid sender, paced so that nothing is dropped: every frame is processed and recorded.
    const N = 60;
    const sender = await connect(port);
    for (let k = 0; k < N; k++) {
      sender.socket.write(Buffer.concat([header(64, 64, 64 * 64 * 2, k * 20), pixels(k)]));
      await new Promise((r) => setTimeout(r, 20));
    }
    await waitFor(() => countLines(record, 'frame') === N, run, `${N} frame lines`);
    const status = (await (await fetch(`${base}/api/status`)).json()) as { sourceHealth: { state: string; lastError: string } };
    expect(status.sourceHealth.state).toBe('connected');
    expect(status.sourceHealth.lastError).toMatch(/refused|timeout/);
    sender.socket.end();
    run.child.kill('SIGTERM');
    const r = await bounded(run.done, 20_000, 'the run to exit');
    expect(r.code, r.stderr).toBe(0);
    const rec = expectValidRecord(readRecord(record));
    expect(rec.frames.map((f) => f.seq)).toEqual(Array.from({ length: N }, (_, i) => i));
    expect(rec.frames.map((f) => f.t)).toEqual(Array.from({ length: N }, (_, i) => i * 20));
    expect(rec.end).toMatchObject({ frames: N, dropped: 0 });
    expect(rec.frames.filter((f) => f.ok).length, 'the frames register').toBeGreaterThan(N - 5);
  });
});
