import { connect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';

/**
 * The subscriber fleet of `npm run bench:stream` and the soak, run as its own
 * process so that the clients' reading is not counted in the server's event
 * loop. Like wrk for HTTP, the clients are as light as a client can be: a
 * WebSocket handshake, then a frame parser that reads each message's header
 * and the first bytes of its payload (topic and topicSeq) and skips the rest
 * without copying or parsing it. Every socket reads into one shared buffer
 * (net's `onread`): a 'data' event would cost a zero-filled 64 KiB buffer
 * and a copy per read, as much again as the kernel's own copy (perf, 100
 * clients taking 0.9 GB/s). Per client and topic they count messages,
 * topicSeq gaps and `dropped` notices. One JSON object goes to stdout once
 * every client has seen `until` messages of the first topic, or on SIGTERM.
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
/** Bytes of a payload's start kept to read its topic and topicSeq (or to parse a control message whole). */
const HEAD = 96;
const CONTROL_MAX = 1 << 20;

function report(): void {
  const out = counts.map((byTopic) =>
    Object.fromEntries([...byTopic].map(([t, c]) => [t, { received: c.received, gaps: c.gaps, dropped: c.dropped, stamps: keepStamps ? c.stamps : undefined }])),
  );
  const cpu = process.cpuUsage();
  process.stdout.write(JSON.stringify({ clients: out, cpuSeconds: (cpu.user + cpu.system) / 1e6 }) + '\n', () => process.exit(0));
}

/** Reads `{"topic":"T","topicSeq":N,…` from the start of a message; null for other messages. */
function topicAndSeq(head: Buffer): { topic: string; seq: number } | null {
  const prefix = '{"topic":"';
  if (head.toString('latin1', 0, prefix.length) !== prefix) return null;
  const end = head.indexOf(34, prefix.length);
  const topic = head.toString('latin1', prefix.length, end);
  const at = head.indexOf('"topicSeq":', end) + 11;
  let seq = 0;
  for (let k = at; head[k] >= 48 && head[k] <= 57; k++) seq = seq * 10 + head[k] - 48;
  return { topic, seq };
}

/** A connected client's reader: called with each chunk read (valid only during the call). */
function client(i: number, socket: Socket): (chunk: Buffer) => void {
  const byTopic = new Map<string, Counts>(topics.map((t) => [t, { received: 0, gaps: 0, dropped: 0, last: -1, stamps: [] }]));
  counts[i] = byTopic;
  let done = false;
  // Frame parser state: header bytes gathered, payload bytes left to skip, the payload's start.
  const header = Buffer.alloc(10);
  let headerLen = 0;
  let left = 0;
  let head: Buffer[] = [];
  let headLen = 0;
  let want = 0;
  let opcode = 0;

  const onMessage = (start: Buffer): void => {
    // The server's heartbeat: a client that does not answer pings is cut after 30–60 s.
    if (opcode === 9) return sendFrame(socket, 0x8a, Buffer.from(start));
    // Text messages only: previews (binary), pongs and the close frame are not counted.
    if (opcode !== 1 || start.length === 0) return;
    const ts = topicAndSeq(start);
    if (ts) {
      const c = byTopic.get(ts.topic);
      if (c === undefined) return;
      if (c.last >= 0 && ts.seq !== c.last + 1) c.gaps++;
      c.last = ts.seq;
      c.received++;
      if (keepStamps) c.stamps.push(Math.round(performance.now() - t0));
      if (!done && ts.topic === topics[0] && ts.seq + 1 >= until) {
        done = true;
        if (++finished === n) report();
      }
      return;
    }
    let m: { type: string; topic?: string; count?: number };
    try {
      m = JSON.parse(start.toString('utf8')) as typeof m;
    } catch {
      return; // not JSON text: not ours to count
    }
    if (m.type === 'hello') sendFrame(socket, 0x81, Buffer.from(JSON.stringify({ type: 'subscribe', topics, from: 0 })));
    else if (m.type === 'dropped' && m.topic) byTopic.get(m.topic)!.dropped += m.count ?? 0;
  };

  const feed = (chunk: Buffer): void => {
    let off = 0;
    while (off < chunk.length) {
      if (left === 0 && want === 0) {
        // Gather the header: 2 bytes, then 0, 2 or 8 bytes of length (server frames are unmasked).
        const take = Math.min(10 - headerLen, chunk.length - off);
        chunk.copy(header, headerLen, off, off + take);
        const have = headerLen + take;
        const b1 = have >= 2 ? header[1] & 0x7f : -1;
        const need = b1 < 0 ? 2 : b1 < 126 ? 2 : b1 === 126 ? 4 : 10;
        if (have < need) {
          headerLen = have;
          off += take;
          continue;
        }
        off += need - headerLen;
        headerLen = 0;
        opcode = header[0] & 0x0f;
        const len = b1 < 126 ? b1 : b1 === 126 ? header.readUInt16BE(2) : Number(header.readBigUInt64BE(2));
        // First the start of the payload; the rest is read only if it is not a topic message.
        want = Math.min(len, HEAD);
        left = len - want;
        head = [];
        headLen = 0;
        if (want === 0 && left === 0) onMessage(Buffer.alloc(0));
        continue;
      }
      if (want > 0) {
        const take = Math.min(want, chunk.length - off);
        // A copy: the chunk is the shared read buffer, overwritten by the next read.
        head.push(Buffer.from(chunk.subarray(off, off + take)));
        headLen += take;
        want -= take;
        off += take;
        if (want === 0) {
          const start = head.length === 1 ? head[0] : Buffer.concat(head, headLen);
          if (left > 0 && topicAndSeq(start) === null && left <= CONTROL_MAX) {
            // A control message (hello with its meta): read it whole.
            head = [start];
            want = left;
            left = 0;
            continue;
          }
          onMessage(start);
          head = [];
        }
        continue;
      }
      const skip = Math.min(left, chunk.length - off);
      left -= skip;
      off += skip;
    }
  };
  return feed;
}

let closedCount = 0;

/** A masked frame (clients must mask, RFC 6455 §5.3): first byte FIN + opcode (0x81 text, 0x8a pong). */
function sendFrame(socket: Socket, first: number, payload: Buffer): void {
  const mask = randomBytes(4);
  const len = payload.length;
  const head = len < 126 ? Buffer.from([first, 0x80 | len]) : Buffer.from([first, 0x80 | 126, len >> 8, len & 0xff]);
  for (let k = 0; k < len; k++) payload[k] ^= mask[k & 3];
  socket.write(Buffer.concat([head, mask, payload]));
}

const target = new URL(url);
/** The one read buffer of every socket: reads are handled one at a time, and nothing keeps it. */
const readBuffer = Buffer.allocUnsafe(1 << 16);
for (let i = 0; i < n; i++) {
  let reader: ((chunk: Buffer) => void) | null = null;
  let response = '';
  const socket: Socket = connect({
    host: target.hostname,
    port: Number(target.port),
    onread: {
      buffer: readBuffer,
      callback: (nread: number, buf: Uint8Array): boolean => {
        const chunk = Buffer.from(buf.buffer, buf.byteOffset, nread);
        if (reader !== null) {
          reader(chunk);
          return true;
        }
        // The handshake's answer, then (in the same read, perhaps) the first frames.
        response += chunk.toString('latin1');
        const end = response.indexOf('\r\n\r\n');
        if (end < 0) return true;
        if (!/^HTTP\/1\.1 101 /.test(response)) {
          process.stderr.write(`client ${i}: upgrade refused: ${response.split('\r\n')[0]}\n`);
          socket.destroy();
          return false;
        }
        const rest = Buffer.from(response.slice(end + 4), 'latin1');
        reader = client(i, socket);
        if (++opened === n) process.stderr.write(`clients: ${n} connected\n`);
        if (rest.length > 0) reader(rest);
        return true;
      },
    },
  });
  socket.setNoDelay(true);
  socket.on('connect', () => {
    const key = randomBytes(16).toString('base64');
    socket.write(
      `GET ${target.pathname}${target.search} HTTP/1.1\r\nHost: ${target.host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
        `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\n\r\n`,
    );
  });
  socket.on('error', (e) => process.stderr.write(`client ${i}: ${e.message}\n`));
  // A fleet whose connections are all gone reports what it has rather than exit silently.
  socket.on('close', () => {
    if (++closedCount === n) report();
  });
}
process.on('SIGTERM', report);
