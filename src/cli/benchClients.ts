import WebSocket from 'ws';

/**
 * The subscriber fleet of `npm run bench:stream`, run as its own process so
 * that the clients' reading is not counted in the server's event loop:
 * N WebSocket clients subscribe to some topics and count, per client and
 * topic, the messages received, the topicSeq gaps and the `dropped` notices.
 * They read the topicSeq from the start of each message without parsing the
 * whole JSON (a logger that keeps up stores lines; it need not parse them).
 * Reports one JSON object on stdout once every client has seen `until`
 * messages of the first topic, or when told to stop (SIGTERM).
 */
interface Counts {
  received: number;
  gaps: number;
  dropped: number;
  last: number;
  /** Receipt times of messages (ms since the start), for per-second rates. */
  stamps: number[];
}

const [url, nArg, topicsArg, untilArg, stampsArg] = process.argv.slice(2);
const n = Number(nArg);
const topics = topicsArg.split(',');
const until = Number(untilArg);
const keepStamps = stampsArg === 'stamps';
const t0 = performance.now();
const counts: Map<string, Counts>[] = [];
let opened = 0;
let finished = 0;

const SEQ = Buffer.from('"topicSeq":');
const TOPIC = Buffer.from('{"topic":"');

function report(): void {
  const out = counts.map((byTopic) => Object.fromEntries([...byTopic].map(([t, c]) => [t, { received: c.received, gaps: c.gaps, dropped: c.dropped, stamps: keepStamps ? c.stamps : undefined }])));
  process.stdout.write(JSON.stringify({ clients: out }) + '\n', () => process.exit(0));
}

for (let i = 0; i < n; i++) {
  const byTopic = new Map<string, Counts>(topics.map((t) => [t, { received: 0, gaps: 0, dropped: 0, last: -1, stamps: [] }]));
  counts.push(byTopic);
  const ws = new WebSocket(url, { perMessageDeflate: false });
  let done = false;
  ws.on('open', () => {
    if (++opened === n) process.stderr.write(`clients: ${n} connected\n`);
  });
  ws.on('message', (data: Buffer, binary) => {
    if (binary) return;
    if (data.subarray(0, TOPIC.length).equals(TOPIC)) {
      const end = data.indexOf(34, TOPIC.length);
      const topic = data.toString('latin1', TOPIC.length, end);
      const c = byTopic.get(topic);
      if (c === undefined) return;
      const at = data.indexOf(SEQ, end) + SEQ.length;
      let seq = 0;
      for (let k = at; data[k] >= 48 && data[k] <= 57; k++) seq = seq * 10 + data[k] - 48;
      if (c.last >= 0 && seq !== c.last + 1) c.gaps++;
      c.last = seq;
      c.received++;
      if (keepStamps) c.stamps.push(Math.round(performance.now() - t0));
      if (!done && topic === topics[0] && seq + 1 >= until) {
        done = true;
        if (++finished === n) report();
      }
      return;
    }
    const m = JSON.parse(data.toString()) as { type: string; topic?: string; count?: number };
    if (m.type === 'hello') ws.send(JSON.stringify({ type: 'subscribe', topics, from: 0 }));
    else if (m.type === 'dropped' && m.topic) byTopic.get(m.topic)!.dropped += m.count ?? 0;
  });
  ws.on('error', (e) => process.stderr.write(`client ${i}: ${e.message}\n`));
}
process.on('SIGTERM', report);
