/**
 * What a WebSocket client may send (docs/protocol.md, client → server), as a
 * pure parser: any text gives either a valid message or a one-line error,
 * never an exception. Size limits are the engine's (it refuses larger frames
 * before they reach this).
 */
export const WS_TOPICS = ['frame', 'objects', 'segmentation', 'stats', 'preview', 'heatmap', 'event'] as const;
export type WsTopic = (typeof WS_TOPICS)[number];

export const isWsTopic = (t: unknown): t is WsTopic => typeof t === 'string' && (WS_TOPICS as readonly string[]).includes(t);

export type ClientMessage =
  | { type: 'subscribe'; topics: WsTopic[]; from: number | Partial<Record<WsTopic, number>> | null; preview: 'registered' | 'raw' | null }
  | { type: 'unsubscribe'; topics: WsTopic[] }
  | { type: 'command'; command: 'resetTemplate' }
  | { type: 'ping' };

export type Parsed = { ok: true; message: ClientMessage } | { ok: false; error: string };

const fail = (error: string): Parsed => ({ ok: false, error });
const validSeq = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function topicList(topics: unknown): WsTopic[] | string {
  if (!Array.isArray(topics) || topics.length === 0 || topics.length > WS_TOPICS.length) {
    return `"topics" must be a non-empty list of topics (${WS_TOPICS.join(', ')})`;
  }
  const bad = topics.find((t) => !isWsTopic(t));
  if (bad !== undefined) return `unknown topic ${short(bad)}; topics are ${WS_TOPICS.join(', ')}`;
  return [...new Set(topics as WsTopic[])];
}

/**
 * A value quoted for an error line, cut short: a client's garbage must not
 * make a huge message, nor a deeply nested one overflow the stack (JSON.parse
 * takes nesting that JSON.stringify cannot give back).
 */
function short(v: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = Array.isArray(v) ? '[…]' : '{…}';
  }
  const chars = Array.from(s);
  return oneLine(chars.length > 40 ? `${chars.slice(0, 40).join('')}…` : s);
}

/** Line breaks (and other control characters) from a client's text become spaces: an error is one line. */
const oneLine = (s: string): string => s.replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, ' ');

export function parseClientMessage(text: string): Parsed {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch (e) {
    return fail(`malformed JSON: ${oneLine(Array.from((e as Error).message).slice(0, 80).join(''))}`);
  }
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return fail('a message must be a JSON object with a "type"');
  const msg = m as Record<string, unknown>;
  switch (msg.type) {
    case 'subscribe': {
      const topics = topicList(msg.topics);
      if (typeof topics === 'string') return fail(topics);
      const from = msg.from;
      let parsedFrom: number | Partial<Record<WsTopic, number>> | null = null;
      if (validSeq(from)) parsedFrom = from;
      else if (typeof from === 'object' && from !== null && !Array.isArray(from) && Object.entries(from).every(([t, v]) => isWsTopic(t) && validSeq(v))) {
        parsedFrom = from as Partial<Record<WsTopic, number>>;
      } else if (from !== undefined && from !== null) return fail('"from" must be a topicSeq (an integer ≥ 0) or an object {topic: topicSeq}');
      const preview = msg.preview;
      if (preview !== undefined && preview !== 'registered' && preview !== 'raw') return fail(`"preview" must be "registered" or "raw", got ${short(preview)}`);
      return { ok: true, message: { type: 'subscribe', topics, from: parsedFrom, preview: preview ?? null } };
    }
    case 'unsubscribe': {
      const topics = topicList(msg.topics);
      if (typeof topics === 'string') return fail(topics);
      return { ok: true, message: { type: 'unsubscribe', topics } };
    }
    case 'command':
      if (msg.command === 'resetTemplate') return { ok: true, message: { type: 'command', command: 'resetTemplate' } };
      return fail(`unknown command ${short(msg.command)}; known: resetTemplate`);
    case 'ping':
      return { ok: true, message: { type: 'ping' } };
    default:
      return fail(`unknown message type ${short(msg.type)}; expected subscribe, unsubscribe, command or ping`);
  }
}
