/**
 * `scopestream subscribe` as a user runs it (the built CLI, a child process)
 * against a served pipeline in this process (each engine that loads): NDJSON across a restart of the
 * server's listener with no gap, CSV rows per object per frame, the token, and
 * SIGINT flushing the output and exiting 0.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { readNdjsonSoFar, readRecord, startCli } from '../helpers/cli.js';
import type { Config } from '../../src/config/schema.js';
import { type Served, describeEngines, freePortOutsideEphemeral, startServed, until } from '../helpers/server.js';

let dir: string;
let served: Served | null = null;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'scopestream-sub-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
afterEach(async () => {
  await served?.stop();
  served = null;
});

describeEngines('scopestream subscribe', (engine) => {
  const serve = (uri: string, edit?: (c: Config) => void): Promise<Served> => startServed(uri, edit, engine);

  it('logs NDJSON and loses nothing across a restart of the server within the buffer; SIGINT exits 0', async () => {
    // A fixed port outside the ephemeral range: the server listens on it again after the restart.
    const fixed = await freePortOutsideEphemeral();
    served = await serve('synthetic:?width=96&height=96&fps=60&objects=8&seed=21', (c) => (c.server.port = fixed));
    const out = path.join(dir, `${engine}-log.ndjson`);
    const sub = startCli(['subscribe', served.ws, '--topics', 'frame,objects', '--out', out], { timeoutMs: 90_000 });
    await until(() => readNdjsonSoFar(out).filter((m) => m.topic === 'frame').length >= 40, 'the subscriber to log 40 frames', 60_000);
    const port = served.service.server.port;
    await served.service.server.stopListening();
    // The feed goes on while the server is away; the ring keeps what the subscriber misses.
    const during = served.counters.processed;
    await until(() => served!.counters.processed > during + 30, '30 frames while the server is away');
    await served.service.server.listen(port);
    await until(() => sub.output.stderr.includes('disconnected'), 'the subscriber to notice');
    const target = served.counters.processed + 30;
    await until(() => readNdjsonSoFar(out).filter((m) => m.topic === 'frame').length >= target, 'the subscriber to catch up', 60_000);
    sub.child.kill('SIGINT');
    const r = await sub.done;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/gap/);
    // Once the subscriber has exited, the log must be whole: every line JSON, the last one ended.
    const log = readRecord(out);
    for (const topic of ['frame', 'objects']) {
      const seqs = log.filter((m) => m.topic === topic).map((m) => m.topicSeq as number);
      expect(seqs.length).toBeGreaterThan(40);
      for (let i = 1; i < seqs.length; i++) expect(seqs[i], `${topic} after ${seqs[i - 1]}`).toBe(seqs[i - 1] + 1);
    }
  });

  it('writes CSV: a header, then one row per object per frame with seq, t and id', async () => {
    served = await serve('synthetic:?width=96&height=96&fps=60&objects=8&seed=22', (c) => (c.server.token = 'tok'));
    const out = path.join(dir, `${engine}-objects.csv`);
    const sub = startCli(['subscribe', served.ws, '--format', 'csv', '--out', out, '--token', 'tok'], { timeoutMs: 90_000 });
    const rows = (): string[] => (fs.existsSync(out) ? fs.readFileSync(out, 'utf8').split('\n').filter((l) => l !== '') : []);
    await until(() => rows().length > 100, 'CSV rows', 60_000);
    sub.child.kill('SIGINT');
    const r = await sub.done;
    expect(r.code, r.stderr).toBe(0);
    expect(fs.readFileSync(out, 'utf8').endsWith('\n'), 'the CSV ends with a whole row').toBe(true);
    const [header, ...body] = rows();
    const cols = header.split(',');
    expect(cols.slice(0, 3)).toEqual(['seq', 't', 'id']);
    expect(cols).toContain('Intensity_MeanIntensity');
    expect(cols).toContain('Trace_DeltaFOverF');
    const bySeq = new Map<string, string[][]>();
    for (const line of body) {
      const cells = line.split(',');
      expect(cells.length).toBe(cols.length);
      expect(Number.isFinite(Number(cells[1])) && cells[1] !== '').toBe(true);
      bySeq.set(cells[0], [...(bySeq.get(cells[0]) ?? []), cells]);
    }
    // Every complete frame has the same objects, each once.
    const counts = new Set([...bySeq.values()].slice(0, -1).map((r) => r.length));
    expect(counts.size).toBe(1);
    const mean = cols.indexOf('Intensity_MeanIntensity');
    for (const line of body) expect(Number(line.split(',')[mean]), line).toBeGreaterThan(0);
  });

  it('a wrong token is a clear one-line error, exit 2', async () => {
    served = await serve('synthetic:?width=64&height=64&fps=30&seed=23', (c) => {
      c.server.token = 'right';
      c.objects.mode = 'none';
    });
    const r = await startCli(['subscribe', served.ws, '--token', 'wrong', '--out', path.join(dir, `${engine}-x.ndjson`)], { timeoutMs: 30_000 }).done;
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/answered 401 \(a token is required: --token\)/);
  });
});
