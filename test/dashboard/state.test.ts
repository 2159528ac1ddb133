import { describe, expect, it } from 'vitest';
import { D, DashboardState, MAX_SELECTED, ObjectHistory, RESUME_OBJECTS_MAX } from '../../dashboard/src/state.js';
import type { HelloMsg } from '../../dashboard/src/wire.js';

const hello = (session: string, buffered: HelloMsg['buffered'] = {}): HelloMsg => ({
  type: 'hello',
  version: 1,
  session,
  topics: [],
  meta: { source: 'synthetic:', width: 64, height: 64, channels: 1, dtype: 'uint16' },
  buffered,
});

const frame = (topicSeq: number, seq = topicSeq, extra: object = {}) => ({
  type: 'frame',
  topic: 'frame',
  topicSeq,
  seq,
  t: seq * 33.3,
  shift: { dy: 0.5, dx: -1, peak: 0.9, quality: 10 },
  ok: true,
  ...extra,
});

const objects = (topicSeq: number, seq: number, ids: number[], dff: number[], extra: Record<string, number[]> = {}) => ({
  type: 'objects',
  topic: 'objects',
  topicSeq,
  seq,
  ids,
  features: { Trace_DeltaFOverF: dff, ...extra },
});

describe('DashboardState: connection and resume', () => {
  it('a first hello subscribes to every topic, backfilling recent history from the rings', () => {
    const s = new DashboardState({ history: 100, eventsMax: 10 });
    const sub = s.hello(
      hello('A', {
        frame: { first: 0, last: 499 },
        objects: { first: 0, last: 499 },
        segmentation: { first: 0, last: 2 },
        stats: { first: 0, last: 0 },
        heatmap: { first: 5, last: 4 }, // empty
        event: { first: 0, last: 3 },
      }),
    );
    expect(sub.topics).toEqual(['frame', 'objects', 'segmentation', 'stats', 'preview', 'heatmap', 'event']);
    expect(sub.preview).toBe('registered');
    expect(sub.from).toEqual({ frame: 400, objects: 499, segmentation: 2, stats: 0, event: 0 });
  });

  it('resumes the same session from last topicSeq + 1 and starts afresh on a new one', () => {
    const s = new DashboardState({ history: 1000 });
    s.hello(hello('A'));
    for (let i = 0; i < 5; i++) s.handle(frame(i));
    s.handle(objects(0, 4, [1], [0.1]));
    const again = s.hello(hello('A', { frame: { first: 0, last: 20 }, objects: { first: 0, last: 20 } }));
    expect(again.from).toEqual({ frame: 5, objects: 1 });
    expect(s.drift.length).toBe(5);
    // A new session: everything from the old process is dropped.
    const fresh = s.hello(hello('B', { frame: { first: 0, last: 3 } }));
    expect(fresh.from).toEqual({ frame: 0 });
    expect(s.drift.length).toBe(0);
    expect(s.objects).toBeNull();
    expect(s.notices.at(-1)?.text).toMatch(/new session/);
  });

  it('on resume fetches at most RESUME_OBJECTS_MAX objects messages and only the latest heatmap', () => {
    const s = new DashboardState({ history: 5000 });
    s.hello(hello('A'));
    s.handle(objects(0, 0, [1], [0]));
    s.handle({ type: 'heatmap', topic: 'heatmap', topicSeq: 0, seq: 0, block: 32, cols: 1, rows: 1, r: [1] });
    const sub = s.hello(hello('A', { objects: { first: 0, last: 2000 }, heatmap: { first: 0, last: 2000 } }));
    expect(sub.from).toEqual({ objects: 2001 - RESUME_OBJECTS_MAX, heatmap: 2000 });
    // The skipped messages were skipped on purpose: not counted as lost.
    s.handle(objects(2001 - RESUME_OBJECTS_MAX, 10, [1], [0]));
    expect(s.lost.objects).toBeUndefined();
  });

  it('drops duplicates and counts topicSeq jumps as lost', () => {
    const s = new DashboardState();
    s.hello(hello('A'));
    s.handle(frame(0));
    s.handle(frame(1));
    s.handle(frame(1));
    s.handle(frame(4));
    expect(s.drift.length).toBe(3);
    expect(s.lost.frame).toBe(2);
    expect(s.next.frame).toBe(5);
  });

  it('turns server notices into notices and remembers acks and the end', () => {
    const s = new DashboardState();
    s.handle({ type: 'gap', topic: 'frame', fromSeq: 3, toSeq: 9 });
    s.handle({ type: 'dropped', topic: 'objects', count: 4, fromSeq: 10 });
    s.handle({ type: 'ack', command: 'resetTemplate' });
    s.handle({ type: 'end', frames: 10, dropped: 0 });
    expect(s.notices.map((n) => n.text)).toEqual([
      'frame: messages 3–9 are no longer held by the server',
      'objects: 4 messages dropped (this page fell behind)',
      'done: resetTemplate',
      'the stream ended after 10 frames',
    ]);
    expect(s.counts.acks).toBe(1);
    expect(s.ended).toEqual({ frames: 10, dropped: 0 });
  });
});

