/**
 * WebSocket clients that misbehave (issue 6; docs/reliability.md): hostile
 * and malformed messages, a 100 MB message, a subscribe flood, `from` far in
 * the past or the future, a client that never reads, 500 clients connecting
 * and leaving. The server must answer or close the one client, keep serving
 * the others without a gap, and hold no memory for the departed; once per
 * engine that loads (`ws`, `uws`). The cases
 * that could take the process down run against the real CLI (its memory is
 * measured from /proc); the others against an in-process served pipeline.
 * server.test.ts (test/stream) already covers: the basic malformed/unknown
 * messages, a message just over the limit, a client that stops reading
 * (dropped notices, then 1008), `from` older than the ring (gap).
 */
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import { type CliRun, startCli } from '../helpers/cli.js';
import type { Config } from '../../src/config/schema.js';
import { type Received, type Served, TestClient, describeEngines, expectConsecutive, startServed, tooBigCloseCode, until } from '../helpers/server.js';
import { killAll, rssOf, servingUrl } from './helpers.js';

let served: Served | null = null;
const clients: TestClient[] = [];
const runs: CliRun[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.socket.terminate();
  await served?.stop();
  served = null;
  await killAll(runs);
});

function client(url: string): TestClient {
  const c = new TestClient(url);
  clients.push(c);
  return c;
}

async function hello(c: TestClient): Promise<Received> {
  await until(() => c.of('hello').length > 0, 'hello');
  return c.of('hello')[0];
}

/** Sends `m` and waits for the next error message, which is returned. */
async function errorFor(c: TestClient, m: unknown): Promise<string> {
  const n = c.of('error').length;
  c.send(m);
  await until(() => c.of('error').length > n || c.closeCode !== null, `an error for ${JSON.stringify(m).slice(0, 80)}`);
  expect(c.closeCode, 'the connection stays open').toBeNull();
  const message = c.of('error')[n].message as string;
  expect(message.length, message).toBeLessThan(200);
  expect(message, 'one line').not.toMatch(/[\r\n\u2028\u2029]/);
  return message;
}

async function ping(c: TestClient): Promise<void> {
  const n = c.of('pong').length;
  c.send({ type: 'ping' });
  await until(() => c.of('pong').length > n, 'pong');
}

/** The process's own garbage collector (vitest runs without --expose-gc). */
function collector(): () => void {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}

