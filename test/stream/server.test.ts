/**
 * The server over loopback with real WebSocket clients (engine `ws`): fan-out
 * without gaps, backpressure for a client that stops reading, resume with
 * `from`, auth and origin checks, client-message validation, /metrics,
 * previews, labels and commands. Waits are bounded polls, never timings.
 */
import WebSocket from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultConfig } from '../../src/config/schema.js';
import { InputError } from '../../src/errors.js';
import { checkExposure } from '../../src/stream/server.js';
import { type Received, type Served, TestClient, expectConsecutive, startServed, until } from '../helpers/server.js';

let served: Served | null = null;
const clients: TestClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.socket.terminate();
  await served?.stop();
  served = null;
});

function client(url: string, socket?: WebSocket): TestClient {
  const c = new TestClient(url, socket);
  clients.push(c);
  return c;
}

async function hello(c: TestClient): Promise<Received> {
  await until(() => c.of('hello').length > 0, 'hello');
  return c.of('hello')[0];
}

/** Checks per-topic delivery: topicSeqs consecutive, except where a `dropped` notice accounts for exactly the missing ones. */
function expectAccounted(msgs: Received[], topic: string): { delivered: number; dropped: number; notices: number } {
  let expected: number | null = null;
  let delivered = 0;
  let dropped = 0;
  let notices = 0;
  for (const m of msgs) {
    if (m.type === 'dropped' && m.topic === topic) {
      expect(m.fromSeq, `dropped notice of ${topic}`).toBe(expected);
      expect(m.count as number).toBeGreaterThan(0);
      expected = (expected as number) + (m.count as number);
      dropped += m.count as number;
      notices++;
    } else if (m.topic === topic && m.topicSeq !== undefined) {
      if (expected !== null) expect(m.topicSeq, `${topic} message after ${expected - 1}`).toBe(expected);
      expected = (m.topicSeq as number) + 1;
      delivered++;
    }
  }
  return { delivered, dropped, notices };
}

describe('server: fan-out', () => {
  it('50 subscribers each receive every frame message, in order, with no topicSeq gap, identical for all', async () => {
    served = await startServed('synthetic:?width=128&height=128&fps=100&frames=240&objects=20&seed=3');
    const subs = Array.from({ length: 50 }, () => client(served!.ws));
    await Promise.all(subs.map((c) => hello(c)));
    for (const c of subs) c.send({ type: 'subscribe', topics: ['frame', 'objects'], from: 0 });
    const summary = await served.done;
    expect(summary.frames).toBeGreaterThan(200);
    await until(() => subs.every((c) => c.topic('frame').length === summary.frames), 'every client to have every frame');
    const reference = subs[0].topic('frame').map((m) => JSON.stringify(m));
    for (const c of subs) {
      const frames = c.topic('frame');
      expect(expectConsecutive(frames)).toEqual({ first: 0, last: summary.frames - 1, gaps: 0 });
      for (let i = 1; i < frames.length; i++) expect(frames[i].seq as number).toBeGreaterThan(frames[i - 1].seq as number);
      expect(frames.map((m) => JSON.stringify(m))).toEqual(reference);
      expect(c.of('dropped')).toEqual([]);
      expect(c.of('gap')).toEqual([]);
    }
    // The frame messages are the record's frame lines plus topic and topicSeq.
    const f = subs[0].topic('frame')[50];
    expect(Object.keys(f).sort()).toEqual(['latencyMs', 'localCorrelation', 'ok', 'seq', 'shift', 't', 'topic', 'topicSeq', 'truth', 'type'].sort());
    expect(subs[0].topic('objects').length).toBeGreaterThan(0);
  });
});

describe('server: a client that stops reading', () => {
  it('gets dropped notices with the right counts, the others lose nothing, and past the hard limit it is closed', async () => {
    served = await startServed('synthetic:?width=256&height=256&fps=200&objects=150&seed=4', (c) => {
      c.server.clientBufferBytes = 64 * 1024;
      c.server.clientMaxDropped = 400;
    });
    const fast = client(served.ws);
    const slow = client(served.ws);
    await Promise.all([hello(fast), hello(slow)]);
    fast.send({ type: 'subscribe', topics: ['frame', 'objects'] });
    slow.send({ type: 'subscribe', topics: ['frame', 'objects'] });
    await until(() => slow.topic('frame').length > 5, 'the slow client to get frames');
    slow.socket.pause();
    const subs = served.service.subscribers;
    await until(() => subs.messagesDropped > 50, 'the server to drop messages for the paused client', 60_000);
    slow.socket.resume();
    await until(() => slow.of('dropped').length > 0, 'a dropped notice');
    const before = slow.messages.length;
    await until(() => slow.messages.length > before + 20, 'the slow client to be served again');
    // Hard limit: stop reading for good.
    slow.socket.pause();
    await until(() => subs.count === 1, 'the slow client to be disconnected', 60_000);
    slow.socket.resume();
    await slow.closed;
    expect(slow.closeCode).toBe(1008);
    expect(slow.closeReason).toMatch(/^too slow: \d+ messages dropped$/);

    for (const topic of ['frame', 'objects']) {
      const s = expectAccounted(slow.messages, topic);
      if (topic === 'frame') expect(s.notices).toBeGreaterThan(0);
      const f = expectAccounted(fast.messages, topic);
      expect(f.dropped).toBe(0);
    }
    expect(fast.of('dropped')).toEqual([]);
    expect(expectConsecutive(fast.topic('frame')).gaps).toBe(0);
    expect(fast.closeCode).toBeNull();
  });
});

