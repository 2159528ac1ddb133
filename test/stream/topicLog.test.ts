/**
 * TopicLog (src/stream/topicLog.ts): one topic's ring of serialised messages.
 * Every message held must read back byte for byte as `{"topic":…,"topicSeq":…,
 * <its fields>}` while its bytes live in recycled blocks; the limits evict the
 * oldest; a block is written again only after the event loop has turned, so a
 * view handed out in a tick stays intact for that tick; and once the ring is
 * full the blocks it holds stop growing.
 */
import { setImmediate as turn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { type LogEntry, TopicLog } from '../../src/stream/topicLog.js';

/** A message of about `size` bytes whose content depends on `k`. */
function message(k: number, size: number): Buffer {
  const pad = 'abcdefghijklmnopqrstuvwxyz'.repeat(Math.ceil(size / 26)).slice(0, Math.max(0, size - 30));
  return Buffer.from(JSON.stringify({ k, pad: `${k % 10}${pad}` }), 'utf8');
}

function expected(topic: string, seq: number, json: Buffer): string {
  const fields = JSON.parse(json.toString('utf8')) as Record<string, unknown>;
  return JSON.stringify({ topic, topicSeq: seq, ...fields });
}

/** A clock the test moves. */
function clock(): { now: () => number; advance(ms: number): void } {
  let t = 0;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

describe('TopicLog', () => {
  it('reads back every held message as sent, with topic and topicSeq in front; `{}` gets them alone', () => {
    const log = new TopicLog('objects', { messages: 1000, seconds: 60, bytes: 1 << 30 });
    const sent: Buffer[] = [];
    for (let k = 0; k < 300; k++) {
      // Sizes from empty to several blocks' worth of the first block size (64 KB).
      const json = k % 50 === 7 ? Buffer.from('{}') : message(k, k % 50 === 3 ? 200_000 : 20 + ((k * 977) % 3000));
      sent.push(json);
      const e = log.append(json);
      expect(e.seq).toBe(k);
      expect(e.bytes.toString('utf8')).toBe(expected('objects', k, json));
    }
    expect(log.first).toBe(0);
    expect(log.next).toBe(300);
    for (let k = 0; k < 300; k++) expect(log.get(k)!.bytes.toString('utf8')).toBe(expected('objects', k, sent[k]));
    expect(log.get(7)!.bytes.toString()).toBe('{"topic":"objects","topicSeq":7}');
    expect(log.get(300)).toBeUndefined();
  });

  it('keeps multi-byte UTF-8 fields intact', () => {
    const log = new TopicLog('event', { messages: 10, seconds: 60, bytes: 1 << 20 });
    const json = Buffer.from(JSON.stringify({ label: 'µm² — Δt ✓' }), 'utf8');
    log.append(json);
    expect(JSON.parse(log.get(0)!.bytes.toString('utf8'))).toEqual({ topic: 'event', topicSeq: 0, label: 'µm² — Δt ✓' });
  });

  it('evicts the oldest past the message, age and byte limits, always keeping the newest', () => {
    const c = clock();
    const byCount = new TopicLog('frame', { messages: 5, seconds: 60, bytes: 1 << 20 }, c.now);
    for (let k = 0; k < 12; k++) byCount.append(message(k, 100));
    expect([byCount.first, byCount.next, byCount.size]).toEqual([7, 12, 5]);
    expect(byCount.get(6)).toBeUndefined();
    expect(JSON.parse(byCount.get(7)!.bytes.toString()).k).toBe(7);

    const byAge = new TopicLog('frame', { messages: 1000, seconds: 1, bytes: 1 << 20 }, c.now);
    for (let k = 0; k < 30; k++) {
      byAge.append(message(k, 100));
      c.advance(100);
    }
    // The last append was at 2900 ms; get() trims at 3000: entries older than 1 s (t < 2000) are gone.
    expect(byAge.get(19)).toBeUndefined();
    expect(byAge.first).toBe(20);
    c.advance(10_000);
    expect(byAge.get(29)).toBeDefined();
    expect(byAge.size).toBe(1);

    const byBytes = new TopicLog('frame', { messages: 1000, seconds: 60, bytes: 10_000 }, c.now);
    for (let k = 0; k < 100; k++) byBytes.append(message(k, 1000));
    expect(byBytes.bytes).toBeLessThanOrEqual(10_000);
    expect(byBytes.bytes).toBeGreaterThan(10_000 - 1100);
    expect(byBytes.next - byBytes.first).toBe(byBytes.size);
    // One message over the byte limit is still held: the newest is never evicted.
    byBytes.append(message(100, 50_000));
    expect(byBytes.size).toBe(1);
    expect(JSON.parse(byBytes.get(100)!.bytes.toString()).k).toBe(100);
  });

  it('with a zero limit holds nothing but still numbers and serialises', () => {
    const log = new TopicLog('stats', { messages: 0, seconds: 60, bytes: 1 << 20 });
    const a = log.append(message(1, 50));
    const b = log.append(Buffer.from('{}'));
    expect(a.bytes.toString()).toBe(expected('stats', 0, message(1, 50)));
    expect(b.bytes.toString()).toBe('{"topic":"stats","topicSeq":1}');
    expect(log.size).toBe(0);
    expect(log.get(1)).toBeUndefined();
  });

  it('does not write a block again within the tick its entries were evicted in', () => {
    // Byte limit 256 KB: 64 KB blocks; 2 MB appended in one tick evicts ~28 whole blocks.
    const log = new TopicLog('objects', { messages: 100_000, seconds: 60, bytes: 256 * 1024 });
    const got: { e: LogEntry; text: string }[] = [];
    for (let k = 0; k < 2000; k++) {
      const json = message(k, 1000 + (k % 7) * 13);
      got.push({ e: log.append(json), text: expected('objects', k, json) });
    }
    expect(log.first).toBeGreaterThan(1500);
    for (const { e, text } of got) expect(e.bytes.toString('utf8')).toBe(text);
  });

  it('recycles its blocks: once full, appending for ever holds a bounded set of blocks', async () => {
    const limit = 1024 * 1024;
    const log = new TopicLog('objects', { messages: 100_000, seconds: 600, bytes: limit });
    const buffers = new Set<ArrayBufferLike>();
    let maxHeld = 0;
    const sizes: number[] = [];
    for (let k = 0; k < 20_000; k++) {
      const json = message(k, 800 + (k % 11) * 37);
      const e = log.append(json);
      buffers.add(e.bytes.buffer);
      sizes.push(e.bytes.length);
      // A pipeline output per tick, as in the server: the loop turns between appends.
      if (k % 20 === 19) await turn();
      maxHeld = Math.max(maxHeld, log.blockBytes);
      if (k % 997 === 0) expect(log.get(k)!.bytes.toString()).toBe(expected('objects', k, json));
    }
    // ~20 MB went through a 1 MB ring. Blocks: 64 KB (a sixteenth of the limit); the ring
    // spans the limit plus the block being written, and two spare blocks are kept.
    const total = sizes.reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThan(18 * limit);
    expect(buffers.size).toBeLessThanOrEqual(limit / 65536 + 4);
    expect(maxHeld).toBeLessThanOrEqual(limit + 4 * 65536);
    // Every held entry still reads back after all that reuse.
    for (let s = log.first; s < log.next; s++) expect(JSON.parse(log.get(s)!.bytes.toString()).k).toBe(s);
  });
});
