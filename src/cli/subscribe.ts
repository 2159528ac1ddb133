import { createWriteStream, type WriteStream } from 'node:fs';
import WebSocket from 'ws';
import { InputError } from '../errors.js';
import { WS_TOPICS } from '../stream/clientMessages.js';

/**
 * `scopestream subscribe WS_URL`: a client of protocol v1 (docs/protocol.md)
 * that logs what it receives — NDJSON as received, or CSV with one row per
 * object per frame — and loses nothing across reconnects while the server's
 * rings still hold it: it resumes from the last topicSeq it saw, and reports
 * on stderr any gap it could not fill. SIGINT flushes and exits 0.
 */
export interface SubscribeOptions {
  url: string;
  topics: string[];
  format: 'ndjson' | 'csv';
  out: string | null;
  token: string | null;
  /** Exit once the server says the stream ended (a replay), instead of waiting for a restart. */
  untilEnd: boolean;
  /** Start with everything the server still holds, not with the next message. */
  fromStart: boolean;
}

export function parseSubscribeOptions(url: string | undefined, v: Record<string, unknown>): SubscribeOptions {
  if (url === undefined) throw new InputError('subscribe: expected the server WebSocket URL, e.g. ws://127.0.0.1:8080/ws');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InputError(`subscribe: ${url} is not a URL; expected e.g. ws://127.0.0.1:8080/ws`);
  }
  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') throw new InputError(`subscribe: ${url}: expected a ws:// or wss:// URL`);
  const format = (v.format as string | undefined) ?? 'ndjson';
  if (format !== 'ndjson' && format !== 'csv') throw new InputError(`--format ${format}: expected ndjson or csv`);
  const topics = ((v.topics as string | undefined) ?? (format === 'csv' ? 'objects' : 'frame,objects')).split(',').map((t) => t.trim()).filter((t) => t !== '');
  const bad = topics.find((t) => !(WS_TOPICS as readonly string[]).includes(t) || t === 'preview');
  if (bad !== undefined || topics.length === 0) {
    throw new InputError(`--topics ${String(v.topics)}: ${bad ?? '(none)'} is not a topic; expected a list of ${WS_TOPICS.filter((t) => t !== 'preview').join(', ')}`);
  }
  if (format === 'csv' && !topics.includes('objects')) throw new InputError('--format csv writes one row per object per frame: --topics must include objects');
  return { url, topics, format, out: (v.out as string | undefined) ?? null, token: (v.token as string | undefined) ?? null, untilEnd: v['until-end'] === true, fromStart: v['from-start'] === true };
}

/** Writes objects messages as CSV rows: seq, t, id, then the feature columns of the first message. */
class CsvWriter {
  private columns: string[] | null = null;
  private readonly times = new Map<number, number | null>();
  private warned = new Set<string>();

  constructor(
    private readonly write: (s: string) => void,
    private readonly warn: (s: string) => void,
  ) {}

  frame(m: { seq: number; t: number | null }): void {
    this.times.set(m.seq, m.t);
    // Objects lines follow their frame line; older times are not needed again.
    if (this.times.size > 1024) this.times.delete(this.times.keys().next().value as number);
  }

  objects(m: { seq: number; ids: number[]; features: Record<string, (number | null)[]> }): void {
    if (this.columns === null) {
      this.columns = Object.keys(m.features);
      this.write(['seq', 't', 'id', ...this.columns].join(',') + '\n');
    }
    for (const name of Object.keys(m.features)) {
      if (!this.columns.includes(name) && !this.warned.has(name)) {
        this.warned.add(name);
        this.warn(`feature ${name} appeared after the header was written; it is left out of the CSV`);
      }
    }
    const t = this.times.get(m.seq);
    const cell = (v: number | null | undefined): string => (v === null || v === undefined ? '' : String(v));
    let rows = '';
    for (let i = 0; i < m.ids.length; i++) {
      rows += `${m.seq},${cell(t)},${m.ids[i]}`;
      for (const c of this.columns) rows += ',' + cell(m.features[c]?.[i]);
      rows += '\n';
    }
    this.write(rows);
  }
}