describe('server: resume', () => {
  it('a client that disconnects for 2 s and resubscribes with from misses nothing', async () => {
    served = await startServed('synthetic:?width=128&height=128&fps=60&frames=400&objects=10&seed=5');
    const a = client(served.ws);
    const h = await hello(a);
    a.send({ type: 'subscribe', topics: ['frame', 'objects'], from: 0 });
    await until(() => a.topic('frame').length >= 60, '60 frames');
    await a.close();
    const seen = a.topic('frame').length;
    const processed = served.counters.processed;
    await new Promise((r) => setTimeout(r, 2000));
    expect(served.counters.processed).toBeGreaterThan(processed); // the feed went on without it
    const lastFrame = a.topic('frame').at(-1)!.topicSeq as number;
    const lastObjects = a.topic('objects').at(-1)!.topicSeq as number;
    const b = client(served.ws);
    const h2 = await hello(b);
    expect(h2.session).toBe(h.session);
    b.send({ type: 'subscribe', topics: ['frame', 'objects'], from: { frame: lastFrame + 1, objects: lastObjects + 1 } });
    const summary = await served.done;
    await until(() => seen + b.topic('frame').length === summary.frames, 'the rest of the frames');
    const all = [...a.topic('frame'), ...b.topic('frame')];
    expect(expectConsecutive(all)).toEqual({ first: 0, last: summary.frames - 1, gaps: 0 });
    expect(expectConsecutive([...a.topic('objects'), ...b.topic('objects')]).gaps).toBe(0);
    expect(b.of('gap')).toEqual([]);
  });

  it('from older than the ring holds: the client is told exactly which messages are gone', async () => {
    served = await startServed('synthetic:?width=64&height=64&fps=200&frames=150&seed=6', (c) => {
      c.server.bufferMessages = 50;
      c.objects.mode = 'none';
    });
    const summary = await served.done;
    const c = client(served.ws);
    await hello(c);
    c.send({ type: 'subscribe', topics: ['frame'], from: 0 });
    await until(() => c.topic('frame').length === 50, 'the 50 buffered frames');
    expect(c.of('gap')).toEqual([{ type: 'gap', topic: 'frame', fromSeq: 0, toSeq: summary.frames - 51 }]);
    expect(expectConsecutive(c.topic('frame'))).toEqual({ first: summary.frames - 50, last: summary.frames - 1, gaps: 0 });
  });
});