describeEngines('websocket faults', (engine) => {
  const serve = (uri: string, edit?: (c: Config) => void): Promise<Served> => startServed(uri, edit, engine);

  describe('hostile clients against the running CLI', () => {
    function serveCli(): CliRun {
      const run = startCli(['run', '--source', 'synthetic:?width=64&height=64&fps=50&objects=5&seed=31', '--port', '0', '--template-frames', '5', '--ws-engine', engine], {
        timeoutMs: 120_000,
      });
      runs.push(run);
      return run;
    }

    it('deeply nested JSON and multi-line garbage get one-line errors; the process stays up', async () => {
      const run = serveCli();
      const base = await servingUrl(run);
      const c = client(base.replace('http', 'ws') + '/ws');
      await hello(c);
      const deep = '['.repeat(20_000) + ']'.repeat(20_000);
      expect(await errorFor(c, `{"type":${deep}}`)).toMatch(/^unknown message type \[…\]/);
      expect(await errorFor(c, `{"type":"subscribe","topics":[${deep}]}`)).toMatch(/^unknown topic \[…\]/);
      expect(await errorFor(c, `{"type":"command","command":{"a":${deep}}}`)).toMatch(/^unknown command \{…\}/);
      expect(await errorFor(c, 'a\nb\r\nc')).toMatch(/^malformed JSON/);
      expect(await errorFor(c, `{"type":"x\\u2028\\n${'y'.repeat(500)}"}`)).toMatch(/^unknown message type/);
      await ping(c);
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      expect(run.child.exitCode, run.output.stderr).toBeNull();
      run.child.kill('SIGTERM');
      expect((await run.done).code).toBe(0);
    });

    it('a 100 MB message (twice): that client is closed with 1009 (uws: cut, 1006), the server keeps none of it, another client loses nothing', async () => {
      const run = serveCli();
      const base = await servingUrl(run);
      const pid = run.child.pid as number;
      const url = base.replace('http', 'ws') + '/ws';
      const watcher = client(url);
      await hello(watcher);
      watcher.send({ type: 'subscribe', topics: ['frame'] });
      await until(() => watcher.topic('frame').length >= 5, 'the watcher to get frames');
      const before = rssOf(pid) as number;
      let peak = before;
      const sampler = setInterval(() => (peak = Math.max(peak, rssOf(pid) ?? 0)), 20);
      try {
        // Twice: 200 MB sent in all. The first raises the heap's high-water mark (read buffers churn
        // through); what the server kept would show as growth near the message size.
        for (let k = 0; k < 2; k++) {
          const big = client(url);
          await hello(big);
          big.socket.send(Buffer.alloc(100 * 1024 * 1024, 0x78), { binary: false });
          await big.closed;
          expect(big.closeCode).toBe(tooBigCloseCode(engine));
        }
        const seen = watcher.topic('frame').length;
        await until(() => watcher.topic('frame').length >= seen + 10, 'the watcher to go on getting frames');
      } finally {
        clearInterval(sampler);
      }
      const grown = peak - before;
      expect(grown, `the server's RSS grew by ${(grown / 2 ** 20).toFixed(1)} MiB`).toBeLessThan(64 * 2 ** 20);
      expect(expectConsecutive(watcher.topic('frame')).gaps).toBe(0);
      expect(watcher.closeCode).toBeNull();
      const fresh = client(url);
      expect((await hello(fresh)).type).toBe('hello');
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      run.child.kill('SIGTERM');
      expect((await run.done).code).toBe(0);
    });
  });

  describe('hostile clients against the running CLI: requests without reading', () => {
    /**
     * Replies (error, pong, subscribed, ack) used to be written without looking
     * at the client's buffer: a client that sent small messages and never read
     * had every reply queued in the server (+260 MiB RSS for 500,000 40-byte
     * messages) and was never closed. Now its requests past
     * server.clientBufferBytes go unanswered and count towards
     * server.clientMaxDropped, which closes it. The bound allows for the heap
     * the server grows while parsing 300,000 messages (measured 40–65 MiB); the
     * old behaviour was 4× above it.
     */
    it('a client that sends requests but never reads the replies: closed past its buffer limit, server memory bounded', async () => {
      const run = startCli(['run', '--source', 'synthetic:?width=64&height=64&fps=20&seed=37', '--port', '0', '--ws-engine', engine], { timeoutMs: 120_000 });
      runs.push(run);
      const base = await servingUrl(run);
      const pid = run.child.pid as number;
      const c = client(base.replace('http', 'ws') + '/ws');
      await c.opened;
      c.socket.pause();
      const rss0 = rssOf(pid) as number;
      const junk = `{"type":"${'x'.repeat(30)}"}`;
      // 300,000 requests of 40 bytes (12 MB), each answered by a ~130-byte error line.
      for (let round = 0; round < 6 && c.closeCode === null; round++) {
        for (let i = 0; i < 50_000; i++) c.socket.send(junk);
        await new Promise((r) => setTimeout(r, 300));
      }
      const grown = (rssOf(pid) as number) - rss0;
      expect(grown, `the server's RSS grew by ${(grown / 2 ** 20).toFixed(0)} MiB`).toBeLessThan(96 * 2 ** 20);
      c.socket.resume();
      await until(() => c.closeCode !== null, 'the server to close the client that does not read', 60_000);
      expect(c.closeCode).toBe(1008);
    });
  });

  describe('misbehaving clients against a served pipeline', () => {
    it('malformed, unknown and ill-typed messages: one short error line each, the connection stays open', async () => {
      served = await serve('synthetic:?width=64&height=64&fps=30&seed=32', (c) => (c.objects.mode = 'none'));
      const c = client(served.ws);
      await hello(c);
      const cases: [unknown, RegExp][] = [
        ['', /^malformed JSON/],
        ['null', /JSON object/],
        ['"subscribe"', /JSON object/],
        ['1e999', /JSON object/],
        ['{"type":"subscribe","type":"launch"}', /unknown message type "launch"/],
        [{ type: null }, /unknown message type null/],
        [{ type: 'x'.repeat(10_000) }, /^unknown message type "x{39}…/],
        [{ type: 'subscribe' }, /non-empty list/],
        [{ type: 'subscribe', topics: 'frame' }, /non-empty list/],
        [{ type: 'subscribe', topics: Array.from({ length: 100 }, () => 'frame') }, /non-empty list/],
        [{ type: 'subscribe', topics: [null] }, /unknown topic null/],
        [{ type: 'subscribe', topics: ['__proto__'] }, /unknown topic "__proto__"/],
        [{ type: 'subscribe', topics: ['frame'], from: '0' }, /"from" must be/],
        [{ type: 'unsubscribe', topics: ['weather'] }, /unknown topic "weather"/],
        [{ type: 'command' }, /unknown command undefined/],
      ];
      for (const [m, re] of cases) expect(await errorFor(c, m)).toMatch(re);
      await ping(c);
      expect(served.service.subscribers.count).toBe(1);
    });

    it('a subscribe flood (5000 subscribes with from=0): every one answered, then every frame once, in order, from 0; the others unaffected', async () => {
      const N = 300;
      served = await serve(`synthetic:?width=64&height=64&fps=100&frames=${N}&objects=5&seed=33`);
      const calm = client(served.ws);
      await hello(calm);
      calm.send({ type: 'subscribe', topics: ['frame'], from: 0 });
      const flood = client(served.ws);
      await hello(flood);
      await until(() => served!.counters.processed >= 50, '50 frames processed');
      const FLOOD = 5000;
      for (let i = 0; i < FLOOD; i++) flood.send({ type: 'subscribe', topics: ['frame', 'objects'], from: 0 });
      await until(() => flood.of('subscribed').length === FLOOD, 'every subscribe answered', 60_000);
      // Live: the source may drop a few frames; the frame topic has one message per processed frame.
      const { frames } = await served.done;
      expect(frames).toBeGreaterThan(N / 2);
      // After the last answer the client gets the ring from 0 and then the live messages: each exactly once.
      const lastAnswer = flood.messages.lastIndexOf(flood.of('subscribed')[FLOOD - 1]);
      await until(() => flood.messages.slice(lastAnswer).filter((m) => m.topic === 'frame').length === frames, 'all frames after the last subscribe', 60_000);
      const after = flood.messages.slice(lastAnswer + 1);
      expect(expectConsecutive(after.filter((m) => m.topic === 'frame'))).toEqual({ first: 0, last: frames - 1, gaps: 0 });
      expect(expectConsecutive(after.filter((m) => m.topic === 'objects')).gaps).toBe(0);
      expect(flood.of('error')).toEqual([]);
      await until(() => calm.topic('frame').length === frames, 'the calm client to have every frame');
      expect(expectConsecutive(calm.topic('frame'))).toEqual({ first: 0, last: frames - 1, gaps: 0 });
      await ping(flood);
    });

    it('from far in the future: told so and served from the next message; far in the past: a gap notice; out of range: an error', async () => {
      served = await serve('synthetic:?width=64&height=64&fps=200&frames=120&seed=34', (c) => {
        c.objects.mode = 'none';
        c.server.bufferMessages = 40;
      });
      const { frames } = await served.done;
      const c = client(served.ws);
      await hello(c);
      c.send({ type: 'subscribe', topics: ['frame'], from: 1e15 });
      await until(() => c.of('subscribed').length === 1, 'subscribed');
      expect(c.of('error')[0].message).toBe(`from 1000000000000000 is ahead of topic frame (next is ${frames}); delivering from ${frames}`);
      expect(c.of('subscribed')[0].next).toEqual({ frame: frames });
      // Far in the past: the ring holds the last 40 only, and says exactly what is gone.
      const d = client(served.ws);
      await hello(d);
      d.send({ type: 'subscribe', topics: ['frame'], from: 0 });
      await until(() => d.topic('frame').length === 40, 'the 40 frames the ring holds');
      expect(d.of('gap')).toEqual([{ type: 'gap', topic: 'frame', fromSeq: 0, toSeq: frames - 41 }]);
      expect(expectConsecutive(d.topic('frame'))).toEqual({ first: frames - 40, last: frames - 1, gaps: 0 });
      for (const from of [-1, 0.5, 2 ** 53, -0.0001, { frame: 2 ** 60 }, { frame: -3 }, { weather: 1 }, [0], true]) {
        expect(await errorFor(c, { type: 'subscribe', topics: ['frame'], from })).toMatch(/^"from" must be a topicSeq/);
      }
      expect(c.topic('frame')).toEqual([]);
    });

    it('a client that never reads anything, not even hello: closed past the hard limit, the others lose nothing', async () => {
      served = await serve('synthetic:?width=128&height=128&fps=200&objects=60&seed=35', (c) => {
        c.server.clientBufferBytes = 1024 * 1024;
        c.server.clientMaxDropped = 200;
      });
      const good = client(served.ws);
      await hello(good);
      good.send({ type: 'subscribe', topics: ['frame', 'objects', 'stats'] });
      const deaf = client(served.ws);
      // Stop reading as soon as the connection is up: the kernel buffers fill, then the server's.
      await deaf.opened;
      deaf.socket.pause();
      deaf.send({ type: 'subscribe', topics: ['frame', 'objects', 'heatmap'], from: 0 });
      await until(() => served!.service.subscribers.count === 1, 'the deaf client to be dropped', 90_000);
      deaf.socket.resume();
      await deaf.closed;
      expect(deaf.closeCode).toBe(1008);
      expect(deaf.closeReason).toMatch(/^too slow: \d+ messages dropped$/);
      const seen = good.topic('frame').length;
      await until(() => good.topic('frame').length >= seen + 20, 'the good client to go on');
      expect(expectConsecutive(good.topic('frame')).gaps).toBe(0);
      expect(expectConsecutive(good.topic('objects')).gaps).toBe(0);
      expect(good.of('dropped')).toEqual([]);
      expect(good.closeCode).toBeNull();
    });

    it('500 clients connecting and leaving (closing or vanishing) in a loop: no subscriber left, memory back, service intact', async () => {
      served = await serve('synthetic:?width=64&height=64&fps=100&seed=36', (c) => (c.objects.mode = 'none'));
      const gc = collector();
      const steady = client(served.ws);
      await hello(steady);
      steady.send({ type: 'subscribe', topics: ['frame'] });
      const subs = served.service.subscribers;
      const round = async (k: number): Promise<void> => {
        const batch = Array.from({ length: 50 }, () => client(served!.ws));
        await Promise.all(batch.map((c) => hello(c)));
        batch.forEach((c, i) => c.send({ type: 'subscribe', topics: i % 2 ? ['frame', 'stats'] : ['frame', 'preview'], from: 0 }));
        await until(() => batch.every((c) => c.topic('frame').length > 0), `round ${k}: every client to get a frame`);
        // Half say goodbye, half just vanish (a reset, no close frame).
        batch.forEach((c, i) => (i % 2 ? c.socket.close(1000, 'bye') : c.socket.terminate()));
        await Promise.all(batch.map((c) => c.closed));
        clients.splice(clients.length - batch.length, batch.length);
      };
      await round(0);
      await until(() => subs.count === 1, 'the first round to be gone');
      gc();
      const heap0 = process.memoryUsage().heapUsed;
      for (let k = 1; k < 10; k++) await round(k);
      await until(() => subs.count === 1, 'every churned client to be gone', 30_000);
      gc();
      const grown = process.memoryUsage().heapUsed - heap0;
      // The rings grow with the feed (a few hundred bytes per message); 500 clients' worth of state would be far more.
      expect(grown, `heap grew by ${(grown / 2 ** 20).toFixed(1)} MiB over 450 clients`).toBeLessThan(24 * 2 ** 20);
      const seen = steady.topic('frame').length;
      await until(() => steady.topic('frame').length >= seen + 20, 'the steady client to go on');
      expect(expectConsecutive(steady.topic('frame')).gaps).toBe(0);
      expect(steady.of('dropped')).toEqual([]);
      const late = client(served.ws);
      await hello(late);
      late.send({ type: 'subscribe', topics: ['frame'] });
      await until(() => late.topic('frame').length >= 5, 'a new client to be served');
      expect(subs.count).toBe(2);
      await Promise.all([steady.close(), late.close()]);
      await until(() => subs.count === 0, 'the subscriber count to return to 0');
    });
  });
});
