/**
 * parseClientMessage (src/stream/clientMessages.ts) under fast-check: any
 * text and any JSON value give either a valid message or a one-line error
 * under 200 characters, and never an exception (an exception here would be
 * thrown from the WebSocket engine's message handler and take the server
 * down). Valid messages are accepted and come back normalised.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Parsed, WS_TOPICS, parseClientMessage } from '../../src/stream/clientMessages.js';

/** The contract of every answer. */
function expectWellFormed(p: Parsed, input: string): void {
  expect(typeof p).toBe('object');
  if (p.ok) {
    expect(['subscribe', 'unsubscribe', 'command', 'ping']).toContain(p.message.type);
    return;
  }
  expect(Object.keys(p).sort()).toEqual(['error', 'ok']);
  expect(typeof p.error, input.slice(0, 80)).toBe('string');
  expect(p.error.length, p.error).toBeGreaterThan(0);
  expect(p.error.length, p.error).toBeLessThan(200);
  expect(p.error, 'one line').not.toMatch(/[\r\n\u2028\u2029]/);
}

function parse(text: string): Parsed {
  let p: Parsed | undefined;
  expect(() => (p = parseClientMessage(text)), `threw on ${JSON.stringify(text.slice(0, 80))}`).not.toThrow();
  expectWellFormed(p!, text);
  return p!;
}

/** Nested arrays/objects `depth` deep around `leaf`. */
function nested(depth: number, kind: 'array' | 'object', leaf = '1'): string {
  return kind === 'array' ? '['.repeat(depth) + leaf + ']'.repeat(depth) : '{"a":'.repeat(depth) + leaf + '}'.repeat(depth);
}

const topic = fc.constantFrom(...WS_TOPICS);
const anyTopicLike = fc.oneof(topic, fc.string(), fc.jsonValue({ maxDepth: 2 }));

/** Messages shaped like the protocol's, with each field sometimes wrong. */
const shaped = fc.record(
  {
    type: fc.oneof(fc.constantFrom('subscribe', 'unsubscribe', 'command', 'ping', 'Subscribe', ''), fc.jsonValue({ maxDepth: 2 })),
    topics: fc.oneof(fc.array(topic, { maxLength: 9 }), fc.array(anyTopicLike, { maxLength: 9 }), fc.jsonValue({ maxDepth: 3 })),
    from: fc.oneof(
      fc.integer({ min: -5, max: 1e6 }),
      fc.constantFrom(2 ** 53 - 1, 2 ** 53, 1e300, -0, 0.5, Number.MAX_VALUE),
      fc.dictionary(fc.oneof(topic, fc.string()), fc.oneof(fc.nat(), fc.double(), fc.jsonValue({ maxDepth: 1 }))),
      fc.jsonValue({ maxDepth: 3 }),
    ),
    preview: fc.oneof(fc.constantFrom('registered', 'raw', 'Raw'), fc.jsonValue({ maxDepth: 2 })),
    command: fc.oneof(fc.constant('resetTemplate'), fc.jsonValue({ maxDepth: 2 })),
  },
  { requiredKeys: [] },
);

describe('parseClientMessage: never throws, always a message or one short line', () => {
  it('arbitrary strings (unicode, control characters, near-JSON)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 300 }), fc.string({ unit: 'grapheme', maxLength: 300 })), (s) => {
        parse(s);
      }),
      { numRuns: 2000 },
    );
  });

  it('arbitrary JSON values, serialised', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (v) => {
        parse(JSON.stringify(v));
      }),
      { numRuns: 2000 },
    );
  });

  it('protocol-shaped messages with wrong fields; the valid ones come back normalised', () => {
    fc.assert(
      fc.property(shaped, (m) => {
        const p = parse(JSON.stringify(m));
        if (!p.ok) return;
        const msg = p.message;
        if (msg.type === 'subscribe' || msg.type === 'unsubscribe') {
          expect(msg.topics.length).toBeGreaterThan(0);
          expect(new Set(msg.topics).size).toBe(msg.topics.length);
          for (const t of msg.topics) expect(WS_TOPICS).toContain(t);
        }
        if (msg.type === 'subscribe' && msg.from !== null) {
          const values = typeof msg.from === 'number' ? [msg.from] : Object.values(msg.from);
          for (const v of values) expect(Number.isSafeInteger(v) && (v as number) >= 0, `from ${String(v)}`).toBe(true);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('JSON text cut or corrupted at random places', () => {
    fc.assert(
      fc.property(shaped, fc.nat(), fc.nat(), fc.string({ maxLength: 3 }), (m, a, b, junk) => {
        const s = JSON.stringify(m);
        const i = a % (s.length + 1);
        const j = b % (s.length + 1);
        parse(s.slice(0, i));
        parse(s.slice(0, i) + junk + s.slice(j));
      }),
      { numRuns: 2000 },
    );
  });

  it('deep nesting that JSON.parse accepts but JSON.stringify cannot give back (a stack overflow would crash the server)', () => {
    for (const kind of ['array', 'object'] as const) {
      for (const depth of [1000, 20_000]) {
        const deep = nested(depth, kind);
        for (const text of [
          `{"type":${deep}}`,
          `{"type":"subscribe","topics":[${deep}]}`,
          `{"type":"subscribe","topics":["frame"],"preview":${deep}}`,
          `{"type":"subscribe","topics":["frame"],"from":${deep}}`,
          `{"type":"command","command":${deep}}`,
          deep,
        ]) {
          expect(text.length).toBeLessThan(64 * 1024 * 2);
          const p = parse(text);
          expect(p.ok).toBe(false);
        }
      }
    }
  });

  it('examples: what the protocol allows is accepted', () => {
    expect(parse('{"type":"subscribe","topics":["frame","objects","frame"],"from":{"frame":3}}')).toEqual({
      ok: true,
      message: { type: 'subscribe', topics: ['frame', 'objects'], from: { frame: 3 }, preview: null },
    });
    expect(parse('{"type":"ping"}')).toEqual({ ok: true, message: { type: 'ping' } });
    expect(parse('{"type":"unsubscribe","topics":["stats"]}')).toEqual({ ok: true, message: { type: 'unsubscribe', topics: ['stats'] } });
    expect(parse('{"type":"command","command":"resetTemplate"}').ok).toBe(true);
    expect(parse('a\nb')).toEqual({ ok: false, error: expect.stringMatching(/^malformed JSON: /) as unknown as string });
  });
});