describe('server: security', () => {
  it('with a token, /api, /metrics and /ws refuse requests without it (401) and accept it as ?token= or Bearer', async () => {
    served = await startServed('synthetic:?width=64&height=64&fps=30&seed=7', (c) => {
      c.server.token = 'sekrit';
      c.objects.mode = 'none';
    });
    for (const p of ['/api/status', '/api/config', '/metrics']) {
      expect((await fetch(served.http + p)).status, p).toBe(401);
      expect((await fetch(`${served.http}${p}?token=wrong`)).status, p).toBe(401);
      expect((await fetch(`${served.http}${p}?token=sekrit`)).status, p).toBe(200);
      expect((await fetch(served.http + p, { headers: { Authorization: 'Bearer sekrit' } })).status, p).toBe(200);
    }
    expect((await fetch(served.http + '/healthz')).status).toBe(200);
    const cfg = (await (await fetch(`${served.http}/api/config?token=sekrit`)).json()) as { server: { token: string } };
    expect(cfg.server.token).toBe('(redacted)');

    const refused = new WebSocket(served.ws);
    const status = await new Promise<number>((resolve) => {
      refused.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      refused.on('open', () => resolve(101));
      refused.on('error', () => undefined);
    });
    refused.terminate();
    expect(status).toBe(401);
    const ok = client(served.ws + '?token=sekrit');
    const h = await hello(ok);
    expect(h.version).toBe(1);
    await until(() => served!.service.subscribers.count === 1, 'the client to count');
  });

  it('refuses to bind beyond loopback without a token, unless insecure', () => {
    const o = defaultConfig().server;
    expect(() => checkExposure({ ...o, host: '0.0.0.0' })).toThrow(InputError);
    expect(() => checkExposure({ ...o, host: '0.0.0.0' })).toThrow(/server\.host: 0\.0\.0\.0 .*token/);
    expect(() => checkExposure({ ...o, host: '0.0.0.0', token: 't' })).not.toThrow();
    expect(() => checkExposure({ ...o, host: '0.0.0.0', insecure: true })).not.toThrow();
    expect(() => checkExposure({ ...o, host: '127.0.0.1' })).not.toThrow();
    expect(() => checkExposure({ ...o, host: '::1' })).not.toThrow();
  });

  it('refuses --ws-engine uws with a clear message instead of silently serving with ws', async () => {
    // uWebSockets.js is not on npm: it cannot be installed here, and there is no adapter.
    await expect(startServed('synthetic:?width=64&height=64&seed=1', (c) => (c.server.wsEngine = 'uws'))).rejects.toThrow(
      /^option server\.wsEngine: uws (needs the uWebSockets\.js package|is installed, but)/,
    );
  });

  it('refuses browser upgrades from a foreign origin and accepts its own', async () => {
    served = await startServed('synthetic:?width=64&height=64&fps=30&seed=8', (c) => (c.objects.mode = 'none'));
    const foreign = new WebSocket(served.ws, { origin: 'http://evil.example' });
    const status = await new Promise<number>((resolve) => {
      foreign.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      foreign.on('open', () => resolve(101));
      foreign.on('error', () => undefined);
    });
    foreign.terminate();
    expect(status).toBe(403);
    const own = client(served.ws, new WebSocket(served.ws, { origin: served.http }));
    expect((await hello(own)).type).toBe('hello');
  });
});

describe('server: client messages', () => {
  it('answers malformed and unknown messages with an error and keeps the connection', async () => {
    served = await startServed('synthetic:?width=64&height=64&fps=30&seed=9', (c) => (c.objects.mode = 'none'));
    const c = client(served.ws);
    await hello(c);
    const cases: [unknown, RegExp][] = [
      ['{not json', /^malformed JSON/],
      ['[1,2]', /JSON object/],
      [{ type: 'launch' }, /unknown message type "launch"/],
      [{ type: 'subscribe', topics: ['frame', 'weather'] }, /unknown topic "weather"/],
      [{ type: 'subscribe', topics: [] }, /non-empty list/],
      [{ type: 'subscribe', topics: ['frame'], from: -1 }, /"from" must be/],
      [{ type: 'subscribe', topics: ['frame'], from: { weather: 1 } }, /"from" must be/],
      [{ type: 'subscribe', topics: ['preview'], preview: 'sepia' }, /"preview" must be/],
      [{ type: 'command', command: 'selfDestruct' }, /unknown command "selfDestruct"/],
    ];
    for (const [m, re] of cases) {
      const n = c.of('error').length;
      c.send(m);
      await until(() => c.of('error').length > n, `an error for ${JSON.stringify(m)}`);
      expect(c.of('error')[n].message).toMatch(re);
    }
    c.socket.send(Buffer.from([1, 2, 3]), { binary: true });
    await until(() => c.of('error').length === cases.length + 1, 'an error for a binary message');
    c.send({ type: 'ping' });
    await until(() => c.of('pong').length === 1, 'pong');
    expect(c.closeCode).toBeNull();
  });

  it('closes a connection that sends a message over the size limit (1009), and the server goes on', async () => {
    served = await startServed('synthetic:?width=64&height=64&fps=30&seed=10', (c) => (c.objects.mode = 'none'));
    const c = client(served.ws);
    await hello(c);
    c.send({ type: 'ping', pad: 'x'.repeat(served.config.server.maxClientMessageBytes) });
    await c.closed;
    expect(c.closeCode).toBe(1009);
    const d = client(served.ws);
    expect((await hello(d)).type).toBe('hello');
  });
});