describe('DashboardState: data', () => {
  it('records drift with truth and error, quality and local correlation, bounded by the history', () => {
    const s = new DashboardState({ history: 3 });
    s.hello(hello('A'));
    for (let i = 0; i < 5; i++) {
      s.handle(frame(i, i, { truth: { dy: 0.25, dx: -1.5 }, localCorrelation: { median: 0.9, p10: 0.7 }, ok: i !== 4 }));
    }
    expect(s.drift.length).toBe(3);
    expect(s.drift.get(D.seq, 0)).toBe(2);
    expect(s.drift.last(D.error_dx)).toBeCloseTo(0.5, 12);
    expect(s.drift.last(D.error_dy)).toBeCloseTo(0.25, 12);
    expect(s.drift.last(D.ok)).toBe(0);
    expect(s.drift.last(D.lc_p10)).toBe(0.7);
    // A frame that failed with no shift at all.
    s.handle({ type: 'frame', topic: 'frame', topicSeq: 5, seq: 5, t: 1, ok: false, error: 'wrong size' });
    expect(s.drift.last(D.dx)).toBeNaN();
    expect(s.drift.last(D.truth_dx)).toBeNaN();
  });

  it('keeps per-object ΔF/F and trace histories aligned, timed by their frames', () => {
    const s = new DashboardState({ history: 4, traceFeature: 'Intensity_MeanIntensity' });
    s.hello(hello('A'));
    for (let i = 0; i < 6; i++) {
      s.handle(frame(i));
      const ids = i === 2 ? [2] : [1, 2];
      s.handle(objects(i, i, ids, ids.map((id) => id * 10 + i), { Intensity_MeanIntensity: ids.map((id) => id * 100 + i) }));
    }
    const h = s.objectHistory;
    expect(h.t.length).toBe(4);
    expect([0, 1, 2, 3].map((i) => h.t.get(0, i))).toEqual([2, 3, 4, 5].map((i) => i * 33.3));
    expect([0, 1, 2, 3].map((i) => h.value(1, 'dff', i))).toEqual([NaN, 13, 14, 15]);
    expect([0, 1, 2, 3].map((i) => h.value(2, 'trace', i))).toEqual([202, 203, 204, 205]);
    expect(s.sparkline(1, 2)).toEqual([14, 15]);
    expect(s.sparkline(99, 2).every(Number.isNaN)).toBe(true);
    // Another trace feature starts its history again.
    s.setTraceFeature('Intensity_MaxIntensity');
    expect(h.value(2, 'trace', 3)).toBeNaN();
  });

  it('estimates the time of an objects message whose frame has not arrived', () => {
    const s = new DashboardState();
    s.handle(frame(0, 10));
    s.handle(frame(1, 12));
    expect(s.timeOf(12)).toBeCloseTo(12 * 33.3, 9);
    expect(s.timeOf(14)).toBeCloseTo(14 * 33.3, 9);
  });

  it('forgets objects unseen for a whole history (tracked mode stays bounded)', () => {
    const h = new ObjectHistory(10);
    for (let i = 0; i < 1000; i++) h.push(i, [i], [1], undefined); // a new id every message
    expect(h.size).toBeLessThanOrEqual(10);
    expect(h.has(999)).toBe(true);
    expect(h.has(900)).toBe(false);
  });

  it('selects up to MAX_SELECTED objects, the earliest going first', () => {
    const s = new DashboardState();
    for (let id = 1; id <= MAX_SELECTED + 2; id++) s.toggleSelected(id);
    expect(s.selected).toEqual(Array.from({ length: MAX_SELECTED }, (_, i) => i + 3));
    s.toggleSelected(5);
    expect(s.selected).not.toContain(5);
  });

  it('keeps the last eventsMax events and asks for the labels after a segmentation', () => {
    const s = new DashboardState({ eventsMax: 3 });
    for (let i = 0; i < 5; i++) s.handle({ type: 'event', topic: 'event', topicSeq: i, seq: i, t: i, id: i, amplitude: 1 });
    expect(s.events.map((e) => e.id)).toEqual([2, 3, 4]);
    s.handle({ type: 'segmentation', topic: 'segmentation', topicSeq: 0, seq: 7, count: 1, ids: [1], features: {} });
    expect(s.labelsWanted).toBe(7);
  });
});

describe('DashboardState: robustness', () => {
  it('ignores unknown message types, including ones named like object properties', () => {
    const s = new DashboardState();
    for (const type of ['toString', 'constructor', '__proto__', 'hasOwnProperty', 'nonsense', 42, null]) s.handle({ type });
    expect(s.next).toEqual({});
    expect(s.notices).toEqual([]);
  });
});

describe('DashboardState: fresh starts', () => {
  it('says nothing about a gap in the recent past it asked for on a fresh start, but does on a resume', () => {
    const s = new DashboardState({ history: 100 });
    s.hello(hello('A', { frame: { first: 0, last: 500 } }));
    s.handle({ type: 'gap', topic: 'frame', fromSeq: 401, toSeq: 410 });
    expect(s.notices).toEqual([]);
    s.handle(frame(411));
    s.hello(hello('A', { frame: { first: 0, last: 500 } }));
    s.handle({ type: 'gap', topic: 'frame', fromSeq: 412, toSeq: 420 });
    expect(s.notices.map((n) => n.text)).toEqual(['frame: messages 412–420 are no longer held by the server']);
  });
});