export async function runSubscribe(o: SubscribeOptions): Promise<number> {
  const out: WriteStream | NodeJS.WriteStream = o.out === null ? process.stdout : createWriteStream(o.out, { flags: 'w' });
  const failed = await new Promise<Error | null>((resolve) => {
    out.once('error', (e) => resolve(e));
    if (o.out === null) resolve(null);
    else (out as WriteStream).once('ready', () => resolve(null));
  });
  if (failed) throw new InputError(`--out ${o.out}: cannot be written (${(failed as NodeJS.ErrnoException).code ?? failed.message})`);
  const write = (s: string): void => void out.write(s);
  const note = (s: string): void => void process.stderr.write(`scopestream subscribe: ${s}\n`);
  const csv = o.format === 'csv' ? new CsvWriter(write, note) : null;
  // CSV rows need each frame's time, which only frame lines carry.
  const topics = csv && !o.topics.includes('frame') ? [...o.topics, 'frame'] : o.topics;
  const last = new Map<string, number>();
  let session: string | null = null;
  let ws: WebSocket | null = null;
  let delay = 250;
  let stopping = false;
  let connectedOnce = false;

  return await new Promise<number>((resolve) => {
    const finish = (code: number): void => {
      if (stopping) return;
      stopping = true;
      ws?.close(1000, 'subscriber exiting');
      if (out === process.stdout) resolve(code);
      else out.end(() => resolve(code));
    };
    process.once('SIGINT', () => finish(0));
    process.once('SIGTERM', () => finish(0));

    const connect = (): void => {
      if (stopping) return;
      const headers: Record<string, string> = o.token ? { Authorization: `Bearer ${o.token}` } : {};
      const sock = new WebSocket(o.url, { headers, maxPayload: 256 * 2 ** 20 });
      ws = sock;
      sock.on('unexpected-response', (_req, res) => {
        note(`${o.url}: the server answered ${res.statusCode}${res.statusCode === 401 ? ' (a token is required: --token)' : ''}`);
        if (res.statusCode === 401 || res.statusCode === 403 || res.statusCode === 404) finish(2);
        sock.terminate();
      });
      sock.on('open', () => {
        delay = 250;
      });
      sock.on('message', (data, binary) => {
        if (binary) return;
        const text = data.toString();
        const m = JSON.parse(text) as Record<string, unknown>;
        switch (m.type) {
          case 'hello': {
            const same = session === m.session;
            if (connectedOnce && !same && last.size > 0) {
              note(`the server restarted (new session): its topicSeq numbering starts afresh; what it published before this connection may be missing`);
              last.clear();
            }
            // On a resume every topic asks from where it stopped, and a topic not seen yet from the
            // start of the ring (its messages during the outage are as much missed as any other's).
            const from = same && connectedOnce ? Object.fromEntries(topics.map((t) => [t, (last.get(t) ?? -1) + 1])) : connectedOnce || o.fromStart ? 0 : undefined;
            session = m.session as string;
            connectedOnce = true;
            sock.send(JSON.stringify({ type: 'subscribe', topics, ...(from === undefined ? {} : { from }) }));
            return;
          }
          case 'gap':
            note(`gap: topic ${String(m.topic)} messages ${String(m.fromSeq)}…${String(m.toSeq)} were no longer held by the server`);
            return;
          case 'dropped':
            note(`dropped: ${String(m.count)} messages of topic ${String(m.topic)} from ${String(m.fromSeq)} (this subscriber fell behind)`);
            return;
          case 'error':
            note(`server: ${String(m.message)}`);
            return;
          case 'end':
            if (o.untilEnd) finish(0);
            return;
        }
        const topic = m.topic as string | undefined;
        if (topic === undefined) return;
        const seq = m.topicSeq as number;
        const prev = last.get(topic);
        if (prev !== undefined && seq !== prev + 1 && seq > prev) note(`gap: topic ${topic} jumped from ${prev} to ${seq}`);
        if (prev !== undefined && seq <= prev) return; // already logged (a resume overlaps)
        last.set(topic, seq);
        if (csv) {
          if (topic === 'frame') csv.frame(m as { seq: number; t: number | null });
          else if (topic === 'objects') csv.objects(m as { seq: number; ids: number[]; features: Record<string, (number | null)[]> });
        } else write(text + '\n');
      });
      sock.on('error', () => undefined);
      sock.on('close', (code, reason) => {
        if (stopping) return;
        note(`disconnected (${code}${reason.length ? ` ${reason.toString()}` : ''}); reconnecting in ${(delay / 1000).toFixed(2)} s`);
        setTimeout(connect, delay);
        delay = Math.min(5000, delay * 2);
      });
    };
    connect();
  });
}