describe('server: HTTP endpoints', () => {
  it('/metrics is valid Prometheus text and its counters move', async () => {
    served = await startServed('synthetic:?width=64&height=64&fps=60&seed=11', (c) => (c.objects.mode = 'none'));
    const scrape = async (): Promise<Map<string, number>> => {
      const res = await fetch(served!.http + '/metrics');
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      const values = new Map<string, number>();
      for (const line of (await res.text()).split('\n')) {
        if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
        const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (-?(?:\d+(?:\.\d+)?(?:e[+-]?\d+)?|NaN|\+Inf|-Inf))$/.exec(line);
        expect(m, `metrics line: ${line}`).not.toBeNull();
        values.set(m![1] + (m![2] ?? ''), Number(m![3]));
      }
      return values;
    };
    await until(() => served!.counters.processed > 40, 'frames');
    const a = await scrape();
    await until(() => served!.counters.processed > 80, 'more frames');
    const b = await scrape();
    expect(b.get('scopestream_frames_processed_total')!).toBeGreaterThan(a.get('scopestream_frames_processed_total')!);
    expect(b.get('scopestream_frames_received_total')!).toBeGreaterThan(a.get('scopestream_frames_received_total')!);
    expect(b.get('scopestream_latency_ms_count')!).toBeGreaterThan(a.get('scopestream_latency_ms_count')!);
    expect(b.has('scopestream_stage_ms_count{stage="register"}')).toBe(true);
    expect(b.get('scopestream_ws_subscribers')).toBe(0);
  });

  it('/api/status, /healthz, /api/labels and unknown paths', async () => {
    served = await startServed('synthetic:?width=128&height=128&fps=60&objects=15&seed=12');
    const c = client(served.ws);
    await hello(c);
    c.send({ type: 'subscribe', topics: ['segmentation'], from: 0 });
    await until(() => c.topic('segmentation').length > 0, 'a segmentation');
    const status = (await (await fetch(served.http + '/api/status')).json()) as Record<string, unknown>;
    expect(status).toMatchObject({ width: 128, height: 128, channels: 1, live: true, subscribers: 1 });
    expect(['wasm', 'ts']).toContain(status.backend);
    expect(await (await fetch(served.http + '/healthz')).json()).toEqual({ ok: true });
    const labels = (await (await fetch(served.http + '/api/labels')).json()) as { width: number; height: number; rle: number[] };
    let total = 0;
    const ids = new Set<number>();
    for (let i = 0; i < labels.rle.length; i += 2) {
      total += labels.rle[i + 1];
      if (labels.rle[i] !== 0) ids.add(labels.rle[i]);
    }
    expect(total).toBe(128 * 128);
    const seg = c.topic('segmentation').at(-1)!;
    expect([...ids].sort((x, y) => x - y)).toEqual([...(seg.ids as number[])].sort((x, y) => x - y));
    expect((await fetch(served.http + '/api/nothing')).status).toBe(404);
    expect((await fetch(served.http + '/api/status', { method: 'POST' })).status).toBe(405);
    expect((await fetch(served.http + '/../../etc/passwd')).status).toBe(404);
  });
});

describe('server: previews and commands', () => {
  it('sends binary previews (header + 8-bit pixels) only to preview subscribers, registered or raw as asked', async () => {
    served = await startServed('synthetic:?width=640&height=480&fps=60&seed=13', (c) => (c.objects.mode = 'none'));
    const reg = client(served.ws);
    const raw = client(served.ws);
    const none = client(served.ws);
    await Promise.all([hello(reg), hello(raw), hello(none)]);
    reg.send({ type: 'subscribe', topics: ['preview'] });
    raw.send({ type: 'subscribe', topics: ['preview'], preview: 'raw' });
    none.send({ type: 'subscribe', topics: ['frame'] });
    await until(() => reg.binary.length >= 3 && raw.binary.length >= 3, 'previews');
    for (const [c, kind] of [[reg, 'registered'], [raw, 'raw']] as const) {
      for (const b of c.binary) {
        const len = b.readUInt32LE(0);
        const h = JSON.parse(b.subarray(4, 4 + len).toString()) as Record<string, number | string>;
        // 640×480 → factor 2 (docs/protocol.md): 320×240, the long side within 512.
        expect(h).toMatchObject({ type: 'preview', topic: 'preview', kind, width: 320, height: 240 });
        expect(b.length).toBe(4 + len + 320 * 240);
        expect(h.hi as number).toBeGreaterThan(h.lo as number);
      }
    }
    expect(none.binary).toEqual([]);
  });

  it('resetTemplate rebuilds the template: acknowledged, then a new segmentation', async () => {
    served = await startServed('synthetic:?width=128&height=128&fps=100&objects=10&seed=14');
    const c = client(served.ws);
    await hello(c);
    c.send({ type: 'subscribe', topics: ['segmentation', 'frame'] });
    await until(() => c.topic('frame').length > 5, 'frames after the template');
    const segs = c.topic('segmentation').length;
    c.send({ type: 'command', command: 'resetTemplate' });
    await until(() => c.of('ack').length === 1, 'ack');
    await until(() => c.topic('segmentation').length > segs, 'a new segmentation', 60_000);
  });
});
