/**
 * `scopestream replay MOVIE --serve` serves the replay as `run` serves a live
 * source, and keeps serving after its end until SIGINT; `subscribe
 * --from-start --until-end` logs it whole, whenever it connects: every frame
 * line of the record, with the same content, then `end`. Once per engine
 * that loads.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { SyntheticMicroscope, parseSyntheticUri } from '../../src/ingest/synthetic.js';
import { TiffStackWriter } from '../../src/ingest/tiffWriter.js';
import { readRecord, startCli, waitFor } from '../helpers/cli.js';
import { tempDir } from '../helpers/imageWriters.js';
import { describeEngines } from '../helpers/server.js';

const dir = tempDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describeEngines('replay --serve', (engine) => {
  it('serves the replay; a subscriber started with it receives every frame line of the record', async () => {
    const movie = path.join(dir, `${engine}-movie.tif`);
    const N = 150;
    const sim = new SyntheticMicroscope(parseSyntheticUri('synthetic:?width=96&height=96&objects=8&seed=61'));
    const w = new TiffStackWriter(movie, 96, 96, 'uint16');
    for (let i = 0; i < N; i++) w.write(sim.nextFrame().data);
    w.close();
    const record = path.join(dir, `${engine}-replay.ndjson`);
    const out = path.join(dir, `${engine}-sub.ndjson`);
    const server = startCli(['replay', movie, '--serve', '--port', '0', '--speed', 'realtime', '--record', record, '--ws-engine', engine], { timeoutMs: 90_000 });
    await waitFor(() => /serving http:\/\/127\.0\.0\.1:\d+\//.test(server.output.stderr), server, 'the serving line');
    const port = /serving http:\/\/127\.0\.0\.1:(\d+)\//.exec(server.output.stderr)![1];
    const sub = startCli(['subscribe', `ws://127.0.0.1:${port}/ws`, '--topics', 'frame', '--out', out, '--from-start', '--until-end'], { timeoutMs: 90_000 });
    // The subscriber exits on `end`, which it gets after every frame it asked for.
    const s = await sub.done;
    expect(s.code, s.stderr).toBe(0);
    // The replay went on serving after the movie's end, until told to stop.
    await waitFor(() => server.output.stderr.includes('replay finished; still serving'), server, 'the replay to finish');
    server.child.kill('SIGINT');
    const r = await server.done;
    expect(r.code, r.stderr).toBe(0);
    const rec = readRecord(record).filter((l) => l.type === 'frame');
    expect(rec.length).toBe(N);
    // --from-start: whenever it connected, it got every frame the server published, in order.
    const got = fs.readFileSync(out, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(got.length).toBe(N);
    for (let i = 0; i < got.length; i++) {
      const { topic, topicSeq, ...line } = got[i];
      expect(topic).toBe('frame');
      expect(topicSeq).toBe(i);
      expect(line).toEqual(rec[i]);
    }
  });
});
