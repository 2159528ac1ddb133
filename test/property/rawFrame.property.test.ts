/**
 * The raw-frame decoder of the tcp:// source (src/ingest/rawFrameSocket.ts:
 * parseRawHeader and RawFrameReader, both pure) under fast-check: arbitrary
 * bytes, headers with arbitrary fields, and valid streams with random damage,
 * in arbitrary chunks. Every outcome is frames whose size matches their
 * header or a ProtocolError with one short line — never another exception —
 * and nothing is allocated for a frame over maxFrameBytes. (The socket
 * around it is tested over loopback in test/ingest/rawFrameSocket.test.ts
 * and test/faults/rawSocket.test.ts.)
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { PixelArray } from '../../src/ingest/frame.js';
import { ProtocolError, RAW_HEADER_BYTES, RawFrameReader, type RawFrameHeader, parseRawHeader } from '../../src/ingest/rawFrameSocket.js';

const BYTES: Record<string, number> = { uint8: 1, uint16: 2, float32: 4 };
const MAX_FRAME_BYTES = 4096;

/** docs/ingest-tcp.md, field by field (independent of the module's encoder). */
interface Fields {
  magic: number[];
  version: number;
  dtype: number;
  reserved7: number;
  width: number;
  height: number;
  channels: number;
  reserved20: number;
  t: number;
  payload: bigint;
}

function header(f: Fields): Uint8Array {
  const b = Buffer.alloc(RAW_HEADER_BYTES);
  Buffer.from(f.magic).copy(b, 0);
  b.writeUInt16LE(f.version, 4);
  b.writeUInt8(f.dtype, 6);
  b.writeUInt8(f.reserved7, 7);
  b.writeUInt32LE(f.width, 8);
  b.writeUInt32LE(f.height, 12);
  b.writeUInt32LE(f.channels, 16);
  b.writeUInt32LE(f.reserved20, 20);
  b.writeDoubleLE(f.t, 24);
  b.writeBigUInt64LE(f.payload, 32);
  return new Uint8Array(b);
}

const SSFR = [0x53, 0x53, 0x46, 0x52];
const u32 = fc.oneof(fc.integer({ min: 0, max: 70 }), fc.constantFrom(0xffffffff, 0x80000000, 100000, 65536), fc.nat());

/** Headers whose fields are mostly plausible and sometimes anything. */
const fields: fc.Arbitrary<Fields> = fc.record({
  magic: fc.oneof({ weight: 8, arbitrary: fc.constant(SSFR) }, { weight: 1, arbitrary: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 }) }),
  version: fc.oneof({ weight: 8, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 65535 }) }),
  dtype: fc.oneof({ weight: 8, arbitrary: fc.constantFrom(1, 2, 3) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }),
  reserved7: fc.oneof({ weight: 8, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 255 }) }),
  width: u32,
  height: u32,
  channels: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: 4 }) }, { weight: 1, arbitrary: u32 }),
  reserved20: fc.oneof({ weight: 8, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.nat() }),
  t: fc.oneof(fc.double(), fc.constantFrom(NaN, Infinity, -Infinity, -0)),
  payload: fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.bigInt({ min: 0n, max: 20000n })),
});

/** Headers whose payload length agrees with their geometry (so they are valid when the rest is). */
const needOf = (f: Fields): bigint => BigInt(f.width) * BigInt(f.height) * BigInt(f.channels) * BigInt(BYTES[['', 'uint8', 'uint16', 'float32'][f.dtype] ?? 'uint8'] ?? 1);
const consistent = fields.map((f) => ({ ...f, payload: BigInt.asUintN(64, needOf(f)) }));

function expectProtocolError(e: unknown): void {
  if (!(e instanceof ProtocolError)) throw new Error(`not a ProtocolError: ${(e as Error)?.stack ?? String(e)}`);
  expect(e.message.length, e.message).toBeLessThan(200);
  expect(e.message).not.toMatch(/[\r\n]/);
}

function expectSound(h: RawFrameHeader): void {
  expect(h.width >= 1 && h.height >= 1 && h.channels >= 1, JSON.stringify(h)).toBe(true);
  expect(h.payloadBytes).toBe(h.width * h.height * h.channels * BYTES[h.dtype]);
  expect(h.payloadBytes).toBeLessThanOrEqual(MAX_FRAME_BYTES);
  expect(Number.isFinite(h.t) || Number.isNaN(h.t)).toBe(true);
}

/**
 * Feeds `stream` in chunks of the given sizes. Returns the frames and the
 * error (a ProtocolError) that stopped it, if any; checks each header before
 * its payload is allocated and each frame against its header.
 */
function decode(stream: Uint8Array, cuts: number[]): { frames: PixelArray[]; error: ProtocolError | null } {
  const frames: PixelArray[] = [];
  const reader = new RawFrameReader(MAX_FRAME_BYTES, expectSound, (h, data) => {
    expectSound(h);
    expect(data.byteLength).toBe(h.payloadBytes);
    expect(data.byteOffset === 0 && data.buffer.byteLength === data.byteLength, 'a frame owns its whole buffer').toBe(true);
    frames.push(data);
  });
  let pos = 0;
  try {
    for (let i = 0; pos < stream.length; i++) {
      const n = cuts.length === 0 ? stream.length : Math.max(1, cuts[i % cuts.length]);
      reader.push(stream.subarray(pos, pos + n));
      pos += n;
    }
  } catch (e) {
    expectProtocolError(e);
    return { frames, error: e as ProtocolError };
  }
  return { frames, error: null };
}

const cuts = fc.array(fc.integer({ min: 1, max: 300 }), { maxLength: 12 });

describe('parseRawHeader', () => {
  it('any 40 bytes: a sound header or a ProtocolError of one short line', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ minLength: 40, maxLength: 40 }), fields.map(header), consistent.map(header)), (bytes) => {
        let h: RawFrameHeader;
        try {
          h = parseRawHeader(bytes, MAX_FRAME_BYTES);
        } catch (e) {
          expectProtocolError(e);
          return;
        }
        expectSound(h);
      }),
      { numRuns: 5000 },
    );
  });

  it('a consistent header is accepted exactly when its fields are valid and its frame fits the limit', () => {
    fc.assert(
      fc.property(consistent, (f) => {
        const need = needOf(f);
        const valid =
          f.magic.every((b, i) => b === SSFR[i]) && f.version === 1 && [1, 2, 3].includes(f.dtype) && f.reserved7 === 0 && f.reserved20 === 0 &&
          f.width >= 1 && f.height >= 1 && f.channels >= 1 && need <= BigInt(MAX_FRAME_BYTES) && Math.abs(f.t) !== Infinity;
        let accepted = true;
        try {
          parseRawHeader(header(f), MAX_FRAME_BYTES);
        } catch (e) {
          expectProtocolError(e);
          accepted = false;
        }
        expect(accepted, JSON.stringify({ ...f, payload: String(f.payload) })).toBe(valid);
      }),
      { numRuns: 5000 },
    );
  });
});

describe('RawFrameReader', () => {
  it('arbitrary bytes in arbitrary chunks: frames that match their headers, or a ProtocolError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), cuts, (bytes, c) => {
        decode(bytes, c);
      }),
      { numRuns: 2000 },
    );
  });

  it('streams of arbitrary headers with payloads, chunked: a frame is never allocated beyond the limit', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.oneof(fields, consistent), fc.nat(5000)), { minLength: 1, maxLength: 5 }), cuts, (parts, c) => {
        const stream = Buffer.concat(parts.map(([f, n]) => Buffer.concat([header(f), Buffer.alloc(Math.min(n, Number(f.payload > 5000n ? 5000n : f.payload)), 7)])));
        const before = process.memoryUsage().arrayBuffers;
        decode(new Uint8Array(stream), c);
        // At most the frames of this stream (≤ 5 × the limit) came into being, whatever the headers claimed.
        expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(5 * MAX_FRAME_BYTES + 64 * 1024);
      }),
      { numRuns: 2000 },
    );
  });

  it('a valid stream with random bytes damaged: the frames before the damage are intact, then frames or a ProtocolError', () => {
    const valid = fc.array(
      fc.record({ dtype: fc.constantFrom(1, 2, 3), width: fc.integer({ min: 1, max: 12 }), height: fc.integer({ min: 1, max: 9 }), channels: fc.integer({ min: 1, max: 3 }) }),
      { minLength: 1, maxLength: 5 },
    );
    fc.assert(
      fc.property(valid, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), cuts, (specs, flips, c) => {
        const parts = specs.map((s, k) => {
          const n = s.width * s.height * s.channels * [0, 1, 2, 4][s.dtype];
          const h = header({ magic: SSFR, version: 1, dtype: s.dtype, reserved7: 0, width: s.width, height: s.height, channels: s.channels, reserved20: 0, t: k, payload: BigInt(n) });
          return Buffer.concat([h, Buffer.alloc(n, k + 1)]);
        });
        const stream = new Uint8Array(Buffer.concat(parts));
        const clean = decode(stream, c);
        expect(clean.error).toBeNull();
        expect(clean.frames.length).toBe(specs.length);
        const hurt = stream.slice();
        let first = hurt.length;
        for (const [at, v] of flips) {
          const i = at % hurt.length;
          if (hurt[i] !== v) first = Math.min(first, i);
          hurt[i] = v;
        }
        const out = decode(hurt, c);
        // Every frame that ended before the first damaged byte came through unchanged.
        let end = 0;
        for (let k = 0; k < parts.length; k++) {
          end += parts[k].length;
          if (end > first) break;
          expect(Buffer.from(out.frames[k].buffer).equals(Buffer.from(clean.frames[k].buffer)), `frame ${k}`).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
